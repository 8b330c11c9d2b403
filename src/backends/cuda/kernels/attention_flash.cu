// Flash attention (forward) for float16/bfloat16 on tensor cores (mma.sync m16n8k16, float
// accumulation), head size D in {32, 64, 128} with Dv == D.
//
// A block of 4 warps owns 64 query rows of one (batch, head); each warp owns 16 rows and keeps
// their Q fragments, output accumulators and softmax statistics (running max m, partial sum l) in
// registers. Keys/values stream through shared memory in tiles of 64 rows, loaded with cp.async
// (out-of-range rows zero-filled) so the next K tile loads while the softmax runs and V loads while
// S = Q K^T is computed. Per tile: S (16 x 64 per warp) -> scale, mask, causal -> online softmax
// (exp2, rows whose keys are all masked so far use max 0 so no NaN appears) -> O += P V with P
// converted to the input type as the A operand. Finally O /= l (0 for a fully masked row).
// Masks: none, constant along the query axis (BERT's [B, 1, 1, S]: one value per key, staged in
// shared memory per tile) or general (read per score); a template parameter each, so the unmasked
// kernel carries no mask code (measured on H100: BERT-base S=128 batch 8 in 8.5 us).
//
// Fragment layouts: attention_mma.cuh.
// The C fragments of two adjacent 8-column tiles are exactly the A fragment of one 16-wide k step,
// which is how P feeds the second product without going through shared memory.
#include "backends/cuda/kernels/attention_common.cuh"
#include "backends/cuda/kernels/attention_mma.cuh"
#include "backends/cuda/kernels/pdl.cuh"

namespace kiln::cuda {

namespace {

using namespace attn;

constexpr int kBM = 64;  // query rows per block
constexpr int kBN = 64;  // keys per tile
constexpr int kThreadsFlash = 128;

// Rows [r0, r0 + 64) of a [rows, D] matrix (row stride `stride` elements) into smem rows of LD.
template <typename T, int D, int LD>
__device__ __forceinline__ void loadTile(T* s, const T* g, int64_t stride, int64_t r0, int64_t rows) {
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  for (int c = threadIdx.x; c < kBN * kChunks; c += kThreadsFlash) {
    const int r = c / kChunks, cc = c % kChunks;
    const bool ok = r0 + r < rows;
    const T* src = ok ? g + (r0 + r) * stride + cc * 8 : g;
    cpAsync16(s + r * LD + cc * 8, src, ok);
  }
}

// kMask: 0 no mask; 1 a mask constant along the query axis (BERT's [B, 1, 1, S]), staged per
// key tile in shared memory; 2 any other mask, read per score from global memory.
template <typename T, int D, int kMask>
__global__ void __launch_bounds__(kThreadsFlash) attentionFlashKernel(AttnParams p, int mBlocks) {
  constexpr int LD = D + 8;  // padded smem rows: fragment reads hit distinct banks
  constexpr int KS = D / 16;  // k steps of S = Q K^T
  constexpr int DN = D / 8;   // 8-wide column tiles of O
  constexpr int SN = kBN / 8; // 8-wide column tiles of S
  __shared__ __align__(16) T sK[kBN * LD];
  __shared__ __align__(16) T sV[kBN * LD];
  __shared__ float sMask[kBN];  // kMask == 1: the tile's mask values, log2 domain
  pdlWait();     // launched with PDL: no global access before the previous kernel is done
  pdlTrigger();  // the next kernel may launch once every block here has started

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  const BlockCoords bc = blockCoords(p, mBlocks);
  const int64_t mb = bc.mb, b = bc.b, h = bc.h, kh = bc.kh;
  const T* Q = static_cast<const T*>(p.q) + b * p.qB + h * p.qH;
  const T* K = static_cast<const T*>(p.k) + b * p.kB + kh * p.kH;
  const T* V = static_cast<const T*>(p.v) + b * p.vB + kh * p.vH;
  T* Y = static_cast<T*>(p.y) + b * p.yB + h * p.yH;
  const int64_t m0 = mb * kBM;
  const int64_t mBase = p.maskKind == AttnMaskKind::kNone ? 0 : b * p.mB + h * p.mH;

  // Q tile through sK into registers.
  loadTile<T, D, LD>(sK, Q, p.qS, m0, p.Sq);
  cpAsyncCommit();
  cpAsyncWait<0>();
  __syncthreads();
  uint32_t qf[KS][4];
  {
    const T* base = sK + warp * 16 * LD;
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      qf[ks][0] = ld32(base + g * LD + ks * 16 + 2 * t);
      qf[ks][1] = ld32(base + (g + 8) * LD + ks * 16 + 2 * t);
      qf[ks][2] = ld32(base + g * LD + ks * 16 + 2 * t + 8);
      qf[ks][3] = ld32(base + (g + 8) * LD + ks * 16 + 2 * t + 8);
    }
  }
  __syncthreads();

  float o[DN][4];
#pragma unroll
  for (int dn = 0; dn < DN; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  float mRow[2] = {-INFINITY, -INFINITY}, lRow[2] = {0.0f, 0.0f};
  const int64_t rowA = m0 + warp * 16 + g, rowB = rowA + 8;
  // 32-bit copies for the per-score checks (the host guarantees Sq, Skv < 2^31 - 128).
  const int rowA32 = static_cast<int>(rowA), rowB32 = static_cast<int>(rowB);
  const int sq = static_cast<int>(p.Sq), skv = static_cast<int>(p.Skv);
  // Causal: no row of this block sees keys at or past m0 + kBM.
  const int64_t nEnd = p.causal ? (m0 + kBM < p.Skv ? m0 + kBM : p.Skv) : p.Skv;
  const int nTiles = static_cast<int>((nEnd + kBN - 1) / kBN);
  const float scaleLog2 = p.scale * attn::kLog2e;

  if (nTiles > 0) loadTile<T, D, LD>(sK, K, p.kS, 0, p.Skv);
  cpAsyncCommit();
  for (int nt = 0; nt < nTiles; ++nt) {
    const int64_t n0 = static_cast<int64_t>(nt) * kBN;
    loadTile<T, D, LD>(sV, V, p.vS, n0, p.Skv);
    cpAsyncCommit();
    if constexpr (kMask == 1) {
      // Every thread has passed the previous tile's last read of sMask (the barrier before P V).
      for (int c = threadIdx.x; c < kBN; c += kThreadsFlash) {
        const int col = static_cast<int>(n0) + c;
        sMask[c] = col < skv ? attn::maskAt(p, mBase, 0, col) * attn::kLog2e : 0.0f;
      }
    }
    cpAsyncWait<1>();  // K tile nt has landed (V tile nt may still be in flight)
    __syncthreads();

    float s[SN][4];
#pragma unroll
    for (int j = 0; j < SN; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
    // The lane's ldmatrix row of each 16-key pair (mmaKeyPair, attention_mma.cuh).
    const T* kLane = sK + ((lane >> 4) * 8 + (lane & 7)) * LD + ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
#pragma unroll
      for (int j = 0; j < SN; j += 2) {
        mmaKeyPair(s[j], s[j + 1], qf[ks], kLane + j * 8 * LD + ks * 16);
      }
    }
    __syncthreads();  // every warp is done with sK
    if (nt + 1 < nTiles) loadTile<T, D, LD>(sK, K, p.kS, n0 + kBN, p.Skv);
    cpAsyncCommit();

    // Scores in the log2 domain: (q.k * scale + mask) * log2(e); masked entries -inf.
#pragma unroll
    for (int j = 0; j < SN; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = e < 2 ? rowA32 : rowB32;
        const int col = static_cast<int>(n0) + j * 8 + 2 * t + (e & 1);
        float x = s[j][e] * scaleLog2;
        if (col >= skv || (p.causal && col > row)) {
          x = -INFINITY;
        } else if constexpr (kMask == 1) {
          x += sMask[j * 8 + 2 * t + (e & 1)];
        } else if constexpr (kMask == 2) {
          if (row < sq) x += attn::maskAt(p, mBase, row, col) * attn::kLog2e;
        }
        s[j][e] = x;
      }
    }
    // Online softmax of the two rows this thread holds (a quad of lanes shares a row).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < SN; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * r], s[j][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mNew = fmaxf(mRow[r], mx);
      const float mUse = mNew == -INFINITY ? 0.0f : mNew;
      const float alpha = exp2f(mRow[r] - mUse);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < SN; ++j) {
        s[j][2 * r] = exp2f(s[j][2 * r] - mUse);
        s[j][2 * r + 1] = exp2f(s[j][2 * r + 1] - mUse);
        sum += s[j][2 * r] + s[j][2 * r + 1];
      }
      lRow[r] = lRow[r] * alpha + sum;  // per-thread partial sum; the quad is reduced at the end
      mRow[r] = mNew;
#pragma unroll
      for (int dn = 0; dn < DN; ++dn) {
        o[dn][2 * r] *= alpha;
        o[dn][2 * r + 1] *= alpha;
      }
    }

    cpAsyncWait<1>();  // V tile nt has landed (K tile nt + 1 may still be in flight)
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      const uint32_t af[4] = {packF<T>(s[2 * kk][0], s[2 * kk][1]), packF<T>(s[2 * kk][2], s[2 * kk][3]),
                              packF<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              packF<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
      // The lane's ldmatrix row of each 16-dim pair (mmaValuePair, attention_mma.cuh).
      const T* vLane = sV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8;
#pragma unroll
      for (int dn = 0; dn < DN; dn += 2) {
        mmaValuePair(o[dn], o[dn + 1], af, vLane + dn * 8);
      }
    }
    __syncthreads();  // every warp is done with sV before the next tile overwrites it
  }
  cpAsyncWait<0>();

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = lRow[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const int64_t row = r == 0 ? rowA : rowB;
    if (row >= p.Sq) continue;
    T* yr = Y + row * p.yS + 2 * t;
#pragma unroll
    for (int dn = 0; dn < DN; ++dn)
      *reinterpret_cast<uint32_t*>(yr + dn * 8) = packF<T>(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
  }
}

template <typename T, int kMask>
cudaError_t launchMasked(const AttnParams& p, cudaStream_t stream) {
  dim3 grid;
  int mb = 0;
  if (cudaError_t e = blockGrid(p, kBM, &grid, &mb); e != cudaSuccess || grid.x == 0) return e;
  auto launch = [&](auto kernel) { return launchMaybePdl(kernel, grid, kThreadsFlash, 0, stream, p.pdl, p, mb); };
  switch (p.D) {
    case 32: return launch(attentionFlashKernel<T, 32, kMask>);
    case 64: return launch(attentionFlashKernel<T, 64, kMask>);
    case 128: return launch(attentionFlashKernel<T, 128, kMask>);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T>
cudaError_t launchTyped(const AttnParams& p, cudaStream_t stream) {
  return dispatchMaskKind(p, [&](auto mask) { return launchMasked<T, decltype(mask)::value>(p, stream); });
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

}  // namespace

bool attentionFlashHandles(const AttnParams& p, DType t) {
  if (t != DType::kFloat16 && t != DType::kBFloat16) return false;
  if (p.D != p.Dv || (p.D != 32 && p.D != 64 && p.D != 128)) return false;
  if (p.Hkv <= 0 || p.Hq % p.Hkv != 0) return false;
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v) || !aligned16(p.y)) return false;
  for (int64_t s : {p.qB, p.qH, p.qS, p.kB, p.kH, p.kS, p.vB, p.vH, p.vS, p.yB, p.yH, p.yS})
    if (s % 8 != 0) return false;
  return p.Sq < (1LL << 31) - 256 && p.Skv < (1LL << 31) - 256;
}

cudaError_t launchAttentionFlash(const AttnParams& p, DType t, cudaStream_t stream) {
  if (!attentionFlashHandles(p, t)) return cudaErrorInvalidValue;
  if (p.Sq == 0 || p.B == 0 || p.Hq == 0) return cudaSuccess;
  return t == DType::kFloat16 ? launchTyped<__half>(p, stream) : launchTyped<__nv_bfloat16>(p, stream);
}

}  // namespace kiln::cuda
