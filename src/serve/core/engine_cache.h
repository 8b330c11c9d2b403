// Engines for served models: a prebuilt model.engine is loaded as is; an ONNX model is built with
// the Kiln builder and the engine is kept in an on-disk cache, keyed by everything that decides
// its contents: the model bytes, the build configuration, the device model (GPUs of one model
// share an entry; each model keeps its own), and the Kiln version and engine format. A restart
// (or another version with the same bytes) loads the cached engine in milliseconds instead of
// rebuilding. Writes are atomic (temporary file + rename), so a crash never leaves a half-written
// entry under a final name; an entry that fails to load (truncated, damaged, other format) is
// rebuilt and replaced, never fatal.
#pragma once

#include <memory>
#include <string>

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln::serve {

struct EngineRequest {
  std::string modelPath;
  bool isEngine = false;
  std::string modelName;
  int64_t version = 0;
  BuildConfig build;       // profiles etc. (ignored for prebuilt engines)
  std::string cacheDir;    // "" = no cache: build in memory every time
};

struct EngineResult {
  std::shared_ptr<Engine> engine;
  enum class Source { kPrebuilt, kCache, kBuilt } source = Source::kBuilt;
  std::string cachePath;   // the cache entry used or written ("" without a cache)
  std::string cacheNote;   // why the cache was not used or not written (warnings)
  double seconds = 0;
};

Result<EngineResult> loadOrBuildEngine(const EngineRequest& req);

// The cache key text of a build (everything but the model bytes), and the full key's hash.
std::string buildKeyText(const BuildConfig& cfg);
uint64_t engineCacheKey(const std::string& modelBytes, const BuildConfig& cfg);

}  // namespace kiln::serve
