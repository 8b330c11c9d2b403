// Cast between the 13 standard types, matching the CPU reference (backends/cpu/kernels/tensor.cc
// castOne): float -> integer truncates toward zero in double, NaN -> 0, out-of-range saturates to
// the type's bounds; -> bool is x != 0; 16-bit floats convert through float with round-to-nearest-
// even; integer -> integer wraps (static_cast). Contiguous: VEC elements per thread with aligned
// vector loads/stores, scalar otherwise.
#include <limits>

#include "backends/cuda/kernels/eltwise_chain.cuh"

namespace kiln::cuda::eltwise {

namespace {

template <typename T>
constexpr bool kIsDevFloat = std::is_floating_point_v<T> || IsHalfLike<T>::value;

template <typename To, typename From>
__device__ __forceinline__ To castValue(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_integral_v<To> && !std::is_same_v<To, bool> && kIsDevFloat<From>) {
    const double d = convertTo<double>(v);
    if (isnan(d)) return To(0);
    if (d <= static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
    if (d >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    return convertTo<To>(v);
  }
}

template <typename From, typename To, int VEC>
__global__ void __launch_bounds__(kBlock) castKernel(const From* __restrict__ in, To* __restrict__ out, int64_t n, bool vec) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vec) {
    const int64_t chunks = n / VEC;
    for (int64_t ch = first; ch < chunks; ch += stride) {
      const VecT<From, VEC> a = reinterpret_cast<const VecT<From, VEC>*>(in)[ch];
      VecT<To, VEC> b;
#pragma unroll
      for (int j = 0; j < VEC; ++j) b.v[j] = castValue<To>(a.v[j]);
      reinterpret_cast<VecT<To, VEC>*>(out)[ch] = b;
    }
    for (int64_t i = chunks * VEC + first; i < n; i += stride) out[i] = castValue<To>(in[i]);
  } else {
    for (int64_t i = first; i < n; i += stride) out[i] = castValue<To>(in[i]);
  }
}

template <typename From, typename To, int VEC>
bool alignedFor(const void* in, const void* out) {
  return reinterpret_cast<uintptr_t>(in) % (VEC * sizeof(From)) == 0 &&
         reinterpret_cast<uintptr_t>(out) % (VEC * sizeof(To)) == 0;
}

template <typename From, typename To, int VEC>
void launchVec(const void* in, void* out, int64_t n, int maxBlocks, bool vec, cudaStream_t s) {
  const int64_t items = vec ? (n + VEC - 1) / VEC : n;
  castKernel<From, To, VEC><<<gridFor(items, maxBlocks), kBlock, 0, s>>>(static_cast<const From*>(in),
                                                                            static_cast<To*>(out), n, vec);
}

template <typename From, typename To>
cudaError_t launchCastT(const void* in, void* out, int64_t n, int maxBlocks, cudaStream_t s) {
  // Wide: at most 16 bytes on the wider side (the old width). Full: up to 16 bytes on the narrow
  // side, at most 32 on the wide one; where the widths differ 2x that is a whole 16-byte access
  // on both sides (16 on the wide side left float16 -> float32 reading 8 bytes a thread: the
  // BERT output cast of 6.3M values ran latency-bound). Buffers aligned only for the narrower
  // vectors take them; unaligned ones go element by element.
  constexpr size_t wide = sizeof(From) > sizeof(To) ? sizeof(From) : sizeof(To);
  constexpr size_t narrow = sizeof(From) < sizeof(To) ? sizeof(From) : sizeof(To);
  constexpr int kWide = static_cast<int>(16 / wide);
  constexpr int kFull = static_cast<int>(16 / narrow < 32 / wide ? 16 / narrow : 32 / wide);
  if (alignedFor<From, To, kFull>(in, out)) launchVec<From, To, kFull>(in, out, n, maxBlocks, true, s);
  else launchVec<From, To, kWide>(in, out, n, maxBlocks, alignedFor<From, To, kWide>(in, out), s);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchCast(const void* in, DType from, void* out, DType to, int64_t n, int maxBlocks, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  cudaError_t e = cudaErrorInvalidValue;
  dispatchDevice(from, [&](auto a) {
    using From = decltype(a);
    dispatchDevice(to, [&](auto b) {
      using To = decltype(b);
      e = launchCastT<From, To>(in, out, n, maxBlocks, s);
    });
  });
  return e;
}

}  // namespace kiln::cuda::eltwise
