// The standard pipeline: clean up first (so patterns see canonical graphs), fold what can be
// folded, then fuse from small patterns (GELU inside MLPs) to large ones (attention, epilogues).
#include "passes/passes.h"

namespace kiln::passes {

std::vector<std::unique_ptr<Pass>> makeStandardPasses() {
  std::vector<std::unique_ptr<Pass>> p;
  p.push_back(makeEliminateNoOps());
  p.push_back(makeConstantFolding());
  p.push_back(makeCommonSubexpressions());
  p.push_back(makeSimplifyChains());
  p.push_back(makeFoldBatchNorm());
  p.push_back(makeFoldConvMulAdd());
  p.push_back(makeFuseGelu());
  p.push_back(makeFuseSilu());
  p.push_back(makeFuseLayerNorm());
  p.push_back(makeFuseEmbedLayerNorm());  // before fuse-elementwise turns its Adds into a chain
  p.push_back(makeFuseAttention());
  p.push_back(makeNarrowAttentionMasks());
  p.push_back(makeFoldAttentionHeads());
  p.push_back(makePackQkv());  // before fuse-matmul: the merged GEMM gets the biases
  p.push_back(makeFuseMatMulEpilogue());
  p.push_back(makeFuseConvActivation());
  p.push_back(makeChannelsLast());
  p.push_back(makeSimplifyChains());  // cancels the layout Transposes channels-last leaves in pairs
  p.push_back(makeFuseElementwise());
  p.push_back(makeLowerPrecision());  // last: fusions match fp32 patterns; kernels pick the type
  p.push_back(makeCommonSubexpressions());  // merges the Casts lowering adds for shared tensors
  p.push_back(makeFoldLayerNormMatMul());   // after lowering: the fused kernel is fp16 only
  p.push_back(makeFuseQkvAttention());      // after lowering: the fused kernel is fp16 only
  p.push_back(makeDeadNodeElimination());
  return p;
}

}  // namespace kiln::passes
