// ArgMax / ArgMin over [outer, n, inner] views, int64 indices. The comparison is a total order on
// (value, index): larger (smaller) values win, NaN beats everything, ties go to the smaller index
// (the larger with select_last_index). Being a total order, a tree reduction picks the same
// element as the CPU reference's sequential scan.
//  - inner == 1: one warp per row, shuffles;
//  - inner > 1: one thread per column, coalesced across the inner dimension.
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

template <typename T>
using ArgC = std::conditional_t<kIsFloat<T>, StatT<T>, std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <typename C>
struct ArgState {
  C v;
  int64_t i;
};

// Whether b replaces a.
template <bool kMax, typename C>
__device__ __forceinline__ bool argBetter(const ArgState<C>& a, const ArgState<C>& b, bool last) {
  const bool an = isNan(a.v), bn = isNan(b.v);
  const bool tieWins = last ? b.i > a.i : b.i < a.i;
  if (an || bn) return an && bn ? tieWins : bn;
  if (b.v == a.v) return tieWins;
  return kMax ? b.v > a.v : b.v < a.v;
}

template <typename T, bool kMax>
__global__ void __launch_bounds__(256) argRowsKernel(const T* __restrict__ x, int64_t* __restrict__ y, int64_t rows,
                                                     int64_t n, bool last) {
  using C = ArgC<T>;
  const int lane = threadIdx.x & 31;
  const int64_t step = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); row < rows;
       row += step) {
    const T* xr = x + row * n;
    ArgState<C> best{convertTo<C>(xr[0]), 0};
    for (int64_t i = lane; i < n; i += 32) {
      const ArgState<C> cand{convertTo<C>(xr[i]), i};
      if (argBetter<kMax>(best, cand, last)) best = cand;
    }
    best = groupReduce(best, 32, [last](ArgState<C>& a, const ArgState<C>& b) {
      if (argBetter<kMax>(a, b, last)) a = b;
    });
    if (lane == 0) y[row] = best.i;
  }
}

template <typename T, bool kMax>
__global__ void argColsKernel(const T* __restrict__ x, int64_t* __restrict__ y, int64_t outer, int64_t n,
                              int64_t inner, bool last) {
  using C = ArgC<T>;
  KILN_GRID_STRIDE_LOOP(c, outer * inner) {
    const int64_t o = c / inner, j = c - o * inner;
    const T* p = x + o * n * inner + j;
    ArgState<C> best{convertTo<C>(p[0]), 0};
    for (int64_t i = 1; i < n; ++i) {
      const ArgState<C> cand{convertTo<C>(p[i * inner]), i};
      if (argBetter<kMax>(best, cand, last)) best = cand;
    }
    y[c] = best.i;
  }
}

template <typename T, bool kMax>
cudaError_t argTyped(const ArgArgs& a, cudaStream_t s) {
  const T* x = static_cast<const T*>(a.x);
  if (a.inner == 1) {
    argRowsKernel<T, kMax><<<gridFor(a.outer, 8, a.smCount, 8), 256, 0, s>>>(x, a.y, a.outer, a.n, a.selectLast);
  } else {
    argColsKernel<T, kMax><<<gridFor(a.outer * a.inner, kThreads, a.smCount, 8), kThreads, 0, s>>>(
        x, a.y, a.outer, a.n, a.inner, a.selectLast);
  }
  return cudaGetLastError();
}

using ArgSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8,
                    DType::kUInt8, DType::kInt32, DType::kInt64>;

}  // namespace

bool argSupportsType(DType t) { return inSet<ArgSet>(t); }

cudaError_t launchArg(const ArgArgs& a, cudaStream_t s) {
  if (a.outer * a.inner == 0) return cudaSuccess;
  if (a.n < 1) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<ArgSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    err = a.isMax ? argTyped<T, true>(a, s) : argTyped<T, false>(a, s);
  });
  return err;
}

}  // namespace kiln::cuda::rn
