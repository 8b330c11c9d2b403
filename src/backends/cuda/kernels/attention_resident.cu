// Attention for short key sequences (Skv <= 128) on tensor cores: the whole K and V of one
// (batch, head) resident in shared memory. float16/bfloat16, D == Dv in {32, 64}.
//
// Why a kernel of its own: at BERT's S = 128 the flash kernel (45 us a layer at BERT-base batch 64
// on H100; cuDNN 30 us) walks K/V in 64-key tiles, each behind a barrier, with a running rescale
// of the softmax. Here a block issues all of its loads at once (Q and K in one cp.async group, V
// in a second, so S = Q K^T starts while V is in flight) and takes the exact softmax over the
// whole row. ncu on the first version (H100, BERT-base batch 64) showed DRAM only 44% busy and
// the SMs issue-bound, not waiting on memory; a persistent double-buffered variant was slower
// still (42.6 vs 36.4 us). So the work per score is what this kernel minimizes:
//  - one FFMA per score for scale + mask (the mask staged per key in shared memory, -inf past
//    Skv, so no per-score bounds test), read once per column pair for both of a thread's rows;
//  - causal masking compiled in only where the layer is causal (a template parameter);
//  - ex2.approx.ftz (one MUFU op; exp2f adds denormal handling), P kept as packed halves;
//  - cp.async addresses advanced by a constant stride, not recomputed per 16-byte chunk.
//
// A block of 4 warps owns 64 query rows; each warp owns 16 and keeps S (16 x 128, float) in
// registers: FFMA -> row max -> exp2 -> P as the A operand of O = P V (the C fragments of two
// 8-key tiles are the A fragment of one 16-key step). O / l is staged through the warp's own rows
// of the Q tile so every store is a 16-byte row chunk. K/V rows past Skv are zero-filled (a zero
// P times a zero V; never NaN garbage). A row whose keys are all masked gives zeros, as in the
// flash kernel. Four blocks share an SM (46 KB of shared memory at D = 64, <= 128 registers).
#include "backends/cuda/kernels/attention_common.cuh"
#include "backends/cuda/kernels/attention_mma.cuh"
#include "backends/cuda/kernels/attention_softmax.cuh"
#include "backends/cuda/kernels/pdl.cuh"

namespace kiln::cuda {

namespace {

using namespace attn;

constexpr int kRows = 64;      // query rows per block
constexpr int kMaxKeys = 128;  // keys held in shared memory
constexpr int kThreads = 128;

// Rows [r0, r0 + N) of a [rows, D] matrix (row stride `stride` elements) into smem rows of LD;
// rows at or past `rows` are zero-filled (kAll: the caller knows every row exists). Each thread
// copies one 16-byte column chunk of every (kThreads / chunks)-th row, in a loop of fixed trip
// count and with row counts in 32 bits: the runtime-bounded 64-bit loop this replaces compiled
// to a fifth of the kernel's instructions.
template <typename T, int D, int LD, int N, bool kAll = false>
__device__ __forceinline__ void loadRows(T* s, const T* g, int64_t stride, int64_t r0, int64_t rows) {
  constexpr int kChunks = D / 8;                  // 16-byte chunks per row
  constexpr int kRowStep = kThreads / kChunks;    // rows one pass covers
  static_assert(N % kRowStep == 0, "whole passes");
  const int cc = threadIdx.x % kChunks;
  const int r = threadIdx.x / kChunks;
  const T* src = g + (r0 + r) * stride + cc * 8;
  T* dst = s + r * LD + cc * 8;
  const int rowsLeft = kAll ? N : static_cast<int>(rows - r0 < N ? rows - r0 : N);
#pragma unroll
  for (int i = 0; i < N / kRowStep; ++i) {
    const bool ok = kAll || r + i * kRowStep < rowsLeft;
    cpAsync16(dst + i * kRowStep * LD, ok ? src + i * kRowStep * stride : g, ok);
  }
}

// kMask: 0 no mask; 1 a mask constant along the query axis ([B, 1, 1, S]), staged in shared
// memory; 2 any other mask, read per score.
// kFull: Skv == kMaxKeys (BERT's 128), so every 16-key step is whole and the loops carry no
// bounds tests. (With 32-bit block indices and fixed-count loads it cut the BERT instance from
// 2136 to 1448 SASS instructions.)
template <typename T, int D, int kMask, bool kCausal, bool kFull>
__global__ void __launch_bounds__(kThreads, 4) attentionResidentKernel(AttnParams p, int mBlocks) {
  constexpr int LD = D + 8;           // padded rows: fragment reads hit distinct banks
  constexpr int KS = D / 16;          // k steps of S = Q K^T
  constexpr int DN = D / 8;           // 8-wide column tiles of O
  constexpr int NT = kMaxKeys / 8;    // 8-wide column tiles of S
  __shared__ __align__(16) T sQ[kRows * LD];
  __shared__ __align__(16) T sK[kMaxKeys * LD];
  __shared__ __align__(16) T sV[kMaxKeys * LD];
  __shared__ __align__(8) float sMask[kMaxKeys];  // log2-domain additive mask of each key, -inf past Skv
  pdlWait();     // launched with PDL: no global access before the previous kernel is done
  pdlTrigger();  // the next kernel may launch once every block here has started

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  const BlockCoords bc = blockCoords(p, mBlocks);
  const int64_t b = bc.b, h = bc.h, kh = bc.kh;
  const int64_t m0 = static_cast<int64_t>(bc.mb) * kRows;
  const int skv = kFull ? kMaxKeys : static_cast<int>(p.Skv);
  const int keyRows = kFull ? kMaxKeys : (skv + 15) & ~15;  // keys in 16-key steps of P V (<= kMaxKeys)

  // K/V rows past Skv are zero-filled up to kMaxKeys (a zero P times a zero V; never NaN garbage).
  loadRows<T, D, LD, kRows>(sQ, static_cast<const T*>(p.q) + b * p.qB + h * p.qH, p.qS, m0, p.Sq);
  loadRows<T, D, LD, kMaxKeys, kFull>(sK, static_cast<const T*>(p.k) + b * p.kB + kh * p.kH, p.kS, 0, p.Skv);
  cpAsyncCommit();
  loadRows<T, D, LD, kMaxKeys, kFull>(sV, static_cast<const T*>(p.v) + b * p.vB + kh * p.vH, p.vS, 0, p.Skv);
  cpAsyncCommit();
  const int64_t mBase = p.maskKind == AttnMaskKind::kNone ? 0 : b * p.mB + h * p.mH;
  for (int c = threadIdx.x; c < kMaxKeys; c += kThreads) {
    float m = c < skv ? 0.0f : -INFINITY;
    if constexpr (kMask == 1) {
      if (c < skv) m = maskAt(p, mBase, 0, c) * kLog2e;
    }
    sMask[c] = m;
  }
  cpAsyncWait<1>();  // Q and K have landed
  __syncthreads();

  // S = Q K^T; Q's fragments are read per k step rather than held for all of them (registers).
  T* qRows = sQ + warp * 16 * LD;  // this warp's 16 query rows (later its output staging)
  float s[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
  // The lane's ldmatrix row of each 16-key pair (mmaKeyPair, attention_mma.cuh).
  const T* kLane = sK + ((lane >> 4) * 8 + (lane & 7)) * LD + ((lane >> 3) & 1) * 8;
#pragma unroll
  for (int ks = 0; ks < KS; ++ks) {
    const uint32_t qf[4] = {ld32(qRows + g * LD + ks * 16 + 2 * t), ld32(qRows + (g + 8) * LD + ks * 16 + 2 * t),
                            ld32(qRows + g * LD + ks * 16 + 2 * t + 8), ld32(qRows + (g + 8) * LD + ks * 16 + 2 * t + 8)};
#pragma unroll
    for (int j = 0; j < NT; j += 2) {
      if (j * 8 >= keyRows) break;
      mmaKeyPair(s[j], s[j + 1], qf, kLane + j * 8 * LD + ks * 16);
    }
  }

  // The softmax of the warp's 16 rows: P as the A fragments of P V, and the row sums.
  static_assert(NT == 16, "softmaxRows holds 128 keys");
  const int rowA = static_cast<int>(m0) + warp * 16 + g;  // and rowA + 8
  uint32_t pf[NT / 2][4];
  float lRow[2];
  softmaxRows<T, kMask, kCausal>(s, sMask, p, mBase, rowA, skv, t, pf, lRow);

  float o[DN][4];
#pragma unroll
  for (int dn = 0; dn < DN; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  cpAsyncWait<0>();  // V has landed
  __syncthreads();
#pragma unroll
  for (int kk = 0; kk < kMaxKeys / 16; ++kk) {
    if (kk * 16 >= keyRows) break;
    const T* vLane = sV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8;
#pragma unroll
    for (int dn = 0; dn < DN; dn += 2) {
      mmaValuePair(o[dn], o[dn + 1], pf[kk], vLane + dn * 8);
    }
  }

  // O / l into the warp's own Q rows (no other warp reads them), then 16-byte row chunks out.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float inv = lRow[r] > 0.0f ? 1.0f / lRow[r] : 0.0f;
    T* dst = qRows + (g + 8 * r) * LD + 2 * t;
#pragma unroll
    for (int dn = 0; dn < DN; ++dn)
      *reinterpret_cast<uint32_t*>(dst + dn * 8) = packF<T>(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
  }
  __syncwarp();
  T* Y = static_cast<T*>(p.y) + b * p.yB + h * p.yH;
  constexpr int kChunks = D / 8;
#pragma unroll
  for (int c = lane; c < 16 * kChunks; c += 32) {
    const int r = c / kChunks, cc = c % kChunks;
    const int64_t row = m0 + warp * 16 + r;
    if (row < p.Sq)
      *reinterpret_cast<uint4*>(Y + row * p.yS + cc * 8) = *reinterpret_cast<const uint4*>(qRows + r * LD + cc * 8);
  }
}

template <typename T, int D, int kMask>
cudaError_t launchSized(const AttnParams& p, dim3 grid, int mBlocks, cudaStream_t stream) {
  const bool full = p.Skv == kMaxKeys;
  auto launch = [&](auto kernel) { return launchMaybePdl(kernel, grid, kThreads, 0, stream, p.pdl, p, mBlocks); };
  if (p.causal && full) return launch(attentionResidentKernel<T, D, kMask, true, true>);
  if (p.causal) return launch(attentionResidentKernel<T, D, kMask, true, false>);
  if (full) return launch(attentionResidentKernel<T, D, kMask, false, true>);
  return launch(attentionResidentKernel<T, D, kMask, false, false>);
}

template <typename T, int kMask>
cudaError_t launchMasked(const AttnParams& p, cudaStream_t stream) {
  dim3 grid;
  int mb = 0;
  if (cudaError_t e = blockGrid(p, kRows, &grid, &mb); e != cudaSuccess || grid.x == 0) return e;
  switch (p.D) {
    case 32: return launchSized<T, 32, kMask>(p, grid, mb, stream);
    case 64: return launchSized<T, 64, kMask>(p, grid, mb, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T>
cudaError_t launchTyped(const AttnParams& p, cudaStream_t stream) {
  return dispatchMaskKind(p, [&](auto mask) { return launchMasked<T, decltype(mask)::value>(p, stream); });
}

}  // namespace

bool attentionResidentHandles(const AttnParams& p, DType t) {
  return attentionFlashHandles(p, t) && (p.D == 32 || p.D == 64) && p.Skv <= kMaxKeys;
}

cudaError_t launchAttentionResident(const AttnParams& p, DType t, cudaStream_t stream) {
  if (!attentionResidentHandles(p, t)) return cudaErrorInvalidValue;
  if (p.Sq == 0 || p.B == 0 || p.Hq == 0) return cudaSuccess;
  return t == DType::kFloat16 ? launchTyped<__half>(p, stream) : launchTyped<__nv_bfloat16>(p, stream);
}

}  // namespace kiln::cuda
