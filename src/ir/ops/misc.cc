// Misc ops: the losses NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, Det and Unique;
// RegisterMiscOps also registers the signal (misc_signal.cc) and vision (misc_vision.cc) ops.
#include "core/misc_select.h"
#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/misc_ops.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

bool knownDiffer(const Dim& a, const Dim& b) { return a.isStatic() && b.isStatic() && a.value() != b.value(); }

// ---- Losses -------------------------------------------------------------------------------------

InferFn inferLoss(const char* op, bool softmax) {
  return [op, softmax](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, op));
    KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt32, DType::kInt64}, op));
    if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
    const std::string& red = ctx.attrs().getString("reduction");
    if (red != "none" && red != "sum" && red != "mean")
      return InvalidArgument("{} reduction must be none, sum or mean, got '{}'", op, red);
    const Shape &x = ctx.inputShape(0), &t = ctx.inputShape(1);
    if (x.rankKnown() && x.rank() < 2)
      return InvalidArgument("{} input must have shape (N, C, ...), got {}", op, x.toString());
    if (x.rankKnown() && t.rankKnown()) {
      bool ok = t.rank() == x.rank() - 1 && !knownDiffer(t[0], x[0]);
      for (int i = 1; ok && i < t.rank(); ++i) ok = !knownDiffer(t[i], x[i + 1]);
      if (!ok)
        return InvalidArgument("{} target {} does not match input {} (expected (N, d1, ..., dk))", op, t.toString(),
                               x.toString());
    }
    if (ctx.hasInput(2) && ctx.rankKnown(2)) {
      const Shape& w = ctx.inputShape(2);
      if (w.rank() != 1 || (x.rankKnown() && knownDiffer(w[0], x[1])))
        return InvalidArgument("{} weight must have shape (C), got {} for input {}", op, w.toString(), x.toString());
    }
    Shape lossShape;  // scalar
    if (red == "none") {
      if (t.rankKnown()) {
        lossShape = t;
      } else if (x.rankKnown()) {
        lossShape = x;
        lossShape.dims().erase(lossShape.dims().begin() + 1);
      } else {
        lossShape = Shape::unknownRank();
      }
    }
    ctx.setOutput(0, ctx.inputType(0), std::move(lossShape));
    if (softmax) ctx.setOutput(1, ctx.inputType(0), x);
    return Status::OK();
  };
}

// ---- Det ----------------------------------------------------------------------------------------

Status inferDet(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "Det"));
  const Shape& x = ctx.inputShape(0);
  if (!x.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  if (x.rank() < 2 || knownDiffer(x[x.rank() - 1], x[x.rank() - 2]))
    return InvalidArgument("Det input must have shape (..., M, M), got {}", x.toString());
  ctx.setOutput(0, ctx.inputType(0), Shape(std::vector<Dim>(x.dims().begin(), x.dims().end() - 2)));
  return Status::OK();
}

// ---- Unique -------------------------------------------------------------------------------------

using UniqueTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                             int64_t, uint64_t, bool, std::string>;

Status inferUnique(InferContext& ctx) {
  const Shape& x = ctx.inputShape(0);
  const DType t = ctx.inputType(0);
  if (!dispatchType<UniqueTypes>(t, [](auto) {})) return Unsupported("Unique input type {} is not supported", dtypeName(t));
  const bool hasAxis = ctx.attrs().has("axis");
  int axis = 0;
  if (hasAxis && x.rankKnown()) {
    if (x.rank() == 0) return InvalidArgument("Unique with an axis needs an input of rank >= 1");
    KILN_ASSIGN_OR_RETURN(axis, normalizeAxis(ctx.attrs().getInt("axis"), x.rank()));
  }
  Dim items = hasAxis ? (x.rankKnown() ? x[axis] : Dim()) : x.numelDim();
  if (!x.rankKnown() && !hasAxis) items = Dim();
  Dim count;
  if (const Tensor* v = ctx.inputValue(0)) {
    const Dims& d = v->dims();
    int64_t outer = 1, n = v->numel(), inner = 1;
    if (hasAxis) {
      n = d[axis];
      for (int i = 0; i < axis; ++i) outer *= d[i];
      for (int i = axis + 1; i < d.rank(); ++i) inner *= d[i];
    }
    dispatchType<UniqueTypes>(t, [&](auto tag) {
      using T = typename decltype(tag)::type;
      count = static_cast<int64_t>(misc::computeUnique<T>(v->data<T>(), outer, n, inner, true).first.size());
    });
  } else {
    count = ctx.newSymbol("unique_count", items);
  }
  Shape y;
  if (!hasAxis) {
    y = Shape({count});
  } else if (x.rankKnown()) {
    y = x;
    y[axis] = count;
  } else {
    y = Shape::unknownRank();
  }
  ctx.setOutput(0, t, std::move(y));
  ctx.setOutput(1, DType::kInt64, Shape({count}));
  ctx.setOutput(2, DType::kInt64, Shape({items}));
  ctx.setOutput(3, DType::kInt64, Shape({count}));
  return Status::OK();
}

}  // namespace

void RegisterMiscOps(OpRegistry& r) {
  r.add({.name = "NegativeLogLikelihoodLoss", .minOpset = 12, .minInputs = 2, .maxInputs = 3,
         .attrs = {attrOpt("ignore_index", AttrKind::kInt), attrS("reduction", "mean")},
         .infer = inferLoss("NegativeLogLikelihoodLoss", false)});
  r.add({.name = "SoftmaxCrossEntropyLoss", .minOpset = 12, .minInputs = 2, .maxInputs = 3, .minOutputs = 1,
         .maxOutputs = 2, .attrs = {attrOpt("ignore_index", AttrKind::kInt), attrS("reduction", "mean")},
         .infer = inferLoss("SoftmaxCrossEntropyLoss", true)});
  r.add({.name = "Det", .minOpset = 11, .minInputs = 1, .maxInputs = 1, .infer = inferDet});
  r.add({.name = "Unique", .minOpset = 11, .minInputs = 1, .maxInputs = 1, .minOutputs = 1, .maxOutputs = 4,
         .attrs = {attrOpt("axis", AttrKind::kInt), attrI("sorted", 1)}, .traits = kTraitDataDependentShape,
         .shapeInputs = {0}, .infer = inferUnique});
  RegisterMiscSignalOps(r);
  RegisterMiscVisionOps(r);
}

}  // namespace kiln::ir
