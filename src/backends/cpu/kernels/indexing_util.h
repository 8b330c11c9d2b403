// Helpers for the indexing and layout kernels: dispatch by storage width (these kernels move
// elements without looking at them), index reading with range checks, and N-D gathers through
// per-axis index maps (Pad, CenterCropPad, nearest Resize).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

// Calls f(TypeTag<U>) with U an unsigned integer of the element width of `t` (std::string for
// strings): for kernels that copy elements without interpreting them.
template <typename F>
Status dispatchStorage(std::string_view op, DType t, F&& f) {
  if (t == DType::kString) {
    f(TypeTag<std::string>{});
    return Status::OK();
  }
  if (t == DType::kUndefined) return unsupportedType(op, t);
  switch (dtypeSize(t)) {
    case 1: f(TypeTag<uint8_t>{}); return Status::OK();
    case 2: f(TypeTag<uint16_t>{}); return Status::OK();
    case 4: f(TypeTag<uint32_t>{}); return Status::OK();
    case 8: f(TypeTag<uint64_t>{}); return Status::OK();
    default: return unsupportedType(op, t);
  }
}

inline Status indexOutOfRange(std::string_view op, int64_t idx, int64_t dim) {
  return InvalidArgument("{} index {} is out of range for a dimension of size {}", op, idx, dim);
}

// Element i of an int32 or int64 tensor.
inline int64_t indexAt(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt32 ? t.data<int32_t>()[i] : t.data<int64_t>()[i];
}

// Reads every index of `t` (int32/int64), maps negatives into [0, dim) and checks the range.
inline Status readIndices(const Tensor& t, int64_t dim, std::string_view op, std::vector<int64_t>* out) {
  if (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64)
    return InvalidArgument("{} indices must be int32 or int64, not {}", op, dtypeName(t.dtype()));
  out->resize(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v = indexAt(t, i);
    int64_t w = v < 0 ? v + dim : v;
    if (w < 0 || w >= dim) return indexOutOfRange(op, v, dim);
    (*out)[i] = w;
  }
  return Status::OK();
}

// out[o_0, ..., o_n] = in[map_0[o_0], ..., map_n[o_n]]. A negative map entry -k selects
// fills[k-1] instead; when several axes have one, the last such axis decides.
template <typename T>
void axisMapGather(const T* in, const Dims& inDims, T* out, const Dims& outDims,
                   const std::vector<std::vector<int64_t>>& maps, const T* fills) {
  const int r = outDims.rank();
  const int64_t total = outDims.numel();
  if (total == 0) return;
  if (r == 0) {
    out[0] = in[0];
    return;
  }
  const Dims st = contiguousStrides(inDims);
  const int64_t inner = outDims[r - 1];
  const int64_t rows = total / inner;
  const std::vector<int64_t>& last = maps[r - 1];
  parallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, off = 0, fill = 0;
      for (int a = r - 2; a >= 0; --a) {
        const int64_t o = rem % outDims[a];
        rem /= outDims[a];
        const int64_t m = maps[a][o];
        if (m < 0) {
          if (fill == 0) fill = m;  // axes visited from last to first: keep the last one's fill
        } else {
          off += m * st[a];
        }
      }
      T* dst = out + row * inner;
      if (fill != 0) {
        for (int64_t i = 0; i < inner; ++i) dst[i] = last[i] < 0 ? fills[-last[i] - 1] : fills[-fill - 1];
      } else {
        const T* src = in + off;
        for (int64_t i = 0; i < inner; ++i) dst[i] = last[i] < 0 ? fills[-last[i] - 1] : src[last[i]];
      }
    }
  });
}

// Registration of the kernels in indexing_misc.cc and layout_resize.cc (called by the family's
// registration functions in indexing.cc and layout.cc).
void RegisterIndexingMiscKernels(KernelRegistry& r);
void RegisterResizeKernels(KernelRegistry& r);

}  // namespace kiln::cpu
