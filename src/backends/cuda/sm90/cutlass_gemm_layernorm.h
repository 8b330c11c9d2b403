// A Hopper (sm_90a) GEMM whose epilogue applies LayerNorm over each output row
// (cutlass_gemm_layernorm.cu): D = LayerNorm(A B + bias + R) * gamma + beta, fp16 in and out,
// fp32 accumulation and statistics. This is kiln:MatMulLayerNorm, BERT's "attention output /
// FFN-down GEMM + residual + LayerNorm" in one kernel: the LayerNorm pass over the activations
// (a read and a write of M x N) disappears.
//
// How a row that spans several CTAs is normalized: the N columns of a row are split across a
// thread-block cluster of N / BN CTAs along N (2 x 384 for N = 768). Each CTA reduces its part of
// every row, sends the partial to every peer's shared memory (DSMEM) and the peers add them up;
// after the sum comes the centered sum of squares the same way (two passes, so the variance has
// no E[x^2] - E[x]^2 cancellation). Clusters are co-scheduled by the hardware, so the exchange
// cannot wait on a CTA that is not running.
#pragma once

#include <cuda_runtime_api.h>

namespace kiln::cuda::sm90 {

// Row-major A [M, K], B [K, N], R and D [M, N]; bias, gamma, beta [N]. bias, residual and beta
// may be null. All 16-byte aligned, K a multiple of 8, N a width layerNormGemmSupportsWidth()
// accepts (384, 768, 1024).
struct LayerNormGemmArgs {
  int M = 0, N = 0, K = 0;
  const void* a = nullptr;
  const void* b = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  void* d = nullptr;
  float epsilon = 1e-5f;
  int smCount = 0;
};

// Whether a row width has a kernel (the tile width times the cluster size), and the problem
// meets the kernel's constraints (sizes, alignment).
bool layerNormGemmSupportsWidth(int n);
bool layerNormGemmFits(const LayerNormGemmArgs& a);

// As prepareGemm / launchGemm (cutlass_gemm.h): parameters built once per problem into a blob of
// layerNormGemmParamsBytes(), then launched. The grid is sized to the clusters the device can hold
// at once (cudaOccupancyMaxActiveClusters), so no cluster of the persistent grid waits for another
// to finish.
size_t layerNormGemmParamsBytes();
cudaError_t prepareLayerNormGemm(const LayerNormGemmArgs& a, void* params);
cudaError_t launchLayerNormGemm(const void* params, int n, cudaStream_t s);

}  // namespace kiln::cuda::sm90
