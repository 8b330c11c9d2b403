// CPU reference kernels for QuantizeLinear, DequantizeLinear (per-tensor, per-axis and blocked
// scales; 16/8/4/2-bit integer, fp8 and fp4 quantized types) and DynamicQuantizeLinear.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"

namespace kiln::cpu {

namespace {

// How scale element s maps onto x: x is viewed as [outer, extent, inner] around the axis; the
// scale as [outer, ceil(extent / block), inner] (blocked), [extent] (per axis) or one value.
struct QuantLayout {
  enum Kind { kTensor, kAxis, kBlocked } kind = kTensor;
  int64_t outer = 1, extent = 1, inner = 1, block = 1, scaleExtent = 1;
};

Status quantLayout(const Tensor& x, const Tensor& scale, const AttrMap& attrs, std::string_view op, QuantLayout* l) {
  if (scale.numel() == 1) return Status::OK();
  const int r = x.rank();
  const int64_t a = attrs.getInt("axis");
  if (r == 0 || a < -r || a >= r) return InvalidArgument("{} axis {} is out of range for rank {}", op, a, r);
  const int axis = static_cast<int>(a < 0 ? a + r : a);
  for (int i = 0; i < axis; ++i) l->outer *= x.dims()[i];
  l->extent = x.dims()[axis];
  for (int i = axis + 1; i < r; ++i) l->inner *= x.dims()[i];
  const int64_t bs = attrs.getInt("block_size");
  if (bs <= 0) {
    if (scale.rank() != 1 || scale.numel() != l->extent)
      return InvalidArgument("{} per-axis scale shape {} does not match axis {} of {}", op, scale.dims().toString(), axis,
                             x.dims().toString());
    l->kind = QuantLayout::kAxis;
    return Status::OK();
  }
  l->kind = QuantLayout::kBlocked;
  l->block = bs;
  l->scaleExtent = (l->extent + bs - 1) / bs;
  bool ok = scale.rank() == r;
  for (int i = 0; ok && i < r; ++i) ok = scale.dims()[i] == (i == axis ? l->scaleExtent : x.dims()[i]);
  if (!ok)
    return InvalidArgument("{} blocked scale shape {} does not fit {} with block_size {} on axis {}", op,
                           scale.dims().toString(), x.dims().toString(), bs, axis);
  return Status::OK();
}

// Runs fn(i0, i1, s) for every element range [i0, i1) of x that shares scale element s.
template <typename F>
void forEachScaleRun(const QuantLayout& l, int64_t numel, F&& fn) {
  if (l.kind == QuantLayout::kTensor) {
    parallelFor(numel, 16384, [&](int64_t b, int64_t e) { fn(b, e, int64_t{0}); });
    return;
  }
  const int64_t rows = l.outer * l.extent;
  parallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, l.inner)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t o = row / l.extent, c = row % l.extent;
      const int64_t base = row * l.inner;
      if (l.kind == QuantLayout::kAxis) {
        fn(base, base + l.inner, c);
      } else {
        const int64_t srow = (o * l.scaleExtent + c / l.block) * l.inner;
        for (int64_t i = 0; i < l.inner; ++i) fn(base + i, base + i + 1, srow + i);
      }
    }
  });
}

// Zero point and scale shapes agree (a scalar and a one-element vector both mean per tensor).
bool sameQuantShape(const Tensor& zp, const Tensor& scale) {
  return zp.dims() == scale.dims() || (zp.numel() == 1 && scale.numel() == 1);
}

template <typename Q>
constexpr bool isF8 = std::is_same_v<Q, Float8E4M3FN> || std::is_same_v<Q, Float8E4M3FNUZ> ||
                      std::is_same_v<Q, Float8E5M2> || std::is_same_v<Q, Float8E5M2FNUZ>;

// Rounds a float quotient to the precision of the division (float16/bfloat16 divisions are
// exactly rounded when computed in float and rounded once more).
float roundTo(float v, DType precision) {
  if (precision == DType::kFloat16) return static_cast<float>(Float16(v));
  if (precision == DType::kBFloat16) return static_cast<float>(BFloat16(v));
  return v;
}

// The integer range of a quantized type.
template <typename Q>
constexpr double quantLowest() {
  if constexpr (isSubByteInt<Q>) return Q::kMin;
  else return static_cast<double>(std::numeric_limits<Q>::lowest());
}
template <typename Q>
constexpr double quantMax() {
  if constexpr (isSubByteInt<Q>) return Q::kMax;
  else return static_cast<double>(std::numeric_limits<Q>::max());
}

using QuantTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t, Int4, UInt4, Int2, UInt2, Float8E4M3FN, Float8E4M3FNUZ,
                            Float8E5M2, Float8E5M2FNUZ, Float4E2M1>;
using QuantInTypes = TypeList<float, Float16, BFloat16, int32_t>;
using ScaleTypes = TypeList<float, Float16, BFloat16, Float8E8M0>;

Status QuantizeLinear(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zp = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  QuantLayout l;
  KILN_RETURN_IF_ERROR(quantLayout(x, scale, ctx.attrs, "QuantizeLinear", &l));
  if (zp && !sameQuantShape(*zp, scale))
    return InvalidArgument("QuantizeLinear zero point shape {} must equal the scale shape {}", zp->dims().toString(),
                           scale.dims().toString());
  if (zp && zp->dtype() != y.dtype()) return InvalidArgument("QuantizeLinear zero point type must be the output type");
  const bool saturate = ctx.attrs.getInt("saturate") != 0;
  // The division runs in `precision` when given (both operands converted to it), else in the
  // common type of x and the scale (float unless both are float16 or both bfloat16).
  const int64_t prec = ctx.attrs.getInt("precision");
  const bool explicitPrecision = prec != 0;
  const DType precision = explicitPrecision ? static_cast<DType>(prec)
                          : x.dtype() == scale.dtype() ? scale.dtype() : DType::kFloat32;
  // Scales (and zero points) as float.
  std::vector<float> s(scale.numel());
  KILN_RETURN_IF_ERROR(dispatchOr<ScaleTypes>("QuantizeLinear y_scale", scale.dtype(), [&](auto tag) {
    using S = KILN_TYPE(tag);
    for (int64_t i = 0; i < scale.numel(); ++i) s[i] = roundTo(static_cast<float>(scale.data<S>()[i]), precision);
  }));
  Status inner;
  Status st = dispatchOr<QuantTypes>("QuantizeLinear", y.dtype(), [&](auto qtag) {
    using Q = KILN_TYPE(qtag);
    inner = dispatchOr<QuantInTypes>("QuantizeLinear x", x.dtype(), [&](auto xtag) {
      using X = KILN_TYPE(xtag);
      const X* px = x.data<X>();
      Q* py = y.data<Q>();
      const Q* pz = zp ? zp->data<Q>() : nullptr;
      auto xval = [&](X v) { return explicitPrecision ? roundTo(static_cast<float>(v), precision) : static_cast<float>(v); };
      forEachScaleRun(l, x.numel(), [&](int64_t b, int64_t e, int64_t si) {
        const float sc = s[si];
        if constexpr (isF8<Q>) {
          for (int64_t i = b; i < e; ++i) {
            const float q = roundTo(xval(px[i]) / sc, precision);
            py[i] = Q(q, saturate);
          }
        } else if constexpr (std::is_same_v<Q, Float4E2M1>) {
          // The zero point is added in float (usually 0); fp4 always saturates.
          const float z = pz ? static_cast<float>(pz[si]) : 0.0f;
          for (int64_t i = b; i < e; ++i) py[i] = Q(roundTo(xval(px[i]) / sc, precision) + z);
        } else {
          const double z = pz ? static_cast<double>(pz[si]) : 0.0;
          constexpr double lo = quantLowest<Q>(), hi = quantMax<Q>();
          for (int64_t i = b; i < e; ++i) {
            const float q = roundTo(xval(px[i]) / sc, precision);
            double v = static_cast<double>(std::nearbyint(q)) + z;
            if (std::isnan(v)) v = 0;
            py[i] = Q(static_cast<int64_t>(std::clamp(v, lo, hi)));
          }
        }
      });
    });
  });
  KILN_RETURN_IF_ERROR(st);
  return inner;
}

using DequantInTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t, int32_t, Int4, UInt4, Int2, UInt2, Float8E4M3FN,
                                Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1>;
using DequantOutTypes = TypeList<float, Float16, BFloat16>;

Status DequantizeLinear(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zp = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  Tensor& y = ctx.out(0);
  QuantLayout l;
  KILN_RETURN_IF_ERROR(quantLayout(x, scale, ctx.attrs, "DequantizeLinear", &l));
  if (zp && (!sameQuantShape(*zp, scale) || zp->dtype() != x.dtype()))
    return InvalidArgument("DequantizeLinear zero point {} must have the scale's shape {} and the input's type",
                           zp->describe(), scale.dims().toString());
  std::vector<float> s(scale.numel()), z(scale.numel(), 0.0f);
  KILN_RETURN_IF_ERROR(dispatchOr<ScaleTypes>("DequantizeLinear x_scale", scale.dtype(), [&](auto tag) {
    using S = KILN_TYPE(tag);
    for (int64_t i = 0; i < scale.numel(); ++i) s[i] = static_cast<float>(scale.data<S>()[i]);
  }));
  Status inner;
  Status st = dispatchOr<DequantInTypes>("DequantizeLinear", x.dtype(), [&](auto xtag) {
    using X = KILN_TYPE(xtag);
    if (zp) {
      for (int64_t i = 0; i < zp->numel(); ++i) {
        z[i] = static_cast<float>(zp->data<X>()[i]);
        if constexpr (isF8<X>)
          if (z[i] != 0.0f) inner = InvalidArgument("DequantizeLinear float8 zero point must be zero");
      }
      if (!inner.ok()) return;
    }
    inner = dispatchOr<DequantOutTypes>("DequantizeLinear", y.dtype(), [&](auto ytag) {
      using Y = KILN_TYPE(ytag);
      const X* px = x.data<X>();
      Y* py = y.data<Y>();
      forEachScaleRun(l, x.numel(), [&](int64_t b, int64_t e, int64_t si) {
        const float sc = s[si], zz = z[si];
        for (int64_t i = b; i < e; ++i) py[i] = convertValue<Y>((static_cast<float>(px[i]) - zz) * sc);
      });
    });
  });
  KILN_RETURN_IF_ERROR(st);
  return inner;
}

// uint8 quantization with a scale and zero point that cover [min(x, 0), max(x, 0)], all in float
// as the ONNX reference computes it.
Status DynamicQuantizeLinear(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::kFloat32) return unsupportedType("DynamicQuantizeLinear", x.dtype());
  const float* px = x.data<float>();
  float mx = 0.0f, mn = 0.0f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    mx = std::max(mx, px[i]);
    mn = std::min(mn, px[i]);
  }
  const float scale = (mx == mn ? 1.0f : (mx - mn)) / 255.0f;
  const float zpf = std::clamp(0.0f - mn / scale, 0.0f, 255.0f);
  const float zpi = std::nearbyint(zpf);
  uint8_t* py = ctx.out(0).data<uint8_t>();
  parallelFor(x.numel(), 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float v = std::nearbyint(px[i] / scale) + zpi;
      py[i] = static_cast<uint8_t>(std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 255.0f));
    }
  });
  ctx.out(1).data<float>()[0] = scale;
  ctx.out(2).data<uint8_t>()[0] = static_cast<uint8_t>(zpi);
  return Status::OK();
}

}  // namespace

void RegisterQuantizationKernels(KernelRegistry& r) {
  r.addFn("QuantizeLinear", "cpu_ref_QuantizeLinear", &QuantizeLinear);
  r.addFn("DequantizeLinear", "cpu_ref_DequantizeLinear", &DequantizeLinear);
  r.addFn("DynamicQuantizeLinear", "cpu_ref_DynamicQuantizeLinear", &DynamicQuantizeLinear);
}

}  // namespace kiln::cpu
