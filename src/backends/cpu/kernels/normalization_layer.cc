// CPU kernels for LayerNormalization and RMSNormalization: X viewed as [rows, D] with
// D = prod(dims[axis:]); rows run in parallel, each with two contiguous statistics passes and one
// output pass. Statistics use float (double for float64 X or stash_type = double).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels/normalization_common.h"

namespace kiln::cpu {

namespace {

struct RowsSplit {
  int axis = 0;
  int64_t rows = 1, d = 1;
};

Status splitRows(const KernelContext& ctx, std::string_view op, RowsSplit* s) {
  const Tensor& x = ctx.in(0);
  if (x.rank() == 0) return InvalidArgument("{} needs an input of rank >= 1", op);
  if (!normAxis(ctx.attrs.getInt("axis"), x.rank(), &s->axis))
    return InvalidArgument("{} axis {} is out of range for rank {}", op, ctx.attrs.getInt("axis"), x.rank());
  for (int i = 0; i < x.rank(); ++i) (i < s->axis ? s->rows : s->d) *= x.dims()[i];
  return Status::OK();
}

template <typename T, typename C>
Status layerNormTyped(const KernelContext& ctx, const RowsSplit& s) {
  const Tensor& x = ctx.in(0);
  const float eps = ctx.attrs.getFloat("epsilon");
  KILN_RETURN_IF_ERROR(checkBroadcastsTo(ctx.in(1), x.dims(), "LayerNormalization Scale"));
  const BlockParam<C> scale = blockParam<C>(ctx.in(1), x.dims(), s.axis);
  BlockParam<C> bias;
  const bool hasBias = ctx.hasInput(2);
  if (hasBias) {
    KILN_RETURN_IF_ERROR(checkBroadcastsTo(ctx.in(2), x.dims(), "LayerNormalization B"));
    bias = blockParam<C>(ctx.in(2), x.dims(), s.axis);
  }
  const bool wantMean = ctx.hasOutput(1) && ctx.out(1).numel() == s.rows;
  const bool wantInv = ctx.hasOutput(2) && ctx.out(2).numel() == s.rows;
  std::vector<C> means(wantMean ? s.rows : 0), invs(wantInv ? s.rows : 0);
  const T* px = x.data<T>();
  T* py = ctx.out(0).data<T>();
  const int64_t d = s.d;
  parallelFor(s.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e) {
    std::vector<C> buf;
    for (int64_t r = b; r < e; ++r) {
      const C* xr = loadRow<C>(px + r * d, d, buf);
      C mean, var;
      meanVar(xr, d, &mean, &var);
      const C inv = C(1) / std::sqrt(var + static_cast<C>(eps));
      normalizeRow<T, C>(xr, mean, inv, scale.row(r, d), hasBias ? bias.row(r, d) : nullptr, py + r * d, d);
      if (wantMean) means[r] = mean;
      if (wantInv) invs[r] = inv;
    }
  });
  if (wantMean) fromVector(means, ctx.out(1));
  if (wantInv) fromVector(invs, ctx.out(2));
  return Status::OK();
}

Status layerNorm(const KernelContext& ctx) {
  RowsSplit s;
  KILN_RETURN_IF_ERROR(splitRows(ctx, "LayerNormalization", &s));
  const Tensor& x = ctx.in(0);
  if (ctx.in(1).dtype() != x.dtype() || (ctx.hasInput(2) && ctx.in(2).dtype() != x.dtype()))
    return InvalidArgument("LayerNormalization Scale and B must have X's type {}", dtypeName(x.dtype()));
  if (x.numel() == 0) return Status::OK();
  const bool dbl = ctx.attrs.getInt("stash_type") == static_cast<int64_t>(DType::kFloat64);
  Status st;
  Status d = dispatchOr<FloatTypes>("LayerNormalization", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    st = dbl ? layerNormTyped<T, double>(ctx, s) : layerNormTyped<T, stat_t<T>>(ctx, s);
  });
  KILN_RETURN_IF_ERROR(d);
  return st;
}

template <typename T, typename C>
void rmsNormTyped(const KernelContext& ctx, const RowsSplit& s) {
  const float eps = ctx.attrs.getFloat("epsilon");
  const BlockParam<C> scale = blockParam<C>(ctx.in(1), ctx.in(0).dims(), s.axis);  // any float type
  const T* px = ctx.in(0).data<T>();
  T* py = ctx.out(0).data<T>();
  const int64_t d = s.d;
  parallelFor(s.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1)), [&](int64_t b, int64_t e) {
    std::vector<C> buf;
    for (int64_t r = b; r < e; ++r) {
      const C* xr = loadRow<C>(px + r * d, d, buf);
      const C ms = sumSqDiff<C>(xr, C(0), d) / static_cast<C>(d);
      const C inv = C(1) / std::sqrt(ms + static_cast<C>(eps));
      normalizeRow<T, C>(xr, C(0), inv, scale.row(r, d), nullptr, py + r * d, d);
    }
  });
}

Status rmsNorm(const KernelContext& ctx) {
  RowsSplit s;
  KILN_RETURN_IF_ERROR(splitRows(ctx, "RMSNormalization", &s));
  const Tensor& x = ctx.in(0);
  KILN_RETURN_IF_ERROR(checkBroadcastsTo(ctx.in(1), x.dims(), "RMSNormalization scale"));
  if (!isFloat(ctx.in(1).dtype()) || isFloat8(ctx.in(1).dtype()))
    return unsupportedType("RMSNormalization scale", ctx.in(1).dtype());
  if (x.numel() == 0) return Status::OK();
  const bool dbl = ctx.attrs.getInt("stash_type") == static_cast<int64_t>(DType::kFloat64);
  return dispatchOr<FloatTypes>("RMSNormalization", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    if (dbl) rmsNormTyped<T, double>(ctx, s);
    else rmsNormTyped<T, stat_t<T>>(ctx, s);
  });
}

}  // namespace

void RegisterLayerNormKernels(KernelRegistry& r) {
  r.addFn("LayerNormalization", "cpu_ref_LayerNormalization", &layerNorm);
  r.addFn("RMSNormalization", "cpu_ref_RMSNormalization", &rmsNorm);
}

}  // namespace kiln::cpu
