// Short-sequence attention on Hopper's warpgroup MMA (wgmma): the resident kernel's schedule
// (kernels/attention_resident.cu: the whole K and V of a (batch, head) in shared memory, the exact
// softmax of a row in registers) with both products on wgmma instead of mma.sync.
//
// Why: in the mma.sync kernel S = Q K^T and O = P V take 64 HMMA + 32 ldmatrix + 16 shared loads a
// warp each, on a pipe at about half of wgmma's rate. Here S is 4 wgmma m64n128k16 with both
// operands in shared memory, and O is 8 wgmma m64n64k16 with P as the register A operand: the S
// accumulator fragment of two 8-key tiles is exactly the A fragment of one 16-key step, so P never
// touches shared memory. H100, BERT-base batch 64: 21.3 us a layer against 25.9 (ncu: DRAM 62%
// busy against 52%); what is left is memory latency, each block loading, computing and storing in
// turn (bench/results/attention-wgmma-h100-2026-11-27.md).
//
// A block is one warpgroup (4 warps) and owns 64 query rows; warp w holds rows 16w..16w+15 of S
// (64 floats a thread). Q, K and V are stored 128-byte-swizzled (16-byte chunk c of row r at chunk
// c ^ (r % 8), rows of 128 bytes = D 64 in 16 bits): the layout wgmma's descriptors name, and
// free of bank conflicts for the cp.async fills and the output staging. K/V rows past Skv are
// zero-filled and those keys masked to -inf, so every block runs the full 128-key products.
// D == Dv == 64, Skv <= 128, float16/bfloat16; sm_90a only (this file is compiled for it alone).
#include "backends/cuda/sm90/attention_wgmma.h"

#include "backends/cuda/kernels/attention_common.cuh"
#include "backends/cuda/kernels/attention_mma.cuh"
#include "backends/cuda/kernels/attention_softmax.cuh"
#include "backends/cuda/kernels/pdl.cuh"
#include "backends/cuda/sm90/wgmma_common.cuh"

namespace kiln::cuda {

namespace {

using namespace attn;

constexpr int kRows = 64;      // query rows per block (one wgmma M)
constexpr int kKeys = 128;     // keys resident in shared memory
constexpr int kD = 64;         // head size: one 128-byte swizzled row
constexpr int kThreads = 128;  // one warpgroup
constexpr int kRowBytes = wg::kRowBytes;  // kD 16-bit elements
constexpr int kQBytes = kRows * kRowBytes;  // 8 KB
constexpr int kKVBytes = kKeys * kRowBytes;  // 16 KB each
// Q, K, V, the per-key mask, and slack to align the tiles to 1024 bytes (the swizzle atom).
constexpr int kSmemBytes = kQBytes + 2 * kKVBytes + kKeys * 4 + 1024;
// Five blocks an SM (213 KB of shared memory, <= 102 registers: ptxas needs 96 without spilling).
// Measured against four (H100, BERT-base batch 64): 21.70 vs 21.85 us, so a wash at that size; five
// keep more loads in flight where blocks wait on memory.
constexpr int kBlocksPerSm = 5;

using wg::swz;

// Rows [r0, r0 + N) of a [rows, 64] matrix (row stride `stride` elements) into a swizzled tile;
// rows at or past `rows` are zero-filled (kAll: the caller knows every row exists). Thread i copies
// chunk i % 8 of every 16th row: a fixed trip count, addresses advanced by a constant stride.
template <typename T, int N, bool kAll>
__device__ __forceinline__ void loadRows(unsigned char* s, const T* g, int64_t stride, int64_t r0, int64_t rows) {
  constexpr int kRowStep = kThreads / 8;
  const int cc = threadIdx.x % 8;
  const int r = threadIdx.x / 8;
  const T* src = g + (r0 + r) * stride + cc * 8;
  const int rowsLeft = kAll ? N : static_cast<int>(rows - r0 < N ? rows - r0 : N);
#pragma unroll
  for (int i = 0; i < N / kRowStep; ++i) {
    const bool ok = kAll || r + i * kRowStep < rowsLeft;
    // (r + i * kRowStep) % 8 == r % 8: the swizzle of a thread's chunk is the same in every pass.
    cpAsync16(s + swz(r, cc) + i * kRowStep * kRowBytes, ok ? src + i * kRowStep * stride : g, ok);
  }
}

// kMask as in the resident kernel: 0 none; 1 constant along the query axis, staged per key; 2 any
// other mask, read per score. kFull: Skv == 128 (no key is past the end).
template <typename T, int kMask, bool kCausal, bool kFull>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) attentionWgmmaKernel(AttnParams p, int mBlocks) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smemRaw[];
  // Tiles aligned to 1024 bytes by an offset from smemRaw (not a cast through an integer), so the
  // compiler keeps the shared state space: ld/st.shared rather than generic accesses.
  const uint32_t rawAddr = static_cast<uint32_t>(__cvta_generic_to_shared(smemRaw));
  unsigned char* sQ = smemRaw + (((rawAddr + 1023) & ~1023u) - rawAddr);
  unsigned char* sK = sQ + kQBytes;
  unsigned char* sV = sK + kKVBytes;
  float* sMask = reinterpret_cast<float*>(sV + kKVBytes);  // log2-domain additive mask per key, -inf past Skv
  pdlWait();     // launched with PDL: no global access before the previous kernel is done
  pdlTrigger();  // the next kernel may launch once every block here has started

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  const BlockCoords bc = blockCoords(p, mBlocks);
  const int64_t b = bc.b, h = bc.h, kh = bc.kh;
  const int64_t m0 = static_cast<int64_t>(bc.mb) * kRows;
  const int skv = kFull ? kKeys : static_cast<int>(p.Skv);

  loadRows<T, kRows, false>(sQ, static_cast<const T*>(p.q) + b * p.qB + h * p.qH, p.qS, m0, p.Sq);
  loadRows<T, kKeys, kFull>(sK, static_cast<const T*>(p.k) + b * p.kB + kh * p.kH, p.kS, 0, p.Skv);
  cpAsyncCommit();
  loadRows<T, kKeys, kFull>(sV, static_cast<const T*>(p.v) + b * p.vB + kh * p.vH, p.vS, 0, p.Skv);
  cpAsyncCommit();
  const int64_t mBase = p.maskKind == AttnMaskKind::kNone ? 0 : b * p.mB + h * p.mH;
  {
    const int c = threadIdx.x;  // kThreads == kKeys: one key a thread
    float m = c < skv ? 0.0f : -INFINITY;
    if constexpr (kMask == 1) {
      if (c < skv) m = maskAt(p, mBase, 0, c) * kLog2e;
    }
    sMask[c] = m;
  }
  cpAsyncWait<1>();  // Q and K have landed (this thread's copies)
  wg::fenceProxyAsync();
  __syncthreads();   // everyone's copies, visible to wgmma

  const uint32_t qAddr = static_cast<uint32_t>(__cvta_generic_to_shared(sQ));
  const uint32_t kAddr = static_cast<uint32_t>(__cvta_generic_to_shared(sK));
  const uint32_t vAddr = static_cast<uint32_t>(__cvta_generic_to_shared(sV));

  // S = Q K^T: 4 k-steps of 16 head dims (32 bytes along the swizzled row).
  // Descriptors built once; a step of 32 bytes is +2 in the start-address field (16-byte units,
  // no carry: shared addresses are below 2^18).
  const uint64_t qDesc = wg::smemDesc(qAddr), kDesc = wg::smemDesc(kAddr), vDesc = wg::smemDesc(vAddr);
  float s[16][4];
  wg::fence();
#pragma unroll
  for (int ks = 0; ks < kD / 16; ++ks) wg::mmaS<T>(s, qDesc + 2 * ks, kDesc + 2 * ks, ks);
  wg::commit();
  wg::wait<0>();

  // The softmax of the warp's 16 rows (the wgmma accumulator holds them as mma.sync's C fragments
  // would): P as the A fragments of P V, and the row sums.
  const int rowA = static_cast<int>(m0) + warp * 16 + g;  // and rowA + 8
  uint32_t pf[8][4];
  float lRow[2];
  softmaxRows<T, kMask, kCausal>(s, sMask, p, mBase, rowA, skv, t, pf, lRow);

  cpAsyncWait<0>();  // V has landed
  wg::fenceProxyAsync();
  __syncthreads();
  float o[8][4];
#pragma unroll
  for (int dn = 0; dn < 8; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  wg::fence();
#pragma unroll
  for (int kk = 0; kk < kKeys / 16; ++kk) wg::mmaO<T>(o, pf[kk], vDesc + kk * (16 * kRowBytes >> 4));
  wg::commit();
  wg::wait<0>();

  // O / l into the warp's own (swizzled) Q rows, which no other warp reads any more, then 16-byte
  // row chunks out.
  unsigned char* qRows = sQ + warp * 16 * kRowBytes;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float inv = lRow[r] > 0.0f ? 1.0f / lRow[r] : 0.0f;
    const int row = g + 8 * r;
#pragma unroll
    for (int dn = 0; dn < 8; ++dn)
      *reinterpret_cast<uint32_t*>(qRows + swz(row, dn) + 4 * t) = packF<T>(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
  }
  __syncwarp();
  T* Y = static_cast<T*>(p.y) + b * p.yB + h * p.yH;
#pragma unroll
  for (int c = lane; c < 16 * 8; c += 32) {
    const int r = c / 8, cc = c % 8;
    const int64_t row = m0 + warp * 16 + r;
    if (row < p.Sq) *reinterpret_cast<uint4*>(Y + row * p.yS + cc * 8) = *reinterpret_cast<const uint4*>(qRows + swz(r, cc));
  }
#endif
}

template <typename T, int kMask>
cudaError_t launchMasked(const AttnParams& p, cudaStream_t stream) {
  dim3 grid;
  int mb = 0;
  if (cudaError_t e = blockGrid(p, kRows, &grid, &mb); e != cudaSuccess || grid.x == 0) return e;
  const bool full = p.Skv == kKeys;
  static_assert(kSmemBytes <= 48 * 1024, "above 48 KB, dynamic shared memory needs a per-device opt-in");
  auto launch = [&](auto kernel) { return launchMaybePdl(kernel, grid, kThreads, kSmemBytes, stream, p.pdl, p, mb); };
  if (p.causal && full) return launch(attentionWgmmaKernel<T, kMask, true, true>);
  if (p.causal) return launch(attentionWgmmaKernel<T, kMask, true, false>);
  if (full) return launch(attentionWgmmaKernel<T, kMask, false, true>);
  return launch(attentionWgmmaKernel<T, kMask, false, false>);
}

template <typename T>
cudaError_t launchTyped(const AttnParams& p, cudaStream_t stream) {
  return dispatchMaskKind(p, [&](auto mask) { return launchMasked<T, decltype(mask)::value>(p, stream); });
}

}  // namespace

bool attentionWgmmaHandles(const AttnParams& p, DType t) {
  return attentionResidentHandles(p, t) && p.D == kD && p.Dv == kD;
}

cudaError_t launchAttentionWgmma(const AttnParams& p, DType t, cudaStream_t stream) {
  if (!attentionWgmmaHandles(p, t)) return cudaErrorInvalidValue;
  if (p.Sq == 0 || p.B == 0 || p.Hq == 0) return cudaSuccess;
  return t == DType::kFloat16 ? launchTyped<__half>(p, stream) : launchTyped<__nv_bfloat16>(p, stream);
}

}  // namespace kiln::cuda
