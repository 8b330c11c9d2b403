// Auto-complete.
#include "serve/core/auto_complete.h"

#include "serve/core/datatype.h"

namespace kiln::serve {

namespace {

template <typename T>
void fillTensor(T* t, const TensorDesc& d, bool batched) {
  t->set_name(d.name);
  t->set_data_type(toConfigDataType(d.dtype));
  t->clear_dims();
  for (size_t i = batched ? 1 : 0; i < d.dims.size(); ++i) t->add_dims(d.dims[i]);
}

// An entry that names a tensor and nothing else is completed; an entry that says more is the
// user's statement and is only checked later.
template <typename T>
bool onlyNamed(const T& t) {
  return t.data_type() == inference::TYPE_INVALID && t.dims_size() == 0 && !t.has_reshape();
}

}  // namespace

bool modelSupportsBatching(const ModelIODesc& io) {
  if (io.inputs.empty()) return false;
  for (const auto* list : {&io.inputs, &io.outputs})
    for (const auto& t : *list)
      if (t.dims.empty() || t.dims[0] != -1) return false;
  return true;
}

void autoCompleteConfig(inference::ModelConfig& cfg, const ModelIODesc& io, const std::string& modelName,
                        bool isEngine, const AutoCompleteOptions& opts) {
  if (cfg.name().empty()) cfg.set_name(modelName);
  if (cfg.backend().empty() && cfg.platform().empty()) cfg.set_backend("kiln");
  if (cfg.platform().empty()) cfg.set_platform(isEngine ? "kiln_engine" : "kiln_onnx");

  // Batching is decided before tensors are filled in: it decides whether their first dim is
  // part of `dims`. Only a config silent about inputs, outputs and batching gets the default.
  bool silent = cfg.input_size() == 0 && cfg.output_size() == 0 && cfg.max_batch_size() == 0;
  if (silent && modelSupportsBatching(io)) {
    cfg.set_max_batch_size(opts.defaultMaxBatchSize);
    if (cfg.scheduling_choice_case() == inference::ModelConfig::SCHEDULING_CHOICE_NOT_SET)
      cfg.mutable_dynamic_batching();
  }
  bool batched = cfg.max_batch_size() > 0;

  if (cfg.input_size() == 0) {
    for (const auto& d : io.inputs) fillTensor(cfg.add_input(), d, batched);
  } else {
    for (auto& in : *cfg.mutable_input())
      if (const TensorDesc* d = io.findInput(in.name()); d && onlyNamed(in)) fillTensor(&in, *d, batched);
  }
  if (cfg.output_size() == 0) {
    for (const auto& d : io.outputs) fillTensor(cfg.add_output(), d, batched);
  } else {
    for (auto& out : *cfg.mutable_output())
      if (const TensorDesc* d = io.findOutput(out.name()); d && onlyNamed(out)) fillTensor(&out, *d, batched);
  }

  if (cfg.instance_group_size() == 0) cfg.add_instance_group();
  for (int i = 0; i < cfg.instance_group_size(); ++i) {
    auto* g = cfg.mutable_instance_group(i);
    if (g->name().empty()) g->set_name(fmt::format("{}_{}", cfg.name(), i));
    if (g->count() == 0) g->set_count(1);
    if (g->kind() == inference::ModelInstanceGroup::KIND_AUTO || g->kind() == inference::ModelInstanceGroup::KIND_MODEL)
      g->set_kind(opts.placeOnGpu ? inference::ModelInstanceGroup::KIND_GPU : inference::ModelInstanceGroup::KIND_CPU);
  }
  if (cfg.version_policy().policy_choice_case() == inference::ModelVersionPolicy::POLICY_CHOICE_NOT_SET)
    cfg.mutable_version_policy()->mutable_latest()->set_num_versions(1);
  if (cfg.has_dynamic_batching()) {
    auto* db = cfg.mutable_dynamic_batching();
    if (db->priority_levels() > 0 && db->default_priority_level() == 0) db->set_default_priority_level(db->priority_levels());
  }
}

}  // namespace kiln::serve
