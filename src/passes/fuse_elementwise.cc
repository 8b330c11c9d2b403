// Chains of element-wise ops into one kiln:ElementwiseChain layer: y = f_n(...f_1(x)), each f a
// unary op or a binary op whose other operand is a scalar, a tensor of the chain's shape, or a
// vector of its trailing dims. The chain value must keep its shape (the other operand never
// broadcasts it larger) and every intermediate must be used only by the next op. A chain may start
// with a Cast to float32 (attention-mask preparation does). Float32 only.
#include <set>

#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool sameShape(const Shape& a, const Shape& b) {
  if (!a.rankKnown() || !b.rankKnown() || a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i)
    if (!a[i].sameAs(b[i])) return false;
  return true;
}

// The chain's name of a unary op (with its parameters), or "".
std::string unaryName(const ir::Node* n, float* alpha, float* beta) {
  const std::string& op = n->opType();
  *alpha = *beta = 0;
  for (const char* u : {"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal", "Erf", "HardSwish",
                        "Softplus", "Floor", "Ceil"})
    if (op == u) return op;
  if (op == "LeakyRelu") {
    *alpha = n->attrs().getFloat("alpha", 0.01f);
    return op;
  }
  if (op == "Swish") {
    *alpha = n->attrs().getFloat("alpha", 1.0f);
    return "Silu";
  }
  if (op == "Gelu") return n->attrs().getString("approximate", "none") == "tanh" ? "GeluTanh" : "Gelu";
  if (op == "Clip") {
    auto lo = n->input(1) ? scalarValue(n->input(1)) : std::optional<double>(-3.4e38);
    auto hi = n->input(2) ? scalarValue(n->input(2)) : std::optional<double>(3.4e38);
    if (!lo || !hi) return "";
    *alpha = static_cast<float>(*lo);
    *beta = static_cast<float>(*hi);
    return op;
  }
  return "";
}

bool isBinary(const std::string& op) {
  return op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Max" || op == "Min";
}

// True if `o` can be a chain operand against a chain value of shape `s`.
bool fitsOperand(const ir::Value* o, const Shape& s) {
  if (!o || o->dtype() != DType::kFloat32) return false;
  const Shape& os = o->shape();
  if (!os.rankKnown()) return false;
  auto n = os.numel();
  if (n && *n == 1) return true;
  if (sameShape(os, s)) return true;
  // Trailing-dims vector: os equals s's last dims (leading 1s allowed).
  int r = os.rank(), k = 0;
  while (k < r && os[k].isStatic() && os[k].value() == 1) ++k;
  if (r - k > s.rank() || r - k == 0) return false;
  for (int i = k; i < r; ++i)
    if (!os[i].sameAs(s[s.rank() - (r - i)])) return false;
  return true;
}

struct Link {
  std::string op;
  ir::Value* operand = nullptr;
  bool swapped = false;
  float alpha = 0, beta = 0;
};

// The chain step `n` computes from chain value `v`, or nullopt.
std::optional<Link> asLink(const ir::Node* n, const ir::Value* v) {
  if (!n->domain().empty() || n->numOutputs() != 1 || n->output(0)->dtype() != DType::kFloat32) return std::nullopt;
  if (!sameShape(n->output(0)->shape(), v->shape())) return std::nullopt;
  Link l;
  if (n->input(0) == v) {
    std::string u = unaryName(n, &l.alpha, &l.beta);
    if (!u.empty() && (n->opType() != "Clip" || n->numInputs() <= 3)) {
      l.op = u;
      return l;
    }
  }
  if (isBinary(n->opType()) && n->numInputs() == 2) {
    int i = n->input(0) == v ? 0 : n->input(1) == v ? 1 : -1;
    if (i < 0 || n->input(0) == n->input(1)) return std::nullopt;
    ir::Value* other = n->input(1 - i);
    if (!fitsOperand(other, v->shape())) return std::nullopt;
    if (n->opType() == "Pow" && !other->isConstant()) return std::nullopt;
    l.op = n->opType();
    l.operand = other;
    l.swapped = i == 1;
    return l;
  }
  return std::nullopt;
}

class FuseElementwise final : public Pass {
 public:
  const char* name() const override { return "fuse-elementwise"; }
  const char* description() const override { return "chains of element-wise ops into one ElementwiseChain layer"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (ctx.supportsOp && !ctx.supportsOp("kiln", "ElementwiseChain")) return PassResult{0, "no chain kernel on this target"};
    int fused = 0;
    std::set<const ir::Node*> taken;
    for (ir::Node* start : g.nodes()) {
      if (taken.count(start) || !start->domain().empty() || start->numOutputs() != 1) continue;
      std::vector<Link> links;
      std::vector<const ir::Node*> nodes;
      ir::Value* x = nullptr;
      ir::Value* cur = nullptr;
      if (start->opType() == "Cast" && start->output(0)->dtype() == DType::kFloat32 &&
          sameShape(start->input(0)->shape(), start->output(0)->shape())) {
        x = start->input(0);
        links.push_back(Link{"Cast"});
      } else {
        // The chain value entering `start`: its input with the output's shape.
        for (int i = 0; i < start->numInputs() && !x; ++i) {
          ir::Value* cand = start->input(i);
          if (cand && !cand->isConstant() && cand->dtype() == DType::kFloat32) {
            if (auto l = asLink(start, cand)) {
              x = cand;
              links.push_back(*l);
            }
          }
        }
      }
      if (!x) continue;
      nodes.push_back(start);
      cur = start->output(0);
      while (true) {
        ir::Node* next = soleConsumer(g, cur);
        if (!next || taken.count(next)) break;
        auto l = asLink(next, cur);
        if (!l) break;
        links.push_back(*l);
        nodes.push_back(next);
        cur = next->output(0);
      }
      if (links.size() < 2) continue;
      AttrMap a;
      std::vector<std::string> ops;
      std::vector<int64_t> operand, swapped;
      std::vector<float> alpha, beta;
      std::vector<ir::Value*> ins = {x};
      for (const Link& l : links) {
        ops.push_back(l.op);
        int idx = -1;
        if (l.operand) {
          auto it = std::find(ins.begin() + 1, ins.end(), l.operand);
          idx = static_cast<int>(it == ins.end() ? ins.size() : it - ins.begin());
          if (it == ins.end()) ins.push_back(l.operand);
        }
        operand.push_back(idx);
        swapped.push_back(l.swapped ? 1 : 0);
        alpha.push_back(l.alpha);
        beta.push_back(l.beta);
      }
      if (ins.size() > 15) continue;
      a.set("ops", AttrValue(ops));
      a.set("operand", AttrValue(operand));
      a.set("swapped", AttrValue(swapped));
      a.set("alpha", AttrValue(alpha));
      a.set("beta", AttrValue(beta));
      KILN_ASSIGN_OR_RETURN(ir::Node * chain, addOp(g, "ElementwiseChain", "kiln", 1, start->name() + "/chain", ins, a, 1,
                                                    fusedNames(nodes)));
      g.takeOver(cur, chain, 0);
      for (const ir::Node* n : nodes) taken.insert(n);
      ++fused;
    }
    return PassResult{fused, fmt::format("fused {} element-wise chains", fused)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseElementwise() { return std::make_unique<FuseElementwise>(); }

}  // namespace kiln::passes
