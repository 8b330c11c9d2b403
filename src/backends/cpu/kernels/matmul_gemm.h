// A blocked, packed GEMM for the reference CPU kernels (MatMul, Gemm, im2col Conv, ConvTranspose):
// C[M,N] = A[M,K] * B[K,N] (or C += A*B), with arbitrary element strides for A and B so that
// transposed operands need no copies. Instantiated for float, double and the 32/64-bit integers
// (integers wrap around like numpy). Small floats are converted to float by the callers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace kiln::cpu {

// Element (r, c) of a matrix lives at p[r * rs + c * cs].
template <typename T>
struct MatView {
  const T* p;
  int64_t rs, cs;
};

template <typename T>
MatView<T> rowMajor(const T* p, int64_t ld) { return {p, ld, 1}; }
template <typename T>
MatView<T> colMajor(const T* p, int64_t ld) { return {p, 1, ld}; }  // the transpose of a row-major matrix

// C (row-major, leading dimension ldc) = A*B, or += A*B when `accumulate`. `parallel` lets the
// call split the work over the global thread pool (pass false when already inside a parallel loop).
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, MatView<T> A, MatView<T> B, T* C, int64_t ldc, bool accumulate,
          bool parallel = true);

extern template void gemm<float>(int64_t, int64_t, int64_t, MatView<float>, MatView<float>, float*, int64_t,
                                 bool, bool);
extern template void gemm<double>(int64_t, int64_t, int64_t, MatView<double>, MatView<double>, double*, int64_t,
                                  bool, bool);
extern template void gemm<uint32_t>(int64_t, int64_t, int64_t, MatView<uint32_t>, MatView<uint32_t>, uint32_t*,
                                    int64_t, bool, bool);
extern template void gemm<uint64_t>(int64_t, int64_t, int64_t, MatView<uint64_t>, MatView<uint64_t>, uint64_t*,
                                    int64_t, bool, bool);

// Signed integers compute in the unsigned type of the same width (two's complement wraparound
// without undefined behaviour).
void gemm(int64_t M, int64_t N, int64_t K, MatView<int32_t> A, MatView<int32_t> B, int32_t* C, int64_t ldc,
          bool accumulate, bool parallel = true);
void gemm(int64_t M, int64_t N, int64_t K, MatView<int64_t> A, MatView<int64_t> B, int64_t* C, int64_t ldc,
          bool accumulate, bool parallel = true);

// Per-thread reusable scratch for the reference kernels' temporaries, so steady-state runs
// allocate nothing: slot `slot` of the calling thread, grown to at least n elements (64-byte
// aligned, contents undefined). Valid until this thread asks for the same slot again; a kernel
// uses distinct slots for buffers alive at the same time. (A thread inside parallelFor runs only
// chunks of its own job, so a slot is never reused underneath its owner.)
enum class ScratchSlot { kCols, kX, kW, kB, kY, kCount };
void* threadScratchBytes(ScratchSlot slot, size_t bytes);
template <typename T>
T* threadScratch(ScratchSlot slot, int64_t n) {
  return static_cast<T*>(threadScratchBytes(slot, static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T)));
}

}  // namespace kiln::cpu
