// Host side of Pad, CenterCropPad, Resize and Upsample. Their shape-like inputs (pads, the
// constant value, axes, roi, scales, sizes) arrive on the host; this file turns them into the
// per-axis parameters of the kernels in data_pad.cu / data_resize.cu, with the CPU reference's
// validation (layout.cc, layout_resize.cc).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/data_util.h"
#include "core/layout_resize_shape.h"

namespace kiln::cuda::data {

namespace {

Status checkData(std::string_view op, const Tensor& x, const Tensor& y) {
  if (x.dtype() != y.dtype() || !movableType(x.dtype()))
    return Unsupported("{} on the GPU: cannot move {} into {}", op, dtypeName(x.dtype()), dtypeName(y.dtype()));
  if (x.rank() != y.rank()) return InternalError("{} output {} has a different rank than {}", op, y.describe(), x.describe());
  if (x.rank() > kMaxDims) return Unsupported("{} on the GPU supports rank <= {}, got {}", op, kMaxDims, x.rank());
  return Status::OK();
}

Status padK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkData("Pad", x, y));
  const std::string& modeName = c.attrs.getString("mode");
  PadArgs a;
  if (modeName == "constant") a.mode = PadMode::kConstant;
  else if (modeName == "edge") a.mode = PadMode::kEdge;
  else if (modeName == "reflect") a.mode = PadMode::kReflect;
  else if (modeName == "wrap") a.mode = PadMode::kWrap;
  else return InvalidArgument("Pad mode '{}' is not constant, edge, reflect or wrap", modeName);
  const int r = x.rank();
  std::vector<int> axes;
  if (c.hasInput(3)) {
    const Tensor& at = c.in(3);
    for (int64_t i = 0; i < at.numel(); ++i) {
      const int64_t ax = at.intAt(i);
      if (ax < -r || ax >= r) return InvalidArgument("Pad axis {} is out of range for rank {}", ax, r);
      axes.push_back(static_cast<int>(normAxis(ax, r)));
    }
  } else {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  const Tensor& pads = c.in(1);
  const size_t na = axes.size();
  if (pads.numel() != static_cast<int64_t>(2 * na))
    return InvalidArgument("Pad pads has {} elements; expected {}", pads.numel(), 2 * na);
  int64_t begin[kMaxDims] = {}, end[kMaxDims] = {};
  for (size_t i = 0; i < na; ++i) {
    begin[axes[i]] = pads.intAt(static_cast<int64_t>(i));
    end[axes[i]] = pads.intAt(static_cast<int64_t>(i + na));
  }
  for (int ax = 0; ax < r; ++ax) {
    const int64_t n = x.dims()[ax];
    if (y.dims()[ax] != n + begin[ax] + end[ax])
      return InternalError("Pad output {} does not match {} padded on axis {}", y.describe(), x.describe(), ax);
    if (n == 0 && a.mode != PadMode::kConstant && y.dims()[ax] > 0)
      return InvalidArgument("Pad mode '{}' cannot pad axis {}, which is empty", modeName, ax);
    a.inDims[ax] = n;
    a.outDims[ax] = y.dims()[ax];
    a.begin[ax] = begin[ax];
  }
  a.x = x.raw();
  a.y = y.raw();
  a.elemSize = static_cast<int>(dtypeSize(x.dtype()));
  a.rank = r;
  a.n = y.numel();
  if (c.hasInput(2) && c.in(2).numel() > 0) {
    const Tensor& v = c.in(2);
    if (v.dtype() == x.dtype()) {
      std::memcpy(&a.fill, v.raw(), static_cast<size_t>(a.elemSize));
    } else if (v.dtype() == DType::kString || !valueBits(x.dtype(), v.doubleAt(0), &a.fill)) {
      // (a value of another type, e.g. float32 for data lowered to float16, is converted above)
      return InvalidArgument("Pad constant_value is {}, the data {}", dtypeName(v.dtype()), dtypeName(x.dtype()));
    }
  }
  KILN_CUDA_RETURN_IF_ERROR(launchPad(a, c.res.smCount, c.stream));
  return Status::OK();
}

Status centerCropPadK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  KILN_RETURN_IF_ERROR(checkData("CenterCropPad", x, y));
  PadArgs a;
  a.mode = PadMode::kConstant;
  for (int ax = 0; ax < x.rank(); ++ax) {
    const int64_t n = x.dims()[ax], m = y.dims()[ax];
    // The centre of the larger side; the extra element of an odd difference goes at the end.
    a.begin[ax] = m >= n ? (m - n) / 2 : -((n - m) / 2);
    a.inDims[ax] = n;
    a.outDims[ax] = m;
  }
  a.x = x.raw();
  a.y = y.raw();
  a.elemSize = static_cast<int>(dtypeSize(x.dtype()));
  a.rank = x.rank();
  a.n = y.numel();
  KILN_CUDA_RETURN_IF_ERROR(launchPad(a, c.res.smCount, c.stream));
  return Status::OK();
}

// ---- Resize ---------------------------------------------------------------------------------------

bool isClose(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)); }

// Bits of v converted to t like the reference's saturate_cast (layout_resize.cc saturateTo).
template <typename T>
uint64_t saturatedBits(double v) {
  T r;
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) {
      r = T(0);
    } else {
      const double rr = std::nearbyint(v);
      if (rr <= static_cast<double>(std::numeric_limits<T>::lowest())) r = std::numeric_limits<T>::lowest();
      else if (rr >= static_cast<double>(std::numeric_limits<T>::max())) r = std::numeric_limits<T>::max();
      else r = static_cast<T>(rr);
    }
  } else {
    double hi;
    if constexpr (std::is_same_v<T, Float16>) hi = 65504.0;
    else if constexpr (std::is_same_v<T, BFloat16>) hi = 3.3895313892515355e38;
    else hi = static_cast<double>(std::numeric_limits<T>::max());
    r = convertValue<T>(v > hi ? hi : (v < -hi ? -hi : v));
  }
  uint64_t bits = 0;
  std::memcpy(&bits, &r, sizeof(T));
  return bits;
}

bool extrapolationBits(DType t, double v, uint64_t* bits) {
  using NearestTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                                uint32_t, int64_t, uint64_t, bool>;
  return dispatchType<NearestTypes>(t, [&](auto tag) { *bits = saturatedBits<typename decltype(tag)::type>(v); });
}

struct ResizeSetup {
  std::vector<int> axes;          // processing order
  std::vector<double> roi;        // empty without a roi
  std::vector<double> scales;     // given scales (per entry of axes) or empty
  std::vector<int64_t> sizes;     // given sizes or empty
  ResizeAspectPolicy policy = ResizeAspectPolicy::kStretch;
};

Status runResize(const GpuKernelContext& c, const Tensor& x, Tensor& y, ResizeArgs a, const ResizeSetup& s) {
  const int r = x.rank();
  if (r < 1 || r > kMaxResizeRank) return Unsupported("Resize on the GPU supports rank 1..{}, got {}", kMaxResizeRank, r);
  if (x.dtype() != y.dtype()) return InternalError("Resize output {} differs in type from {}", y.describe(), x.describe());
  std::vector<double> scales;
  std::vector<int64_t> outSizes;
  KILN_RETURN_IF_ERROR(computeResizeShape(x.dims().vec(), s.axes, s.scales, s.sizes, s.policy, &scales, &outSizes));
  if (Dims(outSizes) != y.dims())
    return InternalError("Resize output shape {} differs from the computed {}", y.dims().toString(), Dims(outSizes).toString());
  const size_t na = s.axes.size();
  std::vector<double> roiStart(r, 0.0), roiEnd(r, 1.0);
  const bool hasRoi = !s.roi.empty();
  if (hasRoi) {
    if (s.roi.size() != 2 * na) return InvalidArgument("Resize roi has {} elements; expected {}", s.roi.size(), 2 * na);
    for (size_t i = 0; i < na; ++i) {
      roiStart[s.axes[i]] = s.roi[i];
      roiEnd[s.axes[i]] = s.roi[na + i];
    }
  } else if (a.coord == ResizeCoord::kTfCrop) {
    return InvalidArgument("Resize with tf_crop_and_resize needs a roi");
  }
  a.rank = r;
  int64_t acc = 1;
  for (int ax = r - 1; ax >= 0; --ax) {
    a.inDims[ax] = x.dims()[ax];
    a.outDims[ax] = y.dims()[ax];
    a.inStrides[ax] = acc;
    acc *= x.dims()[ax];
    a.scale[ax] = scales[ax];
    const double inW = static_cast<double>(x.dims()[ax]);
    // tf_crop_and_resize: roi is float32 data, so its width and start offset are float32 values.
    a.roiWidth[ax] = static_cast<float>(static_cast<float>(roiEnd[ax]) - static_cast<float>(roiStart[ax]));
    a.roiStart[ax] = static_cast<float>(static_cast<float>(roiStart[ax]) * static_cast<float>(inW - 1));
    const double outW = scales[ax] * inW;
    const double adjustment = static_cast<double>(y.dims()[ax]) / outW;
    const double center = inW / 2;
    a.symOffset[ax] = center * (1 - adjustment);
  }
  a.numActive = 0;
  for (int ax : s.axes) {
    const int64_t in = x.dims()[ax], out = y.dims()[ax];
    const bool identity = isClose(scales[ax], 1.0) && in == out &&
                          (!hasRoi || (isClose(roiStart[ax], 0.0) && isClose(roiEnd[ax], 1.0)));
    if (identity || out == 0) continue;
    if (in == 0) return InvalidArgument("Resize cannot resize an empty axis {} to size {}", ax, out);
    a.active[ax] = true;
    a.order[a.numActive++] = ax;
  }
  if (y.numel() == 0) return Status::OK();
  if (a.numActive == 0) {
    if (x.nbytes() != y.nbytes()) return InternalError("Resize without resized axes changes {} into {}", x.describe(), y.describe());
    KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), x.raw(), y.nbytes(), cudaMemcpyDeviceToDevice, c.stream));
    return Status::OK();
  }
  if (a.antialias) {
    // The filter stretches by 1/scale when downscaling: tapCount() of layout_resize.cc.
    if (a.numActive > 3) return Unsupported("Resize with antialias on the GPU resizes at most 3 axes, not {}", a.numActive);
    for (int j = 0; j < a.numActive; ++j) {
      const int ax = a.order[j];
      const double s = std::min(a.scale[ax], 1.0);
      const double support = a.mode == ResizeMode::kLinear ? 1.0 : 2.0;
      const int64_t first = static_cast<int64_t>(std::floor(-support / s) + 1);
      const int64_t taps = 2 - 2 * first;
      if (taps <= 0 || taps > kMaxResizeTaps)
        return Unsupported("Resize with antialias at scale {} needs {} filter taps; the GPU kernel takes at most {}",
                           a.scale[ax], taps, kMaxResizeTaps);
      a.taps[ax] = static_cast<int>(taps);
    }
  }
  if (a.mode == ResizeMode::kLinear && a.numActive > 4)
    return Unsupported("Resize linear on the GPU resizes at most 4 axes, not {}", a.numActive);
  if (a.mode == ResizeMode::kCubic && a.numActive > 3)
    return Unsupported("Resize cubic on the GPU resizes at most 3 axes, not {}", a.numActive);
  a.x = x.raw();
  a.y = y.raw();
  a.elemSize = static_cast<int>(dtypeSize(x.dtype()));
  a.n = y.numel();
  if (a.mode == ResizeMode::kNearest) {
    if (!extrapolationBits(x.dtype(), a.extrapolation, &a.extrapolationBits))
      return Unsupported("Resize (nearest) on the GPU does not support {}", dtypeName(x.dtype()));
  } else if (!elemKindOf(x.dtype(), &a.kind) || x.dtype() == DType::kBool) {
    return Unsupported("Resize (linear/cubic) on the GPU does not support {}", dtypeName(x.dtype()));
  }
  KILN_CUDA_RETURN_IF_ERROR(launchResize(a, c.res.smCount, c.stream));
  return Status::OK();
}

Status parseResizeAttrs(const AttrMap& at, ResizeArgs* a) {
  const std::string& m = at.getString("mode");
  if (m == "nearest") a->mode = ResizeMode::kNearest;
  else if (m == "linear") a->mode = ResizeMode::kLinear;
  else if (m == "cubic") a->mode = ResizeMode::kCubic;
  else return InvalidArgument("Resize mode '{}' is not supported", m);
  const std::string& t = at.getString("coordinate_transformation_mode");
  if (t == "half_pixel") a->coord = ResizeCoord::kHalfPixel;
  else if (t == "half_pixel_symmetric") a->coord = ResizeCoord::kHalfPixelSymmetric;
  else if (t == "pytorch_half_pixel") a->coord = ResizeCoord::kPytorchHalfPixel;
  else if (t == "align_corners") a->coord = ResizeCoord::kAlignCorners;
  else if (t == "asymmetric") a->coord = ResizeCoord::kAsymmetric;
  else if (t == "tf_crop_and_resize") a->coord = ResizeCoord::kTfCrop;
  else if (t == "tf_half_pixel_for_nn") a->coord = ResizeCoord::kTfHalfPixelForNN;
  else return InvalidArgument("Resize coordinate_transformation_mode '{}' is not supported", t);
  const std::string& n = at.getString("nearest_mode");
  if (n == "round_prefer_floor") a->nearest = ResizeNearest::kRoundPreferFloor;
  else if (n == "round_prefer_ceil") a->nearest = ResizeNearest::kRoundPreferCeil;
  else if (n == "floor") a->nearest = ResizeNearest::kFloor;
  else if (n == "ceil") a->nearest = ResizeNearest::kCeil;
  else return InvalidArgument("Resize nearest_mode '{}' is not supported", n);
  a->cubicA = at.getFloat("cubic_coeff_a");
  a->excludeOutside = at.getInt("exclude_outside") != 0;
  a->extrapolation = at.getFloat("extrapolation_value");
  a->antialias = at.getInt("antialias") != 0 && a->mode != ResizeMode::kNearest;
  return Status::OK();
}

std::vector<double> doubles(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.doubleAt(i);
  return v;
}

Status resizeK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int r = x.rank();
  ResizeArgs a;
  KILN_RETURN_IF_ERROR(parseResizeAttrs(c.attrs, &a));
  ResizeSetup s;
  if (c.attrs.has("axes")) {
    for (int64_t ax : c.attrs.getInts("axes")) {
      if (ax < -r || ax >= r) return InvalidArgument("Resize axis {} is out of range for rank {}", ax, r);
      s.axes.push_back(static_cast<int>(normAxis(ax, r)));
    }
  } else {
    for (int i = 0; i < r; ++i) s.axes.push_back(i);
  }
  auto nonEmpty = [&](int i) { return c.hasInput(i) && c.in(i).numel() > 0; };
  if (nonEmpty(3)) {
    for (int64_t i = 0; i < c.in(3).numel(); ++i) s.sizes.push_back(c.in(3).intAt(i));
  } else if (nonEmpty(2)) {
    s.scales = doubles(c.in(2));
  } else {
    return InvalidArgument("Resize needs one of scales and sizes");
  }
  if (!parseResizeAspectPolicy(c.attrs.getString("keep_aspect_ratio_policy"), &s.policy))
    return InvalidArgument("Resize keep_aspect_ratio_policy '{}' is not supported", c.attrs.getString("keep_aspect_ratio_policy"));
  if (nonEmpty(1)) s.roi = doubles(c.in(1));
  return runResize(c, x, y, a, s);
}

// Upsample (opset 7-9): nearest (floor) or linear with asymmetric coordinates, every axis scaled.
Status upsampleK(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  ResizeArgs a;
  std::string mode = c.attrs.getString("mode");
  if (mode == "bilinear") mode = "linear";
  if (mode != "nearest" && mode != "linear") return InvalidArgument("Upsample mode '{}' is not nearest or linear", mode);
  a.mode = mode == "nearest" ? ResizeMode::kNearest : ResizeMode::kLinear;
  a.coord = ResizeCoord::kAsymmetric;
  a.nearest = ResizeNearest::kFloor;
  ResizeSetup s;
  if (c.hasInput(1)) {
    s.scales = doubles(c.in(1));
  } else {
    const auto& f = c.attrs.getFloats("scales", {});
    s.scales.assign(f.begin(), f.end());
  }
  for (int i = 0; i < x.rank(); ++i) s.axes.push_back(i);
  return runResize(c, x, y, a, s);
}

bool resizeSupported(const LayerDesc& d) {
  if (!movableLayer(d, {0})) return false;
  const int r = knownRank(d, 0);
  if (r > kMaxResizeRank || r == 0) return false;
  std::string mode = d.attrs && d.attrs->has("mode") ? d.attrs->getString("mode") : "nearest";
  if (mode == "nearest") return true;
  const bool antialias = d.op == "Resize" && d.attrs && d.attrs->has("antialias") && d.attrs->getInt("antialias") != 0;
  ElemKind k;
  if (d.inputTypes.empty() || !elemKindOf(d.inputTypes[0], &k) || d.inputTypes[0] == DType::kBool) return false;
  // Every resized axis is one level of the tap product (linear <= 4 axes, cubic <= 3). Count the
  // axes that may change: those whose constant scale is not 1, else every listed axis.
  const int limit = mode == "cubic" || antialias ? 3 : 4;
  int maybe = r < 0 ? 1000 : r;
  if (d.op == "Resize" && d.attrs && d.attrs->has("axes")) maybe = static_cast<int>(d.attrs->getInts("axes").size());
  const int scalesInput = d.op == "Resize" ? 2 : 1;
  const Tensor* sc = scalesInput < static_cast<int>(d.constInputs.size()) ? d.constInputs[scalesInput] : nullptr;
  if (sc && sc->numel() > 0) {
    maybe = 0;
    for (int64_t i = 0; i < sc->numel(); ++i) maybe += sc->doubleAt(i) != 1.0;
  } else if (d.op == "Upsample" && !(d.inputTypes.size() > 1) && d.attrs && d.attrs->has("scales")) {
    maybe = 0;
    for (float f : d.attrs->getFloats("scales")) maybe += f != 1.0f;
  } else if (d.op == "Resize" && d.constInputs.size() > 3 && d.constInputs[3] && d.constInputs[3]->numel() > 0 &&
             d.inputShapes[0].isStatic()) {
    const Tensor* sz = d.constInputs[3];
    const Dims in = *d.inputShapes[0].toDims();
    std::vector<int> axes;
    if (d.attrs && d.attrs->has("axes")) {
      for (int64_t ax : d.attrs->getInts("axes")) axes.push_back(static_cast<int>(normAxis(ax, in.rank())));
    } else {
      for (int i = 0; i < in.rank(); ++i) axes.push_back(i);
    }
    if (static_cast<int64_t>(axes.size()) == sz->numel()) {
      maybe = 0;
      for (size_t i = 0; i < axes.size(); ++i)
        if (axes[i] >= 0 && axes[i] < in.rank()) maybe += sz->intAt(static_cast<int64_t>(i)) != in[axes[i]];
    }
  }
  return maybe <= limit;
}

}  // namespace

void registerDataPadResizeKernels(GpuKernelRegistry& r) {
  r.addFn("Pad", "cuda_data_pad", &padK, [](const LayerDesc& d) {
    return movableLayer(d, {0}) && knownRank(d, 0) <= kMaxDims;
  }, 10);
  r.addFn("CenterCropPad", "cuda_data_center_crop_pad", &centerCropPadK, [](const LayerDesc& d) {
    return movableLayer(d, {0}) && knownRank(d, 0) <= kMaxDims;
  }, 10);
  r.addFn("Resize", "cuda_data_resize", &resizeK, resizeSupported, 10);
  r.addFn("Upsample", "cuda_data_upsample", &upsampleK, resizeSupported, 10);
}

}  // namespace kiln::cuda::data
