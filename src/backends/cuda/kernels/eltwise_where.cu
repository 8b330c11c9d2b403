// Where(cond, x, y) moves bits: instantiated per element size (1/2/4/8 bytes), vectorized when
// every operand is a scalar, of the output's shape or a suitable trailing-dims vector and aligned;
// broadcast strides otherwise (same geometry as the chains, slots 0..2 = cond, x, y).
#include "backends/cuda/kernels/eltwise_chain.cuh"

namespace kiln::cuda::eltwise {

namespace {

template <typename T, int VEC>
__device__ __forceinline__ void loadRaw(const ChainParams& p, int k, int64_t base, int64_t valid, T (&v)[VEC]) {
  const T* ptr = static_cast<const T*>(p.in[k]);
  const int64_t m = p.period[k];
  if (m == 1) {
    const T c = ptr[0];
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = c;
  } else if (valid == VEC) {
    const int64_t off = m == p.n ? base : base % m;
    const VecT<T, VEC> w = *reinterpret_cast<const VecT<T, VEC>*>(ptr + off);
#pragma unroll
    for (int j = 0; j < VEC; ++j) v[j] = w.v[j];
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const int64_t i = base + j;
      v[j] = j < valid ? ptr[m == p.n ? i : i % m] : T(0);
    }
  }
}

template <typename U, int VEC>
__global__ void __launch_bounds__(kBlock) whereVecKernel(const __grid_constant__ ChainParams p) {
  const int64_t chunks = (p.n + VEC - 1) / VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; ch < chunks; ch += stride) {
    const int64_t base = ch * VEC;
    const int64_t rem = p.n - base;
    const int64_t valid = rem < VEC ? rem : VEC;
    uint8_t c[VEC];  // bool storage read as bytes
    U x[VEC], y[VEC];
    loadRaw<uint8_t, VEC>(p, 0, base, valid, c);
    loadRaw<U, VEC>(p, 1, base, valid, x);
    loadRaw<U, VEC>(p, 2, base, valid, y);
    U* out = static_cast<U*>(p.out);
    if (valid == VEC) {
      VecT<U, VEC> w;
#pragma unroll
      for (int j = 0; j < VEC; ++j) w.v[j] = c[j] ? x[j] : y[j];
      *reinterpret_cast<VecT<U, VEC>*>(out + base) = w;
    } else {
#pragma unroll
      for (int j = 0; j < VEC; ++j)
        if (j < valid) out[base + j] = c[j] ? x[j] : y[j];
    }
  }
}

template <typename U, typename Index>
__global__ void __launch_bounds__(kBlock) whereGeneralKernel(const __grid_constant__ ChainParams p) {
  const Index n = static_cast<Index>(p.n);
  const Index stride = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x); i < n;
       i += stride) {
    Index o0 = 0, o1 = 0, o2 = 0;
    Index rest = i;
#pragma unroll
    for (int a = kMaxGeoRank - 1; a >= 0; --a) {
      if (a >= p.rank) continue;
      const Index d = static_cast<Index>(p.dims[a]);
      const Index c = rest % d;
      rest /= d;
      o0 += c * static_cast<Index>(p.strides[0][a]);
      o1 += c * static_cast<Index>(p.strides[1][a]);
      o2 += c * static_cast<Index>(p.strides[2][a]);
    }
    const bool cond = static_cast<const uint8_t*>(p.in[0])[o0] != 0;
    static_cast<U*>(p.out)[i] = cond ? static_cast<const U*>(p.in[1])[o1] : static_cast<const U*>(p.in[2])[o2];
  }
}

template <typename U>
cudaError_t launchWhereT(const ChainParams& p, cudaStream_t s) {
  if (p.n <= 0) return cudaSuccess;
  constexpr int VEC = static_cast<int>(16 / sizeof(U));
  bool vec = p.numSlots == 3;
  for (int k = 0; k < 3 && vec; ++k) {
    const int64_t m = p.period[k];
    if (m <= 0) {
      vec = false;
      break;
    }
    if (m == 1) continue;
    if (m != p.n && m % VEC != 0) vec = false;
    const size_t bytes = VEC * (k == 0 ? 1 : sizeof(U));
    if (reinterpret_cast<uintptr_t>(p.in[k]) % bytes != 0) vec = false;
  }
  if (reinterpret_cast<uintptr_t>(p.out) % (VEC * sizeof(U)) != 0) vec = false;
  if (vec) {
    whereVecKernel<U, VEC><<<gridFor((p.n + VEC - 1) / VEC, p.maxBlocks), kBlock, 0, s>>>(p);
  } else if (p.n < (int64_t{1} << 30)) {
    whereGeneralKernel<U, int32_t><<<gridFor(p.n, p.maxBlocks), kBlock, 0, s>>>(p);
  } else {
    whereGeneralKernel<U, int64_t><<<gridFor(p.n, p.maxBlocks), kBlock, 0, s>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchWhere(const ChainParams& p, int elemBytes, cudaStream_t s) {
  switch (elemBytes) {
    case 1: return launchWhereT<uint8_t>(p, s);
    case 2: return launchWhereT<uint16_t>(p, s);
    case 4: return launchWhereT<uint32_t>(p, s);
    case 8: return launchWhereT<uint64_t>(p, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda::eltwise
