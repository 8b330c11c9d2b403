// Sequence and optional ops: SequenceEmpty/Construct/Insert/At/Erase/Length, SplitToSequence,
// ConcatFromSequence, Optional, OptionalHasElement, OptionalGetElement, and the sequence/optional
// form of Identity (declared with the tensor ops). Their values are sequences or optionals
// (Value::kind()); inference tracks the element type and the shape all elements share. They run
// in the interpreter only (value kernels); engines refuse them. SequenceMap needs subgraphs and is
// not supported (the importer refuses its body).
#include <optional>

#include "core/sequence_util.h"
#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

std::string kindName(const InferContext& ctx, int i) {
  return valueTypeName(ctx.inputKind(i), ctx.inputType(i));
}

Status expectSequence(const InferContext& ctx, int i) {
  if (ctx.inputKind(i) != ValueKind::kSequence)
    return InvalidArgument("input {} must be a sequence, not {}", i, kindName(ctx, i));
  return Status::OK();
}

Status expectTensor(const InferContext& ctx, int i) {
  if (ctx.inputKind(i) != ValueKind::kTensor)
    return InvalidArgument("input {} must be a tensor, not {}", i, kindName(ctx, i));
  return Status::OK();
}

void setOutputValue(InferContext& ctx, int i, ValueKind k, DType t, Shape s) {
  ctx.setOutputKind(i, k);
  ctx.setOutput(i, t, std::move(s));
}

// The shape that describes elements of shapes a and b (ONNX's UnionShapeInfo): dims both know
// equally stay, others become unknown; different ranks make the rank unknown.
Shape unionShape(const Shape& a, const Shape& b) {
  if (!a.rankKnown() || !b.rankKnown() || a.rank() != b.rank()) return Shape::unknownRank();
  std::vector<Dim> d(a.rank());
  for (int i = 0; i < a.rank(); ++i)
    if (a[i].sameAs(b[i])) d[i] = a[i];
  return Shape(std::move(d));
}

Status checkPosition(const InferContext& ctx, int i, const char* op) {
  if (!ctx.hasInput(i)) return Status::OK();
  KILN_RETURN_IF_ERROR(expectTensor(ctx, i));
  return checkSequencePositionType(ctx.inputType(i), ctx.inputShape(i), op);
}

Result<DType> dtypeAttr(int64_t v, const char* what) {
  if (v <= 0 || v > kMaxDTypeValue || !isValidDType(static_cast<int>(v)))
    return Unsupported("{} {} is not an element type Kiln has", what, v);
  return static_cast<DType>(v);
}

Status inferSequenceEmpty(InferContext& ctx) {
  DType t = DType::kFloat32;
  if (const AttrValue* a = ctx.attrs().find("dtype")) {
    KILN_ASSIGN_OR_RETURN(t, dtypeAttr(a->i(), "dtype"));
  }
  setOutputValue(ctx, 0, ValueKind::kSequence, t, Shape::unknownRank());
  return Status::OK();
}

Status inferSequenceConstruct(InferContext& ctx) {
  Shape s;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    if (!ctx.hasInput(i)) return InvalidArgument("input {} is empty; SequenceConstruct takes tensors", i);
    KILN_RETURN_IF_ERROR(expectTensor(ctx, i));
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
    s = i == 0 ? ctx.inputShape(0) : unionShape(s, ctx.inputShape(i));
  }
  setOutputValue(ctx, 0, ValueKind::kSequence, ctx.inputType(0), std::move(s));
  return Status::OK();
}

Status inferSequenceInsert(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectSequence(ctx, 0));
  KILN_RETURN_IF_ERROR(expectTensor(ctx, 1));
  if (ctx.inputType(0) != ctx.inputType(1))
    return InvalidArgument("the tensor ({}) must have the sequence's element type {}", dtypeName(ctx.inputType(1)),
                           dtypeName(ctx.inputType(0)));
  KILN_RETURN_IF_ERROR(checkPosition(ctx, 2, "SequenceInsert"));
  setOutputValue(ctx, 0, ValueKind::kSequence, ctx.inputType(0), unionShape(ctx.inputShape(0), ctx.inputShape(1)));
  return Status::OK();
}

Status inferSequenceAt(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectSequence(ctx, 0));
  KILN_RETURN_IF_ERROR(checkPosition(ctx, 1, "SequenceAt"));
  setOutputValue(ctx, 0, ValueKind::kTensor, ctx.inputType(0), ctx.inputShape(0));
  return Status::OK();
}

Status inferSequenceErase(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectSequence(ctx, 0));
  KILN_RETURN_IF_ERROR(checkPosition(ctx, 1, "SequenceErase"));
  setOutputValue(ctx, 0, ValueKind::kSequence, ctx.inputType(0), ctx.inputShape(0));
  return Status::OK();
}

Status inferSequenceLength(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectSequence(ctx, 0));
  setOutputValue(ctx, 0, ValueKind::kTensor, DType::kInt64, Shape{});
  return Status::OK();
}

Status inferSplitToSequence(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectTensor(ctx, 0));
  const DType t = ctx.inputType(0);
  const Shape& in = ctx.inputShape(0);
  const bool hasSplit = ctx.hasInput(1);
  if (hasSplit) {
    KILN_RETURN_IF_ERROR(expectTensor(ctx, 1));
    if (ctx.inputType(1) != DType::kInt32 && ctx.inputType(1) != DType::kInt64)
      return InvalidArgument("split must be int32 or int64, not {}", dtypeName(ctx.inputType(1)));
    if (ctx.rankKnown(1) && ctx.rankOf(1) > 1)
      return InvalidArgument("split must be a scalar or 1-D, not shape {}", ctx.inputShape(1).toString());
  }
  if (!in.rankKnown()) {
    setOutputValue(ctx, 0, ValueKind::kSequence, t, Shape::unknownRank());
    return Status::OK();
  }
  if (in.rank() == 0) return InvalidArgument("SplitToSequence cannot split a scalar");
  KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), in.rank()));
  std::vector<Dim> d = in.dims();
  if (!hasSplit) {
    if (ctx.attrs().getInt("keepdims") != 0) d[axis] = Dim(1);
    else d.erase(d.begin() + axis);
    setOutputValue(ctx, 0, ValueKind::kSequence, t, Shape(std::move(d)));
    return Status::OK();
  }
  // The chunk size when every chunk has the same (known) size; unknown otherwise.
  d[axis] = Dim();
  const Tensor* split = ctx.inputValue(1);
  if (split && in[axis].isStatic()) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lens, splitToSequenceLengths(split, in[axis].value()));
    bool same = !lens.empty();
    for (int64_t l : lens) same = same && l == lens[0];
    if (same) d[axis] = Dim(lens[0]);
  } else if (split && split->rank() == 1) {
    bool same = split->numel() > 0;
    for (int64_t i = 0; i < split->numel(); ++i) same = same && split->intAt(i) == split->intAt(0);
    if (same && split->intAt(0) >= 0) d[axis] = Dim(split->intAt(0));
  }
  setOutputValue(ctx, 0, ValueKind::kSequence, t, Shape(std::move(d)));
  return Status::OK();
}

Status inferConcatFromSequence(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectSequence(ctx, 0));
  const int64_t newAxis = ctx.attrs().getInt("new_axis");
  if (newAxis != 0 && newAxis != 1) return InvalidArgument("new_axis must be 0 or 1, got {}", newAxis);
  const Shape& el = ctx.inputShape(0);
  if (!el.rankKnown()) {
    setOutputValue(ctx, 0, ValueKind::kTensor, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  KILN_ASSIGN_OR_RETURN(int axis, concatFromSequenceAxis(ctx.attrs().getInt("axis"), newAxis, el.rank()));
  std::vector<Dim> d = el.dims();
  // The concatenated size depends on the sequence's length, which inference does not track.
  if (newAxis) d.insert(d.begin() + axis, Dim());
  else d[axis] = Dim();
  setOutputValue(ctx, 0, ValueKind::kTensor, ctx.inputType(0), Shape(std::move(d)));
  return Status::OK();
}

Status inferOptional(InferContext& ctx) {
  const AttrValue* typeAttr = ctx.attrs().find("type");
  ValueKind declKind = ValueKind::kTensor;
  DType declType = DType::kUndefined;
  if (typeAttr && !parseValueTypeName(typeAttr->s(), &declKind, &declType))
    return InvalidArgument("attribute 'type' ({}) is not a tensor or sequence type", typeAttr->s());
  if (typeAttr && isOptionalKind(declKind))
    return Unsupported("attribute 'type' is {}: optionals of optionals are not supported", typeAttr->s());
  if (!ctx.hasInput(0)) {
    if (!typeAttr) return InvalidArgument("Optional without an input needs the 'type' attribute");
    setOutputValue(ctx, 0, optionalKindOf(declKind), declType, Shape::unknownRank());
    return Status::OK();
  }
  const ValueKind k = ctx.inputKind(0);
  if (isOptionalKind(k)) return Unsupported("input 0 is {}: optionals of optionals are not supported", kindName(ctx, 0));
  if (typeAttr && (declKind != k || declType != ctx.inputType(0)))
    return InvalidArgument("input 0 is {} but attribute 'type' says {}", kindName(ctx, 0), typeAttr->s());
  setOutputValue(ctx, 0, optionalKindOf(k), ctx.inputType(0), ctx.inputShape(0));
  return Status::OK();
}

// Opset 18 let OptionalHasElement/OptionalGetElement take tensors and sequences too (and
// OptionalHasElement no input at all, meaning an empty optional).
Status checkOptionalInput(const InferContext& ctx) {
  if (ctx.opsetVersion() >= 18) return Status::OK();
  if (!ctx.hasInput(0)) return InvalidArgument("before opset 18 the input is required");
  if (!isOptionalKind(ctx.inputKind(0)))
    return InvalidArgument("before opset 18 the input must be an optional, not {}", kindName(ctx, 0));
  return Status::OK();
}

Status inferOptionalHasElement(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(checkOptionalInput(ctx));
  setOutputValue(ctx, 0, ValueKind::kTensor, DType::kBool, Shape{});
  return Status::OK();
}

Status inferOptionalGetElement(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(checkOptionalInput(ctx));
  setOutputValue(ctx, 0, optionalElementKind(ctx.inputKind(0)), ctx.inputType(0), ctx.inputShape(0));
  return Status::OK();
}

}  // namespace

void RegisterSequenceOps(OpRegistry& r) {
  constexpr uint32_t kSeq = kTraitNonTensor;
  r.add({.name = "SequenceEmpty", .minOpset = 11, .minInputs = 0, .maxInputs = 0,
         .attrs = {attrOpt("dtype", AttrKind::kInt)}, .traits = kSeq, .infer = inferSequenceEmpty});
  r.add({.name = "SequenceConstruct", .minOpset = 11, .minInputs = 1, .maxInputs = -1, .traits = kSeq,
         .infer = inferSequenceConstruct});
  r.add({.name = "SequenceInsert", .minOpset = 11, .minInputs = 2, .maxInputs = 3, .traits = kSeq,
         .infer = inferSequenceInsert});
  r.add({.name = "SequenceAt", .minOpset = 11, .minInputs = 2, .maxInputs = 2, .traits = kSeq,
         .infer = inferSequenceAt});
  r.add({.name = "SequenceErase", .minOpset = 11, .minInputs = 1, .maxInputs = 2, .traits = kSeq,
         .infer = inferSequenceErase});
  r.add({.name = "SequenceLength", .minOpset = 11, .minInputs = 1, .maxInputs = 1, .traits = kSeq,
         .infer = inferSequenceLength});
  r.add({.name = "SplitToSequence", .minOpset = 11, .minInputs = 1, .maxInputs = 2,
         .attrs = {attrI("axis", 0), attrI("keepdims", 1)}, .traits = kSeq, .shapeInputs = {1},
         .infer = inferSplitToSequence});
  r.add({.name = "ConcatFromSequence", .minOpset = 11, .minInputs = 1, .maxInputs = 1,
         .attrs = {attrRequired("axis", AttrKind::kInt), attrI("new_axis", 0)}, .traits = kSeq,
         .infer = inferConcatFromSequence});
  // `type` is a TYPE_PROTO attribute; the importer turns it into its type name ("float32",
  // "seq(int64)": core/value.h).
  r.add({.name = "Optional", .minOpset = 15, .minInputs = 0, .maxInputs = 1,
         .attrs = {attrOpt("type", AttrKind::kString)}, .traits = kSeq, .infer = inferOptional});
  r.add({.name = "OptionalHasElement", .minOpset = 15, .minInputs = 0, .maxInputs = 1, .traits = kSeq,
         .infer = inferOptionalHasElement});
  r.add({.name = "OptionalGetElement", .minOpset = 15, .minInputs = 1, .maxInputs = 1, .traits = kSeq,
         .infer = inferOptionalGetElement});

  // Identity (a tensor op) passes sequences (from opset 14) and optionals (from opset 16) through.
  OpDef& identity = r.mutableDef("", "Identity");
  identity.traits |= kSeq;
  identity.infer = [tensorInfer = identity.infer](InferContext& ctx) -> Status {
    const ValueKind k = ctx.inputKind(0);
    if (k == ValueKind::kTensor) return tensorInfer(ctx);
    const int since = isOptionalKind(k) ? 16 : 14;
    if (ctx.opsetVersion() < since)
      return InvalidArgument("Identity takes {} from opset {} on (the model imports opset {})",
                             isOptionalKind(k) ? "optionals" : "sequences", since, ctx.opsetVersion());
    setOutputValue(ctx, 0, k, ctx.inputType(0), ctx.inputShape(0));
    return Status::OK();
  };
}

}  // namespace kiln::ir
