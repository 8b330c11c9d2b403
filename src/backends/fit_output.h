// fitOutput: gives an output the shape a data-dependent layer (NonZero, Compress, Unique,
// NonMaxSuppression, TopK with K as an input) decided from the values, for the CPU and CUDA
// kernels alike. Engines size such outputs for an upper bound (Plan::runtimeDims) and read the
// actual shape back after the layer (ExecutionContext); the values fill the front of the buffer in
// that shape. The reference interpreter allocates the exact shape, so there is nothing to do.
#pragma once

#include <string_view>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::backends {

inline Status fitOutput(Tensor& y, const Dims& d, std::string_view op) {
  if (y.dims() == d) return Status::OK();
  if (y.ownsMemory() || d.rank() != y.rank() || d.numel() > y.numel())
    return InternalError("{} produced shape {}, which its output {} cannot hold", op, d.toString(), y.describe());
  y = Tensor::borrow(y.dtype(), d, y.raw(), y.memoryKind());
  return Status::OK();
}

}  // namespace kiln::backends
