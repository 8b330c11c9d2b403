// Shared device-side helpers for Kiln's CUDA kernels: element types, float conversion, launch
// geometry, broadcast-aware index math and dtype dispatch. Families add their own helpers in
// their own files; only what every family needs lives here.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kiln/dtype.h"
#include "kiln/shape.h"

namespace kiln::cuda {

// ---- element types ------------------------------------------------------------------------------
// Device element type of a Kiln dtype (storage-compatible with the host type).
template <DType T> struct DeviceTypeOf;
template <> struct DeviceTypeOf<DType::kFloat32> { using type = float; };
template <> struct DeviceTypeOf<DType::kFloat16> { using type = __half; };
template <> struct DeviceTypeOf<DType::kBFloat16> { using type = __nv_bfloat16; };
template <> struct DeviceTypeOf<DType::kFloat64> { using type = double; };
template <> struct DeviceTypeOf<DType::kInt8> { using type = int8_t; };
template <> struct DeviceTypeOf<DType::kUInt8> { using type = uint8_t; };
template <> struct DeviceTypeOf<DType::kInt16> { using type = int16_t; };
template <> struct DeviceTypeOf<DType::kUInt16> { using type = uint16_t; };
template <> struct DeviceTypeOf<DType::kInt32> { using type = int32_t; };
template <> struct DeviceTypeOf<DType::kUInt32> { using type = uint32_t; };
template <> struct DeviceTypeOf<DType::kInt64> { using type = int64_t; };
template <> struct DeviceTypeOf<DType::kUInt64> { using type = uint64_t; };
template <> struct DeviceTypeOf<DType::kBool> { using type = bool; };

template <typename T> struct IsHalfLike : std::false_type {};
template <> struct IsHalfLike<__half> : std::true_type {};
template <> struct IsHalfLike<__nv_bfloat16> : std::true_type {};

// Arithmetic type for computing on T: float for the 16-bit floats, T otherwise.
template <typename T> struct ComputeTypeOf { using type = T; };
template <> struct ComputeTypeOf<__half> { using type = float; };
template <> struct ComputeTypeOf<__nv_bfloat16> { using type = float; };

template <typename To, typename From>
__device__ __forceinline__ To convertTo(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<From, __half>) {
    return convertTo<To>(__half2float(v));
  } else if constexpr (std::is_same_v<From, __nv_bfloat16>) {
    return convertTo<To>(__bfloat162float(v));
  } else if constexpr (std::is_same_v<To, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

// ---- launch geometry -------------------------------------------------------------------------------
constexpr int kThreads = 256;
inline unsigned blocksFor(int64_t n, int threads = kThreads, int64_t maxBlocks = 65535LL * 8) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < maxBlocks ? b : maxBlocks);
}

// Grid-stride launches of kThreads-thread blocks: enough blocks for n items, at most 16 per SM.
inline unsigned smGrid(int64_t n, int smCount) {
  const int64_t cap = static_cast<int64_t>(smCount > 0 ? smCount : 132) * 16;
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

#define KILN_GRID_STRIDE_LOOP(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);         \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// ---- index math --------------------------------------------------------------------------------------
constexpr int kMaxRank = 8;

// Dims and the strides of one operand broadcast to an output shape (stride 0 on broadcast axes),
// passed to kernels by value. Rank <= kMaxRank (bigger ranks are collapsed or refused by the host).
struct Geometry {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
};
struct Strides {
  int64_t s[kMaxRank] = {};
};

// Strides of `in` (right-aligned against `out`) for reading it at output coordinates.
inline Strides broadcastStrides(const Dims& in, const Dims& out) {
  Strides st;
  int64_t acc = 1;
  int off = out.rank() - in.rank();
  for (int a = out.rank() - 1; a >= 0; --a) {
    int ia = a - off;
    if (ia < 0) {
      st.s[a] = 0;
      continue;
    }
    st.s[a] = in[ia] == 1 && out[a] != 1 ? 0 : acc;
    acc *= in[ia];
  }
  return st;
}
inline Geometry geometryOf(const Dims& d) {
  Geometry g;
  g.rank = d.rank();
  for (int a = 0; a < d.rank(); ++a) g.dims[a] = d[a];
  return g;
}

// Offset of linear output index `i` in an operand with strides `st`.
__device__ __forceinline__ int64_t offsetOf(int64_t i, const Geometry& g, const Strides& st) {
  int64_t off = 0;
#pragma unroll
  for (int a = kMaxRank - 1; a >= 0; --a) {
    if (a >= g.rank) continue;
    int64_t d = g.dims[a];
    int64_t c = i % d;
    i /= d;
    off += c * st.s[a];
  }
  return off;
}

}  // namespace kiln::cuda
