// Running engines. An Engine is immutable once loaded and may be shared by any number of threads.
// An ExecutionContext holds the state of one run (input shapes, buffer addresses, the planned
// memory arena); use one context per thread or stream. Contexts of one engine run concurrently
// without sharing mutable state.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/shape.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

namespace plan {
struct Plan;
}
class ExecutionContext;
class Stream;

struct IOTensorInfo {
  std::string name;
  DType dtype;
  Shape shape;    // symbolic where dynamic
  bool isInput;
  // CUDA engines: an input whose values kernels read on the host (TopK's K, NonMaxSuppression's
  // thresholds; TensorRT's shape tensors). Its address (setTensorAddress) is host memory, read
  // when the run is enqueued; every other I/O address of a CUDA engine is device memory.
  bool hostMemory = false;
};

// A description of the engine for `kiln inspect`.
struct LayerSummary {
  std::string name, op, tactic, precision;
  std::vector<std::string> inputs, outputs;  // "name: float32[batch,64,56,56]"
  std::vector<std::string> fusedFrom;
  double measuredUs = -1;
  std::string placement;  // "cpu" (CPU engines), "gpu" or "host" (shape arithmetic in CUDA engines)
};

struct LoadOptions {
  int device = 0;  // CUDA engines: the GPU to run on (it must match the engine's architecture)
};

class Engine {
 public:
  ~Engine();
  // Loads an engine file (memory-mapped). Refused, with a one-line reason, when the file is
  // truncated or damaged, is not an engine, has a newer format, or targets another machine.
  static Result<std::shared_ptr<Engine>> loadFile(const std::string& path, const LoadOptions& opts = {});
  static Result<std::shared_ptr<Engine>> loadBytes(std::string bytes, const std::string& what = "engine",
                                                   const LoadOptions& opts = {});
  // True for engines that run on a CUDA GPU: their I/O addresses (setTensorAddress) are device
  // memory, except host inputs (IOTensorInfo::hostMemory); ExecutionContext::run() takes host
  // tensors and copies.
  bool isCuda() const;

  const std::vector<IOTensorInfo>& ioTensors() const { return io_; }
  const IOTensorInfo* findIO(const std::string& name) const;
  int numProfiles() const;
  // The profile's range for an input; false if the input is static or absent.
  bool profileRange(int profile, const std::string& input, Dims* min, Dims* opt, Dims* max) const;

  // A new context using optimization profile `profile`.
  Result<std::unique_ptr<ExecutionContext>> createExecutionContext(int profile = 0) const;

  std::vector<LayerSummary> layers() const;
  std::string summary() const;  // target, versions, memory plan, profiles (multi-line text)
  const plan::Plan& plan() const { return *plan_; }

 private:
  friend class ExecutionContext;
  struct Impl;
  Engine() = default;
  static Result<std::shared_ptr<Engine>> fromPlan(std::unique_ptr<plan::Plan> p, const std::string& what,
                                                  const LoadOptions& opts);
  std::unique_ptr<plan::Plan> plan_;
  std::unique_ptr<Impl> impl_;
  std::vector<IOTensorInfo> io_;
};

class ExecutionContext {
 public:
  ~ExecutionContext();

  // Sets a dynamic input's dims; checked against the context's profile. Static inputs may be set
  // too (to their dims).
  Status setInputShape(const std::string& name, const Dims& dims);
  // Dims of any I/O tensor for the input shapes set so far (outputs: computed by the engine's
  // shape program). An output whose size depends on values (CPU engines: NonZero, Compress,
  // Unique, NonMaxSuppression and what follows them) has its upper bound here until execute()
  // has run, then the size the run wrote (the values fill the front of the buffer in that shape)
  // until the next setInputShape(): allocate outputs from the shape seen before a run.
  Result<Dims> getTensorShape(const std::string& name);
  // Caller-owned memory for an input or output (zero copy). It must hold the tensor's bytes for
  // the current shapes and stay valid until the run completes. CUDA engines: device memory, but
  // host memory for host inputs (IOTensorInfo::hostMemory), which are read when a run is enqueued
  // (a captured CUDA graph is kept per set of their values).
  Status setTensorAddress(const std::string& name, void* data);

  // Runs synchronously on the calling thread.
  Status execute();
  // Queues the run on `stream` and returns; stream.synchronize() waits and reports errors. A bad
  // value only the GPU sees (an index out of range) is reported by execute()/run(); for a queued
  // CUDA run, by this context's next execute(), enqueue() or enqueueOn() once the GPU has found it.
  Status enqueue(Stream& stream);
  // CUDA engines: launches the run on a caller's cudaStream_t (passed as void*) without waiting.
  Status enqueueOn(void* cudaStream);
  // CUDA engines: capture the launch sequence per input-shape/address set into a CUDA graph and
  // replay it (on by default; KILN_CUDA_GRAPHS=0 turns it off). No effect on CPU engines.
  void setCudaGraphs(bool on);
  bool cudaGraphs() const;

  // Convenience for tools and tests: sets shapes and addresses from named tensors, runs, and
  // returns newly allocated outputs in engine output order.
  struct Named {
    std::string name;
    Tensor tensor;
  };
  Status run(const std::vector<Named>& inputs, std::vector<Named>* outputs);

  int profile() const { return profile_; }

  // Per-layer timing of subsequent runs (host wall time around each layer), for `kiln bench
  // --profile`. Off by default: it costs two clock reads per layer.
  struct LayerTime {
    std::string name, op, tactic;
    double totalMs = 0;
    int64_t runs = 0;
  };
  void enableLayerProfiling(bool on);
  std::vector<LayerTime> layerTimes() const;

 private:
  friend class Engine;
  friend class Stream;
  struct State;
  ExecutionContext() = default;
  const Engine* engine_ = nullptr;
  int profile_ = 0;
  std::unique_ptr<State> s_;
  Status prepare();
  Status readRuntimeDims(int32_t layerIndex);  // after a layer that decides data-dependent dims
  Status resetRuntimeDims();                   // back to the bounds before a run
  std::function<Status(size_t)> runtimeDimsHook();  // readRuntimeDims for CUDA launches (null: none)
  std::vector<int64_t> launchKey() const;  // input dims, I/O addresses, host-input values (CUDA graphs)
  Status refreshHostLayers();  // CUDA engines: host layers again after a shape or host-input change
};

// An in-order queue of runs. On the CPU it is a worker thread; for CUDA engines it is a CUDA
// stream (created on first use). Runs on one stream execute one after another, runs on different
// streams concurrently.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  // Waits for every queued run; returns the first error since the last synchronize().
  Status synchronize();

 private:
  friend class ExecutionContext;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Status push(ExecutionContext* ctx);
  Result<void*> cudaStream(int device);  // created on first use
};

}  // namespace kiln
