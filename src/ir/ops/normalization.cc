// Normalization ops: BatchNormalization, InstanceNormalization, LayerNormalization,
// GroupNormalization, RMSNormalization, LpNormalization, MeanVarianceNormalization, LRN.
//
// Canonical forms (what kernels see):
// - BatchNormalization: `training_mode` (opset 14); the hook maps the older `is_test` (< 7) and
//   the output count (7..13) onto it and drops `spatial`/`consumed_inputs`. Before opset 9 the
//   parameters may be per activation ([C, D1, ...], spatial = 0): kernels accept either size.
// - GroupNormalization: scale/bias per channel (opset 21). Opset 18 gives them per group; the
//   hook expands constant ones; otherwise the kernel tells the forms apart by their size.
#include <algorithm>
#include <cstring>

#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

// Dims must be equal where both are static.
bool compatible(const Dim& a, const Dim& b) {
  return !(a.isStatic() && b.isStatic() && a.value() != b.value());
}

// Input i must be a 1-D tensor of `n` elements (n may be symbolic or unknown).
Status expectVector(const InferContext& ctx, int i, const Dim& n, std::string_view what) {
  const Shape& s = ctx.inputShape(i);
  if (!s.rankKnown()) return Status::OK();
  if (s.rank() != 1 || !compatible(s[0], n))
    return InvalidArgument("{} must have shape [{}], got {}", what, n.toString(), s.toString());
  return Status::OK();
}

// Input i must broadcast unidirectionally to `target`.
Status expectBroadcastsTo(const InferContext& ctx, int i, const Shape& target, std::string_view what) {
  const Shape& s = ctx.inputShape(i);
  if (!s.rankKnown() || !target.rankKnown()) return Status::OK();
  if (s.rank() > target.rank())
    return InvalidArgument("{} of shape {} does not broadcast to {}", what, s.toString(), target.toString());
  for (int k = 0; k < s.rank(); ++k) {
    const Dim& d = s[k];
    const Dim& t = target[k + target.rank() - s.rank()];
    if (d.isStatic() && d.value() != 1 && !compatible(d, t))
      return InvalidArgument("{} of shape {} does not broadcast to {}", what, s.toString(), target.toString());
  }
  return Status::OK();
}

Status expectFloat(const InferContext& ctx, int i, std::string_view op) {
  return expectType(ctx, i, kFloatTypes, op);
}

// The dtype that a stash_type attribute names (the precision of the statistics).
Result<DType> stashType(const InferContext& ctx) {
  int64_t v = ctx.attrs().getInt("stash_type");
  if (v == 1 || v == 10 || v == 11 || v == 16) return static_cast<DType>(v);
  return InvalidArgument("stash_type {} is not a float type (1, 10, 11 or 16)", v);
}

// X of shape [N, C, ...] with rank >= minRank; returns C.
Result<Dim> channels(const InferContext& ctx, std::string_view op, int minRank = 2) {
  const Shape& x = ctx.inputShape(0);
  if (!x.rankKnown()) return Dim();
  if (x.rank() < minRank)
    return InvalidArgument("{} input must have rank >= {} ([N, C, ...]), got {}", op, minRank, x.toString());
  return x[1];
}

// ---- BatchNormalization ---------------------------------------------------------------

Status inferBatchNorm(InferContext& ctx) {
  for (int i = 0; i < 5; ++i) KILN_RETURN_IF_ERROR(expectFloat(ctx, i, "BatchNormalization"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 1, 2));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 3, 4));
  KILN_ASSIGN_OR_RETURN(Dim c, channels(ctx, "BatchNormalization"));
  const Shape& x = ctx.inputShape(0);
  const bool training = ctx.attrs().getInt("training_mode") != 0;
  for (int i = 1; i < 5; ++i) {
    static const char* kNames[] = {"", "scale", "B", "input_mean", "input_var"};
    const Shape& s = ctx.inputShape(i);
    // Before opset 9 (spatial = 0) parameters may hold one value per activation: [C, D1, ...].
    bool perActivation = ctx.opsetVersion() < 9 && !training && s.rankKnown() && s.rank() > 1 &&
                         x.rankKnown() && s.rank() == x.rank() - 1;
    if (perActivation) {
      for (int k = 0; k < s.rank(); ++k)
        if (!compatible(s[k], x[k + 1]))
          return InvalidArgument("BatchNormalization {} of shape {} matches neither [C] nor X's {}", kNames[i],
                                 s.toString(), x.toString());
    } else {
      KILN_RETURN_IF_ERROR(expectVector(ctx, i, c, fmt::format("BatchNormalization {}", kNames[i])));
    }
  }
  if (!training && ctx.numOutputs() > 1)
    return InvalidArgument("BatchNormalization outputs running_mean/running_var exist only with training_mode = 1");
  ctx.setOutput(0, ctx.inputType(0), x);
  for (int i = 1; i < ctx.numOutputs() && i < 3; ++i) ctx.setOutput(i, ctx.inputType(3), Shape({c}));
  return Status::OK();
}

Status importBatchNorm(ImportContext& ctx) {
  AttrMap& a = ctx.node().attrs();
  a.erase("consumed_inputs");
  if (ctx.opset() >= 14) return Status::OK();
  bool training;
  if (ctx.opset() < 7) training = a.getInt("is_test", 0) == 0;
  else training = ctx.node().numOutputs() > 1;
  if (ctx.node().numOutputs() > 3)
    return Unsupported("the saved_mean/saved_var outputs of training-mode BatchNormalization (opset < 14) are not supported");
  if (training && a.getInt("spatial", 1) == 0)
    return Unsupported("training-mode BatchNormalization with spatial = 0 is not supported");
  a.erase("is_test");
  a.erase("spatial");
  a.set("training_mode", int64_t{training ? 1 : 0});
  return Status::OK();
}

// ---- Layer-style normalizations -------------------------------------------------------

// Output shape of Mean/InvStdDev: X's dims before `axis`, then 1s.
Shape statShape(const Shape& x, int axis) {
  std::vector<Dim> d;
  for (int i = 0; i < x.rank(); ++i) d.push_back(i < axis ? x[i] : Dim(1));
  return Shape(d);
}

Status inferLayerNorm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 0, "LayerNormalization"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  KILN_ASSIGN_OR_RETURN(DType stash, stashType(ctx));
  const Shape& x = ctx.inputShape(0);
  KILN_RETURN_IF_ERROR(expectBroadcastsTo(ctx, 1, x, "LayerNormalization Scale"));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectBroadcastsTo(ctx, 2, x, "LayerNormalization B"));
  ctx.setOutput(0, ctx.inputType(0), x);
  if (!x.rankKnown()) {
    for (int i = 1; i < ctx.numOutputs(); ++i) ctx.setOutput(i, stash, Shape::unknownRank());
    return Status::OK();
  }
  if (x.rank() == 0) return InvalidArgument("LayerNormalization needs an input of rank >= 1");
  KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), x.rank()));
  for (int i = 1; i < ctx.numOutputs(); ++i) ctx.setOutput(i, stash, statShape(x, axis));
  return Status::OK();
}

Status inferRMSNorm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 0, "RMSNormalization"));
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 1, "RMSNormalization"));
  KILN_RETURN_IF_ERROR(stashType(ctx).takeStatus());
  const Shape& x = ctx.inputShape(0);
  KILN_RETURN_IF_ERROR(expectBroadcastsTo(ctx, 1, x, "RMSNormalization scale"));
  if (x.rankKnown()) {
    if (x.rank() == 0) return InvalidArgument("RMSNormalization needs an input of rank >= 1");
    KILN_RETURN_IF_ERROR(normalizeAxis(ctx.attrs().getInt("axis"), x.rank()).takeStatus());
  }
  // Y has X's type, as ONNX's shape inference and reference implementation give it (the schema
  // names the scale's type V for Y, but nothing else follows that).
  ctx.setOutput(0, ctx.inputType(0), x);
  return Status::OK();
}

Status inferInstanceNorm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 0, "InstanceNormalization"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  KILN_ASSIGN_OR_RETURN(Dim c, channels(ctx, "InstanceNormalization"));
  KILN_RETURN_IF_ERROR(expectVector(ctx, 1, c, "InstanceNormalization scale"));
  KILN_RETURN_IF_ERROR(expectVector(ctx, 2, c, "InstanceNormalization B"));
  ctx.setOutput(0, ctx.inputType(0), ctx.inputShape(0));
  return Status::OK();
}

Status inferGroupNorm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 0, "GroupNormalization"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (ctx.attrs().has("stash_type")) KILN_RETURN_IF_ERROR(stashType(ctx).takeStatus());
  const int64_t g = ctx.attrs().getInt("num_groups");
  if (g <= 0) return InvalidArgument("GroupNormalization num_groups must be positive, got {}", g);
  KILN_ASSIGN_OR_RETURN(Dim c, channels(ctx, "GroupNormalization"));
  if (c.isStatic() && c.value() % g != 0)
    return InvalidArgument("GroupNormalization: {} channels do not split into {} groups", c.value(), g);
  for (int i = 1; i < 3; ++i) {
    const char* what = i == 1 ? "GroupNormalization scale" : "GroupNormalization bias";
    // Opset 18 gives one value per group; the canonical form one per channel.
    const Shape& s = ctx.inputShape(i);
    bool perGroup = ctx.opsetVersion() < 21 && s.rankKnown() && s.rank() == 1 && s[0].isStatic() &&
                    s[0].value() == g;
    if (!perGroup) KILN_RETURN_IF_ERROR(expectVector(ctx, i, c, what));
  }
  ctx.setOutput(0, ctx.inputType(0), ctx.inputShape(0));
  return Status::OK();
}

// Opset 18: expands per-group constant scale/bias to per channel.
Status importGroupNorm(ImportContext& ctx) {
  if (ctx.opset() >= 21) return Status::OK();
  Node& n = ctx.node();
  if (!n.attrs().has("num_groups")) return Status::OK();  // reported by the attribute check
  const int64_t g = n.attrs().getInt("num_groups");
  const Shape& x = n.input(0)->shape();
  if (g <= 0 || !x.rankKnown() || x.rank() < 2 || !x[1].isStatic()) return Status::OK();
  const int64_t c = x[1].value();
  if (c % g != 0 || c == g) return Status::OK();
  for (int i = 1; i < 3; ++i) {
    Value* v = n.input(i);
    if (!v || !v->isConstant() || v->constant().numel() != g || v->constant().rank() != 1) continue;
    const Tensor& src = v->constant();
    Tensor dst = Tensor::allocate(src.dtype(), Dims{c});
    const size_t es = dtypeSize(src.dtype());
    for (int64_t k = 0; k < c; ++k)
      std::memcpy(static_cast<char*>(dst.raw()) + k * es,
                  static_cast<const char*>(src.raw()) + (k / (c / g)) * es, es);
    ctx.setConstantInput(i, std::move(dst));
  }
  return Status::OK();
}

// ---- Others ---------------------------------------------------------------------------

Status inferLpNorm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 0, "LpNormalization"));
  const int64_t p = ctx.attrs().getInt("p");
  if (p != 1 && p != 2) return InvalidArgument("LpNormalization p must be 1 or 2, got {}", p);
  const Shape& x = ctx.inputShape(0);
  if (x.rankKnown()) KILN_RETURN_IF_ERROR(normalizeAxis(ctx.attrs().getInt("axis"), x.rank()).takeStatus());
  ctx.setOutput(0, ctx.inputType(0), x);
  return Status::OK();
}

Status inferMVN(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 0, "MeanVarianceNormalization"));
  const Shape& x = ctx.inputShape(0);
  if (x.rankKnown())
    KILN_RETURN_IF_ERROR(normalizeAxes(ctx.attrs().getInts("axes"), x.rank()).takeStatus());
  ctx.setOutput(0, ctx.inputType(0), x);
  return Status::OK();
}

Status inferLRN(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectFloat(ctx, 0, "LRN"));
  const int64_t size = ctx.attrs().getInt("size");
  if (size <= 0) return InvalidArgument("LRN size must be positive, got {}", size);
  KILN_RETURN_IF_ERROR(channels(ctx, "LRN").takeStatus());
  ctx.setOutput(0, ctx.inputType(0), ctx.inputShape(0));
  return Status::OK();
}

}  // namespace

void RegisterNormalizationOps(OpRegistry& r) {
  r.add({.name = "BatchNormalization", .minInputs = 5, .maxInputs = 5, .minOutputs = 1, .maxOutputs = 5,
         .attrs = {attrF("epsilon", 1e-5f), attrF("momentum", 0.9f), attrI("training_mode", 0)},
         .infer = inferBatchNorm, .import = importBatchNorm});
  r.add({.name = "InstanceNormalization", .minInputs = 3, .maxInputs = 3, .attrs = {attrF("epsilon", 1e-5f)},
         .infer = inferInstanceNorm,
         .import = [](ImportContext& ctx) -> Status {
           ctx.node().attrs().erase("consumed_inputs");  // opset 1: an in-place hint
           return Status::OK();
         }});
  r.add({.name = "LayerNormalization", .minOpset = 17, .minInputs = 2, .maxInputs = 3, .minOutputs = 1,
         .maxOutputs = 3, .attrs = {attrI("axis", -1), attrF("epsilon", 1e-5f), attrI("stash_type", 1)},
         .infer = inferLayerNorm});
  r.add({.name = "GroupNormalization", .minOpset = 18, .minInputs = 3, .maxInputs = 3,
         .attrs = {attrF("epsilon", 1e-5f), attrRequired("num_groups", AttrKind::kInt), attrI("stash_type", 1)},
         .infer = inferGroupNorm, .import = importGroupNorm});
  r.add({.name = "RMSNormalization", .minOpset = 23, .minInputs = 2, .maxInputs = 2,
         .attrs = {attrI("axis", -1), attrF("epsilon", 1e-5f), attrI("stash_type", 1)},
         .infer = inferRMSNorm});
  r.add({.name = "LpNormalization", .minInputs = 1, .maxInputs = 1, .attrs = {attrI("axis", -1), attrI("p", 2)},
         .infer = inferLpNorm});
  r.add({.name = "MeanVarianceNormalization", .minOpset = 9, .minInputs = 1, .maxInputs = 1,
         .attrs = {attrInts("axes", {0, 2, 3})}, .infer = inferMVN});
  r.add({.name = "LRN", .minInputs = 1, .maxInputs = 1,
         .attrs = {attrF("alpha", 1e-4f), attrF("beta", 0.75f), attrF("bias", 1.0f), attrRequired("size", AttrKind::kInt)},
         .infer = inferLRN});
}

}  // namespace kiln::ir
