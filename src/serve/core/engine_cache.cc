// Engine cache.
#include "serve/core/engine_cache.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "backends/cpu/cpu_info.h"
#include "build/cuda_target.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "serve/core/repository.h"

namespace kiln::serve {

namespace fs = std::filesystem;

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A file-name-safe form of a model name (names may hold any printable character).
std::string safeName(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.substr(0, 100);
}

Status writeAtomically(const std::string& path, const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Unavailable("cannot create engine cache directory '{}': {}", fs::path(path).parent_path().string(), ec.message());
  std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), std::random_device{}());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Unavailable("cannot write '{}'", tmp);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      fs::remove(tmp, ec);
      return Unavailable("writing '{}' failed (disk full?)", tmp);
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Unavailable("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  }
  return Status::OK();
}

// Removes older entries of the same model version (other keys): a changed model or config
// leaves no stale engines behind.
void removeStale(const std::string& dir, const std::string& prefix, const std::string& keep) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.rfind(prefix, 0) == 0 && it->path().string() != keep && n.find(".tmp.") == std::string::npos) {
      std::error_code e2;
      fs::remove(it->path(), e2);
    }
  }
}

}  // namespace

std::string buildKeyText(const BuildConfig& cfg) {
  const auto& cpu = cpu::cpuInfo();
  // Not the device index: GPUs of one model (name, architecture, libraries: cudaDeviceKey) share
  // one engine, so an instance group over several identical GPUs builds once.
  std::string s = fmt::format("kiln {} format {} target {} | {} | {} | {}", KILN_VERSION_STRING, plan::kFormatVersion,
                              cfg.target == Target::kCPU ? "cpu" : "cuda", cpu.arch, cpu.model, cpu.features);
  for (const auto& [lib, ver] : cpu.libraries) s += fmt::format(" {}={}", lib, ver);
  // A GPU engine is only valid for the GPU model, architecture and library versions it was tuned on.
  if (cfg.target == Target::kCUDA) s += " | " + build::cudaDeviceKey(cfg.device);
  s += fmt::format(" | fp16 {} bf16 {} int8 {} fp8 {} tf32 {} mem {} level {}", cfg.fp16, cfg.bf16, cfg.int8, cfg.fp8, cfg.tf32,
                   cfg.memoryLimit, cfg.optimizationLevel);
  if (cfg.reducedPrecisionIO) s += " reduced-io";
  for (const auto& p : cfg.profiles) {
    s += " | profile";
    for (const auto& [name, r] : p.inputs)  // std::map: sorted, so the text is canonical
      s += fmt::format(" {}:{}/{}/{}", name, r.min.toString(), r.opt.toString(), r.max.toString());
  }
  s += " | disabled";
  for (const auto& t : cfg.disabledTactics) s += " " + t;
  s += " | passes";
  for (const auto& p : cfg.passes) s += " " + p;
  s += " | minus";
  for (const auto& p : cfg.disabledPasses) s += " " + p;
  return s;
}

uint64_t engineCacheKey(const std::string& modelBytes, const BuildConfig& cfg) {
  return plan::xxhash64(buildKeyText(cfg), plan::xxhash64(modelBytes));
}

Result<EngineResult> loadOrBuildEngine(const EngineRequest& req) {
  auto t0 = std::chrono::steady_clock::now();
  EngineResult out;
  LoadOptions load;
  load.device = req.build.target == Target::kCUDA ? req.build.device : 0;
  if (req.isEngine) {
    KILN_ASSIGN_OR_RETURN(out.engine, Engine::loadFile(req.modelPath, load));
    out.source = EngineResult::Source::kPrebuilt;
    out.seconds = since(t0);
    return out;
  }
  KILN_ASSIGN_OR_RETURN(std::string bytes, readFileBytes(req.modelPath));
  // "<safe name>-<name hash>.v<version>.": distinct model names never share a prefix, even when
  // their safe forms agree.
  // The device class is part of the prefix, so instances on different GPU models (or the CPU)
  // each keep their engine instead of removing the other's as stale.
  const std::string deviceClass =
      req.build.target == Target::kCUDA ? build::cudaDeviceKey(req.build.device) : std::string("cpu");
  std::string prefix = fmt::format("{}-{:08x}.v{}.{:08x}.", safeName(req.modelName),
                                   static_cast<uint32_t>(plan::xxhash64(req.modelName)), req.version,
                                   static_cast<uint32_t>(plan::xxhash64(deviceClass)));
  if (!req.cacheDir.empty()) {
    out.cachePath = (fs::path(req.cacheDir) / fmt::format("{}{:016x}.engine", prefix, engineCacheKey(bytes, req.build))).string();
    std::error_code ec;
    if (fs::is_regular_file(out.cachePath, ec)) {
      auto e = Engine::loadFile(out.cachePath, load);
      if (e.ok()) {
        out.engine = std::move(*e);
        out.source = EngineResult::Source::kCache;
        out.seconds = since(t0);
        return out;
      }
      out.cacheNote = fmt::format("cached engine '{}' could not be loaded ({}); rebuilding", out.cachePath, e.status().message());
    }
  }
  BuildConfig build = req.build;
  if (!req.cacheDir.empty() && build.timingCachePath.empty()) {
    // The builder writes the timing cache at the end of the build: the directory must exist.
    std::error_code ec;
    fs::create_directories(req.cacheDir, ec);
    if (!ec) build.timingCachePath = (fs::path(req.cacheDir) / "timing.cache").string();
    else out.cacheNote = fmt::format("cannot create engine cache directory '{}': {}", req.cacheDir, ec.message());
  }
  auto built = buildEngineFromBytes(bytes, fs::path(req.modelPath).parent_path().string(), req.modelName, build);
  if (!built.ok()) return std::move(built).takeStatus().withContext(fmt::format("building '{}'", req.modelPath));
  if (!out.cachePath.empty()) {
    Status st = writeAtomically(out.cachePath, *built);
    if (st.ok()) {
      removeStale(req.cacheDir, prefix, out.cachePath);
    } else {
      out.cacheNote += (out.cacheNote.empty() ? "" : "; ") + std::string("engine not cached: ") + st.message();
      out.cachePath.clear();
    }
  }
  KILN_ASSIGN_OR_RETURN(out.engine, Engine::loadBytes(std::move(*built), req.modelName, load));
  out.source = EngineResult::Source::kBuilt;
  out.seconds = since(t0);
  return out;
}

}  // namespace kiln::serve
