// The optimizer's pass interface. A pass rewrites an ir::Graph in place and reports what it
// changed. Passes are target-aware through PassContext: a fusion runs only where the target has a
// kernel for the fused layer.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::passes {

struct PassContext {
  // True if the target backend can execute a layer of this op (domain "" = ai.onnx).
  std::function<bool(const std::string& domain, const std::string& op)> supportsOp;
  // Evaluates a node on constant inputs (constant folding); outputs in node output order.
  std::function<Result<std::vector<Tensor>>(const ir::Node& node, const std::vector<const Tensor*>& inputs)> evaluate;
  // True if the target's convolution kernels run fastest on NHWC tensors (channels-last pass).
  bool preferChannelsLast = false;
  // Largest tensor constant folding may create (bytes).
  uint64_t maxFoldedBytes = 64ull << 20;
  // Precision lowering (CUDA --fp16 / --bf16): the reduced float type (kUndefined: off), whether
  // the target runs `node` with its float32 tensors in that type, and which inputs of an op are
  // read on the host as shape-like values (never lowered).
  DType lowPrecision = DType::kUndefined;
  std::function<bool(const ir::Node& node, DType lowered)> supportsLowered;
  std::function<const std::vector<int>&(const std::string& domain, const std::string& op)> hostInputs;
  // BuildConfig::reducedPrecisionIO: the graph's float32 inputs and outputs take lowPrecision.
  bool reducedIO = false;
  // The target runs kiln:MatMulLayerNorm (a GEMM + residual + LayerNorm in one kernel: CUDA fp16
  // on compute capability 9.0 with CUTLASS); fold-layernorm-matmul runs only then.
  bool fuseMatMulLayerNorm = false;
  // The target runs kiln:QkvAttention's fused kernel (the Q/K/V projection and the attention in
  // one kernel: CUDA fp16 on compute capability 9.0); fuse-qkv-attention runs only then.
  bool fuseQkvAttention = false;
};

struct PassResult {
  int changes = 0;           // rewrites made (fused patterns, removed nodes, folded nodes...)
  std::string detail;        // short human summary ("folded 12 nodes")
};

class Pass {
 public:
  virtual ~Pass() = default;
  // Stable name used by --passes/--disable-pass/--dump-graph-after.
  virtual const char* name() const = 0;
  virtual const char* description() const = 0;
  virtual Result<PassResult> run(ir::Graph& g, const PassContext& ctx) = 0;
};

}  // namespace kiln::passes
