// Host-callable launchers of the signal and small linear-algebra family: DFT and STFT (kernels in
// signal.cu, host side in signal_ops.cc), Einsum and Det (einsum.cu, einsum_ops.cc). Plain data
// only: this header is the boundary between nvcc (no Tensor/Status) and the host compiler.
// Launchers return cudaSuccess, the launch error, or cudaErrorInvalidValue for an argument the
// host side should have refused.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::signal {

// Float types DFT, STFT and Det compute on (the CPU reference's FloatTypes).
bool signalSupportsType(DType t);
// Element types Einsum computes on (the CPU reference's NumericTypes).
bool einsumSupportsType(DType t);

// ---- DFT / STFT ---------------------------------------------------------------------------------
// A batch of direct (naive O(n^2)) DFT lines, accumulated in double like backends/cpu/kernels/
// misc_signal.cc. Line (b, f, i) reads `len` samples of `comp` components (1 real, 2 complex) at
//   x + b * strideB + f * strideF + i * strideI + t * strideT   (element offsets, t in [0, len))
// times window[t] when `window` is set, and writes its `m` bins of `outComp` components to
//   y + ((((b * frames + f) * m) + k) * inner + i) * outComp.
// DFT: frames = 1; STFT: inner = 1, strideF = frame_step * comp.
// inverse: x[t] = 1/n sum_k X[k] w^(-kt); irfft (inverse and onesided): the inverse of the
// Hermitian spectrum built from the first n/2+1 bins, real part only (outComp = 1).
struct DftArgs {
  DType dtype = DType::kFloat32;  // x, window and y
  const void* x = nullptr;
  const void* window = nullptr;  // [len] or nullptr
  void* y = nullptr;
  int64_t batch = 1, frames = 1, inner = 1;
  int64_t len = 0;  // samples per line
  int64_t n = 0;    // transform length (dft_length)
  int64_t m = 0;    // output bins
  int64_t strideB = 0, strideF = 0, strideI = 0, strideT = 0;
  int comp = 1, outComp = 2;
  bool inverse = false, irfft = false;
  int smCount = 132;
};
cudaError_t launchDft(const DftArgs& a, cudaStream_t s);

// ---- Einsum -------------------------------------------------------------------------------------
// The evaluation plan of backends/cpu/kernels/matmul_einsum.cc as plain data: each output element
// (output axes, row-major, last fastest) sums over the summed axes (last fastest) the product of
// the operands, left to right, accumulated in double (floats) or wrapping uint64 (integers).
constexpr int kEinsumMaxOperands = 8;
constexpr int kEinsumMaxAxes = 16;  // output axes, and summed axes, each
struct EinsumArgs {
  DType dtype = DType::kFloat32;
  int numOperands = 0;
  const void* in[kEinsumMaxOperands] = {};
  void* y = nullptr;
  int numOut = 0, numSum = 0;
  int64_t outCount = 0, sumCount = 0;
  int64_t outSize[kEinsumMaxAxes] = {};
  int64_t sumSize[kEinsumMaxAxes] = {};
  int64_t outStride[kEinsumMaxAxes][kEinsumMaxOperands] = {};  // element strides per operand
  int64_t sumStride[kEinsumMaxAxes][kEinsumMaxOperands] = {};
  int smCount = 132;
};
cudaError_t launchEinsum(const EinsumArgs& a, cudaStream_t s);

// ---- Det ----------------------------------------------------------------------------------------
// `batch` row-major m x m matrices -> `batch` determinants: LU with partial pivoting in double, one
// thread block per matrix, in the CPU reference's order (backends/cpu/kernels/misc.cc). Matrices
// of up to kDetSharedMaxM rows live in shared memory; larger ones in the workspace
// (m * m doubles per matrix; the launcher runs as many matrices at once as it holds).
constexpr int64_t kDetSharedMaxM = 78;  // 78 * 78 * 8 bytes < 48 KiB
inline size_t detWorkspacePerMatrix(int64_t m) { return m > kDetSharedMaxM ? size_t(m) * size_t(m) * sizeof(double) : 0; }
struct DetArgs {
  DType dtype = DType::kFloat32;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t batch = 0, m = 0;
  void* workspace = nullptr;
  size_t workspaceSize = 0;
};
cudaError_t launchDet(const DetArgs& a, cudaStream_t s);

}  // namespace kiln::cuda::signal
