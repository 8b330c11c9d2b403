// fold-layernorm-matmul: a LayerNormalization over the last axis whose input is the only use of
// an activation-free kiln:FusedMatMul (or a MatMul with a 2-D B) becomes one kiln:MatMulLayerNorm:
//   LayerNorm(FusedMatMul(A, B, bias, R), scale, beta)  ->  MatMulLayerNorm(A, B, bias, R, scale, beta)
// That is the shape of every post-LN transformer block (BERT's attention output and FFN-down GEMMs
// add the residual, then normalize). The fused kernel normalizes in the GEMM's epilogue, so the
// M x N activation is not written, read back and written again by a LayerNorm pass.
//
// It runs after precision lowering (the fused kernel is fp16 only), only where the target says it
// has the kernel (PassContext::fuseMatMulLayerNorm), only for fixed shapes (the unfused tactic's
// intermediate lives in the workspace) and only for row widths the cluster kernel has (so a layer
// whose intermediate outgrows the workspace still has a tactic); the target then confirms it runs
// the new layer (dtypes, ranks) before the rewrite.
#include <fmt/format.h>

#include "passes/passes.h"
#include "passes/pattern.h"

namespace kiln::passes {

namespace {

bool isLastAxis(const ir::Node* ln, const ir::Value* x) {
  const int64_t axis = ln->attrs().getInt("axis", -1);
  return x->shape().rankKnown() && (axis == -1 || axis == x->shape().rank() - 1);
}

bool isVector(const ir::Value* v, int64_t n) {
  return v && v->isConstant() && v->constant().numel() == n && v->constant().rank() <= 1;
}

class FoldLayerNormMatMul final : public Pass {
 public:
  const char* name() const override { return "fold-layernorm-matmul"; }
  const char* description() const override {
    return "GEMM + residual + LayerNormalization into one MatMulLayerNorm layer (CUDA fp16, Hopper)";
  }
  Result<PassResult> run(ir::Graph& g, const PassContext& ctx) override {
    if (!ctx.fuseMatMulLayerNorm) return PassResult{0, "the target has no MatMulLayerNorm kernel"};
    int fused = 0;
    for (ir::Node* ln : g.nodes()) {
      if (ln->opType() != "LayerNormalization" || !ln->domain().empty()) continue;
      // Only Y: the optional Mean / InvStdDev outputs have no place in the fused layer.
      bool extraOutputs = false;
      for (int i = 1; i < ln->numOutputs(); ++i)
        extraOutputs |= ln->output(i) && (!ln->output(i)->uses().empty() || g.isGraphOutput(ln->output(i)));
      if (extraOutputs) continue;
      ir::Value* x = ln->input(0);
      if (x->dtype() != DType::kFloat16) continue;  // the kernel is fp16; lowering kept this layer wider
      // Fixed shapes only: the unfused tactic (the reference, and the faster one at BERT's sizes)
      // keeps the GEMM's output in the workspace, sized at build time.
      if (!x->shape().isStatic()) continue;
      // A FusedMatMul without activation, or a plain MatMul (nothing to fuse before the LayerNorm).
      ir::Node* mm = producerOf(x, "FusedMatMul", "kiln");
      if (!mm) mm = producerOf(x, "MatMul");
      if (!mm || !singleUse(g, x) || !isLastAxis(ln, x)) continue;
      if (!mm->attrs().getString("activation", "").empty()) continue;
      const ir::Value* b = mm->input(1);
      if (!b->shape().rankKnown() || b->shape().rank() != 2 || !b->shape()[1].isStatic()) continue;
      const int64_t n = b->shape()[1].value();
      // Row widths the cluster kernel has (cutlass_gemm_layernorm.h): the layer then always has a
      // tactic, even where the unfused one's intermediate outgrows the workspace.
      if (n != 384 && n != 768 && n != 1024) continue;
      ir::Value* scale = ln->input(1);
      ir::Value* beta = ln->numInputs() > 2 ? ln->input(2) : nullptr;
      if (!isVector(scale, n) || (beta && !isVector(beta, n))) continue;
      bool allHalf = true;
      for (const ir::Value* v : mm->inputs()) allHalf &= !v || v->dtype() == DType::kFloat16;
      for (const ir::Value* v : {scale, beta}) allHalf &= !v || v->dtype() == DType::kFloat16;
      if (!allHalf) continue;
      std::vector<ir::Value*> ins = {mm->input(0), mm->input(1), mm->numInputs() > 2 ? mm->input(2) : nullptr,
                                     mm->numInputs() > 3 ? mm->input(3) : nullptr, scale};
      if (beta) ins.push_back(beta);
      AttrMap attrs;
      attrs.set("epsilon", AttrValue(ln->attrs().getFloat("epsilon", 1e-5f)));
      KILN_ASSIGN_OR_RETURN(ir::Node * f, addOp(g, "MatMulLayerNorm", "kiln", 1, mm->name() + "/layernorm", ins, attrs,
                                                1, fusedNames({mm, ln})));
      // The target confirms it runs the new layer (dtypes, ranks); otherwise the LayerNorm stays.
      if (!ctx.supportsLowered || !ctx.supportsLowered(*f, DType::kFloat16)) {
        g.removeNode(f);
        continue;
      }
      g.takeOver(ln->output(0), f, 0);
      ++fused;
    }
    return PassResult{fused, fmt::format("folded {} LayerNormalizations into their GEMMs", fused)};
  }
};

}  // namespace

std::unique_ptr<Pass> makeFoldLayerNormMatMul() { return std::make_unique<FoldLayerNormMatMul>(); }

}  // namespace kiln::passes
