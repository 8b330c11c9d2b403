// The CPU backend's kernel interface. A KernelDef is one implementation (tactic) of an op; the
// registry lists all of them, so the same list feeds selection, parity tests and benchmarks.
// Kernels see attributes and tensors only: never the IR or ONNX.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/attributes.h"
#include "kiln/shape.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

// Per-execution-context state of a kernel: caches that must not be shared between threads
// (oneDNN memory objects, scratch buffers). Created once per context, so runs reuse them and
// allocate nothing once shapes stop growing.
struct KernelState {
  virtual ~KernelState() = default;
};

// What a kernel is asked to run: its inputs (nullptr for an omitted optional input) and outputs,
// already allocated with the shapes inference computed. Outputs never alias inputs and are not
// initialized: a kernel writes every output element.
struct KernelContext {
  const AttrMap& attrs;
  std::span<const Tensor* const> inputs;
  std::span<Tensor* const> outputs;
  KernelState* state = nullptr;  // from Kernel::createState() of this kernel, for this context

  int numInputs() const { return static_cast<int>(inputs.size()); }
  int numOutputs() const { return static_cast<int>(outputs.size()); }
  bool hasInput(int i) const { return i < numInputs() && inputs[i] != nullptr; }
  const Tensor& in(int i) const { return *inputs[i]; }
  bool hasOutput(int i) const { return i < numOutputs() && outputs[i] != nullptr; }
  Tensor& out(int i) const { return *outputs[i]; }
};

// The layer a kernel is created for: op, attributes, and the input/output types and (possibly
// symbolic) shapes known at build time, plus constant inputs (weights) for pre-packing.
struct LayerDesc {
  std::string op;
  std::string domain;
  const AttrMap* attrs = nullptr;
  std::vector<DType> inputTypes, outputTypes;
  std::vector<Shape> inputShapes, outputShapes;
  std::vector<const Tensor*> constInputs;  // nullptr where not constant
  // CUDA: fp32 matmuls/convolutions may use TF32 tensor cores (BuildConfig::tf32, recorded in the
  // engine). Ignored on the CPU.
  bool allowTf32 = false;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Thread-safe: several execution contexts may run one kernel concurrently, each with its own
  // state.
  virtual Status run(const KernelContext& ctx) const = 0;
  // Per-context state (null if the kernel needs none).
  virtual std::unique_ptr<KernelState> createState() const { return nullptr; }
};

using KernelFn = Status (*)(const KernelContext& ctx);

struct KernelDef {
  std::string domain;  // "" = ai.onnx
  std::string op;
  std::string tactic;  // stable name stored in engines: "cpu_ref_conv", "cpu_dnnl_conv"
  int priority = 0;    // among kernels that support a layer, the highest is the default
  std::function<bool(const LayerDesc&)> supports;  // empty = every layer of the op
  std::function<Result<std::unique_ptr<Kernel>>(const LayerDesc&)> create;
};

class KernelRegistry {
 public:
  void add(KernelDef def);
  // A stateless kernel from a function (the common case for reference kernels).
  // `makeState` gives each execution context its own state (scratch buffers) for the function.
  void addFn(const std::string& op, const std::string& tactic, KernelFn fn, int priority = 0,
             const std::string& domain = "", std::function<std::unique_ptr<KernelState>()> makeState = nullptr);
  // All kernels of an op, highest priority first.
  std::vector<const KernelDef*> candidates(const std::string& domain, const std::string& op) const;
  const KernelDef* findTactic(const std::string& tactic) const;
  std::vector<const KernelDef*> all() const;

  static const KernelRegistry& global();

 private:
  std::map<std::pair<std::string, std::string>, std::vector<std::unique_ptr<KernelDef>>> defs_;
};

// Registration: one function per kernel family, all called from RegisterAllCpuKernels.
void RegisterAllCpuKernels(KernelRegistry& r);

// Error for a dtype a kernel does not implement.
Status unsupportedType(std::string_view op, DType t);

}  // namespace kiln::cpu
