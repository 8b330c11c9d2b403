// Auto-completion of a model configuration from the model itself (Triton's auto-complete):
// missing inputs/outputs (names, data types, dims), max_batch_size for models whose every input
// and output has a dynamic first dim, a default instance group, the version policy, and the
// platform/backend names. Fields the config sets are kept; validateConfig (config_check.h) then
// checks that they agree with the model.
#pragma once

#include <string>

#include "kiln/status.h"
#include "model_config.pb.h"
#include "serve/core/model_io.h"

namespace kiln::serve {

struct AutoCompleteOptions {
  // max_batch_size given to a batchable model whose config sets none (Triton's
  // --backend-config=default-max-batch-size, whose default is 4).
  int defaultMaxBatchSize = 4;
  // Where KIND_AUTO/KIND_MODEL instance groups go: the GPU for a GPU engine, or for an ONNX model
  // when a GPU is present (as Triton places models), else the CPU.
  bool placeOnGpu = false;
};

// `modelName` fills an empty `name`; `isEngine` picks the platform string.
void autoCompleteConfig(inference::ModelConfig& cfg, const ModelIODesc& io, const std::string& modelName,
                        bool isEngine, const AutoCompleteOptions& opts = {});

// True when every input and output has rank >= 1 and a dynamic first dim.
bool modelSupportsBatching(const ModelIODesc& io);

}  // namespace kiln::serve
