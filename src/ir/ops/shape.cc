// Shape-producing ops: Shape, Size, Constant, ConstantOfShape, Range. Shape and Size publish
// symbolic values so that the shape arithmetic exported models do (Shape -> Gather -> Concat ->
// Reshape) resolves at build time even with dynamic dims.
#include <cmath>

#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

Status inferShape(InferContext& ctx) {
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, DType::kInt64, Shape({Dim::unknown()}));
    return Status::OK();
  }
  const int r = in.rank();
  auto clampIdx = [r](int64_t v) {
    if (v < 0) v += r;
    return std::clamp<int64_t>(v, 0, r);
  };
  int64_t start = clampIdx(ctx.attrs().getInt("start"));
  int64_t end = ctx.attrs().has("end") ? clampIdx(ctx.attrs().getInt("end")) : r;
  std::vector<Dim> v;
  for (int64_t i = start; i < end; ++i) v.push_back(in[static_cast<int>(i)]);
  ctx.setOutput(0, DType::kInt64, Shape({Dim(static_cast<int64_t>(v.size()))}));
  ctx.setOutputSymbolicValue(0, std::move(v));
  return Status::OK();
}

Status inferSize(InferContext& ctx) {
  ctx.setOutput(0, DType::kInt64, Shape());
  Dim n = ctx.inputShape(0).numelDim();
  ctx.setOutputSymbolicValue(0, {n});
  return Status::OK();
}

// Constant: the value comes from exactly one of its attributes. The import hook replaces the node
// by a constant value; inference exists for graphs built without the importer.
Result<Tensor> constantValue(const AttrMap& a) {
  int set = 0;
  for (const char* n : {"value", "value_float", "value_floats", "value_int", "value_ints",
                        "value_string", "value_strings", "sparse_value"})
    set += a.has(n);
  if (set != 1) return InvalidArgument("Constant needs exactly one value attribute (has {})", set);
  if (a.has("value")) return a.getTensor("value").clone();
  if (a.has("value_float")) return Tensor::scalar<float>(a.getFloat("value_float"));
  if (a.has("value_int")) return Tensor::scalar<int64_t>(a.getInt("value_int"));
  if (a.has("value_string")) {
    Tensor t = Tensor::allocate(DType::kString, Dims{});
    t.data<std::string>()[0] = a.getString("value_string");
    return t;
  }
  if (a.has("value_floats")) {
    const auto& v = a.getFloats("value_floats");
    return Tensor::fromVector<float>(v, Dims{static_cast<int64_t>(v.size())});
  }
  if (a.has("value_ints")) {
    const auto& v = a.getInts("value_ints");
    return Tensor::fromVector<int64_t>(v, Dims{static_cast<int64_t>(v.size())});
  }
  if (a.has("value_strings")) {
    const auto& v = a.getStrings("value_strings");
    Tensor t = Tensor::allocate(DType::kString, Dims{static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<std::string>()[i] = v[i];
    return t;
  }
  return Unsupported("Constant with a sparse value");
}

Status inferConstantOfShape(InferContext& ctx) {
  DType t = DType::kFloat32;
  if (ctx.attrs().has("value")) {
    const Tensor& v = ctx.attrs().getTensor("value");
    if (v.numel() != 1) return InvalidArgument("ConstantOfShape 'value' must have one element, has {}", v.numel());
    t = v.dtype();
  }
  if (ctx.inputType(0) != DType::kInt64)
    return InvalidArgument("ConstantOfShape input must be int64, is {}", dtypeName(ctx.inputType(0)));
  const Shape& in = ctx.inputShape(0);
  if (in.rankKnown() && in.rank() != 1)
    return InvalidArgument("ConstantOfShape input must be 1-D, has shape {}", in.toString());
  if (auto dims = inputDims(ctx, 0)) {
    for (const Dim& d : *dims)
      if (d.isStatic() && d.value() < 0) return InvalidArgument("ConstantOfShape dims must be >= 0 (got {})", d.value());
    if (dims->size() > kMaxRank) return Unsupported("ConstantOfShape rank {} exceeds {}", dims->size(), kMaxRank);
    ctx.setOutput(0, t, Shape(*dims));
    return Status::OK();
  }
  if (in.rankKnown() && in[0].isStatic()) {
    ctx.setOutput(0, t, unknownShape(static_cast<int>(in[0].value())));
  } else {
    ctx.setOutput(0, t, Shape::unknownRank());
  }
  return Status::OK();
}

// True for dims that cannot be negative: a known value >= 0, a symbol (dims are sizes), or a
// positive multiple of a product of symbols. Differences (S - k) may go below zero, where Range
// is empty rather than of negative length.
bool nonNegative(const Dim& d) {
  if (d.isStatic()) return d.value() >= 0;
  const DimExpr* e = d.expr();
  return e && (e->op == DimExpr::Op::kSymbol || (e->op == DimExpr::Op::kProduct && e->coef > 0));
}

Status inferRange(InferContext& ctx) {
  for (int i = 0; i < 3; ++i) {
    const Shape& s = ctx.inputShape(i);
    if (s.rankKnown() && s.rank() != 0 && !(s.rank() == 1 && s[0].isStatic() && s[0].value() == 1))
      return InvalidArgument("Range input {} must be a scalar, has shape {}", i, s.toString());
  }
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  auto start = inputDoubles(ctx, 0), limit = inputDoubles(ctx, 1), delta = inputDoubles(ctx, 2);
  if (start && limit && delta && !start->empty() && !limit->empty() && !delta->empty()) {
    double d = (*delta)[0];
    if (d == 0) return InvalidArgument("Range delta must not be 0");
    double n = std::ceil(((*limit)[0] - (*start)[0]) / d);
    int64_t count = std::max<int64_t>(0, static_cast<int64_t>(n));
    ctx.setOutput(0, ctx.inputType(0), Shape({Dim(count)}));
  } else if (auto lim = ctx.inputSymbolicValue(1);
             start && delta && start->size() == 1 && delta->size() == 1 && (*start)[0] == 0 && (*delta)[0] == 1 &&
             lim && lim->size() == 1 && nonNegative((*lim)[0])) {
    // arange(n) with n from shape arithmetic (PyTorch 2.x exports: Range(0, Squeeze(Shape(x)[1]),
    // 1) for position ids): its length is n itself, so dynamic dims stay shape-determined.
    ctx.setOutput(0, ctx.inputType(0), Shape({(*lim)[0]}));
  } else {
    ctx.setOutput(0, ctx.inputType(0), Shape({ctx.newSymbol("range_len")}));
  }
  return Status::OK();
}

}  // namespace

void RegisterShapeOps(OpRegistry& r) {
  r.add({.name = "Shape", .minInputs = 1, .maxInputs = 1,
         .attrs = {attrI("start", 0), attrOpt("end", AttrKind::kInt)},
         .traits = kTraitShapeOnly, .infer = inferShape});
  r.add({.name = "Size", .minInputs = 1, .maxInputs = 1, .traits = kTraitShapeOnly, .infer = inferSize});
  r.add({.name = "Constant", .minInputs = 0, .maxInputs = 0,
         .attrs = {attrOpt("value", AttrKind::kTensor), attrOpt("value_float", AttrKind::kFloat),
                   attrOpt("value_floats", AttrKind::kFloats), attrOpt("value_int", AttrKind::kInt),
                   attrOpt("value_ints", AttrKind::kInts), attrOpt("value_string", AttrKind::kString),
                   attrOpt("value_strings", AttrKind::kStrings)},
         .infer = [](InferContext& ctx) -> Status {
           KILN_ASSIGN_OR_RETURN(Tensor t, constantValue(ctx.attrs()));
           ctx.setOutput(0, t.dtype(), Shape(t.dims()));
           return Status::OK();
         },
         .import = [](ImportContext& ctx) -> Status {
           KILN_ASSIGN_OR_RETURN(Tensor t, constantValue(ctx.node().attrs()));
           ctx.replaceOutputWithConstant(0, std::move(t));
           return Status::OK();
         }});
  r.add({.name = "ConstantOfShape", .minInputs = 1, .maxInputs = 1,
         .attrs = {attrOpt("value", AttrKind::kTensor)}, .shapeInputs = {0},
         .infer = inferConstantOfShape});
  r.add({.name = "Range", .minInputs = 3, .maxInputs = 3, .shapeInputs = {0, 1, 2},
         .infer = inferRange});
}

}  // namespace kiln::ir
