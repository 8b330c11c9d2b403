// Loading one model: its configuration (config.pbtxt or a load request's JSON, auto-completed
// from the model), and each served version: the engine (prebuilt, cached or built), the
// instances, warmup, statistics and the scheduler that serves it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kiln/engine.h"
#include "kiln/status.h"
#include "model_config.pb.h"
#include "serve/core/engine_cache.h"
#include "serve/core/model_spec.h"
#include "serve/core/model_stats.h"
#include "serve/core/repository.h"
#include "serve/core/scheduler.h"
#include "serve/metrics.h"

namespace kiln::serve {

struct LoadOptions {
  std::string engineCacheDir;       // "" = <repository>/.kiln-cache
  bool useEngineCache = true;
  uint32_t defaultQueueBound = 1024;
  uint64_t maxTensorBytes = 1ull << 30;
  MetricsRegistry* metrics = nullptr;
};

// A served model version. Shared by in-flight requests; the scheduler is stopped (drained) by
// whoever removes the version from service.
struct ModelVersion {
  std::shared_ptr<const ModelSpec> spec;
  std::shared_ptr<Engine> engine;
  std::shared_ptr<ModelStats> stats;
  std::unique_ptr<Scheduler> scheduler;
  EngineResult::Source engineSource = EngineResult::Source::kBuilt;
  double loadSeconds = 0;
};

// The completed configuration of a model and the versions to serve.
struct ModelPlan {
  inference::ModelConfig config;   // auto-completed
  std::vector<int64_t> versions;   // per the version policy
  ModelIODesc io;                  // of the highest version
};
Result<ModelPlan> planModel(const ModelSource& src, const std::optional<std::string>& configJson);

// Loads one version (builds or loads its engine, creates instances, warms up, starts scheduling).
Result<std::shared_ptr<ModelVersion>> loadModelVersion(const ModelSource& src, const ModelPlan& plan, int64_t version,
                                                       const LoadOptions& opts);

}  // namespace kiln::serve
