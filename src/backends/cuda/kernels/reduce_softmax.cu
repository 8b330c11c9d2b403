// Softmax / LogSoftmax / Hardmax on [outer, n, inner] views.
//  - inner == 1, n <= 1024 (attention scores): one warp per row, the row held in registers
//    (16-byte loads when rows are aligned), max and sum by shuffles, one read and one write;
//  - inner == 1, n > 1024: one block per row, three passes over the row (L2-resident);
//  - inner > 1 (and Hardmax): one thread per column, an online max/sum pass and a write pass,
//    coalesced across the inner dimension.
// Statistics in float (double for float64).
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

constexpr int kWarpBlock = 128;  // 4 rows per block in the warp kernel
constexpr int kRowBlock = 512;

template <typename T, int V, int kIters, SMode M>
__global__ void __launch_bounds__(kWarpBlock) softmaxWarpKernel(const T* __restrict__ x, T* __restrict__ y,
                                                                 int64_t rows, int n) {
  using C = StatT<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warpsPerBlock = blockDim.x >> 5;
  const int64_t step = static_cast<int64_t>(gridDim.x) * warpsPerBlock;
  for (int64_t row = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5); row < rows; row += step) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    C v[kIters][V];
    C m = -infinityOf<C>();
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const int base = (i * 32 + lane) * V;
      if (base < n) {  // n % V == 0, so the whole vector is inside the row
        const Vec<T, V> t = loadVec<T, V>(xr + base);
#pragma unroll
        for (int k = 0; k < V; ++k) v[i][k] = toC<C>(t.v[k]);
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) v[i][k] = -infinityOf<C>();
      }
#pragma unroll
      for (int k = 0; k < V; ++k) m = v[i][k] > m ? v[i][k] : m;
    }
    m = groupReduce(m, 32, [](C& a, const C& b) { a = b > a ? b : a; });
    C sum = 0;
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const bool in = (i * 32 + lane) * V < n;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const C e = in ? fastExp(v[i][k] - m) : C(0);
        if (M == SMode::kSoftmax) v[i][k] = e;
        sum += e;
      }
    }
    sum = groupReduce(sum, 32, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / sum;
    const C lse = M == SMode::kLogSoftmax ? logC(sum) + m : C(0);
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const int base = (i * 32 + lane) * V;
      if (base < n) {
        Vec<T, V> t;
#pragma unroll
        for (int k = 0; k < V; ++k) t.v[k] = fromC<T>(M == SMode::kSoftmax ? v[i][k] * inv : v[i][k] - lse);
        storeVec<T, V>(yr + base, t);
      }
    }
  }
}

// One block per row (block-uniform row loop). V-wide accesses need n % V == 0 and aligned rows.
template <typename T, int V, SMode M>
__global__ void __launch_bounds__(kRowBlock) softmaxBlockKernel(const T* __restrict__ x, T* __restrict__ y,
                                                                 int64_t rows, int64_t n) {
  using C = StatT<T>;
  __shared__ C smem[32];
  const int64_t nv = n / V;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    C m = -infinityOf<C>();
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      const Vec<T, V> t = loadVec<T, V>(xr + i * V);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const C c = toC<C>(t.v[k]);
        m = c > m ? c : m;
      }
    }
    m = blockReduce(m, -infinityOf<C>(), smem, [](C& a, const C& b) { a = b > a ? b : a; });
    C sum = 0;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      const Vec<T, V> t = loadVec<T, V>(xr + i * V);
#pragma unroll
      for (int k = 0; k < V; ++k) sum += fastExp(toC<C>(t.v[k]) - m);
    }
    sum = blockReduce(sum, C(0), smem, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / sum;
    const C lse = logC(sum) + m;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      const Vec<T, V> t = loadVec<T, V>(xr + i * V);
      Vec<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const C c = toC<C>(t.v[k]);
        o.v[k] = fromC<T>(M == SMode::kSoftmax ? fastExp(c - m) * inv : c - lse);
      }
      storeVec<T, V>(yr + i * V, o);
    }
  }
}

// One thread per (outer, inner) column; also Hardmax for any layout.
template <typename T, SMode M>
__global__ void softmaxColumnKernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n,
                                    int64_t inner) {
  using C = StatT<T>;
  const int64_t cols = outer * inner;
  KILN_GRID_STRIDE_LOOP(c, cols) {
    const int64_t o = c / inner, j = c - o * inner;
    const int64_t base = o * n * inner + j;
    if (M == SMode::kHardmax) {
      // First maximum; a NaN wins (the first one), as the CPU reference's argBetter.
      C best = toC<C>(x[base]);
      int64_t bi = 0;
      for (int64_t i = 1; i < n && !isNan(best); ++i) {
        const C v = toC<C>(x[base + i * inner]);
        if (isNan(v) || v > best) best = v, bi = i;
      }
      for (int64_t i = 0; i < n; ++i) y[base + i * inner] = fromC<T>(C(i == bi ? 1 : 0));
      continue;
    }
    C m = -infinityOf<C>(), s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const C v = toC<C>(x[base + i * inner]);
      if (v > m) {
        s = s * expC(m - v) + C(1);  // m = -inf at first: exp(-inf) = 0
        m = v;
      } else {
        s += expC(v - m);
      }
    }
    const C inv = C(1) / s, lse = logC(s) + m;
    for (int64_t i = 0; i < n; ++i) {
      const C v = toC<C>(x[base + i * inner]);
      y[base + i * inner] = fromC<T>(M == SMode::kSoftmax ? expC(v - m) * inv : v - lse);
    }
  }
}

template <typename T, int V, SMode M, int K>
cudaError_t launchWarpIters(const SoftmaxArgs& a, int perLane, cudaStream_t s) {
  if (perLane <= K || K * 2 * V > 32) {
    const int64_t rowsPerBlock = kWarpBlock / 32;
    const unsigned grid = gridFor(a.outer, rowsPerBlock, a.smCount, 16);
    softmaxWarpKernel<T, V, K, M><<<grid, kWarpBlock, 0, s>>>(static_cast<const T*>(a.x), static_cast<T*>(a.y),
                                                                a.outer, static_cast<int>(a.n));
    return cudaGetLastError();
  }
  if constexpr (K * 2 * V <= 32) return launchWarpIters<T, V, M, K * 2>(a, perLane, s);
  return cudaErrorInvalidValue;
}

template <typename T, SMode M>
cudaError_t launchTyped(const SoftmaxArgs& a, cudaStream_t s) {
  constexpr int VV = kVec<T>;
  const bool vec = a.n % VV == 0 && aligned16(a.x) && aligned16(a.y);
  if constexpr (M != SMode::kHardmax) {
    if (a.inner == 1 && a.n <= 1024) {
      if (vec) return launchWarpIters<T, VV, M, 1>(a, static_cast<int>((a.n + 32 * VV - 1) / (32 * VV)), s);
      return launchWarpIters<T, 1, M, 1>(a, static_cast<int>((a.n + 31) / 32), s);
    }
    if (a.inner == 1) {
      const unsigned grid = gridFor(a.outer, 1, a.smCount, 4);
      if (vec)
        softmaxBlockKernel<T, VV, M><<<grid, kRowBlock, 0, s>>>(static_cast<const T*>(a.x), static_cast<T*>(a.y),
                                                                a.outer, a.n);
      else
        softmaxBlockKernel<T, 1, M><<<grid, kRowBlock, 0, s>>>(static_cast<const T*>(a.x), static_cast<T*>(a.y),
                                                               a.outer, a.n);
      return cudaGetLastError();
    }
  }
  const unsigned grid = gridFor(a.outer * a.inner, kThreads, a.smCount, 8);
  softmaxColumnKernel<T, M><<<grid, kThreads, 0, s>>>(static_cast<const T*>(a.x), static_cast<T*>(a.y), a.outer,
                                                      a.n, a.inner);
  return cudaGetLastError();
}

}  // namespace

bool softmaxSupportsType(DType t) { return inSet<FloatSet>(t); }

cudaError_t launchSoftmax(const SoftmaxArgs& a, cudaStream_t s) {
  if (a.outer <= 0 || a.n <= 0 || a.inner <= 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    switch (a.mode) {
      case SMode::kSoftmax: err = launchTyped<T, SMode::kSoftmax>(a, s); break;
      case SMode::kLogSoftmax: err = launchTyped<T, SMode::kLogSoftmax>(a, s); break;
      case SMode::kHardmax: err = launchTyped<T, SMode::kHardmax>(a, s); break;
    }
  });
  return err;
}

}  // namespace kiln::cuda::rn
