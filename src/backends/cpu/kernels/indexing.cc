// CPU reference kernels for the gather/scatter ops: Gather, GatherElements, GatherND, ScatterND,
// ScatterElements (and Scatter, its opset 9-10 form). Every index is range-checked; an index out
// of range is an InvalidArgument error. The remaining indexing ops are in indexing_misc.cc.
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/indexing_util.h"

namespace kiln::cpu {

namespace {

int64_t prod(const Dims& d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= d[i];
  return p;
}

int normAxis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

Status Gather(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int axis = normAxis(ctx.attrs.getInt("axis"), x.rank());
  const int64_t outer = prod(x.dims(), 0, axis), dim = x.dims()[axis], inner = prod(x.dims(), axis + 1, x.rank());
  std::vector<int64_t> idx;
  KILN_RETURN_IF_ERROR(readIndices(ind, dim, "Gather", &idx));
  const int64_t n = static_cast<int64_t>(idx.size());
  return dispatchStorage("Gather", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallelFor(outer * n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / n, j = t % n;
        std::copy_n(px + (o * dim + idx[j]) * inner, inner, py + t * inner);
      }
    });
  });
}

Status GatherElements(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int r = x.rank();
  const int axis = normAxis(ctx.attrs.getInt("axis"), r);
  if (ind.rank() != r) return InvalidArgument("GatherElements indices rank {} differs from data rank {}", ind.rank(), r);
  for (int i = 0; i < r; ++i)
    if (i != axis && ind.dims()[i] > x.dims()[i])
      return InvalidArgument("GatherElements indices shape {} exceeds data shape {}", ind.dims().toString(), x.dims().toString());
  std::vector<int64_t> idx;
  KILN_RETURN_IF_ERROR(readIndices(ind, x.dims()[axis], "GatherElements", &idx));
  if (idx.empty()) return Status::OK();
  const Dims st = contiguousStrides(x.dims());
  const Dims& od = ind.dims();
  const int64_t inner = od[r - 1], rows = ind.numel() / inner;
  return dispatchStorage("GatherElements", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallelFor(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t rem = row, base = 0;
        for (int a = r - 2; a >= 0; --a) {
          const int64_t c = rem % od[a];
          rem /= od[a];
          if (a != axis) base += c * st[a];
        }
        const int64_t* pi = idx.data() + row * inner;
        T* dst = py + row * inner;
        if (axis == r - 1) {
          for (int64_t i = 0; i < inner; ++i) dst[i] = px[base + pi[i]];
        } else {
          // The axis coordinate of this row is replaced by the index.
          const int64_t sa = st[axis];
          for (int64_t i = 0; i < inner; ++i) dst[i] = px[base + i + pi[i] * sa];
        }
      }
    });
  });
}

// Offsets into data of the index tuples of GatherND/ScatterND: tuple j of batch b addresses
// data[b, idx[j][0], ..., idx[j][k-1], ...] (an offset in elements).
Status tupleOffsets(const Tensor& data, const Tensor& ind, int batchDims, std::string_view op,
                    std::vector<int64_t>* offs) {
  const Dims& dd = data.dims();
  const int q = ind.rank();
  const int64_t k = ind.dims()[q - 1];
  if (k < 1 || k > dd.rank() - batchDims)
    return InvalidArgument("{} indices last dimension {} must be in [1, {}]", op, k, dd.rank() - batchDims);
  const Dims st = contiguousStrides(dd);
  const int64_t tuples = k ? ind.numel() / k : 0;
  const int64_t batch = prod(ind.dims(), 0, batchDims);
  const int64_t perBatch = batch ? tuples / batch : 0;
  const int64_t batchStride = prod(dd, batchDims, dd.rank());
  offs->resize(tuples);
  const int64_t* pi = ind.data<int64_t>();
  for (int64_t j = 0; j < tuples; ++j) {
    int64_t off = (perBatch ? j / perBatch : 0) * batchStride;
    for (int64_t t = 0; t < k; ++t) {
      const int64_t dim = dd[batchDims + static_cast<int>(t)];
      int64_t v = pi[j * k + t];
      int64_t w = v < 0 ? v + dim : v;
      if (w < 0 || w >= dim) return indexOutOfRange(op, v, dim);
      off += w * st[batchDims + static_cast<int>(t)];
    }
    (*offs)[j] = off;
  }
  return Status::OK();
}

Status GatherND(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  Tensor& y = ctx.out(0);
  const int b = static_cast<int>(ctx.attrs.getInt("batch_dims"));
  for (int i = 0; i < b; ++i)
    if (x.dims()[i] != ind.dims()[i])
      return InvalidArgument("GatherND batch dimension {} differs: data {} vs indices {}", i, x.dims().toString(),
                             ind.dims().toString());
  std::vector<int64_t> offs;
  KILN_RETURN_IF_ERROR(tupleOffsets(x, ind, b, "GatherND", &offs));
  const int64_t k = ind.dims()[ind.rank() - 1];
  const int64_t slice = prod(x.dims(), b + static_cast<int>(k), x.rank());
  return dispatchStorage("GatherND", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const int64_t n = static_cast<int64_t>(offs.size());
    parallelFor(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, slice)), [&](int64_t bb, int64_t e) {
      for (int64_t j = bb; j < e; ++j) std::copy_n(px + offs[j], slice, py + j * slice);
    });
  });
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction parseReduction(const AttrMap& a) {
  const std::string r = a.getString("reduction", "none");
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return Reduction::kNone;
}

// dst = f(dst, src) for one scatter reduction (bool: add/max are "or", mul/min are "and").
template <typename T>
void apply(T& dst, const T& src, Reduction red) {
  if constexpr (std::is_same_v<T, std::string> || !std::is_arithmetic_v<compute_t<T>>) {
    dst = src;
  } else if constexpr (std::is_same_v<T, bool>) {
    switch (red) {
      case Reduction::kNone: dst = src; return;
      case Reduction::kAdd: case Reduction::kMax: dst = dst || src; return;
      case Reduction::kMul: case Reduction::kMin: dst = dst && src; return;
    }
  } else {
    using C = compute_t<T>;
    const C a = static_cast<C>(dst), b = static_cast<C>(src);
    switch (red) {
      case Reduction::kNone: dst = src; return;
      case Reduction::kAdd: dst = convertValue<T>(a + b); return;
      case Reduction::kMul: dst = convertValue<T>(a * b); return;
      case Reduction::kMax: dst = convertValue<T>(std::max(a, b)); return;
      case Reduction::kMin: dst = convertValue<T>(std::min(a, b)); return;
    }
  }
}

// Element type for reductions that compute; a storage type of the element width for plain copies.
template <typename F>
Status dispatchScatter(std::string_view op, DType t, Reduction red, F&& fn) {
  if (red == Reduction::kNone) return dispatchStorage(op, t, fn);
  if (t == DType::kBool) {
    fn(TypeTag<bool>{});
    return Status::OK();
  }
  return dispatchOr<NumericTypes>(op, t, fn);
}

Status ScatterND(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  const Tensor& upd = ctx.in(2);
  Tensor& y = ctx.out(0);
  const Reduction red = parseReduction(ctx.attrs);
  std::vector<int64_t> offs;
  KILN_RETURN_IF_ERROR(tupleOffsets(x, ind, 0, "ScatterND", &offs));
  const int64_t k = ind.dims()[ind.rank() - 1];
  const int64_t slice = prod(x.dims(), static_cast<int>(k), x.rank());
  if (upd.numel() != static_cast<int64_t>(offs.size()) * slice)
    return InvalidArgument("ScatterND updates shape {} does not match indices {} and data {}", upd.dims().toString(),
                           ind.dims().toString(), x.dims().toString());
  copyTensorData(x, y);
  return dispatchScatter("ScatterND", x.dtype(), red, [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* pu = upd.data<T>();
    T* py = y.data<T>();
    for (size_t j = 0; j < offs.size(); ++j)
      for (int64_t i = 0; i < slice; ++i) apply(py[offs[j] + i], pu[j * slice + i], red);
  });
}

Status ScatterElements(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  const Tensor& upd = ctx.in(2);
  Tensor& y = ctx.out(0);
  const int r = x.rank();
  const int axis = normAxis(ctx.attrs.getInt("axis"), r);
  const Reduction red = parseReduction(ctx.attrs);
  if (ind.rank() != r || upd.dims() != ind.dims())
    return InvalidArgument("ScatterElements needs indices and updates of one shape and the rank of data (data {}, indices {}, updates {})",
                           x.dims().toString(), ind.dims().toString(), upd.dims().toString());
  for (int i = 0; i < r; ++i)
    if (i != axis && ind.dims()[i] > x.dims()[i])
      return InvalidArgument("ScatterElements indices shape {} exceeds data shape {}", ind.dims().toString(), x.dims().toString());
  std::vector<int64_t> idx;
  KILN_RETURN_IF_ERROR(readIndices(ind, x.dims()[axis], "ScatterElements", &idx));
  copyTensorData(x, y);
  if (idx.empty()) return Status::OK();
  const Dims st = contiguousStrides(x.dims());
  const Dims& id = ind.dims();
  return dispatchScatter("ScatterElements", x.dtype(), red, [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* pu = upd.data<T>();
    T* py = y.data<T>();
    Dims c = Dims::filled(r, 0);
    for (int64_t i = 0; i < static_cast<int64_t>(idx.size()); ++i) {
      int64_t off = 0;
      for (int a = 0; a < r; ++a) off += (a == axis ? idx[i] : c[a]) * st[a];
      apply(py[off], pu[i], red);
      for (int a = r - 1; a >= 0; --a) {  // next multi-index
        if (++c[a] < id[a]) break;
        c[a] = 0;
      }
    }
  });
}

}  // namespace

void RegisterIndexingKernels(KernelRegistry& r) {
  r.addFn("Gather", "cpu_ref_Gather", &Gather);
  r.addFn("GatherElements", "cpu_ref_GatherElements", &GatherElements);
  r.addFn("GatherND", "cpu_ref_GatherND", &GatherND);
  r.addFn("ScatterND", "cpu_ref_ScatterND", &ScatterND);
  r.addFn("ScatterElements", "cpu_ref_ScatterElements", &ScatterElements);
  r.addFn("Scatter", "cpu_ref_Scatter", &ScatterElements);
  RegisterIndexingMiscKernels(r);
}

}  // namespace kiln::cpu
