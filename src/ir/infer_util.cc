// Shared inference helpers.
#include "ir/infer_util.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace kiln::ir {

Result<int> normalizeAxis(int64_t axis, int rank, std::string_view what) {
  if (axis < -rank || axis >= std::max(rank, 1) || (rank == 0 && axis != 0 && axis != -1))
    return InvalidArgument("{} {} is out of range for rank {}", what, axis, rank);
  if (rank == 0) return 0;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Result<std::vector<int>> normalizeAxes(const std::vector<int64_t>& axes, int rank,
                                       std::string_view what) {
  std::vector<int> out;
  std::set<int> seen;
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) return InvalidArgument("{} {} is out of range for rank {}", what, a, rank);
    int n = static_cast<int>(a < 0 ? a + rank : a);
    if (!seen.insert(n).second) return InvalidArgument("{} repeats axis {}", what, a);
    out.push_back(n);
  }
  return out;
}

Status broadcastShapes(const Shape& a, const Shape& b, Shape* out) {
  if (!a.rankKnown() || !b.rankKnown()) {
    *out = Shape::unknownRank();
    return Status::OK();
  }
  int r = std::max(a.rank(), b.rank());
  std::vector<Dim> d(r);
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    Dim da = ia >= 0 ? a[ia] : Dim(1);
    Dim db = ib >= 0 ? b[ib] : Dim(1);
    if (da.isStatic() && da.value() == 1) {
      d[i] = db;
    } else if (db.isStatic() && db.value() == 1) {
      d[i] = da;
    } else if (da.isStatic() && db.isStatic()) {
      if (da.value() != db.value())
        return InvalidArgument("shapes {} and {} cannot be broadcast (dim {}: {} vs {})",
                               a.toString(), b.toString(), i, da.value(), db.value());
      d[i] = da;
    } else if (da.sameAs(db)) {
      d[i] = da;
    } else if (da.isStatic()) {
      d[i] = da;  // the symbol must be 1 or equal to da
    } else if (db.isStatic()) {
      d[i] = db;
    } else {
      d[i] = da.isSymbolic() ? da : db;
    }
  }
  *out = Shape(std::move(d));
  return Status::OK();
}

bool broadcastDims(const Dims& a, const Dims& b, Dims* out) {
  int r = std::max(a.rank(), b.rank());
  Dims d = Dims::filled(r, 1);
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da == db || db == 1) d[i] = da;
    else if (da == 1) d[i] = db;
    else return false;
  }
  *out = d;
  return true;
}

std::optional<std::vector<int64_t>> inputInts(const InferContext& ctx, int i) {
  if (!ctx.hasInput(i)) return std::nullopt;
  const Tensor* t = ctx.inputValue(i);
  if (!t) {
    // Shape arithmetic whose result is fully known (e.g. Gather(Shape(x)) of static dims).
    auto sym = ctx.inputSymbolicValue(i);
    if (!sym) return std::nullopt;
    std::vector<int64_t> v;
    for (const Dim& d : *sym) {
      if (!d.isStatic()) return std::nullopt;
      v.push_back(d.value());
    }
    return v;
  }
  if (!(isInteger(t->dtype()) || t->dtype() == DType::kBool)) return std::nullopt;
  std::vector<int64_t> v(t->numel());
  for (int64_t k = 0; k < t->numel(); ++k) v[k] = t->intAt(k);
  return v;
}

std::optional<std::vector<double>> inputDoubles(const InferContext& ctx, int i) {
  if (!ctx.hasInput(i)) return std::nullopt;
  const Tensor* t = ctx.inputValue(i);
  if (!t || t->dtype() == DType::kString) return std::nullopt;
  std::vector<double> v(t->numel());
  for (int64_t k = 0; k < t->numel(); ++k) v[k] = t->doubleAt(k);
  return v;
}

std::optional<std::vector<Dim>> inputDims(const InferContext& ctx, int i) {
  if (!ctx.hasInput(i)) return std::nullopt;
  return ctx.inputSymbolicValue(i);
}

Shape unknownShape(int rank) { return Shape(std::vector<Dim>(rank)); }

InferFn inferSameAsInput(int input) {
  return [input](InferContext& ctx) {
    ctx.setOutput(0, ctx.inputType(input), ctx.inputShape(input));
    return Status::OK();
  };
}

namespace {
Status broadcastAll(InferContext& ctx, Shape* out) {
  bool first = true;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) continue;
    if (first) {
      *out = ctx.inputShape(i);
      first = false;
    } else {
      Shape r;
      KILN_RETURN_IF_ERROR(broadcastShapes(*out, ctx.inputShape(i), &r));
      *out = std::move(r);
    }
  }
  return Status::OK();
}
}  // namespace

InferFn inferBroadcast() {
  return [](InferContext& ctx) {
    Shape s;
    KILN_RETURN_IF_ERROR(broadcastAll(ctx, &s));
    ctx.setOutput(0, ctx.inputType(0), std::move(s));
    return Status::OK();
  };
}

InferFn inferBroadcastTo(DType outType) {
  return [outType](InferContext& ctx) {
    Shape s;
    KILN_RETURN_IF_ERROR(broadcastAll(ctx, &s));
    ctx.setOutput(0, outType, std::move(s));
    return Status::OK();
  };
}

InferFn inferSameShapeAs(int input, DType outType) {
  return [input, outType](InferContext& ctx) {
    ctx.setOutput(0, outType, ctx.inputShape(input));
    return Status::OK();
  };
}

Status expectType(const InferContext& ctx, int i, std::initializer_list<DType> allowed,
                  std::string_view opName) {
  DType t = ctx.inputType(i);
  for (DType a : allowed)
    if (a == t) return Status::OK();
  std::vector<std::string_view> names;
  for (DType a : allowed) names.push_back(dtypeName(a));
  return Unsupported("{} input {} has type {}; supported: {}", opName, i, dtypeName(t),
                     fmt::join(names, ", "));
}

Status expectSameType(const InferContext& ctx, int a, int b) {
  if (ctx.inputType(a) != ctx.inputType(b))
    return InvalidArgument("inputs {} and {} must have the same type (got {} and {})", a, b,
                           dtypeName(ctx.inputType(a)), dtypeName(ctx.inputType(b)));
  return Status::OK();
}

}  // namespace kiln::ir
