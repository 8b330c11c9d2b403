// Reduction ops: Reduce{Mean,Sum,Max,Min,Prod,L1,L2,LogSum,LogSumExp,SumSquare}, ArgMax/ArgMin,
// CumSum/CumProd, Softmax/LogSoftmax/Hardmax and TopK.
//
// Canonical forms (what kernels see):
// - Reduce*: axes as the optional int64 input 1 (opset 18; ReduceSum 13); the import hook moves
//   the older `axes` attribute there.
// - Softmax/LogSoftmax/Hardmax: one axis (opset 13). Before opset 13 the input was coerced to 2-D
//   at `axis` (default 1); the hook rewrites that to the opset-13 form when both agree (the axis
//   is the last non-1 one) and otherwise sets `kiln_coerce_2d`, which makes the kernel normalize
//   over all axes from `axis` on.
// - TopK: K as input 1 (opset 10); the hook moves the opset-1 `k` attribute there.
#include <algorithm>

#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

const std::initializer_list<DType> kNumericTypes = {
    DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
    DType::kUInt8,   DType::kInt16,   DType::kUInt16,  DType::kInt32,    DType::kUInt32,
    DType::kInt64,   DType::kUInt64};
const std::initializer_list<DType> kNumericAndBoolTypes = {
    DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
    DType::kUInt8,   DType::kInt16,   DType::kUInt16,  DType::kInt32,    DType::kUInt32,
    DType::kInt64,   DType::kUInt64,  DType::kBool};

// Moves an ints attribute to a constant int64 input (1-D).
void intsAttrToInput(ImportContext& ctx, const char* attr, int index) {
  AttrMap& a = ctx.node().attrs();
  if (!a.has(attr)) return;
  const AttrValue* v = a.find(attr);
  std::vector<int64_t> vals =
      v->kind() == AttrKind::kInt ? std::vector<int64_t>{v->i()} : a.getInts(attr);
  a.erase(attr);
  while (ctx.node().numInputs() < index) ctx.node().addInput(nullptr);
  ctx.setConstantInput(index, Tensor::fromVector<int64_t>(vals, Dims{static_cast<int64_t>(vals.size())}));
}

// ---- Reduce* --------------------------------------------------------------------------

// Elements of a symbolic value reduced to one (Shape -> ReduceProd gives the element count).
std::optional<Dim> reduceSymbolic(const std::vector<Dim>& v, char op) {
  if (v.empty()) return std::nullopt;
  Dim acc = v[0];
  for (size_t i = 1; i < v.size(); ++i) {
    const Dim& d = v[i];
    switch (op) {
      case '*': acc = acc * d; break;
      case '+': acc = acc + d; break;
      default:
        if (!acc.isStatic() || !d.isStatic()) return std::nullopt;
        acc = op == '>' ? std::max(acc.value(), d.value()) : std::min(acc.value(), d.value());
    }
  }
  return acc;
}

InferFn inferReduce(const char* op, bool allowBool, char symbolicOp) {
  return [=](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, allowBool ? kNumericAndBoolTypes : kNumericTypes, op));
    const bool keep = ctx.attrs().getInt("keepdims") != 0;
    const bool noop = ctx.attrs().getInt("noop_with_empty_axes") != 0;
    const Shape& in = ctx.inputShape(0);
    const DType t = ctx.inputType(0);

    std::optional<std::vector<int64_t>> axes = std::vector<int64_t>{};
    if (ctx.hasInput(1)) {
      KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt64, DType::kInt32}, op));
      const Shape& as = ctx.inputShape(1);
      if (as.rankKnown() && as.rank() > 1)
        return InvalidArgument("{} axes must be a 1-D tensor, got shape {}", op, as.toString());
      axes = inputInts(ctx, 1);
      if (!axes && as.rankKnown() && as.rank() == 1 && as[0].isStatic() && as[0].value() == 0)
        axes = std::vector<int64_t>{};
    }
    if (!in.rankKnown()) {
      ctx.setOutput(0, t, Shape::unknownRank());
      return Status::OK();
    }
    const int rank = in.rank();
    if (!axes) {
      // Axes known only at run time: with keepdims the rank stays; otherwise it drops by their
      // count when the axes tensor's length is known.
      const Shape& as = ctx.inputShape(1);
      if (keep) {
        ctx.setOutput(0, t, unknownShape(rank));
      } else if (as.rankKnown() && as.rank() == 1 && as[0].isStatic() && as[0].value() <= rank) {
        ctx.setOutput(0, t, unknownShape(rank - static_cast<int>(as[0].value())));
      } else {
        ctx.setOutput(0, t, Shape::unknownRank());
      }
      return Status::OK();
    }
    std::vector<bool> reduced(rank, false);
    if (axes->empty()) {
      if (noop) {
        ctx.setOutput(0, t, in);
        if (auto v = ctx.inputSymbolicValue(0)) ctx.setOutputSymbolicValue(0, std::move(*v));
        return Status::OK();
      }
      reduced.assign(rank, true);
    } else {
      KILN_ASSIGN_OR_RETURN(std::vector<int> ax, normalizeAxes(*axes, rank, "axes"));
      for (int a : ax) reduced[a] = true;
    }
    std::vector<Dim> out;
    for (int i = 0; i < rank; ++i) {
      if (!reduced[i]) out.push_back(in[i]);
      else if (keep) out.push_back(Dim(1));
    }
    ctx.setOutput(0, t, Shape(out));
    // Shape arithmetic: a reduction of a whole 1-D symbolic value.
    if (symbolicOp && rank == 1 && reduced[0] && (t == DType::kInt64 || t == DType::kInt32)) {
      if (auto v = ctx.inputSymbolicValue(0))
        if (auto r = reduceSymbolic(*v, symbolicOp)) ctx.setOutputSymbolicValue(0, {*r});
    }
    return Status::OK();
  };
}

void addReduce(OpRegistry& r, const char* name, int axesInputSince, bool allowBool,
               char symbolicOp = 0) {
  r.add({.name = name, .minInputs = 1, .maxInputs = 2,
         .attrs = {attrI("keepdims", 1), attrI("noop_with_empty_axes", 0)},
         .traits = kTraitReduction, .shapeInputs = {1},
         .infer = inferReduce(name, allowBool, symbolicOp),
         .import = [axesInputSince](ImportContext& ctx) -> Status {
           if (ctx.opset() >= axesInputSince) return Status::OK();
           if (ctx.node().numInputs() > 1)
             return InvalidArgument("axes is an attribute before opset {}, not an input", axesInputSince);
           intsAttrToInput(ctx, "axes", 1);
           return Status::OK();
         }});
}

// ---- ArgMax / ArgMin ------------------------------------------------------------------

InferFn inferArg(const char* op) {
  return [op](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, kNumericTypes, op));
    const Shape& in = ctx.inputShape(0);
    if (!in.rankKnown()) {
      ctx.setOutput(0, DType::kInt64, Shape::unknownRank());
      return Status::OK();
    }
    KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), in.rank()));
    if (in.rank() > 0 && in[axis].isStatic() && in[axis].value() == 0) {
      bool mayBeEmpty = false;  // then the output is empty, or the kernel decides
      for (int i = 0; i < in.rank(); ++i) mayBeEmpty |= i != axis && !(in[i].isStatic() && in[i].value() > 0);
      if (!mayBeEmpty) return InvalidArgument("{} over axis {} of size 0 has no result", op, axis);
    }
    const bool keep = ctx.attrs().getInt("keepdims") != 0;
    std::vector<Dim> out;
    for (int i = 0; i < in.rank(); ++i) {
      if (i != axis) out.push_back(in[i]);
      else if (keep) out.push_back(Dim(1));
    }
    ctx.setOutput(0, DType::kInt64, Shape(out));
    return Status::OK();
  };
}

// ---- CumSum / CumProd -----------------------------------------------------------------

InferFn inferCumulative(const char* op) {
  return [op](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, kNumericTypes, op));
    KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt32, DType::kInt64}, op));
    const Shape& as = ctx.inputShape(1);
    if (as.rankKnown() && (as.rank() > 1 || (as.rank() == 1 && as[0].isStatic() && as[0].value() != 1)))
      return InvalidArgument("{} axis must be a scalar (or a 1-element 1-D tensor), got shape {}", op,
                             as.toString());
    const Shape& in = ctx.inputShape(0);
    if (auto axis = inputInts(ctx, 1); axis && in.rankKnown()) {
      if (axis->size() != 1) return InvalidArgument("{} axis must hold one value, got {}", op, axis->size());
      if (in.rank() == 0) return InvalidArgument("{} needs an input of rank >= 1", op);
      KILN_RETURN_IF_ERROR(normalizeAxis((*axis)[0], in.rank()).takeStatus());
    }
    ctx.setOutput(0, ctx.inputType(0), in);
    return Status::OK();
  };
}

// ---- Softmax / LogSoftmax / Hardmax ---------------------------------------------------

InferFn inferSoftmax(const char* op) {
  return [op](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, op));
    const Shape& in = ctx.inputShape(0);
    if (in.rankKnown()) {
      const int64_t axis = ctx.attrs().getInt("axis");
      if (ctx.attrs().getInt("kiln_coerce_2d") != 0) {
        // The 2-D coercion point may be the rank itself (a [N*...,1] matrix).
        if (axis < -in.rank() || axis > in.rank())
          return InvalidArgument("axis {} is out of range for rank {}", axis, in.rank());
      } else {
        KILN_RETURN_IF_ERROR(normalizeAxis(axis, in.rank()).takeStatus());
      }
    }
    ctx.setOutput(0, ctx.inputType(0), in);
    return Status::OK();
  };
}

Status importSoftmax(ImportContext& ctx) {
  if (ctx.opset() >= 13) return Status::OK();
  AttrMap& a = ctx.node().attrs();
  int64_t axis = a.getInt("axis", 1);
  const Shape& in = ctx.node().input(0)->shape();
  if (in.rankKnown()) {
    const int rank = in.rank();
    if (axis < -rank || axis > rank)
      return InvalidArgument("axis {} is out of range for rank {}", axis, rank);
    if (axis < 0) axis += rank;
    // Coercing at `axis` equals normalizing along `axis` when every later dim is 1.
    bool trailingOnes = axis < rank;
    for (int i = static_cast<int>(axis) + 1; i < rank && trailingOnes; ++i)
      trailingOnes = in[i].isStatic() && in[i].value() == 1;
    if (trailingOnes) {
      a.set("axis", axis);
      return Status::OK();
    }
  }
  a.set("axis", axis);
  a.set("kiln_coerce_2d", int64_t{1});
  return Status::OK();
}

void addSoftmax(OpRegistry& r, const char* name) {
  r.add({.name = name, .minInputs = 1, .maxInputs = 1,
         .attrs = {attrI("axis", -1), attrI("kiln_coerce_2d", 0)},
         .infer = inferSoftmax(name), .import = importSoftmax});
}

// ---- TopK -----------------------------------------------------------------------------

Status inferTopK(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kNumericTypes, "TopK"));
  if (!ctx.hasInput(1)) return InvalidArgument("TopK needs the K input");
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt64}, "TopK K"));
  const Shape& ks = ctx.inputShape(1);
  if (ks.rankKnown() && (ks.rank() > 1 || (ks.rank() == 1 && ks[0].isStatic() && ks[0].value() != 1)))
    return InvalidArgument("TopK K must be a 1-D tensor of one element, got shape {}", ks.toString());
  const Shape& in = ctx.inputShape(0);
  const DType t = ctx.inputType(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    ctx.setOutput(1, DType::kInt64, Shape::unknownRank());
    return Status::OK();
  }
  if (in.rank() == 0) return InvalidArgument("TopK needs an input of rank >= 1");
  KILN_ASSIGN_OR_RETURN(int axis, normalizeAxis(ctx.attrs().getInt("axis"), in.rank()));
  Dim k;
  if (auto kv = inputDims(ctx, 1)) {
    if (kv->size() != 1) return InvalidArgument("TopK K must hold one value, got {}", kv->size());
    k = (*kv)[0];
  }
  if (k.isStatic()) {
    if (k.value() < 0) return InvalidArgument("TopK K = {} is negative", k.value());
    if (in[axis].isStatic() && k.value() > in[axis].value())
      return InvalidArgument("TopK K = {} exceeds the size {} of axis {}", k.value(), in[axis].value(), axis);
  } else if (k.isUnknown()) {
    k = ctx.newSymbol("topk_k", in[axis]);  // K is read from its input's value: at most the axis
  }
  std::vector<Dim> out = in.dims();
  out[axis] = k;
  ctx.setOutput(0, t, Shape(out));
  ctx.setOutput(1, DType::kInt64, Shape(out));
  return Status::OK();
}

}  // namespace

void RegisterReductionOps(OpRegistry& r) {
  addReduce(r, "ReduceSum", 13, false, '+');
  addReduce(r, "ReduceMean", 18, false);
  addReduce(r, "ReduceMax", 18, true, '>');
  addReduce(r, "ReduceMin", 18, true, '<');
  addReduce(r, "ReduceProd", 18, false, '*');
  addReduce(r, "ReduceL1", 18, false);
  addReduce(r, "ReduceL2", 18, false);
  addReduce(r, "ReduceLogSum", 18, false);
  addReduce(r, "ReduceLogSumExp", 18, false);
  addReduce(r, "ReduceSumSquare", 18, false);

  for (const char* n : {"ArgMax", "ArgMin"})
    r.add({.name = n, .minInputs = 1, .maxInputs = 1,
           .attrs = {attrI("axis", 0), attrI("keepdims", 1), attrI("select_last_index", 0)},
           .traits = kTraitReduction, .infer = inferArg(n)});

  r.add({.name = "CumSum", .minOpset = 11, .minInputs = 2, .maxInputs = 2,
         .attrs = {attrI("exclusive", 0), attrI("reverse", 0)}, .infer = inferCumulative("CumSum")});
  r.add({.name = "CumProd", .minOpset = 26, .minInputs = 2, .maxInputs = 2,
         .attrs = {attrI("exclusive", 0), attrI("reverse", 0)}, .infer = inferCumulative("CumProd")});

  addSoftmax(r, "Softmax");
  addSoftmax(r, "LogSoftmax");
  addSoftmax(r, "Hardmax");

  r.add({.name = "TopK", .minInputs = 1, .maxInputs = 2, .minOutputs = 2, .maxOutputs = 2,
         .attrs = {attrI("axis", -1), attrI("largest", 1), attrI("sorted", 1)},
         .shapeInputs = {1}, .infer = inferTopK,
         .import = [](ImportContext& ctx) -> Status {
           AttrMap& a = ctx.node().attrs();
           if (ctx.opset() >= 10) {
             if (ctx.node().numInputs() < 2) return InvalidArgument("TopK needs the K input from opset 10 on");
             return Status::OK();
           }
           if (!a.has("k")) return InvalidArgument("TopK (opset < 10) needs the 'k' attribute");
           if (ctx.node().numInputs() > 1) return InvalidArgument("K is an attribute before opset 10, not an input");
           intsAttrToInput(ctx, "k", 1);
           return Status::OK();
         }});
}

}  // namespace kiln::ir
