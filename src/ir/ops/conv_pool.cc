// ConvPool ops: Conv, ConvTranspose, ConvInteger, QLinearConv, MaxPool, AveragePool, LpPool,
// GlobalAveragePool, GlobalMaxPool, GlobalLpPool, MaxUnpool.
//
// Spatial attributes (kernel_shape, strides, dilations, pads) default per spatial rank, so they are
// declared without defaults; kernels read them with fallbacks. Output sizes follow the ONNX spec:
//   NOTSET: floor((in + pad_begin + pad_end - ((k-1)*d+1)) / s) + 1 (ceil with ceil_mode, minus
//           one when the last window would start past the begin padding);
//   SAME_*: ceil(in / s);  VALID: ceil((in - ((k-1)*d+1) + 1) / s).
#include <cmath>
#include <string>

#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

const std::initializer_list<DType> kPoolTypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16,
                                                 DType::kBFloat16};
const std::initializer_list<DType> kMaxPoolTypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16,
                                                    DType::kBFloat16, DType::kInt8, DType::kUInt8};
const std::initializer_list<DType> kQuant8Types = {DType::kInt8, DType::kUInt8};

// Validated spatial attributes of one node, with per-rank defaults filled in.
struct Spatial {
  int n = 0;
  std::vector<int64_t> kernel;  // empty when not known (Conv with a symbolic W)
  std::vector<int64_t> strides, dilations, pads;
  std::string autoPad;
  bool ceilMode = false;

  int64_t effKernel(int i) const { return (kernel[i] - 1) * dilations[i] + 1; }
};

Result<Spatial> readSpatial(const AttrMap& a, std::string_view op, int n, std::vector<int64_t> kernel) {
  Spatial s;
  s.n = n;
  s.kernel = std::move(kernel);
  s.autoPad = a.getString("auto_pad", "NOTSET");
  if (s.autoPad != "NOTSET" && s.autoPad != "SAME_UPPER" && s.autoPad != "SAME_LOWER" && s.autoPad != "VALID")
    return InvalidArgument("{}: auto_pad '{}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", op, s.autoPad);
  s.strides = a.getInts("strides", std::vector<int64_t>(n, 1));
  s.dilations = a.getInts("dilations", std::vector<int64_t>(n, 1));
  s.pads = a.getInts("pads", std::vector<int64_t>(2 * n, 0));
  s.ceilMode = a.getInt("ceil_mode", 0) != 0;
  if (static_cast<int>(s.strides.size()) != n)
    return InvalidArgument("{}: strides has {} values; the input has {} spatial dims", op, s.strides.size(), n);
  if (static_cast<int>(s.dilations.size()) != n)
    return InvalidArgument("{}: dilations has {} values; the input has {} spatial dims", op, s.dilations.size(), n);
  if (static_cast<int>(s.pads.size()) != 2 * n)
    return InvalidArgument("{}: pads has {} values; expected {} (begin and end per spatial dim)", op,
                           s.pads.size(), 2 * n);
  if (!s.kernel.empty() && static_cast<int>(s.kernel.size()) != n)
    return InvalidArgument("{}: kernel_shape has {} values; the input has {} spatial dims", op, s.kernel.size(), n);
  for (int i = 0; i < n; ++i) {
    if (s.strides[i] < 1) return InvalidArgument("{}: strides must be >= 1 (got {})", op, s.strides[i]);
    if (s.dilations[i] < 1) return InvalidArgument("{}: dilations must be >= 1 (got {})", op, s.dilations[i]);
    if (!s.kernel.empty() && s.kernel[i] < 1)
      return InvalidArgument("{}: kernel_shape must be >= 1 (got {})", op, s.kernel[i]);
  }
  for (int64_t p : s.pads)
    if (p < 0) return InvalidArgument("{}: pads must be >= 0 (got {})", op, p);
  return s;
}

// Output size of spatial dim i for Conv and the pooling ops.
Result<Dim> spatialOut(const Spatial& s, int i, const Dim& in, std::string_view op) {
  if (s.kernel.empty()) return Dim::unknown();
  const int64_t st = s.strides[i], ek = s.effKernel(i);
  if (s.autoPad == "SAME_UPPER" || s.autoPad == "SAME_LOWER") return Dim::ceilDiv(in, Dim(st));
  if (s.autoPad == "VALID") {
    if (in.isStatic()) {
      if (in.value() < ek)
        return InvalidArgument("{}: input size {} of spatial dim {} is smaller than the kernel extent {}", op,
                               in.value(), i, ek);
      return Dim((in.value() - ek) / st + 1);
    }
    if (st == 1) return in + Dim(1 - ek);
    return Dim::floorDiv(in - Dim(ek), Dim(st)) + Dim(1);
  }
  const int64_t pb = s.pads[i], pe = s.pads[i + s.n];
  if (in.isStatic()) {
    int64_t span = in.value() + pb + pe - ek;
    if (span < 0)
      return InvalidArgument("{}: padded input size {} of spatial dim {} is smaller than the kernel extent {}", op,
                             in.value() + pb + pe, i, ek);
    int64_t o = (s.ceilMode ? (span + st - 1) / st : span / st) + 1;
    // The last window must start inside the input or the begin padding.
    if (s.ceilMode && (o - 1) * st >= in.value() + pb) --o;
    return Dim(o);
  }
  if (st == 1) return in + Dim(pb + pe - ek + 1);
  if (s.ceilMode) return Dim::unknown();
  return Dim::floorDiv(in + Dim(pb + pe - ek), Dim(st)) + Dim(1);
}

// Spatial rank of X (rank - 2), or an error when X has fewer than 3 dims.
Result<int> spatialRank(const InferContext& ctx, int i, std::string_view op, int minRank = 3) {
  int r = ctx.rankOf(i);
  if (r < minRank)
    return InvalidArgument("{}: input {} must have rank >= {} (N, C, spatial...), got shape {}", op, i, minRank,
                           ctx.inputShape(i).toString());
  return r - 2;
}

// Kernel spatial dims from the kernel_shape attribute or W's trailing dims (empty if unknown).
Result<std::vector<int64_t>> convKernel(const InferContext& ctx, int wIndex, int n, std::string_view op) {
  const AttrMap& a = ctx.attrs();
  const Shape& w = ctx.inputShape(wIndex);
  if (w.rankKnown() && w.rank() != n + 2)
    return InvalidArgument("{}: weights have shape {}; expected rank {} for an input with {} spatial dims", op,
                           w.toString(), n + 2, n);
  std::vector<int64_t> k;
  if (a.has("kernel_shape")) {
    k = a.getInts("kernel_shape");
    if (static_cast<int>(k.size()) != n)
      return InvalidArgument("{}: kernel_shape has {} values; the input has {} spatial dims", op, k.size(), n);
    if (w.rankKnown())
      for (int i = 0; i < n; ++i)
        if (w[i + 2].isStatic() && w[i + 2].value() != k[i])
          return InvalidArgument("{}: kernel_shape {} does not match the weights' shape {}", op,
                                 AttrValue(k).toString(), w.toString());
    return k;
  }
  if (!w.rankKnown()) return k;
  for (int i = 0; i < n; ++i) {
    if (!w[i + 2].isStatic()) return std::vector<int64_t>{};
    k.push_back(w[i + 2].value());
  }
  return k;
}

// Checks a 1-D per-channel input (bias, per-channel scale/zero point): numel 1 (if allowed) or `channels`.
Status checkPerChannel(const InferContext& ctx, int i, const Dim& channels, std::string_view what,
                       bool allowScalar) {
  if (!ctx.hasInput(i)) return Status::OK();
  const Shape& s = ctx.inputShape(i);
  if (!s.rankKnown()) return Status::OK();
  if (s.rank() == 0) {
    if (allowScalar) return Status::OK();
    return InvalidArgument("{} must be 1-D with one value per output channel, got a scalar", what);
  }
  if (s.rank() != 1) return InvalidArgument("{} must be a scalar or 1-D, got shape {}", what, s.toString());
  if (s[0].isStatic() && channels.isStatic() && s[0].value() != channels.value() &&
      !(allowScalar && s[0].value() == 1))
    return InvalidArgument("{} has {} values; expected {} (one per output channel)", what, s[0].value(),
                           channels.value());
  return Status::OK();
}

// Shared by Conv, ConvInteger and QLinearConv: X is input xi, W input wi; returns Y's shape.
Result<Shape> inferConvShape(InferContext& ctx, int xi, int wi, std::string_view op) {
  const Shape& x = ctx.inputShape(xi);
  const Shape& w = ctx.inputShape(wi);
  if (!x.rankKnown()) {
    if (!w.rankKnown()) return Shape::unknownRank();
    if (w.rank() < 3) return InvalidArgument("{}: weights must have rank >= 3, got shape {}", op, w.toString());
    std::vector<Dim> d(w.rank());
    d[1] = w[0];
    return Shape(std::move(d));
  }
  KILN_ASSIGN_OR_RETURN(int n, spatialRank(ctx, xi, op));
  KILN_ASSIGN_OR_RETURN(auto k, convKernel(ctx, wi, n, op));
  KILN_ASSIGN_OR_RETURN(Spatial s, readSpatial(ctx.attrs(), op, n, k));
  const int64_t group = ctx.attrs().getInt("group");
  if (group < 1) return InvalidArgument("{}: group must be >= 1 (got {})", op, group);
  Dim m = w.rankKnown() ? w[0] : Dim::unknown();
  if (w.rankKnown()) {
    if (x[1].isStatic() && w[1].isStatic() && x[1].value() != w[1].value() * group)
      return InvalidArgument("{}: input has {} channels but weights {} with group {} expect {}", op, x[1].value(),
                             w.toString(), group, w[1].value() * group);
    if (m.isStatic() && m.value() % group != 0)
      return InvalidArgument("{}: {} output channels are not divisible by group {}", op, m.value(), group);
  }
  std::vector<Dim> out{x[0], m};
  for (int i = 0; i < n; ++i) {
    KILN_ASSIGN_OR_RETURN(Dim o, spatialOut(s, i, x[i + 2], op));
    out.push_back(o);
  }
  return Shape(std::move(out));
}

Status inferConv(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "Conv"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  KILN_ASSIGN_OR_RETURN(Shape y, inferConvShape(ctx, 0, 1, "Conv"));
  if (y.rankKnown()) KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 2, y[1], "Conv bias B", false));
  ctx.setOutput(0, ctx.inputType(0), std::move(y));
  return Status::OK();
}

Status inferConvInteger(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kQuant8Types, "ConvInteger"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, kQuant8Types, "ConvInteger"));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  if (ctx.hasInput(3)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 1, 3));
  KILN_ASSIGN_OR_RETURN(Shape y, inferConvShape(ctx, 0, 1, "ConvInteger"));
  if (ctx.hasInput(2) && ctx.inputShape(2).rankKnown() && ctx.inputShape(2).numel().value_or(1) != 1)
    return InvalidArgument("ConvInteger: x_zero_point must be a scalar, got shape {}", ctx.inputShape(2).toString());
  if (y.rankKnown()) KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 3, y[1], "ConvInteger w_zero_point", true));
  ctx.setOutput(0, DType::kInt32, std::move(y));
  return Status::OK();
}

Status inferQLinearConv(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kQuant8Types, "QLinearConv"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 3, kQuant8Types, "QLinearConv"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 7, kQuant8Types, "QLinearConv"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 3, 5));
  for (int i : {1, 4, 6}) KILN_RETURN_IF_ERROR(expectType(ctx, i, {DType::kFloat32}, "QLinearConv scale"));
  if (ctx.hasInput(8)) KILN_RETURN_IF_ERROR(expectType(ctx, 8, {DType::kInt32}, "QLinearConv bias"));
  KILN_ASSIGN_OR_RETURN(Shape y, inferConvShape(ctx, 0, 3, "QLinearConv"));
  for (int i : {1, 2, 6, 7})
    if (ctx.inputShape(i).rankKnown() && ctx.inputShape(i).numel().value_or(1) != 1)
      return InvalidArgument("QLinearConv: input {} (a scale or zero point of x or y) must be a scalar, got shape {}",
                             i, ctx.inputShape(i).toString());
  if (y.rankKnown()) {
    KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 4, y[1], "QLinearConv w_scale", true));
    KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 5, y[1], "QLinearConv w_zero_point", true));
    KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 8, y[1], "QLinearConv bias B", false));
  }
  ctx.setOutput(0, ctx.inputType(7), std::move(y));
  return Status::OK();
}

Status inferConvTranspose(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "ConvTranspose"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
  const AttrMap& a = ctx.attrs();
  const Shape& x = ctx.inputShape(0);
  const Shape& w = ctx.inputShape(1);
  const int64_t group = a.getInt("group");
  if (group < 1) return InvalidArgument("ConvTranspose: group must be >= 1 (got {})", group);
  Dim m = w.rankKnown() && w.rank() >= 2 ? w[1] * Dim(group) : Dim::unknown();
  if (!x.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  KILN_ASSIGN_OR_RETURN(int n, spatialRank(ctx, 0, "ConvTranspose"));
  KILN_ASSIGN_OR_RETURN(auto k, convKernel(ctx, 1, n, "ConvTranspose"));
  KILN_ASSIGN_OR_RETURN(Spatial s, readSpatial(a, "ConvTranspose", n, k));
  if (w.rankKnown() && x[1].isStatic() && w[0].isStatic() && x[1].value() != w[0].value())
    return InvalidArgument("ConvTranspose: input has {} channels but the weights {} expect {}", x[1].value(),
                           w.toString(), w[0].value());
  if (w.rankKnown() && w[0].isStatic() && w[0].value() % group != 0)
    return InvalidArgument("ConvTranspose: {} input channels are not divisible by group {}", w[0].value(), group);
  KILN_RETURN_IF_ERROR(checkPerChannel(ctx, 2, m, "ConvTranspose bias B", false));
  auto outPad = a.getInts("output_padding", std::vector<int64_t>(n, 0));
  if (static_cast<int>(outPad.size()) != n)
    return InvalidArgument("ConvTranspose: output_padding has {} values; the input has {} spatial dims",
                           outPad.size(), n);
  for (int64_t p : outPad)
    if (p < 0) return InvalidArgument("ConvTranspose: output_padding must be >= 0 (got {})", p);
  std::vector<int64_t> outShape;
  if (a.has("output_shape")) {
    outShape = a.getInts("output_shape");
    if (static_cast<int>(outShape.size()) == n + 2) outShape.erase(outShape.begin(), outShape.begin() + 2);
    if (static_cast<int>(outShape.size()) != n)
      return InvalidArgument("ConvTranspose: output_shape has {} values; expected {} (the spatial dims)",
                             a.getInts("output_shape").size(), n);
    for (int64_t v : outShape)
      if (v < 1) return InvalidArgument("ConvTranspose: output_shape values must be >= 1 (got {})", v);
  }
  std::vector<Dim> out{x[0], m};
  for (int i = 0; i < n; ++i) {
    if (!outShape.empty()) {
      out.push_back(Dim(outShape[i]));
    } else if (s.autoPad == "SAME_UPPER" || s.autoPad == "SAME_LOWER") {
      out.push_back(x[i + 2] * Dim(s.strides[i]));
    } else if (k.empty()) {
      out.push_back(Dim::unknown());
    } else {
      const int64_t pads = s.autoPad == "VALID" ? 0 : s.pads[i] + s.pads[i + n];
      const int64_t add = outPad[i] + s.effKernel(i) - pads - s.strides[i];  // s*(in-1) + ...
      Dim o = x[i + 2] * Dim(s.strides[i]) + Dim(add);
      if (o.isStatic() && o.value() < 1)
        return InvalidArgument("ConvTranspose: computed output size {} of spatial dim {} is not positive", o.value(), i);
      out.push_back(o);
    }
  }
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  return Status::OK();
}

InferFn inferPool(const char* op, std::initializer_list<DType> types, bool withIndices) {
  return [op, types, withIndices](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, types, op));
    const Shape& x = ctx.inputShape(0);
    Shape y = Shape::unknownRank();
    if (x.rankKnown()) {
      KILN_ASSIGN_OR_RETURN(int n, spatialRank(ctx, 0, op));
      KILN_ASSIGN_OR_RETURN(Spatial s, readSpatial(ctx.attrs(), op, n, ctx.attrs().getInts("kernel_shape")));
      if (s.ceilMode && s.autoPad != "NOTSET")
        return InvalidArgument("{}: ceil_mode is not allowed with auto_pad {}", op, s.autoPad);
      if (ctx.attrs().has("p") && ctx.attrs().getInt("p") < 1)
        return InvalidArgument("{}: p must be >= 1 (got {})", op, ctx.attrs().getInt("p"));
      if (ctx.attrs().has("storage_order")) {
        int64_t so = ctx.attrs().getInt("storage_order");
        if (so != 0 && so != 1) return InvalidArgument("{}: storage_order must be 0 or 1 (got {})", op, so);
      }
      std::vector<Dim> out{x[0], x[1]};
      for (int i = 0; i < n; ++i) {
        KILN_ASSIGN_OR_RETURN(Dim o, spatialOut(s, i, x[i + 2], op));
        out.push_back(o);
      }
      y = Shape(std::move(out));
    }
    ctx.setOutput(0, ctx.inputType(0), y);
    if (withIndices && ctx.numOutputs() > 1) ctx.setOutput(1, DType::kInt64, y);
    return Status::OK();
  };
}

InferFn inferGlobalPool(const char* op) {
  return [op](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(expectType(ctx, 0, kPoolTypes, op));
    if (ctx.attrs().has("p") && ctx.attrs().getInt("p") < 1)
      return InvalidArgument("{}: p must be >= 1 (got {})", op, ctx.attrs().getInt("p"));
    const Shape& x = ctx.inputShape(0);
    if (!x.rankKnown()) {
      ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
      return Status::OK();
    }
    KILN_RETURN_IF_ERROR(spatialRank(ctx, 0, op, 2).takeStatus());
    std::vector<Dim> out{x[0], x[1]};
    for (int i = 2; i < x.rank(); ++i) out.push_back(Dim(1));
    ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
    return Status::OK();
  };
}

Status inferMaxUnpool(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kPoolTypes, "MaxUnpool"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt64}, "MaxUnpool indices"));
  const Shape& x = ctx.inputShape(0);
  const Shape& ind = ctx.inputShape(1);
  if (x.rankKnown() && ind.rankKnown()) {
    if (x.rank() != ind.rank())
      return InvalidArgument("MaxUnpool: indices shape {} differs from X's shape {}", ind.toString(), x.toString());
    for (int i = 0; i < x.rank(); ++i)
      if (x[i].isStatic() && ind[i].isStatic() && x[i].value() != ind[i].value())
        return InvalidArgument("MaxUnpool: indices shape {} differs from X's shape {}", ind.toString(), x.toString());
  }
  if (!x.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  KILN_ASSIGN_OR_RETURN(int n, spatialRank(ctx, 0, "MaxUnpool"));
  KILN_ASSIGN_OR_RETURN(Spatial s, readSpatial(ctx.attrs(), "MaxUnpool", n, ctx.attrs().getInts("kernel_shape")));
  std::vector<Dim> inferred{x[0], x[1]};
  for (int i = 0; i < n; ++i) {
    Dim o = (x[i + 2] - Dim(1)) * Dim(s.strides[i]) + Dim(s.kernel[i] - s.pads[i] - s.pads[i + n]);
    if (o.isStatic() && o.value() < 1)
      return InvalidArgument("MaxUnpool: computed output size {} of spatial dim {} is not positive", o.value(), i);
    inferred.push_back(o);
  }
  if (!ctx.hasInput(2)) {
    ctx.setOutput(0, ctx.inputType(0), Shape(std::move(inferred)));
    return Status::OK();
  }
  KILN_RETURN_IF_ERROR(expectType(ctx, 2, {DType::kInt64}, "MaxUnpool output_shape"));
  auto dims = inputDims(ctx, 2);
  if (!dims) {
    ctx.setOutput(0, ctx.inputType(0), unknownShape(n + 2));
    return Status::OK();
  }
  if (static_cast<int>(dims->size()) != n + 2)
    return InvalidArgument("MaxUnpool: output_shape has {} values; expected {}", dims->size(), n + 2);
  for (int i = 0; i < n + 2; ++i) {
    const Dim& d = (*dims)[i];
    const Dim& inf = inferred[i];
    if (d.isStatic() && inf.isStatic() && (i < 2 ? d.value() != inf.value() : d.value() < inf.value()))
      return InvalidArgument("MaxUnpool: output_shape {} is smaller than the unpooled shape {} (or changes N/C)",
                             Shape(*dims).toString(), Shape(inferred).toString());
  }
  ctx.setOutput(0, ctx.inputType(0), Shape(*dims));
  return Status::OK();
}

std::vector<AttrDef> convAttrs() {
  return {attrS("auto_pad", "NOTSET"), attrOpt("dilations", AttrKind::kInts), attrI("group", 1),
          attrOpt("kernel_shape", AttrKind::kInts), attrOpt("pads", AttrKind::kInts),
          attrOpt("strides", AttrKind::kInts)};
}

std::vector<AttrDef> poolAttrs(std::vector<AttrDef> extra) {
  std::vector<AttrDef> a = {attrS("auto_pad", "NOTSET"), attrRequired("kernel_shape", AttrKind::kInts),
                            attrOpt("pads", AttrKind::kInts), attrOpt("strides", AttrKind::kInts)};
  for (auto& e : extra) a.push_back(std::move(e));
  return a;
}

// LpPool-1 / GlobalLpPool-1 declare p as a float; the canonical form has an int.
Status importFloatP(ImportContext& ctx) {
  AttrMap& a = ctx.node().attrs();
  const AttrValue* p = a.find("p");
  if (!p || p->kind() != AttrKind::kFloat) return Status::OK();
  float v = p->f();
  if (!(v >= 1.0f) || v != std::floor(v) || v > 1e6f)
    return Unsupported("p = {} is not supported (only integer p >= 1)", v);
  a.set("p", AttrValue(static_cast<int64_t>(v)));
  return Status::OK();
}

}  // namespace

void RegisterConvPoolOps(OpRegistry& r) {
  r.add({.name = "Conv", .minInputs = 2, .maxInputs = 3, .attrs = convAttrs(), .infer = inferConv});
  {
    auto attrs = convAttrs();
    attrs.push_back(attrOpt("output_padding", AttrKind::kInts));
    attrs.push_back(attrOpt("output_shape", AttrKind::kInts));
    r.add({.name = "ConvTranspose", .minInputs = 2, .maxInputs = 3, .attrs = std::move(attrs),
           .infer = inferConvTranspose});
  }
  r.add({.name = "ConvInteger", .minOpset = 10, .minInputs = 2, .maxInputs = 4, .attrs = convAttrs(),
         .infer = inferConvInteger});
  r.add({.name = "QLinearConv", .minOpset = 10, .minInputs = 8, .maxInputs = 9, .attrs = convAttrs(),
         .infer = inferQLinearConv});

  r.add({.name = "MaxPool", .minInputs = 1, .maxInputs = 1, .minOutputs = 1, .maxOutputs = 2,
         .attrs = poolAttrs({attrI("ceil_mode", 0), attrOpt("dilations", AttrKind::kInts),
                             attrI("storage_order", 0)}),
         .infer = inferPool("MaxPool", kMaxPoolTypes, true)});
  r.add({.name = "AveragePool", .minInputs = 1, .maxInputs = 1,
         .attrs = poolAttrs({attrI("ceil_mode", 0), attrI("count_include_pad", 0),
                             attrOpt("dilations", AttrKind::kInts)}),
         .infer = inferPool("AveragePool", kPoolTypes, false)});
  r.add({.name = "LpPool", .minInputs = 1, .maxInputs = 1,
         .attrs = poolAttrs({attrI("ceil_mode", 0), attrOpt("dilations", AttrKind::kInts), attrI("p", 2)}),
         .infer = inferPool("LpPool", kPoolTypes, false), .import = importFloatP});
  r.add({.name = "GlobalAveragePool", .minInputs = 1, .maxInputs = 1,
         .infer = inferGlobalPool("GlobalAveragePool")});
  r.add({.name = "GlobalMaxPool", .minInputs = 1, .maxInputs = 1, .infer = inferGlobalPool("GlobalMaxPool")});
  r.add({.name = "GlobalLpPool", .minInputs = 1, .maxInputs = 1, .attrs = {attrI("p", 2)},
         .infer = inferGlobalPool("GlobalLpPool"), .import = importFloatP});
  r.add({.name = "MaxUnpool", .minOpset = 9, .minInputs = 2, .maxInputs = 3,
         .attrs = {attrRequired("kernel_shape", AttrKind::kInts), attrOpt("pads", AttrKind::kInts),
                   attrOpt("strides", AttrKind::kInts)},
         .shapeInputs = {2}, .infer = inferMaxUnpool});
}

}  // namespace kiln::ir
