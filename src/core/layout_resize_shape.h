// Resize output sizes and per-axis scale factors, computed exactly as the ONNX reference evaluator
// does (float64 arithmetic on the given float scales). Shared by Resize/Upsample inference and
// the kernels of every backend, which need the same scales for the coordinate transform.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {

enum class ResizeAspectPolicy { kStretch, kNotLarger, kNotSmaller };

inline bool parseResizeAspectPolicy(const std::string& s, ResizeAspectPolicy* p) {
  if (s == "stretch") *p = ResizeAspectPolicy::kStretch;
  else if (s == "not_larger") *p = ResizeAspectPolicy::kNotLarger;
  else if (s == "not_smaller") *p = ResizeAspectPolicy::kNotSmaller;
  else return false;
  return true;
}

// `in`: input dims; `axes`: normalized resized axes (all axes when Resize has no `axes`);
// exactly one of `scales` / `sizes` is non-empty and has one entry per element of `axes`.
// Fills one scale and one output size per input axis (1.0 and the input size elsewhere).
inline Status computeResizeShape(const std::vector<int64_t>& in, const std::vector<int>& axes,
                                 const std::vector<double>& scales, const std::vector<int64_t>& sizes,
                                 ResizeAspectPolicy policy, std::vector<double>* outScales,
                                 std::vector<int64_t>* outSizes) {
  const size_t r = in.size();
  outScales->assign(r, 1.0);
  outSizes->assign(in.begin(), in.end());
  if (!sizes.empty()) {
    if (sizes.size() != axes.size())
      return InvalidArgument("Resize sizes has {} elements; expected {}", sizes.size(), axes.size());
    for (size_t i = 0; i < axes.size(); ++i) {
      const int a = axes[i];
      if (sizes[i] < 0) return InvalidArgument("Resize sizes must be >= 0, got {}", sizes[i]);
      if (in[a] == 0 && sizes[i] != 0) return InvalidArgument("Resize cannot resize an empty axis {} to size {}", a, sizes[i]);
      (*outScales)[a] = in[a] == 0 ? 1.0 : static_cast<double>(sizes[i]) / static_cast<double>(in[a]);
      (*outSizes)[a] = sizes[i];
    }
    if (policy != ResizeAspectPolicy::kStretch && !axes.empty()) {
      double s = (*outScales)[axes[0]];
      for (int a : axes)
        s = policy == ResizeAspectPolicy::kNotLarger ? std::min(s, (*outScales)[a]) : std::max(s, (*outScales)[a]);
      for (int a : axes) {
        (*outScales)[a] = s;
        (*outSizes)[a] = static_cast<int64_t>(s * static_cast<double>(in[a]) + 0.5);  // round half up
      }
    }
    return Status::OK();
  }
  if (scales.size() != axes.size())
    return InvalidArgument("Resize scales has {} elements; expected {}", scales.size(), axes.size());
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = axes[i];
    const double s = scales[i];
    if (!(s > 0) || !std::isfinite(s)) return InvalidArgument("Resize scales must be positive and finite, got {}", s);
    const double o = std::floor(s * static_cast<double>(in[a]));
    if (o > 4.0e18) return InvalidArgument("Resize output size {} * {} is too large", in[a], s);
    (*outScales)[a] = s;
    (*outSizes)[a] = static_cast<int64_t>(o);
  }
  return Status::OK();
}

}  // namespace kiln
