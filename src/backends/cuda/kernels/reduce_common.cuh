// Device helpers shared by the reduce / norm / pool families: dtype dispatch on the host side of
// a .cu file, shuffles and warp/block reductions over any small trivially-copyable state, aligned
// 16-byte vectors, and conversions between element and compute types.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/reduce_launch.h"

namespace kiln::cuda::rn {

// ---- dtype dispatch ---------------------------------------------------------------------------------
template <DType... Ds> struct DSet {};
using FloatSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64>;
using NumericSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8,
                        DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32,
                        DType::kInt64, DType::kUInt64>;
using NumericBoolSet = DSet<DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8,
                            DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32,
                            DType::kInt64, DType::kUInt64, DType::kBool>;

template <typename T> struct Tag { using type = T; };

template <DType D, DType... Ds, typename F>
bool dispatchImpl(DType t, F& f) {
  if (t == D) {
    f(Tag<typename DeviceTypeOf<D>::type>{});
    return true;
  }
  if constexpr (sizeof...(Ds) > 0) return dispatchImpl<Ds...>(t, f);
  return false;
}
template <DType... Ds, typename F>
bool dispatchSet(DType t, F& f, DSet<Ds...>) {
  return dispatchImpl<Ds...>(t, f);
}
// Calls f(Tag<DeviceType>{}) for the dtype `t` if it is in Set; false otherwise.
template <typename Set, typename F>
bool dispatch(DType t, F&& f) {
  return dispatchSet(t, f, Set{});
}
template <DType... Ds>
constexpr bool inSetImpl(DType t, DSet<Ds...>) {
  return ((t == Ds) || ...);
}
template <typename Set>
constexpr bool inSet(DType t) {
  return inSetImpl(t, Set{});
}

#define KILN_RN_TYPE(tag) typename decltype(tag)::type

// ---- element / compute conversions -------------------------------------------------------------------
template <typename T> constexpr bool kIsFloat = std::is_floating_point_v<T> || IsHalfLike<T>::value;
// Statistics type: double for double, float for every other float (and for the 16-bit ones).
template <typename T> using StatT = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename C, typename T>
__device__ __forceinline__ C toC(T v) {
  return convertTo<C>(v);
}
template <typename T, typename C>
__device__ __forceinline__ T fromC(C v) {
  return convertTo<T>(v);
}

template <typename A>
__device__ __forceinline__ bool isNan(A v) {
  if constexpr (std::is_floating_point_v<A>) return v != v;
  else return false;
}

// Precise math in the compute type (float or double).
__device__ __forceinline__ float sqrtC(float v) { return sqrtf(v); }
__device__ __forceinline__ double sqrtC(double v) { return sqrt(v); }
__device__ __forceinline__ float logC(float v) { return logf(v); }
__device__ __forceinline__ double logC(double v) { return log(v); }
__device__ __forceinline__ float expC(float v) { return expf(v); }
__device__ __forceinline__ double expC(double v) { return exp(v); }
__device__ __forceinline__ float powC(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double powC(double a, double b) { return pow(a, b); }
__device__ __forceinline__ float fabsC(float v) { return fabsf(v); }
__device__ __forceinline__ double fabsC(double v) { return fabs(v); }
// exp for softmax-style normalizations: the fast hardware path for float (arguments are <= 0,
// where its error is a few ulp), precise for double.
__device__ __forceinline__ float fastExp(float v) { return __expf(v); }
__device__ __forceinline__ double fastExp(double v) { return exp(v); }

template <typename A>
__device__ __forceinline__ A infinityOf() {
  return std::numeric_limits<A>::infinity();
}

// ---- 16-byte vectors -----------------------------------------------------------------------------------
template <typename T>
constexpr int kVec = 16 / static_cast<int>(sizeof(T)) > 0 ? 16 / static_cast<int>(sizeof(T)) : 1;

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ Vec<T, V> loadVec(const T* p) {
  return *reinterpret_cast<const Vec<T, V>*>(p);
}
template <typename T, int V>
__device__ __forceinline__ void storeVec(T* p, const Vec<T, V>& v) {
  *reinterpret_cast<Vec<T, V>*>(p) = v;
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// ---- shuffles and reductions ---------------------------------------------------------------------------
// XOR shuffle of any trivially-copyable state whose size is a multiple of 4 bytes.
template <typename S>
__device__ __forceinline__ S shflXor(const S& v, int laneMask) {
  static_assert(sizeof(S) % 4 == 0, "shuffled state must be a multiple of 4 bytes");
  constexpr int kWords = sizeof(S) / 4;
  unsigned w[kWords];
  memcpy(w, &v, sizeof(S));
#pragma unroll
  for (int i = 0; i < kWords; ++i) w[i] = __shfl_xor_sync(0xffffffffu, w[i], laneMask);
  S out;
  memcpy(&out, w, sizeof(S));
  return out;
}
template <typename S>
__device__ __forceinline__ S shfl(const S& v, int srcLane) {
  static_assert(sizeof(S) % 4 == 0, "shuffled state must be a multiple of 4 bytes");
  constexpr int kWords = sizeof(S) / 4;
  unsigned w[kWords];
  memcpy(w, &v, sizeof(S));
#pragma unroll
  for (int i = 0; i < kWords; ++i) w[i] = __shfl_sync(0xffffffffu, w[i], srcLane);
  S out;
  memcpy(&out, w, sizeof(S));
  return out;
}

// Combines `v` across aligned groups of `width` lanes (a power of two <= 32); every lane of the
// warp must call it (full-mask shuffles), and each group's lanes all end with the group's result.
template <typename S, typename Combine>
__device__ __forceinline__ S groupReduce(S v, int width, Combine combine) {
  for (int off = width >> 1; off > 0; off >>= 1) combine(v, shflXor(v, off));
  return v;
}

// Block-wide reduction; every thread of the block calls it and gets the result. `smem` holds at
// least 32 states. Ends with a barrier, so `smem` may be reused right after.
template <typename S, typename Combine>
__device__ S blockReduce(S v, S identity, S* smem, Combine combine) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nWarps = (blockDim.x + 31) >> 5;
  v = groupReduce(v, 32, combine);
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    S w = lane < nWarps ? smem[lane] : identity;
    w = groupReduce(w, 32, combine);
    if (lane == 0) smem[0] = w;
  }
  __syncthreads();
  S r = smem[0];
  __syncthreads();
  return r;
}

inline int pow2Ceil(int64_t v) {
  int p = 1;
  while (p < v && p < (1 << 30)) p <<= 1;
  return p;
}
inline unsigned gridFor(int64_t work, int64_t perBlock, int smCount, int wavesPerSm = 16) {
  int64_t b = (work + perBlock - 1) / perBlock;
  const int64_t cap = static_cast<int64_t>(smCount > 0 ? smCount : 132) * wavesPerSm;
  if (b > cap) b = cap;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b);
}

}  // namespace kiln::cuda::rn
