// Engine: a loaded plan plus one kernel per layer, created from the recorded tactics. Immutable
// after load; contexts hold all per-run state.
#include "kiln/engine.h"

#include <fmt/format.h>

#include "backends/cpu/cpu_info.h"
#include "backends/cpu/kernel.h"
#include "plan/plan.h"
#include "runtime/engine_impl.h"
#include "runtime/layer_desc.h"

namespace kiln {

Engine::~Engine() = default;

namespace {

Status checkTarget(const plan::Plan& p, const std::string& what) {
  if (p.target.kind == "cuda") return Status::OK();  // checked against the device by CudaEngine::create
  if (p.target.kind != "cpu") return Unsupported("{} targets '{}', which this Kiln does not know", what, p.target.kind);
  const auto& c = cpu::cpuInfo();
  if (p.target.arch != c.arch)
    return Unsupported("{} was built for {} CPUs; this machine is {} (rebuild the engine here)", what, p.target.arch, c.arch);
  return Status::OK();
}

Shape symbolicShape(const plan::TensorInfo& t, const plan::Plan& p) {
  // Display the builder's symbolic shape where possible; else registers as symbols.
  std::vector<Dim> dims;
  for (const auto& d : t.dims) {
    if (d.isStatic()) {
      dims.emplace_back(d.value);
      continue;
    }
    const auto& ins = p.program.instrs[d.reg];
    if (ins.op == plan::ShapeInstr::kInputDim) {
      const auto& src = p.tensors[p.inputs[ins.a]];
      dims.push_back(Dim::symbol(fmt::format("{}.{}", src.name, ins.b)));
    } else if (ins.op == plan::ShapeInstr::kRuntime) {
      dims.push_back(Dim::symbol(fmt::format("data{}", ins.b)));  // known once its layer has run
    } else {
      dims.push_back(Dim::symbol(fmt::format("r{}", d.reg)));
    }
  }
  return Shape(std::move(dims));
}

}  // namespace

Result<std::shared_ptr<Engine>> Engine::fromPlan(std::unique_ptr<plan::Plan> p, const std::string& what,
                                                 const LoadOptions& opts) {
  KILN_RETURN_IF_ERROR(checkTarget(*p, what));
  auto e = std::shared_ptr<Engine>(new Engine());
  e->impl_ = std::make_unique<Impl>();
  const bool cudaTarget = p->target.kind == "cuda";
  const auto& reg = cpu::KernelRegistry::global();
  for (const auto& l : p->layers) {
    if (cudaTarget && l.placement == plan::Placement::kTarget) {
      e->impl_->kernels.push_back(nullptr);  // a device layer: the CUDA engine creates it
      continue;
    }
    const cpu::KernelDef* def = reg.findTactic(l.tactic);
    if (!def || def->op != l.op)
      return Unsupported("{}: layer '{}' ({}) uses tactic '{}', which this Kiln build does not provide (rebuild the engine)",
                         what, l.name, l.op, l.tactic);
    auto k = def->create(runtime::describeLayer(*p, l));
    if (!k.ok()) return std::move(k).takeStatus().withContext(fmt::format("{}: layer '{}'", what, l.name));
    e->impl_->kernels.push_back(std::move(k).value());
  }
  if (cudaTarget) {
    // The plan must outlive the CUDA engine, which keeps a reference: it is moved into `e` below
    // and never replaced.
    KILN_ASSIGN_OR_RETURN(e->impl_->cuda, runtime::CudaEngine::create(*p, opts.device, what));
  }
  for (int32_t id : p->inputs)
    e->io_.push_back({p->tensors[id].name, p->tensors[id].dtype, symbolicShape(p->tensors[id], *p), true,
                      p->tensors[id].placement == plan::Placement::kHost});
  for (int32_t id : p->outputs) e->io_.push_back({p->tensors[id].name, p->tensors[id].dtype, symbolicShape(p->tensors[id], *p), false});
  e->plan_ = std::move(p);
  return e;
}

Result<std::shared_ptr<Engine>> Engine::loadFile(const std::string& path, const LoadOptions& opts) {
  KILN_ASSIGN_OR_RETURN(auto p, plan::readPlanFile(path));
  return fromPlan(std::move(p), path, opts);
}

Result<std::shared_ptr<Engine>> Engine::loadBytes(std::string bytes, const std::string& what, const LoadOptions& opts) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  KILN_ASSIGN_OR_RETURN(auto p, plan::deserializePlan(owner->data(), owner->size(), owner, what));
  return fromPlan(std::move(p), what, opts);
}

bool Engine::isCuda() const { return impl_->isCuda(); }

const IOTensorInfo* Engine::findIO(const std::string& name) const {
  for (const auto& io : io_)
    if (io.name == name) return &io;
  return nullptr;
}

int Engine::numProfiles() const { return static_cast<int>(plan_->profiles.size()); }

bool Engine::profileRange(int profile, const std::string& input, Dims* min, Dims* opt, Dims* max) const {
  if (profile < 0 || profile >= numProfiles()) return false;
  for (const auto& in : plan_->profiles[profile].inputs) {
    if (in.name != input) continue;
    *min = in.min;
    *opt = in.opt;
    *max = in.max;
    return true;
  }
  return false;
}

std::vector<LayerSummary> Engine::layers() const {
  std::vector<LayerSummary> out;
  auto describe = [&](int32_t id) {
    if (id < 0) return std::string("<none>");
    const auto& t = plan_->tensors[id];
    return fmt::format("{}: {}{}", t.name, dtypeName(t.dtype), t.shapeText);
  };
  for (const auto& l : plan_->layers) {
    LayerSummary s{l.name, l.op, l.tactic, l.precision, {}, {}, l.fusedFrom, l.measuredUs};
    s.placement = plan_->target.kind == "cuda" ? (l.placement == plan::Placement::kHost ? "host" : "gpu") : "cpu";
    for (int32_t id : l.inputs) s.inputs.push_back(describe(id));
    for (int32_t id : l.outputs) s.outputs.push_back(describe(id));
    out.push_back(std::move(s));
  }
  return out;
}

std::string Engine::summary() const {
  const plan::Plan& p = *plan_;
  std::string s = fmt::format("model: {} (hash {:016x})\nkiln: {}\ntarget: {} {} ({})\n", p.modelName, p.modelHash,
                              p.kilnVersion, p.target.kind, p.target.arch, p.target.device);
  if (!p.target.features.empty()) s += fmt::format("cpu features at build: {}\n", p.target.features);
  for (const auto& [n, v] : p.target.libraries) s += fmt::format("library: {} {}\n", n, v);
  s += fmt::format("precision: {}; builder optimization level {}; built in {:.2f} s\n", p.build.precisions,
                   p.build.optimizationLevel, p.build.buildSeconds);
  s += fmt::format("memory: arena {} bytes (peak live {}, one buffer per tensor would need {}); weights {} bytes\n",
                   p.memory.arenaBytes, p.memory.peakLiveBytes, p.memory.naiveBytes, p.memory.weightBytes);
  if (p.target.kind == "cuda") {
    int host = 0;
    for (const auto& l : p.layers) host += l.placement == plan::Placement::kHost;
    s += fmt::format("cuda: workspace {} bytes per context; {} host layers (shape arithmetic, {} bytes pinned); "
                     "tf32 {}\n", p.memory.workspaceBytes, host, p.memory.hostArenaBytes, p.build.tf32 ? "on" : "off");
  }
  for (size_t i = 0; i < p.profiles.size(); ++i)
    for (const auto& in : p.profiles[i].inputs)
      s += fmt::format("profile {}: {} min {} opt {} max {}\n", i, in.name, in.min.toString(), in.opt.toString(),
                       in.max.toString());
  for (const auto& d : p.runtimeDims) {
    const plan::LayerInfo& l = p.layers[d.layer];
    const plan::TensorInfo& t = p.tensors[l.outputs[d.output]];
    s += fmt::format("data-dependent: data{} = dim {} of '{}' {} (decided by layer '{}', {}; sized for its "
                     "upper bound until the layer has run)\n", &d - p.runtimeDims.data(), d.axis, t.name, t.shapeText,
                     l.name, l.op);
  }
  return s;
}

}  // namespace kiln
