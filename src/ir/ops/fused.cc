// Fused layers the optimizer creates (domain "kiln"). They are ordinary ops in the registry, so
// engines store, inspect and run them like any other layer.
//   FusedConv(X, W, B?, Z?):   Y = act(Conv(X, W) + B + Z)   (Z: residual, same shape as Y)
//   FusedMatMul(A, B, bias?, R?):  Y = act(A @ B + bias + R)  (numpy MatMul batching; bias [N];
//                                  R: residual, same shape as Y)
//   MatMulLayerNorm(A, B, bias?, R?, scale, beta?):
//                                  Y = LayerNorm(A @ B + bias + R) * scale + beta over the last axis
//   EmbedLayerNorm(ids0, table0, gamma, beta?, ids1?, table1?, addend?):
//                                  Y = LayerNorm(table0[ids0] + table1[ids1] + addend) * gamma + beta
//                                  over the last axis (BERT's embeddings: word and token-type
//                                  gathers plus position embeddings, then LayerNorm, in one pass)
//   PackedAttention(QKV, mask?):   ONNX Attention (3-D form, its attributes) on Q, K, V given as the
//                                  column blocks [Hq*D | Hkv*D | Hkv*D] of QKV [B, S, (Hq+2Hkv)*D]
//   QkvAttention(X, W, bias?, mask?):
//                                  PackedAttention(X @ W + bias, mask): the projection and the
//                                  attention in one layer (X [B, S, K], W [K, (Hq+2Hkv)*D], bias
//                                  [(Hq+2Hkv)*D]), so a kernel may keep Q, K and V on chip
#include "core/activation.h"
#include "core/layout.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

void RegisterElementwiseChainOp(OpRegistry& r);

namespace {

// q_num_heads and kv_num_heads of a packed attention layer: positive, the first a multiple of the
// second.
Status packedHeads(const InferContext& ctx, const char* op, int64_t* hq, int64_t* hkv) {
  const AttrMap& a = ctx.attrs();
  *hq = a.has("q_num_heads") ? a.getInt("q_num_heads") : 0;
  *hkv = a.has("kv_num_heads") ? a.getInt("kv_num_heads") : 0;
  if (*hq <= 0 || *hkv <= 0 || *hq % *hkv != 0)
    return InvalidArgument("{} needs q_num_heads a positive multiple of kv_num_heads (got {}, {})", op, *hq, *hkv);
  return Status::OK();
}

// Presents a channels-last layer's inputs (the listed indices) to an ONNX op's inference as
// channels-first, and turns its output 0 back to channels-last.
class ChannelsLastContext final : public InferContext {
 public:
  ChannelsLastContext(InferContext& inner, std::vector<int> clInputs) : in_(inner), cl_(std::move(clInputs)) {
    shapes_.resize(inner.numInputs());
    for (int i = 0; i < inner.numInputs(); ++i)
      if (inner.hasInput(i)) shapes_[i] = isCl(i) ? channelsFirstShape(inner.inputShape(i)) : inner.inputShape(i);
  }
  int numInputs() const override { return in_.numInputs(); }
  bool hasInput(int i) const override { return in_.hasInput(i); }
  DType inputType(int i) const override { return in_.inputType(i); }
  const Shape& inputShape(int i) const override { return shapes_[i]; }
  const Tensor* inputValue(int i) const override { return isCl(i) ? nullptr : in_.inputValue(i); }
  const AttrMap& attrs() const override { return in_.attrs(); }
  int opsetVersion() const override { return in_.opsetVersion(); }
  int numOutputs() const override { return in_.numOutputs(); }
  void setOutput(int i, DType t, Shape s) override { in_.setOutput(i, t, i == 0 ? channelsLastShape(s) : s); }
  Dim newSymbol(const std::string& hint, const Dim& bound) override { return in_.newSymbol(hint, bound); }
  bool concrete() const override { return in_.concrete(); }

 private:
  bool isCl(int i) const { return std::find(cl_.begin(), cl_.end(), i) != cl_.end(); }
  InferContext& in_;
  std::vector<int> cl_;
  std::vector<Shape> shapes_;
};

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
  // channels_last = 1: X, Z and Y are [N, spatial..., C] (W stays [M, C/group, k...]).
  fc.attrs.push_back(attrI("channels_last", 0));
  fc.infer = [convInfer = conv->infer](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(checkActivation(ctx.attrs()));
    if (ctx.attrs().getInt("channels_last") != 0) {
      ChannelsLastContext cl(ctx, {0, 3});
      KILN_RETURN_IF_ERROR(convInfer(cl));
    } else {
      KILN_RETURN_IF_ERROR(convInfer(ctx));
    }
    if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 3));
    return Status::OK();
  };
  r.add(std::move(fc));

  OpDef fm;
  fm.domain = "kiln";
  fm.name = "FusedMatMul";
  fm.minInputs = 2;
  fm.maxInputs = 4;
  fm.attrs = activationAttrs();
  fm.infer = [mmInfer = matmul->infer](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(checkActivation(ctx.attrs()));
    KILN_RETURN_IF_ERROR(mmInfer(ctx));
    if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
    if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 3));  // its shape: checked by kernels
    return Status::OK();
  };
  r.add(std::move(fm));

  // MatMulLayerNorm(A, B, bias?, R?, scale, B_ln?): LayerNorm over the last axis of
  // FusedMatMul(A, B, bias, R) (no activation) with `epsilon`; what fold-layernorm-matmul makes of
  // a residual GEMM and the LayerNormalization after it, for targets with the fused kernel.
  OpDef ml;
  ml.domain = "kiln";
  ml.name = "MatMulLayerNorm";
  ml.minInputs = 2;  // bias and R are optional, the scale is not: checked below
  ml.maxInputs = 6;
  ml.attrs = {attrF("epsilon", 1e-5f)};
  ml.infer = [mmInfer = matmul->infer](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(mmInfer(ctx));
    for (int i : {2, 3, 4, 5})
      if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
    if (!ctx.hasInput(4)) return InvalidArgument("MatMulLayerNorm needs its scale (input 4)");
    return Status::OK();
  };
  r.add(std::move(ml));

  const OpDef* attention = r.find("", "Attention");
  KILN_CHECK(attention);
  OpDef pa;
  pa.domain = "kiln";
  pa.name = "PackedAttention";
  pa.minInputs = 1;
  pa.maxInputs = 2;
  pa.attrs = attention->attrs;
  pa.infer = [](InferContext& ctx) -> Status {
    int64_t hq = 0, hkv = 0;
    KILN_RETURN_IF_ERROR(packedHeads(ctx, "PackedAttention", &hq, &hkv));
    if (!isFloat(ctx.inputType(0))) return InvalidArgument("PackedAttention: QKV must be floating point");
    const Shape& s = ctx.inputShape(0);
    if (!s.rankKnown() || s.rank() != 3 || !s[2].isStatic() || s[2].value() % (hq + 2 * hkv) != 0)
      return InvalidArgument("PackedAttention: QKV {} is not [B, S, (q_num_heads + 2 kv_num_heads) * D]", s.toString());
    const int64_t d = s[2].value() / (hq + 2 * hkv);
    ctx.setOutput(0, ctx.inputType(0), Shape({s[0], s[1], Dim(hq * d)}));
    return Status::OK();
  };
  OpDef qa;
  qa.domain = "kiln";
  qa.name = "QkvAttention";
  qa.minInputs = 2;
  qa.maxInputs = 4;
  qa.attrs = attention->attrs;
  qa.infer = [](InferContext& ctx) -> Status {
    int64_t hq = 0, hkv = 0;
    KILN_RETURN_IF_ERROR(packedHeads(ctx, "QkvAttention", &hq, &hkv));
    if (!isFloat(ctx.inputType(0))) return InvalidArgument("QkvAttention: X must be floating point");
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
    if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
    const Shape &x = ctx.inputShape(0), &w = ctx.inputShape(1);
    if (!w.rankKnown() || w.rank() != 2 || !w[1].isStatic() || w[1].value() % (hq + 2 * hkv) != 0)
      return InvalidArgument("QkvAttention: W {} is not [K, (q_num_heads + 2 kv_num_heads) * D]", w.toString());
    if (!x.rankKnown() || x.rank() != 3)
      return InvalidArgument("QkvAttention: X {} is not [B, S, K]", x.toString());
    if (x[2].isStatic() && w[0].isStatic() && x[2].value() != w[0].value())
      return InvalidArgument("QkvAttention: X {} and W {} disagree on K", x.toString(), w.toString());
    const int64_t n = w[1].value();
    if (ctx.hasInput(2)) {
      const Shape& b = ctx.inputShape(2);
      if (b.rankKnown() && b.rank() != 1)
        return InvalidArgument("QkvAttention: bias {} is not [{}]", b.toString(), n);
      if (b.rankKnown() && b[0].isStatic() && b[0].value() != n)
        return InvalidArgument("QkvAttention: bias {} is not [{}]", b.toString(), n);
    }
    const int64_t d = n / (hq + 2 * hkv);
    ctx.setOutput(0, ctx.inputType(0), Shape({x[0], x[1], Dim(hq * d)}));
    return Status::OK();
  };
  r.add(std::move(qa));
  r.add(std::move(pa));
  RegisterElementwiseChainOp(r);

  OpDef el;
  el.domain = "kiln";
  el.name = "EmbedLayerNorm";
  el.minInputs = 3;  // the optional inputs follow the required ones
  el.maxInputs = 7;
  el.attrs = {attrF("epsilon", 1e-5f)};
  el.infer = [](InferContext& ctx) -> Status {
    if (ctx.hasInput(4) != ctx.hasInput(5)) return InvalidArgument("EmbedLayerNorm needs ids1 and table1 together");
    for (int i : {0, 4})
      if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectType(ctx, i, {DType::kInt32, DType::kInt64}, "EmbedLayerNorm"));
    KILN_RETURN_IF_ERROR(expectType(ctx, 1, kFloatTypes, "EmbedLayerNorm"));
    for (int i : {2, 3, 5, 6})
      if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 1, i));
    const Shape& table = ctx.inputShape(1);
    if (table.rankKnown() && table.rank() != 2)
      return InvalidArgument("EmbedLayerNorm table0 {} is not [vocab, H]", table.toString());
    const Shape& ids = ctx.inputShape(0);
    if (!ids.rankKnown()) {
      ctx.setOutput(0, ctx.inputType(1), Shape::unknownRank());
      return Status::OK();
    }
    std::vector<Dim> out(ids.dims().begin(), ids.dims().end());
    out.push_back(table.rankKnown() ? table[1] : Dim());
    ctx.setOutput(0, ctx.inputType(1), Shape(std::move(out)));
    return Status::OK();
  };
  r.add(std::move(el));

  // Channels-last pooling: the ONNX op's attributes and semantics on [N, spatial..., C] tensors.
  for (const char* name : {"MaxPool", "AveragePool", "GlobalAveragePool"}) {
    const OpDef* base = r.find("", name);
    KILN_CHECK(base);
    OpDef d;
    d.domain = "kiln";
    d.name = std::string("Nhwc") + name;
    d.minInputs = d.maxInputs = 1;
    d.attrs = base->attrs;
    d.infer = [inner = base->infer](InferContext& ctx) -> Status {
      if (ctx.numOutputs() != 1) return InvalidArgument("channels-last pooling has one output");
      ChannelsLastContext cl(ctx, {0});
      return inner(cl);
    };
    r.add(std::move(d));
  }
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
