// CUDA engines: device checks at load, device kernels, constants in device memory, and per-context
// device state (arena, workspace, stream, library handles, kernel states, CUDA graphs).
#include "runtime/cuda_engine.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>

#include <fmt/format.h>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device.h"
#include "backends/cuda/gpu_kernel.h"
#include "backends/host_inputs.h"
#include "core/env_flag.h"
#include "runtime/layer_desc.h"

namespace kiln::runtime {

bool cudaBackendBuilt() { return true; }

namespace {

constexpr size_t kAlign = 256;
size_t alignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct DeviceMemory {
  void* ptr = nullptr;
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() {
    if (ptr) cudaFree(ptr);
  }
  Status allocate(size_t bytes, const char* what) {
    if (bytes == 0) return Status::OK();
    cudaError_t e = cudaMalloc(&ptr, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      ptr = nullptr;
      return ResourceExhausted("cannot allocate {} bytes of GPU memory for {}: {}", bytes, what, cudaGetErrorString(e));
    }
    return Status::OK();
  }
};

struct PinnedMemory {
  void* ptr = nullptr;
  PinnedMemory() = default;
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;
  ~PinnedMemory() {
    if (ptr) cudaFreeHost(ptr);
  }
};

// The devices this process has execution contexts on, one bit each (never cleared).
std::atomic<uint64_t> gContextDevices{0};

// With contexts on two GPUs, re-capturing a context's graph after its input shapes changed and
// updating it in place with cudaGraphExecUpdate faulted with cudaErrorIllegalInstruction on
// 2x H200 (CUDA 13.0, driver 580). Graphs are now instantiated once per launch key and never
// updated, which ran clean there; KILN_CUDA_GRAPHS_MULTI_GPU_ONE_KEY=1 brings back the old
// workaround (in a process with contexts on several GPUs, a context captures its first key only).
bool oneKeyPerMultiGpuContext() {
  static const bool on = envFlag("KILN_CUDA_GRAPHS_MULTI_GPU_ONE_KEY", false);
  return on;
}

bool multiDeviceProcess() {
  const uint64_t m = gContextDevices.load(std::memory_order_relaxed);
  return (m & (m - 1)) != 0;
}

// Which constants device layers read as device data (not through a host input).
std::vector<bool> constantsOnDevice(const plan::Plan& p) {
  std::vector<bool> out(p.tensors.size(), false);
  for (const auto& l : p.layers) {
    if (l.placement != plan::Placement::kTarget) continue;
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      int32_t id = l.inputs[i];
      if (id < 0 || p.tensors[id].kind != plan::TensorKind::kConstant) continue;
      if (!cuda::isHostInput(l.domain, l.op, i)) out[id] = true;
    }
  }
  return out;
}

class CudaEngineImpl;

class CudaContextImpl final : public CudaContext {
 public:
  CudaContextImpl(const CudaEngineImpl& e, const std::vector<LayerIO>* layers) : e_(e), layers_(layers) {}
  ~CudaContextImpl() override;
  Status init();

  char* deviceArena() override { return static_cast<char*>(arena_.ptr); }
  char* hostArena() override { return static_cast<char*>(hostArena_.ptr); }
  Status launch(void* stream, bool synchronize, const LayerHook& afterLayer) override;
  void setLaunchKey(std::vector<int64_t> key) override { key_ = std::move(key); }
  void invalidate() override {
    for (GraphEntry& g : graphs_)
      if (g.exec) cudaGraphExecDestroy(g.exec);
    graphs_.clear();
  }
  void setCudaGraphs(bool on) override {
    graphsOn_ = on;
    invalidate();
  }
  bool cudaGraphs() const override { return graphsOn_; }
  void setProfiling(bool on) override;
  double layerMs(size_t layer) const override { return layer < layerMs_.size() ? layerMs_[layer] : 0.0; }
  Result<void*> staging(size_t slot, size_t bytes) override;
  Status copyToDevice(void* dst, const void* src, size_t bytes) override;
  Status copyToHost(void* dst, const void* src, size_t bytes) override;
  Status waitIdle() override;
  Status checkAddress(const void* p, bool hostInput, const std::string& name) const override;

 private:
  // One launch key's graph: `warm` after an eager run with the key, `exec` once captured.
  struct GraphEntry {
    std::vector<int64_t> key;
    bool warm = false;
    cudaGraphExec_t exec = nullptr;
  };
  // Graphs of this many recent keys are kept (a dynamic batcher's batch sizes, say).
  static constexpr size_t kMaxGraphs = 64;

  Status enqueueAll(cudaStream_t s, bool syncEachLayer, const LayerHook& afterLayer = nullptr);
  // After a synchronization: the error of a bad value a kernel reported (device_check.h), if any;
  // re-arms the check.
  Status takeDeviceCheck(cudaStream_t s);
  Result<cudaGraphExec_t> capture(cudaStream_t s);
  Status bindStream(cudaStream_t s);
  size_t entryFor(const std::vector<int64_t>& key);  // index in graphs_, created (LRU) if absent

  const CudaEngineImpl& e_;
  const std::vector<LayerIO>* layers_;
  cuda::GpuResources res_;
  cudaStream_t own_ = nullptr;
  DeviceMemory arena_, workspace_;
  PinnedMemory hostArena_;
  DeviceMemory checkClaimed_;  // device_check.h: the reporter election word
  PinnedMemory checkReport_;   // mapped: kernels write the report, the host reads it after a sync
  cuda::DeviceCheck check_;
  std::vector<std::unique_ptr<cuda::GpuKernelState>> states_;
  std::vector<std::unique_ptr<DeviceMemory>> staging_;
  std::vector<size_t> stagingBytes_;
  bool graphsOn_ = true;
  bool captured_ = false;  // a graph was captured once (see oneKeyPerMultiGpuContext)
  std::vector<int64_t> key_;
  std::vector<GraphEntry> graphs_;  // least recently used first
  bool profiling_ = false;
  std::vector<cudaEvent_t> events_;
  std::vector<double> layerMs_;
  bool syncEachLayer_ = false;
  // Recorded after each launch of a plan with a host arena: waitIdle() waits on it (the stream a
  // run was enqueued on may be the caller's, and gone by then).
  cudaEvent_t launched_ = nullptr;
  bool launchedPending_ = false;
};

class CudaEngineImpl final : public CudaEngine {
 public:
  explicit CudaEngineImpl(const plan::Plan& p) : p_(p) {}

  Status init(int device, const std::string& what) {
    device_ = device;
    auto devices = cuda::listDevices();
    if (devices.empty())
      return Unavailable("{} is a CUDA engine, but {}", what, cuda::noDeviceReason());
    if (device < 0 || device >= static_cast<int>(devices.size()))
      return InvalidArgument("{}: CUDA device {} does not exist (this machine has {})", what, device, devices.size());
    info_ = devices[device];
    std::string arch = cuda::archName(info_);
    if (p_.target.arch != arch)
      return Unsupported("{} was built for {} ({}); this GPU is {} ({}): rebuild the engine on this GPU", what,
                         p_.target.arch, p_.target.device, arch, info_.name);
    auto libs = cuda::libraryVersions();
    for (const auto& [name, version] : p_.target.libraries) {
      auto it = std::find_if(libs.begin(), libs.end(), [&](const auto& x) { return x.first == name; });
      if (it == libs.end()) continue;
      // Kernels chosen by timing and library algorithm indices are specific to a library version.
      if (it->second != version)
        return Unsupported("{} was built with {} {}; this machine loads {} {}: rebuild the engine here", what, name,
                           version, name, it->second);
    }
    KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));

    // Kernels of device layers.
    const auto& reg = cuda::GpuKernelRegistry::global();
    kernels_.resize(p_.layers.size());
    size_t ws = 0;
    for (size_t li = 0; li < p_.layers.size(); ++li) {
      const auto& l = p_.layers[li];
      if (l.placement != plan::Placement::kTarget) continue;
      auto [base, variant] = cuda::splitTactic(l.tactic);
      const cuda::GpuKernelDef* def = reg.findTactic(l.tactic);
      if (!def || def->op != l.op || variant < 0)
        return Unsupported("{}: layer '{}' ({}) uses tactic '{}', which this Kiln build does not provide (rebuild the "
                           "engine)", what, l.name, l.op, l.tactic);
      auto k = def->create(describeLayer(p_, l), variant, p_.memory.workspaceBytes);
      if (!k.ok()) return std::move(k).takeStatus().withContext(fmt::format("{}: layer '{}' ({})", what, l.name, l.op));
      ws = std::max(ws, (*k)->workspaceBytes());
      kernels_[li] = std::move(k).value();
    }
    workspaceBytes_ = alignUp(ws);

    // Constants read by device layers, in one device buffer.
    auto onDevice = constantsOnDevice(p_);
    size_t total = 0;
    std::vector<size_t> offsets(p_.tensors.size(), 0);
    for (size_t t = 0; t < p_.tensors.size(); ++t) {
      if (!onDevice[t]) continue;
      if (p_.tensors[t].dtype == DType::kString)
        return Unsupported("{}: string constant '{}' cannot be used on the GPU", what, p_.tensors[t].name);
      offsets[t] = total;
      total += alignUp(p_.tensors[t].constant.nbytes());
    }
    KILN_RETURN_IF_ERROR(weights_.allocate(total, "the engine's weights"));
    devConst_.resize(p_.tensors.size());
    for (size_t t = 0; t < p_.tensors.size(); ++t) {
      if (!onDevice[t]) continue;
      const Tensor& c = p_.tensors[t].constant;
      char* dst = static_cast<char*>(weights_.ptr) + offsets[t];
      if (c.nbytes()) KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(dst, c.raw(), c.nbytes(), cudaMemcpyHostToDevice));
      devConst_[t] = Tensor::borrow(c.dtype(), c.dims(), dst, MemoryKind::kDevice);
    }
    return Status::OK();
  }

  const Tensor& deviceConstant(int32_t id) const override { return devConst_[id]; }
  Result<std::unique_ptr<CudaContext>> createContext(const std::vector<LayerIO>* layers) const override {
    auto c = std::make_unique<CudaContextImpl>(*this, layers);
    KILN_RETURN_IF_ERROR(c->init());
    return std::unique_ptr<CudaContext>(std::move(c));
  }
  int device() const override { return device_; }

  const plan::Plan& p_;
  int device_ = 0;
  cuda::DeviceInfo info_;
  std::vector<std::unique_ptr<cuda::GpuKernel>> kernels_;
  size_t workspaceBytes_ = 0;
  DeviceMemory weights_;
  std::vector<Tensor> devConst_;
};

CudaContextImpl::~CudaContextImpl() {
  cudaSetDevice(e_.device_);
  if (own_) cudaStreamSynchronize(own_);
  invalidate();
  for (cudaEvent_t ev : events_) cudaEventDestroy(ev);
  if (launched_) {
    cudaEventSynchronize(launched_);
    cudaEventDestroy(launched_);
  }
  states_.clear();  // kernel states may hold device memory: free before the handles go
  if (res_.cudnn) cudnnDestroy(res_.cudnn);
  if (res_.cublasLt) cublasLtDestroy(res_.cublasLt);
  if (own_) cudaStreamDestroy(own_);
}

Status CudaContextImpl::init() {
  const plan::Plan& p = e_.p_;
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(e_.device_));
  if (e_.device_ >= 0 && e_.device_ < 64) gContextDevices.fetch_or(uint64_t{1} << e_.device_);
  res_.device = e_.device_;
  res_.smCount = e_.info_.multiprocessors;
  res_.computeCapability = e_.info_.major * 10 + e_.info_.minor;
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&own_, cudaStreamNonBlocking));
  res_.stream = own_;
  KILN_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&res_.cublasLt));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnCreate(&res_.cudnn));
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(res_.cudnn, own_));
  KILN_RETURN_IF_ERROR(arena_.allocate(alignUp(p.memory.arenaBytes), "the execution context's arena"));
  KILN_RETURN_IF_ERROR(workspace_.allocate(e_.workspaceBytes_, "kernel workspace"));
  if (p.memory.hostArenaBytes) {
    cudaError_t err = cudaMallocHost(&hostArena_.ptr, alignUp(p.memory.hostArenaBytes));
    if (err != cudaSuccess) {
      cudaGetLastError();
      hostArena_.ptr = nullptr;
      return ResourceExhausted("cannot allocate {} bytes of pinned host memory: {}", p.memory.hostArenaBytes,
                               cudaGetErrorString(err));
    }
  }
  if (p.memory.hostArenaBytes)
    KILN_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&launched_, cudaEventDisableTiming));
  KILN_RETURN_IF_ERROR(checkClaimed_.allocate(kAlign, "the device-check word"));
  // On the context's stream and waited for: kernels run on non-blocking streams, which do not
  // wait for the legacy default stream.
  KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(checkClaimed_.ptr, 0, sizeof(int), own_));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(own_));
  KILN_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&checkReport_.ptr, sizeof(cuda::DeviceCheckReport), cudaHostAllocMapped));
  *static_cast<cuda::DeviceCheckReport*>(checkReport_.ptr) = cuda::DeviceCheckReport{};
  void* reportDev = nullptr;
  KILN_CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer(&reportDev, checkReport_.ptr, 0));
  check_.claimed = static_cast<int*>(checkClaimed_.ptr);
  check_.report = static_cast<cuda::DeviceCheckReport*>(reportDev);
  states_.resize(p.layers.size());
  for (size_t li = 0; li < p.layers.size(); ++li) {
    if (!e_.kernels_[li]) continue;
    auto st = e_.kernels_[li]->createState(res_);
    if (!st.ok())
      return std::move(st).takeStatus().withContext(fmt::format("layer '{}' ({})", p.layers[li].name, p.layers[li].op));
    states_[li] = std::move(st).value();
  }
  graphsOn_ = envFlag("KILN_CUDA_GRAPHS", true);
  syncEachLayer_ = envFlag("KILN_CUDA_SYNC", false);
  return Status::OK();
}

Status CudaContextImpl::bindStream(cudaStream_t s) {
  if (res_.stream == s) return Status::OK();
  res_.stream = s;
  KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(res_.cudnn, s));
  return Status::OK();
}

Status CudaContextImpl::enqueueAll(cudaStream_t s, bool syncEachLayer, const LayerHook& afterLayer) {
  const plan::Plan& p = e_.p_;
  for (size_t li = 0; li < p.layers.size(); ++li) {
    const cuda::GpuKernel* k = e_.kernels_[li].get();
    if (!k) continue;
    const auto& l = p.layers[li];
    const LayerIO& io = (*layers_)[li];
    cuda::GpuKernelContext ctx{l.attrs, io.ins, io.outs, states_[li].get(), res_, s, workspace_.ptr, e_.workspaceBytes_};
    ctx.check = check_;
    ctx.check.tag = static_cast<int>(li) + 1;
    if (profiling_) KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(events_[2 * li], s));
    Status st = k->enqueue(ctx);
    if (st.ok() && syncEachLayer) {
      cudaError_t err = cudaStreamSynchronize(s);
      if (err != cudaSuccess) st = cuda::cudaError(err, "cudaStreamSynchronize (after the layer)", __FILE__, __LINE__);
      else st = takeDeviceCheck(s);
    }
    if (!st.ok()) return std::move(st).withContext(fmt::format("layer '{}' ({}, tactic {})", l.name, l.op, l.tactic));
    if (profiling_) KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(events_[2 * li + 1], s));
    if (afterLayer) {
      KILN_RETURN_IF_ERROR(afterLayer(li));
      // Such engines run eagerly and sync to read sizes: a bad index already reported fails the
      // run before later layers use its zeros.
      if (!p.runtimeDims.empty()) KILN_RETURN_IF_ERROR(takeDeviceCheck(s));
    }
  }
  return Status::OK();
}

Status CudaContextImpl::takeDeviceCheck(cudaStream_t s) {
  auto* r = static_cast<volatile cuda::DeviceCheckReport*>(checkReport_.ptr);
  const int tag = r->tag;
  if (tag == 0) return Status::OK();
  std::atomic_thread_fence(std::memory_order_acquire);  // the fields were written before the tag
  const int64_t value = r->value, position = r->position, limit = r->limit;
  const int input = r->input;
  r->tag = 0;
  KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(checkClaimed_.ptr, 0, sizeof(int), s));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s));
  const plan::Plan& p = e_.p_;
  if (tag < 1 || static_cast<size_t>(tag) > p.layers.size())
    return InternalError("a GPU kernel reported a bad value for an unknown layer {}", tag - 1);
  const auto& l = p.layers[tag - 1];
  const int32_t id = input < static_cast<int>(l.inputs.size()) ? l.inputs[input] : -1;
  const std::string what = id >= 0 ? fmt::format("input {} ('{}')", input, p.tensors[id].name) : fmt::format("input {}", input);
  return InvalidArgument("layer '{}' ({}): {} holds {} at position {}, out of range [-{}, {}) (found on the GPU; the "
                         "run's outputs are not valid)",
                         l.name, l.op, what, value, position, limit, limit);
}

Result<cudaGraphExec_t> CudaContextImpl::capture(cudaStream_t s) {
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  Status st = enqueueAll(s, false);
  cudaGraph_t graph = nullptr;
  cudaError_t endErr = cudaStreamEndCapture(s, &graph);
  if (!st.ok() || endErr != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    if (!st.ok()) return st;
    return cuda::cudaError(endErr, "cudaStreamEndCapture", __FILE__, __LINE__);
  }
  cudaGraphExec_t exec = nullptr;
  cudaError_t e = cudaGraphInstantiateWithFlags(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess) return cuda::cudaError(e, "cudaGraphInstantiateWithFlags", __FILE__, __LINE__);
  return exec;
}

size_t CudaContextImpl::entryFor(const std::vector<int64_t>& key) {
  for (size_t i = 0; i < graphs_.size(); ++i) {
    if (graphs_[i].key != key) continue;
    if (i + 1 != graphs_.size()) std::rotate(graphs_.begin() + i, graphs_.begin() + i + 1, graphs_.end());
    return graphs_.size() - 1;
  }
  if (graphs_.size() >= kMaxGraphs) {
    if (graphs_.front().exec) cudaGraphExecDestroy(graphs_.front().exec);
    graphs_.erase(graphs_.begin());
  }
  graphs_.push_back(GraphEntry{key, false, nullptr});
  return graphs_.size() - 1;
}

Status CudaContextImpl::launch(void* stream, bool synchronize, const LayerHook& afterLayer) {
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(e_.device_));
  cudaStream_t s = stream ? static_cast<cudaStream_t>(stream) : own_;
  KILN_RETURN_IF_ERROR(bindStream(s));
  // A bad value reported by a run enqueued without a synchronization (enqueueOn) fails the next
  // launch once it is visible, and re-arms the check.
  if (static_cast<volatile cuda::DeviceCheckReport*>(checkReport_.ptr)->tag != 0) {
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s));
    KILN_RETURN_IF_ERROR(takeDeviceCheck(s).withContext("in an earlier run enqueued without a synchronization"));
  }
  const bool useGraph = graphsOn_ && !profiling_ && !syncEachLayer_ && !afterLayer;
  GraphEntry* g = nullptr;  // this launch key's graph (stable until graphs_ changes)
  if (useGraph) {
    g = &graphs_[entryFor(key_)];
    if (!g->exec && g->warm && !(captured_ && oneKeyPerMultiGpuContext() && multiDeviceProcess())) {
      auto ex = capture(s);
      if (ex.ok()) {
        g->exec = *ex;
        captured_ = true;
      } else {
        // A layer that cannot be captured (or a driver refusing the graph) costs graphs, not the
        // run: this context runs eagerly from now on.
        graphsOn_ = false;
        invalidate();
        g = nullptr;
      }
    }
  }
  if (g && g->exec) {
    KILN_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(g->exec, s));
  } else {
    Status st = enqueueAll(s, syncEachLayer_, afterLayer);
    if (!st.ok()) {
      // A bad value the kernels already enqueued found is the likelier root cause; either way
      // the check must not stay armed for the next run.
      cudaStreamSynchronize(s);
      cudaGetLastError();
      Status chk = takeDeviceCheck(s);
      return chk.ok() ? st : chk;
    }
    if (g) g->warm = true;  // captured on this key's next launch
  }
  if (launched_) {
    KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(launched_, s));
    launchedPending_ = !synchronize;
  }
  if (synchronize) {
    cudaError_t err = cudaStreamSynchronize(s);
    if (err != cudaSuccess)
      return cuda::cudaError(err, "cudaStreamSynchronize", __FILE__, __LINE__)
          .withContext("the GPU failed while running the engine (set KILN_CUDA_SYNC=1 to find the layer)");
    KILN_RETURN_IF_ERROR(takeDeviceCheck(s));
    if (profiling_) {
      for (size_t li = 0; li < e_.kernels_.size(); ++li) {
        if (!e_.kernels_[li]) continue;
        float ms = 0;
        if (cudaEventElapsedTime(&ms, events_[2 * li], events_[2 * li + 1]) == cudaSuccess) layerMs_[li] += ms;
        else cudaGetLastError();
      }
    }
  }
  return Status::OK();
}

Status CudaContextImpl::waitIdle() {
  if (!launchedPending_) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(launched_));
  launchedPending_ = false;
  return Status::OK();
}

void CudaContextImpl::setProfiling(bool on) {
  profiling_ = on;
  layerMs_.assign(e_.p_.layers.size(), 0.0);
  if (on && events_.empty()) {
    events_.resize(2 * e_.p_.layers.size());
    for (auto& ev : events_) cudaEventCreate(&ev);
  }
}

Result<void*> CudaContextImpl::staging(size_t slot, size_t bytes) {
  if (slot >= staging_.size()) {
    staging_.resize(slot + 1);
    stagingBytes_.resize(slot + 1, 0);
  }
  if (!staging_[slot] || stagingBytes_[slot] < bytes) {
    KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(e_.device_));
    auto m = std::make_unique<DeviceMemory>();
    KILN_RETURN_IF_ERROR(m->allocate(std::max<size_t>(bytes, kAlign), "input/output staging"));
    staging_[slot] = std::move(m);
    stagingBytes_[slot] = std::max<size_t>(bytes, kAlign);
  }
  return staging_[slot]->ptr;
}

Status CudaContextImpl::copyToDevice(void* dst, const void* src, size_t bytes) {
  if (!bytes) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, own_));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(own_));
  return Status::OK();
}

Status CudaContextImpl::checkAddress(const void* p, bool hostInput, const std::string& name) const {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();  // not a pointer CUDA knows: treated as pageable host memory below
    a.type = cudaMemoryTypeUnregistered;
  }
  if (hostInput) {
    if (a.type == cudaMemoryTypeDevice)
      return InvalidArgument("'{}' is a host input of this CUDA engine (its values are read on the host): its address "
                             "must be host memory, but {} is device memory", name, p);
    return Status::OK();
  }
  if (a.type == cudaMemoryTypeUnregistered || (a.type == cudaMemoryTypeHost && a.devicePointer == nullptr))
    return InvalidArgument("'{}': {} is host memory the GPU cannot address; a CUDA engine's I/O addresses are device "
                           "memory (or use run(), which copies host tensors)", name, p);
  if (a.type == cudaMemoryTypeDevice && a.device != e_.device_)
    return InvalidArgument("'{}': {} is memory of GPU {}, but this engine runs on GPU {}", name, p, a.device, e_.device_);
  return Status::OK();
}

Status CudaContextImpl::copyToHost(void* dst, const void* src, size_t bytes) {
  if (!bytes) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, own_));
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(own_));
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<CudaEngine>> CudaEngine::create(const plan::Plan& p, int device, const std::string& what) {
  auto e = std::make_unique<CudaEngineImpl>(p);
  KILN_RETURN_IF_ERROR(e->init(device, what));
  return std::unique_ptr<CudaEngine>(std::move(e));
}

Result<void*> createCudaStream(int device) {
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  cudaStream_t s = nullptr;
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return static_cast<void*>(s);
}

Status synchronizeCudaStream(void* s) {
  KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(static_cast<cudaStream_t>(s)));
  return Status::OK();
}

void destroyCudaStream(void* s) {
  if (s) {
    cudaStreamSynchronize(static_cast<cudaStream_t>(s));
    cudaStreamDestroy(static_cast<cudaStream_t>(s));
  }
}

}  // namespace kiln::runtime
