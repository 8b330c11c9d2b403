// ONNX Slice index clamping, shared by Slice inference and the kernels of every backend.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kiln {

// Resolved slice of one axis: first index, step and element count.
struct SliceAxis {
  int64_t start, step, count;
};

// Applies ONNX's rules (negative indices count from the end; clamping differs for negative steps).
inline SliceAxis resolveSlice(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
  }
  int64_t count = step > 0 ? (end - start + step - 1) / step : (start - end + (-step) - 1) / (-step);
  return {start, step, std::max<int64_t>(0, count)};
}

}  // namespace kiln
