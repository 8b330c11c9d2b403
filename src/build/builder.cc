// The builder: imported graph + BuildConfig -> Plan. Phases: check the config, resolve the
// optimization profiles (static dims are specialized into the graph), compile every tensor's dims
// into the shape program, size tensors at every profile corner, choose a tactic per layer (timed on
// the target when there is a choice), plan memory, and fill in the plan's metadata.
#include "build/builder_internal.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "backends/cpu/cpu_info.h"
#include "backends/cpu/kernel.h"
#include "build/graph_optimizer.h"
#include "build/cuda_target.h"
#include "build/memory_planner.h"
#include "build/placement.h"
#include "build/shape_compiler.h"
#include "build/tactic_timer.h"
#include "ir/infer.h"
#include "plan/checksum.h"

namespace kiln::build {

namespace {

Status checkConfig(const BuildConfig& cfg) {
  if (cfg.target == Target::kCPU) {
    const char* refused = cfg.fp16 ? "--fp16" : cfg.bf16 ? "--bf16" : nullptr;
    if (refused)
      return Unsupported("{} is not supported on the CPU target: the CPU backend runs fp32; build for the GPU "
                         "(--target cuda) for FP16/BF16", refused);
  }
  if (cfg.fp16 && cfg.bf16) return InvalidArgument("--fp16 and --bf16 are exclusive: choose one reduced precision");
  if (cfg.reducedPrecisionIO && !cfg.fp16 && !cfg.bf16)
    return InvalidArgument("--reduced-io needs --fp16 or --bf16: it gives float32 inputs and outputs that type");
  const char* refused = cfg.int8 ? "--int8" : cfg.fp8 ? "--fp8" : nullptr;
  if (refused)
    return Unsupported("{} is not supported yet: INT8/FP8 come with the quantization work (calibration, Q/DQ)",
                       refused);
  if (cfg.optimizationLevel < 0 || cfg.optimizationLevel > 5)
    return InvalidArgument("builder optimization level must be 0-5 (got {})", cfg.optimizationLevel);
  return Status::OK();
}

// Checks profiles against the graph inputs and specializes dims fixed by every profile.
Result<std::vector<plan::ProfileInfo>> resolveProfiles(ir::Graph& g, const BuildConfig& cfg) {
  std::vector<const ir::Value*> dynamic;
  for (const ir::Value* in : g.inputs()) {
    if (!in->shape().rankKnown())
      return Unsupported("input '{}' has an unknown rank; give the model's input a shape", in->name());
    if (!in->shape().isStatic()) dynamic.push_back(in);
  }
  std::vector<OptimizationProfile> profiles = cfg.profiles;
  if (profiles.empty()) {
    if (!dynamic.empty()) {
      std::string list;
      for (const ir::Value* v : dynamic) list += fmt::format("{}'{}' {}", list.empty() ? "" : ", ", v->name(), v->shape().toString());
      return InvalidArgument("the model has dynamic inputs ({}); an optimization profile is needed: give "
                             "--shapes name:AxB or --min-shapes/--opt-shapes/--max-shapes", list);
    }
    profiles.emplace_back();
  }
  std::vector<plan::ProfileInfo> out;
  for (size_t p = 0; p < profiles.size(); ++p) {
    const auto& prof = profiles[p];
    for (const auto& [name, range] : prof.inputs) {
      const ir::Value* v = g.findValue(name);
      if (!v || !v->isGraphInput())
        return InvalidArgument("profile {} names '{}', which is not an input of the model", p, name);
    }
    plan::ProfileInfo info;
    std::map<std::string, std::tuple<int64_t, int64_t, int64_t, std::string>> symbolRanges;
    for (const ir::Value* in : g.inputs()) {
      const Shape& s = in->shape();
      auto it = prof.inputs.find(in->name());
      if (it == prof.inputs.end()) {
        if (!s.isStatic())
          return InvalidArgument("input '{}' has dynamic shape {} but profile {} gives no range for it", in->name(),
                                 s.toString(), p);
        continue;
      }
      const auto& r = it->second;
      for (const Dims* d : {&r.min, &r.opt, &r.max})
        if (d->rank() != s.rank())
          return InvalidArgument("profile {} gives input '{}' rank {} but the model's input is {} (rank {})", p,
                                 in->name(), d->rank(), s.toString(), s.rank());
      for (int a = 0; a < s.rank(); ++a) {
        if (r.min[a] < 0 || r.min[a] > r.opt[a] || r.opt[a] > r.max[a])
          return InvalidArgument("profile {} input '{}' dim {}: need 0 <= min <= opt <= max (got {}, {}, {})", p,
                                 in->name(), a, r.min[a], r.opt[a], r.max[a]);
        if (s[a].isStatic() && (r.min[a] != s[a].value() || r.max[a] != s[a].value()))
          return InvalidArgument("profile {} input '{}' dim {} must be {} (the model fixes it), got [{}, {}]", p,
                                 in->name(), a, s[a].value(), r.min[a], r.max[a]);
        if (s[a].isSymbolic()) {
          auto key = s[a].symbolName();
          auto rng = std::make_tuple(r.min[a], r.opt[a], r.max[a], in->name());
          auto [pos, fresh] = symbolRanges.emplace(key, rng);
          if (!fresh && (std::get<0>(pos->second) != r.min[a] || std::get<1>(pos->second) != r.opt[a] ||
                         std::get<2>(pos->second) != r.max[a]))
            return InvalidArgument("profile {}: dimension '{}' is shared by inputs '{}' and '{}' but their ranges differ",
                                   p, key, std::get<3>(pos->second), in->name());
        }
      }
      info.inputs.push_back({in->name(), r.min, r.opt, r.max});
    }
    out.push_back(std::move(info));
  }
  // Specialize dims that every profile fixes (min == max everywhere): more of the graph becomes
  // static, which helps inference and kernels, and the engine still checks the inputs.
  for (ir::Value* in : g.inputs()) {
    Shape s = in->shape();
    bool changed = false;
    for (int a = 0; a < s.rank(); ++a) {
      if (s[a].isStatic()) continue;
      std::optional<int64_t> fixed;
      bool allFixed = true;
      for (const auto& prof : out) {
        auto it = std::find_if(prof.inputs.begin(), prof.inputs.end(), [&](const auto& x) { return x.name == in->name(); });
        if (it->min[a] != it->max[a] || (fixed && *fixed != it->min[a])) allFixed = false;
        fixed = it->min[a];
      }
      if (allFixed && fixed) {
        s[a] = Dim(*fixed);
        changed = true;
      }
    }
    if (changed) in->setShape(std::move(s));
  }
  return out;
}

// Concrete dims of every tensor for one set of input dims.
// CUDA engines evaluate host layers (shape arithmetic) once per input-shape set, before the run,
// so none may depend on a data-dependent size: that is known only after its layer has run.
Status checkHostLayersBeforeRuntimeDims(const plan::Plan& p) {
  if (p.runtimeDims.empty()) return Status::OK();
  std::vector<bool> dataDependent(p.program.instrs.size(), false);
  for (size_t i = 0; i < p.program.instrs.size(); ++i) {
    const plan::ShapeInstr& ins = p.program.instrs[i];
    if (ins.op == plan::ShapeInstr::kRuntime) dataDependent[i] = true;
    else if (ins.op != plan::ShapeInstr::kInputDim && ins.op != plan::ShapeInstr::kConst)
      dataDependent[i] = dataDependent[ins.a] || dataDependent[ins.b];
  }
  for (const auto& l : p.layers) {
    if (l.placement != plan::Placement::kHost) continue;
    for (const auto* ids : {&l.inputs, &l.outputs})
      for (int32_t id : *ids) {
        if (id < 0) continue;
        for (const auto& d : p.tensors[id].dims)
          if (!d.isStatic() && dataDependent[d.reg])
            return Unsupported("layer '{}' ({}) computes shapes on the host from '{}' {}, whose size depends on "
                               "tensor values; CUDA engines evaluate such shape arithmetic before the run",
                               l.name, l.op, p.tensors[id].name, p.tensors[id].shapeText);
      }
  }
  return Status::OK();
}

Result<std::vector<Dims>> evaluateAll(const plan::Plan& p, const std::vector<Dims>& inputDims) {
  std::vector<const Dims*> ptrs;
  for (const Dims& d : inputDims) ptrs.push_back(&d);
  std::vector<int64_t> regs(p.program.instrs.size());
  if (!p.program.evaluate(ptrs, regs.data())) return InvalidArgument("a shape computation divides by zero");
  std::vector<Dims> out(p.tensors.size());
  for (size_t t = 0; t < p.tensors.size(); ++t) {
    for (const auto& d : p.tensors[t].dims) {
      int64_t v = d.isStatic() ? d.value : regs[d.reg];
      if (v < 0) return InvalidArgument("tensor '{}' would have a negative dimension ({})", p.tensors[t].name, v);
      out[t].push_back(v);
    }
  }
  return out;
}

std::vector<Dims> cornerInputs(const plan::Plan& p, const plan::ProfileInfo& prof, int corner) {
  std::vector<Dims> in;
  for (int32_t id : p.inputs) {
    const auto& t = p.tensors[id];
    auto it = std::find_if(prof.inputs.begin(), prof.inputs.end(), [&](const auto& x) { return x.name == t.name; });
    if (it != prof.inputs.end()) {
      in.push_back(corner == 0 ? it->min : corner == 1 ? it->opt : it->max);
    } else {
      Dims d;
      for (const auto& x : t.dims) d.push_back(x.value);
      in.push_back(d);
    }
  }
  return in;
}

// For each tensor, the device intermediate whose bytes it views (-1: its own buffer): outputs of
// the CUDA copy tactics of the reshaping ops (cuda_copy_Reshape, ...) whose input is a device
// intermediate of the same planned size, resolved through chains of views to the first buffer.
std::vector<int32_t> viewAliases(const plan::Plan& p, const std::vector<uint64_t>& maxBytes) {
  std::vector<int32_t> viewOf(p.tensors.size(), -1);
  auto ownBuffer = [&](int32_t t) {
    const plan::TensorInfo& ti = p.tensors[t];
    return ti.kind == plan::TensorKind::kIntermediate && ti.placement != plan::Placement::kHost &&
           ti.dtype != DType::kString;
  };
  for (const plan::LayerInfo& l : p.layers) {
    if (l.placement == plan::Placement::kHost || !l.domain.empty() || l.inputs.empty() || l.outputs.size() != 1) continue;
    if (l.tactic != "cuda_copy_" + l.op) continue;
    if (l.op != "Reshape" && l.op != "Flatten" && l.op != "Squeeze" && l.op != "Unsqueeze" && l.op != "Identity")
      continue;
    const int32_t in = l.inputs[0], out = l.outputs[0];
    if (in < 0 || out < 0 || !ownBuffer(in) || !ownBuffer(out) || maxBytes[in] != maxBytes[out]) continue;
    viewOf[out] = viewOf[in] >= 0 ? viewOf[in] : in;
  }
  return viewOf;
}

plan::TargetInfo cpuTarget() {
  const auto& c = cpu::cpuInfo();
  plan::TargetInfo t;
  t.kind = "cpu";
  t.arch = c.arch;
  t.device = c.model;
  t.features = c.features;
  t.libraries = c.libraries;
  return t;
}

}  // namespace

std::string cpuDeviceKey() {
  const auto& c = cpu::cpuInfo();
  std::string k = fmt::format("cpu:{}:{}:{}t", c.arch, c.model, c.cores);
  for (const auto& [n, v] : c.libraries) k += ":" + n + "-" + v;
  return k;
}

Result<std::unique_ptr<plan::Plan>> buildPlan(ir::Graph& g, const BuildConfig& cfg, const std::string& modelName,
                                              uint64_t modelHash, TimingCache* cache, BuildReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](const char* phase, int done, int total, const std::string& detail = "") {
    if (cfg.progress) cfg.progress(BuildProgress{phase, done, total, detail});
  };
  KILN_RETURN_IF_ERROR(checkConfig(cfg));
  // Engines hold tensors only; sequences and optionals run in the reference interpreter.
  for (const ir::Value* v : g.inputs())
    if (!v->isTensor())
      return Unsupported("input '{}' is {}: engines support tensors only (sequences and optionals run only in "
                         "the reference interpreter)", v->name(), valueTypeName(v->kind(), v->dtype()));
  for (const ir::Node* n : g.nodes())
    for (const ir::Value* v : n->outputs())
      if (!v->isTensor())
        return Unsupported("'{}' ({} of {}) is {}: engines support tensors only (sequences and optionals run "
                           "only in the reference interpreter)", v->name(), n->opType(), n->name(),
                           valueTypeName(v->kind(), v->dtype()));
  auto p = std::make_unique<plan::Plan>();
  p->kilnVersion = KILN_VERSION_STRING;
  p->modelName = modelName;
  p->modelHash = modelHash;
  const bool cuda = cfg.target == Target::kCUDA;
  std::unique_ptr<CudaTactics> gpu;
  if (cuda) {
    // Opened first: a machine without a usable GPU fails fast, before any optimization work.
    KILN_ASSIGN_OR_RETURN(gpu, CudaTactics::create(cfg, cache));
    p->target = gpu->target();
  } else {
    p->target = cpuTarget();
  }
  p->build.precisions = cfg.fp16 ? "fp32+fp16" : cfg.bf16 ? "fp32+bf16" : "fp32";
  p->build.tf32 = cuda && cfg.tf32;
  p->build.optimizationLevel = cfg.optimizationLevel;
  p->build.workspaceLimit = cfg.memoryLimit;
  if (report) report->nodesImported = static_cast<int>(g.numNodes());

  KILN_ASSIGN_OR_RETURN(p->profiles, resolveProfiles(g, cfg));
  KILN_RETURN_IF_ERROR(ir::inferGraph(g));
  KILN_RETURN_IF_ERROR(optimizeGraph(g, cfg, report));

  // ---- tensors and layers ------------------------------------------------------------------
  std::vector<const ir::Value*> inputs(g.inputs().begin(), g.inputs().end());
  ShapeCompiler shapes(inputs, [&g](const std::string& sym) { return g.symbolBound(sym); });
  p->runtimeDims.clear();
  std::unordered_map<const ir::Value*, int32_t> ids;
  auto addTensor = [&](const ir::Value* v, plan::TensorKind kind, const std::string& name) -> Result<int32_t> {
    plan::TensorInfo t;
    t.name = name;
    t.dtype = v->dtype();
    t.kind = kind;
    t.shapeText = v->shape().toString();
    if (t.dtype == DType::kUndefined) return InternalError("tensor '{}' has no type", name);
    KILN_ASSIGN_OR_RETURN(t.dims, shapes.compileShape(v->shape(), fmt::format("tensor '{}'", name)));
    if (kind == plan::TensorKind::kConstant) t.constant = v->constant();
    p->tensors.push_back(std::move(t));
    return static_cast<int32_t>(p->tensors.size() - 1);
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(int32_t id, addTensor(inputs[i], plan::TensorKind::kInput, inputs[i]->name()));
    p->tensors[id].ioIndex = static_cast<int32_t>(i);
    p->inputs.push_back(id);
    ids[inputs[i]] = id;
  }
  // Graph outputs produced by a node become output tensors; the first listing wins.
  std::unordered_map<const ir::Value*, int> outputSlot;
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    const ir::Value* o = g.outputs()[k];
    if (o->producer() && !outputSlot.count(o)) outputSlot[o] = static_cast<int>(k);
  }
  p->outputs.assign(g.outputs().size(), -1);
  std::vector<ir::Node*> nodes = g.nodes();
  for (ir::Node* n : nodes) {
    plan::LayerInfo l;
    l.name = n->name();
    l.op = n->opType();
    l.domain = n->domain();
    l.opset = n->opsetVersion();
    l.attrs = n->attrs();
    l.fusedFrom = n->fusedFrom();
    for (const ir::Value* in : n->inputs()) {
      if (!in) {
        l.inputs.push_back(-1);
        continue;
      }
      auto it = ids.find(in);
      if (it == ids.end()) {
        if (!in->isConstant()) return InternalError("{}: input '{}' has no producer", n->describe(), in->name());
        KILN_ASSIGN_OR_RETURN(int32_t id, addTensor(in, plan::TensorKind::kConstant, in->name()));
        it = ids.emplace(in, id).first;
      }
      l.inputs.push_back(it->second);
    }
    for (const ir::Value* o : n->outputs()) {
      auto slot = outputSlot.find(o);
      plan::TensorKind kind = slot != outputSlot.end() ? plan::TensorKind::kOutput : plan::TensorKind::kIntermediate;
      const int knownRuntime = shapes.numRuntime();
      KILN_ASSIGN_OR_RETURN(int32_t id, addTensor(o, kind, o->name()));
      // A data-dependent dim first appears on the output of the layer that decides it: the run
      // reads its value there (as that output's dim) once the layer has run.
      for (int k = knownRuntime; k < shapes.numRuntime(); ++k) {
        plan::RuntimeDim rd;
        rd.reg = shapes.runtimeReg(k);
        rd.layer = static_cast<int32_t>(p->layers.size());
        rd.output = static_cast<int32_t>(l.outputs.size());
        rd.axis = -1;
        for (int a = 0; a < o->shape().rank(); ++a)
          if (shapes.runtimeIndexOf(o->shape()[a]) == k) rd.axis = a;
        if (rd.axis < 0)
          return Unsupported("{}: output '{}' has shape {}, in which a data-dependent size appears only inside an "
                             "expression; engines read such sizes as a dim of the output that decides them",
                             n->describe(), o->name(), o->shape().toString());
        p->runtimeDims.push_back(rd);
      }
      if (slot != outputSlot.end()) {
        p->tensors[id].ioIndex = slot->second;
        p->outputs[slot->second] = id;
      }
      ids[o] = id;
      l.outputs.push_back(id);
    }
    p->layers.push_back(std::move(l));
  }
  // Outputs that are graph inputs, constants or repeats get their own tensor through a copy.
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    if (p->outputs[k] >= 0) continue;
    const ir::Value* o = g.outputs()[k];
    auto src = ids.find(o);
    int32_t srcId;
    if (src == ids.end()) {
      KILN_ASSIGN_OR_RETURN(srcId, addTensor(o, plan::TensorKind::kConstant, o->name() + "/const"));
      ids[o] = srcId;
    } else {
      srcId = src->second;
    }
    // The output keeps its ONNX name unless an input or an earlier output already has it.
    std::string name = p->findTensor(o->name()) < 0 ? o->name() : fmt::format("{}/output{}", o->name(), k);
    KILN_ASSIGN_OR_RETURN(int32_t id, addTensor(o, plan::TensorKind::kOutput, name));
    p->tensors[id].ioIndex = static_cast<int32_t>(k);
    p->outputs[k] = id;
    plan::LayerInfo copy;
    copy.name = "output_copy_" + std::to_string(k);
    copy.op = "Identity";
    copy.opset = g.opsets().count("") ? g.opsets().at("") : 1;
    copy.inputs = {srcId};
    copy.outputs = {id};
    copy.fusedFrom = {};
    p->layers.push_back(std::move(copy));
  }
  p->program = shapes.takeProgram();
  int hostLayers = 0;
  if (cuda) {
    KILN_ASSIGN_OR_RETURN(hostLayers, placeForCuda(*p));
    KILN_RETURN_IF_ERROR(checkHostLayersBeforeRuntimeDims(*p));
  }

  // ---- sizes at every profile corner -----------------------------------------------------------
  std::vector<uint64_t> maxBytes(p->tensors.size(), 0);
  std::vector<Dims> optDims;
  for (size_t pi = 0; pi < p->profiles.size(); ++pi) {
    for (int corner = 0; corner < 3; ++corner) {
      auto dims = evaluateAll(*p, cornerInputs(*p, p->profiles[pi], corner));
      if (!dims.ok())
        return std::move(dims).takeStatus().withContext(
            fmt::format("at the {} shapes of profile {}", corner == 0 ? "min" : corner == 1 ? "opt" : "max", pi));
      for (size_t t = 0; t < dims->size(); ++t)
        maxBytes[t] = std::max<uint64_t>(maxBytes[t], static_cast<uint64_t>((*dims)[t].numel()) * dtypeSize(p->tensors[t].dtype));
      if (pi == 0 && corner == 1) optDims = *dims;
    }
  }

  // ---- tactics ---------------------------------------------------------------------------------
  // Host layers (shape arithmetic of CUDA plans, every layer of CPU plans) take CPU tactics; on a
  // CUDA plan they are chosen by heuristics (they run once per shape set) and then evaluated at
  // the opt shapes so device tactics can be timed with the values they read on the host.
  BuildConfig hostCfg = cfg;
  if (cuda) hostCfg.optimizationLevel = 0;
  TacticTimer timer(hostCfg, cache);
  auto record = [&](plan::LayerInfo& l, const TacticChoice& choice) {
    l.tactic = choice.tactic;
    l.measuredUs = choice.microseconds;
    if (report) {
      report->tacticsTimed += choice.timed;
      report->timingCacheHits += choice.fromCache;
      if (!choice.candidates.empty())
        report->tacticTimings.push_back(TacticTiming{l.name, l.op, choice.tactic, choice.candidates});
    }
  };
  for (size_t li = 0; li < p->layers.size(); ++li) {
    plan::LayerInfo& l = p->layers[li];
    if (cuda && l.placement != plan::Placement::kHost) continue;
    progress("tactics", static_cast<int>(li), static_cast<int>(p->layers.size()), l.name);
    KILN_ASSIGN_OR_RETURN(TacticChoice choice, timer.choose(*p, l, optDims));
    record(l, choice);
  }
  if (cuda) {
    std::vector<Tensor> hostValues;
    if (hostLayers) {
      KILN_ASSIGN_OR_RETURN(hostValues, evaluateHostLayers(*p, optDims));
    }
    hostValues.resize(p->tensors.size());
    for (size_t li = 0; li < p->layers.size(); ++li) {
      plan::LayerInfo& l = p->layers[li];
      if (l.placement == plan::Placement::kHost) continue;
      progress("tactics", static_cast<int>(li), static_cast<int>(p->layers.size()), l.name);
      KILN_ASSIGN_OR_RETURN(TacticChoice choice, gpu->choose(*p, l, optDims, hostValues));
      record(l, choice);
    }
  }
  // A layer's precision is the float type it computes in (its first float output's type).
  for (plan::LayerInfo& l : p->layers) {
    for (int32_t id : l.outputs) {
      if (id < 0) continue;
      DType t = p->tensors[id].dtype;
      if (t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat32 || t == DType::kFloat64) {
        l.precision = t == DType::kFloat16 ? "fp16" : t == DType::kBFloat16 ? "bf16" : t == DType::kFloat64 ? "fp64" : "fp32";
        break;
      }
    }
  }
  progress("tactics", static_cast<int>(p->layers.size()), static_cast<int>(p->layers.size()));

  // ---- memory plan -------------------------------------------------------------------------------
  progress("memory", 0, 1);
  std::vector<BufferRequest> reqs;
  std::vector<int32_t> reqTensor;
  std::vector<int> first(p->tensors.size(), -1), last(p->tensors.size(), -1);
  for (size_t li = 0; li < p->layers.size(); ++li) {
    for (int32_t id : p->layers[li].outputs)
      if (id >= 0) first[id] = last[id] = static_cast<int>(li);
    for (int32_t id : p->layers[li].inputs)
      if (id >= 0) last[id] = static_cast<int>(li);
  }
  // Views share bytes: a device Reshape/Flatten/Squeeze/Unsqueeze/Identity (the cuda_copy_
  // tactics, which skip the copy when input and output are one buffer) whose input and output
  // are both device intermediates of the same size gets its input's offset, the pair planned as
  // one buffer live from the first write to the last read of either. (Each was a device-to-device
  // copy, one graph node and a full read and write of the tensor, per run.)
  std::vector<int32_t> viewOf = viewAliases(*p, maxBytes);
  for (size_t t = 0; t < p->tensors.size(); ++t)
    if (viewOf[t] >= 0) last[viewOf[t]] = std::max({last[viewOf[t]], last[t], first[t]});
  for (size_t t = 0; t < p->tensors.size(); ++t) {
    if (p->tensors[t].kind != plan::TensorKind::kIntermediate) continue;
    p->tensors[t].maxBytes = maxBytes[t];
    if (p->tensors[t].placement == plan::Placement::kHost || viewOf[t] >= 0) continue;  // host arena below; views
    reqs.push_back({maxBytes[t], first[t], std::max(first[t], last[t])});
    reqTensor.push_back(static_cast<int32_t>(t));
  }
  MemoryPlan mp = planMemory(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) p->tensors[reqTensor[i]].arenaOffset = mp.offsets[i];
  for (size_t t = 0; t < p->tensors.size(); ++t)
    if (viewOf[t] >= 0) p->tensors[t].arenaOffset = p->tensors[viewOf[t]].arenaOffset;
  p->memory.arenaBytes = mp.arenaBytes;
  p->memory.peakLiveBytes = mp.peakLiveBytes;
  p->memory.naiveBytes = mp.naiveBytes;
  if (cuda) {
    planHostArena(*p);
    p->memory.workspaceBytes = gpu->workspaceUsed();
  }
  for (const auto& t : p->tensors)
    if (t.kind == plan::TensorKind::kConstant) p->memory.weightBytes += t.constant.nbytes();
  if (cfg.memoryLimit && p->memory.arenaBytes > cfg.memoryLimit)
    return ResourceExhausted("the engine needs {} bytes of intermediate memory at the profiles' max shapes; the "
                             "limit is {}", p->memory.arenaBytes, cfg.memoryLimit);
  progress("memory", 1, 1);

  p->build.buildSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report) {
    report->layers = static_cast<int>(p->layers.size());
    report->arenaBytes = p->memory.arenaBytes;
    report->peakLiveBytes = p->memory.peakLiveBytes;
    report->naiveBytes = p->memory.naiveBytes;
    report->weightBytes = p->memory.weightBytes;
  }
  return p;
}

}  // namespace kiln::build
