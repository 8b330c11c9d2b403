// CPU reference kernels for Resize (opsets 10-19: nearest/linear/cubic, every coordinate
// transformation mode, antialias, exclude_outside, tf_crop_and_resize extrapolation, axes,
// keep_aspect_ratio_policy) and Upsample. Semantics follow the ONNX reference evaluator
// (onnx/reference/ops/op_resize.py): the resize is separable, one axis at a time in the order of
// `axes`; axes whose scale is 1 with an unchanged size (and a trivial roi) are skipped; each
// output coordinate maps to a real-valued input coordinate, whose n nearest input samples
// (clamped to the edge) are weighted by the mode's coefficients, accumulated in double. Opset 11-12's
// tf_half_pixel_for_nn coordinates are supported too. Cubic coefficients are computed in double
// (the reference evaluator rounds them through its float32 attribute, which can move integer
// results that land within 1e-6 of .5).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/indexing_util.h"
#include "core/layout_resize_shape.h"

namespace kiln::cpu {

namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord { kHalfPixel, kHalfPixelSymmetric, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfCrop, kTfHalfPixelForNN };
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

struct ResizeConfig {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  double cubicA = -0.75;
  bool excludeOutside = false;
  bool antialias = false;
  double extrapolation = 0.0;
  std::vector<int> axes;                // resized axes, in processing order
  std::vector<double> scales;           // per input axis
  std::vector<double> roiStart, roiEnd;  // per input axis; empty without a roi
};

Status parseConfig(const AttrMap& a, ResizeConfig* c) {
  const std::string& m = a.getString("mode");
  if (m == "nearest") c->mode = Mode::kNearest;
  else if (m == "linear") c->mode = Mode::kLinear;
  else if (m == "cubic") c->mode = Mode::kCubic;
  else return InvalidArgument("Resize mode '{}' is not supported", m);
  const std::string& t = a.getString("coordinate_transformation_mode");
  if (t == "half_pixel") c->coord = Coord::kHalfPixel;
  else if (t == "half_pixel_symmetric") c->coord = Coord::kHalfPixelSymmetric;
  else if (t == "pytorch_half_pixel") c->coord = Coord::kPytorchHalfPixel;
  else if (t == "align_corners") c->coord = Coord::kAlignCorners;
  else if (t == "asymmetric") c->coord = Coord::kAsymmetric;
  else if (t == "tf_crop_and_resize") c->coord = Coord::kTfCrop;
  else if (t == "tf_half_pixel_for_nn") c->coord = Coord::kTfHalfPixelForNN;  // opset 11-12
  else return InvalidArgument("Resize coordinate_transformation_mode '{}' is not supported", t);
  const std::string& n = a.getString("nearest_mode");
  if (n == "round_prefer_floor") c->nearest = Nearest::kRoundPreferFloor;
  else if (n == "round_prefer_ceil") c->nearest = Nearest::kRoundPreferCeil;
  else if (n == "floor") c->nearest = Nearest::kFloor;
  else if (n == "ceil") c->nearest = Nearest::kCeil;
  else return InvalidArgument("Resize nearest_mode '{}' is not supported", n);
  c->cubicA = a.getFloat("cubic_coeff_a");
  c->excludeOutside = a.getInt("exclude_outside") != 0;
  c->antialias = a.getInt("antialias") != 0 && c->mode != Mode::kNearest;
  c->extrapolation = a.getFloat("extrapolation_value");
  return Status::OK();
}

// Weights of the n samples around one output coordinate and where they start (before clamping).
struct AxisPlan {
  int64_t in = 0, out = 0, taps = 0;
  std::vector<int64_t> start;   // per output index: first (unclamped) input index of the window
  std::vector<double> coef;     // out x taps
  std::vector<uint8_t> extrap;  // tf_crop_and_resize: the coordinate is outside the input
};

double cubicKernel(double x, double A) {
  x = std::fabs(x);
  const double x2 = x * x, x3 = x2 * x;
  if (x <= 1) return (A + 2) * x3 - (A + 3) * x2 + 1;
  if (x < 2) return A * x3 - 5 * A * x2 + 8 * A * x - 4 * A;
  return 0.0;
}

// Coefficients for `ratio` in (0, 1]: the input coordinate's distance past the window's sample
// at index taps/2 - 1.
void coefficients(const ResizeConfig& c, double ratio, double scale, int64_t taps, double* w) {
  switch (c.mode) {
    case Mode::kNearest: {
      bool right;
      if (ratio == 1.0) right = true;
      else if (c.nearest == Nearest::kRoundPreferFloor) right = ratio > 0.5;
      else if (c.nearest == Nearest::kRoundPreferCeil) right = ratio >= 0.5;
      else right = c.nearest == Nearest::kCeil;
      w[0] = right ? 0.0 : 1.0;
      w[1] = right ? 1.0 : 0.0;
      return;
    }
    case Mode::kLinear: {
      if (!c.antialias) {
        w[0] = 1 - ratio;
        w[1] = ratio;
        return;
      }
      const double s = std::min(scale, 1.0);
      const int64_t start = 1 - taps / 2;
      double sum = 0;
      for (int64_t k = 0; k < taps; ++k) {
        const double arg = (static_cast<double>(start + k) - ratio) * s;
        w[k] = std::clamp(1 - std::fabs(arg), 0.0, 1.0);
        sum += w[k];
      }
      for (int64_t k = 0; k < taps; ++k) w[k] /= sum;
      return;
    }
    case Mode::kCubic: {
      const double A = c.cubicA;
      if (!c.antialias) {
        const double r1 = ratio + 1, q = 1 - ratio, q1 = q + 1;
        w[0] = ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
        w[1] = ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1;
        w[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
        w[3] = ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A;
        return;
      }
      const double s = std::min(scale, 1.0);
      const int64_t start = 1 - taps / 2;
      double sum = 0;
      for (int64_t k = 0; k < taps; ++k) {
        w[k] = cubicKernel(s * (static_cast<double>(start + k) - ratio), A);
        sum += w[k];
      }
      for (int64_t k = 0; k < taps; ++k) w[k] /= sum;
      return;
    }
  }
}

int64_t tapCount(const ResizeConfig& c, double scale) {
  if (c.mode == Mode::kNearest || (c.mode == Mode::kLinear && !c.antialias)) return 2;
  if (c.mode == Mode::kCubic && !c.antialias) return 4;
  const double s = std::min(scale, 1.0);
  const double support = c.mode == Mode::kLinear ? 1.0 : 2.0;
  const int64_t start = static_cast<int64_t>(std::floor(-support / s) + 1);
  return 2 - 2 * start;
}

Status planAxis(const ResizeConfig& c, int axis, int64_t in, int64_t out, AxisPlan* p) {
  const double scale = c.scales[axis];
  p->in = in;
  p->out = out;
  p->taps = tapCount(c, scale);
  if (p->taps <= 0 || p->taps > (int64_t{1} << 24))
    return InvalidArgument("Resize scale {} needs {} filter taps", scale, p->taps);
  p->start.resize(out);
  p->coef.resize(out * p->taps);
  p->extrap.assign(out, 0);
  const double inW = static_cast<double>(in);
  const double outW = scale * inW;  // may be fractional
  const double outInt = static_cast<double>(out);
  const bool hasRoi = !c.roiStart.empty();
  const double r0 = hasRoi ? c.roiStart[axis] : 0.0, r1 = hasRoi ? c.roiEnd[axis] : 1.0;
  const int64_t n = p->taps, half = n / 2;
  for (int64_t yi = 0; yi < out; ++yi) {
    const double y = static_cast<double>(yi);
    double x = 0;
    switch (c.coord) {
      case Coord::kAlignCorners: x = outW == 1 ? 0.0 : y * (inW - 1) / (outW - 1); break;
      case Coord::kAsymmetric: x = y / scale; break;
      case Coord::kTfCrop: {
        // roi is float32 data: its width and start offset are float32 results in the reference.
        const double width = static_cast<float>(static_cast<float>(r1) - static_cast<float>(r0));
        const double start = static_cast<float>(static_cast<float>(r0) * static_cast<float>(inW - 1));
        x = outW == 1 ? width * (inW - 1) / 2 : y * width * (inW - 1) / (outW - 1);
        x = x + start;
        p->extrap[yi] = x < 0 || x > inW - 1;
        break;
      }
      case Coord::kPytorchHalfPixel: x = outW == 1 ? -0.5 : (y + 0.5) / scale - 0.5; break;
      case Coord::kHalfPixel: x = (y + 0.5) / scale - 0.5; break;
      case Coord::kTfHalfPixelForNN: x = (y + 0.5) / scale; break;
      case Coord::kHalfPixelSymmetric: {
        const double adjustment = outInt / outW;
        const double center = inW / 2;
        const double offset = center * (1 - adjustment);
        x = offset + (y + 0.5) / scale - 0.5;
        break;
      }
    }
    if (!std::isfinite(x)) {
      p->extrap[yi] = 1;  // only reachable with degenerate rois; the output takes the fill
      x = 0;
    }
    const double xf = std::floor(x);
    const double ratio = x == xf ? 1.0 : x - xf;
    double* w = &p->coef[yi * n];
    coefficients(c, ratio, scale, n, w);
    // The n samples nearest to x, ties to the smaller index (computed as the reference does,
    // on the coordinate shifted by the edge padding).
    const double xp = x + static_cast<double>(half);
    const double pf = std::floor(xp);
    const int64_t start = static_cast<int64_t>(pf) + (xp == pf ? -half : -half + 1) - half;
    p->start[yi] = start;
    if (c.excludeOutside) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t idx = start + k;
        if (idx < 0 || idx >= in) w[k] = 0;
        sum += w[k];
      }
      if (sum == 0) sum = 1;
      for (int64_t k = 0; k < n; ++k) w[k] /= sum;
    }
  }
  return Status::OK();
}

bool isClose(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)); }

// The reference skips axes that keep their size at scale 1 with a trivial roi.
bool identityAxis(const ResizeConfig& c, int axis, int64_t in, int64_t out) {
  if (!isClose(c.scales[axis], 1.0) || in != out) return false;
  if (c.roiStart.empty()) return true;
  return isClose(c.roiStart[axis], 0.0) && isClose(c.roiEnd[axis], 1.0);
}

// Float to T as onnx.numpy_helper.saturate_cast: integers round half to even and clamp; floats
// clamp to the finite range.
template <typename T, typename A>
T saturateTo(A v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return T(0);
    const double r = std::nearbyint(static_cast<double>(v));
    if (r <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (r >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(r);
  } else {
    double hi;
    if constexpr (std::is_same_v<T, Float16>) hi = 65504.0;
    else if constexpr (std::is_same_v<T, BFloat16>) hi = 3.3895313892515355e38;
    else hi = static_cast<double>(std::numeric_limits<T>::max());
    const double d = static_cast<double>(v);
    if (d > hi) return convertValue<T>(hi);
    if (d < -hi) return convertValue<T>(-hi);
    return convertValue<T>(v);
  }
}

// Nearest: every output sample is one input sample (or a fill), so the resize is a gather.
template <typename T>
void resizeNearest(const ResizeConfig& c, const Tensor& x, Tensor& y, const std::vector<AxisPlan>& plans,
                   const std::vector<bool>& active) {
  const int r = x.rank();
  std::vector<std::vector<int64_t>> maps(r);
  for (int a = 0; a < r; ++a) {
    const int64_t out = y.dims()[a];
    maps[a].resize(out);
    if (!active[a]) {
      for (int64_t o = 0; o < out; ++o) maps[a][o] = o;
      continue;
    }
    const AxisPlan& p = plans[a];
    for (int64_t o = 0; o < out; ++o) {
      const double* w = &p.coef[o * 2];
      const int64_t idx = p.start[o] + (w[1] > w[0] ? 1 : 0);
      if (p.extrap[o]) maps[a][o] = -1;
      else if (w[0] == 0 && w[1] == 0) maps[a][o] = -2;  // exclude_outside removed the sample
      else maps[a][o] = std::clamp<int64_t>(idx, 0, p.in - 1);
    }
  }
  const T fills[2] = {saturateTo<T>(c.extrapolation), convertValue<T>(0.0f)};
  axisMapGather(x.data<T>(), x.dims(), y.data<T>(), y.dims(), maps, fills);
}

template <typename T>
double loadValue(const T& v) {
  return static_cast<double>(static_cast<compute_t<T>>(v));
}
template <typename T>
T storeValue(double v) {
  if constexpr (std::is_same_v<T, double>) return v;
  else return saturateTo<T>(v);
}

// One separable pass along an axis, accumulating in double as the reference does:
// dst[o, yo, i] = sum_k w[yo][k] * src[o, clamp(start + k), i]. S and D are the element types of
// the source and destination (the input type first, double in between, the output type last).
template <typename S, typename D>
void resizePass(const S* src, D* dst, int64_t outer, int64_t inner, const AxisPlan& p, double extrapolation) {
  const int64_t n = p.taps;
  const D fill = storeValue<D>(extrapolation);
  parallelFor(outer * p.out, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, inner * n)), [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(n);
    std::vector<double> acc(inner);
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / p.out, yo = t % p.out;
      D* d = dst + t * inner;
      if (p.extrap[yo]) {
        std::fill_n(d, inner, fill);
        continue;
      }
      const double* w = &p.coef[yo * n];
      for (int64_t k = 0; k < n; ++k) idx[k] = std::clamp<int64_t>(p.start[yo] + k, 0, p.in - 1);
      const S* s = src + o * p.in * inner;
      if (inner == 1) {
        double a = 0;
        for (int64_t k = 0; k < n; ++k) a += w[k] * loadValue(s[idx[k]]);
        d[0] = storeValue<D>(a);
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t k = 0; k < n; ++k) {
        const double wk = w[k];
        const S* sk = s + idx[k] * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] += wk * loadValue(sk[i]);
      }
      for (int64_t i = 0; i < inner; ++i) d[i] = storeValue<D>(acc[i]);
    }
  });
}

// Linear/cubic: one pass per resized axis; intermediates in double.
template <typename T>
void resizeInterpolate(const ResizeConfig& c, const Tensor& x, Tensor& y, const std::vector<AxisPlan>& plans,
                       const std::vector<bool>& active) {
  const int r = x.rank();
  std::vector<int> order;
  for (int a : c.axes)
    if (active[a]) order.push_back(a);
  if (order.empty()) {
    copyTensorData(x, y);
    return;
  }
  Dims cur = x.dims();
  std::vector<double> buf, next;
  for (size_t k = 0; k < order.size(); ++k) {
    const int a = order[k];
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; ++i) outer *= cur[i];
    for (int i = a + 1; i < r; ++i) inner *= cur[i];
    const bool first = k == 0, last = k + 1 == order.size();
    if (last) {
      if (first) resizePass(x.data<T>(), y.data<T>(), outer, inner, plans[a], c.extrapolation);
      else resizePass(buf.data(), y.data<T>(), outer, inner, plans[a], c.extrapolation);
    } else {
      next.resize(outer * plans[a].out * inner);
      if (first) resizePass(x.data<T>(), next.data(), outer, inner, plans[a], c.extrapolation);
      else resizePass(buf.data(), next.data(), outer, inner, plans[a], c.extrapolation);
      buf.swap(next);
    }
    cur[a] = plans[a].out;
  }
}

using NearestTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t,
                              uint32_t, int64_t, uint64_t, bool>;

Status runResize(ResizeConfig& c, const Tensor& x, Tensor& y) {
  const int r = x.rank();
  std::vector<AxisPlan> plans(r);
  std::vector<bool> active(r, false);
  for (int a : c.axes) {
    const int64_t in = x.dims()[a], out = y.dims()[a];
    if (identityAxis(c, a, in, out) || out == 0) continue;
    if (in == 0) return InvalidArgument("Resize cannot resize an empty axis {} to size {}", a, out);
    KILN_RETURN_IF_ERROR(planAxis(c, a, in, out, &plans[a]));
    active[a] = true;
  }
  if (y.numel() == 0) return Status::OK();
  if (c.mode == Mode::kNearest)
    return dispatchOr<NearestTypes>("Resize", x.dtype(), [&](auto tag) {
      resizeNearest<KILN_TYPE(tag)>(c, x, y, plans, active);
    });
  return dispatchOr<NumericTypes>("Resize", x.dtype(), [&](auto tag) {
    resizeInterpolate<KILN_TYPE(tag)>(c, x, y, plans, active);
  });
}

std::vector<double> doubles(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.doubleAt(i);
  return v;
}

Status Resize(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  const int r = x.rank();
  ResizeConfig c;
  KILN_RETURN_IF_ERROR(parseConfig(ctx.attrs, &c));
  std::vector<int> axes;
  if (ctx.attrs.has("axes")) {
    for (int64_t a : ctx.attrs.getInts("axes")) {
      if (a < -r || a >= r) return InvalidArgument("Resize axis {} is out of range for rank {}", a, r);
      axes.push_back(static_cast<int>(a < 0 ? a + r : a));
    }
  } else {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t na = axes.size();
  auto nonEmpty = [&](int i) { return ctx.hasInput(i) && ctx.in(i).numel() > 0; };
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  if (nonEmpty(3)) {
    const Tensor& s = ctx.in(3);
    for (int64_t i = 0; i < s.numel(); ++i) sizes.push_back(s.intAt(i));
  } else if (nonEmpty(2)) {
    scales = doubles(ctx.in(2));
  } else {
    return InvalidArgument("Resize needs one of scales and sizes");
  }
  ResizeAspectPolicy policy;
  if (!parseResizeAspectPolicy(ctx.attrs.getString("keep_aspect_ratio_policy"), &policy))
    return InvalidArgument("Resize keep_aspect_ratio_policy '{}' is not supported", ctx.attrs.getString("keep_aspect_ratio_policy"));
  std::vector<int64_t> outSizes;
  KILN_RETURN_IF_ERROR(computeResizeShape(x.dims().vec(), axes, scales, sizes, policy, &c.scales, &outSizes));
  if (Dims(outSizes) != y.dims())
    return InternalError("Resize output shape {} differs from the computed {}", y.dims().toString(), Dims(outSizes).toString());
  if (nonEmpty(1)) {
    std::vector<double> roi = doubles(ctx.in(1));
    if (roi.size() != 2 * na) return InvalidArgument("Resize roi has {} elements; expected {}", roi.size(), 2 * na);
    c.roiStart.assign(r, 0.0);
    c.roiEnd.assign(r, 1.0);
    for (size_t i = 0; i < na; ++i) {
      c.roiStart[axes[i]] = roi[i];
      c.roiEnd[axes[i]] = roi[na + i];
    }
  } else if (c.coord == Coord::kTfCrop) {
    return InvalidArgument("Resize with tf_crop_and_resize needs a roi");
  }
  c.axes = std::move(axes);
  return runResize(c, x, y);
}

// Upsample (opset 7-9): nearest or linear with asymmetric coordinates, scales for every axis.
Status Upsample(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor& y = ctx.out(0);
  ResizeConfig c;
  std::string mode = ctx.attrs.getString("mode");
  if (mode == "bilinear") mode = "linear";
  if (mode != "nearest" && mode != "linear") return InvalidArgument("Upsample mode '{}' is not nearest or linear", mode);
  c.mode = mode == "nearest" ? Mode::kNearest : Mode::kLinear;
  c.coord = Coord::kAsymmetric;
  c.nearest = Nearest::kFloor;
  std::vector<double> scales;
  if (ctx.hasInput(1)) {
    scales = doubles(ctx.in(1));
  } else {
    const auto& f = ctx.attrs.getFloats("scales", {});
    scales.assign(f.begin(), f.end());
  }
  for (int i = 0; i < x.rank(); ++i) c.axes.push_back(i);
  std::vector<int64_t> outSizes;
  KILN_RETURN_IF_ERROR(computeResizeShape(x.dims().vec(), c.axes, scales, {}, ResizeAspectPolicy::kStretch,
                                          &c.scales, &outSizes));
  if (Dims(outSizes) != y.dims())
    return InternalError("Upsample output shape {} differs from the computed {}", y.dims().toString(), Dims(outSizes).toString());
  return runResize(c, x, y);
}

}  // namespace

void RegisterResizeKernels(KernelRegistry& r) {
  r.addFn("Resize", "cpu_ref_Resize", &Resize);
  r.addFn("Upsample", "cpu_ref_Upsample", &Upsample);
}

}  // namespace kiln::cpu
