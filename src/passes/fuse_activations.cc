// GELU and SiLU from their decomposed forms.
//   erf GELU:  0.5 * x * (1 + erf(x / sqrt(2)))       (x * 0.7071... for the division too)
//   tanh GELU: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
//   SiLU:      x * sigmoid(x)
// The final product's factors may come in any order and grouping; a match collects the factors of
// a chain of single-use Muls and requires exactly {x, 1 + f(x), 0.5}.
#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

constexpr double kSqrt2 = 1.4142135623730951, kInvSqrt2 = 0.7071067811865476, kSqrt2OverPi = 0.7978845608028654;

// x when v == x / sqrt(2) (Div by sqrt 2 or Mul by 1/sqrt 2), else nullptr.
ir::Value* erfArgument(ir::Value* v) {
  if (ir::Node* d = producerOf(v, "Div"); d && isScalar(d->input(1), kSqrt2, 1e-4)) return d->input(0);
  if (ir::Node* m = producerOf(v, "Mul")) {
    if (isScalar(m->input(1), kInvSqrt2, 1e-4)) return m->input(0);
    if (isScalar(m->input(0), kInvSqrt2, 1e-4)) return m->input(1);
  }
  return nullptr;
}

// x when v == x^3 (Pow(x, 3), x * x * x in any grouping).
ir::Value* cubeOf(ir::Value* v) {
  if (ir::Node* p = producerOf(v, "Pow"); p && isScalar(p->input(1), 3.0)) return p->input(0);
  if (ir::Node* m = producerOf(v, "Mul")) {
    for (int i = 0; i < 2; ++i) {
      ir::Value* a = m->input(i);
      ir::Value* b = m->input(1 - i);
      ir::Node* sq = producerOf(b, "Mul");
      if (sq && sq->input(0) == a && sq->input(1) == a) return a;
      if (ir::Node* pw = producerOf(b, "Pow"); pw && pw->input(0) == a && isScalar(pw->input(1), 2.0)) return a;
    }
  }
  return nullptr;
}

// x when v == sqrt(2/pi) * (x + 0.044715 * x^3).
ir::Value* tanhArgument(ir::Value* v) {
  ir::Node* m = producerOf(v, "Mul");
  if (!m) return nullptr;
  ir::Value* inner = isScalar(m->input(0), kSqrt2OverPi, 1e-4) ? m->input(1)
                     : isScalar(m->input(1), kSqrt2OverPi, 1e-4) ? m->input(0) : nullptr;
  ir::Node* add = producerOf(inner, "Add");
  if (!add) return nullptr;
  for (int i = 0; i < 2; ++i) {
    ir::Value* x = add->input(i);
    ir::Node* k = producerOf(add->input(1 - i), "Mul");
    if (!k) continue;
    for (int j = 0; j < 2; ++j)
      if (isScalar(k->input(j), 0.044715, 1e-3) && cubeOf(k->input(1 - j)) == x) return x;
  }
  return nullptr;
}

// Walks up from `start` through single-use Muls collecting factors until {x, start, 0.5} (in any
// grouping) are all present; returns the Mul whose output is the whole product, or nullptr.
ir::Node* productOf(ir::Graph& g, ir::Value* start, ir::Value* x, std::vector<const ir::Node*>* muls) {
  bool haveX = false, haveHalf = false;
  ir::Value* cur = start;
  for (int depth = 0; depth < 3; ++depth) {
    ir::Node* m = soleConsumer(g, cur);
    if (!m || m->opType() != "Mul" || !m->domain().empty()) return nullptr;
    ir::Value* other = otherInput(m, cur);
    if (!other) return nullptr;
    muls->push_back(m);
    if (other == x && !haveX) {
      haveX = true;
    } else if (isScalar(other, 0.5) && !haveHalf) {
      haveHalf = true;
    } else if (ir::Node* xm = producerOf(other, "Mul"); xm && singleUse(g, other) && !haveX && !haveHalf &&
                                                        ((xm->input(0) == x && isScalar(xm->input(1), 0.5)) ||
                                                         (xm->input(1) == x && isScalar(xm->input(0), 0.5)))) {
      haveX = haveHalf = true;  // (x * 0.5) * (1 + erf(...))
      muls->push_back(xm);
    } else {
      return nullptr;
    }
    if (haveX && haveHalf) return m;
    cur = m->output(0);
  }
  return nullptr;
}

class FuseGelu final : public Pass {
 public:
  const char* name() const override { return "fuse-gelu"; }
  const char* description() const override { return "GELU (erf and tanh forms) from decomposed arithmetic"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("", "Gelu")) return PassResult{0, "no Gelu kernel on this target"};
    int fused = 0;
    for (ir::Node* f : g.nodes()) {
      bool isErf = f->opType() == "Erf", isTanh = f->opType() == "Tanh";
      if (!f->domain().empty() || !(isErf || isTanh)) continue;
      ir::Value* x = isErf ? erfArgument(f->input(0)) : tanhArgument(f->input(0));
      if (!x || !singleUse(g, f->output(0))) continue;
      ir::Node* plus = soleConsumer(g, f->output(0));
      if (!plus || plus->opType() != "Add" || !isScalar(otherInput(plus, f->output(0)), 1.0)) continue;
      std::vector<const ir::Node*> muls;
      ir::Node* top = productOf(g, plus->output(0), x, &muls);
      if (!top) continue;
      std::vector<const ir::Node*> all = {f->input(0)->producer(), f, plus};
      all.insert(all.end(), muls.begin(), muls.end());
      AttrMap a;
      a.set("approximate", AttrValue(isErf ? "none" : "tanh"));
      KILN_ASSIGN_OR_RETURN(ir::Node * gelu, addOp(g, "Gelu", "", std::max(20, defaultOpset(g)), top->name() + "/gelu",
                                                   {x}, a, 1, fusedNames(all)));
      g.takeOver(top->output(0), gelu, 0);
      ++fused;
    }
    return PassResult{fused, fmt::format("fused {} GELU patterns", fused)};
  }
};

class FuseSilu final : public Pass {
 public:
  const char* name() const override { return "fuse-silu"; }
  const char* description() const override { return "SiLU/Swish from x * sigmoid(x)"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("", "Swish")) return PassResult{0, "no Swish kernel on this target"};
    int fused = 0;
    for (ir::Node* s : g.nodes()) {
      if (s->opType() != "Sigmoid" || !s->domain().empty() || !singleUse(g, s->output(0))) continue;
      ir::Value* x = s->input(0);
      ir::Node* m = soleConsumer(g, s->output(0));
      if (!m || m->opType() != "Mul" || !m->domain().empty() || otherInput(m, s->output(0)) != x) continue;
      AttrMap a;
      a.set("alpha", AttrValue(1.0f));
      KILN_ASSIGN_OR_RETURN(ir::Node * sw, addOp(g, "Swish", "", defaultOpset(g), m->name() + "/silu", {x}, a, 1,
                                                 fusedNames({s, m})));
      g.takeOver(m->output(0), sw, 0);
      ++fused;
    }
    return PassResult{fused, fmt::format("fused {} SiLU patterns", fused)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseGelu() { return std::make_unique<FuseGelu>(); }
std::unique_ptr<Pass> makeFuseSilu() { return std::make_unique<FuseSilu>(); }

}  // namespace kiln::passes
