// A small in-memory InferenceServer for testing the gRPC frontend without models or schedulers.
//
// Models:
//   "add_one"  FP32 INPUT0 [n] -> OUTPUT0 = INPUT0 + 1 and OUTPUT1 = INPUT0 * 2 (answered inline)
//   "echo"     any INPUT0 -> OUTPUT0, the same tensor (BYTES included)
//   "delayed"  like add_one, answered from a thread after 3 * (10 - INPUT0[0]) ms (at least 0), so
//              requests sent in order complete out of order
//   "full"     always rejects with Unavailable (a full queue)
// Anything else: NotFound.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/inference_server.h"

namespace kiln::serve::testing {

class FakeServer final : public InferenceServer {
 public:
  ~FakeServer() override { drain(); }

  bool live() const override { return true; }
  bool ready() const override { return true; }
  ServerMetadata metadata() const override {
    ServerMetadata m;
    m.version = "0.1.0-test";
    m.extensions = {"model_repository", "statistics"};
    return m;
  }
  bool modelReady(const std::string& name, const std::string&) const override { return known(name); }
  Result<ModelMetadata> modelMetadata(const std::string& name, const std::string&) const override {
    if (!known(name)) return NotFound("Request for unknown model: '{}' is not found", name);
    ModelMetadata m;
    m.name = name;
    m.versions = {"1"};
    m.platform = "kiln_engine";
    m.inputs = {{"INPUT0", "FP32", {-1}}};
    m.outputs = {{"OUTPUT0", "FP32", {-1}}};
    return m;
  }
  Result<std::string> modelConfigProto(const std::string& name, const std::string&) const override {
    if (!known(name)) return NotFound("Request for unknown model: '{}' is not found", name);
    return configBytes;
  }
  Result<std::string> modelConfigJson(const std::string& name, const std::string&) const override {
    return std::string("{}");
  }
  void infer(std::unique_ptr<InferRequest> req) override;
  std::vector<RepositoryEntry> repositoryIndex(bool) const override {
    return {{"add_one", "1", "READY", ""}, {"echo", "1", "READY", ""}};
  }
  Status loadModel(const std::string& name, const std::optional<std::string>& config) override {
    std::lock_guard<std::mutex> lk(mu_);
    loads.push_back(name + (config ? "|" + *config : ""));
    return {};
  }
  Status unloadModel(const std::string& name, bool) override {
    if (!known(name)) return NotFound("model '{}' is not loaded", name);
    return {};
  }
  Result<std::vector<ModelStatistics>> statistics(const std::string& name, const std::string&) const override {
    ModelStatistics s;
    s.name = name.empty() ? "add_one" : name;
    s.version = "1";
    s.inferenceCount = 7;
    s.executionCount = 3;
    s.inferenceStats.success = {7, 7000};
    s.batchStats.push_back({4, {1, 10}, {1, 20}, {1, 30}});
    return std::vector<ModelStatistics>{s};
  }
  // System shared memory as bookkeeping only (nothing is mapped): enough to test the frontend's
  // translation of the three RPCs.
  Status registerSystemSharedMemory(const std::string& name, const std::string& key, uint64_t offset,
                                    uint64_t byteSize) override {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& r : regions_)
      if (r.name == name)
        return makeError(StatusCode::kAlreadyExists, "shared memory region '{}' already in manager", name);
    regions_.push_back({name, key, offset, byteSize});
    return {};
  }
  Status unregisterSystemSharedMemory(const std::string& name) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::erase_if(regions_, [&](const SharedMemoryRegionStatus& r) { return name.empty() || r.name == name; });
    return {};
  }
  Result<std::vector<SharedMemoryRegionStatus>> systemSharedMemoryStatus(const std::string& name) const override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<SharedMemoryRegionStatus> out;
    for (const auto& r : regions_)
      if (name.empty() || r.name == name) out.push_back(r);
    if (!name.empty() && out.empty()) return NotFound("Unable to find system shared memory region: '{}'", name);
    return out;
  }
  MetricsRegistry& metrics() override { return metrics_; }
  void shutdown(std::chrono::milliseconds) override { drain(); }

  // Joins the threads of "delayed" requests.
  void drain() {
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> lk(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }

  std::string configBytes;          // returned by modelConfigProto
  std::vector<std::string> loads;   // loadModel calls, "name|config"
  std::atomic<int> inferCalls{0};
  InferRequest lastRequest;         // a copy of the last request's metadata (inputs included)

 private:
  static bool known(const std::string& n) { return n == "add_one" || n == "echo" || n == "delayed"; }
  MetricsRegistry metrics_;
  mutable std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<SharedMemoryRegionStatus> regions_;
};

}  // namespace kiln::serve::testing
