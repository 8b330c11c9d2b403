// The CUDA backend's kernel interface, the twin of the CPU's (backends/cpu/kernel.h): a
// GpuKernelDef is one implementation (tactic) of an op on the GPU; the registry lists them all so
// the same list feeds tactic selection (timed on the device), parity tests and benchmarks.
// Kernels see attributes and tensors only, never the IR or ONNX.
//
// Rules every GPU kernel follows (they make CUDA graph capture and concurrent contexts safe):
//  - enqueue() only launches work on ctx.stream (kernels, cudaMemsetAsync/cudaMemcpyAsync between
//    device buffers, cuBLASLt/cuDNN calls bound to that stream); it never synchronizes, never
//    allocates or frees device memory, and never reads device memory on the host;
//  - inputs listed in backends/host_inputs.h arrive as HOST tensors (shape-like values: Reshape's shape,
//    Slice's starts, ...); every other input and every output is a DEVICE tensor whose dims are
//    final (computed by the engine's shape program before the launch);
//  - scratch memory comes from ctx.workspace (size declared by workspaceBytes()) or from state
//    created by createState() (may allocate; called outside capture);
//  - the same enqueue() with the same shapes and addresses must launch the same work, because
//    runs are captured into CUDA graphs and replayed.
// The one exception: a layer whose output size depends on the values (NonZero, Compress; the
// engine's Plan::runtimeDims) may synchronize its stream to read the size back, grow per-context
// scratch, and fit its output view to the size found (backends/fit_output.h). Engines with such
// layers launch eagerly (no CUDA graph), and the context re-sizes the later layers' views.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"  // LayerDesc (shared by both backends)
#include "backends/cuda/device_check.h"
#include "core/attributes.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

// Opaque library handles, so that this header does not need the CUDA headers.
typedef struct CUstream_st* cudaStream_t;
typedef struct cublasLtContext* cublasLtHandle_t;
typedef struct cudnnContext* cudnnHandle_t;

namespace kiln::cuda {

using LayerDesc = cpu::LayerDesc;

// Per-execution-context resources, shared by the layers of one context (they run in order on
// one stream).
struct GpuResources {
  int device = 0;
  int smCount = 0;
  int computeCapability = 0;  // 90 for sm_90
  cudaStream_t stream = nullptr;
  cublasLtHandle_t cublasLt = nullptr;
  cudnnHandle_t cudnn = nullptr;   // bound to `stream`
};

struct GpuKernelState {
  virtual ~GpuKernelState() = default;
};

struct GpuKernelContext {
  const AttrMap& attrs;
  std::span<const Tensor* const> inputs;  // nullptr = omitted optional input
  std::span<Tensor* const> outputs;
  GpuKernelState* state = nullptr;
  const GpuResources& res;
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;  // device scratch of workspaceBytes() bytes (16-byte aligned... 256 in practice)
  size_t workspaceSize = 0;
  // Where kernels report invalid input only the device sees (device_check.h); empty when the
  // caller does not check (the builder's timing runs).
  DeviceCheck check{};

  int numInputs() const { return static_cast<int>(inputs.size()); }
  int numOutputs() const { return static_cast<int>(outputs.size()); }
  bool hasInput(int i) const { return i < numInputs() && inputs[i] != nullptr; }
  const Tensor& in(int i) const { return *inputs[i]; }
  bool hasOutput(int i) const { return i < numOutputs() && outputs[i] != nullptr; }
  Tensor& out(int i) const { return *outputs[i]; }
};

class GpuKernel {
 public:
  virtual ~GpuKernel() = default;
  // Launches the layer on ctx.stream. Thread-safe across contexts (each has its own state).
  virtual Status enqueue(const GpuKernelContext& ctx) const = 0;
  // Per-context state (descriptors, plans, pre-packed weights in device memory...).
  virtual Result<std::unique_ptr<GpuKernelState>> createState(const GpuResources&) const { return std::unique_ptr<GpuKernelState>(); }
  // Device scratch this layer needs at the largest shapes it will see (the builder sizes one
  // workspace per context as the max over layers).
  virtual size_t workspaceBytes() const { return 0; }
};

using GpuKernelFn = Status (*)(const GpuKernelContext& ctx);

struct GpuKernelDef {
  std::string domain;  // "" = ai.onnx
  std::string op;
  std::string tactic;  // stable name stored in engines: "cuda_eltwise", "cuda_cublaslt_matmul"
  int priority = 0;    // among kernels that support a layer, the highest is the default
  // Whether this kernel implements the layer (dtypes, attributes, ranks). Empty = every layer.
  std::function<bool(const LayerDesc&)> supports;
  // Library-backed kernels may offer several variants of themselves for one layer (cuBLASLt's
  // heuristic candidates, cuDNN's algorithms); the builder times each variant as its own tactic
  // and the engine records "tactic:variant". Must be deterministic for a given layer, device and
  // library version (engines refuse other library versions). Empty = 1 variant.
  std::function<int(const LayerDesc&, size_t workspaceLimit)> variants;
  // `variant` in [0, variants()); `workspaceLimit`: the most scratch the kernel may ask for.
  std::function<Result<std::unique_ptr<GpuKernel>>(const LayerDesc&, int variant, size_t workspaceLimit)> create;
};

// "cuda_cublaslt_matmul:3" -> ("cuda_cublaslt_matmul", 3); no suffix -> variant 0.
std::pair<std::string, int> splitTactic(const std::string& tactic);

class GpuKernelRegistry {
 public:
  void add(GpuKernelDef def);
  // A stateless kernel from a function; `supports` as in GpuKernelDef.
  void addFn(const std::string& op, const std::string& tactic, GpuKernelFn fn,
             std::function<bool(const LayerDesc&)> supports = nullptr, int priority = 0,
             const std::string& domain = "");
  std::vector<const GpuKernelDef*> candidates(const std::string& domain, const std::string& op) const;
  // The def of a tactic name, with or without a ":variant" suffix.
  const GpuKernelDef* findTactic(const std::string& tactic) const;
  std::vector<const GpuKernelDef*> all() const;

  static const GpuKernelRegistry& global();

 private:
  std::map<std::pair<std::string, std::string>, std::vector<std::unique_ptr<GpuKernelDef>>> defs_;
};

// Which inputs of an op kernels read on the host (shape-like values): backends/host_inputs.h. The
// builder places the layers computing them on the host (they depend only on shapes and constants)
// and evaluates them once per input-shape set, outside the captured launch sequence.

// Registration: one function per kernel family (kernels/families.h), all called from
// registerAllGpuKernels.
void registerAllGpuKernels(GpuKernelRegistry& r);

// Common `supports` predicates.
bool allTypesIn(const LayerDesc& d, std::initializer_list<DType> types);  // every defined in/out
Status unsupportedGpuType(std::string_view op, DType t);

}  // namespace kiln::cuda
