// The set of models a server knows and serves: what each repository holds, which versions are
// loaded and in which state, and the model-control modes (none: load everything at start;
// poll: rescan every N seconds and load, reload or unload what changed; explicit: only what the
// load/unload API or --load-model asks for).
//
// Loads and unloads are serialized (one at a time); lookups for inference take a shared lock and
// copy a shared_ptr, so serving never waits on a load. A reload builds the new versions while the
// old ones keep serving, swaps, then drains the old ones.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "serve/core/loaded_model.h"
#include "serve/inference_server.h"

namespace kiln::serve {

class ModelManager {
 public:
  ModelManager(const ServerOptions& opts, MetricsRegistry& metrics);
  ~ModelManager();

  // Loads the startup set (all models, or --load-model names in explicit mode) and starts the
  // poll thread in poll mode. Returns when the startup loads are done.
  void start();
  bool startupDone() const { return startupDone_; }
  bool allReady() const;

  Status load(const std::string& name, const std::optional<std::string>& configJson);
  Status unload(const std::string& name);

  // The version to run a request on: `version` "" = the highest READY version.
  Result<std::shared_ptr<ModelVersion>> find(const std::string& name, const std::string& version) const;
  bool ready(const std::string& name, const std::string& version) const;
  Result<inference::ModelConfig> config(const std::string& name, const std::string& version) const;
  Result<ModelMetadata> metadata(const std::string& name, const std::string& version) const;
  std::vector<RepositoryEntry> index(bool readyOnly) const;
  Result<std::vector<ModelStatistics>> statistics(const std::string& name, const std::string& version) const;

  // Makes start() stop after the load in progress (call before joining a thread running start()).
  void requestStop() { stopRequested_ = true; }
  // Stops polling, drains and unloads every version (deadline for queued requests). Call after
  // start() returned.
  void shutdown(Clock::time_point deadline);

 private:
  struct VersionSlot {
    std::string state;  // LOADING, READY, UNAVAILABLE, UNLOADING
    std::string reason;
    std::shared_ptr<ModelVersion> model;
  };
  struct Entry {
    ModelSource source;
    uint64_t fingerprint = 0;
    inference::ModelConfig config;  // completed; empty until a successful plan
    bool planned = false;
    bool wanted = true;             // false once unloaded: not counted by allReady()
    std::string reason;             // why the model as a whole is unavailable
    std::map<int64_t, VersionSlot> versions;
  };

  Status loadLocked(const ModelSource& src, const std::optional<std::string>& configJson);
  Status unloadLocked(const std::string& name, std::vector<std::shared_ptr<ModelVersion>>* retired);
  void retire(std::vector<std::shared_ptr<ModelVersion>> old);
  void pollOnce();
  void pollLoop();
  Result<std::shared_ptr<ModelVersion>> findLocked(const std::string& name, const std::string& version) const;

  ServerOptions opts_;
  LoadOptions loadOpts_;
  MetricsRegistry& metrics_;

  mutable std::shared_mutex mu_;  // entries_
  std::map<std::string, Entry> entries_;
  std::mutex loadMu_;             // one load/unload at a time
  std::atomic<bool> startupDone_{false};
  std::atomic<bool> stopRequested_{false};

  std::thread pollThread_;
  std::mutex pollMu_;
  std::condition_variable pollCv_;
  bool stopPolling_ = false;
  bool shutDown_ = false;
};

}  // namespace kiln::serve
