// Data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice,
// Expand, Tile, Identity, Dropout, Cast, CastLike. Inference carries symbolic dims and, for small
// integer tensors, symbolic values (the shape arithmetic of exported models).
#include <algorithm>
#include <numeric>

#include "core/slice_util.h"
#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

// Moves a legacy ints attribute into input `index` (the canonical form since some opset).
void attrToInput(ImportContext& ctx, const char* attr, int index) {
  AttrMap& a = ctx.node().attrs();
  if (!a.has(attr)) return;
  std::vector<int64_t> v = a.getInts(attr);
  a.erase(attr);
  while (ctx.node().numInputs() < index) ctx.node().addInput(nullptr);
  ctx.setConstantInput(index, Tensor::fromVector<int64_t>(v, Dims{static_cast<int64_t>(v.size())}));
}

// Passes a symbolic value through ops that keep elements (Identity, Reshape, Squeeze...).
void forwardSymbolicValue(InferContext& ctx) {
  if (auto v = ctx.inputSymbolicValue(0)) ctx.setOutputSymbolicValue(0, std::move(*v));
}

Status inferReshape(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  const bool allowZero = ctx.attrs().getInt("allowzero") != 0;
  auto target = inputDims(ctx, 1);
  if (!target) {
    const Shape& ss = ctx.inputShape(1);
    if (ss.rankKnown() && ss.rank() == 1 && ss[0].isStatic())
      ctx.setOutput(0, ctx.inputType(0), unknownShape(static_cast<int>(ss[0].value())));
    else
      ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  if (target->size() > static_cast<size_t>(kMaxRank))
    return Unsupported("Reshape to rank {} exceeds Kiln's maximum {}", target->size(), kMaxRank);
  std::vector<Dim> out = *target;
  int inferIdx = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    Dim& d = out[i];
    if (!d.isStatic()) continue;
    if (d.value() == 0 && !allowZero) {
      if (!in.rankKnown()) {
        d = Dim::unknown();
      } else if (static_cast<int>(i) >= in.rank()) {
        return InvalidArgument("Reshape shape[{}] = 0 copies a dimension the input (rank {}) does not have", i, in.rank());
      } else {
        d = in[static_cast<int>(i)];
      }
    } else if (d.value() == -1) {
      if (inferIdx >= 0) return InvalidArgument("Reshape shape has more than one -1");
      inferIdx = static_cast<int>(i);
    } else if (d.value() < -1) {
      return InvalidArgument("Reshape shape has an invalid dimension {}", d.value());
    }
  }
  Dim known(1);
  for (size_t i = 0; i < out.size(); ++i)
    if (static_cast<int>(i) != inferIdx) known = known * out[i];
  Dim total = in.numelDim();
  if (inferIdx >= 0) {
    if (total.isStatic() && known.isStatic()) {
      if (known.value() == 0 || total.value() % known.value() != 0)
        return InvalidArgument("Reshape cannot infer -1: {} elements into {} (product {})", total.value(),
                               Shape(*target).toString(), known.value());
      out[inferIdx] = Dim(total.value() / known.value());
    } else if (known.isStatic() && known.value() == 1) {
      out[inferIdx] = total;
    } else {
      // Cancel a common symbolic factor: [B*S, 768] -> [B, -1, 768] style arithmetic stays exact
      // only when the product is identical; otherwise the dim is a fresh symbol.
      out[inferIdx] = total.isUnknown() || known.isUnknown() ? Dim::unknown() : Dim::floorDiv(total, known);
    }
  } else if (total.isStatic() && known.isStatic() && total.value() != known.value()) {
    return InvalidArgument("Reshape of {} ({} elements) to {} ({} elements)", in.toString(), total.value(),
                           Shape(out).toString(), known.value());
  }
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  forwardSymbolicValue(ctx);
  return Status::OK();
}

Status inferFlatten(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), unknownShape(2));
    return Status::OK();
  }
  int64_t axis = ctx.attrs().getInt("axis");
  if (axis < -in.rank() || axis > in.rank())
    return InvalidArgument("Flatten axis {} is out of range for rank {}", axis, in.rank());
  if (axis < 0) axis += in.rank();
  Dim a(1), b(1);
  for (int i = 0; i < in.rank(); ++i) (i < axis ? a : b) = (i < axis ? a : b) * in[i];
  ctx.setOutput(0, ctx.inputType(0), Shape({a, b}));
  return Status::OK();
}

Status inferSqueeze(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  std::vector<bool> drop(in.rank(), false);
  if (ctx.hasInput(1)) {
    auto axes = inputInts(ctx, 1);
    if (!axes) {
      ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
      return Status::OK();
    }
    KILN_ASSIGN_OR_RETURN(auto norm, normalizeAxes(*axes, in.rank()));
    for (int a : norm) {
      if (in[a].isStatic() && in[a].value() != 1)
        return InvalidArgument("Squeeze axis {} has size {}, not 1", a, in[a].value());
      drop[a] = true;
    }
  } else {
    for (int i = 0; i < in.rank(); ++i) {
      if (!in[i].isStatic()) {
        ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
        return Status::OK();
      }
      drop[i] = in[i].value() == 1;
    }
  }
  std::vector<Dim> out;
  for (int i = 0; i < in.rank(); ++i)
    if (!drop[i]) out.push_back(in[i]);
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  forwardSymbolicValue(ctx);
  return Status::OK();
}

Status inferUnsqueeze(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  auto axes = inputInts(ctx, 1);
  if (!axes || !in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  const int outRank = in.rank() + static_cast<int>(axes->size());
  if (outRank > kMaxRank) return Unsupported("Unsqueeze to rank {} exceeds Kiln's maximum {}", outRank, kMaxRank);
  KILN_ASSIGN_OR_RETURN(auto norm, normalizeAxes(*axes, outRank));
  std::vector<bool> isNew(outRank, false);
  for (int a : norm) isNew[a] = true;
  std::vector<Dim> out;
  int k = 0;
  for (int i = 0; i < outRank; ++i) out.push_back(isNew[i] ? Dim(1) : in[k++]);
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  forwardSymbolicValue(ctx);
  return Status::OK();
}

Status inferTranspose(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  std::vector<int64_t> perm = ctx.attrs().getInts("perm", {});
  if (perm.empty()) {
    for (int i = in.rank() - 1; i >= 0; --i) perm.push_back(i);
  }
  if (static_cast<int>(perm.size()) != in.rank())
    return InvalidArgument("Transpose perm has {} entries for rank {}", perm.size(), in.rank());
  KILN_ASSIGN_OR_RETURN(auto norm, normalizeAxes(perm, in.rank(), "perm"));
  std::vector<Dim> out;
  for (int p : norm) out.push_back(in[p]);
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  return Status::OK();
}

Status inferConcat(InferContext& ctx) {
  int rank = -1;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
    if (ctx.inputShape(i).rankKnown()) {
      if (rank >= 0 && ctx.inputShape(i).rank() != rank)
        return InvalidArgument("Concat inputs have different ranks ({} and {})", rank, ctx.inputShape(i).rank());
      rank = ctx.inputShape(i).rank();
    }
  }
  if (rank < 0) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  if (rank == 0) return InvalidArgument("Concat inputs must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), rank));
  std::vector<Dim> out(rank);
  bool first = true;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    const Shape& s = ctx.inputShape(i);
    if (!s.rankKnown()) {
      out[axis] = Dim::unknown();
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      if (d == axis) {
        out[d] = first ? s[d] : out[d] + s[d];
      } else if (first || out[d].isUnknown()) {
        out[d] = s[d];
      } else if (out[d].isStatic() && s[d].isStatic() && out[d].value() != s[d].value()) {
        return InvalidArgument("Concat input {} has shape {}: dim {} differs from the other inputs ({})", i,
                               s.toString(), d, out[d].value());
      } else if (!out[d].isStatic() && s[d].isStatic()) {
        out[d] = s[d];
      }
    }
    first = false;
  }
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  // Concatenation of shape vectors.
  if (rank == 1) {
    std::vector<Dim> v;
    for (int i = 0; i < ctx.numInputs(); ++i) {
      auto sv = ctx.inputSymbolicValue(i);
      if (!sv) return Status::OK();
      v.insert(v.end(), sv->begin(), sv->end());
    }
    ctx.setOutputSymbolicValue(0, std::move(v));
  }
  return Status::OK();
}

Status inferSplit(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  const int n = ctx.numOutputs();
  if (!in.rankKnown()) {
    for (int i = 0; i < n; ++i) ctx.setOutput(i, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), in.rank()));
  std::vector<Dim> sizes(n);
  const Dim& total = in[axis];
  if (ctx.hasInput(1)) {
    auto split = inputInts(ctx, 1);
    if (split) {
      if (static_cast<int>(split->size()) != n)
        return InvalidArgument("Split has {} sizes for {} outputs", split->size(), n);
      int64_t sum = 0;
      for (int i = 0; i < n; ++i) {
        if ((*split)[i] < 0) return InvalidArgument("Split size {} is negative", (*split)[i]);
        sizes[i] = Dim((*split)[i]);
        sum += (*split)[i];
      }
      if (total.isStatic() && sum != total.value())
        return InvalidArgument("Split sizes sum to {} but the axis has {}", sum, total.value());
    }
  } else if (total.isStatic()) {
    int64_t t = total.value();
    if (ctx.attrs().has("num_outputs")) {
      int64_t k = ctx.attrs().getInt("num_outputs");
      if (k != n) return InvalidArgument("Split num_outputs={} but the node has {} outputs", k, n);
      int64_t chunk = (t + n - 1) / n;  // the last chunk may be smaller
      for (int i = 0; i < n; ++i) sizes[i] = Dim(std::max<int64_t>(0, std::min(chunk, t - chunk * i)));
    } else {
      if (t % n != 0) return InvalidArgument("Split of {} elements into {} equal parts", t, n);
      for (int i = 0; i < n; ++i) sizes[i] = Dim(t / n);
    }
  }
  for (int i = 0; i < n; ++i) {
    Shape s = in;
    s[axis] = sizes[i];
    ctx.setOutput(i, ctx.inputType(0), std::move(s));
  }
  return Status::OK();
}

Status inferSlice(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  const int r = in.rank();
  auto starts = inputInts(ctx, 1), ends = inputInts(ctx, 2);
  std::optional<std::vector<int64_t>> axes, steps;
  if (ctx.hasInput(3)) axes = inputInts(ctx, 3);
  if (ctx.hasInput(4)) steps = inputInts(ctx, 4);
  if (!starts || !ends || (ctx.hasInput(3) && !axes) || (ctx.hasInput(4) && !steps)) {
    // Bounds from shape arithmetic (symbolic values), unit steps: the sliced length is an
    // expression. Symbolic bounds come from shape dims, so they are taken as non-negative.
    auto symStarts = ctx.inputSymbolicValue(1), symEnds = ctx.inputSymbolicValue(2);
    bool unitSteps = !ctx.hasInput(4) || (steps && std::all_of(steps->begin(), steps->end(), [](int64_t x) { return x == 1; }));
    if (symStarts && symEnds && symStarts->size() == symEnds->size() && unitSteps && (!ctx.hasInput(3) || axes)) {
      std::vector<int64_t> ax = axes ? *axes : std::vector<int64_t>(symStarts->size());
      if (!axes) std::iota(ax.begin(), ax.end(), 0);
      if (ax.size() == symStarts->size()) {
        KILN_ASSIGN_OR_RETURN(auto norm, normalizeAxes(ax, r));
        std::vector<Dim> out = in.dims();
        for (size_t i = 0; i < norm.size(); ++i) {
          const Dim& d = in[norm[i]];
          auto bound = [&](const Dim& v) -> Dim {
            if (v.isStatic() && v.value() < 0) return d.isStatic() ? Dim(std::max<int64_t>(0, v.value() + d.value())) : d + v;
            if (v.isStatic() && d.isStatic()) return Dim(std::min(v.value(), d.value()));
            if (v.isStatic() && v.value() >= (int64_t{1} << 31)) return d;
            return Dim::min(v, d);
          };
          Dim b = bound((*symStarts)[i]), e = bound((*symEnds)[i]);
          out[norm[i]] = b.isStatic() && b.value() == 0 ? e : Dim::max(e - b, Dim(0));
        }
        ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
        return Status::OK();
      }
    }
    // Unknown bounds: sliced axes are unknown; with unknown axes every dim may change.
    std::vector<Dim> out(r);
    if (axes) {
      out = in.dims();
      for (int64_t a : *axes) {
        KILN_ASSIGN_OR_RETURN(int n, normalizeAxis(a, r));
        out[n] = Dim::unknown();
      }
    }
    ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
    return Status::OK();
  }
  if (starts->size() != ends->size())
    return InvalidArgument("Slice starts ({}) and ends ({}) differ in length", starts->size(), ends->size());
  if (!axes) {
    axes.emplace(starts->size());
    std::iota(axes->begin(), axes->end(), 0);
  }
  if (!steps) steps = std::vector<int64_t>(starts->size(), 1);
  if (axes->size() != starts->size() || steps->size() != starts->size())
    return InvalidArgument("Slice axes/steps lengths differ from starts");
  KILN_ASSIGN_OR_RETURN(auto norm, normalizeAxes(*axes, r));
  std::vector<Dim> out = in.dims();
  std::vector<SliceAxis> resolved(starts->size());
  bool allStatic = true;
  for (size_t i = 0; i < norm.size(); ++i) {
    if ((*steps)[i] == 0) return InvalidArgument("Slice step must not be 0");
    const Dim& d = in[norm[i]];
    if (!d.isStatic()) {
      // Full-range slices of a symbolic dim keep it.
      if ((*steps)[i] == 1 && (*starts)[i] == 0 && (*ends)[i] >= (int64_t{1} << 31)) {
        allStatic = false;
        continue;
      }
      out[norm[i]] = Dim::unknown();
      allStatic = false;
      continue;
    }
    resolved[i] = resolveSlice((*starts)[i], (*ends)[i], (*steps)[i], d.value());
    out[norm[i]] = Dim(resolved[i].count);
  }
  ctx.setOutput(0, ctx.inputType(0), Shape(out));
  // Slicing a shape vector.
  if (r == 1 && allStatic) {
    if (auto sv = ctx.inputSymbolicValue(0)) {
      std::vector<Dim> v;
      for (int64_t k = 0; k < resolved[0].count; ++k) v.push_back((*sv)[resolved[0].start + k * resolved[0].step]);
      ctx.setOutputSymbolicValue(0, std::move(v));
    }
  }
  return Status::OK();
}

Status inferExpand(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  auto target = inputDims(ctx, 1);
  if (!target) {
    const Shape& ss = ctx.inputShape(1);
    if (ss.rankKnown() && ss.rank() == 1 && ss[0].isStatic() && in.rankKnown())
      ctx.setOutput(0, ctx.inputType(0), unknownShape(std::max<int>(in.rank(), static_cast<int>(ss[0].value()))));
    else
      ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  if (target->size() > static_cast<size_t>(kMaxRank))
    return Unsupported("Expand to rank {} exceeds Kiln's maximum {}", target->size(), kMaxRank);
  Shape out;
  KILN_RETURN_IF_ERROR(broadcastShapes(in, Shape(*target), &out));
  ctx.setOutput(0, ctx.inputType(0), std::move(out));
  return Status::OK();
}

Status inferTile(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  auto reps = inputInts(ctx, 1);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  if (!reps) {
    ctx.setOutput(0, ctx.inputType(0), unknownShape(in.rank()));
    return Status::OK();
  }
  if (static_cast<int>(reps->size()) != in.rank())
    return InvalidArgument("Tile repeats has {} entries for rank {}", reps->size(), in.rank());
  std::vector<Dim> out;
  for (int i = 0; i < in.rank(); ++i) {
    if ((*reps)[i] < 0) return InvalidArgument("Tile repeats must be >= 0 (got {})", (*reps)[i]);
    out.push_back(in[i] * Dim((*reps)[i]));
  }
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  return Status::OK();
}

Status checkCastTarget(int64_t to) {
  if (!isValidDType(static_cast<int>(to)))
    return Unsupported("Cast to ONNX element type {} is not supported", to);
  return Status::OK();
}

Status checkRoundMode(const InferContext& ctx) {
  const std::string& m = ctx.attrs().getString("round_mode");
  if (m != "up" && m != "down" && m != "nearest")
    return InvalidArgument("Cast round_mode must be 'up', 'down' or 'nearest', not '{}'", m);
  return Status::OK();
}

Status inferCast(InferContext& ctx) {
  int64_t to = ctx.attrs().getInt("to");
  KILN_RETURN_IF_ERROR(checkCastTarget(to));
  KILN_RETURN_IF_ERROR(checkRoundMode(ctx));
  DType t = static_cast<DType>(to);
  ctx.setOutput(0, t, ctx.inputShape(0));
  if (isInteger(t) && !isSubByte(t)) forwardSymbolicValue(ctx);  // 4/2-bit casts wrap dims
  return Status::OK();
}

}  // namespace

void RegisterTensorOps(OpRegistry& r) {
  r.add({.name = "Reshape", .minInputs = 2, .maxInputs = 2, .attrs = {attrI("allowzero", 0)},
         .traits = kTraitView, .shapeInputs = {1}, .infer = inferReshape,
         .import = [](ImportContext& ctx) -> Status {
           if (ctx.node().attrs().has("shape")) attrToInput(ctx, "shape", 1);  // opset < 5
           ctx.node().attrs().erase("consumed_inputs");
           return Status::OK();
         }});
  r.add({.name = "Flatten", .minInputs = 1, .maxInputs = 1, .attrs = {attrI("axis", 1)},
         .traits = kTraitView, .infer = inferFlatten});
  r.add({.name = "Squeeze", .minInputs = 1, .maxInputs = 2, .traits = kTraitView, .shapeInputs = {1},
         .infer = inferSqueeze,
         .import = [](ImportContext& ctx) -> Status {
           attrToInput(ctx, "axes", 1);
           return Status::OK();
         }});
  r.add({.name = "Unsqueeze", .minInputs = 1, .maxInputs = 2, .traits = kTraitView, .shapeInputs = {1},
         .infer = inferUnsqueeze,
         .import = [](ImportContext& ctx) -> Status {
           attrToInput(ctx, "axes", 1);
           if (ctx.node().numInputs() < 2) return InvalidArgument("Unsqueeze needs axes");
           return Status::OK();
         }});
  r.add({.name = "Transpose", .minInputs = 1, .maxInputs = 1, .attrs = {attrOpt("perm", AttrKind::kInts)},
         .infer = inferTranspose});
  r.add({.name = "Concat", .minInputs = 1, .maxInputs = -1, .attrs = {attrRequired("axis", AttrKind::kInt)},
         .infer = inferConcat,
         .import = [](ImportContext& ctx) -> Status {
           if (ctx.opset() < 4 && !ctx.node().attrs().has("axis")) ctx.node().attrs().set("axis", AttrValue(int64_t{1}));
           return Status::OK();
         }});
  r.add({.name = "Split", .minInputs = 1, .maxInputs = 2, .minOutputs = 1, .maxOutputs = -1,
         .attrs = {attrI("axis", 0), attrOpt("num_outputs", AttrKind::kInt)}, .shapeInputs = {1},
         .infer = inferSplit,
         .import = [](ImportContext& ctx) -> Status {
           attrToInput(ctx, "split", 1);  // opset < 13
           return Status::OK();
         }});
  r.add({.name = "Slice", .minInputs = 3, .maxInputs = 5, .shapeInputs = {1, 2, 3, 4},
         .infer = inferSlice,
         .import = [](ImportContext& ctx) -> Status {
           if (ctx.opset() >= 10) return Status::OK();
           // Opset < 10: starts/ends/axes attributes; no steps.
           AttrMap& a = ctx.node().attrs();
           if (!a.has("starts") || !a.has("ends")) return InvalidArgument("Slice needs starts and ends");
           attrToInput(ctx, "starts", 1);
           attrToInput(ctx, "ends", 2);
           attrToInput(ctx, "axes", 3);
           return Status::OK();
         }});
  r.add({.name = "Expand", .minInputs = 2, .maxInputs = 2, .shapeInputs = {1}, .infer = inferExpand});
  r.add({.name = "Tile", .minInputs = 2, .maxInputs = 2, .shapeInputs = {1}, .infer = inferTile,
         .import = [](ImportContext& ctx) -> Status {
           if (ctx.opset() < 6) return Unsupported("Tile before opset 6 (tiles/axis inputs) is not supported");
           return Status::OK();
         }});
  r.add({.name = "Identity", .minInputs = 1, .maxInputs = 1, .traits = kTraitView,
         .infer = [](InferContext& ctx) {
           ctx.setOutput(0, ctx.inputType(0), ctx.inputShape(0));
           forwardSymbolicValue(ctx);
           return Status::OK();
         }});
  r.add({.name = "Dropout", .minInputs = 1, .maxInputs = 3, .minOutputs = 1, .maxOutputs = 2,
         .attrs = {attrOpt("seed", AttrKind::kInt)},
         .infer = [](InferContext& ctx) -> Status {
           // ratio (input 1) must be a scalar in [0, 1) where training mode (input 2) uses it.
           auto ratio = ctx.hasInput(1) ? inputDoubles(ctx, 1) : std::nullopt;
           auto training = ctx.hasInput(2) ? inputInts(ctx, 2) : std::nullopt;
           if (ratio && ratio->size() != 1) return InvalidArgument("Dropout ratio must be a scalar, has {} values", ratio->size());
           if (ratio && training && training->size() == 1 && (*training)[0] && !((*ratio)[0] >= 0 && (*ratio)[0] < 1))
             return InvalidArgument("Dropout ratio must be in [0, 1) in training mode, got {}", (*ratio)[0]);
           ctx.setOutput(0, ctx.inputType(0), ctx.inputShape(0));
           ctx.setOutput(1, DType::kBool, ctx.inputShape(0));
           return Status::OK();
         },
         .import = [](ImportContext& ctx) -> Status {
           AttrMap& a = ctx.node().attrs();
           // Opset < 12: ratio is an attribute; < 7: is_test. Inference ignores both.
           a.erase("ratio");
           a.erase("is_test");
           a.erase("consumed_inputs");
           return Status::OK();
         }});
  r.add({.name = "Cast", .minInputs = 1, .maxInputs = 1,
         .attrs = {attrRequired("to", AttrKind::kInt), attrI("saturate", 1), attrS("round_mode", "up")},
         .infer = inferCast,
         .import = [](ImportContext& ctx) -> Status {
           AttrMap& a = ctx.node().attrs();
           if (const AttrValue* to = a.find("to"); to && to->kind() == AttrKind::kString) {
             // Opset 1-5 spelled `to` as a type name.
             static const std::pair<const char*, DType> kNames[] = {
                 {"FLOAT", DType::kFloat32}, {"DOUBLE", DType::kFloat64}, {"FLOAT16", DType::kFloat16},
                 {"INT8", DType::kInt8}, {"UINT8", DType::kUInt8}, {"INT16", DType::kInt16},
                 {"UINT16", DType::kUInt16}, {"INT32", DType::kInt32}, {"UINT32", DType::kUInt32},
                 {"INT64", DType::kInt64}, {"UINT64", DType::kUInt64}, {"BOOL", DType::kBool}};
              for (auto [n, t] : kNames)
               if (to->s() == n) {
                 a.set("to", AttrValue(static_cast<int64_t>(t)));
                 return Status::OK();
               }
             return Unsupported("Cast to '{}'", to->s());
           }
           return Status::OK();
         }});
  r.add({.name = "BitCast", .minOpset = 26, .minInputs = 1, .maxInputs = 1,
         .attrs = {attrRequired("to", AttrKind::kInt)}, .traits = kTraitView,
         .infer = [](InferContext& ctx) -> Status {
           int64_t to = ctx.attrs().getInt("to");
           KILN_RETURN_IF_ERROR(checkCastTarget(to));
           DType t = static_cast<DType>(to), from = ctx.inputType(0);
           if (t == DType::kString || from == DType::kString)
             return InvalidArgument("BitCast does not apply to strings");
           if (dtypeBits(t) != dtypeBits(from))
             return InvalidArgument("BitCast from {} to {} changes the element size ({} vs {} bits)",
                                    dtypeName(from), dtypeName(t), dtypeBits(from), dtypeBits(t));
           ctx.setOutput(0, t, ctx.inputShape(0));
           return Status::OK();
         }});
  r.add({.name = "CastLike", .minInputs = 2, .maxInputs = 2,
         .attrs = {attrI("saturate", 1), attrS("round_mode", "up")},
         .infer = [](InferContext& ctx) -> Status {
           KILN_RETURN_IF_ERROR(checkRoundMode(ctx));
           ctx.setOutput(0, ctx.inputType(1), ctx.inputShape(0));
           return Status::OK();
         }});
}

}  // namespace kiln::ir
