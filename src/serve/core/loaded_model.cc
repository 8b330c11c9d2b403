// Model loading.
#include "serve/core/loaded_model.h"

#include <chrono>
#include <filesystem>

#include "serve/core/auto_complete.h"
#include "serve/core/config_io.h"
#include "serve/core/instance.h"
#include "serve/core/log.h"
#include "serve/core/version_policy.h"
#include "serve/core/warmup.h"

namespace kiln::serve {

namespace fs = std::filesystem;

Result<ModelPlan> planModel(const ModelSource& src, const std::optional<std::string>& configJson) {
  ModelPlan plan;
  if (configJson) {
    KILN_ASSIGN_OR_RETURN(plan.config, parseConfigJson(*configJson));
  } else if (!src.configPath.empty()) {
    KILN_ASSIGN_OR_RETURN(std::string text, readFileBytes(src.configPath, 16 << 20));
    KILN_ASSIGN_OR_RETURN(plan.config, parseConfigText(text, src.configPath));
  }
  if (!plan.config.name().empty() && plan.config.name() != src.name)
    return InvalidArgument("config name '{}' does not match the model directory '{}'", plan.config.name(), src.name);
  std::vector<int64_t> available;
  for (const auto& [v, dir] : src.versionDirs) available.push_back(v);
  KILN_ASSIGN_OR_RETURN(plan.versions, selectVersions(plan.config.version_policy(), available, src.name));
  // Auto-complete from the highest served version (Triton completes from one version too).
  int64_t top = plan.versions.back();
  KILN_ASSIGN_OR_RETURN(ModelFile file, findModelFile(src, top, plan.config.default_model_filename()));
  if (file.isEngine) {
    KILN_ASSIGN_OR_RETURN(auto engine, Engine::loadFile(file.path));
    plan.io = describeEngine(*engine);
  } else {
    KILN_ASSIGN_OR_RETURN(plan.io, describeOnnxModel(file.path));
  }
  autoCompleteConfig(plan.config, plan.io, src.name, file.isEngine);
  return plan;
}

Result<std::shared_ptr<ModelVersion>> loadModelVersion(const ModelSource& src, const ModelPlan& plan, int64_t version,
                                                       const LoadOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  const auto& cfg = plan.config;
  KILN_ASSIGN_OR_RETURN(ModelFile file, findModelFile(src, version, cfg.default_model_filename()));
  ModelIODesc io = plan.io;
  if (version != plan.versions.back()) {
    if (file.isEngine) {
      KILN_ASSIGN_OR_RETURN(auto e, Engine::loadFile(file.path));
      io = describeEngine(*e);
    } else {
      KILN_ASSIGN_OR_RETURN(io, describeOnnxModel(file.path));
    }
  }
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<ModelSpec> spec, makeModelSpec(cfg, io, version));

  EngineRequest er;
  er.modelPath = file.path;
  er.isEngine = file.isEngine;
  er.modelName = src.name;
  er.version = version;
  if (!file.isEngine) {
    KILN_ASSIGN_OR_RETURN(OptimizationProfile prof, deriveProfile(cfg, *spec));
    if (!prof.inputs.empty()) er.build.profiles.push_back(std::move(prof));
    if (auto it = cfg.parameters().find("optimization_level"); it != cfg.parameters().end()) {
      const std::string& v = it->second.string_value();
      if (v.size() != 1 || v[0] < '0' || v[0] > '5')
        return InvalidArgument("config parameter 'optimization_level' must be 0-5, got '{}'", v);
      er.build.optimizationLevel = v[0] - '0';
    }
  }
  if (opts.useEngineCache)
    er.cacheDir = opts.engineCacheDir.empty() ? (fs::path(src.repository) / ".kiln-cache").string() : opts.engineCacheDir;
  KILN_ASSIGN_OR_RETURN(EngineResult engine, loadOrBuildEngine(er));
  if (!engine.cacheNote.empty()) log::warn("model '{}' version {}: {}", src.name, version, engine.cacheNote);
  switch (engine.source) {
    case EngineResult::Source::kPrebuilt:
      log::info("model '{}' version {}: loaded prebuilt engine {} in {:.3f} s", src.name, version, file.path, engine.seconds);
      break;
    case EngineResult::Source::kCache:
      log::info("model '{}' version {}: engine cache hit {} (loaded in {:.3f} s)", src.name, version, engine.cachePath,
                engine.seconds);
      break;
    case EngineResult::Source::kBuilt:
      log::info("model '{}' version {}: built engine from {} in {:.3f} s{}", src.name, version, file.path, engine.seconds,
                engine.cachePath.empty() ? "" : ", cached as " + engine.cachePath);
      break;
  }
  KILN_RETURN_IF_ERROR(applyEngineLimits(*spec, *engine.engine));

  std::vector<std::unique_ptr<Instance>> instances;
  std::vector<Instance*> raw;
  int n = 0;
  for (const auto& g : cfg.instance_group()) {
    for (int i = 0; i < std::max(1, g.count()); ++i, ++n) {
      KILN_ASSIGN_OR_RETURN(auto inst, Instance::create(engine.engine, spec, fmt::format("{}_{}", g.name(), i)));
      raw.push_back(inst.get());
      instances.push_back(std::move(inst));
    }
  }
  KILN_RETURN_IF_ERROR(runWarmup(cfg, *spec, src, raw));

  auto mv = std::make_shared<ModelVersion>();
  mv->spec = spec;
  mv->engine = engine.engine;
  mv->engineSource = engine.source;
  mv->stats = std::make_shared<ModelStats>(*opts.metrics, src.name, spec->versionString);
  mv->scheduler = std::make_unique<Scheduler>(spec, std::move(instances), mv->stats, opts.defaultQueueBound);
  mv->loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  mv->stats->setLoadSeconds(mv->loadSeconds);
  return mv;
}

}  // namespace kiln::serve
