// Gather, GatherElements, GatherND and their scatter twins (ScatterND, ScatterElements).
// Indices are read on the device: a negative index counts from the end of its axis, and an index
// still out of range produces zero bits in a gather and is skipped by a scatter (never an
// out-of-bounds access) and is reported through the context's DeviceCheck, so the run fails with
// the error the CPU reference gives (device_check.h).
// Scatter reductions combine through compare-and-swap on the enclosing 32/64-bit word, so every
// element type (including 8/16-bit ones) and every reduction works with duplicate indices.
// reduction='none' with duplicate indices leaves one of the updates (ONNX leaves it undefined).
#include <cstdint>
#include <cstring>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/data_launch.h"
#include "backends/cuda/kernels/device_check.cuh"

namespace kiln::cuda::data {

namespace {

constexpr int64_t kI32Limit = (int64_t{1} << 31) - (int64_t{1} << 24);


template <int Bytes> struct WordOf;
template <> struct WordOf<1> { using type = uint8_t; };
template <> struct WordOf<2> { using type = uint16_t; };
template <> struct WordOf<4> { using type = uint32_t; };
template <> struct WordOf<8> { using type = uint64_t; };
template <> struct WordOf<16> { using type = uint4; };

template <typename F>
cudaError_t bySize(int bytes, F&& f) {
  switch (bytes) {
    case 1: return f(WordOf<1>{});
    case 2: return f(WordOf<2>{});
    case 4: return f(WordOf<4>{});
    case 8: return f(WordOf<8>{});
    case 16: return f(WordOf<16>{});
    default: return cudaErrorInvalidValue;
  }
}

bool aligned(const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0; }

// Normalizes index v of an axis of `dim`; -1 when out of range.
__device__ __forceinline__ int64_t normIndex(int64_t v, int64_t dim) {
  if (v < 0) v += dim;
  return (v >= 0 && v < dim) ? v : -1;
}

template <typename IdxT>
__device__ __forceinline__ int64_t loadIndex(const void* p, int64_t i) {
  return static_cast<int64_t>(static_cast<const IdxT*>(p)[i]);
}

// ---- Gather -------------------------------------------------------------------------------------
// y viewed as [outer, n, innerW] words; x as [outer, dim, innerW].
template <typename W, typename IdxT, typename I>
__global__ void gatherKernel(const W* __restrict__ x, const IdxT* __restrict__ idx, W* __restrict__ y, I innerW, I n,
                             I dim, I total, DeviceCheck chk) {
  using U = std::make_unsigned_t<I>;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += static_cast<I>(blockDim.x) * gridDim.x) {
    const U t = static_cast<U>(i) / static_cast<U>(innerW);
    const I k = i - static_cast<I>(t) * innerW;
    const U o = t / static_cast<U>(n);
    const I j = static_cast<I>(t - o * static_cast<U>(n));
    const int64_t v = normIndex(static_cast<int64_t>(idx[j]), static_cast<int64_t>(dim));
    if (v < 0) {
      y[i] = W{};
      reportOutOfRange(chk, 1, static_cast<int64_t>(idx[j]), static_cast<int64_t>(j), static_cast<int64_t>(dim));
    } else {
      y[i] = x[(static_cast<I>(o) * dim + static_cast<I>(v)) * innerW + k];
    }
  }
}

// ---- GatherElements / ScatterElements -----------------------------------------------------------
// Offset in data of index element i (coordinates of i in `dims`, axis coordinate replaced by the
// index); -1 when the index is out of range.
template <typename IdxT>
__device__ __forceinline__ int64_t elementsOffset(const ElementsArgs& a, int64_t i) {
  int64_t rem = i, off = 0;
#pragma unroll
  for (int d = kMaxIdxRank - 1; d >= 0; --d) {
    if (d >= a.rank) continue;
    const int64_t q = rem / a.dims[d];
    const int64_t c = rem - q * a.dims[d];
    rem = q;
    if (d != a.axis) off += c * a.xStrides[d];
  }
  const int64_t raw = loadIndex<IdxT>(a.idx, i);
  const int64_t v = normIndex(raw, a.axisDim);
  if (v < 0) {
    reportOutOfRange(a.check, 1, raw, i, a.axisDim);
    return -1;
  }
  return off + v * a.xStrides[a.axis];
}

template <typename W, typename IdxT>
__global__ void gatherElementsKernel(ElementsArgs a) {
  const W* x = static_cast<const W*>(a.x);
  W* y = static_cast<W*>(a.y);
  KILN_GRID_STRIDE_LOOP(i, a.n) {
    const int64_t off = elementsOffset<IdxT>(a, i);
    y[i] = off < 0 ? W{} : x[off];
  }
}

// ---- GatherND / ScatterND -----------------------------------------------------------------------
__device__ __forceinline__ int64_t tupleOffset(const NDArgs& a, int64_t j) {
  int64_t off = (a.perBatch > 0 ? j / a.perBatch : 0) * a.batchStride;
  for (int t = 0; t < a.k; ++t) {
    const int64_t v = normIndex(a.idx[j * a.k + t], a.dims[t]);
    if (v < 0) {
      reportOutOfRange(a.check, 1, a.idx[j * a.k + t], j * a.k + t, a.dims[t]);
      return -1;
    }
    off += v * a.strides[t];
  }
  return off;
}

template <typename W>
__global__ void gatherNDKernel(NDArgs a, int64_t total) {
  const W* x = static_cast<const W*>(a.x);
  W* y = static_cast<W*>(a.y);
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t j = i / a.slice;
    const int64_t e = i - j * a.slice;
    const int64_t off = tupleOffset(a, j);
    y[i] = off < 0 ? W{} : x[off + e];
  }
}

// ---- scatter reductions -----------------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ T combine(T cur, T v, ScatterOp op) {
  if constexpr (std::is_same_v<T, bool>) {
    return (op == ScatterOp::kAdd || op == ScatterOp::kMax) ? (cur || v) : (cur && v);
  } else {
    using C = typename ComputeTypeOf<T>::type;
    const C a = convertTo<C>(cur), b = convertTo<C>(v);
    C r;
    switch (op) {
      case ScatterOp::kAdd: r = static_cast<C>(a + b); break;
      case ScatterOp::kMul: r = static_cast<C>(a * b); break;
      case ScatterOp::kMax: r = (a < b) ? b : a; break;  // std::max
      case ScatterOp::kMin: r = (b < a) ? b : a; break;  // std::min
      default: r = b; break;
    }
    return convertTo<T>(r);
  }
}

// *addr = combine(*addr, v) atomically, by CAS on the 32- or 64-bit word holding the element.
template <typename T>
__device__ void atomicCombine(T* addr, T v, ScatterOp op) {
  if constexpr (sizeof(T) == 8) {
    auto* p = reinterpret_cast<unsigned long long*>(addr);
    unsigned long long old = *p, assumed;
    do {
      assumed = old;
      T cur;
      memcpy(&cur, &assumed, 8);
      const T nv = combine(cur, v, op);
      unsigned long long bits;
      memcpy(&bits, &nv, 8);
      if (bits == assumed) return;
      old = atomicCAS(p, assumed, bits);
    } while (old != assumed);
  } else {
    const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    auto* p = reinterpret_cast<unsigned int*>(a & ~uintptr_t{3});
    const unsigned shift = static_cast<unsigned>(a & 3) * 8;
    const unsigned mask = sizeof(T) == 4 ? 0xffffffffu : (((1u << (8 * sizeof(T))) - 1) << shift);
    unsigned old = *p, assumed;
    do {
      assumed = old;
      const unsigned curBits = (assumed & mask) >> shift;
      T cur;
      memcpy(&cur, &curBits, sizeof(T));  // little endian: the low bytes
      const T nv = combine(cur, v, op);
      unsigned nvBits = 0;
      memcpy(&nvBits, &nv, sizeof(T));
      const unsigned next = (assumed & ~mask) | ((nvBits << shift) & mask);
      if (next == assumed) return;
      old = atomicCAS(p, assumed, next);
    } while (old != assumed);
  }
}

template <typename T>
__global__ void scatterNDKernel(NDArgs a, int64_t total, ScatterOp op) {
  const T* u = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t j = i / a.slice;
    const int64_t e = i - j * a.slice;
    const int64_t off = tupleOffset(a, j);
    if (off < 0) continue;
    if (op == ScatterOp::kNone) y[off + e] = u[i];
    else atomicCombine(y + off + e, u[i], op);
  }
}

template <typename T, typename IdxT>
__global__ void scatterElementsKernel(ElementsArgs a, ScatterOp op) {
  const T* u = static_cast<const T*>(a.x);
  T* y = static_cast<T*>(a.y);
  KILN_GRID_STRIDE_LOOP(i, a.n) {
    const int64_t off = elementsOffset<IdxT>(a, i);
    if (off < 0) continue;
    if (op == ScatterOp::kNone) y[off] = u[i];
    else atomicCombine(y + off, u[i], op);
  }
}

// Gather from an empty axis: every index is out of range; the first is reported.
template <typename IdxT>
__global__ void reportFirstIndexKernel(const IdxT* idx, DeviceCheck chk) {
  reportOutOfRange(chk, 1, static_cast<int64_t>(idx[0]), 0, 0);
}

template <typename F>
cudaError_t byKind(ElemKind k, F&& f) {
  switch (k) {
    case ElemKind::kF32: return f(float{});
    case ElemKind::kF16: return f(__half{});
    case ElemKind::kBF16: return f(__nv_bfloat16{});
    case ElemKind::kF64: return f(double{});
    case ElemKind::kI8: return f(int8_t{});
    case ElemKind::kU8: return f(uint8_t{});
    case ElemKind::kI16: return f(int16_t{});
    case ElemKind::kU16: return f(uint16_t{});
    case ElemKind::kI32: return f(int32_t{});
    case ElemKind::kU32: return f(uint32_t{});
    case ElemKind::kI64: return f(int64_t{});
    case ElemKind::kU64: return f(uint64_t{});
    case ElemKind::kBool: return f(bool{});
  }
  return cudaErrorInvalidValue;
}

template <typename F>
cudaError_t byIdx(int idxSize, F&& f) {
  if (idxSize == 4) return f(int32_t{});
  if (idxSize == 8) return f(int64_t{});
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launchGather(const GatherArgs& g, int smCount, cudaStream_t s) {
  const int64_t total = g.outer * g.n * g.inner;
  if (total == 0) return cudaSuccess;
  if (g.dim == 0) {  // every index is out of range
    cudaError_t e = cudaMemsetAsync(g.y, 0, static_cast<size_t>(total) * g.elemSize, s);
    if (e != cudaSuccess || !g.check.claimed) return e;
    return byIdx(g.idxSize, [&](auto it) -> cudaError_t {
      reportFirstIndexKernel<<<1, 1, 0, s>>>(static_cast<const decltype(it)*>(g.idx), g.check);
      return cudaGetLastError();
    });
  }
  // Widen the contiguous inner run to the largest word the sizes and pointers allow.
  int word = g.elemSize;
  for (int w = 16; w > g.elemSize; w /= 2) {
    if ((g.inner * g.elemSize) % w == 0 && aligned(g.x, w) && aligned(g.y, w)) {
      word = w;
      break;
    }
  }
  const int64_t innerW = g.inner * g.elemSize / word;
  const int64_t totalW = g.outer * g.n * innerW;
  const int64_t xW = g.outer * g.dim * innerW;
  return bySize(word, [&](auto wt) {
    using W = typename decltype(wt)::type;
    return byIdx(g.idxSize, [&](auto it) -> cudaError_t {
      using IdxT = decltype(it);
      const unsigned grid = smGrid(totalW, smCount);
      if (totalW < kI32Limit && xW < kI32Limit)
        gatherKernel<W, IdxT, int32_t><<<grid, kThreads, 0, s>>>(
            static_cast<const W*>(g.x), static_cast<const IdxT*>(g.idx), static_cast<W*>(g.y),
            static_cast<int32_t>(innerW), static_cast<int32_t>(g.n), static_cast<int32_t>(g.dim),
            static_cast<int32_t>(totalW), g.check);
      else
        gatherKernel<W, IdxT, int64_t><<<grid, kThreads, 0, s>>>(static_cast<const W*>(g.x),
                                                                 static_cast<const IdxT*>(g.idx), static_cast<W*>(g.y),
                                                                 innerW, g.n, g.dim, totalW, g.check);
      return cudaGetLastError();
    });
  });
}

cudaError_t launchGatherElements(const ElementsArgs& a, int smCount, cudaStream_t s) {
  if (a.n == 0) return cudaSuccess;
  if (a.rank < 1 || a.rank > kMaxIdxRank || a.axis < 0 || a.axis >= a.rank) return cudaErrorInvalidValue;
  return bySize(a.elemSize, [&](auto wt) {
    using W = typename decltype(wt)::type;
    return byIdx(a.idxSize, [&](auto it) -> cudaError_t {
      gatherElementsKernel<W, decltype(it)><<<smGrid(a.n, smCount), kThreads, 0, s>>>(a);
      return cudaGetLastError();
    });
  });
}

cudaError_t launchGatherND(const NDArgs& a, int smCount, cudaStream_t s) {
  const int64_t total = a.tuples * a.slice;
  if (total == 0) return cudaSuccess;
  if (a.k < 1 || a.k > kMaxDims) return cudaErrorInvalidValue;
  return bySize(a.elemSize, [&](auto wt) -> cudaError_t {
    gatherNDKernel<typename decltype(wt)::type><<<smGrid(total, smCount), kThreads, 0, s>>>(a, total);
    return cudaGetLastError();
  });
}

cudaError_t launchScatterND(const NDArgs& a, ScatterOp op, ElemKind kind, int smCount, cudaStream_t s) {
  const int64_t total = a.tuples * a.slice;
  if (total == 0) return cudaSuccess;
  if (a.k < 1 || a.k > kMaxDims) return cudaErrorInvalidValue;
  return byKind(kind, [&](auto tt) -> cudaError_t {
    scatterNDKernel<decltype(tt)><<<smGrid(total, smCount), kThreads, 0, s>>>(a, total, op);
    return cudaGetLastError();
  });
}

cudaError_t launchScatterElements(const ElementsArgs& a, ScatterOp op, ElemKind kind, int smCount, cudaStream_t s) {
  if (a.n == 0) return cudaSuccess;
  if (a.rank < 1 || a.rank > kMaxIdxRank || a.axis < 0 || a.axis >= a.rank) return cudaErrorInvalidValue;
  return byKind(kind, [&](auto tt) {
    return byIdx(a.idxSize, [&](auto it) -> cudaError_t {
      scatterElementsKernel<decltype(tt), decltype(it)><<<smGrid(a.n, smCount), kThreads, 0, s>>>(a, op);
      return cudaGetLastError();
    });
  });
}

}  // namespace kiln::cuda::data
