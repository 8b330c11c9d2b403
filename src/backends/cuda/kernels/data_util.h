// Host-side helpers of the data movement family (data_*.cc): which layers a byte-moving kernel
// accepts, element sizes and kinds, and the registration functions of the family's files.
#pragma once

#include <cstdint>
#include <string_view>

#include "backends/cuda/gpu_kernel.h"
#include "backends/cuda/kernels/data_launch.h"

namespace kiln::cuda::data {

// A dtype whose elements these kernels can move: 1/2/4/8-byte storage (sub-byte types take one
// byte each), not strings.
inline bool movableType(DType t) {
  if (t == DType::kString || t == DType::kUndefined) return false;
  const size_t s = dtypeSize(t);
  return s == 1 || s == 2 || s == 4 || s == 8;
}

// Every defined output and the listed inputs (the data inputs) are movable.
bool movableLayer(const LayerDesc& d, std::initializer_list<int> dataInputs);
// Input i is int32 or int64 (an index tensor), when present.
bool indexTypeOk(const LayerDesc& d, int i);
// The rank of input i when known at build time, -1 otherwise.
int knownRank(const LayerDesc& d, int i);
// Element kind for the typed kernels (scatter reductions, Resize, Range, OneHot indices); false
// for dtypes those kernels do not compute on.
bool elemKindOf(DType t, ElemKind* k);

// Bits of `v` converted to dtype t (for host-side constants whose dtype may differ from the data's,
// e.g. after fp16 lowering). False for dtypes without a numeric conversion (strings).
bool valueBits(DType t, double v, uint64_t* bits);

inline int64_t normAxis(int64_t axis, int rank) { return axis < 0 ? axis + rank : axis; }

// Registration of each file's kernels (called from data_movement_register.cc).
void registerDataTransformKernels(GpuKernelRegistry& r);  // data_transform.cc
void registerDataIndexKernels(GpuKernelRegistry& r);      // data_index.cc
void registerDataPadResizeKernels(GpuKernelRegistry& r);  // data_pad_resize.cc
void registerDataMiscKernels(GpuKernelRegistry& r);       // data_misc.cc

}  // namespace kiln::cuda::data
