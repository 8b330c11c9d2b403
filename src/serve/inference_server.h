// The inference server core, independent of any protocol: the model repository, per-model
// schedulers (dynamic batching, instances), statistics and metrics. The HTTP (KServe v2 REST) and
// gRPC (inference.GRPCInferenceService) frontends translate their wire formats to and from these
// types and call InferenceServer; nothing here knows HTTP or gRPC.
//
// Threading: every method is thread-safe. infer() never blocks on model execution: it validates,
// enqueues, and the request's `complete` callback is called exactly once, from a scheduler thread
// (or inline for immediate rejections), with the response or the error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <string>
#include <vector>

#include "kiln/shape.h"
#include "kiln/status.h"
#include "kiln/tensor.h"
#include "serve/metrics.h"

namespace kiln::serve {

// KServe v2 datatype names: BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BF16, BYTES.
std::string_view kserveDatatype(DType t);
bool parseKserveDatatype(std::string_view name, DType* out);  // BYTES -> kString

// A request parameter value (KServe v2 parameters: bool, int64 or string).
using ParamValue = std::variant<bool, int64_t, std::string>;
using Params = std::map<std::string, ParamValue>;

struct InferTensor {
  std::string name;
  DType dtype = DType::kUndefined;
  Dims shape;
  Tensor data;  // host memory, `shape` dims (BYTES: kString elements)
  Params parameters;
  // An output the server wrote into the system shared-memory region its request named: `data` is
  // empty and frontends send only its name, datatype and shape (as Triton does).
  bool inSharedMemory = false;
};

// True when an input's or requested output's parameters put its data in a system shared-memory
// region (shared_memory_region, with shared_memory_byte_size and optional shared_memory_offset).
// Frontends then leave the input's data empty; the server binds the region's bytes.
inline bool usesSharedMemory(const Params& p) { return p.count("shared_memory_region") > 0; }

struct RequestedOutput {
  std::string name;
  Params parameters;  // e.g. binary_data (the HTTP frontend's business), classification
};

struct InferResponse;

struct InferRequest {
  std::string model;
  std::string version;  // "" = the server's choice per version policy (latest ready)
  std::string id;
  std::vector<InferTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty = all outputs
  Params parameters;
  uint32_t priority = 0;     // 0 = the model's default; 1 is the highest
  uint64_t timeoutUs = 0;    // 0 = the model's default queue policy
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
  // Called exactly once with the result. May run on a scheduler thread.
  std::function<void(std::unique_ptr<InferResponse>)> complete;
};

struct InferResponse {
  Status status;  // not OK: the request failed (outputs empty)
  std::string model, version, id;
  std::vector<InferTensor> outputs;
  Params parameters;
};

// Model and server metadata (KServe v2 shapes: -1 for a variable dim; batch dim included when the
// model batches).
struct TensorMetadata {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
};
struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;  // "kiln_engine" / "onnxruntime_onnx"-style string
  std::vector<TensorMetadata> inputs, outputs;
};
struct ServerMetadata {
  std::string name = "kiln";
  std::string version;
  std::vector<std::string> extensions;
};

// A registered system shared-memory region, as Triton's status endpoints report it.
struct SharedMemoryRegionStatus {
  std::string name;
  std::string key;       // the POSIX shared-memory object ("/name")
  uint64_t offset = 0;   // where the region starts in the object
  uint64_t byteSize = 0;
};

struct RepositoryEntry {
  std::string name;
  std::string version;
  std::string state;   // UNKNOWN, READY, UNAVAILABLE, LOADING, UNLOADING
  std::string reason;
};

// Cumulative statistics per model version, as Triton's statistics extension reports them.
struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
};
struct InferStatistics {
  DurationStat success, fail, queue, computeInput, computeInfer, computeOutput, cacheHit, cacheMiss;
};
struct BatchStatistics {
  uint64_t batchSize = 0;
  DurationStat computeInput, computeInfer, computeOutput;
};
struct ModelStatistics {
  std::string name, version;
  uint64_t lastInferenceMs = 0;  // since epoch
  uint64_t inferenceCount = 0;   // inferences (batch elements)
  uint64_t executionCount = 0;   // model executions (batches)
  InferStatistics inferenceStats;
  std::vector<BatchStatistics> batchStats;
};

enum class ModelControlMode { kNone, kPoll, kExplicit };

struct ServerOptions {
  std::vector<std::string> repositories;
  ModelControlMode controlMode = ModelControlMode::kNone;
  int pollSeconds = 15;
  std::vector<std::string> startupModels;  // --load-model (explicit mode)
  std::string engineCacheDir;              // "" = <repository>/.kiln-cache
  uint64_t maxTensorBytes = 1ull << 30;    // per input tensor
  uint32_t maxBatchRequests = 1024;        // queue bound when a model config sets none
  double exitTimeoutSeconds = 30;
  int logVerbose = 0;
};

class InferenceServer {
 public:
  static Result<std::unique_ptr<InferenceServer>> create(const ServerOptions& opts);
  virtual ~InferenceServer() = default;

  virtual bool live() const = 0;
  virtual bool ready() const = 0;  // every model that should be loaded is READY
  virtual ServerMetadata metadata() const = 0;

  virtual bool modelReady(const std::string& name, const std::string& version) const = 0;
  virtual Result<ModelMetadata> modelMetadata(const std::string& name, const std::string& version) const = 0;
  // The model's configuration (after auto-completion) as ModelConfig protobuf bytes (package
  // `inference`, wire-compatible with Triton's) and as JSON text (Triton's HTTP form).
  virtual Result<std::string> modelConfigProto(const std::string& name, const std::string& version) const = 0;
  virtual Result<std::string> modelConfigJson(const std::string& name, const std::string& version) const = 0;

  // Queues a request; `req->complete` is called exactly once.
  virtual void infer(std::unique_ptr<InferRequest> req) = 0;

  virtual std::vector<RepositoryEntry> repositoryIndex(bool readyOnly) const = 0;
  // Explicit control: load (or reload) / unload a model. Refused unless the control mode allows.
  virtual Status loadModel(const std::string& name, const std::optional<std::string>& configJson) = 0;
  virtual Status unloadModel(const std::string& name, bool unloadDependents) = 0;
  virtual Result<std::vector<ModelStatistics>> statistics(const std::string& name, const std::string& version) const = 0;

  // Triton's system shared memory extension. register maps `byteSize` bytes at `offset` of the
  // POSIX shared-memory object `key` under `name`; inputs and outputs of later requests may then
  // live there instead of in the request and response. unregister: "" = every region; a name
  // that is not registered is not an error (as Triton). status: "" = every region.
  virtual Status registerSystemSharedMemory(const std::string& name, const std::string& key, uint64_t offset,
                                            uint64_t byteSize) = 0;
  virtual Status unregisterSystemSharedMemory(const std::string& name) = 0;
  virtual Result<std::vector<SharedMemoryRegionStatus>> systemSharedMemoryStatus(const std::string& name) const = 0;

  virtual MetricsRegistry& metrics() = 0;
  // Stops accepting requests, answers every queued one (completing them or failing them with
  // Unavailable after the deadline), then unloads everything.
  virtual void shutdown(std::chrono::milliseconds deadline) = 0;
};

}  // namespace kiln::serve
