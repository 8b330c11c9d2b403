// CUTLASS 3 Hopper GEMMs for kiln:FusedMatMul in fp16 (see cutlass_gemm.h). Why: BERT's K = 768
// GEMMs (QKV, attention output, FFN-up) run 5-15% faster as ping-pong kernels, whose two consumer
// warpgroups overlap one tile's epilogue with the next tile's math, than as cuBLASLt's best
// configuration (H100, bench/results/cutlass-gemm-probe-h100-2026-11-26.md). The builder times
// these against cuBLASLt's candidates per layer and keeps the faster.
//
// Row-major A [M, K] is CUTLASS's K-major A; row-major B [K, N] is its N-major B (stride (1, N)),
// which wgmma reads transposed from shared memory for 16-bit types. The epilogue reads C (the
// residual) only when beta != 0, so one kernel serves both with and without a residual.
#include "backends/cuda/sm90/cutlass_gemm.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backends/cuda/kernels/pdl.h"
#include "backends/cuda/sm90/cutlass_common.cuh"
#include "cute/tensor.hpp"
#include "cutlass/arch/grid_dependency_control.h"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/epilogue/thread/activation.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"

namespace kiln::cuda::sm90 {

namespace {

using namespace cute;
constexpr size_t kParamsBytes = 2048;
using Half = cutlass::half_t;
using RowMajor = cutlass::layout::RowMajor;
constexpr int kAlign = 8;  // elements: 16 bytes

template <class Tile, class Cluster, class Fusion>
struct PingPong {
  using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, cutlass::epilogue::collective::EpilogueTileAuto,
      float, float, Half, RowMajor, kAlign, Half, RowMajor, kAlign, cutlass::epilogue::TmaWarpSpecialized,
      Fusion>::CollectiveOp;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Half, RowMajor, kAlign, Half, RowMajor, kAlign, float, Tile,
      Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
      cutlass::gemm::KernelTmaWarpSpecializedPingpong>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Mainloop, Epilogue, void>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

using Linear = cutlass::epilogue::fusion::LinCombPerColBias<Half, float, Half, Half, float>;
using GeluErf = cutlass::epilogue::fusion::LinCombPerColBiasEltAct<cutlass::epilogue::thread::GELU, Half, float, Half,
                                                                   Half, float>;

template <class Config>
cudaError_t prepare(const GemmArgs& p, void* blob) {
  using Gemm = typename Config::Gemm;
  using K = typename Gemm::GemmKernel;
  static_assert(std::is_trivially_copyable_v<typename K::Params>, "kernel parameters are copied as bytes");
  static_assert(sizeof(typename K::Params) <= kParamsBytes, "kParamsBytes is too small");
  const Half* residual = static_cast<const Half*>(p.residual ? p.residual : p.d);  // unread when beta = 0
  typename Gemm::Arguments args{
      cutlass::gemm::GemmUniversalMode::kGemm,
      {p.M, p.N, p.K, 1},
      {static_cast<const Half*>(p.a), rowMajor<typename K::StrideA>(p.M, p.K), static_cast<const Half*>(p.b),
       nMajor<typename K::StrideB>(p.N, p.K)},
      {{}, residual, rowMajor<typename K::StrideC>(p.M, p.N), static_cast<Half*>(p.d),
       rowMajor<typename K::StrideD>(p.M, p.N)}};
  args.epilogue.thread.alpha = 1.0f;
  args.epilogue.thread.beta = p.residual ? 1.0f : 0.0f;
  args.epilogue.thread.bias_ptr = static_cast<const Half*>(p.bias);  // null: no bias
  if (p.smCount > 0) args.hw_info.sm_count = p.smCount;
  if (Gemm::get_workspace_size(args) != 0 || Gemm::can_implement(args) != cutlass::Status::kSuccess)
    return cudaErrorNotSupported;
  const typename K::Params params = K::to_underlying_arguments(args, nullptr);
  std::memcpy(blob, &params, sizeof(params));
  // Per device and cheap; done here rather than per launch.
  return cudaFuncSetAttribute(cutlass::device_kernel<K>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              K::SharedStorageSize);
}

// These kernels launch with PDL, which is safe only because CUTLASS compiles their waits in: that
// takes CUTLASS_ENABLE_GDC_FOR_SM90 (the target's flags) and an sm_90a device pass.
#if defined(__CUDA_ARCH__)
static_assert(cutlass::arch::IsGdcGloballyEnabled, "CUTLASS GEMMs launched with PDL need their grid-dependency waits");
#endif

template <class Config>
cudaError_t launch(const void* blob, cudaStream_t stream) {
  // This file's kernels run on compute capability 9.0 only (the tactic checks it).
  return launchPrepared<typename Config::Gemm>(blob, stream, pdlEnabled(90));
}

// The kernel type of (config, epilogue), passed to fn as a tag.
template <class Fn>
cudaError_t withConfig(int config, GemmEpilogue e, Fn&& fn) {
  auto pick = [&](auto tile, auto cluster) {
    using Tile = decltype(tile);
    using Cluster = decltype(cluster);
    return e == GemmEpilogue::kGeluErf ? fn(PingPong<Tile, Cluster, GeluErf>{}) : fn(PingPong<Tile, Cluster, Linear>{});
  };
  switch (config) {
    case 0: return pick(Shape<_128, _128, _64>{}, Shape<_1, _1, _1>{});
    case 1: return pick(Shape<_128, _128, _64>{}, Shape<_2, _1, _1>{});
    case 2: return pick(Shape<_128, _192, _64>{}, Shape<_1, _1, _1>{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

const char* gemmConfigName(int config) {
  switch (config) {
    case 0: return "pingpong 128x128x64, cluster 1x1";
    case 1: return "pingpong 128x128x64, cluster 2x1";
    case 2: return "pingpong 128x192x64, cluster 1x1";
    default: return "?";
  }
}

bool gemmFits(const GemmArgs& a) {
  return a.M > 0 && a.N > 0 && a.K > 0 && a.N % kAlign == 0 && a.K % kAlign == 0 && aligned16(a.a) &&
         aligned16(a.b) && aligned16(a.bias) && aligned16(a.d) && aligned16(a.residual);
}

size_t gemmParamsBytes() { return kParamsBytes; }

cudaError_t prepareGemm(const GemmArgs& a, int config, void* params) {
  if (!gemmFits(a)) return cudaErrorNotSupported;
  return withConfig(config, a.epilogue, [&](auto c) { return prepare<decltype(c)>(a, params); });
}

cudaError_t launchGemm(const void* params, int config, GemmEpilogue epilogue, cudaStream_t s) {
  return withConfig(config, epilogue, [&](auto c) { return launch<decltype(c)>(params, s); });
}

}  // namespace kiln::cuda::sm90
