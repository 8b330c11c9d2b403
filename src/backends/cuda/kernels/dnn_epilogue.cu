// The dnn family's own kernels: the fused-convolution epilogue (bias + residual + activation in
// one read-modify-write pass over y, 16-byte vectors when the channel pattern and alignment
// allow), the channels-last filter relayout and the zero-padding copy.
#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/dnn_epilogue.h"

namespace kiln::cuda::dnn {

namespace {

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

__device__ __forceinline__ float expC(float x) { return expf(x); }
__device__ __forceinline__ double expC(double x) { return exp(x); }
__device__ __forceinline__ float tanhC(float x) { return tanhf(x); }
__device__ __forceinline__ double tanhC(double x) { return tanh(x); }
__device__ __forceinline__ float erfC(float x) { return erff(x); }
__device__ __forceinline__ double erfC(double x) { return erf(x); }

// The formulas of kiln::applyActivation (core/activation.h), so results match the CPU reference.
template <typename C>
__device__ __forceinline__ C activate(EpAct act, C x, C a, C b) {
  switch (act) {
    case EpAct::kNone: return x;
    case EpAct::kRelu: return x > C(0) ? x : C(0);
    case EpAct::kLeakyRelu: return x >= C(0) ? x : a * x;
    case EpAct::kClip: return x < a ? a : (x > b ? b : x);
    case EpAct::kSigmoid: return C(1) / (C(1) + expC(-x));
    case EpAct::kTanh: return tanhC(x);
    case EpAct::kHardSwish: {
      C t = x / C(6) + C(0.5);
      return x * (t < C(0) ? C(0) : (t > C(1) ? C(1) : t));
    }
    case EpAct::kSilu: return x / (C(1) + expC(-x));
    case EpAct::kGeluErf: return C(0.5) * x * (C(1) + erfC(x * C(0.7071067811865476)));
    case EpAct::kGeluTanh:
      return C(0.5) * x * (C(1) + tanhC(C(0.7978845608028654) * (x + C(0.044715) * x * x * x)));
  }
  return x;
}

// One thread handles V consecutive elements. Preconditions (checked by the host): numel % V == 0,
// y/z 16-byte aligned when V > 1, and either inner % V == 0 (the V elements share a channel) or
// inner == 1 and channels % V == 0 (they are V consecutive channels).
template <typename T, int V, typename I>
__global__ void epilogueKernel(T* __restrict__ y, const T* __restrict__ bias, const T* __restrict__ z, I nvec,
                               I channels, I inner, EpAct act, float alpha, float beta) {
  using C = typename ComputeTypeOf<T>::type;
  const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I v = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; v < nvec; v += step) {
    const I i = v * V;
    Pack<T, V> yv = *reinterpret_cast<const Pack<T, V>*>(y + i);
    Pack<T, V> zv;
    if (z) zv = *reinterpret_cast<const Pack<T, V>*>(z + i);
    const I c0 = bias ? (i / inner) % channels : I(0);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      C x = convertTo<C>(yv.v[k]);
      if (bias) x += convertTo<C>(bias[inner == 1 ? c0 + k : c0]);
      if (z) x += convertTo<C>(zv.v[k]);
      yv.v[k] = convertTo<T>(activate<C>(act, x, a, b));
    }
    *reinterpret_cast<Pack<T, V>*>(y + i) = yv;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <typename T, int V, typename I>
cudaError_t launchTyped(const EpilogueArgs& a, cudaStream_t s) {
  const int64_t nvec = a.numel / V;
  const unsigned blocks = blocksFor(nvec, kThreads, static_cast<int64_t>(a.smCount > 0 ? a.smCount : 132) * 8);
  epilogueKernel<T, V, I><<<blocks, kThreads, 0, s>>>(static_cast<T*>(a.y), static_cast<const T*>(a.bias),
                                                      static_cast<const T*>(a.residual), static_cast<I>(nvec),
                                                      static_cast<I>(a.channels), static_cast<I>(a.inner), a.act,
                                                      a.alpha, a.beta);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launchForType(const EpilogueArgs& a, cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  const bool channelPatternOk = a.inner == 1 ? a.channels % V == 0 : a.inner % V == 0;
  const bool vec = channelPatternOk && a.numel % V == 0 && aligned16(a.y) && (!a.residual || aligned16(a.residual));
  const bool small = a.numel < (int64_t{1} << 31);
  if (vec) return small ? launchTyped<T, V, int32_t>(a, s) : launchTyped<T, V, int64_t>(a, s);
  return small ? launchTyped<T, 1, int32_t>(a, s) : launchTyped<T, 1, int64_t>(a, s);
}

template <typename U>
__global__ void filterToChannelsLastKernel(const U* __restrict__ src, U* __restrict__ dst, int64_t k, int64_t c,
                                           int64_t spatial) {
  const int64_t n = k * c * spatial;
  KILN_GRID_STRIDE_LOOP(o, n) {
    const int64_t ci = o % c;
    const int64_t t = o / c;
    const int64_t si = t % spatial;
    const int64_t ki = t / spatial;
    dst[o] = src[(ki * c + ci) * spatial + si];
  }
}

// Memory-order geometry of the padding copy.
struct PadGeom {
  int rank;
  int64_t outDims[5], inStrides[5], padB[5], inDims[5];
};

template <typename U>
__global__ void zeroPadKernel(const U* __restrict__ x, U* __restrict__ y, PadGeom g, int64_t n) {
  KILN_GRID_STRIDE_LOOP(o, n) {
    int64_t rest = o, off = 0;
    bool inside = true;
#pragma unroll
    for (int d = 4; d >= 0; --d) {
      if (d >= g.rank) continue;
      const int64_t c = rest % g.outDims[d] - g.padB[d];
      rest /= g.outDims[d];
      if (c < 0 || c >= g.inDims[d]) inside = false;
      off += c * g.inStrides[d];
    }
    y[o] = inside ? x[off] : U(0);
  }
}

template <typename F>
cudaError_t byElemSize(int elemSize, F&& f) {
  switch (elemSize) {
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t launchEpilogue(const EpilogueArgs& a, cudaStream_t s) {
  if (a.numel <= 0) return cudaSuccess;
  if (a.channels <= 0 || a.inner <= 0) return cudaErrorInvalidValue;
  switch (a.dtype) {
    case DType::kFloat32: return launchForType<float>(a, s);
    case DType::kFloat16: return launchForType<__half>(a, s);
    case DType::kBFloat16: return launchForType<__nv_bfloat16>(a, s);
    case DType::kFloat64: return launchForType<double>(a, s);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launchFilterToChannelsLast(const void* src, void* dst, int64_t k, int64_t c, int64_t spatial,
                                       int elemSize, cudaStream_t s) {
  const int64_t n = k * c * spatial;
  if (n <= 0) return cudaSuccess;
  return byElemSize(elemSize, [&](auto tag) {
    using U = decltype(tag);
    filterToChannelsLastKernel<U><<<blocksFor(n), kThreads, 0, s>>>(static_cast<const U*>(src), static_cast<U*>(dst),
                                                                    k, c, spatial);
    return cudaGetLastError();
  });
}

cudaError_t launchZeroPad(const PadArgs& a, cudaStream_t s) {
  if (a.rank < 3 || a.rank > 5) return cudaErrorInvalidValue;
  // Logical axis of each memory-order position: NC... or N, S..., C.
  int order[5];
  order[0] = 0;
  if (a.channelsLast) {
    for (int d = 1; d < a.rank - 1; ++d) order[d] = d + 1;
    order[a.rank - 1] = 1;
  } else {
    for (int d = 1; d < a.rank; ++d) order[d] = d;
  }
  PadGeom g{};
  g.rank = a.rank;
  int64_t n = 1, stride = 1;
  for (int d = a.rank - 1; d >= 0; --d) {
    const int ax = order[d];
    const int64_t pb = ax >= 2 ? a.padBegin[ax - 2] : 0, pe = ax >= 2 ? a.padEnd[ax - 2] : 0;
    g.inDims[d] = a.dims[ax];
    g.padB[d] = pb;
    g.outDims[d] = a.dims[ax] + pb + pe;
    g.inStrides[d] = stride;
    stride *= a.dims[ax];
    n *= g.outDims[d];
  }
  if (n <= 0) return cudaSuccess;
  const int64_t maxBlocks = static_cast<int64_t>(a.smCount > 0 ? a.smCount : 132) * 16;
  return byElemSize(a.elemSize, [&](auto tag) {
    using U = decltype(tag);
    zeroPadKernel<U><<<blocksFor(n, kThreads, maxBlocks), kThreads, 0, s>>>(static_cast<const U*>(a.x),
                                                                           static_cast<U*>(a.y), g, n);
    return cudaGetLastError();
  });
}

}  // namespace kiln::cuda::dnn
