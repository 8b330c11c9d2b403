// The CUDA side of an engine, behind an interface free of CUDA headers so the rest of the runtime
// compiles (and runs CPU engines) without the CUDA toolkit. Implemented in src/runtime/cuda/
// when the CUDA backend is built; otherwise create() explains that this build has no CUDA.
//
// Division of work with ExecutionContext (execution_context.cc): the context owns the tensor views
// and the per-layer input/output arrays and computes shapes; the CudaContext owns device memory
// (arena, workspace, I/O staging), the stream, library handles, kernel states and CUDA graphs, and
// launches the device layers. Host layers (shape arithmetic) run in the context with CPU kernels.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"
#include "plan/plan.h"

namespace kiln::runtime {

// What the CUDA context needs to launch layer l: the views it reads and writes (stable addresses;
// their dims and data pointers are updated by ExecutionContext::prepare()).
struct LayerIO {
  std::vector<const Tensor*> ins;
  std::vector<Tensor*> outs;
};

class CudaContext {
 public:
  virtual ~CudaContext() = default;
  virtual char* deviceArena() = 0;  // plan.memory.arenaBytes of device memory
  virtual char* hostArena() = 0;    // plan.memory.hostArenaBytes of pinned host memory
  // Launches every device layer, in plan order, on `stream` (a cudaStream_t; null: the
  // context's own). With CUDA graphs on, the sequence is captured once per launch key (after one
  // eager warm-up run with that key) and replayed; graphs of recent keys are kept, so a server
  // alternating batch sizes replays each. `synchronize`: wait and report errors.
  // `afterLayer` (engines with data-dependent dims): called after each device layer is enqueued,
  // with the layer index; such launches run eagerly (no CUDA graph), because the layers that
  // decide a size synchronize to read it and the later layers' dims follow from it.
  using LayerHook = std::function<Status(size_t layer)>;
  virtual Status launch(void* stream, bool synchronize, const LayerHook& afterLayer = nullptr) = 0;
  // What a captured graph depends on: the input dims and the I/O addresses, exactly.
  virtual void setLaunchKey(std::vector<int64_t> key) = 0;
  // Something a graph depends on changed outside the key: every captured graph is dropped.
  virtual void invalidate() = 0;
  virtual void setCudaGraphs(bool on) = 0;
  virtual bool cudaGraphs() const = 0;
  // Per-layer device time of eager launches (events around each layer); disables graphs while on.
  virtual void setProfiling(bool on) = 0;
  virtual double layerMs(size_t layer) const = 0;  // accumulated, in ms (0 for host layers)
  // Device staging buffers for host I/O (ExecutionContext::run), sized for the profile's max
  // shapes; copies run on the context's stream and are synchronous.
  virtual Result<void*> staging(size_t ioSlot, size_t bytes) = 0;
  virtual Status copyToDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual Status copyToHost(void* dst, const void* src, size_t bytes) = 0;
  // Waits until the GPU has finished the launches so far that read host memory the context
  // rewrites (uploads from the host arena): before host layers run again.
  virtual Status waitIdle() = 0;
  // Whether `p` suits an I/O tensor: memory the GPU can address for device I/O (device, managed
  // or mapped pinned memory), memory the host can read for a host input. A kernel handed
  // pageable host memory faults, and the fault poisons every context of the process.
  virtual Status checkAddress(const void* p, bool hostInput, const std::string& name) const = 0;
};

class CudaEngine {
 public:
  // Checks the device against the plan's target (compute capability, library versions), creates
  // the device kernels of the plan's device layers and uploads the constants they read.
  static Result<std::unique_ptr<CudaEngine>> create(const plan::Plan& p, int device, const std::string& what);
  virtual ~CudaEngine() = default;
  // A device-memory view of constant tensor `id` (undefined if no device layer reads it).
  virtual const Tensor& deviceConstant(int32_t id) const = 0;
  virtual Result<std::unique_ptr<CudaContext>> createContext(const std::vector<LayerIO>* layers) const = 0;
  virtual int device() const = 0;
};

// True when this build has the CUDA backend (it may still find no device at run time).
bool cudaBackendBuilt();

}  // namespace kiln::runtime

namespace kiln::runtime {
// CUDA streams for kiln::Stream (which keeps them opaque).
Result<void*> createCudaStream(int device);
Status synchronizeCudaStream(void* stream);
void destroyCudaStream(void* stream);
}  // namespace kiln::runtime
