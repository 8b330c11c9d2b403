// Model loading.
#include "serve/core/loaded_model.h"

#include <chrono>
#include <filesystem>
#include <map>

#include "build/cuda_target.h"
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
  AutoCompleteOptions ac;
  if (file.isEngine) {
    KILN_ASSIGN_OR_RETURN(auto engine, Engine::loadFile(file.path));
    plan.io = describeEngine(*engine);
    ac.placeOnGpu = engine->isCuda();
  } else {
    KILN_ASSIGN_OR_RETURN(plan.io, describeOnnxModel(file.path));
    ac.placeOnGpu = build::cudaDeviceCount() > 0;
  }
  autoCompleteConfig(plan.config, plan.io, src.name, file.isEngine, ac);
  return plan;
}

namespace {

void logEngine(const std::string& model, int64_t version, const std::string& path, const EngineResult& engine) {
  switch (engine.source) {
    case EngineResult::Source::kPrebuilt:
      log::info("model '{}' version {}: loaded prebuilt engine {} in {:.3f} s", model, version, path, engine.seconds);
      break;
    case EngineResult::Source::kCache:
      log::info("model '{}' version {}: engine cache hit {} (loaded in {:.3f} s)", model, version, engine.cachePath,
                engine.seconds);
      break;
    case EngineResult::Source::kBuilt:
      log::info("model '{}' version {}: built engine from {} in {:.3f} s{}", model, version, path, engine.seconds,
                engine.cachePath.empty() ? "" : ", cached as " + engine.cachePath);
      break;
  }
  if (!engine.cacheNote.empty()) log::warn("model '{}' version {}: {}", model, version, engine.cacheNote);
}

}  // namespace

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
  // GPU engines: config parameter "precision" (fp32 default, fp16, bf16) chooses the reduced type.
  bool fp16 = false, bf16 = false;
  if (auto it = cfg.parameters().find("precision"); it != cfg.parameters().end()) {
    const std::string& v = it->second.string_value();
    if (v == "fp16") fp16 = true;
    else if (v == "bf16") bf16 = true;
    else if (v != "fp32") return InvalidArgument("config parameter 'precision' must be fp32, fp16 or bf16, got '{}'", v);
  }
  // One engine per device the instance groups use (-1: the CPU), built or loaded once each.
  std::map<int, EngineResult> engines;
  auto engineFor = [&](int device) -> Result<std::shared_ptr<Engine>> {
    if (auto it = engines.find(device); it != engines.end()) return it->second.engine;
    EngineRequest req = er;
    if (device >= 0) {
      req.build.target = Target::kCUDA;
      req.build.device = device;
      req.build.fp16 = fp16;
      req.build.bf16 = bf16;
    }
    KILN_ASSIGN_OR_RETURN(EngineResult r, loadOrBuildEngine(req));
    if (r.engine->isCuda() != (device >= 0))
      return InvalidArgument("'{}' is a {} engine, but the instance group places it on {}", file.path,
                             r.engine->isCuda() ? "GPU" : "CPU", device >= 0 ? fmt::format("GPU {}", device) : "the CPU");
    KILN_RETURN_IF_ERROR(applyEngineLimits(*spec, *r.engine));
    logEngine(src.name, version, file.path, r);
    return engines.emplace(device, std::move(r)).first->second.engine;
  };
  auto devicesOf = [](const inference::ModelInstanceGroup& g) {
    std::vector<int> d;
    if (g.kind() != inference::ModelInstanceGroup::KIND_GPU) return std::vector<int>{-1};
    for (int id : g.gpus()) d.push_back(id);
    if (d.empty())
      for (int id = 0; id < build::cudaDeviceCount(); ++id) d.push_back(id);
    return d;
  };

  std::vector<std::unique_ptr<Instance>> instances;
  std::vector<Instance*> raw;
  std::shared_ptr<Engine> firstEngine;
  for (const auto& g : cfg.instance_group()) {
    for (int device : devicesOf(g)) {
      KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, engineFor(device));
      if (!firstEngine) firstEngine = engine;
      for (int i = 0; i < std::max(1, g.count()); ++i) {
        std::string name = device >= 0 ? fmt::format("{}_{}_gpu{}", g.name(), i, device) : fmt::format("{}_{}", g.name(), i);
        KILN_ASSIGN_OR_RETURN(auto inst, Instance::create(engine, spec, std::move(name)));
        raw.push_back(inst.get());
        instances.push_back(std::move(inst));
      }
    }
  }
  if (!firstEngine) return InternalError("model '{}' has no instance group", src.name);
  KILN_RETURN_IF_ERROR(runWarmup(cfg, *spec, src, raw));

  auto mv = std::make_shared<ModelVersion>();
  mv->spec = spec;
  mv->engine = firstEngine;
  mv->engineSource = engines.begin()->second.source;
  mv->stats = std::make_shared<ModelStats>(*opts.metrics, src.name, spec->versionString);
  mv->scheduler = std::make_unique<Scheduler>(spec, std::move(instances), mv->stats, opts.defaultQueueBound);
  mv->loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  mv->stats->setLoadSeconds(mv->loadSeconds);
  return mv;
}

}  // namespace kiln::serve
