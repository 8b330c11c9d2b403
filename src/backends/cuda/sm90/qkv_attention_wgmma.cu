// Self-attention with its Q/K/V projection in one kernel (Hopper wgmma; see the header).
//
// Why: unfused, the packed QKV GEMM writes [B, S, 3 H 64] (BERT-base batch 64: 37.7 MB) and the
// attention kernel reads it back, which is most of attention's time (its floor is that traffic).
// Here a block owns one (batch, head) item at a time: it projects the item's 128 tokens onto the
// head's 192 columns (a 128 x 192 x hidden GEMM on wgmma), rounds Q, K and V to the I/O type as
// the unfused graph stores them into shared tiles, and runs the short-sequence softmax and
// products of sm90/attention_wgmma.cu on them. Only X, the weights (both L2-resident: 12.6 + 3.5
// MB at BERT-base b64) and the output move.
//
// The grid is persistent (one block an SM, items in (batch, head) order, head fastest) and
// warp-specialized, 512 threads:
//  - warpgroup 0, the producer: one thread streams every k-step of the block's items through a
//    4-stage TMA pipeline (X as a [B, S, hidden] tensor, so rows past S come zero-filled; the
//    weight as [H * 192, hidden]), 128-byte swizzled as wgmma reads them. Each stage has a "full"
//    mbarrier (the copies' bytes) and an "empty" one (an arrival from each projection warpgroup).
//  - warpgroups 1 and 2, the projection: rows 0-63 and 64-127 of the item, 64 x 192 accumulators
//    each (96 floats a thread), four m64n192k16 wgmma a stage; then bias, rounding, and Q, K, V
//    into the tiles once the attention warpgroup is done with the previous item's.
//  - warpgroup 3, the attention: for each half of 64 rows, S = Q K^T, the softmax, O = P V, and
//    O / l staged in the half's Q rows, then written out; meanwhile the projection warpgroups
//    compute the next item, so the tensor cores are rarely idle.
// Two named barriers hand the tiles over (filled: 256 arrive, 128 wait; free: 128 arrive, 256
// wait). setmaxnreg gives the producer 24 registers and the others 160.
//
// Measured (bench/qkv_attn_micro.cu, H100, BERT-base b64): 49-55 us against 43 + 21 for the
// engine's tuned cuBLASLt GEMM + wgmma attention. Earlier versions: the projection warpgroups
// doing the attention themselves between items, 64.4 us (cp.async loads and two block barriers a
// step before that: 73.8 us); ping-pong, each warpgroup a whole item with 192 accumulators, spilled
// and serialized its wgmma (98 us).
//
// Rows past S are zero-filled: their K rows are masked (-inf), their V rows get P = 0, their Q
// rows are not stored. Head size 64, S <= 128, hidden a multiple of 64, float16 (the code is
// templated on the type; bfloat16 is not enabled until it has run on a device).
#include "backends/cuda/sm90/qkv_attention_wgmma.h"

#include <cuda.h>
#include <cudaTypedefs.h>

#include <cstring>

#include "backends/cuda/kernels/attention_common.cuh"
#include "backends/cuda/kernels/attention_mma.cuh"
#include "backends/cuda/kernels/attention_softmax.cuh"
#include "backends/cuda/kernels/pdl.cuh"
#include "backends/cuda/sm90/wgmma_common.cuh"

namespace kiln::cuda {

namespace {

using namespace attn;
using wg::swz;

constexpr int kThreads = 512;  // producer, two projection warpgroups, attention
// Named barriers: the projection filled the tiles (256 arrive, 128 wait); the attention is done
// with them (128 arrive, 256 wait); the attention warpgroup's own.
constexpr int kBarFull = 1, kBarFree = 2, kBarAttn = 3;
constexpr int kTokens = 128;   // rows of an item (S <= 128)
constexpr int kD = 64;
constexpr int kCols = static_cast<int>(kQkvHeadCols);  // 192: Q, K, V of one head
constexpr int kKStep = 64;                             // hidden elements a stage: one swizzled row
constexpr int kStages = 4;
constexpr int kRowBytes = wg::kRowBytes;
constexpr int kABytes = kTokens * kRowBytes;  // 16 KB
constexpr int kBBytes = kCols * kRowBytes;    // 24 KB
constexpr int kStageBytes = kABytes + kBBytes;
constexpr int kTileBytes = kTokens * kRowBytes;  // Q, K or V of an item: 16 KB
// Stages, the epilogue's Q, K and V, its per-key mask, the 2 x kStages mbarriers, alignment slack.
constexpr int kSmemBytes = kStages * kStageBytes + 3 * kTileBytes + kTokens * 4 + 2 * kStages * 8 + 1024;
static_assert(kSmemBytes <= 227 * 1024, "one block an SM");

__device__ __forceinline__ void mbarInit(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbarWait(uint32_t bar, uint32_t phase) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n\t.reg .pred p;\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
        "selp.u32 %0, 1, 0, p;\n\t}"
        : "=r"(done)
        : "r"(bar), "r"(phase)
        : "memory");
  } while (!done);
}
// TMA tile loads into shared memory, completing bytes on mbarrier `bar`.
__device__ __forceinline__ void tmaLoad3d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];" ::"r"(
          dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}
__device__ __forceinline__ void tmaLoad2d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1)
      : "memory");
}

struct Coords {
  int64_t b, h;
};
__device__ __forceinline__ Coords itemCoords(int item, int heads) { return {item / heads, item % heads}; }

__device__ __forceinline__ void namedBarrier(int id, int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void namedArrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// kMask: 0 none, 1 constant along the query axis (staged per key), 2 any other (read per score).
template <typename T, int kMask>
__global__ void __launch_bounds__(kThreads, 1)
    qkvAttentionKernel(const __grid_constant__ CUtensorMap tmX, const __grid_constant__ CUtensorMap tmW, QkvAttnArgs a,
                       int items, int kSteps) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smemRaw[];
  const uint32_t rawAddr = static_cast<uint32_t>(__cvta_generic_to_shared(smemRaw));
  unsigned char* sStages = smemRaw + (((rawAddr + 1023) & ~1023u) - rawAddr);
  unsigned char* sQ = sStages + kStages * kStageBytes;
  unsigned char* sK = sQ + kTileBytes;
  unsigned char* sV = sK + kTileBytes;
  float* sMask = reinterpret_cast<float*>(sV + kTileBytes);
  const uint32_t fullBar = static_cast<uint32_t>(__cvta_generic_to_shared(sMask + kTokens));
  const uint32_t emptyBar = fullBar + kStages * 8;
  const int tid = threadIdx.x, wgIdx = tid / 128, ct = tid % 128;
  if (tid == 0) {
    for (int i = 0; i < kStages; ++i) {
      mbarInit(fullBar + 8 * i, 1);
      mbarInit(emptyBar + 8 * i, 2);  // both projection warpgroups read every stage
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  pdlWait();
  pdlTrigger();

  const AttnParams& p = a.attn;
  const int S = static_cast<int>(p.Sq), heads = static_cast<int>(p.Hq);
  const int myItems = blockIdx.x < items ? (items - 1 - blockIdx.x) / gridDim.x + 1 : 0;
  const uint32_t stagesAddr = static_cast<uint32_t>(__cvta_generic_to_shared(sStages));
  const int warp = ct / 32, lane = ct % 32, g = lane >> 2, t = lane & 3;

  if (wgIdx == 0) {
    // Producer: one thread streams every step of the block's items through the stages, in order.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
    if (tid == 0) {
      const int totalSteps = myItems * kSteps;
      for (int step = 0; step < totalSteps; ++step) {
        const int stage = step % kStages;
        if (step >= kStages) mbarWait(emptyBar + 8 * stage, ((step / kStages) - 1) & 1);
        const int item = blockIdx.x + (step / kSteps) * gridDim.x, kb = step % kSteps;
        const uint32_t st = stagesAddr + stage * kStageBytes;
        mbarExpectTx(fullBar + 8 * stage, kStageBytes);
        tmaLoad3d(st, &tmX, fullBar + 8 * stage, kb * kKStep, 0, item / heads);
        tmaLoad2d(st + kABytes, &tmW, fullBar + 8 * stage, kb * kKStep, (item % heads) * kCols);
      }
    }
    return;
  }

  if (wgIdx == 3) {
    // Attention: item by item, once the projection has filled the tiles; each half of 64 rows:
    // S = Q K^T, the softmax, O = P V, O / l staged in the half's Q rows (free once S is done),
    // then 16-byte row chunks out. Runs while the projection computes the next item.
    asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n" ::: "memory");
    const uint64_t qDesc = wg::smemDesc(static_cast<uint32_t>(__cvta_generic_to_shared(sQ)));
    const uint64_t kDesc = wg::smemDesc(static_cast<uint32_t>(__cvta_generic_to_shared(sK)));
    const uint64_t vDesc = wg::smemDesc(static_cast<uint32_t>(__cvta_generic_to_shared(sV)));
    for (int it = 0; it < myItems; ++it) {
      const Coords c = itemCoords(blockIdx.x + it * gridDim.x, heads);
      const int64_t mBase = p.maskKind == AttnMaskKind::kNone ? 0 : c.b * p.mB + c.h * p.mH;
      float keyMask = ct < S ? 0.0f : -INFINITY;
      if constexpr (kMask == 1) {
        if (ct < S) keyMask = maskAt(p, mBase, 0, ct) * kLog2e;
      }
      namedBarrier(kBarFull, 384);  // the projection wrote this item's Q, K and V
      sMask[ct] = keyMask;
      namedBarrier(kBarAttn, 128);
      T* Y = static_cast<T*>(a.y) + c.h * kD + c.b * S * a.ldy;
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        float s[16][4];
        wg::fence();
#pragma unroll
        for (int ks = 0; ks < kD / 16; ++ks)
          wg::mmaS<T>(s, qDesc + hf * (64 * kRowBytes >> 4) + 2 * ks, kDesc + 2 * ks, ks);
        wg::commit();
        wg::wait<0>();
        uint32_t pf[8][4];
        float lRow[2];
        const int base = hf * 64 + warp * 16;
        softmaxRows<T, kMask, false>(s, sMask, p, mBase, base + g, S, t, pf, lRow);
        float o[8][4];
#pragma unroll
        for (int dn = 0; dn < 8; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
        wg::fence();
#pragma unroll
        for (int kk = 0; kk < kTokens / 16; ++kk) wg::mmaO<T>(o, pf[kk], vDesc + kk * (16 * kRowBytes >> 4));
        wg::commit();
        wg::wait<0>();
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const float inv = lRow[r] > 0.0f ? 1.0f / lRow[r] : 0.0f;
#pragma unroll
          for (int dn = 0; dn < 8; ++dn)
            *reinterpret_cast<uint32_t*>(sQ + swz(base + g + 8 * r, dn) + 4 * t) =
                packF<T>(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
        }
        __syncwarp();
#pragma unroll
        for (int ch = lane; ch < 16 * 8; ch += 32) {
          const int row = base + ch / 8, col = ch % 8;
          if (row < S)
            *reinterpret_cast<uint4*>(Y + row * a.ldy + col * 8) = *reinterpret_cast<const uint4*>(sQ + swz(row, col));
        }
      }
      if (it + 1 < myItems) namedArrive(kBarFree, 384);  // this thread is done with the tiles
    }
    return;
  }

  // Projection (warpgroups 1 and 2, rows 64 (wgIdx - 1) ..): acc = X_b W_h^T, 64 x 192 each.
  asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n" ::: "memory");
  const int rowA = (wgIdx - 1) * 64 + warp * 16 + g;  // the thread's first row of the item (and rowA + 8)
  const T* bias = static_cast<const T*>(a.bias);
  int step = 0;
  for (int it = 0; it < myItems; ++it) {
    const Coords c = itemCoords(blockIdx.x + it * gridDim.x, heads);
    float acc[24][4];
    for (int kb = 0; kb < kSteps; ++kb, ++step) {
      const int stage = step % kStages;
      mbarWait(fullBar + 8 * stage, (step / kStages) & 1);
      const uint32_t st = stagesAddr + stage * kStageBytes;
      const uint64_t aDesc = wg::smemDesc(st + (wgIdx - 1) * 64 * kRowBytes), bDesc = wg::smemDesc(st + kABytes);
      wg::fence();
#pragma unroll
      for (int ks = 0; ks < kKStep / 16; ++ks) wg::mmaN192<T>(acc, aDesc + 2 * ks, bDesc + 2 * ks, kb | ks);
      wg::commit();
      wg::wait<1>();  // this warpgroup's products of the previous step are done: release its stage
      if (step > 0 && ct == 0) mbarArrive(emptyBar + 8 * ((step - 1) % kStages));
    }
    wg::wait<0>();
    // Bias, then Q (columns 0-63), K (64-127) and V (128-191) into their swizzled tiles, rounded
    // to T as the unfused graph stores them; once the attention warpgroup is done with the
    // previous item's.
    if (bias != nullptr) {
      const T* bh = bias + c.h * kCols + 2 * t;
#pragma unroll
      for (int j = 0; j < 24; ++j) {
        const float b0 = toF(bh[8 * j]), b1 = toF(bh[8 * j + 1]);
        acc[j][0] += b0; acc[j][1] += b1; acc[j][2] += b0; acc[j][3] += b1;
      }
    }
    if (it > 0) namedBarrier(kBarFree, 384);
#pragma unroll
    for (int j = 0; j < 24; ++j) {
      unsigned char* tile = j < 8 ? sQ : j < 16 ? sK : sV;
      *reinterpret_cast<uint32_t*>(tile + swz(rowA, j % 8) + 4 * t) = packF<T>(acc[j][0], acc[j][1]);
      *reinterpret_cast<uint32_t*>(tile + swz(rowA + 8, j % 8) + 4 * t) = packF<T>(acc[j][2], acc[j][3]);
    }
    wg::fenceProxyAsync();
    namedArrive(kBarFull, 384);
  }
  // The last step's stage needs no release: nothing is loaded after it.
#endif
}

int smCount() {
  int dev = 0, n = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 0;
  return n;
}

PFN_cuTensorMapEncodeTiled_v12000 tensorMapEncoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}

// A 128-byte-swizzled TMA map of a 16-bit tensor: dims innermost first, strides in bytes.
cudaError_t encodeMap(CUtensorMap* m, DType t, const void* base, int rank, const cuuint64_t* dims,
                      const cuuint64_t* strides, const cuuint32_t* box) {
  const auto encode = tensorMapEncoder();
  if (!encode) return cudaErrorNotSupported;
  const cuuint32_t elemStrides[3] = {1, 1, 1};
  const CUresult r = encode(m, t == DType::kFloat16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                            rank, const_cast<void*>(base), dims, strides, box, elemStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

template <typename T, int kMask>
cudaError_t launchMasked(const QkvAttnArgs& a, DType t, cudaStream_t stream) {
  auto kernel = qkvAttentionKernel<T, kMask>;
  if (cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
      e != cudaSuccess)
    return e;
  const AttnParams& p = a.attn;
  // X as [B, S, hidden] (a box of 128 tokens: rows past S come zero-filled), the weight as
  // [H * 192, hidden].
  CUtensorMap tmX{}, tmW{};
  const cuuint64_t xDims[3] = {static_cast<cuuint64_t>(a.hidden), static_cast<cuuint64_t>(p.Sq),
                               static_cast<cuuint64_t>(p.B)};
  const cuuint64_t xStrides[2] = {static_cast<cuuint64_t>(a.ldx) * 2, static_cast<cuuint64_t>(a.ldx * p.Sq) * 2};
  const cuuint32_t xBox[3] = {kKStep, kTokens, 1};
  const cuuint64_t wDims[2] = {static_cast<cuuint64_t>(a.hidden), static_cast<cuuint64_t>(p.Hq * kCols)};
  const cuuint64_t wStrides[1] = {static_cast<cuuint64_t>(a.hidden) * 2};
  const cuuint32_t wBox[2] = {kKStep, kCols};
  if (cudaError_t e = encodeMap(&tmX, t, a.x, 3, xDims, xStrides, xBox); e != cudaSuccess) return e;
  if (cudaError_t e = encodeMap(&tmW, t, a.w, 2, wDims, wStrides, wBox); e != cudaSuccess) return e;
  const int64_t items = p.B * p.Hq;
  const int sms = smCount();
  if (sms <= 0) return cudaErrorInvalidDevice;
  const int grid = static_cast<int>(items < sms ? items : sms);
  return launchMaybePdl(kernel, dim3(grid), dim3(kThreads), kSmemBytes, stream, p.pdl, tmX, tmW, a,
                        static_cast<int>(items), static_cast<int>(a.hidden / kKStep));
}

template <typename T>
cudaError_t launchTyped(const QkvAttnArgs& a, DType t, cudaStream_t stream) {
  return dispatchMaskKind(a.attn, [&](auto mask) { return launchMasked<T, decltype(mask)::value>(a, t, stream); });
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

bool qkvAttentionWgmmaHandles(const QkvAttnArgs& a, DType t) {
  const AttnParams& p = a.attn;
  // float16 only: the bfloat16 instance has not run on a device yet (the templates take either).
  if (t != DType::kFloat16) return false;
  if (p.D != kD || p.Dv != kD || p.Hq != p.Hkv || p.Sq != p.Skv || p.Sq > kTokens || p.causal) return false;
  if (a.hidden <= 0 || a.hidden % kKStep != 0 || a.ldx < a.hidden || a.ldx % 8 != 0 || a.ldy < p.Hq * kD ||
      a.ldy % 8 != 0)
    return false;
  if (!aligned16(a.x) || !aligned16(a.w) || !aligned16(a.y) || (a.bias && (reinterpret_cast<uintptr_t>(a.bias) & 3)))
    return false;
  // What only the full attention kernel implements.
  if (p.pastK || p.presentK || p.qk || p.softcap > 0.0f || p.left >= 0 || p.right >= 0 || p.nonpad) return false;
  if (p.roundSoftmax != AttnRound::kNone) return false;
  // Item and row counts in 32 bits (the kernel's item index and row arithmetic).
  return p.B * p.Hq < (int64_t{1} << 31) && p.B * p.Sq < (int64_t{1} << 31);
}

cudaError_t launchQkvAttentionWgmma(const QkvAttnArgs& a, DType t, cudaStream_t stream) {
  if (!qkvAttentionWgmmaHandles(a, t)) return cudaErrorInvalidValue;
  if (a.attn.B == 0 || a.attn.Sq == 0 || a.attn.Hq == 0) return cudaSuccess;
  return launchTyped<__half>(a, t, stream);
}

void packQkvWeights(const void* src, void* dst, int64_t hidden, int64_t heads, size_t elemBytes) {
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  const int64_t n = heads * kQkvHeadCols;  // columns of W: [Q | K | V], H x 64 each
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < kQkvHeadCols; ++j) {
      const int64_t col = (j / kD) * heads * kD + h * kD + j % kD;  // section j / 64, head h
      unsigned char* row = d + ((h * kQkvHeadCols + j) * hidden) * elemBytes;
      for (int64_t k = 0; k < hidden; ++k) std::memcpy(row + k * elemBytes, s + (k * n + col) * elemBytes, elemBytes);
    }
}

void packQkvBias(const void* src, void* dst, int64_t heads, size_t elemBytes) {
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < kQkvHeadCols; ++j)
      std::memcpy(d + (h * kQkvHeadCols + j) * elemBytes, s + ((j / kD) * heads * kD + h * kD + j % kD) * elemBytes,
                  elemBytes);
}

}  // namespace kiln::cuda
