// Dropout in training mode with a seed, bit-compatible with the CPU reference (and numpy): an
// mt19937 stream seeded with `seed`, two 32-bit draws per element combined into a double in
// [0, 1) as numpy's random_sample does, keep = u >= ratio, y = keep * x * 1 / (1 - ratio).
// mt19937 is sequential by definition; one block of 624 threads regenerates the state (the twist
// in four dependency-free phases) and tempers 624 draws at a time, i.e. 312 elements per round.
#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/eltwise_launch.h"

namespace kiln::cuda::eltwise {

namespace {

constexpr int kN = 624, kM = 397;

__device__ __forceinline__ uint32_t twistOne(uint32_t cur, uint32_t next, uint32_t far) {
  const uint32_t y = (cur & 0x80000000u) | (next & 0x7fffffffu);
  return far ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
}

__device__ __forceinline__ uint32_t temper(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

template <typename T>
__global__ void __launch_bounds__(kN) dropoutTrainKernel(const T* __restrict__ x, T* __restrict__ y,
                                                          bool* __restrict__ mask, int64_t n, uint32_t seed,
                                                          double ratio) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  __shared__ uint32_t mt[kN];
  __shared__ uint32_t out[kN];
  const int t = threadIdx.x;
  if (t == 0) {
    mt[0] = seed;
    for (int i = 1; i < kN; ++i) mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + static_cast<uint32_t>(i);
  }
  __syncthreads();
  const C scale = C(1) / (C(1) - static_cast<C>(ratio));
  for (int64_t base = 0; base < n; base += kN / 2) {
    // The twist: element i reads mt[i+1] before it is rewritten and mt[i+397 mod 624] after
    // (for i >= 227); phases [0,227) [227,454) [454,623) [623] only read finished phases.
    const int bounds[5] = {0, 227, 454, 623, 624};
    for (int ph = 0; ph < 4; ++ph) {
      uint32_t v = 0;
      const bool mine = t >= bounds[ph] && t < bounds[ph + 1];
      if (mine) v = twistOne(mt[t], mt[(t + 1) % kN], mt[(t + kM) % kN]);
      __syncthreads();
      if (mine) mt[t] = v;
      __syncthreads();
    }
    out[t] = temper(mt[t]);
    __syncthreads();
    if (t < kN / 2) {
      const int64_t i = base + t;
      if (i < n) {
        const uint32_t a = out[2 * t] >> 5, b = out[2 * t + 1] >> 6;
        const double u = (a * 67108864.0 + b) / 9007199254740992.0;
        const bool keep = u >= ratio;
        if (mask) mask[i] = keep;
        y[i] = convertTo<T>(static_cast<C>(keep) * convertTo<C>(x[i]) * scale);
      }
    }
    __syncthreads();
  }
}

}  // namespace

cudaError_t launchDropoutTrain(const void* x, DType t, void* y, bool* mask, int64_t n, uint32_t seed, double ratio,
                               cudaStream_t s) {
  switch (t) {
    case DType::kFloat32:
      dropoutTrainKernel<float><<<1, kN, 0, s>>>(static_cast<const float*>(x), static_cast<float*>(y), mask, n, seed, ratio);
      break;
    case DType::kFloat64:
      dropoutTrainKernel<double><<<1, kN, 0, s>>>(static_cast<const double*>(x), static_cast<double*>(y), mask, n, seed, ratio);
      break;
    case DType::kFloat16:
      dropoutTrainKernel<__half><<<1, kN, 0, s>>>(static_cast<const __half*>(x), static_cast<__half*>(y), mask, n, seed, ratio);
      break;
    case DType::kBFloat16:
      dropoutTrainKernel<__nv_bfloat16><<<1, kN, 0, s>>>(static_cast<const __nv_bfloat16*>(x),
                                                         static_cast<__nv_bfloat16*>(y), mask, n, seed, ratio);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda::eltwise
