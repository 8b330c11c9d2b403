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

namespace kiln::cuda {

namespace {

using namespace attn;

constexpr int kRows = 64;      // query rows per block (one wgmma M)
constexpr int kKeys = 128;     // keys resident in shared memory
constexpr int kD = 64;         // head size: one 128-byte swizzled row
constexpr int kThreads = 128;  // one warpgroup
constexpr int kRowBytes = kD * 2;
constexpr int kQBytes = kRows * kRowBytes;  // 8 KB
constexpr int kKVBytes = kKeys * kRowBytes;  // 16 KB each
// Q, K, V, the per-key mask, and slack to align the tiles to 1024 bytes (the swizzle atom).
constexpr int kSmemBytes = kQBytes + 2 * kKVBytes + kKeys * 4 + 1024;
// Five blocks an SM (213 KB of shared memory, <= 102 registers: ptxas needs 96 without spilling).
// Measured against four (H100, BERT-base batch 64): 21.70 vs 21.85 us, so a wash at that size; five
// keep more loads in flight where blocks wait on memory.
constexpr int kBlocksPerSm = 5;

// Byte offset of 16-byte chunk c of row r in a 128-byte-swizzled tile.
__device__ __forceinline__ uint32_t swz(int r, int c) { return static_cast<uint32_t>(r * kRowBytes + ((c ^ (r & 7)) << 4)); }

// wgmma shared-memory descriptor of a 128-byte-swizzled tile at shared address `addr` (1024-byte
// aligned atoms): start address, leading byte offset (unused by swizzled K-major operands; for the
// MN-major V it would step between 64-element column blocks, of which D = 64 has one) and stride
// byte offset 1024 (8 rows of 128 bytes), in 16-byte units; layout type 1 = 128-byte swizzle.
__device__ __forceinline__ uint64_t smemDesc(uint32_t addr) {
  uint64_t d = 0;
  d |= static_cast<uint64_t>((addr & 0x3FFFF) >> 4);
  d |= static_cast<uint64_t>(1024 >> 4) << 16;
  d |= static_cast<uint64_t>(1024 >> 4) << 32;
  d |= static_cast<uint64_t>(1) << 62;
  return d;
}

__device__ __forceinline__ void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmmaCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmmaWaitAll() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Shared-memory writes of the generic proxy (cp.async, st.shared) made visible to wgmma's reads.
__device__ __forceinline__ void fenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

#define KILN_F4(a, i) "+f"(a[i][0]), "+f"(a[i][1]), "+f"(a[i][2]), "+f"(a[i][3])
#define KILN_WGMMA_ACC64                                                                              \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26," \
  "%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,"   \
  "%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}"
#define KILN_WGMMA_ACC32                                                                              \
  "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26," \
  "%27,%28,%29,%30,%31}"

// The two products, for TY "f16" or "bf16" (one asm statement each; only the type names differ).
// S: s (+)= A B^T, 64 x 128 per warpgroup (16 tiles of 8 columns per thread), A and B K-major in
// shared memory; accumulate = 0 overwrites s.
#define KILN_WGMMA_S(TY)                                                                                          \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                     \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " " KILN_WGMMA_ACC64                    \
               ", %64, %65, p, 1, 1, 0, 0;\n}\n"                                                                 \
               : KILN_F4(s, 0), KILN_F4(s, 1), KILN_F4(s, 2), KILN_F4(s, 3), KILN_F4(s, 4), KILN_F4(s, 5),       \
                 KILN_F4(s, 6), KILN_F4(s, 7), KILN_F4(s, 8), KILN_F4(s, 9), KILN_F4(s, 10), KILN_F4(s, 11),      \
                 KILN_F4(s, 12), KILN_F4(s, 13), KILN_F4(s, 14), KILN_F4(s, 15)                                  \
               : "l"(descA), "l"(descB), "r"(accumulate))
// O: o += P V for one 16-key step, 64 x 64 per warpgroup: P (the thread's A fragment) in
// registers, V MN-major (row-major [keys, D]) in shared memory, hence the transposed-B flag.
#define KILN_WGMMA_O(TY)                                                                                          \
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " KILN_WGMMA_ACC32                     \
               ", {%32,%33,%34,%35}, %36, 1, 1, 1, 1;\n"                                                          \
               : KILN_F4(o, 0), KILN_F4(o, 1), KILN_F4(o, 2), KILN_F4(o, 3), KILN_F4(o, 4), KILN_F4(o, 5),       \
                 KILN_F4(o, 6), KILN_F4(o, 7)                                                                    \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(descB))

template <typename T>
__device__ __forceinline__ void wgmmaS(float (&s)[16][4], uint64_t descA, uint64_t descB, int accumulate) {
  if constexpr (std::is_same_v<T, __half>) KILN_WGMMA_S("f16");
  else KILN_WGMMA_S("bf16");
}

template <typename T>
__device__ __forceinline__ void wgmmaO(float (&o)[8][4], const uint32_t (&a)[4], uint64_t descB) {
  if constexpr (std::is_same_v<T, __half>) KILN_WGMMA_O("f16");
  else KILN_WGMMA_O("bf16");
}

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
  fenceProxyAsync();
  __syncthreads();   // everyone's copies, visible to wgmma

  const uint32_t qAddr = static_cast<uint32_t>(__cvta_generic_to_shared(sQ));
  const uint32_t kAddr = static_cast<uint32_t>(__cvta_generic_to_shared(sK));
  const uint32_t vAddr = static_cast<uint32_t>(__cvta_generic_to_shared(sV));

  // S = Q K^T: 4 k-steps of 16 head dims (32 bytes along the swizzled row).
  // Descriptors built once; a step of 32 bytes is +2 in the start-address field (16-byte units,
  // no carry: shared addresses are below 2^18).
  const uint64_t qDesc = smemDesc(qAddr), kDesc = smemDesc(kAddr), vDesc = smemDesc(vAddr);
  float s[16][4];
  wgmmaFence();
#pragma unroll
  for (int ks = 0; ks < kD / 16; ++ks) wgmmaS<T>(s, qDesc + 2 * ks, kDesc + 2 * ks, ks);
  wgmmaCommit();
  wgmmaWaitAll();

  // The softmax of the warp's 16 rows (the wgmma accumulator holds them as mma.sync's C fragments
  // would): P as the A fragments of P V, and the row sums.
  const int rowA = static_cast<int>(m0) + warp * 16 + g;  // and rowA + 8
  uint32_t pf[8][4];
  float lRow[2];
  softmaxRows<T, kMask, kCausal>(s, sMask, p, mBase, rowA, skv, t, pf, lRow);

  cpAsyncWait<0>();  // V has landed
  fenceProxyAsync();
  __syncthreads();
  float o[8][4];
#pragma unroll
  for (int dn = 0; dn < 8; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  wgmmaFence();
#pragma unroll
  for (int kk = 0; kk < kKeys / 16; ++kk) wgmmaO<T>(o, pf[kk], vDesc + kk * (16 * kRowBytes >> 4));
  wgmmaCommit();
  wgmmaWaitAll();

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
