// Metadata, repository index and statistics as JSON.
#include "serve/http/http_json.h"

namespace kiln::serve {

using json = nlohmann::json;

namespace {
json tensors(const std::vector<TensorMetadata>& ts) {
  json a = json::array();
  for (const auto& t : ts) a.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
  return a;
}
json duration(const DurationStat& d) { return {{"count", d.count}, {"ns", d.ns}}; }
}  // namespace

json serverMetadataJson(const ServerMetadata& m) {
  return {{"name", m.name}, {"version", m.version}, {"extensions", m.extensions}};
}

json modelMetadataJson(const ModelMetadata& m) {
  return {{"name", m.name},
          {"versions", m.versions},
          {"platform", m.platform},
          {"inputs", tensors(m.inputs)},
          {"outputs", tensors(m.outputs)}};
}

json repositoryIndexJson(const std::vector<RepositoryEntry>& entries) {
  json a = json::array();
  for (const auto& e : entries) {
    json j = {{"name", e.name}};
    // Triton leaves out what is unknown (a model never loaded has no version or state).
    if (!e.version.empty()) j["version"] = e.version;
    if (!e.state.empty()) j["state"] = e.state;
    if (!e.reason.empty()) j["reason"] = e.reason;
    a.push_back(std::move(j));
  }
  return a;
}

json statisticsJson(const std::vector<ModelStatistics>& stats) {
  json list = json::array();
  for (const auto& s : stats) {
    const auto& is = s.inferenceStats;
    json batches = json::array();
    for (const auto& b : s.batchStats)
      batches.push_back({{"batch_size", b.batchSize},
                         {"compute_input", duration(b.computeInput)},
                         {"compute_infer", duration(b.computeInfer)},
                         {"compute_output", duration(b.computeOutput)}});
    list.push_back({{"name", s.name},
                    {"version", s.version},
                    {"last_inference", s.lastInferenceMs},
                    {"inference_count", s.inferenceCount},
                    {"execution_count", s.executionCount},
                    {"inference_stats",
                     {{"success", duration(is.success)},
                      {"fail", duration(is.fail)},
                      {"queue", duration(is.queue)},
                      {"compute_input", duration(is.computeInput)},
                      {"compute_infer", duration(is.computeInfer)},
                      {"compute_output", duration(is.computeOutput)},
                      {"cache_hit", duration(is.cacheHit)},
                      {"cache_miss", duration(is.cacheMiss)}}},
                    {"batch_stats", batches}});
  }
  return {{"model_stats", list}};
}

}  // namespace kiln::serve
