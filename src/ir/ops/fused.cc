// Fused layers the optimizer creates (domain "kiln"). They are ordinary ops in the registry, so
// engines store, inspect and run them like any other layer.
//   FusedConv(X, W, B?, Z?):   Y = act(Conv(X, W) + B + Z)   (Z: residual, same shape as Y)
//   FusedMatMul(A, B, bias?):  Y = act(A @ B + bias)          (numpy MatMul batching; bias [N])
#include "core/activation.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

void RegisterElementwiseChainOp(OpRegistry& r);

namespace {

std::vector<AttrDef> activationAttrs() {
  return {attrS("activation", ""), attrF("activation_alpha", 0.0f), attrF("activation_beta", 0.0f)};
}

Status checkActivation(const AttrMap& a) {
  Activation act;
  if (!parseActivation(a.getString("activation"), &act))
    return InvalidArgument("unknown fused activation '{}'", a.getString("activation"));
  return Status::OK();
}

}  // namespace

void RegisterFusedOps(OpRegistry& r) {
  const OpDef* conv = r.find("", "Conv");
  const OpDef* matmul = r.find("", "MatMul");
  KILN_CHECK(conv && matmul);  // families register in order: fused layers reuse their inference

  OpDef fc;
  fc.domain = "kiln";
  fc.name = "FusedConv";
  fc.minInputs = 2;
  fc.maxInputs = 4;
  fc.attrs = conv->attrs;
  for (auto& a : activationAttrs()) fc.attrs.push_back(a);
  fc.infer = [convInfer = conv->infer](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(checkActivation(ctx.attrs()));
    KILN_RETURN_IF_ERROR(convInfer(ctx));
    if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 3));
    return Status::OK();
  };
  r.add(std::move(fc));

  OpDef fm;
  fm.domain = "kiln";
  fm.name = "FusedMatMul";
  fm.minInputs = 2;
  fm.maxInputs = 3;
  fm.attrs = activationAttrs();
  fm.infer = [mmInfer = matmul->infer](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(checkActivation(ctx.attrs()));
    KILN_RETURN_IF_ERROR(mmInfer(ctx));
    if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
    return Status::OK();
  };
  r.add(std::move(fm));
  RegisterElementwiseChainOp(r);
}

}  // namespace kiln::ir

namespace kiln::ir {

// ElementwiseChain(x, operands...): applies `ops` in order to x, elementwise, in one pass.
//   ops[i]        an element-wise op name: Relu, Sigmoid, ..., Add, Sub, Mul, Div, Pow, Max, Min,
//                 Cast (first position only: reads x in any numeric type)
//   operand[i]    -1 for a unary op, else the input index of the other operand (>= 1)
//   swapped[i]    1 if the other operand is the left side (c - y, c / y)
//   alpha[i]      the op's parameter (LeakyRelu slope, Clip min...), beta[i] likewise
// Other operands are scalars, tensors of the output's shape, or trailing-dims vectors
// (numel == product of the output's last dims).
void RegisterElementwiseChainOp(OpRegistry& r) {
  OpDef d;
  d.domain = "kiln";
  d.name = "ElementwiseChain";
  d.minInputs = 1;
  d.maxInputs = -1;
  d.attrs = {attrRequired("ops", AttrKind::kStrings), attrRequired("operand", AttrKind::kInts),
             attrRequired("swapped", AttrKind::kInts), attrFloats("alpha", {}), attrFloats("beta", {})};
  d.traits = kTraitElementwise;
  d.infer = [](InferContext& ctx) -> Status {
    const auto& ops = ctx.attrs().getStrings("ops");
    const auto& operand = ctx.attrs().getInts("operand");
    if (ops.empty() || operand.size() != ops.size() || ctx.attrs().getInts("swapped").size() != ops.size())
      return InvalidArgument("ElementwiseChain: ops, operand and swapped must have the same non-zero length");
    for (int64_t o : operand)
      if (o == 0 || o >= ctx.numInputs()) return InvalidArgument("ElementwiseChain: operand index {} is invalid", o);
    DType out = ops[0] == "Cast" ? DType::kFloat32 : ctx.inputType(0);
    ctx.setOutput(0, out, ctx.inputShape(0));
    return Status::OK();
  };
  r.add(std::move(d));
}

}  // namespace kiln::ir
