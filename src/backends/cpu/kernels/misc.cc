// CPU kernels of the misc family: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss, Det and
// Unique; RegisterMiscKernels also registers misc_signal.cc and misc_vision.cc.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "backends/cpu/kernels/families.h"
#include "backends/cpu/kernels/kernel_util.h"
#include "backends/cpu/kernels/misc_kernels.h"
#include "core/misc_select.h"

namespace kiln::cpu {

namespace {

// ---- Losses -------------------------------------------------------------------------------------

// loss[n, d] = -weight[t] * v[n, t, d] with t = target[n, d], where v is the input (NLL) or its
// log-softmax over C (SCE); entries whose target is ignore_index weigh 0. `mean` divides the sum
// by the total weight.
template <typename T, typename I>
Status lossTyped(const KernelContext& ctx, const char* op, bool softmax) {
  using C = compute_t<T>;
  const Tensor &x = ctx.in(0), &tgt = ctx.in(1);
  const Tensor* w = ctx.hasInput(2) ? &ctx.in(2) : nullptr;
  const Dims &xd = x.dims(), &td = tgt.dims();
  if (xd.rank() < 2 || td.rank() != xd.rank() - 1 || td[0] != xd[0])
    return InvalidArgument("{} target {} does not match input {}", op, td.toString(), xd.toString());
  for (int i = 1; i < td.rank(); ++i)
    if (td[i] != xd[i + 1]) return InvalidArgument("{} target {} does not match input {}", op, td.toString(), xd.toString());
  const int64_t N = xd[0], nc = xd[1], D = x.numel() / std::max<int64_t>(1, N * nc);
  if (w && w->dims() != Dims{nc})
    return InvalidArgument("{} weight must have shape ({}), got {}", op, nc, w->dims().toString());
  const bool hasIgnore = ctx.attrs.has("ignore_index");
  const int64_t ignoreIndex = hasIgnore ? ctx.attrs.getInt("ignore_index") : 0;
  auto ignored = [&](int64_t t) { return hasIgnore && t == ignoreIndex; };
  const std::string& red = ctx.attrs.getString("reduction");
  const T* px = x.data<T>();
  const I* pt = tgt.data<I>();
  const T* pw = w ? w->data<T>() : nullptr;
  for (int64_t i = 0; i < tgt.numel(); ++i) {
    const int64_t t = static_cast<int64_t>(pt[i]);
    if (!ignored(t) && (t < 0 || t >= nc))
      return InvalidArgument("{} target value {} at {} is out of range [0, {})", op, t, i, nc);
  }
  // SCE: log-softmax over C, written to output 1 when requested.
  std::vector<C> logp;
  if (softmax) {
    logp.resize(x.numel());
    parallelFor(N * D, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, nc)), [&](int64_t lo, int64_t hi) {
      for (int64_t nd = lo; nd < hi; ++nd) {
        const int64_t n = nd / D, d = nd % D;
        const int64_t base = n * nc * D + d;
        C m = -std::numeric_limits<C>::infinity();
        for (int64_t c = 0; c < nc; ++c) m = std::max(m, static_cast<C>(px[base + c * D]));
        C s = 0;
        for (int64_t c = 0; c < nc; ++c) s += std::exp(static_cast<C>(px[base + c * D]) - m);
        const C ls = std::log(s);
        for (int64_t c = 0; c < nc; ++c) logp[base + c * D] = static_cast<C>(px[base + c * D]) - m - ls;
      }
    });
    if (ctx.hasOutput(1)) {
      T* lp = ctx.out(1).data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) lp[i] = convertValue<T>(logp[i]);
    }
  }
  T* out = ctx.out(0).data<T>();
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t t = static_cast<int64_t>(pt[n * D + d]);
      double loss = 0, wt = 0;
      if (!ignored(t)) {
        wt = pw ? static_cast<double>(static_cast<C>(pw[t])) : 1.0;
        const int64_t at = (n * nc + t) * D + d;
        const double v = softmax ? static_cast<double>(logp[at]) : static_cast<double>(static_cast<C>(px[at]));
        loss = -wt * v;
      }
      if (red == "none") out[n * D + d] = convertValue<T>(loss);
      sum += loss;
      wsum += wt;
    }
  if (red == "sum") *out = convertValue<T>(sum);
  else if (red == "mean") *out = convertValue<T>(sum / wsum);  // all weights 0: NaN, like the reference
  return Status::OK();
}

Status lossKernel(const KernelContext& ctx, const char* op, bool softmax) {
  const DType it = ctx.in(1).dtype();
  if (it != DType::kInt32 && it != DType::kInt64) return unsupportedType(op, it);
  Status result;
  Status st = dispatchOr<FloatTypes>(op, ctx.in(0).dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    result = it == DType::kInt32 ? lossTyped<T, int32_t>(ctx, op, softmax) : lossTyped<T, int64_t>(ctx, op, softmax);
  });
  KILN_RETURN_IF_ERROR(st);
  return result;
}

Status NegativeLogLikelihoodLoss(const KernelContext& ctx) { return lossKernel(ctx, "NegativeLogLikelihoodLoss", false); }
Status SoftmaxCrossEntropyLoss(const KernelContext& ctx) { return lossKernel(ctx, "SoftmaxCrossEntropyLoss", true); }

// ---- Det ----------------------------------------------------------------------------------------

// LU decomposition with partial pivoting, in double.
double determinant(std::vector<double>& a, int64_t m) {
  double det = 1;
  for (int64_t k = 0; k < m; ++k) {
    int64_t p = k;
    for (int64_t i = k + 1; i < m; ++i)
      if (std::fabs(a[i * m + k]) > std::fabs(a[p * m + k])) p = i;
    if (a[p * m + k] == 0) return 0;
    if (p != k) {
      for (int64_t j = 0; j < m; ++j) std::swap(a[k * m + j], a[p * m + j]);
      det = -det;
    }
    const double piv = a[k * m + k];
    det *= piv;
    for (int64_t i = k + 1; i < m; ++i) {
      const double f = a[i * m + k] / piv;
      if (f == 0) continue;
      for (int64_t j = k + 1; j < m; ++j) a[i * m + j] -= f * a[k * m + j];
    }
  }
  return det;
}

Status Det(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Dims& d = x.dims();
  if (d.rank() < 2 || d[d.rank() - 1] != d[d.rank() - 2])
    return InvalidArgument("Det input must have shape (..., M, M), got {}", d.toString());
  const int64_t m = d[d.rank() - 1], batch = ctx.out(0).numel();
  return dispatchOr<FloatTypes>("Det", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    T* py = ctx.out(0).data<T>();
    parallelFor(batch, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, m * m * m)), [&](int64_t lo, int64_t hi) {
      std::vector<double> a(m * m);
      for (int64_t b = lo; b < hi; ++b) {
        for (int64_t i = 0; i < m * m; ++i) a[i] = static_cast<double>(static_cast<compute_t<T>>(px[b * m * m + i]));
        py[b] = convertValue<T>(determinant(a, m));
      }
    });
  });
}

// ---- Unique -------------------------------------------------------------------------------------

using UniqueTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t,
                             int64_t, uint64_t, bool, std::string>;

Status Unique(const KernelContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Dims& d = x.dims();
  int64_t outer = 1, n = x.numel(), inner = 1;
  if (ctx.attrs.has("axis")) {
    int64_t axis = ctx.attrs.getInt("axis");
    if (d.rank() == 0 || axis < -d.rank() || axis >= d.rank())
      return InvalidArgument("Unique axis {} is out of range for shape {}", axis, d.toString());
    if (axis < 0) axis += d.rank();
    n = d[static_cast<int>(axis)];
    for (int i = 0; i < axis; ++i) outer *= d[i];
    for (int i = static_cast<int>(axis) + 1; i < d.rank(); ++i) inner *= d[i];
  }
  const bool sorted = ctx.attrs.getInt("sorted") != 0;
  Status result;
  Status st = dispatchOr<UniqueTypes>("Unique", x.dtype(), [&](auto tag) {
    using T = KILN_TYPE(tag);
    const T* px = x.data<T>();
    const misc::UniqueResult r = misc::computeUnique<T>(px, outer, n, inner, sorted);
    const int64_t u = static_cast<int64_t>(r.first.size());
    Tensor& y = ctx.out(0);
    // Y, indices and counts hold u items (in an engine: sized for every item being unique).
    Dims yShape{u};
    if (ctx.attrs.has("axis")) {
      yShape = d;
      const int64_t a = ctx.attrs.getInt("axis");
      yShape[static_cast<int>(a < 0 ? a + d.rank() : a)] = u;
    }
    result = fitOutput(y, yShape, "Unique");
    for (int i : {1, 3})
      if (result.ok() && ctx.hasOutput(i)) result = fitOutput(ctx.out(i), Dims{u}, "Unique");
    if (!result.ok()) return;
    T* py = y.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < u; ++k)
        for (int64_t i = 0; i < inner; ++i) py[(o * u + k) * inner + i] = px[(o * n + r.first[k]) * inner + i];
    auto write = [&](int i, const std::vector<int64_t>& v) {
      if (ctx.hasOutput(i)) std::copy(v.begin(), v.end(), ctx.out(i).data<int64_t>());
    };
    write(1, r.first);
    write(2, r.inverse);
    write(3, r.counts);
  });
  KILN_RETURN_IF_ERROR(st);
  return result;
}

}  // namespace

void RegisterMiscKernels(KernelRegistry& r) {
  r.addFn("NegativeLogLikelihoodLoss", "cpu_ref_NegativeLogLikelihoodLoss", &NegativeLogLikelihoodLoss);
  r.addFn("SoftmaxCrossEntropyLoss", "cpu_ref_SoftmaxCrossEntropyLoss", &SoftmaxCrossEntropyLoss);
  r.addFn("Det", "cpu_ref_Det", &Det);
  r.addFn("Unique", "cpu_ref_Unique", &Unique);
  RegisterMiscSignalKernels(r);
  RegisterMiscVisionKernels(r);
}

}  // namespace kiln::cpu
