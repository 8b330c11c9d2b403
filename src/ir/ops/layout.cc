// Layout ops: Pad (attribute forms before opset 11 become inputs), Resize (opset 10 form
// canonicalized), Upsample (rewritten to Resize at import), DepthToSpace, SpaceToDepth,
// CenterCropPad.
#include <cmath>
#include <string>

#include "core/layout_resize_shape.h"
#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

// 1: present with elements; 0: absent or empty (ONNX's "" placeholder or a 0-element tensor);
// -1: present with an unknown element count.
int presence(const InferContext& ctx, int i) {
  if (!ctx.hasInput(i)) return 0;
  auto n = ctx.inputShape(i).numel();
  if (!n) return -1;
  return *n > 0 ? 1 : 0;
}

// ---- Pad ------------------------------------------------------------------------------------

Status inferPad(InferContext& ctx) {
  const DType t = ctx.inputType(0);
  const std::string& mode = ctx.attrs().getString("mode");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return InvalidArgument("Pad mode '{}' is not one of constant, reflect, edge, wrap", mode);
  if (ctx.inputType(1) != DType::kInt64) return InvalidArgument("Pad pads must be int64, not {}", dtypeName(ctx.inputType(1)));
  if (ctx.hasInput(2)) {
    KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 2));
    const Shape& cv = ctx.inputShape(2);
    if (cv.rankKnown() && cv.numel() && *cv.numel() > 1)
      return InvalidArgument("Pad constant_value must be a scalar, has shape {}", cv.toString());
  }
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    return Status::OK();
  }
  const int r = in.rank();
  std::vector<int> axes;
  bool axesKnown = true;
  if (ctx.hasInput(3)) {
    KILN_RETURN_IF_ERROR(expectType(ctx, 3, {DType::kInt32, DType::kInt64}, "Pad axes"));
    if (auto a = inputInts(ctx, 3)) {
      KILN_ASSIGN_OR_RETURN(axes, normalizeAxes(*a, r, "Pad axes"));
    } else {
      axesKnown = false;
    }
  } else {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  Shape out = unknownShape(r);
  auto pads = ctx.inputSymbolicValue(1);
  if (axesKnown && pads) {
    const size_t n = axes.size();
    if (pads->size() != 2 * n)
      return InvalidArgument("Pad pads has {} elements; expected {} (2 per padded axis)", pads->size(), 2 * n);
    out = in;
    for (size_t i = 0; i < n; ++i) {
      const int a = axes[i];
      const Dim& b = (*pads)[i];
      const Dim& e = (*pads)[n + i];
      out[a] = in[a] + b + e;
      if (out[a].isStatic() && out[a].value() < 0)
        return InvalidArgument("Pad gives axis {} a negative size ({} + {} + {})", a, in[a].toString(), b.toString(), e.toString());
      if (mode != "constant" && in[a].isStatic() && in[a].value() == 0 &&
          !((b.isStatic() && b.value() == 0) && (e.isStatic() && e.value() == 0)))
        return InvalidArgument("Pad mode '{}' cannot pad axis {}, which is empty", mode, a);
    }
  } else if (pads && !ctx.hasInput(3) && pads->size() != static_cast<size_t>(2 * r)) {
    return InvalidArgument("Pad pads has {} elements; expected {} (2 per axis)", pads->size(), 2 * r);
  }
  ctx.setOutput(0, t, std::move(out));
  return Status::OK();
}

// Opset < 11: pads ("paddings" in opset 1) and value are attributes; move them to inputs.
Status importPad(ImportContext& ctx) {
  if (ctx.opset() >= 11) return Status::OK();
  Node& n = ctx.node();
  AttrMap& a = n.attrs();
  const char* padsName = a.has("pads") ? "pads" : "paddings";
  if (!a.has(padsName)) return InvalidArgument("Pad (opset {}) needs the 'pads' attribute", ctx.opset());
  const AttrValue* pv = a.find(padsName);
  if (pv->kind() != AttrKind::kInts) return InvalidArgument("Pad '{}' must be a list of ints", padsName);
  std::vector<int64_t> pads = pv->ints();
  float value = 0.0f;
  if (const AttrValue* v = a.find("value")) {
    if (v->kind() == AttrKind::kFloat) value = v->f();
    else if (v->kind() == AttrKind::kInt) value = static_cast<float>(v->i());
    else return InvalidArgument("Pad 'value' must be a float");
  }
  const DType t = n.input(0)->dtype();
  Tensor cv = Tensor::allocate(t, Dims{});
  if (!dispatchType<AllPodTypes>(t, [&](auto tag) {
        using T = typename decltype(tag)::type;
        *cv.data<T>() = convertValue<T>(value);
      }))
    return Unsupported("Pad (opset {}) of {} data", ctx.opset(), dtypeName(t));
  ctx.setConstantInput(1, Tensor::fromVector<int64_t>(pads, Dims{static_cast<int64_t>(pads.size())}));
  ctx.setConstantInput(2, std::move(cv));
  a.erase("pads");
  a.erase("paddings");
  a.erase("value");
  return Status::OK();
}

// ---- Resize / Upsample -----------------------------------------------------------------------

Status checkResizeAttrs(const AttrMap& a) {
  const std::string& mode = a.getString("mode");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    return InvalidArgument("Resize mode '{}' is not one of nearest, linear, cubic", mode);
  const std::string& ct = a.getString("coordinate_transformation_mode");
  if (ct != "half_pixel" && ct != "half_pixel_symmetric" && ct != "pytorch_half_pixel" && ct != "align_corners" &&
      ct != "asymmetric" && ct != "tf_crop_and_resize" && ct != "tf_half_pixel_for_nn")
    return InvalidArgument("Resize coordinate_transformation_mode '{}' is not supported", ct);
  const std::string& nm = a.getString("nearest_mode");
  if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil")
    return InvalidArgument("Resize nearest_mode '{}' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil", nm);
  ResizeAspectPolicy p;
  if (!parseResizeAspectPolicy(a.getString("keep_aspect_ratio_policy"), &p))
    return InvalidArgument("Resize keep_aspect_ratio_policy '{}' is not one of stretch, not_larger, not_smaller",
                           a.getString("keep_aspect_ratio_policy"));
  return Status::OK();
}

// Output shape from known scales (one per axis in `axes`); symbolic input dims resize when the
// scale is a whole number.
Status resizeFromScales(const Shape& in, const std::vector<int>& axes, const std::vector<double>& scales, Shape* out) {
  std::vector<int64_t> inStatic(in.rank(), 0);
  for (int i = 0; i < in.rank(); ++i) inStatic[i] = in[i].isStatic() ? in[i].value() : 0;
  std::vector<double> s;
  std::vector<int64_t> o;
  KILN_RETURN_IF_ERROR(computeResizeShape(inStatic, axes, scales, {}, ResizeAspectPolicy::kStretch, &s, &o));
  *out = in;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = axes[i];
    if (in[a].isStatic()) (*out)[a] = Dim(o[a]);
    else if (scales[i] == std::floor(scales[i]) && scales[i] < 1e9) (*out)[a] = in[a] * Dim(static_cast<int64_t>(scales[i]));
    else (*out)[a] = Dim::unknown();
  }
  return Status::OK();
}

Status inferResize(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(checkResizeAttrs(ctx.attrs()));
  const DType t = ctx.inputType(0);
  for (int i : {1, 2})
    if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectType(ctx, i, kFloatTypes, i == 1 ? "Resize roi" : "Resize scales"));
  if (ctx.hasInput(3) && ctx.inputType(3) != DType::kInt64)
    return InvalidArgument("Resize sizes must be int64, not {}", dtypeName(ctx.inputType(3)));
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, t, Shape::unknownRank());
    return Status::OK();
  }
  const int r = in.rank();
  std::vector<int> axes;
  if (ctx.attrs().has("axes")) {
    KILN_ASSIGN_OR_RETURN(axes, normalizeAxes(ctx.attrs().getInts("axes"), r, "Resize axes"));
  } else {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  const int ps = presence(ctx, 2), pz = presence(ctx, 3);
  if (ps == 1 && pz == 1) return InvalidArgument("Resize takes scales or sizes, not both");
  if (ps == 0 && pz == 0) return InvalidArgument("Resize needs one of scales and sizes");
  if (ctx.attrs().getString("coordinate_transformation_mode") == "tf_crop_and_resize") {
    if (presence(ctx, 1) == 0) return InvalidArgument("Resize with tf_crop_and_resize needs a roi");
    auto n = ctx.inputShape(1).numel();
    if (n && *n != static_cast<int64_t>(2 * axes.size()))
      return InvalidArgument("Resize roi has {} elements; expected {}", *n, 2 * axes.size());
  }
  Shape out = in;
  for (int a : axes) out[a] = Dim::unknown();
  if (pz == 1) {
    if (auto sv = ctx.inputSymbolicValue(3)) {
      if (sv->size() != axes.size())
        return InvalidArgument("Resize sizes has {} elements; expected {}", sv->size(), axes.size());
      ResizeAspectPolicy policy;
      parseResizeAspectPolicy(ctx.attrs().getString("keep_aspect_ratio_policy"), &policy);
      bool allStatic = true;
      for (size_t i = 0; i < axes.size(); ++i)
        allStatic = allStatic && (*sv)[i].isStatic() && in[axes[i]].isStatic();
      if (allStatic) {
        std::vector<int64_t> inStatic(r, 0), sizes;
        for (int i = 0; i < r; ++i) inStatic[i] = in[i].isStatic() ? in[i].value() : 0;
        for (const Dim& d : *sv) sizes.push_back(d.value());
        std::vector<double> s;
        std::vector<int64_t> o;
        KILN_RETURN_IF_ERROR(computeResizeShape(inStatic, axes, {}, sizes, policy, &s, &o));
        for (int a : axes) out[a] = Dim(o[a]);
      } else if (policy == ResizeAspectPolicy::kStretch) {
        for (size_t i = 0; i < axes.size(); ++i) {
          if ((*sv)[i].isStatic() && (*sv)[i].value() < 0)
            return InvalidArgument("Resize sizes must be >= 0, got {}", (*sv)[i].value());
          out[axes[i]] = (*sv)[i];
        }
      }
    }
  } else if (ps == 1) {
    if (auto sc = inputDoubles(ctx, 2)) {
      if (sc->size() != axes.size())
        return InvalidArgument("Resize scales has {} elements; expected {}", sc->size(), axes.size());
      KILN_RETURN_IF_ERROR(resizeFromScales(in, axes, *sc, &out));
    }
  }
  ctx.setOutput(0, t, std::move(out));
  return Status::OK();
}

// Opset 10: Resize(X, scales) with asymmetric coordinates and floor rounding for nearest (what
// ONNX's 10->11 version converter writes).
Status importResize(ImportContext& ctx) {
  if (ctx.opset() >= 11) return Status::OK();
  Node& n = ctx.node();
  Value* scales = n.input(1);
  if (!scales) return InvalidArgument("Resize (opset {}) needs the scales input", ctx.opset());
  n.setInput(1, nullptr);
  n.setInput(2, scales);
  n.attrs().set("coordinate_transformation_mode", "asymmetric");
  n.attrs().set("nearest_mode", "floor");
  return Status::OK();
}

std::string upsampleMode(const AttrMap& a) {
  std::string m = a.getString("mode", "nearest");
  return m == "bilinear" ? "linear" : m;
}

Status inferUpsample(InferContext& ctx) {
  const std::string mode = upsampleMode(ctx.attrs());
  if (mode != "nearest" && mode != "linear") return InvalidArgument("Upsample mode '{}' is not nearest or linear", mode);
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  std::optional<std::vector<double>> sc;
  if (ctx.hasInput(1)) {
    KILN_RETURN_IF_ERROR(expectType(ctx, 1, kFloatTypes, "Upsample scales"));
    sc = inputDoubles(ctx, 1);
  } else if (ctx.attrs().has("scales")) {
    const auto& f = ctx.attrs().getFloats("scales");
    sc = std::vector<double>(f.begin(), f.end());
  } else {
    return InvalidArgument("Upsample needs scales (an attribute before opset 9, an input after)");
  }
  Shape out = unknownShape(in.rank());
  if (sc) {
    std::vector<int> axes;
    for (int i = 0; i < in.rank(); ++i) axes.push_back(i);
    KILN_RETURN_IF_ERROR(resizeFromScales(in, axes, *sc, &out));
  }
  ctx.setOutput(0, ctx.inputType(0), std::move(out));
  return Status::OK();
}

// Upsample becomes Resize(X, "", scales) with asymmetric coordinates (floor rounding for nearest).
Status importUpsample(ImportContext& ctx) {
  Node& n = ctx.node();
  const AttrMap& a = n.attrs();
  for (const auto& [name, v] : a.entries())
    if (name != "mode" && name != "scales") return Unsupported("Upsample attribute '{}' is not supported", name);
  const std::string mode = upsampleMode(a);
  if (mode != "nearest" && mode != "linear") return InvalidArgument("Upsample mode '{}' is not nearest or linear", mode);
  Value* scales = n.input(1);
  if (!scales) {
    const AttrValue* s = a.find("scales");
    if (!s || s->kind() != AttrKind::kFloats)
      return InvalidArgument("Upsample (opset {}) needs the 'scales' attribute", ctx.opset());
    const auto& f = s->floats();
    scales = ctx.graph().addConstant(n.name() + "_scales",
                                     Tensor::fromVector<float>(f, Dims{static_cast<int64_t>(f.size())}));
  }
  AttrMap ra;
  ra.set("mode", mode);
  ra.set("coordinate_transformation_mode", "asymmetric");
  ra.set("nearest_mode", "floor");
  KILN_ASSIGN_OR_RETURN(Node * rn, ctx.addNode("Resize", {n.input(0), nullptr, scales}, std::move(ra)));
  ctx.replaceOutput(0, rn->output(0));
  return Status::OK();
}

// ---- DepthToSpace / SpaceToDepth / CenterCropPad --------------------------------------------

Status checkBlockMode(const InferContext& ctx, std::string_view op, int64_t* b) {
  *b = ctx.attrs().getInt("blocksize");
  if (*b < 1 || *b > 65536) return InvalidArgument("{} blocksize must be in [1, 65536], not {}", op, *b);
  const std::string& m = ctx.attrs().getString("mode");
  if (m != "DCR" && m != "CRD") return InvalidArgument("{} mode '{}' is not DCR or CRD", op, m);
  const Shape& in = ctx.inputShape(0);
  if (in.rankKnown() && in.rank() != 4) return InvalidArgument("{} input must be 4-D, has shape {}", op, in.toString());
  return Status::OK();
}

Status inferDepthToSpace(InferContext& ctx) {
  int64_t b;
  KILN_RETURN_IF_ERROR(checkBlockMode(ctx, "DepthToSpace", &b));
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), unknownShape(4));
    return Status::OK();
  }
  if (in[1].isStatic() && in[1].value() % (b * b) != 0)
    return InvalidArgument("DepthToSpace channels {} are not divisible by blocksize^2 ({})", in[1].value(), b * b);
  ctx.setOutput(0, ctx.inputType(0),
                Shape({in[0], Dim::floorDiv(in[1], Dim(b * b)), in[2] * Dim(b), in[3] * Dim(b)}));
  return Status::OK();
}

Status inferSpaceToDepth(InferContext& ctx) {
  int64_t b;
  KILN_RETURN_IF_ERROR(checkBlockMode(ctx, "SpaceToDepth", &b));
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), unknownShape(4));
    return Status::OK();
  }
  for (int i : {2, 3})
    if (in[i].isStatic() && in[i].value() % b != 0)
      return InvalidArgument("SpaceToDepth spatial size {} is not divisible by blocksize {}", in.toString(), b);
  ctx.setOutput(0, ctx.inputType(0),
                Shape({in[0], in[1] * Dim(b * b), Dim::floorDiv(in[2], Dim(b)), Dim::floorDiv(in[3], Dim(b))}));
  return Status::OK();
}

Status inferCenterCropPad(InferContext& ctx) {
  if (ctx.inputType(1) != DType::kInt64 && ctx.inputType(1) != DType::kInt32)
    return InvalidArgument("CenterCropPad shape must be int32 or int64, not {}", dtypeName(ctx.inputType(1)));
  const Shape& in = ctx.inputShape(0);
  if (!in.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  const int r = in.rank();
  std::vector<int> axes;
  if (ctx.attrs().has("axes")) {
    KILN_ASSIGN_OR_RETURN(axes, normalizeAxes(ctx.attrs().getInts("axes"), r, "CenterCropPad axes"));
  } else {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  Shape out = in;
  auto sv = ctx.inputSymbolicValue(1);
  if (sv && sv->size() != axes.size())
    return InvalidArgument("CenterCropPad shape has {} elements; expected {}", sv->size(), axes.size());
  for (size_t i = 0; i < axes.size(); ++i) {
    if (!sv) {
      out[axes[i]] = Dim::unknown();
      continue;
    }
    const Dim& d = (*sv)[i];
    if (d.isStatic() && d.value() < 0) return InvalidArgument("CenterCropPad shape must be >= 0, got {}", d.value());
    out[axes[i]] = d;
  }
  ctx.setOutput(0, ctx.inputType(0), std::move(out));
  return Status::OK();
}

}  // namespace

void RegisterLayoutOps(OpRegistry& r) {
  r.add({.name = "Pad", .minInputs = 2, .maxInputs = 4, .attrs = {attrS("mode", "constant")},
         .shapeInputs = {1, 3}, .infer = inferPad, .import = importPad});
  r.add({.name = "Resize", .minOpset = 10, .minInputs = 1, .maxInputs = 4,
         .attrs = {attrS("mode", "nearest"), attrS("coordinate_transformation_mode", "half_pixel"),
                   attrS("nearest_mode", "round_prefer_floor"), attrF("cubic_coeff_a", -0.75f),
                   attrI("exclude_outside", 0), attrF("extrapolation_value", 0.0f), attrI("antialias", 0),
                   attrOpt("axes", AttrKind::kInts), attrS("keep_aspect_ratio_policy", "stretch")},
         .shapeInputs = {2, 3}, .infer = inferResize, .import = importResize});
  r.add({.name = "Upsample", .minOpset = 7, .minInputs = 1, .maxInputs = 2,
         .attrs = {attrS("mode", "nearest"), attrOpt("scales", AttrKind::kFloats)},
         .shapeInputs = {1}, .infer = inferUpsample, .import = importUpsample});
  r.add({.name = "DepthToSpace", .minInputs = 1, .maxInputs = 1,
         .attrs = {attrRequired("blocksize", AttrKind::kInt), attrS("mode", "DCR")}, .infer = inferDepthToSpace});
  r.add({.name = "SpaceToDepth", .minInputs = 1, .maxInputs = 1,
         .attrs = {attrRequired("blocksize", AttrKind::kInt), attrS("mode", "DCR")}, .infer = inferSpaceToDepth});
  r.add({.name = "CenterCropPad", .minOpset = 18, .minInputs = 2, .maxInputs = 2,
         .attrs = {attrOpt("axes", AttrKind::kInts)}, .shapeInputs = {1}, .infer = inferCenterCropPad});
}

}  // namespace kiln::ir
