// kiln:MatMulLayerNorm on Hopper: a CUTLASS 3 warp-specialized GEMM (TMA loads, wgmma,
// persistent tiles) with an epilogue of our own that normalizes rows spanning a thread-block
// cluster (see cutlass_gemm_layernorm.h for the why).
//
// Configurations (withWidth below): N = 768 runs cooperative 128 x 384 tiles, a cluster of 2 CTAs
// per row block. (A ping-pong version on 64-row tiles measured no better, below; it is in the
// history of this file, commit cfc7d8e.) Measured on
// H100 against the unfused tactic (cuBLASLt + LayerNorm kernel, which the builder keeps while it
// is faster), BERT-base batch 64: K = 768: 37.5 us cooperative, 34.8 ping-pong, 30.4 unfused;
// K = 3072: 76.5, 78.2, 66.9. The cooperative epilogue (the residual in, the output out: 25 MB at
// BERT-base b64) does not overlap the math; ping-pong's overlaps it but its 64-row tiles read B
// twice as often, and L2 bandwidth is what these GEMMs run at.
//
// With the SM90 wgmma accumulator layout each thread holds two rows (r and r + 8 of its warp's
// 16) and, per row, BN / 4 columns in pairs; the four lanes of a quad share rows. Per tile:
//   0. the residual tile and the CTA's columns of bias / scale / beta are staged in shared memory
//      with cp.async (one wait per tile, not one per few registers' worth of loads);
//   1. z = acc + bias + residual, rounded to fp16 (the value an unfused graph would store and
//      its LayerNorm read), kept in fp32 registers;
//   2. per-row sum: thread sums, a quad shuffle, then the exchange below -> mean;
//   3. per-row sum of (z - mean)^2 the same way -> rstd = 1 / sqrt(var + eps);
//   4. D = (z - mean) * rstd * gamma + beta, stored as fp16 pairs.
// Exchange: one lane per quad sends its two rows' partials to the same epilogue group of every
// CTA of the cluster (itself included) with st.async, whose completion counts bytes on the receiving
// CTA's mbarrier (complete_tx); one thread of the receiver arms the barrier with the bytes
// expected (arrive.expect_tx). The wait then sees the data without a cluster-scope fence (a
// release.cluster arrive compiles to MEMBAR.GPU, an acquire.cluster wait to an L1 invalidate:
// together 16 us a tile). Every CTA adds the partials in rank order, so the cluster computes
// bit-identical statistics. A barrier completes once per tile and pass; a peer can only send
// tile t + 1's partials after it received this CTA's partials of tile t's last pass, which this
// CTA sends after reading its buffer, so one buffer per pass suffices. Clusters are co-scheduled
// by the hardware, so the exchange never waits on a CTA that is not running. The barriers are
// initialized by thread 0 while the kernel constructs the epilogue, before the kernel's
// cluster-wide arrive/wait that publishes the mainloop's own barrier inits (the same fence).
#include "backends/cuda/sm90/cutlass_gemm_layernorm.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include <cuda_fp16.h>

#include "backends/cuda/sm90/cutlass_common.cuh"
#include "cute/tensor.hpp"
#include "cutlass/arch/barrier.h"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/detail.hpp"
#include "cutlass/epilogue/thread/linear_combination.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/kernel_hardware_info.h"

namespace kiln::cuda::sm90 {

namespace {

using namespace cute;
constexpr size_t kParamsBytes = 2048;
using Half = cutlass::half_t;
using RowMajor = cutlass::layout::RowMajor;
constexpr int kAlign = 8;
using StrideCD = cute::Stride<int64_t, cute::Int<1>, int64_t>;

__device__ __forceinline__ uint32_t mapToRank(uint32_t smemAddr, uint32_t rank) {
  uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(r) : "r"(smemAddr), "r"(rank));
  return r;
}
// Two floats into a peer's shared memory; completion counts 8 bytes on the peer's mbarrier.
__device__ __forceinline__ void sendPair(uint32_t remoteAddr, uint32_t remoteBar, float a, float b) {
  asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v2.f32 [%0], {%1, %2}, [%3];" ::"r"(remoteAddr),
               "f"(a), "f"(b), "r"(remoteBar)
               : "memory");
}
__device__ __forceinline__ void armBarrier(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
// 16 bytes global -> shared, bypassing L1; srcBytes 0 zero-fills (rows past M).
__device__ __forceinline__ void copyAsync16(void* smem, const void* gmem, uint32_t srcBytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(cute::cast_smem_ptr_to_uint(smem)), "l"(gmem),
               "r"(srcBytes)
               : "memory");
}
__device__ __forceinline__ void copyAsyncWaitAll() { asm volatile("cp.async.wait_all;" ::: "memory"); }

__device__ __forceinline__ void waitLocal(uint32_t barAddr, uint32_t phase) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n\t.reg .pred p;\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
        "selp.u32 %0, 1, 0, p;\n\t}"
        : "=r"(done)
        : "r"(barAddr), "r"(phase)
        : "memory");
  } while (!done);
}

// The epilogue operation (the role DefaultEpilogue plays for CUTLASS's register epilogues).
template <int BN, int C>
class LayerNormEpilogue {
 public:
  using EpilogueSchedule = cutlass::epilogue::NoSmemWarpSpecialized;
  using DispatchPolicy = EpilogueSchedule;
  using ElementOutput = Half;
  using ElementAccumulator = float;
  using ElementCompute = float;
  using ElementScalar = float;
  using ElementC = Half;
  using StrideC = StrideCD;
  using ElementD = Half;
  using StrideD = StrideCD;
  using GmemElementC = Half;
  using GmemTiledCopyC = void;
  using GmemTiledCopyD = void;
  // Named by CUTLASS's device adapter only (as a type); the epilogue's math is in operator().
  using ThreadEpilogueOp = cutlass::epilogue::thread::LinearCombination<Half, kAlign, float, float>;

  // Both consumer warpgroups work on one 128-row tile (cooperative kernel).
  static constexpr int kTileM = 128;
  static constexpr int kConsumerThreads = 256;
  // Slot of a tile row in a partial buffer: the two rows of a thread (r, r + 8) side by side.
  CUTLASS_DEVICE static int slotOf(int row) { return (row & ~15) + 2 * (row & 7) + ((row >> 3) & 1); }
  // The residual tile and this CTA's columns of bias / scale / beta, staged with cp.async so the
  // epilogue waits for memory once a tile rather than once per few registers' worth of loads.
  // Rows padded by 8 halves: a warp's fragment reads (8 rows x 4 lanes) hit distinct banks.
  static constexpr int kLd = BN + 8;
  struct SharedStorage {
    alignas(16) __half residual[kTileM * kLd];
    alignas(16) __half bias[BN];
    alignas(16) __half gamma[BN];
    alignas(16) __half beta[BN];
    alignas(16) float partial[2][C][kTileM];  // [pass][source rank][slot]
    alignas(8) uint64_t barrier[2];           // [pass]
  };
  using TensorStorage = SharedStorage;

  struct Arguments {
    const Half* ptr_C = nullptr;  // residual, may be null
    StrideC dC{};
    Half* ptr_D = nullptr;
    StrideD dD{};
    const Half* bias = nullptr;   // may be null
    const Half* gamma = nullptr;
    const Half* beta = nullptr;   // may be null
    float epsilon = 1e-5f;
  };
  using Params = Arguments;

  template <class ProblemShape>
  static constexpr Params to_underlying_arguments(ProblemShape const&, Arguments const& args, void*) {
    return args;
  }
  template <class ProblemShape>
  static size_t get_workspace_size(ProblemShape const&, Arguments const&) {
    return 0;
  }
  template <class ProblemShape>
  static cutlass::Status initialize_workspace(ProblemShape const&, Arguments const&, void*, cudaStream_t,
                                              cutlass::CudaHostAdapter* = nullptr) {
    return cutlass::Status::kSuccess;
  }
  template <class ProblemShape>
  static bool can_implement(ProblemShape const& problem, Arguments const& args) {
    return get<1>(problem) == BN * C && args.gamma != nullptr && args.ptr_D != nullptr;
  }

  CUTLASS_HOST_DEVICE explicit LayerNormEpilogue(Params const& p) : params(p) {}

  CUTLASS_DEVICE bool is_source_needed() { return params.ptr_C != nullptr; }

  template <class ProblemShapeMNKL, class BlockShapeMNK, class BlockCoordMNKL, class FrgEngine, class FrgLayout,
            class TiledMma, class ResidueMNK>
  CUTLASS_DEVICE void operator()(ProblemShapeMNKL problem, BlockShapeMNK blkShape, BlockCoordMNKL blkCoord,
                                 cute::Tensor<FrgEngine, FrgLayout> const& acc, TiledMma tiledMma, ResidueMNK,
                                 int threadIdx_, char* smem) {
    static_assert(get<0>(BlockShapeMNK{}) == kTileM && get<1>(BlockShapeMNK{}) == BN, "tile shape");
    static_assert(kTileM == 16 * (kConsumerThreads / 32), "16 rows a warp");
    auto& st = *reinterpret_cast<SharedStorage*>(smem);
    const int M = static_cast<int>(get<0>(problem));
    const int N = BN * C;
    const int tileRow0 = static_cast<int>(get<0>(blkCoord)) * kTileM;
    const int tileCol0 = static_cast<int>(get<1>(blkCoord)) * BN;

    // CTA-local (row, col) of each accumulator element.
    auto thrMma = tiledMma.get_thread_slice(threadIdx_);
    Tensor tCcD = thrMma.partition_C(make_identity_tensor(make_shape(Int<kTileM>{}, Int<BN>{})));
    constexpr int kVals = decltype(size(acc))::value;
    static_assert(kVals == kTileM * BN / kConsumerThreads, "one accumulator tile per epilogue group");
    static_assert(decltype(size(tCcD))::value == kVals, "coordinates match the accumulators");
    // The two rows of this thread: the SM90 C fragment's value mode is (2 columns, 2 rows, BN / 8).
    const int localRow[2] = {static_cast<int>(get<0>(tCcD(0))), static_cast<int>(get<0>(tCcD(2)))};

    const int t = static_cast<int>(threadIdx.x) - 128;  // index among the consumer threads
    static_assert(kVals == 2 * (BN / 4), "two rows of BN / 4 values per thread");
    // 1. Stage the tile's residual rows and column parameters (16-byte chunks, coalesced).
    const __half* res = reinterpret_cast<const __half*>(params.ptr_C);
    constexpr int kChunks = BN / 8;  // 16-byte chunks per row
    if (res) {
      for (int c = t; c < kTileM * kChunks; c += kConsumerThreads) {
        const int r = c / kChunks, cc = c % kChunks;
        const int row = tileRow0 + r;
        const bool in = row < M;
        copyAsync16(st.residual + r * kLd + cc * 8, res + static_cast<int64_t>(in ? row : 0) * N + tileCol0 + cc * 8,
                    in ? 16u : 0u);
      }
    }
    // Absent bias / beta: zero-filled (a zero-byte copy from a valid address).
    auto stageVector = [&](__half* dst, const Half* src) {
      const __half* g = reinterpret_cast<const __half*>(src);
      for (int cc = t; cc < kChunks; cc += kConsumerThreads)
        copyAsync16(dst + cc * 8, g ? g + tileCol0 + cc * 8 : reinterpret_cast<const __half*>(params.gamma), g ? 16u : 0u);
    };
    stageVector(st.bias, params.bias);
    stageVector(st.gamma, params.gamma);
    stageVector(st.beta, params.beta);
    copyAsyncWaitAll();
    cutlass::arch::NamedBarrier::sync(kConsumerThreads, 0);

    // 2. z = acc + bias + residual, rounded to fp16; the rows' partial sums.
    float z[kVals];
    float sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < kVals; i += 2) {
      const int h = (i >> 1) & 1;
      const int col = static_cast<int>(get<1>(tCcD(i)));
      float2 add = __half22float2(*reinterpret_cast<const __half2*>(st.bias + col));
      if (res) {
        const float2 r = __half22float2(*reinterpret_cast<const __half2*>(st.residual + localRow[h] * kLd + col));
        add.x += r.x, add.y += r.y;
      }
      const float2 v = __half22float2(__floats2half2_rn(acc(i) + add.x, acc(i + 1) + add.y));
      z[i] = v.x, z[i + 1] = v.y;
      sum[h] += v.x + v.y;
    }
    const float invN = 1.0f / static_cast<float>(N);
    float mean[2], rstd[2];
    exchange(st, t, 0, sum, localRow);
#pragma unroll
    for (int h = 0; h < 2; ++h) mean[h] = sum[h] * invN;
    float sq[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < kVals; ++i) {
      const float d = z[i] - mean[(i >> 1) & 1];
      sq[(i >> 1) & 1] += d * d;
    }
    exchange(st, t, 1, sq, localRow);
#pragma unroll
    for (int h = 0; h < 2; ++h) rstd[h] = rsqrtf(sq[h] * invN + params.epsilon);
    ++phase_;

    __half* out = reinterpret_cast<__half*>(params.ptr_D);
#pragma unroll
    for (int i = 0; i < kVals; i += 2) {
      const int h = (i >> 1) & 1;
      const int col = static_cast<int>(get<1>(tCcD(i)));
      const int row = tileRow0 + localRow[h];
      const float2 g = __half22float2(*reinterpret_cast<const __half2*>(st.gamma + col));
      const float2 b = __half22float2(*reinterpret_cast<const __half2*>(st.beta + col));
      const float y0 = (z[i] - mean[h]) * rstd[h] * g.x + b.x;
      const float y1 = (z[i + 1] - mean[h]) * rstd[h] * g.y + b.y;
      if (row < M)
        *reinterpret_cast<__half2*>(out + static_cast<int64_t>(row) * N + tileCol0 + col) = __floats2half2_rn(y0, y1);
    }
    // The staging area is the next tile's; every consumer thread must be done reading it.
    cutlass::arch::NamedBarrier::sync(kConsumerThreads, 0);
  }

  // Initializes the exchange barriers (thread 0 only; see the file comment for why here). Relies on
  // CUTLASS 4.2's kernels constructing the epilogue in every thread before their cluster-wide
  // arrive (sm90_gemm_tma_warpspecialized_cooperative.hpp), thread 0 being a producer
  // thread, so the consumers' own later construction does not initialize them again.
  CUTLASS_DEVICE static void initBarriers(SharedStorage& st) {
    if (threadIdx.x == 0) {
      for (int pass = 0; pass < 2; ++pass) cutlass::arch::ClusterBarrier::init(&st.barrier[pass], 1);
      cutlass::arch::fence_barrier_init();
    }
  }

 private:
  // v[h]: this thread's partial of its row h; on return, the cluster's total for that row.
  CUTLASS_DEVICE void exchange(SharedStorage& st, int t, int pass, float (&v)[2], const int (&localRow)[2]) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      v[h] += __shfl_xor_sync(0xffffffffu, v[h], 1);
      v[h] += __shfl_xor_sync(0xffffffffu, v[h], 2);
    }
    if constexpr (C == 1) return;  // the quad held the whole row (no cluster: no DSMEM either)
    const uint32_t rank = cute::block_rank_in_cluster();
    const uint32_t bar = cute::cast_smem_ptr_to_uint(&st.barrier[pass]);
    // kTileM rows x 4 bytes from each CTA of the cluster.
    if (t == 0) armBarrier(bar, static_cast<uint32_t>(C * kTileM * sizeof(float)));
    if ((threadIdx.x & 3) == 0) {
      const uint32_t slot = cute::cast_smem_ptr_to_uint(&st.partial[pass][rank][slotOf(localRow[0])]);
#pragma unroll
      for (uint32_t peer = 0; peer < C; ++peer) sendPair(mapToRank(slot, peer), mapToRank(bar, peer), v[0], v[1]);
    }
    waitLocal(bar, phase_ & 1);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float total = 0.0f;
#pragma unroll
      for (int r = 0; r < C; ++r) total += st.partial[pass][r][slotOf(localRow[h])];
      v[h] = total;
    }
  }

  Params params;
  uint32_t phase_ = 0;  // tiles done by this thread: the barriers' phase parity
};

// The collective: CUTLASS's adapter for register epilogues, plus the barrier initialization.
template <class Op>
struct LayerNormCollective : cutlass::epilogue::collective::detail::Sm90TmaWarpSpecializedAdapter<Op> {
  using Base = cutlass::epilogue::collective::detail::Sm90TmaWarpSpecializedAdapter<Op>;
  CUTLASS_DEVICE LayerNormCollective(typename Op::Params const& p, typename Base::TensorStorage& s) : Base(p, s) {
    Op::initBarriers(s);
  }
};

// A cooperative kernel on 128-row tiles (both consumer warpgroups on one tile; B read once per
// 128 rows, which L2 bandwidth needs at BERT's sizes) with 32-deep k tiles (the residual staging
// takes a third of shared memory).
template <int BN, int C>
struct Config {
  static constexpr int kClusterSize = C;
  using Tile = Shape<_128, Int<BN>, _32>;
  using Cluster = Shape<_1, Int<C>, _1>;
  using Op = LayerNormEpilogue<BN, C>;
  using Epilogue = LayerNormCollective<Op>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Half, RowMajor, kAlign, Half, RowMajor, kAlign, float, Tile,
      Cluster, cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Op::SharedStorage))>,
      Schedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Mainloop, Epilogue, void>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

// Clusters of the kernel that can be resident at once, with its real shared memory and block size.
template <class K>
cudaError_t maxActiveClusters(int* n) {
  cudaLaunchConfig_t cfg{};
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = cute::size<0>(typename K::ClusterShape{});
  attr[0].val.clusterDim.y = cute::size<1>(typename K::ClusterShape{});
  attr[0].val.clusterDim.z = 1;
  cfg.gridDim = dim3(attr[0].val.clusterDim.x, attr[0].val.clusterDim.y, 1);
  cfg.blockDim = dim3(K::MaxThreadsPerBlock, 1, 1);
  cfg.dynamicSmemBytes = K::SharedStorageSize;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaOccupancyMaxActiveClusters(n, cutlass::device_kernel<K>, &cfg);
}

template <class Cfg>
cudaError_t prepare(const LayerNormGemmArgs& p, void* blob) {
  using Gemm = typename Cfg::Gemm;
  using K = typename Gemm::GemmKernel;
  static_assert(std::is_trivially_copyable_v<typename K::Params>, "kernel parameters are copied as bytes");
  static_assert(sizeof(typename K::Params) <= kParamsBytes, "kParamsBytes is too small");
  typename Gemm::Arguments args{
      cutlass::gemm::GemmUniversalMode::kGemm,
      {p.M, p.N, p.K, 1},
      {static_cast<const Half*>(p.a), rowMajor<typename K::StrideA>(p.M, p.K), static_cast<const Half*>(p.b),
       nMajor<typename K::StrideB>(p.N, p.K)},
      {}};
  auto& e = args.epilogue;
  e.ptr_C = static_cast<const Half*>(p.residual);
  e.dC = rowMajor<StrideCD>(p.M, p.N);
  e.ptr_D = static_cast<Half*>(p.d);
  e.dD = rowMajor<StrideCD>(p.M, p.N);
  e.bias = static_cast<const Half*>(p.bias);
  e.gamma = static_cast<const Half*>(p.gamma);
  e.beta = static_cast<const Half*>(p.beta);
  e.epsilon = p.epsilon;
  if (p.smCount > 0) args.hw_info.sm_count = p.smCount;
  cudaError_t err = cudaFuncSetAttribute(cutlass::device_kernel<K>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         K::SharedStorageSize);
  if (err != cudaSuccess) return err;
  // Only as many clusters as fit at once: a persistent cluster that has to wait for a running one
  // to exit would run its tiles after everyone else's. (CUTLASS's own query leaves the shared
  // memory out and so over-counts; its fallback assumes 18 SMs in every GPC.)
  int clusters = 0;
  err = maxActiveClusters<K>(&clusters);
  if (err != cudaSuccess) return err;
  if (clusters <= 0) return cudaErrorNotSupported;
  args.hw_info.max_active_clusters = clusters;
  if (args.hw_info.sm_count <= 0 || args.hw_info.sm_count < clusters * Cfg::kClusterSize)
    args.hw_info.sm_count = clusters * Cfg::kClusterSize;
  if (Gemm::get_workspace_size(args) != 0 || Gemm::can_implement(args) != cutlass::Status::kSuccess)
    return cudaErrorNotSupported;
  const typename K::Params params = K::to_underlying_arguments(args, nullptr);
  std::memcpy(blob, &params, sizeof(params));
  return cudaSuccess;
}

template <class Cfg>
cudaError_t launch(const void* blob, cudaStream_t stream) {
  return launchPrepared<typename Cfg::Gemm>(blob, stream);
}

// Row width -> (tile width, cluster size): the fewest CTAs per row whose 64 x BN accumulator fits
// a warpgroup's registers next to the epilogue's (BN <= 384: 192 accumulator registers a thread).
template <class Fn>
cudaError_t withWidth(int n, Fn&& fn) {
  switch (n) {
    case 384: return fn(Config<384, 1>{});
    case 768: return fn(Config<384, 2>{});
    case 1024: return fn(Config<256, 4>{});
    default: return cudaErrorNotSupported;
  }
}

}  // namespace

bool layerNormGemmSupportsWidth(int n) { return n == 384 || n == 768 || n == 1024; }

bool layerNormGemmFits(const LayerNormGemmArgs& a) {
  return a.M > 0 && a.K > 0 && a.K % kAlign == 0 && layerNormGemmSupportsWidth(a.N) && a.gamma && aligned16(a.a) &&
         aligned16(a.b) && aligned16(a.d) && aligned16(a.residual) && aligned16(a.bias) && aligned16(a.gamma) &&
         aligned16(a.beta);
}

size_t layerNormGemmParamsBytes() { return kParamsBytes; }

cudaError_t prepareLayerNormGemm(const LayerNormGemmArgs& a, void* params) {
  if (!layerNormGemmFits(a)) return cudaErrorNotSupported;
  return withWidth(a.N, [&](auto c) { return prepare<decltype(c)>(a, params); });
}

cudaError_t launchLayerNormGemm(const void* params, int n, cudaStream_t s) {
  return withWidth(n, [&](auto c) { return launch<decltype(c)>(params, s); });
}

}  // namespace kiln::cuda::sm90
