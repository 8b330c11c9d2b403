// Host side of the ONNX integer matmul/conv family: MatMulInteger, QLinearMatMul, ConvInteger and
// QLinearConv (kernels in integer_ops.cu). Validates shapes, types and parameter counts with the
// CPU reference's rules (cpu/kernels/matmul.cc and conv_pool.cc; conv geometry from cpu::makeGeom)
// and fills the launch arguments. Zero points and scales stay on the device: the kernels read them
// per row / column / output channel.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/integer_launch.h"
#include "backends/quant_geometry.h"

namespace kiln::cuda {

namespace {

using integer::ConvIntArgs;
using integer::MatMulIntArgs;

bool is8(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }
bool isScale(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

DType inType(const LayerDesc& d, size_t i) { return i < d.inputTypes.size() ? d.inputTypes[i] : DType::kUndefined; }
DType outType(const LayerDesc& d) { return d.outputTypes.empty() ? DType::kUndefined : d.outputTypes[0]; }
int knownRank(const LayerDesc& d, size_t i) {
  return i < d.inputShapes.size() && d.inputShapes[i].rankKnown() ? d.inputShapes[i].rank() : -1;
}
// An optional input that is either omitted or of type t.
bool absentOr(const LayerDesc& d, size_t i, DType t) {
  const DType u = inType(d, i);
  return u == DType::kUndefined || u == t;
}

// ---- matmuls ------------------------------------------------------------------------------------

// numpy matmul of a x b (1-D operands promoted like numpy), checked against y: the CPU's planMatMul.
Status planMatMul(const Dims& a, const Dims& b, const Dims& y, const char* op, MatMulIntArgs* p) {
  const int ra = a.rank(), rb = b.rank();
  if (ra < 1 || rb < 1) return InvalidArgument("{}: operands must have rank >= 1", op);
  p->M = ra >= 2 ? a[ra - 2] : 1;
  p->K = a[ra - 1];
  const int64_t kb = rb >= 2 ? b[rb - 2] : b[0];
  p->N = rb >= 2 ? b[rb - 1] : 1;
  if (p->K != kb) return InvalidArgument("{}: inner dimensions differ: {} x {}", op, a.toString(), b.toString());
  const int na = std::max(ra - 2, 0), nb = std::max(rb - 2, 0);
  const int r = std::max(na, nb);
  if (r > integer::kMaxBatchRank)
    return Unsupported("{} on the GPU supports at most {} batch dimensions, got {}", op, integer::kMaxBatchRank, r);
  p->batchRank = r;
  p->batch = 1;
  int64_t sa = 1, sb = 1;
  for (int i = r - 1; i >= 0; --i) {
    const int ia = i - (r - na), ib = i - (r - nb);
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return InvalidArgument("{}: batch dimensions of {} and {} cannot be broadcast", op, a.toString(), b.toString());
    p->outBatch[i] = da == 1 ? db : da;
    p->aStr[i] = da == 1 ? 0 : sa;
    p->bStr[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
    p->batch *= p->outBatch[i];
  }
  if (y.numel() != p->batch * p->M * p->N)
    return InvalidArgument("{}: output shape {} does not match {} x {}", op, y.toString(), a.toString(), b.toString());
  if ((p->M + 63) / 64 > 65535)
    return Unsupported("{} on the GPU supports at most {} rows, got {}", op, int64_t{65535} * 64, p->M);
  return Status::OK();
}

// A zero point of `t`: 1 value or `count` (the CPU's centeredOperand checks).
Status checkZp(const Tensor& t, const Tensor* zp, int64_t count, const char* op, const char* what) {
  if (!zp) return Status::OK();
  if (zp->numel() != 1 && zp->numel() != count)
    return Unsupported("{} {} with {} values is not supported (expected 1 or {})", op, what, zp->numel(), count);
  if (zp->dtype() != t.dtype())
    return InvalidArgument("{} {} has type {}; expected {}", op, what, dtypeName(zp->dtype()), dtypeName(t.dtype()));
  return Status::OK();
}

Status matmulOperands(const char* op, const Tensor& a, const Tensor* azp, const Tensor& b, const Tensor* bzp,
                      MatMulIntArgs* p) {
  if (!is8(a.dtype())) return unsupportedGpuType(op, a.dtype());
  if (!is8(b.dtype())) return unsupportedGpuType(op, b.dtype());
  KILN_RETURN_IF_ERROR(checkZp(a, azp, p->M, op, "a_zero_point"));
  KILN_RETURN_IF_ERROR(checkZp(b, bzp, p->N, op, "b_zero_point"));
  p->a = a.raw();
  p->b = b.raw();
  p->aType = a.dtype();
  p->bType = b.dtype();
  p->aZp = azp ? azp->raw() : nullptr;
  p->bZp = bzp ? bzp->raw() : nullptr;
  p->aZpCount = azp ? azp->numel() : 1;
  p->bZpCount = bzp ? bzp->numel() : 1;
  return Status::OK();
}

Status matMulIntegerK(const GpuKernelContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  Tensor& y = c.out(0);
  MatMulIntArgs p;
  KILN_RETURN_IF_ERROR(planMatMul(a.dims(), b.dims(), y.dims(), "MatMulInteger", &p));
  if (y.dtype() != DType::kInt32) return InternalError("MatMulInteger output {} is not int32", y.describe());
  if (y.numel() == 0) return Status::OK();
  KILN_RETURN_IF_ERROR(matmulOperands("MatMulInteger", a, c.hasInput(2) ? &c.in(2) : nullptr, b,
                                      c.hasInput(3) ? &c.in(3) : nullptr, &p));
  p.y = y.raw();
  p.yType = DType::kInt32;
  KILN_CUDA_RETURN_IF_ERROR(integer::launchMatMulInteger(p, c.stream));
  return Status::OK();
}

Status qlinearMatMulK(const GpuKernelContext& c) {
  for (int i = 0; i < 8; ++i)
    if (!c.hasInput(i)) return InvalidArgument("QLinearMatMul: input {} is required", i);
  const Tensor &a = c.in(0), &as = c.in(1), &azp = c.in(2), &b = c.in(3), &bs = c.in(4), &bzp = c.in(5),
               &ys = c.in(6), &yzp = c.in(7);
  Tensor& y = c.out(0);
  MatMulIntArgs p;
  KILN_RETURN_IF_ERROR(planMatMul(a.dims(), b.dims(), y.dims(), "QLinearMatMul", &p));
  KILN_RETURN_IF_ERROR(backends::qlinearMatMulParamCounts(as, bs, ys, yzp, p.M, p.N));
  if (!is8(y.dtype())) return unsupportedGpuType("QLinearMatMul", y.dtype());
  for (const Tensor* s : {&as, &bs, &ys})
    if (!isScale(s->dtype()))
      return Unsupported("QLinearMatMul on the GPU does not support {} scales", dtypeName(s->dtype()));
  if (!is8(yzp.dtype()))
    return Unsupported("QLinearMatMul on the GPU does not support a {} y_zero_point", dtypeName(yzp.dtype()));
  if (y.numel() == 0) return Status::OK();
  KILN_RETURN_IF_ERROR(matmulOperands("QLinearMatMul", a, &azp, b, &bzp, &p));
  p.y = y.raw();
  p.yType = y.dtype();
  p.requant = true;
  p.aScale = as.raw();
  p.bScale = bs.raw();
  p.yScale = ys.raw();
  p.yZp = yzp.raw();
  p.aScaleType = as.dtype();
  p.bScaleType = bs.dtype();
  p.yScaleType = ys.dtype();
  p.yZpType = yzp.dtype();
  p.aScaleCount = as.numel();
  p.bScaleCount = bs.numel();
  p.yScaleCount = ys.numel();
  p.yZpCount = yzp.numel();
  KILN_CUDA_RETURN_IF_ERROR(integer::launchMatMulInteger(p, c.stream));
  return Status::OK();
}

bool matMulIntegerSupports(const LayerDesc& d) {
  const DType a = inType(d, 0), b = inType(d, 1);
  return is8(a) && is8(b) && absentOr(d, 2, a) && absentOr(d, 3, b) && outType(d) == DType::kInt32;
}

bool qlinearMatMulSupports(const LayerDesc& d) {
  const DType a = inType(d, 0), b = inType(d, 3);
  return is8(a) && is8(b) && inType(d, 2) == a && inType(d, 5) == b && isScale(inType(d, 1)) &&
         isScale(inType(d, 4)) && isScale(inType(d, 6)) && is8(inType(d, 7)) && is8(outType(d));
}

// ---- convolutions -------------------------------------------------------------------------------

// x, w and y shapes and the geometry (the CPU's checkConvShapes + makeGeom).
Status convGeometry(const GpuKernelContext& c, const char* op, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Tensor& y, ConvIntArgs* p) {
  const int64_t group = c.attrs.getInt("group", 1);
  if (x.rank() < 3 || w.rank() != x.rank())
    return InvalidArgument("{}: input {} and weights {} must have the same rank >= 3", op, x.dims().toString(),
                           w.dims().toString());
  const int64_t m = w.dims()[0];
  if (group < 1 || x.dims()[1] != w.dims()[1] * group || m % group != 0)
    return InvalidArgument("{}: input {} does not match weights {} with group {}", op, x.dims().toString(),
                           w.dims().toString(), group);
  if (bias && bias->numel() != m) return InvalidArgument("{}: bias has {} values; expected {}", op, bias->numel(), m);
  cpu::SpatialGeom g;
  KILN_RETURN_IF_ERROR(
      cpu::makeGeom(c.attrs, x.dims(), Dims(w.dims().begin() + 2, w.dims().end()), y.dims(), cpu::PadMode::kConv, &g));
  if (g.n > integer::kMaxConvDims)
    return Unsupported("{} on the GPU supports at most {} spatial dims, got {}", op, integer::kMaxConvDims, g.n);
  if (y.dims()[0] != x.dims()[0] || y.dims()[1] != m)
    return InternalError("{}: output {} does not match input {} and weights {}", op, y.describe(), x.describe(),
                         w.describe());
  p->nd = g.n;
  p->batch = g.batch;
  p->inC = g.inC;
  p->outC = m;
  p->group = group;
  for (int i = 0; i < g.n; ++i) {
    if (g.strides[i] < 1 || g.dilations[i] < 1)
      return InvalidArgument("{}: strides and dilations must be >= 1", op);
    p->in[i] = g.in[i];
    p->out[i] = g.out[i];
    p->kernel[i] = g.kernel[i];
    p->stride[i] = g.strides[i];
    p->dilation[i] = g.dilations[i];
    p->padBegin[i] = g.padBegin[i];
  }
  return Status::OK();
}

// Zero point of x (a scalar when `scalar`) or w (1 or M values): the CPU's centered() checks.
Status convZp(const char* op, const char* what, const Tensor& t, const Tensor* zp, bool scalar) {
  if (!is8(t.dtype())) return unsupportedGpuType(op, t.dtype());
  if (!zp) return Status::OK();
  const int64_t rows = scalar ? 1 : t.dims()[0];
  if (scalar && zp->numel() != 1) return InvalidArgument("{}: {} must be a scalar", op, what);
  if (zp->numel() != 1 && zp->numel() != rows)
    return InvalidArgument("{} {} has {} values; expected 1 or {}", op, what, zp->numel(), rows);
  if (zp->dtype() != t.dtype())
    return InvalidArgument("{} {} has type {}; expected {}", op, what, dtypeName(zp->dtype()), dtypeName(t.dtype()));
  return Status::OK();
}

Status convIntegerK(const GpuKernelContext& c) {
  const Tensor &x = c.in(0), &w = c.in(1);
  Tensor& y = c.out(0);
  ConvIntArgs p;
  KILN_RETURN_IF_ERROR(convGeometry(c, "ConvInteger", x, w, nullptr, y, &p));
  if (y.dtype() != DType::kInt32) return InternalError("ConvInteger output {} is not int32", y.describe());
  if (y.numel() == 0) return Status::OK();
  const Tensor* xzp = c.hasInput(2) ? &c.in(2) : nullptr;
  const Tensor* wzp = c.hasInput(3) ? &c.in(3) : nullptr;
  KILN_RETURN_IF_ERROR(convZp("ConvInteger", "x_zero_point", x, xzp, true));
  KILN_RETURN_IF_ERROR(convZp("ConvInteger", "w_zero_point", w, wzp, false));
  p.x = x.raw();
  p.w = w.raw();
  p.xType = x.dtype();
  p.wType = w.dtype();
  p.xZp = xzp ? xzp->raw() : nullptr;
  p.wZp = wzp ? wzp->raw() : nullptr;
  p.wZpCount = wzp ? wzp->numel() : 1;
  p.y = y.raw();
  p.yType = DType::kInt32;
  KILN_CUDA_RETURN_IF_ERROR(integer::launchConvInteger(p, c.stream));
  return Status::OK();
}

Status qlinearConvK(const GpuKernelContext& c) {
  for (int i = 0; i < 8; ++i)
    if (!c.hasInput(i)) return InvalidArgument("QLinearConv: input {} is required", i);
  const Tensor &x = c.in(0), &xs = c.in(1), &xzp = c.in(2), &w = c.in(3), &ws = c.in(4), &wzp = c.in(5),
               &ys = c.in(6), &yzp = c.in(7);
  const Tensor* bias = c.hasInput(8) ? &c.in(8) : nullptr;
  Tensor& y = c.out(0);
  ConvIntArgs p;
  KILN_RETURN_IF_ERROR(convGeometry(c, "QLinearConv", x, w, bias, y, &p));
  if (y.numel() == 0) return Status::OK();
  if (xs.numel() != 1 || ys.numel() != 1 || yzp.numel() != 1 || xzp.numel() != 1)
    return InvalidArgument("QLinearConv: x_scale, x_zero_point, y_scale and y_zero_point must be scalars");
  if (ws.numel() != 1 && ws.numel() != p.outC)
    return InvalidArgument("QLinearConv: w_scale has {} values; expected 1 or {}", ws.numel(), p.outC);
  KILN_RETURN_IF_ERROR(convZp("QLinearConv", "x_zero_point", x, &xzp, true));
  KILN_RETURN_IF_ERROR(convZp("QLinearConv", "w_zero_point", w, &wzp, false));
  for (const Tensor* s : {&xs, &ws, &ys})
    if (s->dtype() != DType::kFloat32)
      return Unsupported("QLinearConv on the GPU does not support {} scales", dtypeName(s->dtype()));
  if (!is8(y.dtype())) return unsupportedGpuType("QLinearConv", y.dtype());
  if (yzp.dtype() != y.dtype())
    return InvalidArgument("QLinearConv: y_zero_point has type {}; expected {}", dtypeName(yzp.dtype()),
                           dtypeName(y.dtype()));
  if (bias && bias->dtype() != DType::kInt32)
    return InvalidArgument("QLinearConv: bias has type {}; expected int32", dtypeName(bias->dtype()));
  p.x = x.raw();
  p.w = w.raw();
  p.xType = x.dtype();
  p.wType = w.dtype();
  p.xZp = xzp.raw();
  p.wZp = wzp.raw();
  p.wZpCount = wzp.numel();
  p.bias = bias ? bias->data<int32_t>() : nullptr;
  p.y = y.raw();
  p.yType = y.dtype();
  p.requant = true;
  p.xScale = xs.data<float>();
  p.wScale = ws.data<float>();
  p.wScaleCount = ws.numel();
  p.yScale = ys.data<float>();
  p.yZp = yzp.raw();
  KILN_CUDA_RETURN_IF_ERROR(integer::launchConvInteger(p, c.stream));
  return Status::OK();
}

bool convRankOk(const LayerDesc& d) {
  const int r = knownRank(d, 0);
  return r < 0 || (r >= 3 && r <= 2 + integer::kMaxConvDims);
}

bool convIntegerSupports(const LayerDesc& d) {
  const DType x = inType(d, 0), w = inType(d, 1);
  return is8(x) && is8(w) && absentOr(d, 2, x) && absentOr(d, 3, w) && outType(d) == DType::kInt32 && convRankOk(d);
}

bool qlinearConvSupports(const LayerDesc& d) {
  const DType x = inType(d, 0), w = inType(d, 3), y = outType(d);
  return is8(x) && is8(w) && is8(y) && inType(d, 2) == x && inType(d, 5) == w && inType(d, 7) == y &&
         inType(d, 1) == DType::kFloat32 && inType(d, 4) == DType::kFloat32 && inType(d, 6) == DType::kFloat32 &&
         absentOr(d, 8, DType::kInt32) && convRankOk(d);
}

}  // namespace

void registerIntegerKernels(GpuKernelRegistry& r) {
  r.addFn("MatMulInteger", "cuda_int_matmulinteger", &matMulIntegerK, matMulIntegerSupports, 10);
  r.addFn("QLinearMatMul", "cuda_int_qlinearmatmul", &qlinearMatMulK, qlinearMatMulSupports, 10);
  r.addFn("ConvInteger", "cuda_int_convinteger", &convIntegerK, convIntegerSupports, 10);
  r.addFn("QLinearConv", "cuda_int_qlinearconv", &qlinearConvK, qlinearConvSupports, 10);
}

}  // namespace kiln::cuda
