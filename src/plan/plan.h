// The plan: everything an engine needs at run time, and nothing of the IR or ONNX. It is what the
// builder produces and what an engine file stores: tensors (with dims as static values or registers
// of the shape program), layers with their chosen tactics, the memory plan, profiles, the target it
// was built for, and the weights.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/attributes.h"
#include "kiln/shape.h"
#include "kiln/tensor.h"

namespace kiln::plan {

inline constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'E', 'N', 'G', '\0'};
// 2: host/device placement of layers and tensors, host arena, workspace (CUDA engines).
// 3: data-dependent dims (ShapeInstr::kRuntime and Plan::runtimeDims).
// 4: host inputs (CUDA engines: model inputs with placement kHost, passed in host memory; an older
//    reader would take their addresses for device memory). Versions 2 and 3 still load.
inline constexpr uint32_t kFormatVersion = 4;
inline constexpr uint32_t kMinFormatVersion = 2;
// The most values a host input (a CUDA engine's model input read on the host, TensorRT's shape
// tensor) holds: rank 0 or 1, static. The builder makes no larger one; the reader refuses it.
inline constexpr int64_t kMaxHostInputValues = 64;

// One instruction of the shape program; its result is the register with the instruction's index.
struct ShapeInstr {
  enum Op : uint8_t { kInputDim, kConst, kAdd, kSub, kMul, kFloorDiv, kCeilDiv, kMax, kMin, kRuntime };
  Op op;
  // Operand registers; kInputDim: a = input index, b = axis; kRuntime: a = the register of the
  // dim's upper bound, b = its index in Plan::runtimeDims.
  int32_t a = -1, b = -1;
  int64_t imm = 0;  // kConst
};

// Computes every symbolic dim of every tensor from the input dims with integer arithmetic.
struct ShapeProgram {
  std::vector<ShapeInstr> instrs;
  // Evaluates into `regs` (sized to instrs.size()); false on a division by zero. A data-dependent
  // dim (kRuntime) takes runtimeValues[b] where given and >= 0, else its upper bound: before a run
  // every tensor is sized for the largest values the inputs allow.
  bool evaluate(const std::vector<const Dims*>& inputDims, int64_t* regs,
                const int64_t* runtimeValues = nullptr) const;
};

// A dim whose size depends on tensor values (NonZero's count, Unique's, NonMaxSuppression's):
// register `reg`, known once layer `layer` has run, as dim `axis` of its output `output`.
struct RuntimeDim {
  int32_t reg = -1;
  int32_t layer = -1;
  int32_t output = 0;
  int32_t axis = 0;
};

// A dim of a plan tensor: a static value, or register `reg` of the shape program.
struct DimRef {
  int64_t value = 0;
  int32_t reg = -1;
  bool isStatic() const { return reg < 0; }
};

enum class TensorKind : uint8_t { kInput = 0, kOutput = 1, kIntermediate = 2, kConstant = 3 };

// Where a layer runs / an intermediate lives. kTarget: the engine's target (the CPU for CPU
// engines, the GPU for CUDA engines). kHost: on the host in a CUDA engine: shape arithmetic that
// depends only on input shapes, host inputs and constants, evaluated before a launch when those
// changed, never inside the launch sequence; for an input, a host input (passed in host memory).
enum class Placement : uint8_t { kTarget = 0, kHost = 1 };

struct TensorInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  TensorKind kind = TensorKind::kIntermediate;
  std::vector<DimRef> dims;
  std::string shapeText;      // symbolic shape for display ("[batch,1000]")
  int32_t ioIndex = -1;       // position among inputs or outputs
  Placement placement = Placement::kTarget;  // intermediates; inputs of CUDA engines (kHost: host inputs)
  uint64_t arenaOffset = 0;   // intermediates on the target: offset in the arena
  uint64_t hostOffset = 0;    // intermediates on the host (CUDA engines): offset in the host arena
  uint64_t maxBytes = 0;      // intermediates: planned size (max over profiles)
  uint64_t constOffset = 0;   // constants: offset in the weights section
  Tensor constant;            // constants: the value (views into the weights when loaded)
};

// A tensor's dims when every one is static (isStatic() says whether they are): a static input's
// shape, a host input's.
inline bool isStatic(const TensorInfo& t) {
  for (const auto& d : t.dims)
    if (!d.isStatic()) return false;
  return true;
}
inline Dims staticDims(const TensorInfo& t) {
  Dims d;
  for (const auto& x : t.dims) d.push_back(x.value);
  return d;
}

struct LayerInfo {
  std::string name;
  std::string op;
  std::string domain;
  int32_t opset = 0;
  AttrMap attrs;
  std::vector<int32_t> inputs;   // tensor ids; -1 for an omitted optional input
  std::vector<int32_t> outputs;  // tensor ids; -1 for an unused optional output
  std::string tactic;
  std::vector<std::string> fusedFrom;
  std::string precision = "fp32";
  Placement placement = Placement::kTarget;
  double measuredUs = -1;        // the tactic's time at the opt shape when it was timed
};

struct ProfileInput {
  std::string name;
  Dims min, opt, max;
};
struct ProfileInfo {
  std::vector<ProfileInput> inputs;
};

struct TargetInfo {
  std::string kind;        // "cpu" or "cuda"
  std::string arch;        // "x86_64" or "sm_90"
  std::string device;      // "Intel Xeon ..." or "NVIDIA H100 80GB HBM3"
  std::string features;    // ISA extensions seen at build time (informational)
  std::vector<std::pair<std::string, std::string>> libraries;  // name -> version
};

struct BuildSummary {
  std::string precisions = "fp32";
  int32_t optimizationLevel = 3;
  uint64_t workspaceLimit = 0;
  double buildSeconds = 0;
  bool tf32 = false;  // CUDA: fp32 matmuls/convolutions allowed on TF32 tensor cores
};

struct MemoryReport {
  uint64_t arenaBytes = 0;   // the planned arena (max shapes)
  uint64_t peakLiveBytes = 0;  // the largest sum of simultaneously live intermediates
  uint64_t naiveBytes = 0;   // every intermediate in its own buffer
  uint64_t weightBytes = 0;
  uint64_t hostArenaBytes = 0;   // host-placed intermediates of CUDA engines (pinned memory)
  uint64_t workspaceBytes = 0;   // largest kernel scratch (CUDA engines), one per context
};

struct Plan {
  std::string kilnVersion;
  std::string modelName;
  uint64_t modelHash = 0;
  TargetInfo target;
  BuildSummary build;
  std::vector<ProfileInfo> profiles;
  std::vector<int32_t> inputs, outputs;  // tensor ids in I/O order
  std::vector<TensorInfo> tensors;
  std::vector<LayerInfo> layers;
  ShapeProgram program;
  std::vector<RuntimeDim> runtimeDims;  // in the order of their kRuntime instructions' b
  MemoryReport memory;
  // Keeps the weights alive (the mapped file or the builder's buffers).
  std::shared_ptr<void> weightsOwner;

  int findTensor(const std::string& name) const;
};

// Serializes a plan into an engine file's bytes / reads it back with every integrity check.
std::string serializePlan(const Plan& p);
// `what` names the source in errors ("model.engine"). The bytes must outlive the plan's constants
// unless `owner` keeps them alive.
Result<std::unique_ptr<Plan>> deserializePlan(const char* data, size_t size, std::shared_ptr<void> owner,
                                              const std::string& what);
Result<std::unique_ptr<Plan>> readPlanFile(const std::string& path);
Status writePlanFile(const std::string& path, const Plan& p);

}  // namespace kiln::plan
