// LayerNormalization and RMSNormalization over rows of d contiguous elements (X viewed as
// [rows, d], d = prod(dims[axis:])). Scale/B are one value per row element (kRow) or one scalar.
//  - d <= 1024:
//    one warp per row, the row in registers (16-byte loads when d % V == 0 and pointers are
//    aligned), exact two-pass statistics over the registers, one read and one write of X;
//  - larger rows: one block per row, statistics and output passes over global memory (L2).
// Statistics in float (double for float64).
#include "backends/cuda/kernels/reduce_common.cuh"

namespace kiln::cuda::rn {

namespace {

constexpr int kWarpBlock = 128;
constexpr int kRowBlock = 512;

struct LnParams {
  const void* scale;
  const void* bias;
  bool scaleScalar, biasScalar;
  void* mean;
  void* invStd;
  bool statDouble;
  float eps;
};

template <typename C>
__device__ __forceinline__ void storeStat(void* p, bool dbl, int64_t row, C v) {
  if (dbl) static_cast<double*>(p)[row] = static_cast<double>(v);
  else static_cast<float*>(p)[row] = static_cast<float>(v);
}

template <typename T, typename C, int V>
__device__ __forceinline__ void loadParam(const T* p, bool scalar, int64_t idx, C (&out)[V]) {
  if (scalar) {
    const C v = toC<C>(p[0]);
#pragma unroll
    for (int k = 0; k < V; ++k) out[k] = v;
  } else {
    const Vec<T, V> t = loadVec<T, V>(p + idx);
#pragma unroll
    for (int k = 0; k < V; ++k) out[k] = toC<C>(t.v[k]);
  }
}

template <typename T, int V, int kIters, bool kRms>
__global__ void __launch_bounds__(kWarpBlock) layerNormWarpKernel(const T* __restrict__ x, T* __restrict__ y,
                                                                   int64_t rows, int d, LnParams p) {
  using C = StatT<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warpsPerBlock = blockDim.x >> 5;
  const int64_t step = static_cast<int64_t>(gridDim.x) * warpsPerBlock;
  const T* scale = static_cast<const T*>(p.scale);
  const T* bias = static_cast<const T*>(p.bias);
  for (int64_t row = blockIdx.x * warpsPerBlock + (threadIdx.x >> 5); row < rows; row += step) {
    const T* xr = x + row * d;
    T* yr = y + row * d;
    C v[kIters][V];
    C sum = 0;
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const int base = (i * 32 + lane) * V;
      if (base < d) {
        const Vec<T, V> t = loadVec<T, V>(xr + base);
#pragma unroll
        for (int k = 0; k < V; ++k) v[i][k] = toC<C>(t.v[k]), sum += v[i][k];
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) v[i][k] = C(0);
      }
    }
    C mean = C(0);
    if (!kRms) {
      sum = groupReduce(sum, 32, [](C& a, const C& b) { a += b; });
      mean = sum / static_cast<C>(d);
    }
    C sq = 0;
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      if ((i * 32 + lane) * V < d) {
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const C t = v[i][k] - mean;
          sq += t * t;
        }
      }
    }
    sq = groupReduce(sq, 32, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / sqrtC(sq / static_cast<C>(d) + static_cast<C>(p.eps));
#pragma unroll
    for (int i = 0; i < kIters; ++i) {
      const int base = (i * 32 + lane) * V;
      if (base < d) {
        C g[V], b[V];
        loadParam<T, C, V>(scale, p.scaleScalar, base, g);
        if (bias) {
          loadParam<T, C, V>(bias, p.biasScalar, base, b);
        } else {
#pragma unroll
          for (int k = 0; k < V; ++k) b[k] = C(0);
        }
        Vec<T, V> o;
#pragma unroll
        for (int k = 0; k < V; ++k) o.v[k] = fromC<T>((v[i][k] - mean) * inv * g[k] + b[k]);
        storeVec<T, V>(yr + base, o);
      }
    }
    if (lane == 0) {
      if (p.mean) storeStat(p.mean, p.statDouble, row, mean);
      if (p.invStd) storeStat(p.invStd, p.statDouble, row, inv);
    }
  }
}

template <typename T, int V, bool kRms>
__global__ void __launch_bounds__(kRowBlock) layerNormBlockKernel(const T* __restrict__ x, T* __restrict__ y,
                                                                   int64_t rows, int64_t d, LnParams p) {
  using C = StatT<T>;
  __shared__ C smem[32];
  const int64_t nv = d / V;
  const T* scale = static_cast<const T*>(p.scale);
  const T* bias = static_cast<const T*>(p.bias);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * d;
    T* yr = y + row * d;
    C mean = C(0);
    if (!kRms) {
      C sum = 0;
      for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
        const Vec<T, V> t = loadVec<T, V>(xr + i * V);
#pragma unroll
        for (int k = 0; k < V; ++k) sum += toC<C>(t.v[k]);
      }
      sum = blockReduce(sum, C(0), smem, [](C& a, const C& b) { a += b; });
      mean = sum / static_cast<C>(d);
    }
    C sq = 0;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      const Vec<T, V> t = loadVec<T, V>(xr + i * V);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const C c = toC<C>(t.v[k]) - mean;
        sq += c * c;
      }
    }
    sq = blockReduce(sq, C(0), smem, [](C& a, const C& b) { a += b; });
    const C inv = C(1) / sqrtC(sq / static_cast<C>(d) + static_cast<C>(p.eps));
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x) {
      const Vec<T, V> t = loadVec<T, V>(xr + i * V);
      C g[V], b[V];
      loadParam<T, C, V>(scale, p.scaleScalar, i * V, g);
      if (bias) {
        loadParam<T, C, V>(bias, p.biasScalar, i * V, b);
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) b[k] = C(0);
      }
      Vec<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) o.v[k] = fromC<T>((toC<C>(t.v[k]) - mean) * inv * g[k] + b[k]);
      storeVec<T, V>(yr + i * V, o);
    }
    if (threadIdx.x == 0) {
      if (p.mean) storeStat(p.mean, p.statDouble, row, mean);
      if (p.invStd) storeStat(p.invStd, p.statDouble, row, inv);
    }
  }
}

// Vectors per lane: exact for 16-byte vectors (at most 32 / V steps: BERT's 768 fp16 values are
// 3 vectors a lane, not 4 with one idle: 11.8 -> 11.3 us at BERT-base batch 64 on H200), powers
// of two for narrower ones (fewer instantiations).
//
// Tried and not kept (same H200 case, ncu): a warp walking several rows with Scale/B held in
// registers and one or two rows' loads in flight took 11.7-11.8 us: fewer instructions and more
// loads in flight did not move it; the kernel is within ~3 us of a plain copy of X.
template <typename T, int V, bool kRms, int K>
cudaError_t launchWarpIters(const LayerNormArgs& a, const LnParams& p, int perLane, cudaStream_t s) {
  constexpr int kNext = V >= 4 ? K + 1 : K * 2;
  if (perLane <= K || kNext * V > 32) {
    const unsigned grid = gridFor(a.rows, kWarpBlock / 32, a.smCount, 16);
    layerNormWarpKernel<T, V, K, kRms><<<grid, kWarpBlock, 0, s>>>(static_cast<const T*>(a.x), static_cast<T*>(a.y),
                                                                    a.rows, static_cast<int>(a.d), p);
    return cudaGetLastError();
  }
  if constexpr (kNext * V <= 32) return launchWarpIters<T, V, kRms, kNext>(a, p, perLane, s);
  return cudaErrorInvalidValue;
}

template <typename T, bool kRms>
cudaError_t launchTyped(const LayerNormArgs& a, const LnParams& p, cudaStream_t s) {
  constexpr int VV = kVec<T>;
  // Vector loads of the row parameters need them aligned too (scalars are read one value).
  const bool vec = a.d % VV == 0 && aligned16(a.x) && aligned16(a.y) &&
                   (a.scale.kind == ParamView::kScalar || aligned16(a.scale.p)) &&
                   (!a.bias.p || a.bias.kind == ParamView::kScalar || aligned16(a.bias.p));
  const int64_t maxWarpRow = 32 * 32;  // 32 values per lane
  if (a.d <= maxWarpRow) {
    if (vec) return launchWarpIters<T, VV, kRms, 1>(a, p, static_cast<int>((a.d + 32 * VV - 1) / (32 * VV)), s);
    return launchWarpIters<T, 1, kRms, 1>(a, p, static_cast<int>((a.d + 31) / 32), s);
  }
  const unsigned grid = gridFor(a.rows, 1, a.smCount, 4);
  if (vec)
    layerNormBlockKernel<T, VV, kRms><<<grid, kRowBlock, 0, s>>>(static_cast<const T*>(a.x), static_cast<T*>(a.y),
                                                                  a.rows, a.d, p);
  else
    layerNormBlockKernel<T, 1, kRms><<<grid, kRowBlock, 0, s>>>(static_cast<const T*>(a.x), static_cast<T*>(a.y),
                                                                 a.rows, a.d, p);
  return cudaGetLastError();
}

}  // namespace

bool layerNormSupportsType(DType t) { return inSet<FloatSet>(t); }
bool paramSupportsType(DType t) { return inSet<FloatSet>(t); }

cudaError_t launchLayerNorm(const LayerNormArgs& a, cudaStream_t s) {
  if (a.rows <= 0 || a.d <= 0) return cudaSuccess;
  if (a.scale.kind == ParamView::kStrided || a.bias.kind == ParamView::kStrided || !a.scale.p ||
      a.scale.dtype != a.dtype || (a.bias.p && a.bias.dtype != a.dtype))
    return cudaErrorInvalidValue;
  LnParams p{a.scale.p, a.bias.p, a.scale.kind == ParamView::kScalar, a.bias.kind == ParamView::kScalar,
             a.mean, a.invStd, a.statDtype == DType::kFloat64, a.epsilon};
  cudaError_t err = cudaErrorInvalidValue;
  dispatch<FloatSet>(a.dtype, [&](auto tag) {
    using T = KILN_RN_TYPE(tag);
    err = a.rms ? launchTyped<T, true>(a, p, s) : launchTyped<T, false>(a, p, s);
  });
  return err;
}

}  // namespace kiln::cuda::rn
