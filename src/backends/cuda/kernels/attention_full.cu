// The full ONNX Attention kernel of the generic tactic: past keys/values, qk_matmul_output (modes
// 0-3), softcap, sliding windows, nonpad_kv_seqlen, masks of any numeric type and
// softmax_precision. It follows the CPU reference (backends/cpu/kernels/attention.cc) step by step,
//   s = (Q sqrt(scale)) . (K sqrt(scale))                    qk mode 0
//   s = softcap * tanh(s / softcap)                           qk mode 1
//   s = s + bias (mask; causal, window, nonpad: -inf)         qk mode 2
//   P = softmax(s), rows whose bias is all -inf: 0            qk mode 3
//   Y = P V
// rounding float16/bfloat16 intermediates to the I/O type (and the softmax to softmax_precision)
// where the reference rounds them, so results differ from it only by the order of float sums.
//
// One warp per query row. The reference rounds each exponential and probability against the
// row's final max and sum, so the softmax takes three passes over the keys (max; sum; P and P V);
// the first kRowCache scores of a row stay in shared memory between passes and later ones are
// recomputed (the same code, so the same bits). Lane j handles key j of each chunk of 32; for
// P V a lane owns output dims lane, lane + 32, ...
#include <type_traits>

#include "backends/cuda/kernels/attention_common.cuh"
#include "backends/cuda/kernels/cuda_common.cuh"

namespace kiln::cuda {

bool attentionNeedsFull(const AttnParams& p) {
  return p.Tp > 0 || p.qk || p.softcap > 0.0f || p.left >= 0 || p.right >= 0 || p.nonpad ||
         static_cast<int>(p.maskKind) > static_cast<int>(AttnMaskKind::kBFloat16) ||
         (p.roundSoftmax != AttnRound::kNone && p.roundSoftmax != p.roundStorage);
}

namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = static_cast<int>(kAttnGenericMaxHead / 32);
constexpr int kRowCache = 1024;

__device__ __forceinline__ float roundTo(float x, AttnRound r) {
  switch (r) {
    case AttnRound::kHalf: return __half2float(__float2half_rn(x));
    case AttnRound::kBFloat16: return __bfloat162float(__float2bfloat16_rn(x));
    default: return x;
  }
}

// Mask element `off` converted to float like the reference's convertMask (bool: 0 / -inf).
__device__ __forceinline__ float maskValue(const AttnParams& p, int64_t off) {
  const void* m = p.mask;
  switch (p.maskKind) {
    case AttnMaskKind::kBool: return static_cast<const bool*>(m)[off] ? 0.0f : -INFINITY;
    case AttnMaskKind::kFloat32: return static_cast<const float*>(m)[off];
    case AttnMaskKind::kFloat16: return __half2float(static_cast<const __half*>(m)[off]);
    case AttnMaskKind::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(m)[off]);
    case AttnMaskKind::kFloat64: return static_cast<float>(static_cast<const double*>(m)[off]);
    case AttnMaskKind::kInt8: return static_cast<float>(static_cast<const int8_t*>(m)[off]);
    case AttnMaskKind::kUInt8: return static_cast<float>(static_cast<const uint8_t*>(m)[off]);
    case AttnMaskKind::kInt16: return static_cast<float>(static_cast<const int16_t*>(m)[off]);
    case AttnMaskKind::kUInt16: return static_cast<float>(static_cast<const uint16_t*>(m)[off]);
    case AttnMaskKind::kInt32: return static_cast<float>(static_cast<const int32_t*>(m)[off]);
    case AttnMaskKind::kUInt32: return static_cast<float>(static_cast<const uint32_t*>(m)[off]);
    case AttnMaskKind::kInt64: return static_cast<float>(static_cast<const int64_t*>(m)[off]);
    case AttnMaskKind::kUInt64: return static_cast<float>(static_cast<const uint64_t*>(m)[off]);
    default: return 0.0f;
  }
}

// One query row's view of the problem: where its K/V rows live and how its scores are formed.
template <typename T>
struct RowCtx {
  const AttnParams& p;
  const float* q;         // the row of Q in shared memory (scaled and rounded for 16-bit types)
  const T* kPast;         // past keys of this (batch, kv head), or null
  const T* kCur;          // new keys of this (batch, kv head)
  int64_t i, mBase, pos;  // query index, mask offset, causal/window frontier (keys j > pos are future)
  int64_t valid;          // nonpad_kv_seqlen of this batch: keys j >= valid are padding
  bool anyBias;
  T* qk;                  // this row of qk_matmul_output, or null

  // The score of key j after the bias (what the softmax sees), writing qk modes 0-2 when asked;
  // *masked: the bias of key j is -inf.
  __device__ float score(int64_t j, bool writeQk, bool* masked) const {
    const AttnRound rs = p.roundStorage;
    const bool narrow = rs != AttnRound::kNone;
    const T* kr = j < p.Tp ? kPast + j * p.D : kCur + (j - p.Tp) * p.kS;
    float dot = 0.0f;
    // float: Q K^T, then the scale (the reference's float path); 16-bit types: K scaled and
    // rounded like Q, the product rounded.
    if (narrow) {
      for (int64_t d = 0; d < p.D; ++d) dot += q[d] * roundTo(attn::toF(kr[d]) * p.sqrtScale, rs);
    } else {
      for (int64_t d = 0; d < p.D; ++d) dot += q[d] * attn::toF(kr[d]);
    }
    float s = narrow ? roundTo(dot, rs) : dot * p.scale;
    if (writeQk && p.qkMode == 0) qk[j] = attn::fromF<T>(s);
    if (p.softcap > 0.0f)
      s = roundTo(roundTo(tanhf(roundTo(s / p.softcap, rs)), rs) * p.softcap, rs);
    if (writeQk && p.qkMode == 1) qk[j] = attn::fromF<T>(s);
    float bias = 0.0f;
    if (anyBias) {
      // The reference's BiasPlan::fill: the mask (padded with -inf past its last dim), then -inf
      // added for each frontier that masks j (so a +inf mask value turns NaN there, as there).
      if (p.maskKind != AttnMaskKind::kNone)
        bias = j < p.maskLen ? roundTo(maskValue(p, mBase + i * p.mS + j * p.mJ), rs) : -INFINITY;
      if (p.causal && j > pos) bias += -INFINITY;
      if (p.left >= 0 && j < pos - p.left) bias += -INFINITY;
      if (p.right >= 0 && j > pos + p.right) bias += -INFINITY;
      if (p.nonpad && j >= valid) bias += -INFINITY;
      s = roundTo(s + bias, rs);
    }
    if (writeQk && p.qkMode == 2) qk[j] = attn::fromF<T>(s);
    *masked = bias == -INFINITY;
    return roundTo(s, p.roundSoftmax);
  }
};

// __grid_constant__: RowCtx refers to p, which then needs no per-thread copy.
template <typename T>
__global__ void __launch_bounds__(kWarps * 32) attentionFullKernel(const __grid_constant__ AttnParams p) {
  __shared__ float sQ[kWarps][kAttnGenericMaxHead];
  __shared__ float sS[kWarps][kRowCache];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t w = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (w >= p.B * p.Hq * p.Sq) return;  // no block-wide barrier below: whole warps leave together
  const int64_t i = w % p.Sq, bh = w / p.Sq;
  const int64_t h = bh % p.Hq, b = bh / p.Hq;
  const int64_t kh = h / (p.Hq / p.Hkv);  // query heads [kh * group, (kh + 1) * group) share kv head kh
  const int64_t nKeys = p.Tp + p.Skv;
  const AttnRound rs = p.roundStorage, rsm = p.roundSoftmax;

  const T* qRow = static_cast<const T*>(p.q) + b * p.qB + h * p.qH + i * p.qS;
  for (int64_t d = lane; d < p.D; d += 32) {
    const float x = attn::toF(qRow[d]);
    sQ[warp][d] = rs != AttnRound::kNone ? roundTo(x * p.sqrtScale, rs) : x;
  }
  __syncwarp();

  RowCtx<T> row{p, sQ[warp]};
  const int64_t kvRow = b * p.Hkv + kh;
  row.kPast = p.pastK ? static_cast<const T*>(p.pastK) + kvRow * p.Tp * p.D : nullptr;
  row.kCur = static_cast<const T*>(p.k) + b * p.kB + kh * p.kH;
  row.i = i;
  row.mBase = p.maskKind == AttnMaskKind::kNone ? 0 : b * p.mB + h * p.mH;
  // The frontier's offset: nonpad_kv_seqlen - Sq (clamped like the reference, so i + offset stays
  // exact for absurd values), else the past length.
  const int64_t lim = int64_t(1) << 40;
  const int64_t np = p.nonpad ? p.nonpad[b] : 0;
  row.pos = i + (p.nonpad ? (np < -lim ? -lim : np > lim ? lim : np) - p.Sq : p.Tp);
  row.valid = np;
  row.anyBias = p.maskKind != AttnMaskKind::kNone || p.causal || p.left >= 0 || p.right >= 0 || p.nonpad;
  row.qk = p.qk ? static_cast<T*>(p.qk) + ((b * p.Hq + h) * p.Sq + i) * nKeys : nullptr;
  float* cache = sS[warp];

  // Pass 1: scores (qk modes 0-2 written here), the row max (NaN if any score is NaN) and
  // whether the bias masks every key.
  float m = -INFINITY;
  bool nan = false, allMasked = true;
  for (int64_t j0 = 0; j0 < nKeys; j0 += 32) {
    const int64_t j = j0 + lane;
    if (j >= nKeys) continue;
    bool masked;
    const float x = row.score(j, row.qk != nullptr, &masked);
    if (j < kRowCache) cache[j] = x;
    nan |= isnan(x);
    m = fmaxf(m, x);
    allMasked &= masked;
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  nan = __any_sync(0xffffffffu, nan);
  allMasked = row.anyBias && __all_sync(0xffffffffu, allMasked);
  if (nan) m = NAN;
  __syncwarp();  // cache writes visible to the lanes that read them below
  // A row of -inf scores, or one the bias masks entirely, gives P = 0 (the reference's guard).
  const bool zeroRow = allMasked || m == -INFINITY;

  auto scoreAt = [&](int64_t j) {
    bool masked;
    return j < kRowCache ? cache[j] : row.score(j, false, &masked);
  };
  auto expAt = [&](int64_t j) { return roundTo(expf(roundTo(scoreAt(j) - m, rsm)), rsm); };

  // Pass 2: the sum of the exponentials, rounded like the reference (0 -> 1).
  float sum = 0.0f;
  if (!zeroRow) {
    for (int64_t j = lane; j < nKeys; j += 32) sum += expAt(j);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    sum = roundTo(sum, rsm);
    if (sum == 0.0f) sum = 1.0f;
  }

  // Pass 3: P (rounded to the softmax type, then the I/O type; qk mode 3) and Y = P V.
  float o[kPerLane];
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) o[u] = 0.0f;
  const T* vPast = p.pastV ? static_cast<const T*>(p.pastV) + kvRow * p.Tp * p.Dv : nullptr;
  const T* vCur = static_cast<const T*>(p.v) + b * p.vB + kh * p.vH;
  for (int64_t j0 = 0; j0 < nKeys; j0 += 32) {
    const int64_t j = j0 + lane;
    float pj = 0.0f;
    if (j < nKeys) {
      if (!zeroRow) pj = roundTo(roundTo(expAt(j) / sum, rsm), rs);
      if (row.qk && p.qkMode == 3) row.qk[j] = attn::fromF<T>(pj);
    }
    const int n = static_cast<int>(nKeys - j0 < 32 ? nKeys - j0 : 32);
    for (int jj = 0; jj < n; ++jj) {
      const float pv = __shfl_sync(0xffffffffu, pj, jj);
      const int64_t key = j0 + jj;
      const T* vr = key < p.Tp ? vPast + key * p.Dv : vCur + (key - p.Tp) * p.vS;
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) {
        const int64_t d = lane + 32 * u;
        if (d < p.Dv) o[u] += pv * attn::toF(vr[d]);
      }
    }
  }
  T* y = static_cast<T*>(p.y) + b * p.yB + h * p.yH + i * p.yS;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int64_t d = lane + 32 * u;
    if (d < p.Dv) y[d] = attn::fromF<T>(o[u]);
  }
}

// present[b, h, t, :] = t < Tp ? past[b, h, t, :] : cur[b, h, t - Tp, :] (cur through its
// strides: 3-D inputs are unpacked here). E: the element's bits; a copy converts nothing.
template <typename E>
__global__ void presentKernel(E* dst, const E* past, const E* cur, int64_t Hkv, int64_t Tp, int64_t T, int64_t d,
                              int64_t cB, int64_t cH, int64_t cS, int64_t n) {
  KILN_GRID_STRIDE_LOOP(idx, n) {
    const int64_t e = idx % d, r = idx / d;
    const int64_t t = r % T, bh = r / T;
    const int64_t h = bh % Hkv, b = bh / Hkv;
    dst[idx] = t < Tp ? past[(bh * Tp + t) * d + e] : cur[b * cB + h * cH + (t - Tp) * cS + e];
  }
}

template <typename E>
cudaError_t launchPresent(void* dst, const void* past, const void* cur, const AttnParams& p, int64_t d, int64_t cB,
                          int64_t cH, int64_t cS, cudaStream_t stream) {
  const int64_t T = p.Tp + p.Skv, n = p.B * p.Hkv * T * d;
  if (n == 0) return cudaSuccess;
  presentKernel<E><<<blocksFor(n), kThreads, 0, stream>>>(static_cast<E*>(dst), static_cast<const E*>(past),
                                                         static_cast<const E*>(cur), p.Hkv, p.Tp, T, d, cB, cH, cS, n);
  return cudaGetLastError();
}

template <typename E>
cudaError_t launchPresentBoth(const AttnParams& p, cudaStream_t stream) {
  if (p.presentK) {
    const cudaError_t e = launchPresent<E>(p.presentK, p.pastK, p.k, p, p.D, p.kB, p.kH, p.kS, stream);
    if (e != cudaSuccess) return e;
  }
  if (p.presentV) return launchPresent<E>(p.presentV, p.pastV, p.v, p, p.Dv, p.vB, p.vH, p.vS, stream);
  return cudaSuccess;
}

}  // namespace

cudaError_t launchAttentionFull(const AttnParams& p, DType t, cudaStream_t stream) {
  if (p.D > kAttnGenericMaxHead || p.Dv > kAttnGenericMaxHead || p.Hkv <= 0 || p.Hq % p.Hkv != 0)
    return cudaErrorInvalidValue;
  const int64_t rows = p.B * p.Hq * p.Sq;
  if (rows == 0) return cudaSuccess;
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const dim3 grid(static_cast<unsigned>(blocks));
  switch (t) {
    case DType::kFloat32: attentionFullKernel<float><<<grid, kWarps * 32, 0, stream>>>(p); break;
    case DType::kFloat16: attentionFullKernel<__half><<<grid, kWarps * 32, 0, stream>>>(p); break;
    case DType::kBFloat16: attentionFullKernel<__nv_bfloat16><<<grid, kWarps * 32, 0, stream>>>(p); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launchAttentionPresent(const AttnParams& p, DType t, cudaStream_t stream) {
  switch (t) {
    case DType::kFloat32: return launchPresentBoth<uint32_t>(p, stream);
    case DType::kFloat16:
    case DType::kBFloat16: return launchPresentBoth<uint16_t>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda
