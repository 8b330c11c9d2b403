// Selection algorithms of the misc op family whose output sizes depend on the data (Unique,
// NonMaxSuppression). Header-only and core-only, so the op definitions (which must compute the
// exact output shape at run time) and the CPU kernels (which fill the outputs) share one
// implementation and can never disagree.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/dtype.h"

namespace kiln::misc {

// ---- Unique -------------------------------------------------------------------------------------

struct UniqueResult {
  std::vector<int64_t> first;    // per unique item (output order): index of its first occurrence
  std::vector<int64_t> inverse;  // per input item: its unique item's position in the output
  std::vector<int64_t> counts;   // per unique item: number of occurrences
};

namespace detail {
template <typename T>
inline double asDouble(const T& v) {
  if constexpr (std::is_floating_point_v<T>) return static_cast<double>(v);
  else return static_cast<double>(static_cast<float>(v));
}
// Total order for sorting: NaN after every number, all NaNs equal (numpy's unique collapses them).
template <typename T>
inline int compareElem(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, std::string> || std::is_integral_v<T>) {
    return a < b ? -1 : (b < a ? 1 : 0);
  } else {
    const double x = asDouble(a), y = asDouble(b);
    const bool nx = std::isnan(x), ny = std::isnan(y);
    if (nx || ny) return nx == ny ? 0 : (nx ? 1 : -1);
    return x < y ? -1 : (y < x ? 1 : 0);
  }
}
}  // namespace detail

// Unique items of a tensor viewed as (outer, n, inner): item a is the slice [:, a, :], compared
// lexicographically. Without an axis, pass outer = inner = 1 and n = numel. `sorted` orders the
// output ascending; otherwise by first occurrence.
template <typename T>
UniqueResult computeUnique(const T* data, int64_t outer, int64_t n, int64_t inner, bool sorted) {
  auto cmp = [&](int64_t a, int64_t b) {
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const int c = detail::compareElem(data[(o * n + a) * inner + i], data[(o * n + b) * inner + i]);
        if (c) return c;
      }
    return 0;
  };
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
  UniqueResult r;
  r.inverse.assign(n, 0);
  std::vector<int64_t> groupOf(n);
  for (int64_t k = 0; k < n; ++k) {
    if (k == 0 || cmp(order[k - 1], order[k]) != 0) {
      r.first.push_back(order[k]);  // stable sort: the first of a run is its first occurrence
      r.counts.push_back(0);
    }
    groupOf[order[k]] = static_cast<int64_t>(r.first.size()) - 1;
    ++r.counts.back();
  }
  std::vector<int64_t> pos(r.first.size());
  std::iota(pos.begin(), pos.end(), 0);
  if (!sorted) {
    std::vector<int64_t> byFirst(r.first.size());
    std::iota(byFirst.begin(), byFirst.end(), 0);
    std::sort(byFirst.begin(), byFirst.end(), [&](int64_t a, int64_t b) { return r.first[a] < r.first[b]; });
    std::vector<int64_t> first(r.first.size()), counts(r.first.size());
    for (size_t k = 0; k < byFirst.size(); ++k) {
      first[k] = r.first[byFirst[k]];
      counts[k] = r.counts[byFirst[k]];
      pos[byFirst[k]] = static_cast<int64_t>(k);
    }
    r.first = std::move(first);
    r.counts = std::move(counts);
  }
  for (int64_t a = 0; a < n; ++a) r.inverse[a] = pos[groupOf[a]];
  return r;
}

// ---- NonMaxSuppression --------------------------------------------------------------------------

struct NmsParams {
  int64_t batches = 0, classes = 0, boxes = 0;
  int64_t maxPerClass = 0;  // 0 selects nothing (the ONNX default)
  float iouThreshold = 0;
  std::optional<float> scoreThreshold;
  bool centerPointBox = false;
};

namespace detail {
// True when box a is suppressed by box b (IoU > threshold), following the ONNX reference.
inline bool suppressByIou(const float* a, const float* b, bool center, float threshold) {
  float ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
  if (!center) {
    ax0 = std::min(a[1], a[3]), ax1 = std::max(a[1], a[3]), ay0 = std::min(a[0], a[2]), ay1 = std::max(a[0], a[2]);
    bx0 = std::min(b[1], b[3]), bx1 = std::max(b[1], b[3]), by0 = std::min(b[0], b[2]), by1 = std::max(b[0], b[2]);
  } else {
    ax0 = a[0] - a[2] / 2, ax1 = a[0] + a[2] / 2, ay0 = a[1] - a[3] / 2, ay1 = a[1] + a[3] / 2;
    bx0 = b[0] - b[2] / 2, bx1 = b[0] + b[2] / 2, by0 = b[1] - b[3] / 2, by1 = b[1] + b[3] / 2;
  }
  const float ix0 = std::max(ax0, bx0), ix1 = std::min(ax1, bx1);
  if (ix1 <= ix0) return false;
  const float iy0 = std::max(ay0, by0), iy1 = std::min(ay1, by1);
  if (iy1 <= iy0) return false;
  const float inter = (ix1 - ix0) * (iy1 - iy0);
  if (inter <= 0) return false;
  const float areaA = (ax1 - ax0) * (ay1 - ay0), areaB = (bx1 - bx0) * (by1 - by0);
  const float uni = areaA + areaB - inter;
  if (areaA <= 0 || areaB <= 0 || uni <= 0) return false;
  return inter / uni > threshold;
}
}  // namespace detail

// Selected (batch, class, box) triples in output order. boxes: (batches, boxes, 4); scores:
// (batches, classes, boxes).
inline std::vector<std::array<int64_t, 3>> nonMaxSuppression(const float* boxes, const float* scores,
                                                             const NmsParams& p) {
  std::vector<std::array<int64_t, 3>> out;
  if (p.maxPerClass <= 0) return out;
  std::vector<int64_t> cand, kept;
  for (int64_t b = 0; b < p.batches; ++b) {
    const float* bb = boxes + b * p.boxes * 4;
    for (int64_t c = 0; c < p.classes; ++c) {
      const float* sc = scores + (b * p.classes + c) * p.boxes;
      cand.clear();
      for (int64_t i = 0; i < p.boxes; ++i)
        if (!std::isnan(sc[i]) && (!p.scoreThreshold || sc[i] > *p.scoreThreshold)) cand.push_back(i);  // NaN: unrankable
      // Highest score first; equal scores keep the lower box index first.
      std::stable_sort(cand.begin(), cand.end(), [&](int64_t x, int64_t y) { return sc[x] > sc[y]; });
      kept.clear();
      for (int64_t i : cand) {
        if (static_cast<int64_t>(kept.size()) >= p.maxPerClass) break;
        bool keep = true;
        for (int64_t k : kept)
          if (detail::suppressByIou(bb + i * 4, bb + k * 4, p.centerPointBox, p.iouThreshold)) {
            keep = false;
            break;
          }
        if (keep) {
          kept.push_back(i);
          out.push_back({b, c, i});
        }
      }
    }
  }
  return out;
}

}  // namespace kiln::misc
