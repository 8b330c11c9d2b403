// Generic attention kernels: a tiled one (launchAttentionGeneric) and one warp per query row
// (launchAttentionRowwise); online softmax in float, any head size up to
// kAttnGenericMaxHead, float32/float16/bfloat16. It is the simple, always-correct path (float32,
// odd head sizes, unaligned tensors); the tensor-core kernel in attention_flash.cu is the fast one,
// and runs with a KV cache, softcap, qk_matmul_output and the like go to attention_full.cu.
//
// Per row: keys are processed 32 at a time, one key per lane (the lane computes the full dot
// product), then the chunk's softmax update is applied and each lane accumulates its slice of the
// output (dims lane, lane + 32, ...) over the chunk's keys.
#include <type_traits>

#include "backends/cuda/kernels/attention_common.cuh"

namespace kiln::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = static_cast<int>(kAttnGenericMaxHead / 32);

template <typename T>
__global__ void __launch_bounds__(kWarps * 32) attentionGenericKernel(AttnParams p) {
  __shared__ float sq[kWarps][kAttnGenericMaxHead];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t w = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  const int64_t rows = p.B * p.Hq * p.Sq;
  if (w >= rows) return;  // no block-wide barrier below: whole warps leave together
  const int64_t i = w % p.Sq, bh = w / p.Sq;
  const int64_t h = bh % p.Hq, b = bh / p.Hq;
  const int64_t kh = h / (p.Hq / p.Hkv);
  const T* q = static_cast<const T*>(p.q) + b * p.qB + h * p.qH + i * p.qS;
  const T* k = static_cast<const T*>(p.k) + b * p.kB + kh * p.kH;
  const T* v = static_cast<const T*>(p.v) + b * p.vB + kh * p.vH;
  T* y = static_cast<T*>(p.y) + b * p.yB + h * p.yH + i * p.yS;
  const int64_t mBase = p.maskKind == AttnMaskKind::kNone ? 0 : b * p.mB + h * p.mH;

  for (int64_t d = lane; d < p.D; d += 32) sq[warp][d] = attn::toF(q[d]) * p.scale;
  __syncwarp();

  float o[kPerLane];
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) o[u] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  const int64_t jEnd = p.causal ? (i + 1 < p.Skv ? i + 1 : p.Skv) : p.Skv;
  for (int64_t j0 = 0; j0 < jEnd; j0 += 32) {
    const int64_t j = j0 + lane;
    float s = -INFINITY;
    if (j < jEnd) {
      const T* kr = k + j * p.kS;
      float dot = 0.0f;
      for (int64_t d = 0; d < p.D; ++d) dot += sq[warp][d] * attn::toF(kr[d]);
      s = dot;
      if (p.maskKind != AttnMaskKind::kNone) s += attn::maskAt(p, mBase, i, j);
    }
    float cmax = s;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, off));
    const float mNew = fmaxf(m, cmax);
    const float mUse = mNew == -INFINITY ? 0.0f : mNew;  // all masked so far: exp(-inf) = 0, no NaN
    const float alpha = exp2f((m - mUse) * attn::kLog2e);
    const float pj = exp2f((s - mUse) * attn::kLog2e);
    float psum = pj;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
    l = l * alpha + psum;
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) o[u] *= alpha;
    const int n = static_cast<int>(jEnd - j0 < 32 ? jEnd - j0 : 32);
    for (int jj = 0; jj < n; ++jj) {
      const float pv = __shfl_sync(0xffffffffu, pj, jj);
      const T* vr = v + (j0 + jj) * p.vS;
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) {
        const int64_t d = lane + 32 * u;
        if (d < p.Dv) o[u] += pv * attn::toF(vr[d]);
      }
    }
    m = mNew;
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int64_t d = lane + 32 * u;
    if (d < p.Dv) y[d] = attn::fromF<T>(o[u] * inv);
  }
}

// Tiled version for throughput: a block of 4 warps owns 32 query rows (8 per warp) of one
// (batch, head) and streams keys/values through shared memory 32 at a time, so each K/V element
// read from global memory serves 32 rows. Scores: lane j computes key j's dot product with the
// warp's 8 rows (K rows padded to D + 1 floats: lanes hit distinct banks). Output: lane owns dims
// lane, lane + 32, ... of its warp's 8 rows; P reaches it through shuffles (measured faster than
// staging it in shared memory).
constexpr int kTileRows = 32, kRowsPerWarp = 8, kTileKeys = 32;

size_t tiledSmemBytes(int64_t D, int64_t Dv) {
  return sizeof(float) * static_cast<size_t>(kTileRows * D + kTileKeys * (D + 1) + kTileKeys * Dv);
}

template <typename T>
__global__ void __launch_bounds__(kWarps * 32) attentionTiledKernel(AttnParams p, int mBlocks) {
  extern __shared__ float smem[];
  const int D = static_cast<int>(p.D), Dv = static_cast<int>(p.Dv);
  // sQ first: its float4 reads (used when D % 4 == 0) need 16-byte alignment.
  float* sQ = smem;                          // [kTileRows][D], pre-scaled
  float* sK = sQ + kTileRows * D;            // [kTileKeys][D + 1]
  float* sV = sK + kTileKeys * (D + 1);      // [kTileKeys][Dv]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const attn::BlockCoords bc = attn::blockCoords(p, mBlocks);
  const int64_t mb = bc.mb, b = bc.b, h = bc.h, kh = bc.kh;
  const T* Q = static_cast<const T*>(p.q) + b * p.qB + h * p.qH;
  const T* K = static_cast<const T*>(p.k) + b * p.kB + kh * p.kH;
  const T* V = static_cast<const T*>(p.v) + b * p.vB + kh * p.vH;
  T* Y = static_cast<T*>(p.y) + b * p.yB + h * p.yH;
  const int64_t m0 = mb * kTileRows;
  const int64_t mBase = p.maskKind == AttnMaskKind::kNone ? 0 : b * p.mB + h * p.mH;

  for (int e = threadIdx.x; e < kTileRows * D; e += blockDim.x) {
    const int r = e / D, d = e - r * D;
    sQ[e] = m0 + r < p.Sq ? attn::toF(Q[(m0 + r) * p.qS + d]) * p.scale : 0.0f;
  }
  float o[kRowsPerWarp][kPerLane];
  float m[kRowsPerWarp], l[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) o[r][u] = 0.0f;
  }
  const int64_t r0 = m0 + warp * kRowsPerWarp;  // this warp's first row
  const int64_t jEnd = p.causal ? (m0 + kTileRows < p.Skv ? m0 + kTileRows : p.Skv) : p.Skv;
  const float* q = sQ + warp * kRowsPerWarp * D;
  for (int64_t j0 = 0; j0 < jEnd; j0 += kTileKeys) {
    __syncthreads();  // previous chunk fully used (and sQ written, on the first pass)
    for (int e = threadIdx.x; e < kTileKeys * D; e += blockDim.x) {
      const int r = e / D, d = e - r * D;
      sK[r * (D + 1) + d] = j0 + r < p.Skv ? attn::toF(K[(j0 + r) * p.kS + d]) : 0.0f;
    }
    for (int e = threadIdx.x; e < kTileKeys * Dv; e += blockDim.x) {
      const int r = e / Dv, d = e - r * Dv;
      sV[e] = j0 + r < p.Skv ? attn::toF(V[(j0 + r) * p.vS + d]) : 0.0f;
    }
    __syncthreads();
    const int64_t j = j0 + lane;
    float s[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) s[r] = 0.0f;
    const float* kr = sK + lane * (D + 1);
    if (D % 4 == 0) {
      // q rows as float4 broadcasts: 4 dims of 8 rows per 8 vector loads + 4 K loads.
      for (int d = 0; d < D; d += 4) {
        const float k0 = kr[d], k1 = kr[d + 1], k2 = kr[d + 2], k3 = kr[d + 3];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          const float4 qv = *reinterpret_cast<const float4*>(q + r * D + d);
          s[r] += qv.x * k0 + qv.y * k1 + qv.z * k2 + qv.w * k3;
        }
      }
    } else {
      for (int d = 0; d < D; ++d) {
        const float kv = kr[d];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) s[r] += q[r * D + d] * kv;
      }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int64_t i = r0 + r;
      if (j >= jEnd || j >= p.Skv || (p.causal && j > i)) s[r] = -INFINITY;
      else if (p.maskKind != AttnMaskKind::kNone && i < p.Sq) s[r] += attn::maskAt(p, mBase, i, j);
      float cmax = s[r];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, off));
      const float mNew = fmaxf(m[r], cmax);
      const float mUse = mNew == -INFINITY ? 0.0f : mNew;
      const float alpha = exp2f((m[r] - mUse) * attn::kLog2e);
      s[r] = exp2f((s[r] - mUse) * attn::kLog2e);
      l[r] = l[r] * alpha + s[r];  // per-lane partial sum, reduced at the end
      m[r] = mNew;
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) o[r][u] *= alpha;
    }
    const int n = static_cast<int>(jEnd - j0 < kTileKeys ? jEnd - j0 : kTileKeys);
    for (int jj = 0; jj < n; ++jj) {
      float pr[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) pr[r] = __shfl_sync(0xffffffffu, s[r], jj);
      const float* vr = sV + jj * Dv;
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) {
        const int d = lane + 32 * u;
        if (d < Dv) {
          const float vv = vr[d];
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) o[r][u] += pr[r] * vv;
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    float lsum = l[r];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) lsum += __shfl_xor_sync(0xffffffffu, lsum, off);
    const int64_t i = r0 + r;
    if (i >= p.Sq) continue;
    const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
    T* yr = Y + i * p.yS;
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) {
      const int d = lane + 32 * u;
      if (d < Dv) yr[d] = attn::fromF<T>(o[r][u] * inv);
    }
  }
}

template <typename T>
cudaError_t launchTiled(const AttnParams& p, cudaStream_t stream) {
  const size_t smem = tiledSmemBytes(p.D, p.Dv);
  if (smem > 48 * 1024) {
    // Opt in to more than the default 48 KiB (not a stream operation: fine during graph capture).
    cudaError_t e = cudaFuncSetAttribute(attentionTiledKernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const int64_t mBlocks = (p.Sq + kTileRows - 1) / kTileRows;
  const int64_t blocks = mBlocks * p.Hq * p.B;
  if (blocks > 0x7fffffffLL || mBlocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  attentionTiledKernel<T><<<static_cast<unsigned>(blocks), kWarps * 32, smem, stream>>>(p, static_cast<int>(mBlocks));
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchAttentionGeneric(const AttnParams& p, DType t, cudaStream_t stream) {
  if (p.D > kAttnGenericMaxHead || p.Dv > kAttnGenericMaxHead || p.Hkv <= 0 || p.Hq % p.Hkv != 0)
    return cudaErrorInvalidValue;
  const int64_t rows = p.B * p.Hq * p.Sq;
  if (rows == 0 || p.Dv == 0) return cudaSuccess;
  switch (t) {
    case DType::kFloat32: return launchTiled<float>(p, stream);
    case DType::kFloat16: return launchTiled<__half>(p, stream);
    case DType::kBFloat16: return launchTiled<__nv_bfloat16>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

// The one-warp-per-row kernel: kept for cross-checking the tiled one (benchmarks, tests).
cudaError_t launchAttentionRowwise(const AttnParams& p, DType t, cudaStream_t stream) {
  if (p.D > kAttnGenericMaxHead || p.Dv > kAttnGenericMaxHead || p.Hkv <= 0 || p.Hq % p.Hkv != 0)
    return cudaErrorInvalidValue;
  const int64_t rows = p.B * p.Hq * p.Sq;
  if (rows == 0 || p.Dv == 0) return cudaSuccess;
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const dim3 grid(static_cast<unsigned>(blocks));
  switch (t) {
    case DType::kFloat32: attentionGenericKernel<float><<<grid, kWarps * 32, 0, stream>>>(p); break;
    case DType::kFloat16: attentionGenericKernel<__half><<<grid, kWarps * 32, 0, stream>>>(p); break;
    case DType::kBFloat16: attentionGenericKernel<__nv_bfloat16><<<grid, kWarps * 32, 0, stream>>>(p); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace kiln::cuda
