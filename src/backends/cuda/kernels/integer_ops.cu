// Kernels of the ONNX integer matmul/conv family (see integer_launch.h for the contract):
//  - MatMulInteger / QLinearMatMul: a tiled GEMM, 64x64 output tile per 256-thread block (4x4 per
//    thread), K in steps of 16 through shared memory; operands are centered (value - zero point)
//    as int32 when loaded, so padding of partial tiles contributes exactly 0. Output batches go
//    over gridDim.z (grid-stride for very large batches).
//  - ConvInteger / QLinearConv: a direct convolution, one thread per output element; kernel taps
//    outer (bounds checked once), the group's input channels inner.
// Sums are exact int32 (accumulated as uint32, i.e. wrapping like the CPU's int32 GEMM), so any
// summation order gives the CPU's result and runs are deterministic. The requantizing epilogues
// use explicitly rounded float/double operations (__fmul_rn, __dadd_rn...) so nvcc cannot fuse
// them into FMAs that the host reference does not use.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>

#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/integer_launch.h"

namespace kiln::cuda::integer {

namespace {

// ---- shared helpers -------------------------------------------------------------------------------

// Calls f(T{}) for the 8-bit integer type t; false for any other type.
template <typename F>
bool dispatch8(DType t, F&& f) {
  if (t == DType::kInt8) {
    f(int8_t{});
    return true;
  }
  if (t == DType::kUInt8) {
    f(uint8_t{});
    return true;
  }
  return false;
}

// Calls f(T{}) for the output type t: int32, int8 or uint8.
template <typename F>
bool dispatchOut(DType t, F&& f) {
  if (t == DType::kInt32) {
    f(int32_t{});
    return true;
  }
  return dispatch8(t, f);
}

bool isScaleType(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }
bool is8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

// Element idx of a float32/float16/bfloat16 tensor as float (exact widening).
__device__ __forceinline__ float loadScale(const void* p, DType t, int64_t idx) {
  if (t == DType::kFloat16) return __half2float(static_cast<const __half*>(p)[idx]);
  if (t == DType::kBFloat16) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[idx]);
  return static_cast<const float*>(p)[idx];
}

// v rounded to the scale type t (nearest even) and widened back, like convertValue<S>(v).
__device__ __forceinline__ float roundToScale(float v, DType t) {
  if (t == DType::kFloat16) return __half2float(__float2half_rn(v));
  if (t == DType::kBFloat16) return __bfloat162float(__float2bfloat16_rn(v));
  return v;
}

__device__ __forceinline__ float loadZp8(const void* p, DType t, int64_t idx) {
  if (t == DType::kInt8) return static_cast<float>(static_cast<const int8_t*>(p)[idx]);
  return static_cast<float>(static_cast<const uint8_t*>(p)[idx]);
}

// std::nearbyint, then the CPU's clamp (std::max / std::min on doubles), then the cast.
template <typename Q>
__device__ __forceinline__ Q saturateRound(double v) {
  double r = rint(v);
  const double lo = static_cast<double>(std::numeric_limits<Q>::lowest());
  const double hi = static_cast<double>(std::numeric_limits<Q>::max());
  r = r < lo ? lo : r;
  r = hi < r ? hi : r;
  return static_cast<Q>(r);
}

// ---- GEMM -----------------------------------------------------------------------------------------

constexpr int kBM = 64, kBN = 64, kBK = 16;
constexpr int kGemmThreads = 256;  // 16 x 16, each 4 x 4 outputs
constexpr int kMaxGridZ = 65535;

template <typename TA, typename TB, typename TY>
__global__ void __launch_bounds__(kGemmThreads) intGemmKernel(const MatMulIntArgs p) {
  __shared__ int32_t As[kBK][kBM + 1];  // As[k][row]
  __shared__ int32_t Bs[kBK][kBN];      // Bs[k][col]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t M = p.M, N = p.N, K = p.K;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBM, col0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const TA* aZp = static_cast<const TA*>(p.aZp);
  const TB* bZp = static_cast<const TB*>(p.bZp);
  for (int64_t t = blockIdx.z; t < p.batch; t += gridDim.z) {
    int64_t ia = 0, ib = 0, rest = t;
    for (int d = p.batchRank - 1; d >= 0; --d) {
      const int64_t idx = rest % p.outBatch[d];
      rest /= p.outBatch[d];
      ia += idx * p.aStr[d];
      ib += idx * p.bStr[d];
    }
    const TA* A = static_cast<const TA*>(p.a) + ia * M * K;
    const TB* B = static_cast<const TB*>(p.b) + ib * K * N;
    uint32_t acc[4][4] = {};
    for (int64_t k0 = 0; k0 < K; k0 += kBK) {
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int e = tid + kGemmThreads * q;
        {  // A tile: 64 rows x 16 k, coalesced along k
          const int r = e / kBK, kk = e % kBK;
          const int64_t gr = row0 + r, gk = k0 + kk;
          int32_t v = 0;
          if (gr < M && gk < K) {
            v = static_cast<int32_t>(A[gr * K + gk]);
            if (aZp) v -= static_cast<int32_t>(aZp[p.aZpCount == 1 ? 0 : gr]);
          }
          As[kk][r] = v;
        }
        {  // B tile: 16 k x 64 columns, coalesced along columns
          const int kk = e / kBN, c = e % kBN;
          const int64_t gk = k0 + kk, gc = col0 + c;
          int32_t v = 0;
          if (gk < K && gc < N) {
            v = static_cast<int32_t>(B[gk * N + gc]);
            if (bZp) v -= static_cast<int32_t>(bZp[p.bZpCount == 1 ? 0 : gc]);
          }
          Bs[kk][c] = v;
        }
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kBK; ++kk) {
        int32_t av[4], bv[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] += static_cast<uint32_t>(av[i] * bv[j]);
      }
      __syncthreads();
    }
    TY* Y = static_cast<TY*>(p.y) + t * M * N;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t r = row0 + ty + 16 * i;
      if (r >= M) continue;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t c = col0 + tx + 16 * j;
        if (c >= N) continue;
        const int32_t sum = static_cast<int32_t>(acc[i][j]);
        if constexpr (std::is_same_v<TY, int32_t>) {
          Y[r * N + c] = sum;
        } else {
          // factor(i, j) of the CPU reference: S(S(a_scale * b_scale) / y_scale), in float.
          const float as = loadScale(p.aScale, p.aScaleType, p.aScaleCount == 1 ? 0 : r);
          const float bs = loadScale(p.bScale, p.bScaleType, p.bScaleCount == 1 ? 0 : c);
          const float ys = loadScale(p.yScale, p.yScaleType, p.yScaleCount == 1 ? 0 : r);
          const float prod = roundToScale(__fmul_rn(as, bs), p.aScaleType);
          const float f = roundToScale(__fdiv_rn(prod, ys), p.aScaleType);
          const double zp = static_cast<double>(loadZp8(p.yZp, p.yZpType, p.yZpCount == 1 ? 0 : r));
          const double v = __dadd_rn(__dmul_rn(static_cast<double>(sum), static_cast<double>(f)), zp);
          Y[r * N + c] = saturateRound<TY>(v);
        }
      }
    }
  }
}

// ---- direct convolution -----------------------------------------------------------------------------

template <typename TX, typename TW, typename TY>
__global__ void __launch_bounds__(kThreads) convIntKernel(const ConvIntArgs p, int64_t total, int64_t osz,
                                                          int64_t isz, int64_t ksz) {
  const int nd = p.nd;
  const int64_t cg = p.inC / p.group, mg = p.outC / p.group;
  const TX* xZp = static_cast<const TX*>(p.xZp);
  const TW* wZp = static_cast<const TW*>(p.wZp);
  const int32_t xz = xZp ? static_cast<int32_t>(xZp[0]) : 0;
  KILN_GRID_STRIDE_LOOP(e, total) {
    int64_t o = e % osz;
    const int64_t nm = e / osz, m = nm % p.outC, n = nm / p.outC;
    int64_t base[kMaxConvDims], kk[kMaxConvDims];
    for (int d = nd - 1; d >= 0; --d) {
      base[d] = (o % p.out[d]) * p.stride[d] - p.padBegin[d];
      o /= p.out[d];
      kk[d] = 0;
    }
    const int32_t wz = wZp ? static_cast<int32_t>(wZp[p.wZpCount == 1 ? 0 : m]) : 0;
    const TX* xb = static_cast<const TX*>(p.x) + (n * p.inC + (m / mg) * cg) * isz;
    const TW* wb = static_cast<const TW*>(p.w) + m * cg * ksz;
    uint32_t acc = 0;
    for (int64_t k = 0; k < ksz; ++k) {
      bool valid = true;
      int64_t off = 0;
      for (int d = 0; d < nd; ++d) {
        const int64_t ii = base[d] + kk[d] * p.dilation[d];
        valid = valid && ii >= 0 && ii < p.in[d];
        off = off * p.in[d] + ii;
      }
      if (valid) {
        for (int64_t c = 0; c < cg; ++c) {
          const int32_t xv = static_cast<int32_t>(xb[c * isz + off]) - xz;
          const int32_t wv = static_cast<int32_t>(wb[c * ksz + k]) - wz;
          acc += static_cast<uint32_t>(xv * wv);
        }
      }
      for (int d = nd - 1; d >= 0; --d) {  // next tap (row-major over the kernel dims)
        if (++kk[d] < p.kernel[d]) break;
        kk[d] = 0;
      }
    }
    if (p.bias) acc += static_cast<uint32_t>(p.bias[m]);
    const int32_t sum = static_cast<int32_t>(acc);
    TY* Y = static_cast<TY*>(p.y);
    if constexpr (std::is_same_v<TY, int32_t>) {
      Y[e] = sum;
    } else {
      // The CPU's float multiplier x_scale * w_scale[m] / y_scale, applied in double.
      const float mult = __fdiv_rn(__fmul_rn(p.xScale[0], p.wScale[p.wScaleCount == 1 ? 0 : m]), p.yScale[0]);
      const double zp = static_cast<double>(static_cast<const TY*>(p.yZp)[0]);
      Y[e] = saturateRound<TY>(__dadd_rn(__dmul_rn(static_cast<double>(sum), static_cast<double>(mult)), zp));
    }
  }
}

}  // namespace

cudaError_t launchMatMulInteger(const MatMulIntArgs& a, cudaStream_t s) {
  if (!is8(a.aType) || !is8(a.bType) || a.batchRank < 0 || a.batchRank > kMaxBatchRank || a.M < 0 || a.N < 0 ||
      a.K < 0 || a.batch < 0)
    return cudaErrorInvalidValue;
  if (a.requant) {
    if (!is8(a.yType) || !is8(a.yZpType) || !isScaleType(a.aScaleType) || !isScaleType(a.bScaleType) ||
        !isScaleType(a.yScaleType) || !a.aScale || !a.bScale || !a.yScale || !a.yZp)
      return cudaErrorInvalidValue;
  } else if (a.yType != DType::kInt32) {
    return cudaErrorInvalidValue;
  }
  if (a.M == 0 || a.N == 0 || a.batch == 0) return cudaSuccess;
  const int64_t gx = (a.N + kBN - 1) / kBN, gy = (a.M + kBM - 1) / kBM;
  if (gx > 0x7FFFFFFF || gy > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
                  static_cast<unsigned>(a.batch < kMaxGridZ ? a.batch : kMaxGridZ));
  bool ok = false;
  dispatch8(a.aType, [&](auto ta) {
    dispatch8(a.bType, [&](auto tb) {
      dispatchOut(a.yType, [&](auto ty) {
        using TA = decltype(ta);
        using TB = decltype(tb);
        using TY = decltype(ty);
        intGemmKernel<TA, TB, TY><<<grid, kGemmThreads, 0, s>>>(a);
        ok = true;
      });
    });
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t launchConvInteger(const ConvIntArgs& a, cudaStream_t s) {
  if (!is8(a.xType) || !is8(a.wType) || a.nd < 1 || a.nd > kMaxConvDims || a.group < 1 || a.inC % a.group != 0 ||
      a.outC % a.group != 0)
    return cudaErrorInvalidValue;
  if (a.requant) {
    if (!is8(a.yType) || !a.xScale || !a.wScale || !a.yScale || !a.yZp) return cudaErrorInvalidValue;
  } else if (a.yType != DType::kInt32) {
    return cudaErrorInvalidValue;
  }
  int64_t osz = 1, isz = 1, ksz = 1;
  for (int d = 0; d < a.nd; ++d) {
    osz *= a.out[d];
    isz *= a.in[d];
    ksz *= a.kernel[d];
  }
  const int64_t total = a.batch * a.outC * osz;
  if (total == 0) return cudaSuccess;
  bool ok = false;
  dispatch8(a.xType, [&](auto tx) {
    dispatch8(a.wType, [&](auto tw) {
      dispatchOut(a.yType, [&](auto ty) {
        using TX = decltype(tx);
        using TW = decltype(tw);
        using TY = decltype(ty);
        convIntKernel<TX, TW, TY><<<blocksFor(total), kThreads, 0, s>>>(a, total, osz, isz, ksz);
        ok = true;
      });
    });
  });
  if (!ok) return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace kiln::cuda::integer
