// Indexing ops: Gather (with symbolic-value propagation for shape arithmetic), GatherElements,
// GatherND, ScatterND, ScatterElements, Scatter (opset 9-10 form of ScatterElements), NonZero and
// Compress (data-dependent output sizes), OneHot, Trilu, EyeLike, ReverseSequence.
#include <cmath>
#include <string>

#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

Status expectIndexType(const InferContext& ctx, int i, std::string_view what) {
  DType t = ctx.inputType(i);
  if (t != DType::kInt32 && t != DType::kInt64)
    return InvalidArgument("{} must be int32 or int64, not {}", what, dtypeName(t));
  return Status::OK();
}

Status checkRank(int rank, std::string_view op) {
  if (rank > kMaxRank) return Unsupported("{} output would have rank {}; Kiln supports up to {}", op, rank, kMaxRank);
  return Status::OK();
}

// Build-time check of constant indices against a static dimension (the kernel checks at run time).
Status checkConstIndices(const InferContext& ctx, int i, const Dim& dim, std::string_view op) {
  if (ctx.concrete() || !dim.isStatic()) return Status::OK();
  auto idx = inputInts(ctx, i);
  if (!idx) return Status::OK();
  const int64_t n = dim.value();
  for (int64_t v : *idx)
    if (v < -n || v >= n) return InvalidArgument("{} index {} is out of range for a dimension of size {}", op, v, n);
  return Status::OK();
}

// Static elements of a small integer input (constant or computed from static shapes).
std::optional<std::vector<int64_t>> staticInts(const InferContext& ctx, int i) {
  auto v = ctx.inputSymbolicValue(i);
  if (!v) return std::nullopt;
  std::vector<int64_t> out;
  for (const Dim& d : *v) {
    if (!d.isStatic()) return std::nullopt;
    out.push_back(d.value());
  }
  return out;
}

Status inferGather(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectIndexType(ctx, 1, "Gather indices"));
  const DType t = ctx.inputType(0);
  const Shape& data = ctx.inputShape(0);
  const Shape& ind = ctx.inputShape(1);
  if (!data.rankKnown()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    return Status::OK();
  }
  if (data.rank() == 0) return InvalidArgument("Gather data must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), data.rank()));
  if (!ind.rankKnown()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    return Status::OK();
  }
  std::vector<Dim> out(data.dims().begin(), data.dims().begin() + axis);
  out.insert(out.end(), ind.dims().begin(), ind.dims().end());
  out.insert(out.end(), data.dims().begin() + axis + 1, data.dims().end());
  KILN_RETURN_IF_ERROR(checkRank(static_cast<int>(out.size()), "Gather"));
  KILN_RETURN_IF_ERROR(checkConstIndices(ctx, 1, data[axis], "Gather"));
  ctx.setOutput(0, t, Shape(std::move(out)));

  // Shape arithmetic: Gather of a known 1-D integer value with known indices is known.
  if (!ctx.concrete() && data.rank() == 1 && ind.rank() <= 1 && isInteger(t)) {
    auto sv = ctx.inputSymbolicValue(0);
    auto idx = staticInts(ctx, 1);
    if (sv && idx) {
      const int64_t n = static_cast<int64_t>(sv->size());
      std::vector<Dim> r;
      for (int64_t i : *idx) {
        if (i < -n || i >= n) return InvalidArgument("Gather index {} is out of range for a dimension of size {}", i, n);
        r.push_back((*sv)[i < 0 ? i + n : i]);
      }
      ctx.setOutputSymbolicValue(0, std::move(r));
    }
  }
  return Status::OK();
}

Status inferGatherElements(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectIndexType(ctx, 1, "GatherElements indices"));
  const Shape& data = ctx.inputShape(0);
  const Shape& ind = ctx.inputShape(1);
  if (data.rankKnown()) {
    if (data.rank() == 0) return InvalidArgument("GatherElements data must have rank >= 1");
    KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), data.rank()));
    if (ind.rankKnown()) {
      if (ind.rank() != data.rank())
        return InvalidArgument("GatherElements indices must have the rank of data ({}), not {}", data.rank(), ind.rank());
      for (int i = 0; i < data.rank(); ++i)
        if (i != axis && data[i].isStatic() && ind[i].isStatic() && ind[i].value() > data[i].value())
          return InvalidArgument("GatherElements indices shape {} exceeds data shape {} on axis {}",
                                 ind.toString(), data.toString(), i);
    }
    KILN_RETURN_IF_ERROR(checkConstIndices(ctx, 1, data[axis], "GatherElements"));
  }
  ctx.setOutput(0, ctx.inputType(0), ind);
  return Status::OK();
}

Status inferGatherND(InferContext& ctx) {
  if (ctx.inputType(1) != DType::kInt64)
    return InvalidArgument("GatherND indices must be int64, not {}", dtypeName(ctx.inputType(1)));
  const DType t = ctx.inputType(0);
  const Shape& data = ctx.inputShape(0);
  const Shape& ind = ctx.inputShape(1);
  const int64_t b = ctx.attrs().getInt("batch_dims");
  if (b < 0) return InvalidArgument("GatherND batch_dims must be >= 0, not {}", b);
  if (!data.rankKnown() || !ind.rankKnown()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    return Status::OK();
  }
  const int r = data.rank(), q = ind.rank();
  if (r < 1 || q < 1) return InvalidArgument("GatherND data and indices must have rank >= 1 (got {} and {})", r, q);
  if (b >= std::min(r, q))
    return InvalidArgument("GatherND batch_dims {} must be smaller than the ranks of data ({}) and indices ({})", b, r, q);
  for (int i = 0; i < b; ++i)
    if (data[i].isStatic() && ind[i].isStatic() && data[i].value() != ind[i].value())
      return InvalidArgument("GatherND batch dimension {} differs: data {} vs indices {}", i, data.toString(), ind.toString());
  const Dim& kd = ind[q - 1];
  if (!kd.isStatic()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    return Status::OK();
  }
  const int64_t k = kd.value();
  if (k < 1 || k > r - b)
    return InvalidArgument("GatherND indices last dimension {} must be in [1, {}] (data rank {} minus batch_dims {})", k, r - b, r, b);
  std::vector<Dim> out(ind.dims().begin(), ind.dims().end() - 1);
  out.insert(out.end(), data.dims().begin() + b + k, data.dims().end());
  KILN_RETURN_IF_ERROR(checkRank(static_cast<int>(out.size()), "GatherND"));
  ctx.setOutput(0, t, Shape(std::move(out)));
  return Status::OK();
}

Status checkReduction(const InferContext& ctx, std::string_view op) {
  if (!ctx.attrs().has("reduction")) return Status::OK();
  const std::string& r = ctx.attrs().getString("reduction");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return InvalidArgument("{} reduction '{}' is not one of none, add, mul, max, min", op, r);
  return Status::OK();
}

Status inferScatterND(InferContext& ctx) {
  if (ctx.inputType(1) != DType::kInt64)
    return InvalidArgument("ScatterND indices must be int64, not {}", dtypeName(ctx.inputType(1)));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  KILN_RETURN_IF_ERROR(checkReduction(ctx, "ScatterND"));
  const Shape& data = ctx.inputShape(0);
  const Shape& ind = ctx.inputShape(1);
  const Shape& upd = ctx.inputShape(2);
  if (data.rankKnown() && ind.rankKnown()) {
    const int r = data.rank(), q = ind.rank();
    if (r < 1 || q < 1) return InvalidArgument("ScatterND data and indices must have rank >= 1 (got {} and {})", r, q);
    if (ind[q - 1].isStatic()) {
      const int64_t k = ind[q - 1].value();
      if (k < 1 || k > r) return InvalidArgument("ScatterND indices last dimension {} must be in [1, {}]", k, r);
      if (upd.rankKnown()) {
        // updates.shape == indices.shape[:-1] + data.shape[k:]
        const int want = q - 1 + r - static_cast<int>(k);
        if (upd.rank() != want)
          return InvalidArgument("ScatterND updates shape {} must be indices.shape[:-1] + data.shape[{}:] (data {}, indices {})",
                                 upd.toString(), k, data.toString(), ind.toString());
        for (int i = 0; i < want; ++i) {
          const Dim& w = i < q - 1 ? ind[i] : data[static_cast<int>(k) + i - (q - 1)];
          if (w.isStatic() && upd[i].isStatic() && w.value() != upd[i].value())
            return InvalidArgument("ScatterND updates shape {} must be indices.shape[:-1] + data.shape[{}:] (data {}, indices {})",
                                   upd.toString(), k, data.toString(), ind.toString());
        }
      }
    }
  }
  ctx.setOutput(0, ctx.inputType(0), data);
  return Status::OK();
}

Status inferScatterElements(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectIndexType(ctx, 1, "ScatterElements indices"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  KILN_RETURN_IF_ERROR(checkReduction(ctx, "ScatterElements"));
  const Shape& data = ctx.inputShape(0);
  const Shape& ind = ctx.inputShape(1);
  const Shape& upd = ctx.inputShape(2);
  if (data.rankKnown()) {
    if (data.rank() == 0) return InvalidArgument("ScatterElements data must have rank >= 1");
    KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), data.rank()));
    if (ind.rankKnown() && ind.rank() != data.rank())
      return InvalidArgument("ScatterElements indices must have the rank of data ({}), not {}", data.rank(), ind.rank());
    if (ind.rankKnown() && upd.rankKnown()) {
      if (upd.rank() != ind.rank())
        return InvalidArgument("ScatterElements updates shape {} must equal indices shape {}", upd.toString(), ind.toString());
      for (int i = 0; i < ind.rank(); ++i) {
        if (ind[i].isStatic() && upd[i].isStatic() && ind[i].value() != upd[i].value())
          return InvalidArgument("ScatterElements updates shape {} must equal indices shape {}", upd.toString(), ind.toString());
        if (i != axis && ind[i].isStatic() && data[i].isStatic() && ind[i].value() > data[i].value())
          return InvalidArgument("ScatterElements indices shape {} exceeds data shape {} on axis {}", ind.toString(), data.toString(), i);
      }
    }
    KILN_RETURN_IF_ERROR(checkConstIndices(ctx, 1, data[axis], "ScatterElements"));
  }
  ctx.setOutput(0, ctx.inputType(0), data);
  return Status::OK();
}

// Number of nonzero elements of a known tensor.
int64_t countNonZero(const Tensor& t) {
  int64_t n = 0;
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) n += !t.data<std::string>()[i].empty();
    return n;
  }
  dispatchType<AllPodTypes>(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) n += convertValue<bool>(p[i]) ? 1 : 0;
  });
  return n;
}

Status inferNonZero(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  Dim rank = in.rankKnown() ? Dim(in.rank()) : Dim::unknown();
  const Tensor* v = ctx.inputValue(0);
  Dim count = v ? Dim(countNonZero(*v)) : ctx.newSymbol("nonzero_count", in.rankKnown() ? in.numelDim() : Dim::unknown());
  ctx.setOutput(0, DType::kInt64, Shape({rank, count}));
  return Status::OK();
}

Status inferCompress(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kBool}, "Compress condition"));
  const Shape& data = ctx.inputShape(0);
  const Shape& cond = ctx.inputShape(1);
  if (cond.rankKnown() && cond.rank() != 1)
    return InvalidArgument("Compress condition must be 1-D, has shape {}", cond.toString());
  const bool hasAxis = ctx.attrs().has("axis");
  int axis = 0;
  if (hasAxis && data.rankKnown()) {
    if (data.rank() == 0) return InvalidArgument("Compress with an axis needs data of rank >= 1");
    KILN_ASSIGN_OR_RETURN(axis, normalizeAxis(ctx.attrs().getInt("axis"), data.rank()));
  }
  // Selected count: trues among the first min(len(condition), extent) entries.
  Dim extent = hasAxis ? (data.rankKnown() ? data[axis] : Dim::unknown()) : data.numelDim();
  if (!data.rankKnown()) extent = Dim::unknown();
  Dim count = Dim::unknown();
  if (const Tensor* c = ctx.inputValue(1)) {
    const bool* p = c->data<bool>();
    int64_t n = 0;
    for (int64_t i = 0; i < c->numel(); ++i) {
      if (!p[i]) continue;
      if (extent.isStatic() && i >= extent.value())
        return InvalidArgument("Compress condition selects index {} but the {} has only {} elements", i,
                               hasAxis ? "axis" : "flattened input", extent.value());
      ++n;
    }
    count = Dim(n);
  } else {
    count = ctx.newSymbol("compress_count", extent);
  }
  if (!hasAxis) {
    ctx.setOutput(0, ctx.inputType(0), Shape({count}));
  } else if (!data.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
  } else {
    Shape out = data;
    out[axis] = count;
    ctx.setOutput(0, ctx.inputType(0), std::move(out));
  }
  return Status::OK();
}

Status inferOneHot(InferContext& ctx) {
  const Shape& ind = ctx.inputShape(0);
  const Shape& depthShape = ctx.inputShape(1);
  const Shape& values = ctx.inputShape(2);
  if (depthShape.rankKnown() && depthShape.numel() && *depthShape.numel() != 1)
    return InvalidArgument("OneHot depth must have exactly one element, has shape {}", depthShape.toString());
  if (values.rankKnown() && values.numel() && *values.numel() != 2)
    return InvalidArgument("OneHot values must have two elements [off, on], has shape {}", values.toString());
  if (!isInteger(ctx.inputType(0)) && !isFloat(ctx.inputType(0)))
    return InvalidArgument("OneHot indices must be numeric, not {}", dtypeName(ctx.inputType(0)));
  Dim depth = Dim::unknown();
  if (const Tensor* d = ctx.inputValue(1); d && d->numel() == 1 && d->dtype() != DType::kString) {
    double v = d->doubleAt(0);
    if (!std::isfinite(v) || v < 0 || v > 1e15) return InvalidArgument("OneHot depth must be a non-negative number, not {}", v);
    depth = Dim(static_cast<int64_t>(v));
  }
  const DType t = ctx.inputType(2);
  if (!ind.rankKnown()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    return Status::OK();
  }
  const int r = ind.rank();
  const int64_t axis = ctx.attrs().getInt("axis");
  if (axis < -r - 1 || axis > r) return InvalidArgument("OneHot axis {} is out of range for indices of rank {}", axis, r);
  const int a = static_cast<int>(axis < 0 ? axis + r + 1 : axis);
  std::vector<Dim> out = ind.dims();
  out.insert(out.begin() + a, depth);
  KILN_RETURN_IF_ERROR(checkRank(r + 1, "OneHot"));
  ctx.setOutput(0, t, Shape(std::move(out)));
  return Status::OK();
}

Status inferTrilu(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  if (in.rankKnown() && in.rank() < 2) return InvalidArgument("Trilu input must have rank >= 2, has {}", in.rank());
  if (ctx.hasInput(1)) {
    if (ctx.inputType(1) != DType::kInt64) return InvalidArgument("Trilu k must be int64, not {}", dtypeName(ctx.inputType(1)));
    const Shape& k = ctx.inputShape(1);
    if (k.rankKnown() && k.numel() && *k.numel() != 1)
      return InvalidArgument("Trilu k must be a scalar, has shape {}", k.toString());
  }
  ctx.setOutput(0, ctx.inputType(0), in);
  return Status::OK();
}

Status inferEyeLike(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  if (in.rankKnown() && in.rank() != 2) return InvalidArgument("EyeLike input must be 2-D, has shape {}", in.toString());
  DType t = ctx.inputType(0);
  if (ctx.attrs().has("dtype")) {
    int64_t d = ctx.attrs().getInt("dtype");
    if (!isValidDType(static_cast<int>(d)) || d == static_cast<int64_t>(DType::kUndefined))
      return InvalidArgument("EyeLike dtype {} is not a valid data type", d);
    t = static_cast<DType>(d);
  }
  if (t == DType::kString) return InvalidArgument("EyeLike cannot produce strings");
  ctx.setOutput(0, t, in);
  return Status::OK();
}

Status inferReverseSequence(InferContext& ctx) {
  if (ctx.inputType(1) != DType::kInt64)
    return InvalidArgument("ReverseSequence sequence_lens must be int64, not {}", dtypeName(ctx.inputType(1)));
  const Shape& in = ctx.inputShape(0);
  const int64_t ba = ctx.attrs().getInt("batch_axis"), ta = ctx.attrs().getInt("time_axis");
  if ((ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta)
    return InvalidArgument("ReverseSequence batch_axis ({}) and time_axis ({}) must be 0 and 1 in some order", ba, ta);
  if (in.rankKnown() && in.rank() < 2) return InvalidArgument("ReverseSequence input must have rank >= 2, has {}", in.rank());
  const Shape& lens = ctx.inputShape(1);
  if (lens.rankKnown() && lens.rank() != 1) return InvalidArgument("ReverseSequence sequence_lens must be 1-D");
  if (in.rankKnown() && lens.rankKnown() && in[static_cast<int>(ba)].isStatic() && lens[0].isStatic() &&
      in[static_cast<int>(ba)].value() != lens[0].value())
    return InvalidArgument("ReverseSequence sequence_lens has {} entries but the batch axis has {}", lens[0].value(),
                           in[static_cast<int>(ba)].value());
  ctx.setOutput(0, ctx.inputType(0), in);
  return Status::OK();
}

}  // namespace

void RegisterIndexingOps(OpRegistry& r) {
  r.add({.name = "Gather", .minInputs = 2, .maxInputs = 2, .attrs = {attrI("axis", 0)}, .infer = inferGather});
  r.add({.name = "GatherElements", .minOpset = 11, .minInputs = 2, .maxInputs = 2, .attrs = {attrI("axis", 0)},
         .infer = inferGatherElements});
  r.add({.name = "GatherND", .minOpset = 11, .minInputs = 2, .maxInputs = 2, .attrs = {attrI("batch_dims", 0)},
         .infer = inferGatherND});
  r.add({.name = "ScatterND", .minOpset = 11, .minInputs = 3, .maxInputs = 3, .attrs = {attrS("reduction", "none")},
         .infer = inferScatterND});
  r.add({.name = "ScatterElements", .minOpset = 11, .minInputs = 3, .maxInputs = 3,
         .attrs = {attrI("axis", 0), attrS("reduction", "none")}, .infer = inferScatterElements});
  // Opset 9-10 (deprecated in 11): ScatterElements without reduction; shares its kernel.
  r.add({.name = "Scatter", .minOpset = 9, .minInputs = 3, .maxInputs = 3, .attrs = {attrI("axis", 0)},
         .infer = inferScatterElements});
  r.add({.name = "NonZero", .minOpset = 9, .minInputs = 1, .maxInputs = 1, .traits = kTraitDataDependentShape,
         .infer = inferNonZero});
  r.add({.name = "Compress", .minOpset = 9, .minInputs = 2, .maxInputs = 2, .attrs = {attrOpt("axis", AttrKind::kInt)},
         .traits = kTraitDataDependentShape, .shapeInputs = {1}, .infer = inferCompress});
  r.add({.name = "OneHot", .minOpset = 9, .minInputs = 3, .maxInputs = 3, .attrs = {attrI("axis", -1)},
         .shapeInputs = {1}, .infer = inferOneHot});
  r.add({.name = "Trilu", .minOpset = 14, .minInputs = 1, .maxInputs = 2, .attrs = {attrI("upper", 1)},
         .infer = inferTrilu});
  r.add({.name = "EyeLike", .minOpset = 9, .minInputs = 1, .maxInputs = 1,
         .attrs = {attrOpt("dtype", AttrKind::kInt), attrI("k", 0)}, .infer = inferEyeLike});
  r.add({.name = "ReverseSequence", .minOpset = 10, .minInputs = 2, .maxInputs = 2,
         .attrs = {attrI("batch_axis", 1), attrI("time_axis", 0)}, .infer = inferReverseSequence});
}

}  // namespace kiln::ir
