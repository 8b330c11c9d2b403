// The builder's CUDA target: device checks, target description, and tactic timing on the GPU.
// Each candidate (kernel def x library variant) of a device layer runs on random inputs at the
// profile's opt shapes (real weights), is checked against the first candidate's result, and is
// timed with CUDA events (median of repeats) with L2 as the engine sees it: activations warm,
// weights cold. Winners go to the timing cache.
#include "build/cuda_target.h"

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/device.h"
#include "backends/cuda/gpu_kernel.h"
#include "backends/cuda/tuning_check.h"
#include "backends/host_inputs.h"
#include "runtime/layer_desc.h"

namespace kiln::build {

bool cudaSupportsLayer(const cpu::LayerDesc& d) {
  for (const cuda::GpuKernelDef* def : cuda::GpuKernelRegistry::global().candidates(d.domain, d.op))
    if (!def->supports || def->supports(d)) return true;
  return false;
}

bool cudaHasOp(const std::string& domain, const std::string& op) {
  return !cuda::GpuKernelRegistry::global().candidates(domain, op).empty();
}

int cudaDeviceCount() { return static_cast<int>(cuda::listDevices().size()); }

int cudaComputeCapability(int device) {
  auto devices = cuda::listDevices();
  if (device < 0 || device >= static_cast<int>(devices.size())) return 0;
  return devices[device].major * 10 + devices[device].minor;
}

std::string cudaDeviceKey(int device) {
  auto devices = cuda::listDevices();
  if (device < 0 || device >= static_cast<int>(devices.size())) return "cuda:none";
  std::string k = fmt::format("cuda:{}:{}", devices[device].name, cuda::archName(devices[device]));
  for (const auto& [n, v] : cuda::libraryVersions()) k += ":" + n + "-" + v;
  // How candidates are timed: timings taken another way are not comparable (l2warm: activations
  // warm in L2, weights flushed). Layers re-timed at the power cap have keys of their own.
  return k + ":l2warm";
}

namespace {

// Re-timing of large layers at the power cap (CudaTacticsImpl::choose).
constexpr double kCappedMinUs = 15.0;  // layers faster than this keep the plain samples
constexpr double kCappedWarmMs = 30.0;
constexpr int kCappedLaunches = 20;

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr), bytes(o.bytes) { o.ptr = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (ptr) cudaFree(ptr);
      ptr = o.ptr;
      bytes = o.bytes;
      o.ptr = nullptr;
    }
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  Status ensure(size_t n) {
    if (n <= bytes && ptr) return Status::OK();
    if (ptr) cudaFree(ptr);
    ptr = nullptr;
    bytes = 0;
    KILN_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr, std::max<size_t>(n, 256)));
    bytes = std::max<size_t>(n, 256);
    return Status::OK();
  }
};

double relL2(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.doubleAt(i), y = b.doubleAt(i);
    if (std::isnan(x) != std::isnan(y)) return INFINITY;
    if (std::isnan(x)) continue;
    num += (x - y) * (x - y);
    den += y * y;
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// The float types the device-side fill and comparison handle (the rest, fp8 say, go via the host).
bool onDevice(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}

bool isHostSlot(const plan::LayerInfo& l, int i) { return cuda::isHostInput(l.domain, l.op, static_cast<size_t>(i)); }

class CudaTacticsImpl final : public CudaTactics {
 public:
  CudaTacticsImpl(const BuildConfig& cfg, TimingCache* cache) : cfg_(cfg), cache_(cache) {}
  ~CudaTacticsImpl() override {
    weights_.clear();
    if (res_.cudnn) cudnnDestroy(res_.cudnn);
    if (res_.cublasLt) cublasLtDestroy(res_.cublasLt);
    if (stream_) cudaStreamDestroy(stream_);
    for (cudaEvent_t e : {start_, stop_})
      if (e) cudaEventDestroy(e);
  }

  Status init() {
    auto devices = cuda::listDevices();
    if (devices.empty())
      return Unavailable("a CUDA engine is built on the GPU it targets, and {} (build for the CPU, or build on the "
                         "GPU machine)", cuda::noDeviceReason());
    if (cfg_.device < 0 || cfg_.device >= static_cast<int>(devices.size()))
      return InvalidArgument("CUDA device {} does not exist (this machine has {})", cfg_.device, devices.size());
    info_ = devices[cfg_.device];
    if (info_.major < 8)
      return Unsupported("{} is {} ; Kiln's CUDA backend needs compute capability 8.0 (Ampere) or newer", info_.name,
                         cuda::archName(info_));
    KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(cfg_.device));
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    KILN_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&res_.cublasLt));
    KILN_CUDNN_RETURN_IF_ERROR(cudnnCreate(&res_.cudnn));
    KILN_CUDNN_RETURN_IF_ERROR(cudnnSetStream(res_.cudnn, stream_));
    KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start_));
    KILN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop_));
    res_.device = cfg_.device;
    res_.smCount = info_.multiprocessors;
    res_.computeCapability = info_.major * 10 + info_.minor;
    res_.stream = stream_;
    // Twice the L2 so that a memset evicts everything a timed run could reuse.
    KILN_RETURN_IF_ERROR(flush_.ensure(std::max<size_t>(2 * info_.l2CacheBytes, 8u << 20)));
    KILN_RETURN_IF_ERROR(sums_.ensure(3 * sizeof(double)));
    workspaceLimit_ = 256ull << 20;
    if (cfg_.memoryLimit) workspaceLimit_ = std::min<size_t>(workspaceLimit_, cfg_.memoryLimit / 4);
    return Status::OK();
  }

  plan::TargetInfo target() const override {
    plan::TargetInfo t;
    t.kind = "cuda";
    t.arch = cuda::archName(info_);
    t.device = info_.name;
    t.features = fmt::format("{} SMs, {} MiB, L2 {} MiB, driver {}", info_.multiprocessors, info_.totalMemory >> 20,
                             info_.l2CacheBytes >> 20, cuda::driverVersion());
    t.libraries = cuda::libraryVersions();
    return t;
  }
  size_t workspaceLimit() const override { return workspaceLimit_; }
  size_t workspaceUsed() const override { return workspaceUsed_; }

  Result<TacticChoice> choose(const plan::Plan& p, const plan::LayerInfo& l, const std::vector<Dims>& dims,
                              const std::vector<Tensor>& hostValues) override;

 private:
  struct Candidate {
    const cuda::GpuKernelDef* def;
    int variant;
    std::string name;
  };
  Result<const Tensor*> deviceWeight(const plan::Plan& p, int32_t id);
  std::vector<Candidate> candidates(const cpu::LayerDesc& desc, const std::string& layerName, const std::string& op);
  Result<bool> compareWithReference(const std::vector<Tensor*>& outs, std::vector<DeviceBuffer>& ref, bool haveRef,
                                    double tol);

  const BuildConfig& cfg_;
  TimingCache* cache_;
  cuda::DeviceInfo info_;
  cuda::GpuResources res_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  DeviceBuffer flush_, workspace_, sums_;
  size_t workspaceLimit_ = 0, workspaceUsed_ = 0;
  std::map<int32_t, std::pair<DeviceBuffer, Tensor>> weights_;
  std::mt19937 rng_{1234};
};

Result<const Tensor*> CudaTacticsImpl::deviceWeight(const plan::Plan& p, int32_t id) {
  auto it = weights_.find(id);
  if (it != weights_.end()) return &it->second.second;
  const Tensor& c = p.tensors[id].constant;
  DeviceBuffer b;
  KILN_RETURN_IF_ERROR(b.ensure(c.nbytes()));
  if (c.nbytes()) KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(b.ptr, c.raw(), c.nbytes(), cudaMemcpyHostToDevice));
  Tensor view = Tensor::borrow(c.dtype(), c.dims(), b.ptr, MemoryKind::kDevice);
  auto& slot = weights_[id];
  slot.first = std::move(b);
  slot.second = view;
  return &slot.second;
}

// The first candidate that runs (haveRef false) leaves copies of its float outputs in `ref`; each
// later one is compared with them on the device: relative L2 <= tol, and NaN where the
// reference has NaN (a NaN mismatch fails).
Result<bool> CudaTacticsImpl::compareWithReference(const std::vector<Tensor*>& outs, std::vector<DeviceBuffer>& ref,
                                                   bool haveRef, double tol) {
  bool ok = true;
  for (size_t o = 0; o < outs.size(); ++o) {
    const Tensor* t = outs[o];
    if (!t || !isFloat(t->dtype()) || t->numel() == 0) continue;
    if (!haveRef) {
      KILN_RETURN_IF_ERROR(ref[o].ensure(t->nbytes()));
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ref[o].ptr, t->raw(), t->nbytes(), cudaMemcpyDeviceToDevice, stream_));
      continue;
    }
    if (!onDevice(t->dtype())) {  // rare small floats (fp8): compared on the host
      Tensor a = Tensor::allocate(t->dtype(), t->dims()), b = Tensor::allocate(t->dtype(), t->dims());
      KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(a.raw(), t->raw(), a.nbytes(), cudaMemcpyDeviceToHost));
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(b.raw(), ref[o].ptr, b.nbytes(), cudaMemcpyDeviceToHost));
      ok = ok && relL2(a, b) <= tol;
      continue;
    }
    double* sums = static_cast<double*>(sums_.ptr);
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(sums, 0, 3 * sizeof(double), stream_));
    KILN_CUDA_RETURN_IF_ERROR(cuda::diffNorms(t->raw(), ref[o].ptr, t->dtype(), t->numel(), sums, stream_));
    double h[3] = {0, 0, 0};
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(h, sums, sizeof h, cudaMemcpyDeviceToHost, stream_));
    KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    const double rel = h[2] > 0 ? INFINITY : h[1] == 0 ? std::sqrt(h[0]) : std::sqrt(h[0] / h[1]);
    ok = ok && rel <= tol;
  }
  return ok;
}

std::vector<CudaTacticsImpl::Candidate> CudaTacticsImpl::candidates(const cpu::LayerDesc& desc,
                                                                    const std::string& layerName,
                                                                    const std::string& op) {
  std::vector<Candidate> out;
  for (const cuda::GpuKernelDef* d : cuda::GpuKernelRegistry::global().candidates(desc.domain, desc.op)) {
    bool disabled = false;
    for (const auto& prefix : cfg_.disabledTactics) disabled |= d->tactic.rfind(prefix, 0) == 0;
    if (auto f = cfg_.forcedTactics.find(op); f != cfg_.forcedTactics.end()) disabled |= d->tactic != cuda::splitTactic(f->second).first;
    if (disabled || (d->supports && !d->supports(desc))) continue;
    int n = d->variants ? d->variants(desc, workspaceLimit_) : 1;
    for (int v = 0; v < n; ++v) out.push_back({d, v, n > 1 || d->variants ? fmt::format("{}:{}", d->tactic, v) : d->tactic});
  }
  (void)layerName;
  return out;
}

Result<TacticChoice> CudaTacticsImpl::choose(const plan::Plan& p, const plan::LayerInfo& l, const std::vector<Dims>& dims,
                                             const std::vector<Tensor>& hostValues) {
  cpu::LayerDesc desc = runtime::describeLayer(p, l);
  desc.allowTf32 = cfg_.tf32;
  std::vector<Candidate> cands = candidates(desc, l.name, l.op);
  if (auto f = cfg_.forcedTactics.find(l.op); f != cfg_.forcedTactics.end() && f->second.find(':') != std::string::npos)
    cands.erase(std::remove_if(cands.begin(), cands.end(), [&](const Candidate& c) { return c.name != f->second; }),
                cands.end());
  if (cands.empty()) {
    if (auto f = cfg_.forcedTactics.find(l.op); f != cfg_.forcedTactics.end())
      return Unsupported("layer '{}' ({}): the forced tactic '{}' does not support it (or does not exist)", l.name,
                         l.op, f->second);
    std::vector<std::string> types;
    for (DType t : desc.inputTypes) types.emplace_back(t == DType::kUndefined ? "-" : dtypeName(t));
    return Unsupported("layer '{}' ({}{}): no CUDA kernel supports it (input types {}); a CUDA engine runs every layer "
                       "on the GPU", l.name, l.domain.empty() ? "" : l.domain + ":", l.op, fmt::join(types, ", "));
  }
  TacticChoice choice{cands[0].name};
  std::vector<std::string> names;
  for (const auto& c : cands) names.push_back(c.name);
  const std::string key = layerKey(p, l, dims, names) + (cfg_.tf32 ? "|tf32" : "") + (cfg_.cappedTiming ? "|capped" : "");
  const bool timing = cfg_.optimizationLevel >= 3 && cands.size() > 1;
  KILN_CUDA_RETURN_IF_ERROR(cudaSetDevice(cfg_.device));  // library queries below run on it too
  if (timing && cache_) {
    if (auto hit = cache_->find(key); hit && std::find(names.begin(), names.end(), hit->tactic) != names.end()) {
      // The cached choice still sizes the engine's workspace: without this a rebuild with a warm
      // cache recorded too small a workspace and the layer failed at run time. A choice that no
      // longer creates (or outgrows the limit) is timed again.
      const Candidate& c = *std::find_if(cands.begin(), cands.end(), [&](const Candidate& x) { return x.name == hit->tactic; });
      if (auto k = c.def->create(desc, c.variant, workspaceLimit_); k.ok() && (*k)->workspaceBytes() <= workspaceLimit_) {
        workspaceUsed_ = std::max(workspaceUsed_, (*k)->workspaceBytes());
        choice.tactic = hit->tactic;
        choice.microseconds = hit->microseconds;
        choice.fromCache = true;
        return choice;
      }
    }
  }

  // A host input's value (or one computed from it) is known only at run time: there is nothing to
  // run the candidates on, so the first that creates is taken, untimed.
  for (size_t i = 0; i < l.inputs.size(); ++i) {
    const int32_t id = l.inputs[i];
    if (id < 0 || !isHostSlot(l, static_cast<int>(i)) || p.tensors[id].kind == plan::TensorKind::kConstant ||
        hostValues[id].defined())
      continue;
    for (const Candidate& c : cands) {
      auto k = c.def->create(desc, c.variant, workspaceLimit_);
      if (!k.ok() || (*k)->workspaceBytes() > workspaceLimit_) continue;
      workspaceUsed_ = std::max(workspaceUsed_, (*k)->workspaceBytes());
      choice.tactic = c.name;
      return choice;
    }
    return Unsupported("layer '{}' ({}): no CUDA kernel takes it with '{}' known only at run time", l.name, l.op,
                       p.tensors[id].name);
  }

  // Inputs at the opt shapes: weights are real, host inputs are the host-evaluated values, other
  // inputs random (floats) or zero (indices, masks: always valid).
  std::vector<DeviceBuffer> store;
  store.reserve(l.inputs.size() + l.outputs.size());
  std::vector<Tensor> views(l.inputs.size() + l.outputs.size());
  std::vector<std::pair<const void*, size_t>> activations;  // device inputs the timer warms in L2
  bool hasWeights = false;  // constant device inputs, cold in L2 when the engine runs
  size_t weightBytes = 0, activationBytes = 0;  // constant inputs; other device inputs and outputs
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < l.inputs.size(); ++i) {
    int32_t id = l.inputs[i];
    if (id < 0) {
      ins.push_back(nullptr);
      continue;
    }
    const auto& t = p.tensors[id];
    if (isHostSlot(l, static_cast<int>(i))) {
      const Tensor* v = t.kind == plan::TensorKind::kConstant ? &t.constant : &hostValues[id];
      if (!v->defined())
        return InternalError("layer '{}' reads '{}' on the host but its value is unknown at build time", l.name, t.name);
      ins.push_back(v);
      continue;
    }
    if (t.kind == plan::TensorKind::kConstant) {
      hasWeights = true;
      KILN_ASSIGN_OR_RETURN(const Tensor* w, deviceWeight(p, id));
      weightBytes += static_cast<size_t>(w->nbytes());
      ins.push_back(w);
      continue;
    }
    // Filled on the device: at large opt shapes a host-side fill and upload cost seconds a layer.
    const size_t bytes = static_cast<size_t>(dims[id].numel()) * dtypeSize(t.dtype);
    activationBytes += bytes;
    store.emplace_back();
    KILN_RETURN_IF_ERROR(store.back().ensure(bytes));
    if (onDevice(t.dtype)) {
      KILN_CUDA_RETURN_IF_ERROR(cuda::fillUniform(store.back().ptr, t.dtype, dims[id].numel(), rng_(), -1.f, 1.f, stream_));
    } else if (isFloat(t.dtype)) {
      Tensor host = Tensor::allocate(t.dtype, dims[id]);
      std::uniform_real_distribution<float> u(-1.f, 1.f);
      dispatchType<FloatTypes>(t.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        for (int64_t k = 0; k < host.numel(); ++k) host.data<T>()[k] = convertValue<T>(u(rng_));
      });
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpy(store.back().ptr, host.raw(), bytes, cudaMemcpyHostToDevice));
    } else if (bytes) {
      KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(store.back().ptr, 0, bytes, stream_));  // indices, masks: valid
    }
    views[i] = Tensor::borrow(t.dtype, dims[id], store.back().ptr, MemoryKind::kDevice);
    ins.push_back(&views[i]);
    activations.push_back({store.back().ptr, bytes & ~size_t{15}});
  }
  std::vector<Tensor*> outs;
  for (size_t o = 0; o < l.outputs.size(); ++o) {
    int32_t id = l.outputs[o];
    if (id < 0) {
      outs.push_back(nullptr);
      continue;
    }
    const auto& t = p.tensors[id];
    size_t bytes = static_cast<size_t>(dims[id].numel()) * dtypeSize(t.dtype);
    activationBytes += bytes;
    store.emplace_back();
    KILN_RETURN_IF_ERROR(store.back().ensure(bytes));
    views[l.inputs.size() + o] = Tensor::borrow(t.dtype, dims[id], store.back().ptr, MemoryKind::kDevice);
    outs.push_back(&views[l.inputs.size() + o]);
  }

  struct Measured {
    size_t cand;
    double us;
    bool matches = true;  // float outputs within tolerance of the reference (the first that ran)
    size_t workspace = 0;
    double cappedUs = -1;  // re-timed at the power cap (below); -1: not
    std::unique_ptr<cuda::GpuKernel> kernel;  // kept for the re-timing
    std::unique_ptr<cuda::GpuKernelState> state;
  };
  std::vector<Measured> results;
  Status firstFailure;
  bool lowPrecision = false;
  for (DType t : desc.outputTypes) lowPrecision |= t == DType::kFloat16 || t == DType::kBFloat16;
  const double tol = lowPrecision ? 2e-2 : cfg_.tf32 ? 1e-2 : 1e-3;
  // The reference candidate's float outputs, kept on the device; later candidates are compared
  // with them there (copying 200 MB outputs to the host per candidate dominated build time).
  std::vector<DeviceBuffer> refOut(outs.size());
  bool haveRef = false;
  const int reps = !timing ? 0 : cfg_.optimizationLevel >= 4 ? 25 : 10;
  for (size_t ci = 0; ci < cands.size(); ++ci) {
    const Candidate& c = cands[ci];
    auto fail = [&](Status st) {
      if (firstFailure.ok()) firstFailure = std::move(st).withContext(c.name);
    };
    auto k = c.def->create(desc, c.variant, workspaceLimit_);
    if (!k.ok()) {
      fail(std::move(k).takeStatus());
      continue;
    }
    size_t ws = (*k)->workspaceBytes();
    if (ws > workspaceLimit_) {
      fail(ResourceExhausted("needs {} bytes of workspace, over the limit {}", ws, workspaceLimit_));
      continue;
    }
    if (Status st = workspace_.ensure(ws); !st.ok()) {
      fail(std::move(st));
      continue;
    }
    auto state = (*k)->createState(res_);
    if (!state.ok()) {
      fail(std::move(state).takeStatus());
      continue;
    }
    cuda::GpuKernelContext ctx{l.attrs, ins, outs, state->get(), res_, stream_, workspace_.ptr, ws};
    // Outputs start as all-ones bytes (NaN in every float type): a candidate that leaves part of
    // an output unwritten fails the check instead of inheriting the previous candidate's values.
    for (Tensor* o : outs)
      if (o && o->nbytes()) KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(o->raw(), 0xFF, o->nbytes(), stream_));
    Status st = (*k)->enqueue(ctx);
    if (st.ok()) {
      cudaError_t e = cudaStreamSynchronize(stream_);
      if (e != cudaSuccess) st = cuda::cudaError(e, "cudaStreamSynchronize", __FILE__, __LINE__);
    }
    if (!st.ok()) {
      // A kernel fault poisons the context; nothing after it can be trusted.
      if (cudaGetLastError() != cudaSuccess && cudaDeviceSynchronize() != cudaSuccess)
        return std::move(st).withContext(fmt::format("layer '{}' ({}): tactic {} crashed the GPU", l.name, l.op, c.name));
      fail(std::move(st));
      continue;
    }
    Measured m{ci, 0, true, ws};
    if (timing) {
      KILN_ASSIGN_OR_RETURN(m.matches, compareWithReference(outs, refOut, haveRef, tol));
      haveRef = true;
      std::vector<float> times;
      // L2 as in the engine: the weights cold (they stream from memory every run), the
      // activations warm (the previous layer just wrote them). A layer with weights runs once per
      // sample after a flush that re-reads its activations; one without runs back to back, as in
      // a CUDA graph (launch gaps hidden, inputs hot). Timing everything once after a full flush
      // ranked tactics by how they hide cold-input and launch latency: at BERT batch 1 cuDNN's
      // attention timed faster yet ran 1.2 us a layer slower in the engine than Kiln's kernel.
      const int launches = hasWeights ? 1 : 8;
      for (int r = 0; r < reps + 2; ++r) {
        if (hasWeights) {
          KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(flush_.ptr, r & 0xff, flush_.bytes, stream_));
          for (const auto& [ptr, n] : activations) KILN_CUDA_RETURN_IF_ERROR(cuda::touchL2(ptr, n, stream_));
        }
        KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(start_, stream_));
        Status rs;
        for (int i = 0; i < launches && rs.ok(); ++i) rs = (*k)->enqueue(ctx);
        KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop_, stream_));
        KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop_));
        if (!rs.ok()) return std::move(rs).withContext(fmt::format("layer '{}': timing {}", l.name, c.name));
        float ms = 0;
        KILN_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start_, stop_));
        if (r >= 2) times.push_back(ms / launches);
      }
      std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
      m.us = times[times.size() / 2] * 1000.0;
      if (cfg_.cappedTiming) {  // kept for the re-timing below; otherwise freed with this candidate
        m.kernel = std::move(*k);
        m.state = std::move(*state);
      }
    }
    results.push_back(std::move(m));
    if (!timing) break;  // the first candidate that works is the choice
  }
  if (results.empty())
    return std::move(firstFailure).withContext(fmt::format("layer '{}' ({}): every CUDA tactic failed", l.name, l.op));
  const Measured* best = &results[0];
  for (const auto& m : results)
    if (m.matches && m.us < best->us) best = &m;
  // Large layers whose weights are reused across many rows (batch-heavy GEMMs and convolutions)
  // run at the card's power cap in the engine, not at the boost clock the samples above mostly
  // see: on H100 at BERT-base batch 64 the board sits at ~690 of 700 W with the SW power cap
  // active and the SM clock at 1.3-1.6 GHz. There the faster kernel is the one that spends less
  // energy per result, which a short sample does not rank. So the candidates within 25% of the
  // best are re-timed after kCappedWarmMs of back-to-back runs (the power controller settles in
  // milliseconds), each sample 20 launches back to back, and the fastest at the cap is chosen.
  // Small layers (< kCappedMinUs) and weight-bound ones (batch 1, where cold weights decide) keep
  // the samples above. Opt-in (BuildConfig::cappedTiming): on one H100, alternating runs, BERT-base
  // batch 64 went 3.044-3.064 -> 3.009-3.048 ms (cuBLASLt over the CUTLASS ping-pong GEMMs for
  // the residual layers) but ResNet-50 batch 128 3.743-3.751 -> 3.826-3.832 ms (other
  // convolution tactics): the sustained sample, without the weight flush, misranks some.
  if (timing && cfg_.cappedTiming && best->us >= kCappedMinUs && activationBytes >= 2 * weightBytes) {
    const double window = best->us * 1.25;
    const Measured* capped = nullptr;
    for (auto& m : results) {
      if (!m.matches || m.us > window || !m.kernel) continue;
      KILN_RETURN_IF_ERROR(workspace_.ensure(m.workspace));
      const Candidate& c = cands[m.cand];
      cuda::GpuKernelContext ctx{l.attrs, ins, outs, m.state.get(), res_, stream_, workspace_.ptr, m.workspace};
      auto enqueueN = [&](int n) -> Status {
        for (int i = 0; i < n; ++i) KILN_RETURN_IF_ERROR(m.kernel->enqueue(ctx));
        return Status::OK();
      };
      const auto w0 = std::chrono::steady_clock::now();
      while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count() < kCappedWarmMs) {
        if (Status st = enqueueN(10); !st.ok()) return std::move(st).withContext(fmt::format("layer '{}': timing {}", l.name, c.name));
        KILN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      }
      std::vector<float> times;
      for (int r = 0; r < reps; ++r) {
        KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(start_, stream_));
        Status st = enqueueN(kCappedLaunches);
        KILN_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop_, stream_));
        KILN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop_));
        if (!st.ok()) return std::move(st).withContext(fmt::format("layer '{}': timing {}", l.name, c.name));
        float ms = 0;
        KILN_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start_, stop_));
        times.push_back(ms / kCappedLaunches);
      }
      std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
      m.cappedUs = times[times.size() / 2] * 1000.0;
      if (!capped || m.cappedUs < capped->cappedUs) capped = &m;
    }
    if (capped) best = capped;
  }
  // Only the chosen candidate's scratch sizes the engine's workspace.
  workspaceUsed_ = std::max(workspaceUsed_, best->workspace);
  choice.tactic = cands[best->cand].name;
  choice.microseconds = timing ? best->us : -1;
  choice.timed = timing;
  if (timing)
    for (const auto& m : results) choice.candidates.push_back({cands[m.cand].name, m.us, m.matches, m.cappedUs});
  if (timing && cache_) cache_->insert(key, TimingEntry{choice.tactic, choice.microseconds});
  return choice;
}

}  // namespace

Result<std::unique_ptr<CudaTactics>> CudaTactics::create(const BuildConfig& cfg, TimingCache* cache) {
  auto t = std::make_unique<CudaTacticsImpl>(cfg, cache);
  KILN_RETURN_IF_ERROR(t->init());
  return std::unique_ptr<CudaTactics>(std::move(t));
}

}  // namespace kiln::build
