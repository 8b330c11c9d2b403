// Registration entry points of the reduce / norm / pool CUDA kernels (one per .cc file), called
// from registerReduceNormKernels (reduce_norm_register.cc).
#pragma once

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda {

void registerReduceOps(GpuKernelRegistry& r);   // reduce_ops.cc: Reduce*, ArgMax/ArgMin
void registerSoftmaxOps(GpuKernelRegistry& r);  // reduce_softmax_ops.cc: Softmax/LogSoftmax/Hardmax
void registerNormOps(GpuKernelRegistry& r);     // norm_ops.cc: LayerNormalization, RMSNormalization, ...
void registerPoolOps(GpuKernelRegistry& r);     // pool_ops.cc: MaxPool, AveragePool, global pools, Nhwc*

// Helpers shared by the .cc files of the family.
namespace rnh {
// Axis in [-rank, rank) to [0, rank); false when out of range (rank 0 accepts 0 and -1).
inline bool normAxis(int64_t axis, int rank, int* out) {
  const int r = rank == 0 ? 1 : rank;
  if (axis < -r || axis >= r) return false;
  *out = static_cast<int>(axis < 0 ? axis + r : axis);
  return true;
}
inline DType inType(const LayerDesc& d, int i) {
  return i < static_cast<int>(d.inputTypes.size()) ? d.inputTypes[i] : DType::kUndefined;
}
inline const Shape* inShape(const LayerDesc& d, int i) {
  return i < static_cast<int>(d.inputShapes.size()) ? &d.inputShapes[i] : nullptr;
}
// Rank of input i when known, else -1.
inline int knownRank(const LayerDesc& d, int i) {
  const Shape* s = inShape(d, i);
  return s && s->rankKnown() ? s->rank() : -1;
}
}  // namespace rnh

}  // namespace kiln::cuda
