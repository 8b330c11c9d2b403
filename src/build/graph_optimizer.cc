// The builder's use of the pass pipeline.
#include "build/graph_optimizer.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "backends/cpu/kernel.h"
#include "backends/host_inputs.h"
#include "build/cuda_target.h"
#include "ir/op_registry.h"
#include "passes/pass_manager.h"
#include "runtime/concrete_infer.h"

namespace kiln::build {

namespace {

// Evaluates one node on constant inputs with the first CPU kernel that supports it.
Result<std::vector<Tensor>> evaluateNode(const ir::Node& n, const std::vector<const Tensor*>& ins) {
  std::vector<runtime::ConcreteOutput> outs;
  KILN_RETURN_IF_ERROR(runtime::inferConcrete(*n.def(), n.attrs(), n.opsetVersion(), ins, n.numOutputs(), &outs));
  cpu::LayerDesc desc;
  desc.op = n.opType();
  desc.domain = n.domain();
  desc.attrs = &n.attrs();
  for (const Tensor* t : ins) {
    desc.inputTypes.push_back(t ? t->dtype() : DType::kUndefined);
    desc.inputShapes.push_back(t ? Shape(t->dims()) : Shape());
    desc.constInputs.push_back(t);
  }
  for (const auto& o : outs) {
    desc.outputTypes.push_back(o.dtype);
    desc.outputShapes.push_back(Shape(o.dims));
  }
  for (const cpu::KernelDef* d : cpu::KernelRegistry::global().candidates(n.domain(), n.opType())) {
    if (d->supports && !d->supports(desc)) continue;
    auto k = d->create(desc);
    if (!k.ok()) continue;
    std::vector<Tensor> results;
    std::vector<Tensor*> ptrs;
    results.reserve(outs.size());
    for (const auto& o : outs) results.push_back(Tensor::allocate(o.dtype, o.dims));
    for (auto& t : results) ptrs.push_back(&t);
    auto state = (*k)->createState();
    cpu::KernelContext ctx{n.attrs(), ins, ptrs, state.get()};
    KILN_RETURN_IF_ERROR((*k)->run(ctx));
    return results;
  }
  return Unsupported("no CPU kernel evaluates {}", n.describe());
}

// The layer a node would become, with its float32 tensors in `low` (kUndefined: as they are),
// for asking a backend whether it runs it.
cpu::LayerDesc describeNode(const ir::Node& n, DType low) {
  auto lowered = [&](DType t) { return low != DType::kUndefined && t == DType::kFloat32 ? low : t; };
  cpu::LayerDesc desc;
  desc.op = n.opType();
  desc.domain = n.domain();
  desc.attrs = &n.attrs();
  for (int i = 0; i < n.numInputs(); ++i) {
    const ir::Value* v = n.input(i);
    bool hostSlot = cuda::isHostInput(n.domain(), n.opType(), static_cast<size_t>(i));
    desc.inputTypes.push_back(v ? (hostSlot ? v->dtype() : lowered(v->dtype())) : DType::kUndefined);
    desc.inputShapes.push_back(v ? v->shape() : Shape());
    desc.constInputs.push_back(v && v->isConstant() && low == DType::kUndefined ? &v->constant() : nullptr);
  }
  for (const ir::Value* v : n.outputs()) {
    desc.outputTypes.push_back(v ? lowered(v->dtype()) : DType::kUndefined);
    desc.outputShapes.push_back(v ? v->shape() : Shape());
  }
  return desc;
}

}  // namespace

Status optimizeGraph(ir::Graph& g, const BuildConfig& cfg, BuildReport* report) {
  if (cfg.passes.size() == 1 && cfg.passes[0] == "none") return Status::OK();
  passes::PassContext ctx;
  ctx.evaluate = evaluateNode;
  if (cfg.target == Target::kCUDA) {
    // Fusions exist only where a GPU kernel runs the fused layer; cuDNN's tensor-core
    // convolutions are fastest on NHWC.
    ctx.supportsOp = [](const std::string& domain, const std::string& op) { return cudaHasOp(domain, op); };
    ctx.preferChannelsLast = true;
    ctx.hostInputs = [](const std::string& domain, const std::string& op) -> const std::vector<int>& {
      return cuda::hostInputsOf(domain, op);
    };
    if (cfg.fp16 || cfg.bf16) {
      ctx.lowPrecision = cfg.fp16 ? DType::kFloat16 : DType::kBFloat16;
      ctx.reducedIO = cfg.reducedPrecisionIO;
      ctx.supportsLowered = [](const ir::Node& n, DType low) { return cudaSupportsLayer(describeNode(n, low)); };
      // The cluster GEMM + LayerNorm exists for Hopper only; elsewhere the LayerNorm stays a layer.
      ctx.fuseMatMulLayerNorm =
          cfg.fp16 && cudaHasOp("kiln", "MatMulLayerNorm") && cudaComputeCapability(cfg.device) == 90;
      // The fused projection + attention kernel is sm_90a code as well.
      ctx.fuseQkvAttention = cfg.fp16 && cudaHasOp("kiln", "QkvAttention") && cudaComputeCapability(cfg.device) == 90;
    }
  } else {
    ctx.supportsOp = [](const std::string& domain, const std::string& op) {
      return !cpu::KernelRegistry::global().candidates(domain, op).empty();
    };
    ctx.preferChannelsLast = true;  // oneDNN's fp32 convolutions run on NHWC (brgconv) on x86
  }
  passes::PipelineOptions opts;
  opts.only = cfg.passes;
  opts.disabled = std::set<std::string>(cfg.disabledPasses.begin(), cfg.disabledPasses.end());
  opts.dumpAfter = cfg.dumpGraphAfter;
  opts.dumpTo = cfg.dumpGraph ? cfg.dumpGraph : [](const std::string& text) { std::fputs(text.c_str(), stderr); };
  if (!cfg.dumpGraphAfter.empty()) {
    auto names = passes::PassManager::standardNames();
    if (std::find(names.begin(), names.end(), cfg.dumpGraphAfter) == names.end())
      return InvalidArgument("--dump-graph-after: unknown pass '{}' (known: {})", cfg.dumpGraphAfter, fmt::join(names, ", "));
  }
  if (cfg.progress) cfg.progress(BuildProgress{"optimize", 0, 1, ""});
  KILN_ASSIGN_OR_RETURN(auto reps, passes::PassManager::standard().run(g, ctx, opts));
  if (report)
    for (const auto& r : reps)
      report->passes.push_back(PassStat{r.pass, r.nodesBefore, r.nodesAfter, r.changes, r.detail, r.milliseconds});
  if (cfg.progress) cfg.progress(BuildProgress{"optimize", 1, 1, ""});
  return Status::OK();
}

}  // namespace kiln::build
