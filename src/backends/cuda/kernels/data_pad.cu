// Pad (constant/edge/reflect/wrap; negative pads crop) and CenterCropPad: every output element
// maps each axis coordinate to an input coordinate (padSource of the CPU reference) or to the
// constant. Constant-mode axes that are not padded are merged into their outer neighbour on the
// host, so the common NCHW spatial pad is a rank-2/3 problem.
#include <cstdint>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/data_launch.h"

namespace kiln::cuda::data {

namespace {

struct PadDev {
  int rank;
  int mode;
  int64_t inDims[kMaxDims], outDims[kMaxDims], begin[kMaxDims], inStrides[kMaxDims];
};

// Input index of output position o on an axis of n elements padded by `begin` in front; -1 for
// the constant (numpy semantics, period 2(n-1) for reflect).
__device__ __forceinline__ int64_t padSource(int64_t o, int64_t begin, int64_t n, int mode) {
  int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 0: return -1;
    case 1: return i < 0 ? 0 : n - 1;
    case 2: {
      if (n == 1) return 0;
      const int64_t p = 2 * (n - 1);
      const int64_t m = ((i % p) + p) % p;
      return m >= n ? p - m : m;
    }
    default: return ((i % n) + n) % n;
  }
}

template <typename W>
__global__ void padKernel(const W* __restrict__ x, W* __restrict__ y, int64_t total, PadDev p, W fill) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    int64_t rem = i, off = 0;
    bool inside = true;
    for (int a = p.rank - 1; a >= 0; --a) {
      const int64_t q = rem / p.outDims[a];
      const int64_t c = rem - q * p.outDims[a];
      rem = q;
      const int64_t s = padSource(c, p.begin[a], p.inDims[a], p.mode);
      if (s < 0) inside = false;
      else off += s * p.inStrides[a];
    }
    y[i] = inside ? x[off] : fill;
  }
}


template <typename W>
cudaError_t runPad(const PadArgs& a, const PadDev& p, int smCount, cudaStream_t s) {
  W fill;
  static_assert(sizeof(W) <= sizeof(uint64_t));
  __builtin_memcpy(&fill, &a.fill, sizeof(W));
  padKernel<W><<<smGrid(a.n, smCount), kThreads, 0, s>>>(static_cast<const W*>(a.x), static_cast<W*>(a.y), a.n, p, fill);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchPad(const PadArgs& a, int smCount, cudaStream_t s) {
  if (a.n == 0) return cudaSuccess;
  if (a.rank < 0 || a.rank > kMaxDims) return cudaErrorInvalidValue;
  PadDev p{};
  p.mode = static_cast<int>(a.mode);
  // Collapse: drop unpadded size-1 axes; in constant mode merge an unpadded axis (in == out,
  // begin 0) into the axis before it (coordinates scale by its extent).
  for (int ax = 0; ax < a.rank; ++ax) {
    const bool unpadded = a.inDims[ax] == a.outDims[ax] && a.begin[ax] == 0;
    if (unpadded && a.inDims[ax] == 1) continue;
    if (unpadded && a.mode == PadMode::kConstant && p.rank > 0) {
      const int q = p.rank - 1;
      p.inDims[q] *= a.inDims[ax];
      p.outDims[q] *= a.inDims[ax];
      p.begin[q] *= a.inDims[ax];
      continue;
    }
    p.inDims[p.rank] = a.inDims[ax];
    p.outDims[p.rank] = a.outDims[ax];
    p.begin[p.rank] = a.begin[ax];
    ++p.rank;
  }
  if (p.rank == 0) {
    p.rank = 1;
    p.inDims[0] = p.outDims[0] = 1;
    p.begin[0] = 0;
  }
  int64_t acc = 1;
  for (int ax = p.rank - 1; ax >= 0; --ax) {
    p.inStrides[ax] = acc;
    acc *= p.inDims[ax];
  }
  switch (a.elemSize) {
    case 1: return runPad<uint8_t>(a, p, smCount, s);
    case 2: return runPad<uint16_t>(a, p, smCount, s);
    case 4: return runPad<uint32_t>(a, p, smCount, s);
    case 8: return runPad<uint64_t>(a, p, smCount, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda::data
