// MatMul ops: MatMul (numpy matmul: batched broadcasting, 1-D operands), Gemm, MatMulInteger,
// QLinearMatMul, Einsum.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>

#include "core/einsum_equation.h"
#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

// numpy matmul shape rule: 1-D A is [1,K] (M dropped), 1-D B is [K,1] (N dropped); batch dims
// broadcast.
Result<Shape> matmulShape(const Shape& a, const Shape& b, std::string_view op) {
  if (!a.rankKnown() || !b.rankKnown()) return Shape::unknownRank();
  if (a.rank() < 1 || b.rank() < 1)
    return InvalidArgument("{}: operands must have rank >= 1, got {} and {}", op, a.toString(), b.toString());
  const Dim ka = a[a.rank() - 1];
  const Dim kb = b.rank() == 1 ? b[0] : b[b.rank() - 2];
  if (ka.isStatic() && kb.isStatic() && ka.value() != kb.value())
    return InvalidArgument("{}: inner dimensions differ: {} x {} ({} vs {})", op, a.toString(), b.toString(),
                           ka.value(), kb.value());
  Shape ba(std::vector<Dim>(a.dims().begin(), a.dims().end() - std::min(a.rank(), 2)));
  Shape bb(std::vector<Dim>(b.dims().begin(), b.dims().end() - std::min(b.rank(), 2)));
  Shape batch;
  Status st = broadcastShapes(ba, bb, &batch);
  if (!st.ok())
    return InvalidArgument("{}: batch dimensions of {} and {} cannot be broadcast", op, a.toString(), b.toString());
  std::vector<Dim> out = batch.dims();
  if (a.rank() >= 2) out.push_back(a[a.rank() - 2]);
  if (b.rank() >= 2) out.push_back(b[b.rank() - 1]);
  if (static_cast<int>(out.size()) > kMaxRank)
    return Unsupported("{}: output rank {} exceeds the maximum {}", op, out.size(), kMaxRank);
  return Shape(std::move(out));
}

Status inferMatMul(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0,
                                  {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                                   DType::kInt32, DType::kInt64, DType::kUInt32, DType::kUInt64},
                                  "MatMul"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  KILN_ASSIGN_OR_RETURN(Shape y, matmulShape(ctx.inputShape(0), ctx.inputShape(1), "MatMul"));
  ctx.setOutput(0, ctx.inputType(0), std::move(y));
  return Status::OK();
}

Status inferGemm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0,
                                  {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                                   DType::kInt32, DType::kInt64, DType::kUInt32, DType::kUInt64},
                                  "Gemm"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  const Shape &a = ctx.inputShape(0), &b = ctx.inputShape(1);
  const bool ta = ctx.attrs().getInt("transA") != 0, tb = ctx.attrs().getInt("transB") != 0;
  Dim m, n;
  if (a.rankKnown()) {
    if (a.rank() != 2) return InvalidArgument("Gemm: A must be 2-D, got shape {}", a.toString());
    m = ta ? a[1] : a[0];
  }
  if (b.rankKnown()) {
    if (b.rank() != 2) return InvalidArgument("Gemm: B must be 2-D, got shape {}", b.toString());
    n = tb ? b[0] : b[1];
  }
  if (a.rankKnown() && b.rankKnown()) {
    const Dim ka = ta ? a[0] : a[1], kb = tb ? b[1] : b[0];
    if (ka.isStatic() && kb.isStatic() && ka.value() != kb.value())
      return InvalidArgument("Gemm: inner dimensions differ: A {} (transA={}) and B {} (transB={})", a.toString(),
                             int(ta), b.toString(), int(tb));
  }
  Shape y{m, n};
  if (ctx.hasInput(2)) {
    const Shape& c = ctx.inputShape(2);
    if (c.rankKnown()) {
      if (c.rank() > 2) return InvalidArgument("Gemm: C must have rank <= 2, got shape {}", c.toString());
      for (int i = 0; i < c.rank(); ++i) {
        const Dim& cd = c[i];
        const Dim& yd = y[2 - c.rank() + i];
        if (cd.isStatic() && cd.value() != 1 && yd.isStatic() && cd.value() != yd.value())
          return InvalidArgument("Gemm: C of shape {} cannot be broadcast to the output {}", c.toString(),
                                 y.toString());
      }
    }
  }
  ctx.setOutput(0, ctx.inputType(0), std::move(y));
  return Status::OK();
}

// A zero point or scale of a quantized matmul operand: scalar, or 1-D with `count` values.
Status checkQuantParam(const InferContext& ctx, int i, const Dim& count, std::string_view what) {
  if (!ctx.hasInput(i)) return Status::OK();
  const Shape& s = ctx.inputShape(i);
  if (!s.rankKnown()) return Status::OK();
  auto n = s.numel();
  if (n && *n == 1) return Status::OK();
  if (s.rank() != 1)
    return Unsupported("{} of shape {} is not supported (scalar or 1-D only)", what, s.toString());
  if (s[0].isStatic() && count.isStatic() && s[0].value() != count.value())
    return InvalidArgument("{} has {} values; expected 1 or {}", what, s[0].value(), count.value());
  return Status::OK();
}

Dim rowsOf(const Shape& s) { return s.rankKnown() && s.rank() >= 2 ? s[s.rank() - 2] : Dim(1); }
Dim colsOf(const Shape& s) { return s.rankKnown() && s.rank() >= 2 ? s[s.rank() - 1] : Dim(1); }

Status inferMatMulInteger(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kInt8, DType::kUInt8}, "MatMulInteger"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt8, DType::kUInt8}, "MatMulInteger"));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 1, 3));
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 2, rowsOf(ctx.inputShape(0)), "MatMulInteger a_zero_point"));
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 3, colsOf(ctx.inputShape(1)), "MatMulInteger b_zero_point"));
  KILN_ASSIGN_OR_RETURN(Shape y, matmulShape(ctx.inputShape(0), ctx.inputShape(1), "MatMulInteger"));
  ctx.setOutput(0, DType::kInt32, std::move(y));
  return Status::OK();
}

Status inferQLinearMatMul(InferContext& ctx) {
  const std::initializer_list<DType> q = {DType::kInt8, DType::kUInt8, DType::kFloat8E4M3FN,
                                          DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2, DType::kFloat8E5M2FNUZ};
  const std::initializer_list<DType> sc = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  for (int i : {0, 3, 7}) KILN_RETURN_IF_ERROR(expectType(ctx, i, q, "QLinearMatMul"));
  for (int i : {1, 4, 6}) KILN_RETURN_IF_ERROR(expectType(ctx, i, sc, "QLinearMatMul scale"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 1, 4));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 1, 6));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 3, 5));
  const Shape &a = ctx.inputShape(0), &b = ctx.inputShape(3);
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 1, rowsOf(a), "QLinearMatMul a_scale"));
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 2, rowsOf(a), "QLinearMatMul a_zero_point"));
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 4, colsOf(b), "QLinearMatMul b_scale"));
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 5, colsOf(b), "QLinearMatMul b_zero_point"));
  KILN_ASSIGN_OR_RETURN(Shape y, matmulShape(a, b, "QLinearMatMul"));
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 6, rowsOf(y), "QLinearMatMul y_scale"));
  KILN_RETURN_IF_ERROR(checkQuantParam(ctx, 7, rowsOf(y), "QLinearMatMul y_zero_point"));
  ctx.setOutput(0, ctx.inputType(7), std::move(y));
  return Status::OK();
}

// ---- Einsum ---------------------------------------------------------------------------------

Status inferEinsum(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0,
                                  {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                                   DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64, DType::kUInt8,
                                   DType::kUInt16, DType::kUInt32, DType::kUInt64},
                                  "Einsum"));
  for (int i = 1; i < ctx.numInputs(); ++i) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, i));
  KILN_ASSIGN_OR_RETURN(EinsumEquation parsed, parseEinsumEquation(ctx.attrs().getString("equation")));
  const std::string& eq = parsed.text;
  const std::vector<EinsumTerm>& ins = parsed.inputs;
  if (static_cast<int>(ins.size()) != ctx.numInputs())
    return InvalidArgument("Einsum: equation '{}' has {} operands but the node has {} inputs", eq, ins.size(),
                           ctx.numInputs());
  // Label sizes and the broadcast ellipsis dims.
  std::map<char, Dim> size;
  std::vector<Dim> ell;
  bool anyEllipsis = false, ranksKnown = true;
  for (int i = 0; i < ctx.numInputs(); ++i) {
    const Shape& sh = ctx.inputShape(i);
    const EinsumTerm& s = ins[i];
    anyEllipsis |= s.ellipsis >= 0;
    if (!sh.rankKnown()) {
      ranksKnown = false;
      continue;
    }
    const int nl = static_cast<int>(s.labels.size());
    const int er = sh.rank() - nl;
    if (er < 0 || (s.ellipsis < 0 && er != 0))
      return InvalidArgument("Einsum: operand {} has shape {} but its subscripts '{}' need rank {}", i,
                             sh.toString(), s.labels, nl);
    for (int j = 0; j < nl; ++j) {
      const Dim d = sh[j < s.ellipsis || s.ellipsis < 0 ? j : j + er];
      auto it = size.find(s.labels[j]);
      if (it == size.end()) {
        size[s.labels[j]] = d;
        continue;
      }
      Dim& e = it->second;  // size-1 dims broadcast, as in numpy
      if (e.isStatic() && d.isStatic()) {
        if (e.value() != d.value() && e.value() != 1 && d.value() != 1)
          return InvalidArgument("Einsum: label '{}' has sizes {} and {}", s.labels[j], e.value(), d.value());
        if (e.value() == 1) e = d;
      } else if ((e.isStatic() && e.value() == 1) || (e.isUnknown() && d.isStatic() && d.value() != 1)) {
        e = d;
      }
    }
    if (s.ellipsis >= 0) {
      Shape a{std::vector<Dim>(ell)}, b{std::vector<Dim>(sh.dims().begin() + s.ellipsis,
                                                         sh.dims().begin() + s.ellipsis + er)};
      Shape r;
      KILN_RETURN_IF_ERROR(broadcastShapes(a, b, &r));
      ell = r.dims();
    }
  }
  EinsumTerm out;
  if (parsed.explicitOutput) {
    out = parsed.output;
    for (size_t j = 0; j < out.labels.size(); ++j) {
      if (!size.count(out.labels[j]) && ranksKnown)
        return InvalidArgument("Einsum: output label '{}' does not appear in the inputs", out.labels[j]);
      if (out.labels.find(out.labels[j], j + 1) != std::string::npos)
        return InvalidArgument("Einsum: output label '{}' repeats", out.labels[j]);
    }
    if (out.ellipsis >= 0 && !anyEllipsis) out.ellipsis = -1;
    if (out.ellipsis < 0 && !ell.empty())
      return InvalidArgument("Einsum: equation '{}' broadcasts '...' dims but the output has no '...'", eq);
  } else {
    std::map<char, int> count;
    for (const auto& s : ins)
      for (char c : s.labels) ++count[c];
    for (const auto& [c, k] : count)  // ASCII order, like numpy
      if (k == 1) out.labels.push_back(c);
    if (anyEllipsis) out.ellipsis = 0;
  }
  if (!ranksKnown) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  std::vector<Dim> dims;
  for (int j = 0; j <= static_cast<int>(out.labels.size()); ++j) {
    if (j == out.ellipsis) dims.insert(dims.end(), ell.begin(), ell.end());
    if (j < static_cast<int>(out.labels.size())) dims.push_back(size[out.labels[j]]);
  }
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(dims)));
  return Status::OK();
}

}  // namespace

void RegisterMatMulOps(OpRegistry& r) {
  r.add({.name = "MatMul", .minInputs = 2, .maxInputs = 2, .infer = inferMatMul});
  r.add({.name = "Gemm", .minInputs = 2, .maxInputs = 3,
         .attrs = {attrF("alpha", 1.0f), attrF("beta", 1.0f), attrI("transA", 0), attrI("transB", 0)},
         .infer = inferGemm,
         .import = [](ImportContext& ctx) -> Status {
           // Opset < 7: 'broadcast' only allowed what numpy broadcasting of C already does.
           ctx.node().attrs().erase("broadcast");
           return Status::OK();
         }});
  r.add({.name = "MatMulInteger", .minOpset = 10, .minInputs = 2, .maxInputs = 4, .infer = inferMatMulInteger});
  r.add({.name = "QLinearMatMul", .minOpset = 10, .minInputs = 8, .maxInputs = 8, .infer = inferQLinearMatMul});
  r.add({.name = "Einsum", .minOpset = 12, .minInputs = 1, .maxInputs = -1,
         .attrs = {attrRequired("equation", AttrKind::kString)}, .infer = inferEinsum});
}

}  // namespace kiln::ir
