// Vision ops of the misc family: GridSample (opset 16 names bilinear/bicubic canonicalized to
// linear/cubic; N-D), AffineGrid, RoiAlign (opset 10's implicit output_half_pixel made explicit),
// NonMaxSuppression (data-dependent output count, exact at run time) and Col2Im.
#include "core/misc_select.h"
#include "ir/graph.h"
#include "ir/infer_util.h"
#include "ir/ops/misc_ops.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {

namespace {

bool knownDiffer(const Dim& a, const Dim& b) { return a.isStatic() && b.isStatic() && a.value() != b.value(); }

// ---- GridSample ---------------------------------------------------------------------------------

const std::initializer_list<DType> kGridSampleTypes = {
    DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,  DType::kUInt8,
    DType::kInt16,   DType::kUInt16,  DType::kInt32,   DType::kUInt32,   DType::kInt64, DType::kUInt64};

Status inferGridSample(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kGridSampleTypes, "GridSample"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, kFloatTypes, "GridSample grid"));
  const AttrMap& a = ctx.attrs();
  const std::string &mode = a.getString("mode"), &pad = a.getString("padding_mode");
  if (mode != "linear" && mode != "nearest" && mode != "cubic")
    return InvalidArgument("GridSample mode must be linear, nearest or cubic (bilinear/bicubic before opset 20), got '{}'",
                           mode);
  if (pad != "zeros" && pad != "border" && pad != "reflection")
    return InvalidArgument("GridSample padding_mode must be zeros, border or reflection, got '{}'", pad);
  const Shape &x = ctx.inputShape(0), &g = ctx.inputShape(1);
  if (x.rankKnown() && x.rank() < 3) return InvalidArgument("GridSample X must have shape (N, C, D1, ...), got {}", x.toString());
  if (g.rankKnown() && g.rank() < 3) return InvalidArgument("GridSample grid must have shape (N, O1, ..., r), got {}", g.toString());
  if (x.rankKnown() && g.rankKnown()) {
    const int r = x.rank() - 2;
    if (g.rank() != r + 2 || knownDiffer(g[g.rank() - 1], Dim(r)) || knownDiffer(g[0], x[0]))
      return InvalidArgument("GridSample grid {} does not match X {} (expected (N, O1..O{}, {}))", g.toString(),
                             x.toString(), r, r);
  }
  if (!g.rankKnown()) {
    ctx.setOutput(0, ctx.inputType(0), x.rankKnown() ? unknownShape(x.rank()) : Shape::unknownRank());
    return Status::OK();
  }
  std::vector<Dim> out = {x.rankKnown() ? x[0] : g[0], x.rankKnown() ? x[1] : Dim()};
  for (int i = 1; i + 1 < g.rank(); ++i) out.push_back(g[i]);
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  return Status::OK();
}

// ---- AffineGrid ---------------------------------------------------------------------------------

Status inferAffineGrid(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "AffineGrid"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt64}, "AffineGrid size"));
  const Shape &th = ctx.inputShape(0), &sz = ctx.inputShape(1);
  if (th.rankKnown() && th.rank() != 3) return InvalidArgument("AffineGrid theta must be 3-D, got {}", th.toString());
  if (sz.rankKnown() && sz.rank() != 1) return InvalidArgument("AffineGrid size must be 1-D, got {}", sz.toString());
  int n = -1;  // length of size: 4 (2-D) or 5 (3-D)
  if (sz.rankKnown() && sz[0].isStatic()) n = static_cast<int>(sz[0].value());
  else if (th.rankKnown() && th[1].isStatic()) n = static_cast<int>(th[1].value()) + 2;
  if (n != -1 && n != 4 && n != 5) return InvalidArgument("AffineGrid size must have 4 or 5 elements, got {}", n);
  if (n == -1) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  const int r = n - 2;
  if (th.rankKnown() && (knownDiffer(th[1], Dim(r)) || knownDiffer(th[2], Dim(r + 1))))
    return InvalidArgument("AffineGrid theta {} does not match a {}-D size (expected (N, {}, {}))", th.toString(), r, r,
                           r + 1);
  std::vector<Dim> out(r + 2);
  if (auto v = inputDims(ctx, 1)) {
    if (static_cast<int>(v->size()) != n) return InvalidArgument("AffineGrid size has {} elements", v->size());
    for (const Dim& d : *v)
      if (d.isStatic() && d.value() < 0) return InvalidArgument("AffineGrid size {} has a negative entry", d.value());
    out[0] = (*v)[0];
    for (int i = 0; i < r; ++i) out[1 + i] = (*v)[2 + i];
    if (th.rankKnown() && knownDiffer(th[0], out[0]))
      return InvalidArgument("AffineGrid theta batch {} differs from size batch {}", th[0].toString(), out[0].toString());
  } else if (th.rankKnown()) {
    out[0] = th[0];
  }
  out[r + 1] = Dim(r);
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  return Status::OK();
}

// ---- RoiAlign -----------------------------------------------------------------------------------

Status inferRoiAlign(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, kFloatTypes, "RoiAlign"));
  KILN_RETURN_IF_ERROR(expectSameType(ctx, 0, 1));
  KILN_RETURN_IF_ERROR(expectType(ctx, 2, {DType::kInt64, DType::kInt32}, "RoiAlign batch_indices"));
  const AttrMap& a = ctx.attrs();
  const std::string &mode = a.getString("mode"), &ctm = a.getString("coordinate_transformation_mode");
  if (mode != "avg" && mode != "max") return InvalidArgument("RoiAlign mode must be avg or max, got '{}'", mode);
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    return InvalidArgument("RoiAlign coordinate_transformation_mode must be half_pixel or output_half_pixel, got '{}'", ctm);
  const int64_t oh = a.getInt("output_height"), ow = a.getInt("output_width");
  if (oh < 1 || ow < 1) return InvalidArgument("RoiAlign output_height/output_width must be >= 1 (got {}, {})", oh, ow);
  if (a.getInt("sampling_ratio") < 0) return InvalidArgument("RoiAlign sampling_ratio must be >= 0");
  const Shape &x = ctx.inputShape(0), &rois = ctx.inputShape(1), &bi = ctx.inputShape(2);
  if (x.rankKnown() && x.rank() != 4) return InvalidArgument("RoiAlign X must have shape (N, C, H, W), got {}", x.toString());
  if (rois.rankKnown() && (rois.rank() != 2 || knownDiffer(rois[1], Dim(4))))
    return InvalidArgument("RoiAlign rois must have shape (num_rois, 4), got {}", rois.toString());
  if (bi.rankKnown() && (bi.rank() != 1 || (rois.rankKnown() && knownDiffer(bi[0], rois[0]))))
    return InvalidArgument("RoiAlign batch_indices must have shape (num_rois), got {} for rois {}", bi.toString(),
                           rois.toString());
  Dim n = rois.rankKnown() ? rois[0] : (bi.rankKnown() ? bi[0] : Dim());
  ctx.setOutput(0, ctx.inputType(0), Shape({n, x.rankKnown() ? x[1] : Dim(), Dim(oh), Dim(ow)}));
  return Status::OK();
}

// ---- NonMaxSuppression --------------------------------------------------------------------------

// Reads NMS parameters from the inputs (all present on the host); validates shapes.
Status nmsParams(const InferContext& ctx, misc::NmsParams* p) {
  const Tensor *boxes = ctx.inputValue(0), *scores = ctx.inputValue(1);
  const Dims &bd = boxes->dims(), &sd = scores->dims();
  if (bd.rank() != 3 || bd[2] != 4 || sd.rank() != 3 || sd[0] != bd[0] || sd[2] != bd[1])
    return InvalidArgument("NonMaxSuppression boxes {} / scores {} must be (B, N, 4) / (B, C, N)", bd.toString(),
                           sd.toString());
  p->batches = bd[0], p->boxes = bd[1], p->classes = sd[1];
  auto scalar = [&](int i) -> std::optional<double> {
    const Tensor* t = ctx.hasInput(i) ? ctx.inputValue(i) : nullptr;
    if (!t || t->numel() == 0) return std::nullopt;
    return t->doubleAt(0);
  };
  if (auto m = ctx.hasInput(2) ? inputInts(ctx, 2) : std::nullopt; m && !m->empty()) p->maxPerClass = std::max<int64_t>((*m)[0], 0);
  if (auto v = scalar(3)) p->iouThreshold = static_cast<float>(*v);
  if (auto v = scalar(4)) p->scoreThreshold = static_cast<float>(*v);
  p->centerPointBox = ctx.attrs().getInt("center_point_box") == 1;
  return Status::OK();
}

Status inferNonMaxSuppression(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 0, {DType::kFloat32}, "NonMaxSuppression"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kFloat32}, "NonMaxSuppression"));
  if (ctx.hasInput(2)) KILN_RETURN_IF_ERROR(expectType(ctx, 2, {DType::kInt64}, "NonMaxSuppression"));
  for (int i : {3, 4})
    if (ctx.hasInput(i)) KILN_RETURN_IF_ERROR(expectType(ctx, i, {DType::kFloat32}, "NonMaxSuppression"));
  const int64_t cpb = ctx.attrs().getInt("center_point_box");
  if (cpb != 0 && cpb != 1) return InvalidArgument("NonMaxSuppression center_point_box must be 0 or 1, got {}", cpb);
  const Shape &b = ctx.inputShape(0), &s = ctx.inputShape(1);
  if ((b.rankKnown() && (b.rank() != 3 || knownDiffer(b[2], Dim(4)))) || (s.rankKnown() && s.rank() != 3) ||
      (b.rankKnown() && s.rankKnown() && (knownDiffer(b[0], s[0]) || knownDiffer(b[1], s[2]))))
    return InvalidArgument("NonMaxSuppression boxes {} / scores {} must be (B, N, 4) / (B, C, N)", b.toString(),
                           s.toString());
  for (int i = 2; i < 5; ++i)
    if (ctx.hasInput(i) && ctx.rankKnown(i) && ctx.rankOf(i) > 1)
      return InvalidArgument("NonMaxSuppression input {} must be a scalar or 1-element tensor, got {}", i,
                             ctx.inputShape(i).toString());
  bool known = true;
  for (int i = 0; i < ctx.numInputs(); ++i)
    if (ctx.hasInput(i) && !ctx.inputValue(i)) known = false;
  Dim count;
  if (known) {
    misc::NmsParams p;
    KILN_RETURN_IF_ERROR(nmsParams(ctx, &p));
    count = static_cast<int64_t>(
        misc::nonMaxSuppression(ctx.inputValue(0)->data<float>(), ctx.inputValue(1)->data<float>(), p).size());
  } else {
    // At most every (batch, class, box) once: scores are (B, C, N).
    count = ctx.newSymbol("nms_selected", s.rankKnown() ? s.numelDim() : Dim::unknown());
  }
  ctx.setOutput(0, DType::kInt64, Shape({count, Dim(3)}));
  return Status::OK();
}

// ---- Col2Im -------------------------------------------------------------------------------------

Status inferCol2Im(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(expectType(ctx, 1, {DType::kInt64}, "Col2Im image_shape"));
  KILN_RETURN_IF_ERROR(expectType(ctx, 2, {DType::kInt64}, "Col2Im block_shape"));
  const Shape& x = ctx.inputShape(0);
  if (x.rankKnown() && x.rank() != 3)
    return InvalidArgument("Col2Im input must have shape (N, C*prod(block_shape), L), got {}", x.toString());
  auto img = inputDims(ctx, 1);
  auto block = inputInts(ctx, 2);
  int r = -1;
  if (img) r = static_cast<int>(img->size());
  else if (block) r = static_cast<int>(block->size());
  else if (ctx.rankKnown(1) && ctx.inputShape(1).rank() == 1 && ctx.inputShape(1)[0].isStatic())
    r = static_cast<int>(ctx.inputShape(1)[0].value());
  if (r < 0) {
    ctx.setOutput(0, ctx.inputType(0), Shape::unknownRank());
    return Status::OK();
  }
  if (r < 1 || r + 2 > kMaxRank) return InvalidArgument("Col2Im image_shape must have 1 to {} entries, got {}", kMaxRank - 2, r);
  if (block && static_cast<int>(block->size()) != r)
    return InvalidArgument("Col2Im image_shape ({} dims) and block_shape ({} dims) differ in length", r, block->size());
  const AttrMap& a = ctx.attrs();
  const std::vector<int64_t> dil = a.getInts("dilations", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = a.getInts("pads", std::vector<int64_t>(2 * r, 0));
  const std::vector<int64_t> strides = a.getInts("strides", std::vector<int64_t>(r, 1));
  if (static_cast<int>(dil.size()) != r || static_cast<int>(pads.size()) != 2 * r || static_cast<int>(strides.size()) != r)
    return InvalidArgument("Col2Im dilations/strides need {} values and pads {}", r, 2 * r);
  for (int i = 0; i < r; ++i)
    if (dil[i] < 1 || strides[i] < 1 || pads[i] < 0 || pads[i + r] < 0)
      return InvalidArgument("Col2Im dilations and strides must be >= 1 and pads >= 0");
  std::vector<Dim> out(r + 2);
  if (x.rankKnown()) out[0] = x[0];
  if (block) {
    int64_t prod = 1;
    for (int64_t b : *block) {
      if (b < 1) return InvalidArgument("Col2Im block_shape entries must be >= 1, got {}", b);
      prod *= b;
    }
    if (x.rankKnown()) {
      if (x[1].isStatic() && x[1].value() % prod != 0)
        return InvalidArgument("Col2Im input dim 1 ({}) is not divisible by prod(block_shape) = {}", x[1].value(), prod);
      out[1] = Dim::floorDiv(x[1], Dim(prod));
    }
    if (img && x.rankKnown() && x[2].isStatic()) {
      int64_t blocks = 1;
      bool allStatic = true;
      for (int i = 0; i < r; ++i) {
        const Dim& d = (*img)[i];
        if (!d.isStatic()) {
          allStatic = false;
          continue;
        }
        const int64_t n = (d.value() + pads[i] + pads[i + r] - dil[i] * ((*block)[i] - 1) - 1) / strides[i] + 1;
        if (n < 1) return InvalidArgument("Col2Im image_shape dim {} is too small for the block", i);
        blocks *= n;
      }
      if (allStatic && blocks != x[2].value())
        return InvalidArgument("Col2Im input has {} blocks but image_shape/block_shape give {}", x[2].value(), blocks);
    }
  }
  if (img)
    for (int i = 0; i < r; ++i) {
      if ((*img)[i].isStatic() && (*img)[i].value() < 1) return InvalidArgument("Col2Im image_shape entries must be >= 1");
      out[2 + i] = (*img)[i];
    }
  ctx.setOutput(0, ctx.inputType(0), Shape(std::move(out)));
  return Status::OK();
}

}  // namespace

void RegisterMiscVisionOps(OpRegistry& r) {
  r.add({.name = "GridSample", .minOpset = 16, .minInputs = 2, .maxInputs = 2,
         .attrs = {attrI("align_corners", 0), attrS("mode", "linear"), attrS("padding_mode", "zeros")},
         .infer = inferGridSample,
         .import = [](ImportContext& ctx) -> Status {
           // Opset 16 named the modes bilinear/bicubic (and defaulted to bilinear).
           AttrMap& a = ctx.node().attrs();
           if (ctx.opset() >= 20) return Status::OK();
           const std::string mode = a.getString("mode", "bilinear");
           if (mode == "bilinear") a.set("mode", "linear");
           else if (mode == "bicubic") a.set("mode", "cubic");
           else if (mode != "nearest")
             return InvalidArgument("GridSample mode must be bilinear, nearest or bicubic at opset {}, got '{}'",
                                    ctx.opset(), mode);
           return Status::OK();
         }});
  r.add({.name = "AffineGrid", .minOpset = 20, .minInputs = 2, .maxInputs = 2, .attrs = {attrI("align_corners", 0)},
         .shapeInputs = {1}, .infer = inferAffineGrid});
  r.add({.name = "RoiAlign", .minOpset = 10, .minInputs = 3, .maxInputs = 3,
         .attrs = {attrS("coordinate_transformation_mode", "half_pixel"), attrS("mode", "avg"),
                   attrI("output_height", 1), attrI("output_width", 1), attrI("sampling_ratio", 0),
                   attrF("spatial_scale", 1.0f)},
         .infer = inferRoiAlign,
         .import = [](ImportContext& ctx) -> Status {
           // Before opset 16 RoiAlign had no coordinate_transformation_mode and behaved as
           // output_half_pixel (no half-pixel shift).
           if (ctx.opset() < 16 && !ctx.node().attrs().has("coordinate_transformation_mode"))
             ctx.node().attrs().set("coordinate_transformation_mode", "output_half_pixel");
           return Status::OK();
         }});
  r.add({.name = "NonMaxSuppression", .minOpset = 10, .minInputs = 2, .maxInputs = 5,
         .attrs = {attrI("center_point_box", 0)}, .traits = kTraitDataDependentShape, .shapeInputs = {0, 1, 2, 3, 4},
         .infer = inferNonMaxSuppression});
  r.add({.name = "Col2Im", .minOpset = 18, .minInputs = 3, .maxInputs = 3,
         .attrs = {attrOpt("dilations", AttrKind::kInts), attrOpt("pads", AttrKind::kInts),
                   attrOpt("strides", AttrKind::kInts)},
         .shapeInputs = {1, 2}, .infer = inferCol2Im});
}

}  // namespace kiln::ir
