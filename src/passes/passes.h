// Every optimization pass, one factory each (one pass per file), and the standard pipeline.
#pragma once

#include <memory>
#include <vector>

#include "passes/pass.h"

namespace kiln::passes {

// Clean-up
std::unique_ptr<Pass> makeEliminateNoOps();        // Identity, inference Dropout, no-op Cast/Reshape/...
std::unique_ptr<Pass> makeConstantFolding();       // constant subgraphs and shape arithmetic
std::unique_ptr<Pass> makeDeadNodeElimination();
std::unique_ptr<Pass> makeCommonSubexpressions();
std::unique_ptr<Pass> makeSimplifyChains();        // Transpose/Reshape chains
// Folding
std::unique_ptr<Pass> makeFoldBatchNorm();         // BatchNormalization into Conv/ConvTranspose/Gemm/MatMul
std::unique_ptr<Pass> makeFoldConvMulAdd();        // per-channel Mul/Add into Conv weights/bias
// Fusions
std::unique_ptr<Pass> makeFuseGelu();
std::unique_ptr<Pass> makeFuseSilu();
std::unique_ptr<Pass> makeFuseLayerNorm();         // LayerNormalization and RMSNormalization
std::unique_ptr<Pass> makeFuseEmbedLayerNorm();    // embedding gathers + adds + LayerNorm
std::unique_ptr<Pass> makeFuseAttention();
std::unique_ptr<Pass> makeNarrowAttentionMasks();  // masks widened by And(all-true)/Expand, narrow again
std::unique_ptr<Pass> makeFoldAttentionHeads();
std::unique_ptr<Pass> makePackQkv();
std::unique_ptr<Pass> makeFuseConvActivation();    // Conv + bias + activation (+ residual Add)
std::unique_ptr<Pass> makeFuseMatMulEpilogue();    // MatMul/Gemm + bias + activation
std::unique_ptr<Pass> makeFuseElementwise();       // chains of element-wise ops
// Layout
std::unique_ptr<Pass> makeChannelsLast();          // NHWC convolutions and pooling
std::unique_ptr<Pass> makeLowerPrecision();        // fp32 -> fp16/bf16 where the target allows
std::unique_ptr<Pass> makeFoldLayerNormMatMul();   // FusedMatMul + LayerNorm -> MatMulLayerNorm (fp16)
std::unique_ptr<Pass> makeFuseQkvAttention();      // QKV MatMul + PackedAttention -> QkvAttention

std::vector<std::unique_ptr<Pass>> makeStandardPasses();

}  // namespace kiln::passes
