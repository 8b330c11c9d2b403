// CPU reference kernels for NonZero, Compress, OneHot, Trilu, EyeLike and ReverseSequence.
#include <algorithm>
#include <cmath>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/indexing_util.h"

namespace kiln::cpu {

namespace {

using NonZeroTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                              uint32_t, int64_t, uint64_t, bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2,
                              Float8E5M2FNUZ, std::string>;

template <typename T>
bool nonZero(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) return !v.empty();
  else return convertValue<bool>(v);
}

Status NonZero(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int r = x.rank();
  // Count first: in an engine the output is sized for every element being nonzero.
  int64_t n = 0;
  KILN_RETURN_IF_ERROR(dispatchOr<NonZeroTypes>("NonZero", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) n += nonZero(px[i]) ? 1 : 0;
  }));
  KILN_RETURN_IF_ERROR(fitOutput(y, Dims{r, n}, "NonZero"));
  if (r == 0) return Status::OK();
  int64_t* py = y.data<int64_t>();
  int64_t found = 0;
  return dispatchOr<NonZeroTypes>("NonZero", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    Dims c = Dims::filled(r, 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (nonZero(px[i])) {
        for (int a = 0; a < r; ++a) py[a * n + found] = c[a];
        ++found;
      }
      for (int a = r - 1; a >= 0; --a) {
        if (++c[a] < x.dims()[a]) break;
        c[a] = 0;
      }
    }
  });
}

Status Compress(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& cond = ctx.in(1);
  Tensor& y = ctx.out(0);
  const bool* pc = cond.data<bool>();
  int64_t outer = 1, extent = x.numel(), inner = 1;
  if (ctx.attrs.has("axis")) {
    int64_t a = ctx.attrs.getInt("axis");
    const int axis = static_cast<int>(a < 0 ? a + x.rank() : a);
    for (int i = 0; i < axis; ++i) outer *= x.dims()[i];
    extent = x.dims()[axis];
    for (int i = axis + 1; i < x.rank(); ++i) inner *= x.dims()[i];
  }
  std::vector<int64_t> sel;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (!pc[i]) continue;
    if (i >= extent) return InvalidArgument("Compress condition selects index {} of an extent of {}", i, extent);
    sel.push_back(i);
  }
  const int64_t n = static_cast<int64_t>(sel.size());
  Dims shape{n};
  if (ctx.attrs.has("axis")) {
    shape = x.dims();
    const int64_t a = ctx.attrs.getInt("axis");
    shape[static_cast<int>(a < 0 ? a + x.rank() : a)] = n;
  }
  KILN_RETURN_IF_ERROR(fitOutput(y, shape, "Compress"));
  return dispatchStorage("Compress", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < n; ++j)
        std::copy_n(px + (o * extent + sel[j]) * inner, inner, py + (o * n + j) * inner);
  });
}

Status OneHot(const KernelContext& ctx) {
  const Tensor& ind = ctx.in(0);
  const Tensor& vals = ctx.in(2);
  Tensor& y = ctx.out(0);
  if (vals.numel() != 2) return InvalidArgument("OneHot values must have two elements, has {}", vals.numel());
  const int r = ind.rank();
  const int64_t a = ctx.attrs.getInt("axis");
  const int axis = static_cast<int>(a < 0 ? a + r + 1 : a);
  const int64_t depth = y.dims()[axis];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= ind.dims()[i];
  for (int i = axis; i < r; ++i) inner *= ind.dims()[i];
  // Indices as integers; negatives count from depth; anything out of range matches no position.
  std::vector<int64_t> idx(ind.numel());
  KILN_RETURN_IF_ERROR(dispatchOr<NumericTypes>("OneHot indices", ind.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* p = ind.data<T>();
    for (int64_t i = 0; i < ind.numel(); ++i) {
      const compute_t<T> v = static_cast<compute_t<T>>(p[i]);
      int64_t w = -1;
      if constexpr (std::is_floating_point_v<compute_t<T>>) {
        if (std::isfinite(v) && std::fabs(v) < 9e18) w = static_cast<int64_t>(v);
        else w = depth;  // out of range
      } else if constexpr (std::is_unsigned_v<T>) {
        w = v > static_cast<uint64_t>(INT64_MAX) ? depth : static_cast<int64_t>(v);
      } else {
        w = static_cast<int64_t>(v);
      }
      if (w < 0 && w >= -depth) w += depth;
      idx[i] = (w >= 0 && w < depth) ? w : -1;
    }
  }));
  return dispatchStorage("OneHot", vals.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T off = vals.data<T>()[0], on = vals.data<T>()[1];
    T* py = y.data<T>();
    std::fill_n(py, y.numel(), off);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t d = idx[o * inner + i];
        if (d >= 0) py[(o * depth + d) * inner + i] = on;
      }
  });
}

Status Trilu(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    if (ctx.in(1).numel() != 1) return InvalidArgument("Trilu k must be a scalar");
    k = ctx.in(1).data<int64_t>()[0];
  }
  const bool upper = ctx.attrs.getInt("upper") != 0;
  const int r = x.rank();
  const int64_t rows = x.dims()[r - 2], cols = x.dims()[r - 1];
  const int64_t mats = rows * cols != 0 ? x.numel() / (rows * cols) : 0;
  k = std::clamp<int64_t>(k, -rows - 1, cols + 1);
  return dispatchStorage("Trilu", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallelFor(mats * rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t i = t % rows;
        for (int64_t j = 0; j < cols; ++j) {
          const bool keep = upper ? (j - i >= k) : (j - i <= k);
          py[t * cols + j] = keep ? px[t * cols + j] : T{};
        }
      }
    });
  });
}

using EyeTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                          int64_t, uint64_t, bool, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ>;

Status EyeLike(const KernelContext& ctx) {
  Tensor& y = ctx.out(0);
  const int64_t k = ctx.attrs.getInt("k");
  const int64_t rows = y.dims()[0], cols = y.dims()[1];
  return dispatchOr<EyeTypes>("EyeLike", y.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    T* py = y.data<T>();
    std::fill_n(py, y.numel(), convertValue<T>(0.0f));
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t j = i + k;
      if (j >= 0 && j < cols) py[i * cols + j] = convertValue<T>(1.0f);
    }
  });
}

Status ReverseSequence(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& lens = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int ba = static_cast<int>(ctx.attrs.getInt("batch_axis"));
  const int ta = static_cast<int>(ctx.attrs.getInt("time_axis"));
  const int64_t batch = x.dims()[ba], time = x.dims()[ta];
  if (lens.numel() != batch)
    return InvalidArgument("ReverseSequence sequence_lens has {} entries but the batch axis has {}", lens.numel(), batch);
  const int64_t* pl = lens.data<int64_t>();
  for (int64_t b = 0; b < batch; ++b)
    if (pl[b] < 0 || pl[b] > time)
      return InvalidArgument("ReverseSequence sequence length {} is outside [0, {}]", pl[b], time);
  int64_t inner = 1;
  for (int i = 2; i < x.rank(); ++i) inner *= x.dims()[i];
  // Element (b, t) of the two leading axes starts at this offset.
  const int64_t sb = ba == 0 ? time * inner : inner, st = ta == 0 ? batch * inner : inner;
  return dispatchStorage("ReverseSequence", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < time; ++t) {
        const int64_t src = t < pl[b] ? pl[b] - 1 - t : t;
        std::copy_n(px + b * sb + src * st, inner, py + b * sb + t * st);
      }
  });
}

}  // namespace

void RegisterIndexingMiscKernels(KernelRegistry& r) {
  r.addFn("NonZero", "cpu_ref_NonZero", &NonZero);
  r.addFn("Compress", "cpu_ref_Compress", &Compress);
  r.addFn("OneHot", "cpu_ref_OneHot", &OneHot);
  r.addFn("Trilu", "cpu_ref_Trilu", &Trilu);
  r.addFn("EyeLike", "cpu_ref_EyeLike", &EyeLike);
  r.addFn("ReverseSequence", "cpu_ref_ReverseSequence", &ReverseSequence);
}

}  // namespace kiln::cpu
