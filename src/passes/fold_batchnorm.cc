// BatchNormalization (inference) after a Conv, ConvTranspose, Gemm or 2-D MatMul with constant
// weights folds into them:  BN(y) = (y - mean) * s + B  with  s = scale / sqrt(var + eps),  so
// W' = W * s  (per output channel) and  b' = (b - mean) * s + B.
#include <cmath>

#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

// Per-channel s and t such that BN(y) = y * s + t.
bool bnAffine(const ir::Node* bn, std::vector<double>* s, std::vector<double>* t) {
  for (int i = 1; i < 5; ++i)
    if (!bn->input(i) || !bn->input(i)->isConstant()) return false;
  const Tensor &scale = bn->input(1)->constant(), &bias = bn->input(2)->constant(), &mean = bn->input(3)->constant(),
               &var = bn->input(4)->constant();
  const int64_t c = scale.numel();
  if (bias.numel() != c || mean.numel() != c || var.numel() != c) return false;
  const double eps = bn->attrs().getFloat("epsilon", 1e-5f);
  s->resize(c);
  t->resize(c);
  for (int64_t i = 0; i < c; ++i) {
    (*s)[i] = scale.doubleAt(i) / std::sqrt(var.doubleAt(i) + eps);
    (*t)[i] = bias.doubleAt(i) - mean.doubleAt(i) * (*s)[i];
  }
  return true;
}

// w (float32) scaled along `axis` by s[index(channel)].
Tensor scaleAlong(const Tensor& w, int axis, const std::vector<double>& s, int64_t groups = 1) {
  Tensor out = w.clone();
  const Dims& d = w.dims();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= d[i];
  for (int i = axis + 1; i < d.rank(); ++i) inner *= d[i];
  const int64_t n = d[axis];
  float* p = out.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < n; ++c) {
      // ConvTranspose weights are [C_in, M/group, k...]: channel = group * (M/group) + c.
      int64_t ch = groups > 1 ? (o / (d[0] / groups)) * n + c : c;
      float f = static_cast<float>(s[ch]);
      for (int64_t i = 0; i < inner; ++i) p[(o * n + c) * inner + i] *= f;
    }
  return out;
}

class FoldBatchNorm final : public Pass {
 public:
  const char* name() const override { return "fold-batchnorm"; }
  const char* description() const override { return "fold inference BatchNormalization into Conv/ConvTranspose/Gemm/MatMul"; }
  Result<PassResult> run(ir::Graph& g, const PassContext&) override {
    int folded = 0;
    for (ir::Node* bn : g.nodes()) {
      if (bn->opType() != "BatchNormalization" || !bn->domain().empty() || bn->numOutputs() != 1) continue;
      if (bn->attrs().getInt("training_mode", 0) != 0) continue;
      ir::Value* y = bn->input(0);
      ir::Node* p = y ? y->producer() : nullptr;
      if (!p || !p->domain().empty() || !singleUse(g, y) || y->dtype() != DType::kFloat32) continue;
      std::vector<double> s, t;
      if (!bnAffine(bn, &s, &t)) continue;
      const int64_t c = static_cast<int64_t>(s.size());
      const std::string& op = p->opType();
      ir::Value* w = p->input(1);
      if (!w || !w->isConstant() || w->constant().dtype() != DType::kFloat32) continue;
      const Tensor& W = w->constant();
      Tensor newW;
      int biasIndex;
      if (op == "Conv") {
        if (W.rank() < 3 || W.dims()[0] != c) continue;
        newW = scaleAlong(W, 0, s);
        biasIndex = 2;
      } else if (op == "ConvTranspose") {
        int64_t groups = p->attrs().getInt("group", 1);
        if (W.rank() < 3 || W.dims()[1] * groups != c) continue;
        newW = scaleAlong(W, 1, s, groups);
        biasIndex = 2;
      } else if (op == "Gemm" || op == "MatMul") {
        // BN over axis 1 of a 2-D [M, N] output: scale B's columns (transB: rows).
        if (y->shape().rank() != 2 || W.rank() != 2) continue;
        bool transB = op == "Gemm" && p->attrs().getInt("transB", 0) != 0;
        if (op == "Gemm" && (p->attrs().getInt("transA", 0) != 0 || p->attrs().getFloat("alpha", 1) != 1.0f ||
                             (p->input(2) && p->attrs().getFloat("beta", 1) != 1.0f)))
          continue;
        if ((transB ? W.dims()[0] : W.dims()[1]) != c) continue;
        newW = scaleAlong(W, transB ? 0 : 1, s);
        biasIndex = op == "Gemm" ? 2 : -1;
      } else {
        continue;
      }
      // New bias b' = b * s + t (b = 0 when absent).
      Tensor bias = Tensor::allocate(DType::kFloat32, Dims{c});
      const ir::Value* oldB = biasIndex >= 0 ? p->input(biasIndex) : nullptr;
      if (oldB && (!oldB->isConstant() || oldB->constant().numel() != c)) continue;
      for (int64_t i = 0; i < c; ++i)
        bias.data<float>()[i] = static_cast<float>((oldB ? oldB->constant().doubleAt(i) : 0.0) * s[i] + t[i]);
      p->setInput(1, g.addConstant(w->name() + "_bnfolded", std::move(newW)));
      if (op == "MatMul") {
        // MatMul has no bias input: add it after.
        ir::Value* bv = g.addConstant(bn->name() + "_bias", std::move(bias));
        KILN_ASSIGN_OR_RETURN(ir::Node * add, addOp(g, "Add", "", defaultOpset(g), bn->name(), {y, bv}, {}, 1,
                                                    fusedNames({bn})));
        replaceAndRemove(g, bn->output(0), add->output(0), {bn});
      } else {
        p->setInput(biasIndex, g.addConstant(bn->name() + "_bias", std::move(bias)));
        p->setFusedFrom(fusedNames({p, bn}));
        replaceAndRemove(g, bn->output(0), y, {bn});
      }
      ++folded;
    }
    return PassResult{folded, fmt::format("folded {} BatchNormalization nodes", folded)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFoldBatchNorm() { return std::make_unique<FoldBatchNorm>(); }

}  // namespace kiln::passes
