// ONNX Attention and kiln:PackedAttention through cuDNN's fused attention (SDPA forward, cuDNN
// frontend graph API): a third tactic next to the own flash and generic kernels, timed against
// them by the builder. cuDNN reads Q, K, V and writes Y through strides, so the packed QKV
// column blocks and the 3-D/4-D layouts need no copies; an additive float mask of the I/O type
// becomes cuDNN's bias (broadcast over batch or heads by stride 0 dims of size 1).
//
// Plans depend on the run's dims and strides: each context keeps the plans of recent geometries
// (built on the first, eager, run of a geometry, never during CUDA graph capture because the
// engine runs a new launch key eagerly before capturing it). What cuDNN cannot run (a bool or
// float32 mask with float16 I/O, a short mask, an unsupported geometry or a plan needing more
// workspace than the engine has) runs on the own kernels instead, decided per geometry, so the
// same shapes always launch the same work.
//
// Variants: cuDNN's heuristics (mode A) list execution plans in its order of preference; variant v
// builds and runs the v-th (clamped to the last), so the builder times cuDNN's alternatives like
// cuBLASLt's instead of taking only its first choice.
#include "backends/cuda/kernels/attention_cudnn.h"

#if KILN_HAVE_CUDNN_FRONTEND

#include <cudnn.h>
#include <cudnn_frontend.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/attention_kernels.h"
#include "backends/cuda/kernels/dnn_conv_util.h"

namespace kiln::cuda {

namespace fe = cudnn_frontend;

namespace {

using TensorPtr = std::shared_ptr<fe::graph::Tensor_attributes>;

struct SdpaPlan {
  std::shared_ptr<fe::graph::Graph> graph;  // null: cuDNN cannot run this geometry (own kernels do)
  TensorPtr q, k, v, o, bias;
  int64_t workspace = 0;
  std::string why;  // why graph is null
  int64_t index = 0;  // the execution plan run (the variant, clamped to cuDNN's count)
  int64_t count = 0;  // execution plans cuDNN's heuristics offered
};

std::atomic<uint64_t> gExecutions{0}, gFallbacks{0};
std::atomic<int64_t> gLastPlanCount{0};

struct SdpaState final : GpuKernelState {
  // Most recent last; a few geometries per context (a batcher's batch sizes, sequence lengths).
  std::vector<std::pair<std::vector<int64_t>, std::shared_ptr<SdpaPlan>>> plans;
};
// Plans are evicted least recently *built or eagerly run*: a CUDA graph replaying a geometry does
// not refresh its plan, and freeing a plan may unload kernels the graph launches. So the cap is far
// above the engine's 64 graphs per context (a plan evicted only after 1024 other geometries).
constexpr size_t kMaxPlans = 1024;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// The plan's identity: everything but the addresses (bound per run through the variant pack).
// Alignment is part of it: a plan built for 16-byte aligned buffers must not run on a caller's
// less aligned ones (same shapes, other addresses bound through the execution context).
std::vector<int64_t> geometryKey(const AttnParams& p, DType t) {
  const int64_t aligned = aligned16(p.q) | aligned16(p.k) << 1 | aligned16(p.v) << 2 | aligned16(p.y) << 3 |
                          (p.maskKind == AttnMaskKind::kNone || aligned16(p.mask)) << 4;
  return {static_cast<int64_t>(t), p.B, p.Hq, p.Hkv, p.Sq, p.Skv, p.D, p.Dv, p.qB, p.qH, p.qS, p.kB, p.kH, p.kS,
          p.vB, p.vH, p.vS, p.yB, p.yH, p.yS, static_cast<int64_t>(p.maskKind), p.mB, p.mH, p.mS, p.mJ, p.maskLen,
          p.causal, static_cast<int64_t>(std::bit_cast<uint32_t>(p.scale)), aligned};
}

// Whether cuDNN may take this run at all (before asking cuDNN itself).
std::string unsupportedReason(const AttnParams& p, DType t) {
  if (t != DType::kFloat16 && t != DType::kBFloat16) return "not float16/bfloat16";
  if (p.D != p.Dv || p.D % 8 != 0 || p.D > 128) return "head size";
  if (p.maskKind != AttnMaskKind::kNone) {
    const bool sameType = (t == DType::kFloat16 && p.maskKind == AttnMaskKind::kFloat16) ||
                          (t == DType::kBFloat16 && p.maskKind == AttnMaskKind::kBFloat16);
    if (!sameType) return "mask type differs from the I/O type";
    if (p.maskLen != p.Skv) return "mask shorter than the keys";
    if (p.mJ != 1 || (p.mS != 0 && p.mS % 8 != 0) || (p.mH != 0 && p.mH % 8 != 0) || (p.mB != 0 && p.mB % 8 != 0))
      return "mask strides";
    if (!aligned16(p.mask)) return "mask alignment";
  }
  for (int64_t s : {p.qB, p.qH, p.qS, p.kB, p.kH, p.kS, p.vB, p.vH, p.vS, p.yB, p.yH, p.yS})
    if (s % 8 != 0) return "strides";
  if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v) || !aligned16(p.y)) return "alignment";
  return "";
}

std::shared_ptr<SdpaPlan> buildPlan(const AttnParams& p, DType t, cudnnHandle_t handle, int variant) {
  auto plan = std::make_shared<SdpaPlan>();
  plan->why = unsupportedReason(p, t);
  if (!plan->why.empty()) return plan;
  const fe::DataType_t io = t == DType::kFloat16 ? fe::DataType_t::HALF : fe::DataType_t::BFLOAT16;
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(io).set_intermediate_data_type(fe::DataType_t::FLOAT).set_compute_data_type(fe::DataType_t::FLOAT);
  auto tensor = [&](const char* name, std::vector<int64_t> dims, std::vector<int64_t> strides) {
    return g->tensor(fe::graph::Tensor_attributes().set_name(name).set_dim(std::move(dims)).set_stride(std::move(strides)));
  };
  plan->q = tensor("Q", {p.B, p.Hq, p.Sq, p.D}, {p.qB, p.qH, p.qS, 1});
  plan->k = tensor("K", {p.B, p.Hkv, p.Skv, p.D}, {p.kB, p.kH, p.kS, 1});
  plan->v = tensor("V", {p.B, p.Hkv, p.Skv, p.Dv}, {p.vB, p.vH, p.vS, 1});
  auto opts = fe::graph::SDPA_attributes().set_name("attention").set_generate_stats(false).set_attn_scale(p.scale);
  if (p.causal) opts.set_causal_mask(true);
  if (p.maskKind != AttnMaskKind::kNone) {
    // Broadcast dims have stride 0 in AttnParams; for cuDNN they are dims of size 1 (with the
    // packed stride: cuDNN rejects some zero strides).
    const int64_t sq = p.mS ? p.Sq : 1, h = p.mH ? p.Hq : 1, b = p.mB ? p.B : 1;
    plan->bias = tensor("bias", {b, h, sq, p.Skv},
                        {p.mB ? p.mB : h * sq * p.Skv, p.mH ? p.mH : sq * p.Skv, p.mS ? p.mS : p.Skv, 1});
    opts.set_bias(plan->bias);
  }
  auto [o, stats] = g->sdpa(plan->q, plan->k, plan->v, opts);
  (void)stats;
  o->set_output(true).set_dim({p.B, p.Hq, p.Sq, p.Dv}).set_stride({p.yB, p.yH, p.yS, 1});
  plan->o = o;
  auto step = [&](fe::error_t e, const char* what) {
    if (e.is_good()) return true;
    plan->why = fmt::format("cuDNN {}: {}", what, e.get_message());
    return false;
  };
  // cuDNN's heuristics and plan builds share state across handles: one at a time (as for convs).
  std::lock_guard<std::mutex> lock(dnn::cudnnPlanMutex());
  if (!step(g->validate(), "validate") || !step(g->build_operation_graph(handle), "build_operation_graph") ||
      !step(g->create_execution_plans({fe::HeurMode_t::A}), "create_execution_plans") ||
      !step(g->check_support(handle), "check_support"))
    return plan;
  plan->count = g->get_execution_plan_count();
  gLastPlanCount.store(plan->count, std::memory_order_relaxed);
  plan->index = std::min<int64_t>(variant, std::max<int64_t>(plan->count - 1, 0));
  if (!step(g->build_plan_at_index(handle, plan->index), "build_plan_at_index") ||
      !step(g->get_workspace_size_plan_at_index(plan->index, plan->workspace), "get_workspace_size"))
    return plan;
  plan->graph = std::move(g);
  return plan;
}

std::mutex gWhyMu;
std::string gLastWhy;  // the most recent reason a geometry fell back (tests print it)

class CudnnAttentionKernel final : public GpuKernel {
 public:
  CudnnAttentionKernel(bool packed, size_t workspace, int variant)
      : packed_(packed), workspace_(workspace), variant_(variant) {}

  // cuDNN's plans for large batches need scratch (how much is known only per geometry, at the
  // first run): a fixed budget, and geometries needing more run on the own kernels.
  size_t workspaceBytes() const override { return workspace_; }

  Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const override {
    return std::unique_ptr<GpuKernelState>(std::make_unique<SdpaState>());
  }

  Status enqueue(const GpuKernelContext& ctx) const override {
    AttnParams p;
    DType t = DType::kUndefined;
    KILN_ASSIGN_OR_RETURN(const bool work, prepareAttention(ctx, &p, &t, packed_));
    if (!work) return Status::OK();
    auto* st = static_cast<SdpaState*>(ctx.state);
    if (!st) return InternalError("cuDNN attention: no per-context state");
    const std::vector<int64_t> key = geometryKey(p, t);
    std::shared_ptr<SdpaPlan> plan;
    for (size_t i = 0; i < st->plans.size(); ++i) {
      if (st->plans[i].first != key) continue;
      plan = st->plans[i].second;
      std::rotate(st->plans.begin() + i, st->plans.begin() + i + 1, st->plans.end());
      break;
    }
    if (!plan) {
      KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx.res.cudnn, ctx.stream));
      plan = buildPlan(p, t, ctx.res.cudnn, variant_);
      // The tactic's declared scratch, not the context's (larger, shared) workspace: a geometry
      // timed as a fallback must not turn into an untimed cuDNN plan at run time.
      if (plan->graph && static_cast<size_t>(plan->workspace) > std::min(ctx.workspaceSize, workspace_))
        plan = std::make_shared<SdpaPlan>(SdpaPlan{nullptr, {}, {}, {}, {}, {}, 0,
                                                   fmt::format("needs {} bytes of workspace", plan->workspace)});
      if (!plan->graph) {
        std::lock_guard<std::mutex> lock(gWhyMu);
        gLastWhy = plan->why;
      }
      if (st->plans.size() >= kMaxPlans) st->plans.erase(st->plans.begin());
      st->plans.emplace_back(key, plan);
    }
    if (!plan->graph) {  // cuDNN cannot run this geometry: the own kernels can
      KILN_RETURN_IF_ERROR(launchOwnAttention(p, t, /*flash=*/true, ctx.stream));
      gFallbacks.fetch_add(1, std::memory_order_relaxed);
      return Status::OK();
    }
    std::unordered_map<TensorPtr, void*> pack = {{plan->q, const_cast<void*>(p.q)},
                                                 {plan->k, const_cast<void*>(p.k)},
                                                 {plan->v, const_cast<void*>(p.v)},
                                                 {plan->o, p.y}};
    if (plan->bias) pack.emplace(plan->bias, const_cast<void*>(p.mask));
    KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx.res.cudnn, ctx.stream));
    fe::error_t e =
        plan->graph->execute_plan_at_index(ctx.res.cudnn, pack, plan->workspace ? ctx.workspace : nullptr, plan->index);
    if (e.is_bad()) return InternalError("cuDNN fused attention failed: {}", e.get_message());
    gExecutions.fetch_add(1, std::memory_order_relaxed);
    return Status::OK();
  }

 private:
  bool packed_;
  size_t workspace_;
  int variant_;
};

bool cudnnCommon(const LayerDesc& d, bool packed) {
  // Type-level checks only; the geometry is checked per run (unsupported runs use own kernels).
  if (!(packed ? packedAttentionFlashSupports(d) : attentionFlashSupports(d))) return false;
  const size_t maskIndex = packed ? 1 : 3;
  if (maskIndex < d.inputTypes.size() && d.inputTypes[maskIndex] != DType::kUndefined &&
      d.inputTypes[maskIndex] != d.inputTypes[0])
    return false;  // a bool or float32 mask: cuDNN's bias is of the I/O type
  return true;
}

}  // namespace

bool attentionCudnnSupports(const LayerDesc& d) { return cudnnCommon(d, false); }
bool packedAttentionCudnnSupports(const LayerDesc& d) { return cudnnCommon(d, true); }

uint64_t cudnnAttentionExecutions() { return gExecutions.load(); }
uint64_t cudnnAttentionFallbacks() { return gFallbacks.load(); }
std::string cudnnAttentionLastFallbackReason() {
  std::lock_guard<std::mutex> lock(gWhyMu);
  return gLastWhy;
}

std::unique_ptr<GpuKernel> makeCudnnAttention(bool packed, size_t workspaceLimit, int variant) {
  return std::make_unique<CudnnAttentionKernel>(packed, std::min(workspaceLimit, kCudnnAttentionWorkspace),
                                                std::max(variant, 0));
}

int64_t cudnnAttentionLastPlanCount() { return gLastPlanCount.load(); }

}  // namespace kiln::cuda

#endif  // KILN_HAVE_CUDNN_FRONTEND
