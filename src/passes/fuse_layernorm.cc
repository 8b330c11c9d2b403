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

class FuseLayerNorm final : public Pass {
 public:
  const char* name() const override { return "fuse-layernorm"; }
  const char* description() const override { return "LayerNormalization and RMSNormalization from decomposed forms"; }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    int ln = 0, rms = 0;
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
        if (!isFloat(x->dtype()) || !fitsAxes(gamma) || !fitsAxes(beta)) continue;
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
    return PassResult{ln + rms, fmt::format("fused {} LayerNorm and {} RMSNorm patterns", ln, rms)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseLayerNorm() { return std::make_unique<FuseLayerNorm>(); }

}  // namespace kiln::passes
