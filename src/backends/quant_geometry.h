// Validation shared by the CPU and CUDA QLinearMatMul kernels: which quantization-parameter
// counts both backends run (one value per tensor, or one per row of A / column of B).
#pragma once

#include <cstdint>
#include <utility>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::backends {

inline Status qlinearMatMulParamCounts(const Tensor& aScale, const Tensor& bScale, const Tensor& yScale,
                                       const Tensor& yZeroPoint, int64_t M, int64_t N) {
  const std::pair<const Tensor*, std::pair<int64_t, const char*>> params[] = {
      {&aScale, {M, "a_scale"}}, {&bScale, {N, "b_scale"}}, {&yScale, {M, "y_scale"}}, {&yZeroPoint, {M, "y_zero_point"}}};
  for (const auto& [t, what] : params)
    if (t->numel() != 1 && t->numel() != what.first)
      return Unsupported("QLinearMatMul: {} with {} values is not supported (expected 1 or {})", what.second,
                         t->numel(), what.first);
  return Status::OK();
}

}  // namespace kiln::backends
