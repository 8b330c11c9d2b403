// fuse-qkv-attention: the merged Q/K/V projection and the attention it feeds become one layer:
//   PackedAttention(MatMul(X, W) [+ bias], mask)  ->  kiln:QkvAttention(X, W, bias, mask)
// so that a kernel may project and attend without writing Q, K and V to memory (BERT-base batch 64:
// 37.7 MB written and read back per layer). The layer keeps an unfused tactic (the GEMM, then the
// attention kernel), which the builder times against the fused one.
//
// It runs after precision lowering, only where the target has the fused kernel
// (PassContext::fuseQkvAttention: CUDA on compute capability 9.0) and the layer is float16 (the
// kernel's bfloat16 instance is not enabled until it has run on a device), and only where that
// kernel can run the layer: equal query and key/value heads of size 64, at most 128 tokens, fixed
// shapes (the unfused tactic keeps the projection in the workspace), no causal mask or softcap.
#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

constexpr int64_t kHead = 64;
constexpr int64_t kMaxTokens = 128;

class FuseQkvAttention final : public Pass {
 public:
  const char* name() const override { return "fuse-qkv-attention"; }
  const char* description() const override {
    return "Q/K/V projection + attention into one QkvAttention layer (CUDA fp16, Hopper)";
  }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (!ctx.fuseQkvAttention) return PassResult{0, "the target has no QkvAttention kernel"};
    int fused = 0;
    for (ir::Node* pa : g.nodes()) {
      if (pa->opType() != "PackedAttention" || pa->domain() != "kiln") continue;
      ir::Value* qkv = pa->input(0);
      const DType t = qkv->dtype();
      if (t != DType::kFloat16) continue;  // the fused kernel's type (bfloat16 not yet enabled)
      if (!qkv->shape().isStatic() || !singleUse(g, qkv)) continue;
      const AttrMap& a = pa->attrs();
      const int64_t hq = a.getInt("q_num_heads", 0), hkv = a.getInt("kv_num_heads", 0);
      if (hq <= 0 || hq != hkv || a.getInt("is_causal", 0) != 0 || a.getFloat("softcap", 0.0f) != 0.0f) continue;
      const Shape& s = qkv->shape();
      if (s.rank() != 3 || s[2].value() != 3 * hq * kHead || s[1].value() > kMaxTokens) continue;
      // The projection: a MatMul, or a FusedMatMul with a bias at most (no activation, no residual).
      ir::Node* mm = producerOf(qkv, "FusedMatMul", "kiln");
      if (mm) {
        if (!mm->attrs().getString("activation", "").empty() || (mm->numInputs() > 3 && mm->input(3))) continue;
      } else {
        mm = producerOf(qkv, "MatMul");
      }
      if (!mm) continue;
      ir::Value* x = mm->input(0);
      ir::Value* w = mm->input(1);
      ir::Value* bias = mm->numInputs() > 2 ? mm->input(2) : nullptr;
      if (!w->isConstant() || w->constant().rank() != 2 || w->dtype() != t || x->dtype() != t) continue;
      if (!x->shape().rankKnown() || x->shape().rank() != 3) continue;
      if (bias && (!bias->isConstant() || bias->dtype() != t || bias->constant().numel() != 3 * hq * kHead)) continue;
      std::vector<ir::Value*> ins = {x, w, bias, pa->numInputs() > 1 ? pa->input(1) : nullptr};
      while (!ins.empty() && !ins.back()) ins.pop_back();
      KILN_ASSIGN_OR_RETURN(ir::Node * f, addOp(g, "QkvAttention", "kiln", 1, pa->name() + "/qkv_fused", ins, a, 1,
                                                fusedNames({mm, pa})));
      // The target confirms it runs the new layer (dtypes, ranks); otherwise the pair stays.
      if (!ctx.supportsLowered || !ctx.supportsLowered(*f, t)) {
        g.removeNode(f);
        continue;
      }
      g.takeOver(pa->output(0), f, 0);
      ++fused;
    }
    return PassResult{fused, fmt::format("fused {} Q/K/V projections into their attention", fused)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFuseQkvAttention() { return std::make_unique<FuseQkvAttention>(); }

}  // namespace kiln::passes
