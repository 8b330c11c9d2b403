// LayerNormalization and RMSNormalization from their decomposed forms (TorchScript exports of
// LayerNorm before opset 17, T5/LLaMA-style RMSNorm):
//   LN:  d = x - mean(x);  y = d / sqrt(mean(d^2) + eps) * gamma + beta
//   RMS: y = x / sqrt(mean(x^2) + eps) * gamma             (or x * reciprocal(sqrt(...)))
// The means reduce the same trailing axes with keepdims; gamma and beta are constants.
#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

// Axes of a ReduceMean over x (keepdims) as a first axis, if they are exactly x's trailing axes.
std::optional<int64_t> trailingAxis(const ir::Node* r, const ir::Value* x) {
  if (!r || r->opType() != "ReduceMean" || !r->domain().empty() || r->input(0) != x) return std::nullopt;
  if (r->attrs().getInt("keepdims", 1) != 1 || !x->shape().rankKnown()) return std::nullopt;
  const int rank = x->shape().rank();
  if (!r->input(1) || !r->input(1)->isConstant()) return std::nullopt;
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < r->input(1)->constant().numel(); ++i) {
    int64_t a = r->input(1)->constant().intAt(i);
    axes.push_back(a < 0 ? a + rank : a);
  }
  std::sort(axes.begin(), axes.end());
  if (axes.empty() || axes.back() != rank - 1) return std::nullopt;
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] != axes[i - 1] + 1) return std::nullopt;
  return axes.front();
}

// sqrt(mean(v^2) + eps) as (eps, the ReduceMean node, the nodes matched); v is the squared value.
struct RmsDenominator {
  double eps;
  ir::Node* mean;
  std::vector<const ir::Node*> nodes;
};
std::optional<RmsDenominator> denominator(ir::Value* v, ir::Value* squared) {
  ir::Node* sq = producerOf(v, "Sqrt");
  if (!sq) return std::nullopt;
  ir::Node* add = producerOf(sq->input(0), "Add");
  if (!add) return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    auto eps = scalarValue(add->input(1 - i));
    ir::Node* mean = producerOf(add->input(i), "ReduceMean");
    if (!eps || !mean) continue;
    ir::Node* pw = producerOf(mean->input(0), "Pow");
    ir::Node* mul = producerOf(mean->input(0), "Mul");
    bool isSquare = (pw && pw->input(0) == squared && isScalar(pw->input(1), 2.0)) ||
                    (mul && mul->input(0) == squared && mul->input(1) == squared);
    if (!isSquare) continue;
    return RmsDenominator{*eps, mean, {pw ? pw : mul, mean, add, sq}};
  }
  return std::nullopt;
}

// y = n / den  or  n * reciprocal(den): the value den and the nodes, for a consumer `op` of n.
ir::Value* dividedBy(ir::Node* op, ir::Value* n, std::vector<const ir::Node*>* nodes) {
  if (op->opType() == "Div" && op->input(0) == n) return op->input(1);
  if (op->opType() == "Mul") {
    ir::Value* other = otherInput(op, n);
    if (ir::Node* rc = producerOf(other, "Reciprocal")) {
      nodes->push_back(rc);
      return rc->input(0);
    }
  }
  return nullptr;
}

// GroupNorm as PyTorch's TorchScript exporter writes it: Reshape x [N, C, ...] to [N, G, -1],
// InstanceNormalization with unit scale and zero bias, Reshape back, Mul by gamma [C,1,...],
// Add beta [C,1,...]  ->  GroupNormalization(x, gamma, beta, num_groups = G) (opset 21 form).
int fuseGroupNorm(ir::Graph& g, const PassContext& ctx) {
  if (ctx.supportsOp && !ctx.supportsOp("", "GroupNormalization")) return 0;
  int fused = 0;
  for (ir::Node* in : g.nodes()) {
    if (in->opType() != "InstanceNormalization" || !in->domain().empty()) continue;
    ir::Node* r1 = producerOf(in->input(0), "Reshape");
    ir::Node* r2 = soleConsumer(g, in->output(0));
    if (!r1 || !r2 || r2->opType() != "Reshape" || !singleUse(g, in->input(0))) continue;
    ir::Value* x = r1->input(0);
    const Shape& xs = x->shape();
    auto mid = in->input(0)->shape().toDims();
    if (!xs.rankKnown() || xs.rank() < 3 || !xs[1].isStatic() || !mid || mid->rank() != 3) continue;
    if (!r2->output(0)->shape().toDims() || !xs.toDims() || *r2->output(0)->shape().toDims() != *xs.toDims()) continue;
    const int64_t c = xs[1].value(), groups = (*mid)[1];
    if (groups <= 0 || c % groups != 0) continue;
    auto unit = [](const ir::Value* v, double want) {
      if (!v || !v->isConstant()) return false;
      for (int64_t k = 0; k < v->constant().numel(); ++k)
        if (v->constant().doubleAt(k) != want) return false;
      return true;
    };
    if (!unit(in->input(1), 1.0) || !unit(in->input(2), 0.0)) continue;
    ir::Node* mul = soleConsumer(g, r2->output(0));
    if (!mul || mul->opType() != "Mul") continue;
    ir::Node* add = soleConsumer(g, mul->output(0));
    if (!add || add->opType() != "Add") continue;
    ir::Value* gamma = otherInput(mul, r2->output(0));
    ir::Value* beta = otherInput(add, mul->output(0));
    auto perC = [&](const ir::Value* v) {
      return v && v->isConstant() && v->constant().numel() == c && v->constant().rank() <= xs.rank() &&
             v->constant().rank() >= xs.rank() - 1 && v->constant().dims()[v->constant().rank() - xs.rank() + 1] == c;
    };
    if (!perC(gamma) || !perC(beta)) continue;
    AttrMap a;
    a.set("num_groups", AttrValue(groups));
    a.set("epsilon", AttrValue(in->attrs().getFloat("epsilon", 1e-5f)));
    ir::Value* gv = g.addConstant(in->name() + "_gamma", gamma->constant().clone().reshaped(Dims{c}));
    ir::Value* bv = g.addConstant(in->name() + "_beta", beta->constant().clone().reshaped(Dims{c}));
    auto gn = addOp(g, "GroupNormalization", "", std::max(21, defaultOpset(g)), in->name() + "/groupnorm",
                    {x, gv, bv}, a, 1, fusedNames({r1, in, r2, mul, add}));
    if (!gn.ok()) continue;
    g.takeOver(add->output(0), *gn, 0);
    ++fused;
  }
  return fused;
}

class FuseLayerNorm final : public Pass {
 public:
  const char* name() const override { return "fuse-layernorm"; }
  const char* description() const override { return "LayerNormalization and RMSNormalization from decomposed forms"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    int ln = 0, rms = 0, inst = 0;
    for (ir::Node* norm : g.nodes()) {
      if (!norm->domain().empty() || (norm->opType() != "Div" && norm->opType() != "Mul")) continue;
      std::vector<const ir::Node*> nodes;
      // Candidate numerator: the Sub of LayerNorm, or x itself for RMSNorm.
      for (int i = 0; i < norm->numInputs(); ++i) {
        ir::Value* num = norm->input(i);
        ir::Value* den = dividedBy(norm, num, &nodes);
        if (!den) continue;
        ir::Node* sub = producerOf(num, "Sub");
        ir::Value* x = nullptr;
        std::optional<int64_t> axis;
        bool isLn = false;
        if (sub && (axis = trailingAxis(producerOf(sub->input(1), "ReduceMean"), sub->input(0)))) {
          x = sub->input(0);
          isLn = true;
        } else {
          x = num;
        }
        auto d = denominator(den, num);
        if (!d) continue;
        auto axis2 = trailingAxis(d->mean, d->mean->input(0));
        if (!axis2 || (isLn && *axis2 != *axis)) continue;
        if (!isLn) axis = axis2;
        // Optional scale and shift after the normalization.
        ir::Value* out = norm->output(0);
        std::vector<const ir::Node*> all = d->nodes;
        all.insert(all.end(), nodes.begin(), nodes.end());
        all.push_back(norm);
        if (isLn) all.push_back(sub), all.push_back(sub->input(1)->producer());
        ir::Value* gamma = nullptr;
        ir::Value* beta = nullptr;
        if (ir::Node* m = soleConsumer(g, out); m && m->opType() == "Mul" && m->domain().empty()) {
          ir::Value* c = otherInput(m, out);
          if (c && c->isConstant()) {
            gamma = c;
            out = m->output(0);
            all.push_back(m);
          }
        }
        if (isLn && gamma) {
          if (ir::Node* a = soleConsumer(g, out); a && a->opType() == "Add" && a->domain().empty()) {
            ir::Value* c = otherInput(a, out);
            if (c && c->isConstant()) {
              beta = c;
              out = a->output(0);
              all.push_back(a);
            }
          }
        }
        // Every intermediate must be used only inside the pattern.
        const int rank = x->shape().rank();
        const int64_t normSize = [&] {
          int64_t n = 1;
          for (int k = static_cast<int>(*axis); k < rank; ++k) n *= x->shape()[k].isStatic() ? x->shape()[k].value() : -1;
          return n;
        }();
        if (normSize <= 0) continue;
        auto makeParam = [&](ir::Value* v, double fill) -> ir::Value* {
          Dims pd;
          for (int k = static_cast<int>(*axis); k < rank; ++k) pd.push_back(x->shape()[k].value());
          Tensor t = Tensor::allocate(x->dtype(), pd);
          for (int64_t k = 0; k < t.numel(); ++k) {
            double val = v ? v->constant().doubleAt(v->constant().numel() == 1 ? 0 : k % v->constant().numel()) : fill;
            dispatchType<FloatTypes>(x->dtype(), [&](auto tag) {
              using T = typename decltype(tag)::type;
              t.data<T>()[k] = convertValue<T>(val);
            });
          }
          return g.addConstant(norm->name() + (v ? "_param" : "_fill"), std::move(t));
        };
        // gamma/beta must broadcast exactly over the normalized axes.
        auto fitsAxes = [&](ir::Value* v) {
          if (!v) return true;
          const Tensor& t = v->constant();
          if (t.numel() == 1) return true;
          return t.numel() == normSize && t.rank() <= rank - *axis;
        };
        if (!isFloat(x->dtype())) continue;
        // Per-channel gamma/beta with the spatial axes normalized: InstanceNormalization.
        auto perChannel = [&](ir::Value* v) -> std::optional<std::vector<double>> {
          if (!v) return std::nullopt;
          const Tensor& t = v->constant();
          if (rank < 3 || !x->shape()[1].isStatic()) return std::nullopt;
          const int64_t c = x->shape()[1].value();
          if (t.numel() != c || t.rank() > rank) return std::nullopt;
          int chAxis = -1;
          for (int k = 0; k < t.rank(); ++k)
            if (t.dims()[k] == c) chAxis = k + (rank - t.rank());
          if (chAxis != 1 && c != 1) return std::nullopt;
          std::vector<double> out(c);
          for (int64_t k = 0; k < c; ++k) out[k] = t.doubleAt(k);
          return out;
        };
        if (isLn && *axis == 2 && rank >= 3 && gamma && beta && perChannel(gamma) && perChannel(beta) &&
            !(fitsAxes(gamma) && fitsAxes(beta))) {
          if (ctx.supportsOp && !ctx.supportsOp("", "InstanceNormalization")) continue;
          auto vec = [&](const std::vector<double>& v, const char* suffix) {
            Tensor t = Tensor::allocate(x->dtype(), Dims{static_cast<int64_t>(v.size())});
            for (size_t k = 0; k < v.size(); ++k)
              dispatchType<FloatTypes>(x->dtype(), [&](auto tag) {
                using T = typename decltype(tag)::type;
                t.data<T>()[k] = convertValue<T>(v[k]);
              });
            return g.addConstant(norm->name() + suffix, std::move(t));
          };
          AttrMap a;
          a.set("epsilon", AttrValue(static_cast<float>(d->eps)));
          KILN_ASSIGN_OR_RETURN(ir::Node * in, addOp(g, "InstanceNormalization", "", defaultOpset(g),
                                                     norm->name() + "/instancenorm",
                                                     {x, vec(*perChannel(gamma), "_scale"), vec(*perChannel(beta), "_bias")},
                                                     a, 1, fusedNames(all)));
          g.takeOver(out, in, 0);
          ++inst;
          break;
        }
        if (!fitsAxes(gamma) || !fitsAxes(beta)) continue;
        const char* op = isLn ? "LayerNormalization" : "RMSNormalization";
        if (ctx.supportsOp && !ctx.supportsOp("", op)) continue;
        AttrMap a;
        a.set("axis", AttrValue(*axis));
        a.set("epsilon", AttrValue(static_cast<float>(d->eps)));
        std::vector<ir::Value*> ins = {x, makeParam(gamma, 1.0)};
        if (isLn) ins.push_back(makeParam(beta, 0.0));
        KILN_ASSIGN_OR_RETURN(ir::Node * fused, addOp(g, op, "", std::max(isLn ? 17 : 23, defaultOpset(g)),
                                                      norm->name() + (isLn ? "/layernorm" : "/rmsnorm"), ins, a, 1,
                                                      fusedNames(all)));
        g.takeOver(out, fused, 0);
        (isLn ? ln : rms)++;
        break;
      }
    }
    int groups = fuseGroupNorm(g, ctx);
    return PassResult{ln + rms + inst + groups,
                      fmt::format("fused {} LayerNorm, {} RMSNorm, {} InstanceNorm and {} GroupNorm patterns", ln, rms,
                                  inst, groups)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseLayerNorm() { return std::make_unique<FuseLayerNorm>(); }

}  // namespace kiln::passes
