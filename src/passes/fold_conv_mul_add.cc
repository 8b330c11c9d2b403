// Per-output-channel constant Mul/Add after a Conv fold into its weights and bias:
//   Conv(x, W, b) * m  =  Conv(x, W * m[oc], b * m)      Conv(x, W, b) + a  =  Conv(x, W, b + a)
// where m, a are scalars or [C,1,...,1] / [1,C,1,...,1] constants. Exact up to float rounding.
#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

// Per-channel values of a constant broadcastable as [1, C, 1...] against an output of rank r;
// nullopt if it varies along any other axis.
std::optional<std::vector<double>> perChannel(const ir::Value* v, int64_t c, int r) {
  if (!v || !v->isConstant() || !isFloat(v->dtype())) return std::nullopt;
  const Tensor& t = v->constant();
  if (t.numel() == 1) return std::vector<double>(c, t.doubleAt(0));
  if (t.numel() != c || t.rank() > r) return std::nullopt;
  // The channel axis of t (aligned to the output's trailing axes) must be output axis 1.
  int axis = -1;
  for (int i = 0; i < t.rank(); ++i)
    if (t.dims()[i] == c) axis = i + (r - t.rank());
  if (axis != 1) return std::nullopt;
  std::vector<double> out(c);
  for (int64_t i = 0; i < c; ++i) out[i] = t.doubleAt(i);
  return out;
}

class FoldConvMulAdd final : public Pass {
 public:
  const char* name() const override { return "fold-conv-mul-add"; }
  const char* description() const override { return "fold per-channel constant Mul/Add into Conv weights and bias"; }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int folded = 0;
    bool again = true;
    while (again) {
      again = false;
      for (ir::Node* conv : g.nodes()) {
        if (conv->opType() != "Conv" || !conv->domain().empty()) continue;
        ir::Value* y = conv->output(0);
        ir::Node* op = soleConsumer(g, y);
        if (!op || !op->domain().empty() || (op->opType() != "Mul" && op->opType() != "Add")) continue;
        ir::Value* w = conv->input(1);
        if (!w->isConstant() || w->dtype() != DType::kFloat32 || w->constant().rank() < 3) continue;
        const int64_t c = w->constant().dims()[0];
        const int r = y->shape().rank();
        auto vals = perChannel(otherInput(op, y), c, r);
        if (!vals) continue;
        const ir::Value* b = conv->input(2);
        if (b && (!b->isConstant() || b->constant().numel() != c)) continue;
        Tensor bias = Tensor::allocate(DType::kFloat32, Dims{c});
        for (int64_t i = 0; i < c; ++i) {
          double old = b ? b->constant().doubleAt(i) : 0.0;
          bias.data<float>()[i] = static_cast<float>(op->opType() == "Mul" ? old * (*vals)[i] : old + (*vals)[i]);
        }
        if (op->opType() == "Mul") {
          Tensor nw = w->constant().clone();
          const int64_t per = nw.numel() / c;
          for (int64_t i = 0; i < c; ++i)
            for (int64_t k = 0; k < per; ++k) nw.data<float>()[i * per + k] *= static_cast<float>((*vals)[i]);
          conv->setInput(1, g.addConstant(w->name() + "_scaled", std::move(nw)));
        }
        conv->setInput(2, g.addConstant(conv->name() + "_bias", std::move(bias)));
        conv->setFusedFrom(fusedNames({conv, op}));
        replaceAndRemove(g, op->output(0), y, {op});
        ++folded;
        again = true;
        break;  // the node list changed
      }
    }
    return PassResult{folded, fmt::format("folded {} Mul/Add nodes into Conv", folded)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFoldConvMulAdd() { return std::make_unique<FoldConvMulAdd>(); }

}  // namespace kiln::passes
