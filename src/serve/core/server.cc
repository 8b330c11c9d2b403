// InferenceServer: the protocol-free API over the model manager and the schedulers.
#include <atomic>
#include <filesystem>
#include <thread>

#include "serve/core/config_io.h"
#include "serve/core/log.h"
#include "serve/core/model_manager.h"
#include "serve/core/request_check.h"
#include "serve/core/shared_memory.h"
#include "serve/core/shared_memory_io.h"
#include "serve/inference_server.h"

namespace kiln::serve {

namespace {

class Server final : public InferenceServer {
 public:
  explicit Server(const ServerOptions& opts) : opts_(opts), manager_(opts, metrics_) {
    startThread_ = std::thread([this] { manager_.start(); });
  }
  ~Server() override { shutdown(std::chrono::milliseconds(0)); }

  bool live() const override { return true; }
  bool ready() const override { return !stopping_ && manager_.allReady(); }

  ServerMetadata metadata() const override {
    ServerMetadata m;
    m.name = "kiln";
    m.version = KILN_VERSION_STRING;
    m.extensions = {"binary_tensor_data", "parameters", "model_repository", "model_repository(unload_dependents)",
                    "schedule_policy", "model_configuration", "statistics", "system_shared_memory"};
    return m;
  }

  bool modelReady(const std::string& name, const std::string& version) const override {
    return !stopping_ && manager_.ready(name, version);
  }
  Result<ModelMetadata> modelMetadata(const std::string& name, const std::string& version) const override {
    return manager_.metadata(name, version);
  }
  Result<std::string> modelConfigProto(const std::string& name, const std::string& version) const override {
    KILN_ASSIGN_OR_RETURN(auto cfg, manager_.config(name, version));
    return cfg.SerializeAsString();
  }
  Result<std::string> modelConfigJson(const std::string& name, const std::string& version) const override {
    KILN_ASSIGN_OR_RETURN(auto cfg, manager_.config(name, version));
    return configToJson(cfg);
  }

  void infer(std::unique_ptr<InferRequest> req) override {
    auto reply = [&](Status st) {
      auto resp = std::make_unique<InferResponse>();
      resp->status = std::move(st);
      resp->model = req->model;
      resp->version = req->version;
      resp->id = req->id;
      auto cb = std::move(req->complete);
      if (cb) cb(std::move(resp));
    };
    if (stopping_) return reply(Unavailable("the server is shutting down"));
    auto mv = manager_.find(req->model, req->version);
    if (!mv.ok()) return reply(mv.status());
    // Shared-memory regions are resolved (and held) now, as Triton does: a region unregistered
    // while the request waits still receives its outputs.
    Status shm = bindSharedMemoryInputs(sharedMemory_, *req);
    auto shmOutputs = shm.ok() ? resolveSharedMemoryOutputs(sharedMemory_, *req)
                               : Result<std::vector<SharedMemoryOutput>>(shm);
    if (!shmOutputs.ok()) {
      (*mv)->stats->recordFailure(FailureReason::kOther, 0);
      return reply(shmOutputs.status());
    }
    for (const auto& in : req->inputs)
      if (in.data.defined() && in.data.nbytes() > opts_.maxTensorBytes)
        return reply(InvalidArgument("input '{}' is {} bytes, more than the server's per-tensor limit of {}", in.name,
                                     in.data.nbytes(), opts_.maxTensorBytes));
    auto checked = checkRequest(*(*mv)->spec, *req);
    if (!checked.ok()) {
      (*mv)->stats->recordFailure(FailureReason::kOther, 0);
      return reply(checked.status());
    }
    if (!shmOutputs->empty()) {
      // Written on the scheduler thread that completes the request, before any frontend sees it.
      req->complete = [targets = std::move(*shmOutputs), done = std::move(req->complete)](
                          std::unique_ptr<InferResponse> resp) {
        if (resp && resp->status.ok()) {
          Status st = writeSharedMemoryOutputs(targets, *resp);
          if (!st.ok()) {
            resp->outputs.clear();
            resp->status = std::move(st);
          }
        }
        if (done) done(std::move(resp));
      };
    }
    (*mv)->scheduler->enqueue(std::move(req), *checked);
  }

  std::vector<RepositoryEntry> repositoryIndex(bool readyOnly) const override { return manager_.index(readyOnly); }
  Status loadModel(const std::string& name, const std::optional<std::string>& configJson) override {
    if (stopping_) return Unavailable("the server is shutting down");
    return manager_.load(name, configJson);
  }
  Status unloadModel(const std::string& name, bool) override {
    if (stopping_) return Unavailable("the server is shutting down");
    return manager_.unload(name);
  }
  Result<std::vector<ModelStatistics>> statistics(const std::string& name, const std::string& version) const override {
    return manager_.statistics(name, version);
  }
  Status registerSystemSharedMemory(const std::string& name, const std::string& key, uint64_t offset,
                                    uint64_t byteSize) override {
    return sharedMemory_.registerRegion(name, key, offset, byteSize);
  }
  Status unregisterSystemSharedMemory(const std::string& name) override { return sharedMemory_.unregister(name); }
  Result<std::vector<SharedMemoryRegionStatus>> systemSharedMemoryStatus(const std::string& name) const override {
    return sharedMemory_.status(name);
  }
  MetricsRegistry& metrics() override { return metrics_; }

  void shutdown(std::chrono::milliseconds deadline) override {
    std::lock_guard<std::mutex> lk(shutdownMu_);
    if (shutDown_) return;
    auto until = Clock::now() + deadline;
    stopping_ = true;
    manager_.requestStop();
    if (startThread_.joinable()) startThread_.join();
    manager_.shutdown(until);
    shutDown_ = true;
  }

 private:
  ServerOptions opts_;
  MetricsRegistry metrics_;  // before manager_: models register their series in it
  ModelManager manager_;
  SharedMemoryRegistry sharedMemory_;
  std::thread startThread_;
  std::atomic<bool> stopping_{false};
  std::mutex shutdownMu_;
  bool shutDown_ = false;
};

}  // namespace

Result<std::unique_ptr<InferenceServer>> InferenceServer::create(const ServerOptions& opts) {
  if (opts.repositories.empty()) return InvalidArgument("no model repository given (--model-repository DIR)");
  for (const auto& r : opts.repositories) {
    std::error_code ec;
    if (!std::filesystem::is_directory(r, ec)) return NotFound("model repository '{}' is not a directory", r);
  }
  if (opts.pollSeconds < 1 && opts.controlMode == ModelControlMode::kPoll)
    return InvalidArgument("--repository-poll-secs must be >= 1");
  log::setVerbose(opts.logVerbose);
  return std::unique_ptr<InferenceServer>(new Server(opts));
}

}  // namespace kiln::serve
