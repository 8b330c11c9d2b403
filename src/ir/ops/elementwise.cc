// Element-wise ops: unary math and activations, binary arithmetic/logic/comparison with
// broadcasting, variadic Sum/Mean/Min/Max, Where, Clip, PRelu.
#include <limits>
#include <optional>

#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

InferFn inferUnaryFloat(const char* op) {
  return [op](InferContext& ctx) {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, op));
    ctx.setOutput(0, ctx.inputType(0), ctx.inputShape(0));
    return Status::OK();
  };
}

// Symbolic values flow through integer arithmetic (shape math like batch*seq).
InferFn inferArith(char op) {
  return [op](InferContext& ctx) {
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
    KILN_RETURN_IF_ERROR(inferBroadcast()(ctx));
    auto a = ctx.inputSymbolicValue(0), b = ctx.inputSymbolicValue(1);
    if (a && b && ctx.inputType(0) == DType::kInt64 && ctx.rankOf(0) <= 1 && ctx.rankOf(1) <= 1 &&
        (a->size() == b->size() || a->size() == 1 || b->size() == 1)) {
      size_t n = std::max(a->size(), b->size());
      std::vector<Dim> r;
      for (size_t i = 0; i < n; ++i) {
        const Dim& x = (*a)[a->size() == 1 ? 0 : i];
        const Dim& y = (*b)[b->size() == 1 ? 0 : i];
        switch (op) {
          case '+': r.push_back(x + y); break;
          case '-': r.push_back(x - y); break;
          case '*': r.push_back(x * y); break;
          default: r.push_back(Dim::floorDiv(x, y)); break;  // positive shape values
        }
      }
      ctx.setOutputSymbolicValue(0, std::move(r));
    }
    return Status::OK();
  };
}

InferFn inferVariadic() {
  return [](InferContext& ctx) {
    for (int i = 1; i < ctx.numInputs(); ++i) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
    return inferBroadcast()(ctx);
  };
}

InferFn inferCompare() {
  return [](InferContext& ctx) {
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
    return inferBroadcastTo(DType::kBool)(ctx);
  };
}

void addUnaryFloat(OpRegistry& r, const char* name, std::vector<AttrDef> attrs = {}, int since = 1) {
  r.add({.name = name, .minOpset = since, .minInputs = 1, .maxInputs = 1, .attrs = std::move(attrs),
         .traits = kTraitElementwise, .infer = inferUnaryFloat(name)});
}

void addUnaryAny(OpRegistry& r, const char* name, std::vector<AttrDef> attrs = {}) {
  r.add({.name = name, .minInputs = 1, .maxInputs = 1, .attrs = std::move(attrs),
         .traits = kTraitElementwise, .infer = inferSameAsInput()});
}

}  // namespace

void RegisterElementwiseOps(OpRegistry& r) {
  for (const char* n : {"Sqrt", "Exp", "Log", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh",
                        "Cosh", "Asinh", "Acosh", "Atanh", "Sigmoid", "Tanh", "Reciprocal",
                        "Softplus", "Softsign", "Mish", "Floor", "Ceil", "Round"})
    addUnaryFloat(r, n);
  addUnaryFloat(r, "Erf");
  addUnaryFloat(r, "Elu", {attrF("alpha", 1.0f)});
  addUnaryFloat(r, "Celu", {attrF("alpha", 1.0f)});
  addUnaryFloat(r, "Selu", {attrF("alpha", 1.67326319217681884765625f),
                            attrF("gamma", 1.05070102214813232421875f)});
  addUnaryFloat(r, "HardSigmoid", {attrF("alpha", 0.2f), attrF("beta", 0.5f)});
  addUnaryFloat(r, "HardSwish");
  addUnaryFloat(r, "ThresholdedRelu", {attrF("alpha", 1.0f)});
  addUnaryFloat(r, "Swish", {attrF("alpha", 1.0f)});
  addUnaryFloat(r, "Gelu", {attrS("approximate", "none")});
  r.add({.name = "LeakyRelu", .minInputs = 1, .maxInputs = 1, .attrs = {attrF("alpha", 0.01f)},
         .traits = kTraitElementwise, .infer = inferUnaryFloat("LeakyRelu")});

  addUnaryAny(r, "Abs");
  addUnaryAny(r, "Neg");
  addUnaryAny(r, "Sign");
  addUnaryAny(r, "Relu");
  addUnaryAny(r, "Shrink", {attrF("bias", 0.0f), attrF("lambd", 0.5f)});
  addUnaryAny(r, "BitwiseNot");
  r.add({.name = "Not", .minInputs = 1, .maxInputs = 1, .traits = kTraitElementwise,
         .infer = [](InferContext& ctx) {
           KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kBool}, "Not"));
           return inferSameAsInput()(ctx);
         }});
  r.add({.name = "IsNaN", .minInputs = 1, .maxInputs = 1, .traits = kTraitElementwise,
         .infer = inferSameShapeAs(0, DType::kBool)});
  r.add({.name = "IsInf", .minInputs = 1, .maxInputs = 1,
         .attrs = {attrI("detect_negative", 1), attrI("detect_positive", 1)},
         .traits = kTraitElementwise, .infer = inferSameShapeAs(0, DType::kBool)});

  // Binary arithmetic. Pre-opset-7 broadcasting attributes are refused (no exporter writes them).
  // Opset < 7 binary ops broadcast only B, and only with broadcast=1; `axis` aligns B's dims at
  // that axis of A instead of at the end. Rewritten to numpy broadcasting by appending size-1
  // axes to B.
  auto legacyBroadcast = [](ImportContext& ctx) -> Status {
    AttrMap& a = ctx.node().attrs();
    a.erase("consumed_inputs");  // opset < 6 memory-planning hint
    bool broadcast = a.getInt("broadcast", 0) != 0;
    std::optional<int64_t> axis;
    if (a.has("axis")) axis = a.getInt("axis");
    a.erase("broadcast");
    a.erase("axis");
    if (!broadcast || !axis) return Status::OK();
    Value* A = ctx.node().input(0);
    Value* B = ctx.node().input(1);
    if (!A || !B || !A->shape().rankKnown() || !B->shape().rankKnown())
      return Unsupported("legacy broadcasting with 'axis' needs inputs of known rank");
    int ra = A->shape().rank(), rb = B->shape().rank();
    int64_t ax = *axis < 0 ? *axis + ra : *axis;
    if (ax < 0 || ax + rb > ra) return InvalidArgument("legacy broadcast axis {} does not fit ranks {} and {}", *axis, ra, rb);
    int trailing = static_cast<int>(ra - ax - rb);
    if (trailing == 0) return Status::OK();
    std::vector<int64_t> axes;
    for (int i = 0; i < trailing; ++i) axes.push_back(rb + i);
    Value* axesV = ctx.graph().addConstant(ctx.node().name() + "_axes",
                                           Tensor::fromVector<int64_t>(axes, Dims{static_cast<int64_t>(axes.size())}));
    KILN_ASSIGN_OR_RETURN(Node * unsq, ctx.addNode("Unsqueeze", {B, axesV}, {}));
    ctx.node().setInput(1, unsq->output(0));
    return Status::OK();
  };
  const std::pair<const char*, char> arith[] = {{"Add", '+'}, {"Sub", '-'}, {"Mul", '*'}, {"Div", '/'}};
  for (auto [n, op] : arith) {
    r.add({.name = n, .minInputs = 2, .maxInputs = 2,
           .traits = kTraitElementwise | kTraitBroadcast |
                     ((op == '+' || op == '*') ? kTraitCommutative : kTraitNone),
           .infer = inferArith(op), .import = legacyBroadcast});
  }
  r.add({.name = "Pow", .minInputs = 2, .maxInputs = 2,
         .traits = kTraitElementwise | kTraitBroadcast, .infer = inferBroadcast(), .import = legacyBroadcast});
  r.add({.name = "Mod", .minInputs = 2, .maxInputs = 2, .attrs = {attrI("fmod", 0)},
         .traits = kTraitElementwise | kTraitBroadcast, .infer = inferVariadic()});
  for (const char* n : {"BitwiseAnd", "BitwiseOr", "BitwiseXor"})
    r.add({.name = n, .minInputs = 2, .maxInputs = 2,
           .traits = kTraitElementwise | kTraitBroadcast | kTraitCommutative, .infer = inferVariadic()});
  r.add({.name = "BitShift", .minInputs = 2, .maxInputs = 2,
         .attrs = {attrRequired("direction", AttrKind::kString)},
         .traits = kTraitElementwise | kTraitBroadcast, .infer = inferVariadic()});
  for (const char* n : {"And", "Or", "Xor"})
    r.add({.name = n, .minInputs = 2, .maxInputs = 2,
           .traits = kTraitElementwise | kTraitBroadcast | kTraitCommutative,
           .infer = [n](InferContext& ctx) {
             KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kBool}, n));
             KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
             return inferBroadcastTo(DType::kBool)(ctx);
           },
           .import = legacyBroadcast});
  for (const char* n : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    r.add({.name = n, .minInputs = 2, .maxInputs = 2, .traits = kTraitElementwise | kTraitBroadcast,
           .infer = inferCompare(), .import = legacyBroadcast});

  for (const char* n : {"Sum", "Mean", "Min", "Max"})
    r.add({.name = n, .minInputs = 1, .maxInputs = -1,
           .traits = kTraitElementwise | kTraitBroadcast | kTraitCommutative, .infer = inferVariadic(),
           .import = legacyBroadcast});

  r.add({.name = "Where", .minInputs = 3, .maxInputs = 3, .traits = kTraitElementwise | kTraitBroadcast,
         .infer = [](InferContext& ctx) {
           KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kBool}, "Where condition"));
           KILN_RETURN_IF_ERROR(expectSameType(ctx, 1, 2));
           Shape a, b;
           KILN_RETURN_IF_ERROR(broadcastShapes(ctx.inputShape(0), ctx.inputShape(1), &a));
           KILN_RETURN_IF_ERROR(broadcastShapes(a, ctx.inputShape(2), &b));
           ctx.setOutput(0, ctx.inputType(1), std::move(b));
           return Status::OK();
         }});

  r.add({.name = "PRelu", .minInputs = 2, .maxInputs = 2, .traits = kTraitElementwise,
         .infer = [](InferContext& ctx) {
           KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
           Shape s;  // the slope broadcasts to X (unidirectionally)
           KILN_RETURN_IF_ERROR(broadcastShapes(ctx.inputShape(0), ctx.inputShape(1), &s));
           ctx.setOutput(0, ctx.inputType(0), ctx.inputShape(0));
           return Status::OK();
         },
         .import = [legacyBroadcast](ImportContext& ctx) -> Status {
           KILN_RETURN_IF_ERROR(legacyBroadcast(ctx));
           // Opset < 7: a 1-D slope is per channel (axis 1); make it [C,1,...,1] so the
           // canonical numpy broadcasting gives the same result.
           Value* x = ctx.node().input(0);
           Value* slope = ctx.node().input(1);
           if (ctx.opset() < 7 && slope->isConstant() && slope->constant().rank() == 1 &&
               slope->constant().numel() > 1 && x->shape().rankKnown() && x->shape().rank() > 2) {
             Dims d = Dims::filled(x->shape().rank() - 1, 1);
             d[0] = slope->constant().numel();
             ctx.setConstantInput(1, slope->constant().clone().reshaped(d));
           }
           return Status::OK();
         }});

  // Clip: opset < 11 takes min/max as attributes; canonical form has them as optional inputs.
  r.add({.name = "Clip", .minInputs = 1, .maxInputs = 3, .traits = kTraitElementwise,
         .infer = [](InferContext& ctx) {
           for (int i = 1; i < 3; ++i)
             if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
           return inferSameAsInput()(ctx);
         },
         .import = [](ImportContext& ctx) -> Status {
           AttrMap& a = ctx.node().attrs();
           if (ctx.opset() >= 11) return Status::OK();
           DType t = ctx.node().input(0)->dtype();
           auto bound = [&](const char* name, float dflt) {
             float v = a.getFloat(name, dflt);
             Tensor s = Tensor::allocate(t, Dims{});
             dispatchType<FloatTypes>(t, [&](auto tag) {
               using T = typename decltype(tag)::type;
               *s.data<T>() = convertValue<T>(v);
             });
             return s;
           };
           ctx.setConstantInput(1, bound("min", -std::numeric_limits<float>::infinity()));
           ctx.setConstantInput(2, bound("max", std::numeric_limits<float>::infinity()));
           a.erase("min");
           a.erase("max");
           return Status::OK();
         }});
}

}  // namespace kiln::ir
