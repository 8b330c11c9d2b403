// The element-wise CUDA layers (host side): how each ONNX op becomes a chain launch, a Where, a
// Cast or a copy, and the GpuKernel that enqueues it.
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/gpu_kernel.h"
#include "backends/cuda/kernels/eltwise_launch.h"

namespace kiln::cuda::eltwise {

enum class Kind {
  kUnary,     // y = f(x)
  kBinary,    // y = f(a, b), numpy broadcasting
  kVariadic,  // Sum/Mean/Max/Min over any number of inputs (<= kMaxSlots)
  kClip,      // Clip(x, min?, max?): the bounds are device scalars (element 0)
  kChain,     // kiln:ElementwiseChain
  kWhere,
  kCast,      // Cast, CastLike
  kDropout,   // inference: copy, mask all true
};

struct LayerPlan {
  Kind kind = Kind::kUnary;
  std::string op;           // for messages
  Step step;                // kUnary/kBinary/kVariadic: the op's step (alpha/beta from attributes)
  bool mean = false;        // kVariadic: Mean divides by the input count
  bool castIn = false;      // kChain starting with Cast: x of any type, float32 out
  std::vector<Step> steps;  // kChain
};

// Decodes a layer (op + attributes) into a plan; Unsupported for ops/attributes this family lacks.
Result<LayerPlan> planLayer(const LayerDesc& d);

// The GpuKernel of a plan.
std::unique_ptr<GpuKernel> makeKernel(LayerPlan plan);

// QuantizeLinear / DequantizeLinear (eltwise_quant.cc).
void registerQuantizeKernels(GpuKernelRegistry& r);
void registerPowMixedKernel(GpuKernelRegistry& r);  // eltwise_pow_mixed.cc: Pow with mixed types
void registerQuantizeGeneralKernels(GpuKernelRegistry& r);  // eltwise_quant_general.cc

// Chain op name ("Relu", "GeluTanh", "Add", ...) -> step code; false if unknown.
bool chainCode(const std::string& name, int32_t* code);

}  // namespace kiln::cuda::eltwise
