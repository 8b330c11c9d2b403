// Numpy broadcasting for CPU kernels: collapses the output into rows whose inner dimension has a
// constant stride (0 or 1) per input, so the hot loop is a plain strided loop.
#pragma once

#include <array>
#include <cstdint>

#include "core/thread_pool.h"
#include "kiln/shape.h"
#include "kiln/status.h"

namespace kiln::cpu {

// True if `in` broadcasts to `out` (numpy rules, unidirectional). Engines compute output dims
// with the shape program, so kernels check rather than trust that inputs fit them.
inline bool broadcastsTo(const Dims& in, const Dims& out) {
  if (in.rank() > out.rank()) return false;
  for (int i = 0; i < in.rank(); ++i) {
    int64_t d = in[i], o = out[i + out.rank() - in.rank()];
    if (d != o && d != 1) return false;
  }
  return true;
}
inline Status checkBroadcast(std::string_view op, const Dims& out, std::initializer_list<const Dims*> ins) {
  for (const Dims* d : ins)
    if (!broadcastsTo(*d, out))
      return InvalidArgument("{}: input shape {} does not broadcast to the output shape {}", op, d->toString(), out.toString());
  return Status::OK();
}

template <int N>
class BroadcastPlan {
 public:
  // `ins` are the input dims; `out` the broadcast output dims (already validated).
  BroadcastPlan(const Dims& out, const std::array<Dims, N>& ins) {
    const int r = out.rank();
    // Per input, per output axis: element stride (0 where broadcast).
    std::array<std::array<int64_t, kMaxRank>, N> st{};
    for (int k = 0; k < N; ++k) {
      const Dims& d = ins[k];
      int64_t s = 1;
      for (int i = r - 1; i >= 0; --i) {
        int j = i - (r - d.rank());
        int64_t dim = j >= 0 ? d[j] : 1;
        st[k][i] = (dim == 1 && out[i] != 1) ? 0 : s;
        s *= dim;
      }
    }
    // Collapse adjacent axes when every input's strides stay contiguous across them.
    rank_ = 0;
    for (int i = 0; i < r; ++i) {
      if (out[i] == 1) continue;
      if (rank_ > 0) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          if (strides_[k][rank_ - 1] != st[k][i] * out[i]) merge = false;
        if (merge) {
          dims_[rank_ - 1] *= out[i];
          for (int k = 0; k < N; ++k) strides_[k][rank_ - 1] = st[k][i];
          continue;
        }
      }
      dims_[rank_] = out[i];
      for (int k = 0; k < N; ++k) strides_[k][rank_] = st[k][i];
      ++rank_;
    }
    if (rank_ == 0) {
      dims_[0] = 1;
      for (int k = 0; k < N; ++k) strides_[k][0] = 0;
      rank_ = 1;
    }
    inner_ = dims_[rank_ - 1];
    rows_ = 1;
    for (int i = 0; i + 1 < rank_; ++i) rows_ *= dims_[i];
  }

  int64_t rows() const { return rows_; }
  int64_t inner() const { return inner_; }
  int64_t innerStride(int k) const { return strides_[k][rank_ - 1]; }

  // Element offset of each input at the start of `row`.
  void rowOffsets(int64_t row, std::array<int64_t, N>& off) const {
    off.fill(0);
    for (int i = rank_ - 2; i >= 0; --i) {
      int64_t idx = row % dims_[i];
      row /= dims_[i];
      for (int k = 0; k < N; ++k) off[k] += idx * strides_[k][i];
    }
  }

  // Calls fn(outOffset, inOffsets, length) for every row, in parallel.
  template <typename F>
  void forEachRow(F&& fn, int64_t grainElems = 32768) const {
    int64_t grainRows = std::max<int64_t>(1, grainElems / std::max<int64_t>(1, inner_));
    parallelFor(rows_, grainRows, [&](int64_t b, int64_t e) {
      std::array<int64_t, N> off;
      for (int64_t row = b; row < e; ++row) {
        rowOffsets(row, off);
        fn(row * inner_, off, inner_);
      }
    });
  }

 private:
  std::array<int64_t, kMaxRank> dims_{};
  std::array<std::array<int64_t, kMaxRank>, N> strides_{};
  int rank_ = 0;
  int64_t inner_ = 1, rows_ = 1;
};

// out[i] = f(a[..], b[..]) with broadcasting; A, B, O element types may differ.
template <typename A, typename B, typename O, typename F>
void broadcastBinary(const A* a, const Dims& da, const B* b, const Dims& db, O* o, const Dims& dout,
                     F&& f) {
  BroadcastPlan<2> plan(dout, {da, db});
  const int64_t sa = plan.innerStride(0), sb = plan.innerStride(1);
  plan.forEachRow([&](int64_t oo, const std::array<int64_t, 2>& off, int64_t n) {
    const A* pa = a + off[0];
    const B* pb = b + off[1];
    O* po = o + oo;
    if (sa == 1 && sb == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (sa == 1 && sb == 0) {
      const B vb = pb[0];
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
    } else if (sa == 0 && sb == 1) {
      const A va = pa[0];
      for (int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i * sa], pb[i * sb]);
    }
  });
}

}  // namespace kiln::cpu
