// The element-wise chain kernels (see eltwise_launch.h) and their launcher template, instantiated
// per element-type combination by eltwise_chain_{float,int,cast}.cu (split so they compile in
// parallel).
//
// Two paths:
//  - vector: every slot is a scalar, a tensor of the output's shape or a period-m vector with
//    m % VEC == 0, and every pointer is aligned: each thread handles VEC consecutive elements with
//    one 16-byte (or narrower) load per slot; the last partial chunk falls back to scalar loads;
//  - general: one element per thread, coordinates from the collapsed output geometry (int32 index
//    math when the output is small enough), offsets per slot from broadcast strides.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/eltwise_launch.h"
#include "backends/cuda/kernels/eltwise_ops.cuh"

namespace kiln::cuda::eltwise {

template <typename T, int N>
struct alignas(sizeof(T) * N) VecT {
  T v[N];
};

constexpr int kBlock = 256;

template <typename T, typename C, int VEC>
__device__ __forceinline__ void loadSlot(const ChainParams& p, int k, int64_t base, int64_t valid, C (&v)[VEC]) {
  const T* ptr = static_cast<const T*>(p.in[k]);
  const int64_t m = p.period[k];
  if (m == 1) {
    const C c = convertTo<C>(ptr[0]);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = c;
    return;
  }
  if (valid == VEC) {
    // Host checked: m == n, or m % VEC == 0 (so base % m is a multiple of VEC and the chunk does
    // not wrap); the pointer is aligned to the vector size.
    const int64_t off = m == p.n ? base : base % m;
    const VecT<T, VEC> w = *reinterpret_cast<const VecT<T, VEC>*>(ptr + off);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = convertTo<C>(w.v[j]);
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const int64_t i = base + j;
      v[j] = j < valid ? convertTo<C>(ptr[m == p.n ? i : i % m]) : C(0);
    }
  }
}

template <typename Tin, typename Top, typename Tout, typename C, int VEC>
__global__ void __launch_bounds__(kBlock) chainVecKernel(const __grid_constant__ ChainParams p) {
  const int64_t chunks = (p.n + VEC - 1) / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; ch < chunks; ch += stride) {
    const int64_t base = ch * VEC;
    const int64_t rem = p.n - base;
    const int64_t valid = rem < VEC ? rem : VEC;
    C v[VEC];
    loadSlot<Tin, C, VEC>(p, 0, base, valid, v);
    for (int s = 0; s < p.numSteps; ++s) {
      const Step& st = p.steps[s];
      if (st.operand < 0) {
        applyUnary<C, VEC>(st, v);
      } else {
        C w[VEC];
        loadSlot<Top, C, VEC>(p, st.operand, base, valid, w);
        if (st.swapped) applyBinary<C, VEC>(st, v, w, v);
        else applyBinary<C, VEC>(st, v, v, w);
      }
    }
    Tout* out = static_cast<Tout*>(p.out);
    if (valid == VEC) {
      VecT<Tout, VEC> w;
#pragma unroll
      for (int j = 0; j < VEC; ++j) w.v[j] = convertTo<Tout>(v[j]);
      *reinterpret_cast<VecT<Tout, VEC>*>(out + base) = w;
    } else {
#pragma unroll
      for (int j = 0; j < VEC; ++j)
        if (j < valid) out[base + j] = convertTo<Tout>(v[j]);
    }
  }
}

template <typename Tin, typename Top, typename Tout, typename C, typename Index>
__global__ void __launch_bounds__(kBlock) chainGeneralKernel(const __grid_constant__ ChainParams p) {
  const Index n = static_cast<Index>(p.n);
  const Index stride = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x); i < n;
       i += stride) {
    Index off[kMaxSlots];
#pragma unroll
    for (int k = 0; k < kMaxSlots; ++k) off[k] = 0;
    Index rest = i;
#pragma unroll
    for (int a = kMaxGeoRank - 1; a >= 0; --a) {
      if (a >= p.rank) continue;
      const Index d = static_cast<Index>(p.dims[a]);
      const Index c = rest % d;
      rest /= d;
#pragma unroll
      for (int k = 0; k < kMaxSlots; ++k)
        if (k < p.numSlots) off[k] += c * static_cast<Index>(p.strides[k][a]);
    }
    C v[1] = {convertTo<C>(static_cast<const Tin*>(p.in[0])[off[0]])};
    for (int s = 0; s < p.numSteps; ++s) {
      const Step& st = p.steps[s];
      if (st.operand < 0) {
        applyUnary<C, 1>(st, v);
      } else {
        // Select the slot's offset without indexing the register array dynamically.
        Index o = 0;
#pragma unroll
        for (int k = 1; k < kMaxSlots; ++k)
          if (k == st.operand) o = off[k];
        C w[1] = {convertTo<C>(static_cast<const Top*>(p.in[st.operand])[o])};
        if (st.swapped) applyBinary<C, 1>(st, v, w, v);
        else applyBinary<C, 1>(st, v, v, w);
      }
    }
    static_cast<Tout*>(p.out)[i] = convertTo<Tout>(v[0]);
  }
}

// Broadcast path with vectors along the innermost collapsed axis: the host checked that its
// length is a multiple of VEC and that every slot either walks it contiguously (stride 1: one
// aligned vector load, since every outer stride of such a slot is a multiple of that length) or
// is constant along it (stride 0: one scalar load, broadcast). Coordinates are computed once per
// VEC elements.
template <typename T, typename C, int VEC>
__device__ __forceinline__ void loadRow(const T* ptr, bool unit, C (&v)[VEC]) {
  if (unit) {
    const VecT<T, VEC> w = *reinterpret_cast<const VecT<T, VEC>*>(ptr);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = convertTo<C>(w.v[j]);
  } else {
    const C c = convertTo<C>(ptr[0]);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = c;
  }
}

template <typename Tin, typename Top, typename Tout, typename C, int VEC, typename Index>
__global__ void __launch_bounds__(kBlock) chainRowVecKernel(const __grid_constant__ ChainParams p) {
  const Index chunks = static_cast<Index>(p.n / VEC);
  const Index stride = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  const int inner = p.rank - 1;
  for (Index ch = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
       ch < chunks; ch += stride) {
    const Index i = ch * VEC;
    Index off[kMaxSlots];
#pragma unroll
    for (int k = 0; k < kMaxSlots; ++k) off[k] = 0;
    Index rest = i;
#pragma unroll
    for (int a = kMaxGeoRank - 1; a >= 0; --a) {
      if (a >= p.rank) continue;
      const Index d = static_cast<Index>(p.dims[a]);
      const Index c = rest % d;
      rest /= d;
#pragma unroll
      for (int k = 0; k < kMaxSlots; ++k)
        if (k < p.numSlots) off[k] += c * static_cast<Index>(p.strides[k][a]);
    }
    C v[VEC];
    loadRow<Tin, C, VEC>(static_cast<const Tin*>(p.in[0]) + off[0], p.strides[0][inner] != 0, v);
    for (int s = 0; s < p.numSteps; ++s) {
      const Step& st = p.steps[s];
      if (st.operand < 0) {
        applyUnary<C, VEC>(st, v);
      } else {
        Index o = 0;
#pragma unroll
        for (int k = 1; k < kMaxSlots; ++k)
          if (k == st.operand) o = off[k];
        C w[VEC];
        loadRow<Top, C, VEC>(static_cast<const Top*>(p.in[st.operand]) + o, p.strides[st.operand][inner] != 0, w);
        if (st.swapped) applyBinary<C, VEC>(st, v, w, v);
        else applyBinary<C, VEC>(st, v, v, w);
      }
    }
    VecT<Tout, VEC> w;
#pragma unroll
    for (int j = 0; j < VEC; ++j) w.v[j] = convertTo<Tout>(v[j]);
    *reinterpret_cast<VecT<Tout, VEC>*>(static_cast<Tout*>(p.out) + i) = w;
  }
}

// Whether chainRowVecKernel applies (see above); slot k's element size is slotBytes(k).
template <int VEC, typename SlotBytes>
bool rowVecOk(const ChainParams& p, size_t outBytes, SlotBytes slotBytes) {
  if (p.rank < 1 || p.dims[p.rank - 1] % VEC != 0) return false;
  if (reinterpret_cast<uintptr_t>(p.out) % (VEC * outBytes) != 0) return false;
  for (int k = 0; k < p.numSlots; ++k) {
    const int64_t s = p.strides[k][p.rank - 1];
    if (s != 0 && s != 1) return false;
    if (s == 1 && reinterpret_cast<uintptr_t>(p.in[k]) % (VEC * slotBytes(k)) != 0) return false;
  }
  return true;
}

inline unsigned gridFor(int64_t items, int maxBlocks) {
  int64_t b = (items + kBlock - 1) / kBlock;
  if (b < 1) b = 1;
  if (maxBlocks < 1) maxBlocks = 1;
  return static_cast<unsigned>(b < maxBlocks ? b : maxBlocks);
}

// Largest chunk (elements) whose widest slot is one 16-byte load.
template <typename Tin, typename Top, typename Tout>
constexpr int chainVecWidth() {
  constexpr size_t a = sizeof(Tin) > sizeof(Top) ? sizeof(Tin) : sizeof(Top);
  constexpr size_t b = a > sizeof(Tout) ? a : sizeof(Tout);
  return static_cast<int>(16 / b);
}

template <typename Tin, typename Top, typename Tout, typename C>
cudaError_t launchChainT(const ChainParams& p, cudaStream_t s) {
  if (p.n <= 0) return cudaSuccess;
  constexpr int VEC = chainVecWidth<Tin, Top, Tout>();
  bool vec = true;
  for (int k = 0; k < p.numSlots; ++k) {
    const int64_t m = p.period[k];
    if (m <= 0) {
      vec = false;
      break;
    }
    if (m == 1) continue;
    if (m != p.n && m % VEC != 0) vec = false;
    const size_t bytes = VEC * (k == 0 ? sizeof(Tin) : sizeof(Top));
    if (reinterpret_cast<uintptr_t>(p.in[k]) % bytes != 0) vec = false;
  }
  if (reinterpret_cast<uintptr_t>(p.out) % (VEC * sizeof(Tout)) != 0) vec = false;
  if (vec) {
    const int64_t chunks = (p.n + VEC - 1) / VEC;
    chainVecKernel<Tin, Top, Tout, C, VEC><<<gridFor(chunks, p.maxBlocks), kBlock, 0, s>>>(p);
  } else if (rowVecOk<VEC>(p, sizeof(Tout), [](int k) { return k == 0 ? sizeof(Tin) : sizeof(Top); })) {
    const int64_t chunks = p.n / VEC;
    if (p.n < (int64_t{1} << 30))
      chainRowVecKernel<Tin, Top, Tout, C, VEC, int32_t><<<gridFor(chunks, p.maxBlocks), kBlock, 0, s>>>(p);
    else
      chainRowVecKernel<Tin, Top, Tout, C, VEC, int64_t><<<gridFor(chunks, p.maxBlocks), kBlock, 0, s>>>(p);
  } else if (p.n < (int64_t{1} << 30)) {
    chainGeneralKernel<Tin, Top, Tout, C, int32_t><<<gridFor(p.n, p.maxBlocks), kBlock, 0, s>>>(p);
  } else {
    chainGeneralKernel<Tin, Top, Tout, C, int64_t><<<gridFor(p.n, p.maxBlocks), kBlock, 0, s>>>(p);
  }
  return cudaGetLastError();
}

// Calls f(T{}) with the device type of a standard dtype; false for other types.
template <typename F>
bool dispatchDevice(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(float{}); return true;
    case DType::kFloat16: f(__half{}); return true;
    case DType::kBFloat16: f(__nv_bfloat16{}); return true;
    case DType::kFloat64: f(double{}); return true;
    case DType::kInt8: f(int8_t{}); return true;
    case DType::kUInt8: f(uint8_t{}); return true;
    case DType::kInt16: f(int16_t{}); return true;
    case DType::kUInt16: f(uint16_t{}); return true;
    case DType::kInt32: f(int32_t{}); return true;
    case DType::kUInt32: f(uint32_t{}); return true;
    case DType::kInt64: f(int64_t{}); return true;
    case DType::kUInt64: f(uint64_t{}); return true;
    case DType::kBool: f(bool{}); return true;
    default: return false;
  }
}

}  // namespace kiln::cuda::eltwise
