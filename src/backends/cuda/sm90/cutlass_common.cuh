// Helpers shared by the CUTLASS 3 Hopper GEMM translation units (cutlass_gemm.cu,
// cutlass_gemm_layernorm.cu): packed row-major strides, alignment, and the launch of a kernel
// whose parameters were prepared once and kept as bytes.
#pragma once

#include <cstdint>
#include <cstring>

#include <cuda_runtime_api.h>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"

namespace kiln::cuda::sm90 {

// Packed strides: A and C/D row-major (rows, cols) are (cols, 1, rows * cols); B row-major [K, N]
// is CUTLASS's (N, K) with stride (1, N, K * N).
template <class S>
S rowMajor(int64_t rows, int64_t cols) {
  S s{};
  cute::get<0>(s) = cols;
  cute::get<2>(s) = rows * cols;
  return s;
}
template <class S>
S nMajor(int64_t n, int64_t k) {
  S s{};
  cute::get<1>(s) = n;
  cute::get<2>(s) = n * k;
  return s;
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Launches Gemm (a cutlass::gemm::device::GemmUniversalAdapter) with parameters kept as bytes;
// pdl: with programmatic dependent launch (kernels/pdl.cuh), which these kernels support because
// the target compiles them with CUTLASS_ENABLE_GDC_FOR_SM90.
template <class Gemm>
cudaError_t launchPrepared(const void* blob, cudaStream_t stream, bool pdl = false) {
  typename Gemm::GemmKernel::Params params;
  std::memcpy(&params, blob, sizeof(params));
  if (Gemm::run(params, stream, nullptr, pdl) != cutlass::Status::kSuccess) {
    const cudaError_t e = cudaGetLastError();
    return e != cudaSuccess ? e : cudaErrorLaunchFailure;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::sm90
