// ExecutionContext: per-run state. Everything a run needs is allocated when the context is
// created (the arena sized by the memory plan, tensor views, per-layer pointer arrays, shape
// registers); a run only evaluates the shape program when input shapes changed, points the views
// at the arena/user buffers, and calls the kernels.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "kiln/engine.h"
#include "plan/plan.h"
#include "runtime/engine_impl.h"
#include "backends/host_inputs.h"

namespace kiln {

struct ExecutionContext::State {
  const plan::Plan* plan = nullptr;
  std::unique_ptr<char, void (*)(void*)> arena{nullptr, std::free};
  std::vector<int64_t> regs;
  std::vector<Dims> inputDims;          // by input index
  std::vector<bool> inputShapeSet;
  std::vector<void*> inputAddr, outputAddr;
  std::vector<Tensor> views;            // per plan tensor
  std::vector<runtime::LayerIO> layers;  // per layer: the views it reads and writes
  std::unique_ptr<runtime::CudaContext> cuda;  // CUDA engines
  std::vector<const Dims*> inputDimPtrs;
  std::vector<std::unique_ptr<cpu::KernelState>> kernelStates;  // per layer
  bool profiling = false;
  std::vector<double> layerMs;      // per layer, when profiling
  std::vector<int64_t> layerRuns;
  bool shapesDirty = true;
  bool shapesReady = false;
  // Data-dependent dims (Plan::runtimeDims): their values in the current run, -1 until the
  // producing layer has run (the tensors are then sized for the dim's upper bound).
  std::vector<int64_t> runtimeValues;
  bool runtimePinned = false;  // some value is set: the next run starts from the bounds again
  // CUDA engines: host layers run again before a launch after a shape change (hostLayersDirty)
  // or when a host input's bytes differ from its copy, the values they last ran with.
  bool hostLayersDirty = true;
  std::vector<int32_t> hostInputs;  // plan tensor ids of host inputs
  // Per plan tensor; defined for host inputs: their copy in the pinned host arena, which the
  // layers read (refreshHostLayers copies the caller's bytes there).
  std::vector<Tensor> hostCopies;
  // CPU engines: the output buffers run() allocated and bound, kept alive here: an output of
  // data-dependent size goes back to the caller trimmed (a copy), while the engine stays bound to
  // the full buffer for later execute() calls (before, those wrote into freed memory).
  std::vector<Tensor> runOutputs;
  bool isCuda() const { return cuda != nullptr; }
};

Result<std::unique_ptr<ExecutionContext>> Engine::createExecutionContext(int profile) const {
  if (profile < 0 || profile >= numProfiles())
    return OutOfRange("profile {} does not exist (the engine has {})", profile, numProfiles());
  const plan::Plan& p = *plan_;
  auto ctx = std::unique_ptr<ExecutionContext>(new ExecutionContext());
  ctx->engine_ = this;
  ctx->profile_ = profile;
  ctx->s_ = std::make_unique<ExecutionContext::State>();
  auto& s = *ctx->s_;
  s.plan = &p;
  const bool isCuda = impl_->isCuda();
  if (!isCuda) {
    size_t arenaBytes = std::max<uint64_t>(64, (p.memory.arenaBytes + 63) / 64 * 64);
    s.arena.reset(static_cast<char*>(std::aligned_alloc(64, arenaBytes)));
    if (!s.arena) return ResourceExhausted("cannot allocate the engine's {}-byte arena", arenaBytes);
  }
  s.regs.assign(p.program.instrs.size(), 0);
  s.runtimeValues.assign(p.runtimeDims.size(), -1);
  s.inputDims.resize(p.inputs.size());
  s.inputShapeSet.assign(p.inputs.size(), false);
  s.inputAddr.assign(p.inputs.size(), nullptr);
  s.outputAddr.assign(p.outputs.size(), nullptr);
  s.views.resize(p.tensors.size());
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    // Static inputs need no setInputShape.
    const auto& t = p.tensors[p.inputs[i]];
    if (plan::isStatic(t)) {
      s.inputDims[i] = plan::staticDims(t);
      s.inputShapeSet[i] = true;
    }
  }
  for (size_t t = 0; t < p.tensors.size(); ++t)
    if (p.tensors[t].kind == plan::TensorKind::kConstant) s.views[t] = p.tensors[t].constant;
  s.layers.resize(p.layers.size());
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const auto& layer = p.layers[l];
    // Device layers of a CUDA engine read constants from the engine's device copy, except the
    // inputs they read on the host (shape-like values).
    const bool deviceLayer = isCuda && layer.placement == plan::Placement::kTarget;
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      int32_t id = layer.inputs[i];
      const Tensor* v = id >= 0 ? &s.views[id] : nullptr;
      if (deviceLayer && id >= 0 && p.tensors[id].kind == plan::TensorKind::kConstant &&
          !cuda::isHostInput(layer.domain, layer.op, i))
        v = &impl_->cuda->deviceConstant(id);
      s.layers[l].ins.push_back(v);
    }
    for (int32_t id : layer.outputs) s.layers[l].outs.push_back(id >= 0 ? &s.views[id] : nullptr);
  }
  for (const Dims& d : s.inputDims) s.inputDimPtrs.push_back(&d);
  for (int32_t id : p.inputs)
    if (isCuda && p.tensors[id].placement == plan::Placement::kHost) s.hostInputs.push_back(id);
  for (const auto& k : impl_->kernels) s.kernelStates.push_back(k ? k->createState() : nullptr);
  if (isCuda) {
    KILN_ASSIGN_OR_RETURN(s.cuda, impl_->cuda->createContext(&s.layers));
    s.hostCopies.resize(p.tensors.size());
    for (int32_t id : s.hostInputs) {
      const auto& t = p.tensors[id];  // static shape: the builder and the reader make sure
      s.hostCopies[id] = Tensor::borrow(t.dtype, plan::staticDims(t), s.cuda->hostArena() + t.hostOffset, MemoryKind::kHost);
    }
    for (auto& io : s.layers)
      for (const Tensor*& in : io.ins)
        for (int32_t id : s.hostInputs)
          if (in == &s.views[id]) in = &s.hostCopies[id];
  }
  return ctx;
}

ExecutionContext::~ExecutionContext() = default;

namespace {
int findIndex(const std::vector<int32_t>& ids, const plan::Plan& p, const std::string& name) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (p.tensors[ids[i]].name == name) return static_cast<int>(i);
  return -1;
}
}  // namespace

Status ExecutionContext::setInputShape(const std::string& name, const Dims& dims) {
  const plan::Plan& p = *s_->plan;
  int i = findIndex(p.inputs, p, name);
  if (i < 0) {
    if (findIndex(p.outputs, p, name) >= 0) return InvalidArgument("'{}' is an output; only inputs take a shape", name);
    return NotFound("the engine has no input '{}'", name);
  }
  const auto& t = p.tensors[p.inputs[i]];
  if (dims.rank() != static_cast<int>(t.dims.size()))
    return InvalidArgument("input '{}' has rank {} ({}), but {} was given", name, t.dims.size(), t.shapeText, dims.toString());
  for (int a = 0; a < dims.rank(); ++a) {
    if (t.dims[a].isStatic() && t.dims[a].value != dims[a])
      return InvalidArgument("input '{}' dim {} must be {} (shape {}), got {}", name, a, t.dims[a].value, t.shapeText,
                             dims.toString());
  }
  for (const auto& in : p.profiles[profile_].inputs) {
    if (in.name != name) continue;
    for (int a = 0; a < dims.rank(); ++a)
      if (dims[a] < in.min[a] || dims[a] > in.max[a])
        return OutOfRange("input '{}' shape {}: dim {} = {} is outside optimization profile {}'s range [{}, {}] "
                          "(min {}, max {})", name, dims.toString(), a, dims[a], profile_, in.min[a], in.max[a],
                          in.min.toString(), in.max.toString());
  }
  // After a run that read data-dependent sizes, shapes go back to their bounds (for allocation).
  if (!(s_->inputShapeSet[i] && s_->inputDims[i] == dims) || s_->runtimePinned) {
    s_->inputDims[i] = dims;
    s_->inputShapeSet[i] = true;
    s_->shapesDirty = true;
  }
  return Status::OK();
}

Status ExecutionContext::prepare() {
  State& s = *s_;
  const plan::Plan& p = *s.plan;
  if (!s.shapesDirty) return Status::OK();
  s.shapesReady = false;
  for (size_t i = 0; i < p.inputs.size(); ++i)
    if (!s.inputShapeSet[i])
      return FailedPrecondition("the shape of input '{}' is not set (call setInputShape)", p.tensors[p.inputs[i]].name);
  std::fill(s.runtimeValues.begin(), s.runtimeValues.end(), -1);
  s.runtimePinned = false;
  if (!p.program.evaluate(s.inputDimPtrs, s.regs.data(), s.runtimeValues.data()))
    return InvalidArgument("these input shapes make a shape computation divide by zero");
  // Inputs that share a dimension (the same symbol) must agree.
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    const auto& t = p.tensors[p.inputs[i]];
    for (size_t a = 0; a < t.dims.size(); ++a) {
      const auto& d = t.dims[a];
      if (d.isStatic() || s.regs[d.reg] == s.inputDims[i][static_cast<int>(a)]) continue;
      const auto& ins = p.program.instrs[d.reg];
      return InvalidArgument("input '{}' dim {} is {}, but it must equal input '{}' dim {} ({}), which shares it",
                             t.name, a, s.inputDims[i][static_cast<int>(a)], p.tensors[p.inputs[ins.a]].name, ins.b,
                             s.regs[d.reg]);
    }
  }
  for (size_t id = 0; id < p.tensors.size(); ++id) {
    const auto& t = p.tensors[id];
    if (t.kind == plan::TensorKind::kConstant) continue;
    Dims d;
    for (const auto& x : t.dims) {
      int64_t v = x.isStatic() ? x.value : s.regs[x.reg];
      if (v < 0) return InvalidArgument("these input shapes give tensor '{}' a negative dimension ({})", t.name, v);
      d.push_back(v);
    }
    void* ptr = nullptr;
    MemoryKind kind = s.isCuda() ? MemoryKind::kDevice : MemoryKind::kHost;
    if (t.kind == plan::TensorKind::kIntermediate) {
      uint64_t bytes = static_cast<uint64_t>(d.numel()) * dtypeSize(t.dtype);
      if (bytes > t.maxBytes)
        return OutOfRange("tensor '{}' needs {} bytes at these shapes, more than the {} planned for the profile",
                          t.name, bytes, t.maxBytes);
      if (!s.isCuda()) {
        ptr = s.arena.get() + t.arenaOffset;
      } else if (t.placement == plan::Placement::kHost) {
        ptr = s.cuda->hostArena() + t.hostOffset;
        kind = MemoryKind::kHost;
      } else {
        ptr = s.cuda->deviceArena() + t.arenaOffset;
      }
    } else {
      ptr = s.views[id].raw();  // keeps a user address already set
    }
    s.views[id] = Tensor::borrow(t.dtype, d, ptr, kind);
  }
  s.shapesDirty = false;
  s.shapesReady = true;
  s.hostLayersDirty = true;  // host layers run before the next launch (refreshHostLayers)
  return Status::OK();
}

Status ExecutionContext::refreshHostLayers() {
  State& s = *s_;
  const plan::Plan& p = *s.plan;
  // Compared in place (no allocation per run): host inputs are at most 64 values each.
  bool changed = s.hostLayersDirty;
  for (int32_t id : s.hostInputs)
    changed |= s.views[id].numel() > 0 && std::memcmp(s.hostCopies[id].raw(), s.views[id].raw(), s.hostCopies[id].nbytes()) != 0;
  if (!changed) return Status::OK();
  // Host layers depend on shapes, constants and host inputs only: evaluated again when one of
  // those changed. A run still in flight may read the host arena they write (uploads, the host
  // inputs' copies): wait.
  KILN_RETURN_IF_ERROR(s.cuda->waitIdle());
  for (int32_t id : s.hostInputs)
    if (s.views[id].numel() > 0) std::memcpy(s.hostCopies[id].raw(), s.views[id].raw(), s.hostCopies[id].nbytes());
  s.hostLayersDirty = true;
  for (size_t l = 0; l < p.layers.size(); ++l) {
    if (p.layers[l].placement != plan::Placement::kHost) continue;
    const plan::LayerInfo& layer = p.layers[l];
    cpu::KernelContext kctx{layer.attrs, s.layers[l].ins, s.layers[l].outs, s.kernelStates[l].get()};
    Status st = engine_->impl_->kernels[l]->run(kctx);
    if (!st.ok())
      return std::move(st).withContext(fmt::format("host layer '{}' ({}, tactic {})", layer.name, layer.op, layer.tactic));
  }
  s.hostLayersDirty = false;
  // No invalidation: the launch key (input dims, I/O addresses, host-input values) picks or
  // captures the graph.
  return Status::OK();
}

namespace {

// Re-sizes every non-constant view to the shape program's current registers, keeping its
// address: after a data-dependent dim's value is read (or reset to its bound).
Status refreshViewDims(const plan::Plan& p, const std::vector<int64_t>& regs, std::vector<Tensor>& views) {
  for (size_t id = 0; id < p.tensors.size(); ++id) {
    const auto& t = p.tensors[id];
    if (t.kind == plan::TensorKind::kConstant) continue;
    Dims d;
    bool changed = static_cast<int>(t.dims.size()) != views[id].rank();
    for (size_t a = 0; a < t.dims.size(); ++a) {
      const int64_t v = t.dims[a].isStatic() ? t.dims[a].value : regs[t.dims[a].reg];
      if (v < 0) return InvalidArgument("tensor '{}' would get a negative dimension ({})", t.name, v);
      changed |= !changed && views[id].dims()[static_cast<int>(a)] != v;
      d.push_back(v);
    }
    if (!changed) continue;
    if (t.kind == plan::TensorKind::kIntermediate && static_cast<uint64_t>(d.numel()) * dtypeSize(t.dtype) > t.maxBytes)
      return InternalError("tensor '{}' needs {} at shape {}, more than the {} bytes planned", t.name,
                           d.numel() * dtypeSize(t.dtype), d.toString(), t.maxBytes);
    views[id] = Tensor::borrow(t.dtype, d, views[id].raw(), views[id].memoryKind());
  }
  return Status::OK();
}

}  // namespace

Result<Dims> ExecutionContext::getTensorShape(const std::string& name) {
  const plan::Plan& p = *s_->plan;
  int id = p.findTensor(name);
  if (id < 0 || (p.tensors[id].kind != plan::TensorKind::kInput && p.tensors[id].kind != plan::TensorKind::kOutput))
    return NotFound("the engine has no input or output '{}'", name);
  KILN_RETURN_IF_ERROR(prepare());
  return s_->views[id].dims();
}

Status ExecutionContext::setTensorAddress(const std::string& name, void* data) {
  const plan::Plan& p = *s_->plan;
  int id = p.findTensor(name);
  if (id < 0 || (p.tensors[id].kind != plan::TensorKind::kInput && p.tensors[id].kind != plan::TensorKind::kOutput))
    return NotFound("the engine has no input or output '{}'", name);
  const auto& t = p.tensors[id];
  auto& addr = t.kind == plan::TensorKind::kInput ? s_->inputAddr[t.ioIndex] : s_->outputAddr[t.ioIndex];
  // A CUDA engine checks each new address once (run() sets the same staging buffers every call).
  if (s_->isCuda() && data && data != addr)
    KILN_RETURN_IF_ERROR(s_->cuda->checkAddress(data, t.placement == plan::Placement::kHost, name));
  addr = data;
  const bool device = s_->isCuda() && t.placement != plan::Placement::kHost;
  s_->views[id] = Tensor::borrow(t.dtype, s_->views[id].dims(), data, device ? MemoryKind::kDevice : MemoryKind::kHost);
  return Status::OK();
}

Status ExecutionContext::execute() {
  State& s = *s_;
  const plan::Plan& p = *s.plan;
  KILN_RETURN_IF_ERROR(prepare());
  // Data-dependent sizes start again from their bounds before anything reads the views (the
  // buffer checks below: an output the last run found empty still needs a buffer).
  KILN_RETURN_IF_ERROR(resetRuntimeDims());
  for (size_t i = 0; i < p.inputs.size(); ++i)
    if (!s.inputAddr[i] && s.views[p.inputs[i]].numel() > 0)
      return FailedPrecondition("input '{}' has no buffer (call setTensorAddress)", p.tensors[p.inputs[i]].name);
  for (size_t i = 0; i < p.outputs.size(); ++i)
    if (!s.outputAddr[i] && s.views[p.outputs[i]].numel() > 0)
      return FailedPrecondition("output '{}' has no buffer (call setTensorAddress)", p.tensors[p.outputs[i]].name);
  if (s.isCuda()) {
    KILN_RETURN_IF_ERROR(refreshHostLayers());
    s.cuda->setLaunchKey(launchKey());
    KILN_RETURN_IF_ERROR(s.cuda->launch(nullptr, true, runtimeDimsHook()));
    // The device accumulates per-layer times; count the run here so layerTimes() can average
    // (without this `kiln bench --profile` on a GPU reported the sum of all runs as one run).
    if (s.profiling)
      for (auto& r : s.layerRuns) ++r;
    return Status::OK();
  }
  const auto& kernels = engine_->impl_->kernels;
  const bool dataDependent = !p.runtimeDims.empty();
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const plan::LayerInfo& layer = p.layers[l];
    cpu::KernelContext kctx{layer.attrs, s.layers[l].ins, s.layers[l].outs, s.kernelStates[l].get()};
    std::chrono::steady_clock::time_point t0;
    if (s.profiling) t0 = std::chrono::steady_clock::now();
    Status st = kernels[l]->run(kctx);
    if (s.profiling) {
      s.layerMs[l] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      s.layerRuns[l]++;
    }
    if (!st.ok()) return std::move(st).withContext(fmt::format("layer '{}' ({}, tactic {})", layer.name, layer.op, layer.tactic));
    if (dataDependent) KILN_RETURN_IF_ERROR(readRuntimeDims(static_cast<int32_t>(l)));
  }
  return Status::OK();
}

Status ExecutionContext::resetRuntimeDims() {
  State& s = *s_;
  if (!s.runtimePinned) return Status::OK();
  // The previous run read data-dependent sizes: start again from their bounds.
  std::fill(s.runtimeValues.begin(), s.runtimeValues.end(), -1);
  s.runtimePinned = false;
  s.plan->program.evaluate(s.inputDimPtrs, s.regs.data(), s.runtimeValues.data());
  return refreshViewDims(*s.plan, s.regs, s.views);
}

std::function<Status(size_t)> ExecutionContext::runtimeDimsHook() {
  if (s_->plan->runtimeDims.empty()) return nullptr;
  return [this](size_t layer) { return readRuntimeDims(static_cast<int32_t>(layer)); };
}

Status ExecutionContext::readRuntimeDims(int32_t layerIndex) {
  State& s = *s_;
  const plan::Plan& p = *s.plan;
  bool read = false;
  for (size_t k = 0; k < p.runtimeDims.size(); ++k) {
    const plan::RuntimeDim& rd = p.runtimeDims[k];
    if (rd.layer != layerIndex) continue;
    const plan::LayerInfo& layer = p.layers[layerIndex];
    const Tensor& out = s.views[layer.outputs[rd.output]];
    const int64_t bound = s.regs[p.program.instrs[rd.reg].a];
    const int64_t v = rd.axis < out.rank() ? out.dims()[rd.axis] : -1;
    if (v < 0 || v > bound)
      return InternalError("layer '{}' ({}) produced output {} of shape {}: its data-dependent dim {} must be within "
                           "[0, {}]", layer.name, layer.op, rd.output, out.dims().toString(), rd.axis, bound);
    s.runtimeValues[k] = v;
    read = true;
  }
  if (!read) return Status::OK();
  s.runtimePinned = true;
  p.program.evaluate(s.inputDimPtrs, s.regs.data(), s.runtimeValues.data());
  return refreshViewDims(p, s.regs, s.views);
}

void ExecutionContext::enableLayerProfiling(bool on) {
  s_->profiling = on;
  if (s_->isCuda()) s_->cuda->setProfiling(on);
  s_->layerMs.assign(s_->plan->layers.size(), 0.0);
  s_->layerRuns.assign(s_->plan->layers.size(), 0);
}

std::vector<ExecutionContext::LayerTime> ExecutionContext::layerTimes() const {
  std::vector<LayerTime> out;
  const plan::Plan& p = *s_->plan;
  for (size_t l = 0; l < s_->layerMs.size(); ++l) {
    double ms = s_->isCuda() ? s_->cuda->layerMs(l) : s_->layerMs[l];
    out.push_back({p.layers[l].name, p.layers[l].op, p.layers[l].tactic, ms, s_->layerRuns[l]});
  }
  return out;
}

Status ExecutionContext::run(const std::vector<Named>& inputs, std::vector<Named>* outputs) {
  const plan::Plan& p = *s_->plan;
  const bool isCuda = s_->isCuda();
  std::vector<bool> given(p.inputs.size(), false);
  std::vector<const Tensor*> feeds(p.inputs.size(), nullptr);
  for (const Named& in : inputs) {
    int i = findIndex(p.inputs, p, in.name);
    if (i < 0) return NotFound("the engine has no input '{}'", in.name);
    const auto& t = p.tensors[p.inputs[i]];
    if (in.tensor.dtype() != t.dtype)
      return InvalidArgument("input '{}' has type {} but the engine expects {}{}", in.name, dtypeName(in.tensor.dtype()),
                             dtypeName(t.dtype), t.shapeText);
    if (in.tensor.memoryKind() != MemoryKind::kHost)
      return InvalidArgument("input '{}' must be in host memory for run() (use setTensorAddress for device memory)",
                             in.name);
    KILN_RETURN_IF_ERROR(setInputShape(in.name, in.tensor.dims()));
    given[i] = true;
    feeds[i] = &in.tensor;
  }
  for (size_t i = 0; i < given.size(); ++i)
    if (!given[i]) return InvalidArgument("input '{}' is missing", p.tensors[p.inputs[i]].name);
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    const auto& name = p.tensors[p.inputs[i]].name;
    if (!isCuda || p.tensors[p.inputs[i]].placement == plan::Placement::kHost) {  // host memory
      KILN_RETURN_IF_ERROR(setTensorAddress(name, const_cast<void*>(feeds[i]->raw())));
      continue;
    }
    KILN_ASSIGN_OR_RETURN(void* dev, s_->cuda->staging(i, feeds[i]->nbytes()));
    KILN_RETURN_IF_ERROR(s_->cuda->copyToDevice(dev, feeds[i]->raw(), feeds[i]->nbytes()));
    KILN_RETURN_IF_ERROR(setTensorAddress(name, dev));
  }
  outputs->clear();
  if (!isCuda) s_->runOutputs.clear();
  for (size_t k = 0; k < p.outputs.size(); ++k) {
    int32_t id = p.outputs[k];
    KILN_ASSIGN_OR_RETURN(Dims d, getTensorShape(p.tensors[id].name));
    outputs->push_back({p.tensors[id].name, Tensor::allocate(p.tensors[id].dtype, d)});
    void* addr = outputs->back().tensor.raw();
    if (isCuda) {
      KILN_ASSIGN_OR_RETURN(addr, s_->cuda->staging(p.inputs.size() + k, outputs->back().tensor.nbytes()));
    } else {
      s_->runOutputs.push_back(outputs->back().tensor);  // shares the buffer
    }
    KILN_RETURN_IF_ERROR(setTensorAddress(p.tensors[id].name, addr));
  }
  KILN_RETURN_IF_ERROR(execute());
  // Outputs with data-dependent dims were allocated for their bounds; the values written fill
  // the front of the buffer in the actual shape.
  for (size_t k = 0; k < p.outputs.size() && !p.runtimeDims.empty(); ++k) {
    Tensor& out = (*outputs)[k].tensor;
    const Dims& actual = s_->views[p.outputs[k]].dims();
    if (out.dims() == actual) continue;
    Tensor trimmed = Tensor::allocate(out.dtype(), actual);
    if (out.dtype() == DType::kString) {
      for (int64_t i = 0; i < trimmed.numel(); ++i) trimmed.data<std::string>()[i] = out.data<std::string>()[i];
    } else {
      std::memcpy(trimmed.raw(), out.raw(), trimmed.nbytes());
    }
    out = std::move(trimmed);
  }
  if (isCuda)
    for (size_t k = 0; k < p.outputs.size(); ++k) {
      Tensor& out = (*outputs)[k].tensor;
      KILN_RETURN_IF_ERROR(s_->cuda->copyToHost(out.raw(), s_->views[p.outputs[k]].raw(), out.nbytes()));
    }
  return Status::OK();
}

void ExecutionContext::setCudaGraphs(bool on) {
  if (s_->isCuda()) s_->cuda->setCudaGraphs(on);
}

bool ExecutionContext::cudaGraphs() const { return s_->isCuda() && s_->cuda->cudaGraphs(); }

Status ExecutionContext::enqueueOn(void* cudaStream) {
  KILN_RETURN_IF_ERROR(prepare());
  if (!s_->isCuda()) return FailedPrecondition("enqueueOn needs a CUDA engine");
  KILN_RETURN_IF_ERROR(resetRuntimeDims());  // before the buffer checks, as in execute()
  const plan::Plan& p = *s_->plan;
  for (size_t i = 0; i < p.inputs.size(); ++i)
    if (!s_->inputAddr[i] && s_->views[p.inputs[i]].numel() > 0)
      return FailedPrecondition("input '{}' has no buffer (call setTensorAddress)", p.tensors[p.inputs[i]].name);
  for (size_t i = 0; i < p.outputs.size(); ++i)
    if (!s_->outputAddr[i] && s_->views[p.outputs[i]].numel() > 0)
      return FailedPrecondition("output '{}' has no buffer (call setTensorAddress)", p.tensors[p.outputs[i]].name);
  KILN_RETURN_IF_ERROR(refreshHostLayers());
  s_->cuda->setLaunchKey(launchKey());
  return s_->cuda->launch(cudaStream, false, runtimeDimsHook());
}

std::vector<int64_t> ExecutionContext::launchKey() const {
  // Everything a captured CUDA graph bakes in that can change between runs: the input dims
  // (shapes of every layer follow from them), the I/O addresses and the host inputs' values
  // (kernel arguments: a TopK's K), as refreshHostLayers() last saw them.
  std::vector<int64_t> key;
  for (const Dims& d : s_->inputDims) {
    key.push_back(d.rank());
    for (int64_t x : d) key.push_back(x);
  }
  const plan::Plan& p = *s_->plan;
  for (size_t i = 0; i < s_->inputAddr.size(); ++i)  // host inputs: read through their copies
    if (p.tensors[p.inputs[i]].placement != plan::Placement::kHost)
      key.push_back(static_cast<int64_t>(reinterpret_cast<intptr_t>(s_->inputAddr[i])));
  for (void* a : s_->outputAddr) key.push_back(static_cast<int64_t>(reinterpret_cast<intptr_t>(a)));
  for (int32_t id : s_->hostInputs) {  // static sizes: the words alone tell the values apart
    const Tensor& h = s_->hostCopies[id];
    const char* b = static_cast<const char*>(h.raw());
    for (size_t i = 0; i < h.nbytes(); i += sizeof(int64_t)) {
      int64_t w = 0;
      std::memcpy(&w, b + i, std::min(sizeof(int64_t), h.nbytes() - i));
      key.push_back(w);
    }
  }
  return key;
}

}  // namespace kiln
