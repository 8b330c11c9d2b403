// ModelSpec: everything the scheduler and the request checks need from a (completed, validated)
// model configuration, in plain types. Built once per loaded model version by makeModelSpec,
// which is also where a configuration is checked against the model it describes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/builder.h"
#include "kiln/shape.h"
#include "kiln/status.h"
#include "model_config.pb.h"
#include "serve/core/model_io.h"

namespace kiln::serve {

struct QueuePolicy {
  bool delayOnTimeout = false;     // timeout_action DELAY (else REJECT)
  uint64_t defaultTimeoutUs = 0;   // 0 = none
  bool allowTimeoutOverride = false;
  uint32_t maxQueueSize = 0;       // 0 = the server-wide bound
};

struct TensorSpec {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;        // as in the config: without the batch dim; -1 = any
  std::vector<int64_t> engineDims;  // the engine's view (reshape, else dims), without the batch dim
  bool reshaped = false;
  // Inputs: the engine's accepted range of full dims (batch dim included when batching).
  Dims minDims, maxDims;
};

struct ModelSpec {
  std::string name;
  int64_t version = 0;
  std::string versionString;
  std::string platform;
  int maxBatchSize = 0;  // 0: no batching; requests carry full shapes
  // Smallest batch the engine's profile accepts (> 1 for engines built with a fixed or minimum
  // batch): smaller batches are padded with zero rows, which never change the real rows' results.
  int64_t minEngineBatch = 1;
  std::vector<TensorSpec> inputs, outputs;
  const TensorSpec* findInput(const std::string& n) const;
  const TensorSpec* findOutput(const std::string& n) const;
  int inputIndex(const std::string& n) const;   // -1 when absent
  int outputIndex(const std::string& n) const;

  // Scheduling.
  bool dynamicBatching = false;          // dynamic_batching set and max_batch_size > 0
  bool queuePolicyConfigured = false;    // dynamic_batching set (its queue policies apply)
  std::vector<int> preferredBatchSizes;  // ascending
  uint64_t maxQueueDelayUs = 0;
  bool preserveOrdering = false;
  uint32_t priorityLevels = 0;        // 0: one level
  uint32_t defaultPriorityLevel = 0;  // 1-based when priorityLevels > 0
  QueuePolicy defaultQueuePolicy;
  std::map<uint32_t, QueuePolicy> priorityQueuePolicy;
  int instanceCount = 1;
  // Testing aid: a sleep added to every execution (config parameter "execute_delay_ms"), to
  // make queueing, timeouts and shutdown observable with tiny models.
  uint32_t executeDelayMs = 0;
};

// Checks `cfg` (already auto-completed) against the model's I/O and derives the spec. Errors name
// the config field and the tensor concerned.
Result<std::shared_ptr<ModelSpec>> makeModelSpec(const inference::ModelConfig& cfg, const ModelIODesc& io,
                                                 int64_t version);

// The optimization profile an ONNX model is built with, from the spec: the batch dim spans
// 1..max_batch_size (opt: the largest preferred batch size, else max_batch_size with dynamic
// batching, else 1); other -1 dims take their range from the config parameters "min_shapes",
// "opt_shapes", "max_shapes" ("INPUT:AxB,OTHER:C", dims without the batch dim; min defaults to
// 1, opt to max). A -1 dim with no max is an error that says which parameter to set.
Result<OptimizationProfile> deriveProfile(const inference::ModelConfig& cfg, const ModelSpec& spec);

// Fills TensorSpec::minDims/maxDims of the inputs from an engine's profile 0 (and its static dims),
// and checks that the engine accepts every shape the config admits in its batch dim.
Status applyEngineLimits(ModelSpec& spec, const Engine& engine);

}  // namespace kiln::serve
