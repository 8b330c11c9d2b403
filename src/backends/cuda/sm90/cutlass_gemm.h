// Hopper (sm_90a) GEMMs from CUTLASS 3 (cutlass_gemm.cu): warp-specialized ping-pong kernels with
// TMA loads and a fused epilogue, D = act(A B + beta C + bias) in fp16 with fp32 accumulation.
// Plain data only (the nvcc / host-compiler boundary); the kernel and its registration are
// kernels/blas_cutlass.cc. Built only for sm_90a, and only when CUTLASS's headers are present.
#pragma once

#include <cuda_runtime_api.h>

namespace kiln::cuda::sm90 {

enum class GemmEpilogue { kLinear, kGeluErf };

// Row-major operands: A [M, K], B [K, N], bias [N], residual and D [M, N]; all 16-byte aligned,
// K and N multiples of 8 (TMA's 16-byte strides). bias and residual may be null (neither is read).
struct GemmArgs {
  int M = 0, N = 0, K = 0;
  const void* a = nullptr;
  const void* b = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  void* d = nullptr;
  GemmEpilogue epilogue = GemmEpilogue::kLinear;
  int smCount = 0;  // the persistent grid's size (0: queried)
};

// Tile / cluster configurations, the tactic's variants.
constexpr int kGemmConfigs = 3;
const char* gemmConfigName(int config);

// Whether the problem meets the kernels' constraints (sizes, strides, alignment).
bool gemmFits(const GemmArgs& a);

// The kernel parameters (TMA descriptors and all) are built once per problem on the host and kept
// by the caller as an opaque blob of gemmParamsBytes(): rebuilding them for every launch cost more
// host time than a small GEMM takes on the device.
size_t gemmParamsBytes();
// Builds the parameters of configuration `config` for `a` into `params` (gemmParamsBytes() bytes).
// cudaErrorNotSupported when !gemmFits(a) or the kernel cannot implement the problem.
cudaError_t prepareGemm(const GemmArgs& a, int config, void* params);
// Launches a prepared configuration (the same `config` and a.epilogue) on stream s.
cudaError_t launchGemm(const void* params, int config, GemmEpilogue epilogue, cudaStream_t s);

}  // namespace kiln::cuda::sm90
