// Config validation against the model, and derivation of the spec and build profile.
#include "serve/core/model_spec.h"

#include "build/cuda_target.h"

#include <algorithm>

#include "serve/core/datatype.h"

namespace kiln::serve {

namespace {

std::string dimsText(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += fmt::format("{}{}", i ? "," : "", d[i]);
  return s + "]";
}

int64_t numelStatic(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t x : d) {
    if (x < 0) return -1;
    n *= x;
  }
  return n;
}

QueuePolicy queuePolicy(const inference::ModelQueuePolicy& p) {
  QueuePolicy q;
  q.delayOnTimeout = p.timeout_action() == inference::ModelQueuePolicy::DELAY;
  q.defaultTimeoutUs = p.default_timeout_microseconds();
  q.allowTimeoutOverride = p.allow_timeout_override();
  q.maxQueueSize = p.max_queue_size();
  return q;
}

// Checks one config tensor against the model's tensor and fills the spec entry.
template <typename T>
Status checkTensor(const T& c, const TensorDesc* m, bool isInput, int maxBatch, TensorSpec* out) {
  const char* kind = isInput ? "input" : "output";
  if (!m)
    return InvalidArgument("config {} '{}' is not {} of the model", kind, c.name(), isInput ? "an input" : "an output");
  DType dt = fromConfigDataType(c.data_type());
  if (dt == DType::kUndefined) return InvalidArgument("config {} '{}' has no data_type", kind, c.name());
  if (dt != m->dtype)
    return InvalidArgument("config {} '{}' has data_type {} but the model's {} is {}", kind, c.name(),
                           inference::DataType_Name(c.data_type()), kind, inference::DataType_Name(toConfigDataType(m->dtype)));
  out->name = c.name();
  out->dtype = dt;
  out->dims.assign(c.dims().begin(), c.dims().end());
  for (int64_t d : out->dims)
    if (d < -1) return InvalidArgument("config {} '{}' dims {}: a dim is -1 (variable) or >= 0", kind, c.name(), dimsText(out->dims));
  out->engineDims = out->dims;
  if (c.has_reshape()) {
    out->reshaped = true;
    out->engineDims.assign(c.reshape().shape().begin(), c.reshape().shape().end());
    int64_t a = numelStatic(out->dims), b = numelStatic(out->engineDims);
    if (a < 0 || b < 0)
      return Unsupported("config {} '{}': reshape is supported only between fixed shapes (dims {}, reshape {})", kind,
                         c.name(), dimsText(out->dims), dimsText(out->engineDims));
    if (a != b)
      return InvalidArgument("config {} '{}': dims {} and reshape {} have different element counts", kind, c.name(),
                             dimsText(out->dims), dimsText(out->engineDims));
  }
  std::vector<int64_t> full = out->engineDims;
  if (maxBatch > 0) full.insert(full.begin(), -1);
  // An output of unknown rank (empty model dims) is accepted as the config states it.
  if (!isInput && m->dims.empty() && !full.empty()) return Status::OK();
  if (full.size() != m->dims.size())
    return InvalidArgument("config {} '{}' has dims {}{} but the model's {} has shape {} (rank {}){}", kind, c.name(),
                           dimsText(out->engineDims), maxBatch > 0 ? " plus the batch dim" : "", kind,
                           dimsText(m->dims), m->dims.size(),
                           maxBatch > 0 ? "" : "; if the first dim is the batch, set max_batch_size");
  for (size_t i = maxBatch > 0 ? 1 : 0; i < full.size(); ++i) {
    if (m->dims[i] >= 0 && full[i] != m->dims[i])
      return InvalidArgument("config {} '{}' dims {} disagree with the model's shape {} at dim {}", kind, c.name(),
                             dimsText(out->engineDims), dimsText(m->dims), i);
  }
  return Status::OK();
}

Result<std::map<std::string, Dims>> shapeParam(const inference::ModelConfig& cfg, const char* key) {
  auto it = cfg.parameters().find(key);
  if (it == cfg.parameters().end() || it->second.string_value().empty()) return std::map<std::string, Dims>{};
  Result<std::map<std::string, Dims>> r = InvalidArgument("'{}' is not a shape list", it->second.string_value());
  try {
    r = parseShapeList(it->second.string_value());
  } catch (const std::exception&) {  // std::stoll on an out-of-range number
  }
  if (!r.ok()) return std::move(r).takeStatus().withContext(fmt::format("config parameter '{}'", key));
  return r;
}

}  // namespace

const TensorSpec* ModelSpec::findInput(const std::string& n) const {
  int i = inputIndex(n);
  return i < 0 ? nullptr : &inputs[i];
}
const TensorSpec* ModelSpec::findOutput(const std::string& n) const {
  int i = outputIndex(n);
  return i < 0 ? nullptr : &outputs[i];
}
int ModelSpec::inputIndex(const std::string& n) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == n) return static_cast<int>(i);
  return -1;
}
int ModelSpec::outputIndex(const std::string& n) const {
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].name == n) return static_cast<int>(i);
  return -1;
}

Result<std::shared_ptr<ModelSpec>> makeModelSpec(const inference::ModelConfig& cfg, const ModelIODesc& io,
                                                 int64_t version) {
  auto spec = std::make_shared<ModelSpec>();
  spec->name = cfg.name();
  spec->version = version;
  spec->versionString = std::to_string(version);
  spec->platform = cfg.platform();

  // Features whose absence would change results are refused rather than ignored.
  if (cfg.has_sequence_batching())
    return Unsupported("config sets sequence_batching; Kiln serves stateless models only (use dynamic_batching)");
  if (cfg.has_ensemble_scheduling()) return Unsupported("config sets ensemble_scheduling; Kiln has no ensembles");
  if (cfg.batch_input_size() > 0 || cfg.batch_output_size() > 0)
    return Unsupported("config sets batch_input/batch_output, which Kiln does not implement");
  if (cfg.model_transaction_policy().decoupled())
    return Unsupported("config sets model_transaction_policy.decoupled; Kiln models answer each request once");
  static const char* kBackends[] = {"", "kiln", "onnxruntime", "tensorrt"};
  static const char* kPlatforms[] = {"", "kiln_onnx", "kiln_engine", "onnxruntime_onnx", "tensorrt_plan"};
  if (std::find(std::begin(kBackends), std::end(kBackends), cfg.backend()) == std::end(kBackends))
    return Unsupported("config backend '{}' is not served by Kiln (use \"kiln\", or leave it empty)", cfg.backend());
  if (std::find(std::begin(kPlatforms), std::end(kPlatforms), cfg.platform()) == std::end(kPlatforms))
    return Unsupported("config platform '{}' is not served by Kiln (ONNX models and Kiln engines only)", cfg.platform());

  if (cfg.max_batch_size() < 0) return InvalidArgument("config max_batch_size is {}; it must be >= 0", cfg.max_batch_size());
  if (cfg.max_batch_size() > 1 << 20) return InvalidArgument("config max_batch_size {} is too large", cfg.max_batch_size());
  spec->maxBatchSize = cfg.max_batch_size();
  if (spec->maxBatchSize > 0) {
    for (const auto* list : {&io.inputs, &io.outputs})
      for (const auto& t : *list)
        if (!t.dims.empty() && t.dims[0] != -1)
          return InvalidArgument("config max_batch_size is {} but the model's {} '{}' has shape {}: its first dim is "
                                 "fixed, so the model cannot batch (set max_batch_size: 0 and give full dims)",
                                 spec->maxBatchSize, list == &io.inputs ? "input" : "output", t.name, dimsText(t.dims));
  }

  if (cfg.input_size() == 0) return InvalidArgument("config has no inputs");
  for (const auto& in : cfg.input()) {
    if (spec->findInput(in.name())) return InvalidArgument("config input '{}' is listed twice", in.name());
    if (in.optional())
      return Unsupported("config input '{}' is optional; Kiln engines need every input", in.name());
    if (in.is_shape_tensor()) return Unsupported("config input '{}' is a shape tensor, which Kiln does not support", in.name());
    TensorSpec t;
    KILN_RETURN_IF_ERROR(checkTensor(in, io.findInput(in.name()), true, spec->maxBatchSize, &t));
    spec->inputs.push_back(std::move(t));
  }
  for (const auto& m : io.inputs)
    if (!spec->findInput(m.name)) return InvalidArgument("the model's input '{}' is missing from the config", m.name);
  for (const auto& out : cfg.output()) {
    if (spec->findOutput(out.name())) return InvalidArgument("config output '{}' is listed twice", out.name());
    TensorSpec t;
    KILN_RETURN_IF_ERROR(checkTensor(out, io.findOutput(out.name()), false, spec->maxBatchSize, &t));
    spec->outputs.push_back(std::move(t));
  }
  if (spec->outputs.empty()) return InvalidArgument("config has no outputs");

  if (cfg.has_dynamic_batching()) {
    const auto& db = cfg.dynamic_batching();
    spec->dynamicBatching = spec->maxBatchSize > 0;
    spec->queuePolicyConfigured = true;
    for (int p : db.preferred_batch_size()) {
      if (p < 1 || p > std::max(1, spec->maxBatchSize))
        return InvalidArgument("dynamic_batching preferred_batch_size {} is outside [1, max_batch_size {}]", p,
                               spec->maxBatchSize);
      spec->preferredBatchSizes.push_back(p);
    }
    std::sort(spec->preferredBatchSizes.begin(), spec->preferredBatchSizes.end());
    spec->maxQueueDelayUs = db.max_queue_delay_microseconds();
    spec->preserveOrdering = db.preserve_ordering();
    if (db.priority_levels() > 1000) return InvalidArgument("dynamic_batching priority_levels {} is too large", db.priority_levels());
    spec->priorityLevels = static_cast<uint32_t>(db.priority_levels());
    spec->defaultPriorityLevel = static_cast<uint32_t>(db.default_priority_level());
    if (spec->priorityLevels > 0 && (spec->defaultPriorityLevel < 1 || spec->defaultPriorityLevel > spec->priorityLevels))
      return InvalidArgument("dynamic_batching default_priority_level {} is outside [1, priority_levels {}]",
                             db.default_priority_level(), db.priority_levels());
    spec->defaultQueuePolicy = queuePolicy(db.default_queue_policy());
    for (const auto& [level, p] : db.priority_queue_policy()) {
      if (level < 1 || level > spec->priorityLevels)
        return InvalidArgument("dynamic_batching priority_queue_policy has level {} outside [1, priority_levels {}]", level,
                               spec->priorityLevels);
      spec->priorityQueuePolicy[static_cast<uint32_t>(level)] = queuePolicy(p);
    }
  }

  int count = 0;
  for (const auto& g : cfg.instance_group()) {
    if (g.kind() == inference::ModelInstanceGroup::KIND_GPU) {
      const int gpus = build::cudaDeviceCount();
      if (gpus == 0)
        return Unsupported("instance_group '{}' is KIND_GPU, but this machine has no usable GPU (or Kiln was built "
                           "without CUDA): use KIND_CPU", g.name());
      for (int id : g.gpus())
        if (id < 0 || id >= gpus)
          return InvalidArgument("instance_group '{}' lists GPU {}, but this machine has {} (0-{})", g.name(), id, gpus,
                                 gpus - 1);
    } else if (g.gpus_size() > 0) {
      return InvalidArgument("instance_group '{}' lists gpus but is not KIND_GPU", g.name());
    }
    if (g.count() < 0 || g.count() > 256) return InvalidArgument("instance_group '{}' count {} is outside [1, 256]", g.name(), g.count());
    // KIND_GPU: `count` instances on each listed GPU (every GPU when none is listed), as Triton.
    int devices = 1;
    if (g.kind() == inference::ModelInstanceGroup::KIND_GPU)
      devices = g.gpus_size() > 0 ? g.gpus_size() : build::cudaDeviceCount();
    count += std::max(1, g.count()) * devices;
  }
  spec->instanceCount = std::max(1, std::min(count, 256));

  if (auto it = cfg.parameters().find("execute_delay_ms"); it != cfg.parameters().end()) {
    try {
      spec->executeDelayMs = static_cast<uint32_t>(std::stoul(it->second.string_value()));
    } catch (...) {
      return InvalidArgument("config parameter 'execute_delay_ms' must be an integer, got '{}'", it->second.string_value());
    }
  }
  return spec;
}

Result<OptimizationProfile> deriveProfile(const inference::ModelConfig& cfg, const ModelSpec& spec) {
  KILN_ASSIGN_OR_RETURN(auto minShapes, shapeParam(cfg, "min_shapes"));
  KILN_ASSIGN_OR_RETURN(auto optShapes, shapeParam(cfg, "opt_shapes"));
  KILN_ASSIGN_OR_RETURN(auto maxShapes, shapeParam(cfg, "max_shapes"));
  for (const auto* m : {&minShapes, &optShapes, &maxShapes})
    for (const auto& [name, d] : *m)
      if (!spec.findInput(name)) return InvalidArgument("config shape parameters name '{}', which is not an input", name);
  OptimizationProfile prof;
  bool dynamic = false;
  for (const auto& in : spec.inputs) {
    Dims mn, opt, mx;
    if (spec.maxBatchSize > 0) {
      int64_t o = 1;
      if (!spec.preferredBatchSizes.empty()) o = spec.preferredBatchSizes.back();
      else if (spec.dynamicBatching) o = spec.maxBatchSize;
      mn.push_back(1);
      opt.push_back(o);
      mx.push_back(spec.maxBatchSize);
      dynamic = true;
    }
    const auto& d = in.engineDims;
    if (d.size() + (spec.maxBatchSize > 0 ? 1 : 0) > static_cast<size_t>(kMaxRank))
      return Unsupported("input '{}' has rank {}, more than Kiln's maximum of {}", in.name, d.size(), kMaxRank);
    auto given = [&](const std::map<std::string, Dims>& m, size_t i, int64_t* v) -> Status {
      auto it = m.find(in.name);
      if (it == m.end()) return Status::OK();
      if (it->second.size() != d.size())
        return InvalidArgument("config shape parameter for input '{}' has rank {}, but its dims {} have rank {} (give "
                               "dims without the batch dim)", in.name, it->second.size(), dimsText(d), d.size());
      *v = it->second[static_cast<int>(i)];
      return Status::OK();
    };
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i] >= 0) {
        mn.push_back(d[i]);
        opt.push_back(d[i]);
        mx.push_back(d[i]);
        continue;
      }
      dynamic = true;
      int64_t lo = 1, hi = -1, o = -1;
      KILN_RETURN_IF_ERROR(given(minShapes, i, &lo));
      KILN_RETURN_IF_ERROR(given(maxShapes, i, &hi));
      KILN_RETURN_IF_ERROR(given(optShapes, i, &o));
      if (hi < 0)
        return InvalidArgument("input '{}' dim {} is variable (-1) and no maximum is known: add parameters {{ key: "
                               "\"max_shapes\" value: {{ string_value: \"{}:{}\" }} }} (dims without the batch dim) to "
                               "config.pbtxt", in.name, i, in.name, "AxB");
      if (o < 0) o = hi;
      mn.push_back(lo);
      opt.push_back(o);
      mx.push_back(hi);
    }
    if (dynamic || spec.maxBatchSize > 0) KILN_RETURN_IF_ERROR(prof.set(in.name, mn, opt, mx));
  }
  return prof;
}

Status applyEngineLimits(ModelSpec& spec, const Engine& engine) {
  for (auto& in : spec.inputs) {
    const IOTensorInfo* io = engine.findIO(in.name);
    if (!io || !io->isInput) return InvalidArgument("the engine has no input '{}'", in.name);
    Dims mn, opt, mx;
    if (!engine.profileRange(0, in.name, &mn, &opt, &mx)) {
      auto st = io->shape.toDims();
      if (!st) return InternalError("engine input '{}' is dynamic but has no profile range", in.name);
      mn = mx = *st;
    }
    if (spec.maxBatchSize > 0) {
      // A larger minimum is met by padding (Instance::run); the maximum must hold a full batch.
      if (mn.rank() == 0 || mx[0] < spec.maxBatchSize)
        return InvalidArgument("max_batch_size is {} but the engine's input '{}' accepts batch sizes {}..{} only", spec.maxBatchSize,
                               in.name, mn.rank() ? mn[0] : 0, mx.rank() ? mx[0] : 0);
      spec.minEngineBatch = std::max<int64_t>(spec.minEngineBatch, std::max<int64_t>(1, mn[0]));
      mn[0] = 1;  // requests may be smaller: the batch is padded
    }
    in.minDims = mn;
    in.maxDims = mx;
  }
  return Status::OK();
}

}  // namespace kiln::serve
