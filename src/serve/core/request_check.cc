// Request checks.
#include "serve/core/request_check.h"

#include <algorithm>

#include "serve/core/names.h"

namespace kiln::serve {

namespace {
std::string dimsText(const Dims& d) {
  std::string s = "[";
  for (int i = 0; i < d.rank(); ++i) s += fmt::format("{}{}", i ? "," : "", d[i]);
  return s + "]";
}
std::string configShapeText(const ModelSpec& spec, const TensorSpec& t) {
  std::string s = "[";
  bool first = true;
  if (spec.maxBatchSize > 0) {
    s += "-1";
    first = false;
  }
  for (int64_t d : t.dims) {
    s += fmt::format("{}{}", first ? "" : ",", d);
    first = false;
  }
  return s + "]";
}
}  // namespace

Result<CheckedRequest> checkRequest(const ModelSpec& spec, InferRequest& req) {
  CheckedRequest out;
  const std::string model = fmt::format("model '{}'", spec.name);
  std::vector<int> order(spec.inputs.size(), -1);
  for (size_t i = 0; i < req.inputs.size(); ++i) {
    const InferTensor& in = req.inputs[i];
    int idx = spec.inputIndex(in.name);
    if (idx < 0) return InvalidArgument("unexpected inference input {} for {}", quoteForMessage(in.name), model);
    if (order[idx] >= 0) return InvalidArgument("input '{}' is given more than once", in.name);
    order[idx] = static_cast<int>(i);
  }
  for (size_t k = 0; k < spec.inputs.size(); ++k)
    if (order[k] < 0)
      return InvalidArgument("expected {} inputs but got {} inputs for {}: input '{}' is missing", spec.inputs.size(),
                             req.inputs.size(), model, spec.inputs[k].name);

  int64_t batch = -1;
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    const TensorSpec& ts = spec.inputs[k];
    const InferTensor& in = req.inputs[order[k]];
    if (in.dtype != ts.dtype)
      return InvalidArgument("inference input '{}' data-type is '{}', but model '{}' expects '{}'", in.name,
                             kserveDatatype(in.dtype), spec.name, kserveDatatype(ts.dtype));
    const Dims& s = in.shape;
    size_t rank = ts.dims.size() + (spec.maxBatchSize > 0 ? 1 : 0);
    bool ok = static_cast<size_t>(s.rank()) == rank;
    size_t off = spec.maxBatchSize > 0 ? 1 : 0;
    for (size_t d = 0; ok && d < ts.dims.size(); ++d)
      if (ts.dims[d] >= 0 && s[static_cast<int>(d + off)] != ts.dims[d]) ok = false;
    for (int d = 0; ok && d < s.rank(); ++d)
      if (s[d] < 0) ok = false;
    if (!ok)
      return InvalidArgument("unexpected shape for input '{}' for {}. Expected {}, got {}", in.name, model,
                             configShapeText(spec, ts), dimsText(s));
    if (spec.maxBatchSize > 0) {
      int64_t b = s[0];
      if (b < 1 || b > spec.maxBatchSize)
        return InvalidArgument("inference request batch-size must be <= {} for '{}' (input '{}' has batch size {})",
                               spec.maxBatchSize, spec.name, in.name, b);
      if (batch >= 0 && b != batch)
        return InvalidArgument("input '{}' has batch size {} but input '{}' has {}: all inputs must agree", in.name, b,
                               req.inputs[order[0]].name, batch);
      batch = b;
    }
    // The engine's range for variable dims (a -1 dim that is larger than the profile allows).
    if (ts.minDims.rank() > 0 && !ts.reshaped) {
      for (int d = 0; d < s.rank() && d < ts.maxDims.rank(); ++d)
        if (s[d] < ts.minDims[d] || s[d] > ts.maxDims[d])
          return InvalidArgument("input '{}' shape {}: dim {} is {}, outside the range [{}, {}] the model was built for "
                                 "(config parameters min_shapes/max_shapes)", in.name, dimsText(s), d, s[d],
                                 ts.minDims[d], ts.maxDims[d]);
    }
    if (!in.data.defined() || in.data.dtype() != in.dtype || in.data.numel() != s.numel())
      return InvalidArgument("input '{}': data does not match its shape {} and datatype", in.name, dimsText(s));
    out.signature += dimsText(s.rank() > 0 && spec.maxBatchSize > 0 ? Dims(s.begin() + 1, s.end()) : s);
    out.signature += ';';
  }
  out.batchSize = spec.maxBatchSize > 0 ? batch : 1;

  for (const auto& o : req.outputs)
    if (spec.outputIndex(o.name) < 0)
      return InvalidArgument("unexpected inference output {} for {}", quoteForMessage(o.name), model);
  for (size_t i = 0; i < req.outputs.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (req.outputs[i].name == req.outputs[j].name)
        return InvalidArgument("output '{}' is requested more than once", req.outputs[i].name);

  // Priority: 0 = the model's default; levels are 1-based in the protocol.
  uint32_t levels = std::max<uint32_t>(1, spec.priorityLevels);
  uint32_t p = req.priority == 0 ? (spec.priorityLevels ? spec.defaultPriorityLevel : 1) : req.priority;
  if (p > levels) {
    if (spec.priorityLevels == 0 && req.priority > 0) p = 1;  // a model without levels ignores priorities
    else return InvalidArgument("request priority {} is outside [1, {}] for {}", req.priority, levels, model);
  }
  out.priorityLevel = p - 1;

  const QueuePolicy* pol = &spec.defaultQueuePolicy;
  if (auto it = spec.priorityQueuePolicy.find(p); it != spec.priorityQueuePolicy.end()) pol = &it->second;
  out.timeoutUs = pol->defaultTimeoutUs;
  out.delayOnTimeout = pol->delayOnTimeout;
  // A request may shorten the timeout where the policy allows it; a model without dynamic
  // batching has no queue policy to forbid it, so a request timeout always applies there.
  bool mayOverride = pol->allowTimeoutOverride || !spec.queuePolicyConfigured;
  if (req.timeoutUs > 0 && mayOverride && (out.timeoutUs == 0 || req.timeoutUs < out.timeoutUs)) out.timeoutUs = req.timeoutUs;

  std::vector<InferTensor> sorted;
  sorted.reserve(req.inputs.size());
  for (int i : order) sorted.push_back(std::move(req.inputs[i]));
  req.inputs = std::move(sorted);
  return out;
}

}  // namespace kiln::serve
