// MaxPool / AveragePool / LpPool (spatial rank 1..3, channels-first or channels-last) and the
// global pools. Window semantics follow the CPU reference (conv_pool_pooling.cc): taps at
// o*s - pad_begin + k*d, taps outside the input skipped; AveragePool divides by the taps inside
// the input, or with count_include_pad by the taps inside [-pad_begin, in + pad_end).
// Geometry is padded to 3 spatial dims (leading dims of size 1) so one kernel serves all ranks.
//  - channels-first: one thread per output element;
//  - channels-last: one thread per output position and V consecutive channels (16-byte accesses
//    when C % V == 0), coalesced across channels;
//  - global pools: a warp (or block) per (n, c) plane channels-first; channels-last a 32 x 8 block
//    per 32 channel vectors, the rows splitting the spatial positions.
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

struct G3 {
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
  int64_t isz, osz, planes;  // planes = N * C (channels-first) or N (channels-last)
  int64_t channels;
};

G3 toG3(const PoolGeom& g) {
  G3 r{};
  const int off = 3 - g.nd;
  for (int i = 0; i < 3; ++i) {
    const int j = i - off;
    const bool real = j >= 0;
    r.in[i] = real ? g.in[j] : 1;
    r.out[i] = real ? g.out[j] : 1;
    r.k[i] = real ? g.kernel[j] : 1;
    r.s[i] = real ? g.stride[j] : 1;
    r.d[i] = real ? g.dilation[j] : 1;
    r.pb[i] = real ? g.padBegin[j] : 0;
    r.pe[i] = real ? g.padEnd[j] : 0;
  }
  r.isz = r.in[0] * r.in[1] * r.in[2];
  r.osz = r.out[0] * r.out[1] * r.out[2];
  r.channels = g.channels;
  return r;
}

// The valid taps [lo, hi) of one dim for output coordinate o, and the include-pad tap count.
__device__ __forceinline__ void tapRange(const G3& g, int i, int64_t o, int64_t* start, int64_t* lo, int64_t* hi,
                                         int64_t* padHi) {
  const int64_t st = o * g.s[i] - g.pb[i], d = g.d[i], k = g.k[i];
  *start = st;
  int64_t l = st >= 0 ? 0 : (-st + d - 1) / d;
  int64_t h = g.in[i] - 1 - st >= 0 ? min(k, (g.in[i] - 1 - st) / d + 1) : 0;
  const int64_t ph = g.in[i] + g.pe[i] - 1 - st >= 0 ? min(k, (g.in[i] + g.pe[i] - 1 - st) / d + 1) : 0;
  l = min(l, k);
  h = max(h, l);
  *lo = l;
  *hi = h;
  *padHi = ph;
}

struct Window {
  int64_t start[3], lo[3], hi[3];
  int64_t valid, padCount;
};

__device__ __forceinline__ Window windowAt(const G3& g, int64_t q) {
  Window w;
  const int64_t o2 = q % g.out[2];
  const int64_t t = q / g.out[2];
  const int64_t o1 = t % g.out[1];
  const int64_t o0 = t / g.out[1];
  const int64_t o[3] = {o0, o1, o2};
  w.valid = 1;
  w.padCount = 1;
#pragma unroll
  for (int i = 0; i < 3; ++i) {
    int64_t ph;
    tapRange(g, i, o[i], &w.start[i], &w.lo[i], &w.hi[i], &ph);
    w.valid *= w.hi[i] - w.lo[i];
    w.padCount *= ph;
  }
  return w;
}

template <typename C>
__device__ __forceinline__ C lpTerm(C v, int p) {
  v = v < C(0) ? -v : v;
  return p == 1 ? v : p == 2 ? v * v : powC(v, static_cast<C>(p));
}
template <typename C>
__device__ __forceinline__ C lpFinish(C acc, int p) {
  return p == 1 ? acc : p == 2 ? sqrtC(acc) : powC(acc, C(1) / static_cast<C>(p));
}

// Channels-first: one thread per output element.
template <typename T, PoolMode M>
__global__ void poolNchwKernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ ind, G3 g,
                               bool includePad, int p, bool colMajor) {
  using C = StatT<T>;
  const int64_t total = g.planes * g.osz;
  KILN_GRID_STRIDE_LOOP(idx, total) {
    const int64_t plane = idx / g.osz, q = idx - plane * g.osz;
    const Window w = windowAt(g, q);
    const T* px = x + plane * g.isz;
    C acc = M == PoolMode::kMax ? C(0) : C(0);
    bool found = false;
    int64_t best = -1;
    for (int64_t k0 = w.lo[0]; k0 < w.hi[0]; ++k0) {
      const int64_t i0 = w.start[0] + k0 * g.d[0];
      for (int64_t k1 = w.lo[1]; k1 < w.hi[1]; ++k1) {
        const int64_t i1 = w.start[1] + k1 * g.d[1];
        const int64_t rowBase = (i0 * g.in[1] + i1) * g.in[2];
        for (int64_t k2 = w.lo[2]; k2 < w.hi[2]; ++k2) {
          const int64_t i2 = w.start[2] + k2 * g.d[2];
          const C v = toC<C>(px[rowBase + i2]);
          if (M == PoolMode::kMax) {
            if (!found || v > acc) {
              found = true;
              acc = v;
              best = colMajor ? i2 * g.in[1] * g.in[0] + i1 * g.in[0] + i0 : rowBase + i2;
            }
          } else if (M == PoolMode::kAvg) {
            acc += v;
          } else {
            acc += lpTerm(v, p);
          }
        }
      }
    }
    if (M == PoolMode::kAvg) {
      const int64_t count = includePad ? w.padCount : w.valid;
      acc = count ? acc / static_cast<C>(count) : C(0);
    } else if (M == PoolMode::kLp) {
      acc = lpFinish(acc, p);
    }
    y[idx] = fromC<T>(acc);
    if (M == PoolMode::kMax && ind) ind[idx] = found ? plane * g.isz + best : -1;
  }
}

// Channels-last [N, spatial..., C]: one thread per output position and V channels.
template <typename T, int V, PoolMode M>
__global__ void poolNhwcKernel(const T* __restrict__ x, T* __restrict__ y, G3 g, bool includePad, int p) {
  using C = StatT<T>;
  const int64_t cv = g.channels / V;
  const int64_t total = g.planes * g.osz * cv;
  KILN_GRID_STRIDE_LOOP(idx, total) {
    const int64_t c = (idx % cv) * V;
    const int64_t pos = idx / cv;  // n * osz + q
    const int64_t n = pos / g.osz, q = pos - n * g.osz;
    const Window w = windowAt(g, q);
    const T* px = x + n * g.isz * g.channels + c;
    C acc[V];
    bool found = false;
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = C(0);
    for (int64_t k0 = w.lo[0]; k0 < w.hi[0]; ++k0) {
      const int64_t i0 = w.start[0] + k0 * g.d[0];
      for (int64_t k1 = w.lo[1]; k1 < w.hi[1]; ++k1) {
        const int64_t i1 = w.start[1] + k1 * g.d[1];
        const int64_t rowBase = (i0 * g.in[1] + i1) * g.in[2];
        for (int64_t k2 = w.lo[2]; k2 < w.hi[2]; ++k2) {
          const int64_t i2 = w.start[2] + k2 * g.d[2];
          const Vec<T, V> t = loadVec<T, V>(px + (rowBase + i2) * g.channels);
#pragma unroll
          for (int k = 0; k < V; ++k) {
            const C v = toC<C>(t.v[k]);
            if (M == PoolMode::kMax) acc[k] = (!found || v > acc[k]) ? v : acc[k];
            else if (M == PoolMode::kAvg) acc[k] += v;
            else acc[k] += lpTerm(v, p);
          }
          found = true;
        }
      }
    }
    const int64_t count = includePad ? w.padCount : w.valid;
    Vec<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      C r = acc[k];
      if (M == PoolMode::kAvg) r = count ? r / static_cast<C>(count) : C(0);
      else if (M == PoolMode::kLp) r = lpFinish(r, p);
      o.v[k] = fromC<T>(r);
    }
    storeVec<T, V>(y + pos * g.channels + c, o);
  }
}

template <typename C, PoolMode M>
__device__ __forceinline__ void globalStep(C& acc, C v, int p) {
  if (M == PoolMode::kMax) acc = (v > acc || isNan(v)) ? v : acc;
  else if (M == PoolMode::kAvg) acc += v;
  else acc += lpTerm(v, p);
}
template <typename C, PoolMode M>
__device__ __forceinline__ void globalCombine(C& a, const C& b) {
  if (M == PoolMode::kMax) a = (b > a || isNan(b)) ? b : a;
  else a += b;
}
template <typename C, PoolMode M>
__device__ __forceinline__ C globalFinish(C acc, int64_t n, int p) {
  if (M == PoolMode::kAvg) return acc / static_cast<C>(n);
  if (M == PoolMode::kLp) return lpFinish(acc, p);
  return acc;
}

// Channels-first: G threads per plane of `spatial` contiguous elements (spatial > 0).
template <typename T, PoolMode M, int G>
__global__ void __launch_bounds__(256) globalNchwKernel(const T* __restrict__ x, T* __restrict__ y, int64_t planes,
                                                        int64_t spatial, int p) {
  using C = StatT<T>;
  constexpr int kGroups = 256 / G;
  __shared__ C sm[8];
  const int tid = threadIdx.x % G;
  for (int64_t pl = blockIdx.x * static_cast<int64_t>(kGroups) + threadIdx.x / G; pl < planes;
       pl += static_cast<int64_t>(gridDim.x) * kGroups) {
    const T* px = x + pl * spatial;
    C acc = M == PoolMode::kMax ? -infinityOf<C>() : C(0);
    for (int64_t i = tid; i < spatial; i += G) globalStep<C, M>(acc, toC<C>(px[i]), p);
    acc = groupReduce(acc, 32, [](C& a, const C& b) { globalCombine<C, M>(a, b); });
    if constexpr (G > 32) {
      if ((threadIdx.x & 31) == 0) sm[threadIdx.x >> 5] = acc;
      __syncthreads();
      if (threadIdx.x == 0) {
        for (int w = 1; w < G / 32; ++w) globalCombine<C, M>(acc, sm[w]);
        y[pl] = fromC<T>(globalFinish<C, M>(acc, spatial, p));
      }
      __syncthreads();
    } else {
      if (tid == 0) y[pl] = fromC<T>(globalFinish<C, M>(acc, spatial, p));
    }
  }
}

// Channels-last [N, S, C]: blockDim (32, 8); x over channel vectors, y over spatial positions.
template <typename T, int V, PoolMode M>
__global__ void __launch_bounds__(256) globalNhwcKernel(const T* __restrict__ x, T* __restrict__ y, int64_t batch,
                                                        int64_t spatial, int64_t channels, int p) {
  using C = StatT<T>;
  __shared__ C sm[8][32 * V + 1];
  const int64_t cv = channels / V;
  const int64_t colBlocks = (cv + 31) / 32;
  for (int64_t b = blockIdx.x; b < batch * colBlocks; b += gridDim.x) {  // block-uniform
    const int64_t n = b / colBlocks;
    const int64_t j = (b - n * colBlocks) * 32 + threadIdx.x;  // channel vector
    C acc[V];
#pragma unroll
    for (int k = 0; k < V; ++k) acc[k] = M == PoolMode::kMax ? -infinityOf<C>() : C(0);
    if (j < cv) {
      const T* px = x + n * spatial * channels + j * V;
      for (int64_t s = threadIdx.y; s < spatial; s += 8) {
        const Vec<T, V> t = loadVec<T, V>(px + s * channels);
#pragma unroll
        for (int k = 0; k < V; ++k) globalStep<C, M>(acc[k], toC<C>(t.v[k]), p);
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) sm[threadIdx.y][threadIdx.x * V + k] = acc[k];
    __syncthreads();
    if (threadIdx.y == 0 && j < cv) {
      Vec<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        C a = acc[k];
        for (int r = 1; r < 8; ++r) globalCombine<C, M>(a, sm[r][threadIdx.x * V + k]);
        o.v[k] = fromC<T>(globalFinish<C, M>(a, spatial, p));
      }
      storeVec<T, V>(y + n * channels + j * V, o);
    }
    __syncthreads();
  }
}

template <typename T, PoolMode M>
cudaError_t poolTyped(const PoolArgs& a, cudaStream_t s) {
  G3 g = toG3(a.g);
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  if (!a.channelsLast) {
    g.planes = a.g.batch * a.g.channels;
    const int64_t total = g.planes * g.osz;
    poolNchwKernel<T, M><<<gridFor(total, kThreads, a.smCount, 16), kThreads, 0, s>>>(x, y, a.indices, g,
                                                                                      a.countIncludePad, a.p,
                                                                                      a.colMajorIndices);
    return cudaGetLastError();
  }
  g.planes = a.g.batch;
  constexpr int VV = kVec<T>;
  if (VV > 1 && a.g.channels % VV == 0 && aligned16(x) && aligned16(y)) {
    const int64_t total = g.planes * g.osz * (a.g.channels / VV);
    poolNhwcKernel<T, VV, M><<<gridFor(total, kThreads, a.smCount, 16), kThreads, 0, s>>>(x, y, g, a.countIncludePad,
                                                                                          a.p);
  } else {
    const int64_t total = g.planes * g.osz * a.g.channels;
    poolNhwcKernel<T, 1, M><<<gridFor(total, kThreads, a.smCount, 16), kThreads, 0, s>>>(x, y, g, a.countIncludePad,
                                                                                         a.p);
  }
  return cudaGetLastError();
}

template <typename T, PoolMode M>
cudaError_t globalTyped(const GlobalPoolArgs& a, cudaStream_t s) {
  const T* x = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  if (!a.channelsLast) {
    const int64_t planes = a.batch * a.channels;
    if (a.spatial > 4096 && planes < 64LL * (a.smCount > 0 ? a.smCount : 132)) {
      globalNchwKernel<T, M, 256><<<gridFor(planes, 1, a.smCount, 8), 256, 0, s>>>(x, y, planes, a.spatial, a.p);
    } else {
      globalNchwKernel<T, M, 32><<<gridFor(planes, 8, a.smCount, 8), 256, 0, s>>>(x, y, planes, a.spatial, a.p);
    }
    return cudaGetLastError();
  }
  // 8-byte vectors keep the shared-memory staging small (32 x 8 x V compute values).
  constexpr int VV = kVec<T> >= 4 ? 4 : kVec<T>;
  const bool vec = VV > 1 && a.channels % VV == 0 && (reinterpret_cast<uintptr_t>(x) % (sizeof(T) * VV)) == 0 &&
                   (reinterpret_cast<uintptr_t>(y) % (sizeof(T) * VV)) == 0;
  if (vec) {
    const int64_t work = a.batch * ((a.channels / VV + 31) / 32);
    globalNhwcKernel<T, VV, M><<<gridFor(work, 1, a.smCount, 8), dim3(32, 8), 0, s>>>(x, y, a.batch, a.spatial,
                                                                                      a.channels, a.p);
  } else {
    const int64_t work = a.batch * ((a.channels + 31) / 32);
    globalNhwcKernel<T, 1, M><<<gridFor(work, 1, a.smCount, 8), dim3(32, 8), 0, s>>>(x, y, a.batch, a.spatial,
                                                                                     a.channels, a.p);
  }
  return cudaGetLastError();
}

using MaxPoolSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8,
                        DType::kUInt8>;

}  // namespace

bool poolSupportsType(PoolMode mode, DType t) { return mode == PoolMode::kMax ? inSet<MaxPoolSet>(t) : inSet<FloatSet>(t); }

cudaError_t launchPool(const PoolArgs& a, cudaStream_t s) {
  if (a.g.nd < 1 || a.g.nd > kMaxPoolDims) return cudaErrorInvalidValue;
  int64_t osz = 1;
  for (int i = 0; i < a.g.nd; ++i) osz *= a.g.out[i];
  if (a.g.batch * a.g.channels * osz == 0) return cudaSuccess;
  cudaError_t err = cudaErrorInvalidValue;
  switch (a.mode) {
    case PoolMode::kMax:
      dispatch<MaxPoolSet>(a.dtype, [&](auto tag) { err = poolTyped<KILN_RN_TYPE(tag), PoolMode::kMax>(a, s); });
      break;
    case PoolMode::kAvg:
      dispatch<FloatSet>(a.dtype, [&](auto tag) { err = poolTyped<KILN_RN_TYPE(tag), PoolMode::kAvg>(a, s); });
      break;
    case PoolMode::kLp:
      dispatch<FloatSet>(a.dtype, [&](auto tag) { err = poolTyped<KILN_RN_TYPE(tag), PoolMode::kLp>(a, s); });
      break;
  }
  return err;
}

cudaError_t launchGlobalPool(const GlobalPoolArgs& a, cudaStream_t s) {
  if (a.batch * a.channels == 0) return cudaSuccess;
  if (a.spatial <= 0) return cudaErrorInvalidValue;  // the host writes zeros for empty planes
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    switch (a.mode) {
      case PoolMode::kMax: err = globalTyped<T, PoolMode::kMax>(a, s); break;
      case PoolMode::kAvg: err = globalTyped<T, PoolMode::kAvg>(a, s); break;
      case PoolMode::kLp: err = globalTyped<T, PoolMode::kLp>(a, s); break;
    }
  });
  return err;
}

}  // namespace kiln::cuda::rn
