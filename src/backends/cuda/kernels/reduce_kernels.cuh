// Reduce* device code shared by reduce_sum.cu and reduce_minmax.cu (split so that the two halves of
// the instantiations compile in parallel).
//
// The host collapses the input into runs of kept/reduced axes (ReduceLayout). Two kernels:
//  - rows (the innermost run is reduced, e.g. ReduceMean over the hidden size): a group of G
//    threads (a warp, or a whole block for long reductions) per output; a single reduced run is
//    read contiguously (16-byte loads when aligned), several reduced runs through an odometer;
//    few long contiguous rows split across blocks through the workspace (two deterministic passes);
//  - columns (the innermost run is kept): 32 consecutive outputs per block row, coalesced across
//    the innermost kept run, with 8 thread rows splitting the reduced elements.
// Accumulation as the CPU reference: floats in float (double for float64), integers in 64 bits
// (sums/products wrap like uint64), NaN propagates through max/min.
#pragma once

#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

template <typename A>
struct LseState {
  A m, s;
};

template <ROp Op, typename T>
struct Red {
  static constexpr bool kFloat = kIsFloat<T>;
  using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  using A = std::conditional_t<kFloat, StatT<T>,
            std::conditional_t<Op == ROp::kLogSumExp, double,
            std::conditional_t<Op == ROp::kMax || Op == ROp::kMin, Wide, uint64_t>>>;
  using S = std::conditional_t<Op == ROp::kLogSumExp, LseState<A>, A>;
  static constexpr bool kAdditive = Op == ROp::kSum || Op == ROp::kMean || Op == ROp::kL1 || Op == ROp::kL2 ||
                                    Op == ROp::kLogSum || Op == ROp::kSumSquare;

  __device__ __forceinline__ static A load(T x) {
    if constexpr (kFloat) return toC<A>(x);
    else return static_cast<A>(static_cast<Wide>(x));
  }
  __device__ __forceinline__ static S init() {
    if constexpr (Op == ROp::kLogSumExp) {
      return S{-infinityOf<A>(), A(0)};
    } else if constexpr (Op == ROp::kProd) {
      return A(1);
    } else if constexpr (Op == ROp::kMax) {
      if constexpr (kFloat) return -infinityOf<A>();
      else return static_cast<A>(std::numeric_limits<T>::lowest());
    } else if constexpr (Op == ROp::kMin) {
      if constexpr (kFloat) return infinityOf<A>();
      else return static_cast<A>(std::numeric_limits<T>::max());
    } else {
      return A(0);
    }
  }
  __device__ __forceinline__ static A map(A x) {
    if constexpr (Op == ROp::kL1) {
      if constexpr (kFloat) return x < A(0) ? -x : x;
      else if constexpr (std::is_signed_v<T>) return static_cast<int64_t>(x) < 0 ? A(0) - x : x;
      else return x;
    } else if constexpr (Op == ROp::kL2 || Op == ROp::kSumSquare) {
      return x * x;
    } else {
      return x;
    }
  }
  __device__ __forceinline__ static void step(S& s, A x) {
    if constexpr (kAdditive) {
      s += map(x);
    } else if constexpr (Op == ROp::kProd) {
      s *= x;
    } else if constexpr (Op == ROp::kMax) {
      s = (x > s || isNan(x)) ? x : s;
    } else if constexpr (Op == ROp::kMin) {
      s = (x < s || isNan(x)) ? x : s;
    } else {
      combine(s, S{x, A(1)});
    }
  }
  __device__ __forceinline__ static void combine(S& a, const S& b) {
    if constexpr (kAdditive) {
      a += b;
    } else if constexpr (Op == ROp::kProd) {
      a *= b;
    } else if constexpr (Op == ROp::kMax || Op == ROp::kMin) {
      step(a, b);
    } else {
      // log-sum-exp states (m, s): s = sum exp(x - m). Equal maxima add directly (also inf == inf).
      if (b.m > a.m) {
        a.s = a.s * expC(a.m - b.m) + b.s;
        a.m = b.m;
      } else if (b.m == a.m) {
        a.s += b.s;
      } else {
        a.s += b.s * expC(b.m - a.m);
      }
    }
  }
  __device__ __forceinline__ static T finish(const S& s, int64_t n) {
    if constexpr (Op == ROp::kMean) {
      if constexpr (kFloat) return fromC<T>(s / static_cast<A>(n));
      else return n == 0 ? T(0) : static_cast<T>(static_cast<Wide>(s) / static_cast<Wide>(n));
    } else if constexpr (Op == ROp::kL2) {
      return fromC<T>(sqrtC(s));
    } else if constexpr (Op == ROp::kLogSum) {
      return fromC<T>(logC(s));
    } else if constexpr (Op == ROp::kLogSumExp) {
      return fromC<T>(s.m == -infinityOf<A>() ? s.m : logC(s.s) + s.m);
    } else {
      return convertTo<T>(s);
    }
  }
};

// Geometry of one reduction, derived from ReduceLayout on the host.
struct RPlan {
  int nOut = 0, nRed = 0;
  int64_t outDim[4] = {}, outStride[4] = {};  // kept runs (columns kernel: without the innermost)
  int64_t redDim[4] = {}, redStride[4] = {};  // reduced runs (rows kernel: without the innermost)
  int64_t rowLen = 1;   // rows: the innermost reduced run; columns: the innermost kept run
  int64_t redRows = 1;  // rows: product of redDim; columns: every reduced element
  int64_t outRows = 1;  // rows: every output; columns: outputs / rowLen
  int64_t redCount = 1;
};

__device__ __forceinline__ int64_t runOffset(int64_t k, int n, const int64_t* dim, const int64_t* stride) {
  int64_t off = 0;
  for (int i = n - 1; i >= 0; --i) {
    const int64_t q = k / dim[i];
    off += (k - q * dim[i]) * stride[i];
    k = q;
  }
  return off;
}

constexpr int kReduceBlock = 256;

// G threads per output (G = 32: a warp; G = kReduceBlock: the block).
template <ROp Op, typename T, int V, int G>
__global__ void __launch_bounds__(kReduceBlock) reduceRowsKernel(const T* __restrict__ x, T* __restrict__ y, RPlan p) {
  using R = Red<Op, T>;
  using S = typename R::S;
  constexpr int kGroups = kReduceBlock / G;
  __shared__ alignas(16) unsigned char raw[sizeof(S) * (kReduceBlock / 32)];
  S* sm = reinterpret_cast<S*>(raw);
  const int tid = threadIdx.x % G;
  const int64_t grp = threadIdx.x / G;
  auto comb = [](S& a, const S& b) { R::combine(a, b); };
  // The loop is uniform per group (a warp, or the whole block when G is the block).
  for (int64_t o = blockIdx.x * static_cast<int64_t>(kGroups) + grp; o < p.outRows;
       o += static_cast<int64_t>(gridDim.x) * kGroups) {
    const int64_t base = runOffset(o, p.nOut, p.outDim, p.outStride);
    S s = R::init();
    if (p.redRows == 1) {
      const T* row = x + base;
      const int64_t nv = p.rowLen / V;
      for (int64_t i = tid; i < nv; i += G) {
        const Vec<T, V> t = loadVec<T, V>(row + i * V);
#pragma unroll
        for (int k = 0; k < V; ++k) R::step(s, R::load(t.v[k]));
      }
    } else {
      for (int64_t idx = tid; idx < p.redCount; idx += G) {
        const int64_t r = idx / p.rowLen, j = idx - r * p.rowLen;
        R::step(s, R::load(x[base + runOffset(r, p.nRed, p.redDim, p.redStride) + j]));
      }
    }
    s = groupReduce(s, 32, comb);
    if constexpr (G > 32) {
      const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
      if (lane == 0) sm[warp] = s;
      __syncthreads();
      if (threadIdx.x == 0) {
        for (int w = 1; w < G / 32; ++w) R::combine(s, sm[w]);
        y[o] = R::finish(s, p.redCount);
      }
      __syncthreads();
    } else {
      if (tid == 0) y[o] = R::finish(s, p.redCount);
    }
  }
}

// blockDim (32, 8): x over 32 consecutive outputs of the innermost kept run, y splits the reduction.
template <ROp Op, typename T>
__global__ void __launch_bounds__(256) reduceColsKernel(const T* __restrict__ x, T* __restrict__ y, RPlan p) {
  using R = Red<Op, T>;
  using S = typename R::S;
  __shared__ alignas(16) unsigned char raw[sizeof(S) * 8 * 32];
  S* sm = reinterpret_cast<S*>(raw);
  const int64_t colBlocks = (p.rowLen + 31) / 32;
  const int64_t total = p.outRows * colBlocks;
  for (int64_t b = blockIdx.x; b < total; b += gridDim.x) {  // block-uniform
    const int64_t orow = b / colBlocks;
    const int64_t j = (b - orow * colBlocks) * 32 + threadIdx.x;
    S s = R::init();
    if (j < p.rowLen) {
      const T* base = x + runOffset(orow, p.nOut, p.outDim, p.outStride) + j;
      if (p.nRed == 1) {
        for (int64_t r = threadIdx.y; r < p.redRows; r += 8) R::step(s, R::load(base[r * p.redStride[0]]));
      } else {
        for (int64_t r = threadIdx.y; r < p.redRows; r += 8)
          R::step(s, R::load(base[runOffset(r, p.nRed, p.redDim, p.redStride)]));
      }
    }
    sm[threadIdx.y * 32 + threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < p.rowLen) {
      for (int k = 1; k < 8; ++k) R::combine(s, sm[k * 32 + threadIdx.x]);
      y[orow * p.rowLen + j] = R::finish(s, p.redCount);
    }
    __syncthreads();
  }
}

// Split rows (few outputs, long contiguous rows): grid (P, outRows); block (p, o) reduces chunk p
// of row o into ws[o * P + p]; reduceSplitFinish then combines the P partials of each output in a
// fixed order (deterministic).
template <ROp Op, typename T, int V>
__global__ void __launch_bounds__(kReduceBlock) reduceSplitKernel(const T* __restrict__ x,
                                                                  typename Red<Op, T>::S* __restrict__ ws, RPlan p,
                                                                  int64_t chunk) {
  using R = Red<Op, T>;
  using S = typename R::S;
  __shared__ alignas(16) unsigned char raw[sizeof(S) * (kReduceBlock / 32)];
  S* sm = reinterpret_cast<S*>(raw);
  const int64_t o = blockIdx.y;
  const int64_t P = gridDim.x;
  const T* row = x + runOffset(o, p.nOut, p.outDim, p.outStride);
  const int64_t nv = p.rowLen / V;
  const int64_t b = blockIdx.x * chunk, e = b + chunk < nv ? b + chunk : nv;  // in vectors
  S s = R::init();
  for (int64_t i = b + threadIdx.x; i < e; i += kReduceBlock) {
    const Vec<T, V> t = loadVec<T, V>(row + i * V);
#pragma unroll
    for (int k = 0; k < V; ++k) R::step(s, R::load(t.v[k]));
  }
  s = groupReduce(s, 32, [](S& a, const S& c) { R::combine(a, c); });
  if ((threadIdx.x & 31) == 0) sm[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kReduceBlock / 32; ++w) R::combine(s, sm[w]);
    ws[o * P + blockIdx.x] = s;
  }
}

template <ROp Op, typename T>
__global__ void reduceSplitFinish(const typename Red<Op, T>::S* __restrict__ ws, T* __restrict__ y, int64_t outRows,
                                  int64_t P, int64_t redCount) {
  using R = Red<Op, T>;
  using S = typename R::S;
  const int lane = threadIdx.x & 31;
  const int64_t step = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5); o < outRows; o += step) {
    S s = R::init();
    for (int64_t q = lane; q < P; q += 32) R::combine(s, ws[o * P + q]);
    s = groupReduce(s, 32, [](S& a, const S& c) { R::combine(a, c); });
    if (lane == 0) y[o] = R::finish(s, redCount);
  }
}

// A reduced axis of size 0: every output is the identity's value.
template <ROp Op, typename T>
__global__ void reduceFillKernel(T* __restrict__ y, int64_t n) {
  using R = Red<Op, T>;
  const T v = R::finish(R::init(), 0);
  KILN_GRID_STRIDE_LOOP(i, n) y[i] = v;
}

// Host: ReduceLayout -> RPlan and the launch.
inline bool makePlan(const ReduceLayout& L, RPlan* p, bool* rows) {
  if (L.rank < 1 || L.rank > kMaxRuns) return false;
  *rows = L.red[L.rank - 1];
  const int last = L.rank - 1;
  p->rowLen = L.dim[last];
  p->redCount = L.redCount;
  for (int i = 0; i < last; ++i) {
    if (L.red[i]) {
      if (p->nRed == 4) return false;
      p->redDim[p->nRed] = L.dim[i];
      p->redStride[p->nRed++] = L.stride[i];
    } else {
      if (p->nOut == 4) return false;
      p->outDim[p->nOut] = L.dim[i];
      p->outStride[p->nOut++] = L.stride[i];
    }
  }
  if (*rows) {
    p->redRows = L.redCount / p->rowLen;
    p->outRows = L.outCount;
  } else {
    p->redRows = L.redCount;
    p->outRows = L.outCount / p->rowLen;
  }
  return true;
}

template <ROp Op, typename T>
cudaError_t launchReduceTyped(const ReduceArgs& a, cudaStream_t s) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  if (a.outNumel <= 0) return cudaSuccess;
  if (a.inNumel == 0) {
    reduceFillKernel<Op, T><<<blocksFor(a.outNumel), kThreads, 0, s>>>(y, a.outNumel);
    return cudaGetLastError();
  }
  RPlan p;
  bool rows = true;
  if (!makePlan(a.layout, &p, &rows)) return cudaErrorInvalidValue;
  if (!rows) {
    const int64_t work = p.outRows * ((p.rowLen + 31) / 32);
    reduceColsKernel<Op, T><<<gridFor(work, 1, a.smCount, 8), dim3(32, 8), 0, s>>>(x, y, p);
    return cudaGetLastError();
  }
  constexpr int VV = kIsFloat<T> ? kVec<T> : 1;
  const bool vec = VV > 1 && p.redRows == 1 && p.rowLen % VV == 0 && aligned16(x);
  const int64_t sms = a.smCount > 0 ? a.smCount : 132;
  using S = typename Red<Op, T>::S;
  if (p.redRows == 1 && p.outRows < sms && p.redCount >= (int64_t{1} << 16) && a.workspace != nullptr &&
      p.outRows <= 65535) {
    // Few long rows: split each row over P blocks (about 4 blocks per SM in all), partials in the
    // workspace, then a deterministic combine.
    const int64_t V = vec ? VV : 1;
    const int64_t nv = p.rowLen / V;
    int64_t P = (4 * sms + p.outRows - 1) / p.outRows;
    const int64_t maxP = static_cast<int64_t>(a.workspaceSize / sizeof(S)) / p.outRows;
    if (P > maxP) P = maxP;
    if (P > nv / 2048) P = nv / 2048;  // at least 2048 vectors per block
    if (P >= 2) {
      const int64_t chunk = (nv + P - 1) / P;
      P = (nv + chunk - 1) / chunk;
      S* ws = static_cast<S*>(a.workspace);
      const dim3 grid(static_cast<unsigned>(P), static_cast<unsigned>(p.outRows));
      if (vec) reduceSplitKernel<Op, T, VV><<<grid, kReduceBlock, 0, s>>>(x, ws, p, chunk);
      else reduceSplitKernel<Op, T, 1><<<grid, kReduceBlock, 0, s>>>(x, ws, p, chunk);
      const cudaError_t e = cudaGetLastError();
      if (e != cudaSuccess) return e;
      reduceSplitFinish<Op, T><<<gridFor(p.outRows, 4, a.smCount, 8), 128, 0, s>>>(ws, y, p.outRows, P, p.redCount);
      return cudaGetLastError();
    }
  }
  // Long reductions with few outputs take a whole block per output.
  const bool wide = p.redCount > 2048 || (p.redCount > 256 && p.outRows < 4LL * (a.smCount > 0 ? a.smCount : 132));
  if (wide) {
    const unsigned grid = gridFor(p.outRows, 1, a.smCount, 8);
    if (vec) reduceRowsKernel<Op, T, VV, kReduceBlock><<<grid, kReduceBlock, 0, s>>>(x, y, p);
    else reduceRowsKernel<Op, T, 1, kReduceBlock><<<grid, kReduceBlock, 0, s>>>(x, y, p);
  } else {
    const unsigned grid = gridFor(p.outRows, kReduceBlock / 32, a.smCount, 8);
    if (vec) reduceRowsKernel<Op, T, VV, 32><<<grid, kReduceBlock, 0, s>>>(x, y, p);
    else reduceRowsKernel<Op, T, 1, 32><<<grid, kReduceBlock, 0, s>>>(x, y, p);
  }
  return cudaGetLastError();
}

// Integer types per op (floats take every op): sums/products/means/L1/sum of squares on int32/int64,
// max/min on every 8/32/64-bit integer and bool.
inline bool reduceIntType(ROp op, DType t) {
  switch (op) {
    case ROp::kMax:
    case ROp::kMin:
      return t == DType::kInt8 || t == DType::kUInt8 || t == DType::kInt32 || t == DType::kInt64 ||
             t == DType::kBool;
    case ROp::kSum:
    case ROp::kMean:
    case ROp::kProd:
    case ROp::kL1:
    case ROp::kSumSquare:
      return t == DType::kInt32 || t == DType::kInt64;
    default:
      return false;
  }
}

using RedIntSet = DSet<DType::kInt32, DType::kInt64>;
using RedMinMaxSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8,
                          DType::kUInt8, DType::kInt32, DType::kInt64, DType::kBool>;

template <ROp Op>
cudaError_t launchReduceOp(const ReduceArgs& a, cudaStream_t s) {
  cudaError_t err = cudaErrorInvalidValue;
  auto go = [&](auto tag) { err = launchReduceTyped<Op, KILN_RN_TYPE(tag)>(a, s); };
  if constexpr (Op == ROp::kMax || Op == ROp::kMin) {
    dispatch<RedMinMaxSet>(a.dtype, go);
  } else if constexpr (Op == ROp::kSum || Op == ROp::kMean || Op == ROp::kProd || Op == ROp::kL1 ||
                       Op == ROp::kSumSquare) {
    if (!dispatch<FloatSet>(a.dtype, go)) dispatch<RedIntSet>(a.dtype, go);
  } else {
    dispatch<FloatSet>(a.dtype, go);
  }
  return err;
}

}  // namespace kiln::cuda::rn
