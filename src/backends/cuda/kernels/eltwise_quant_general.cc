// Host side of the general quantization kernels (eltwise_quant_general.cu): the CPU reference's
// layouts and type lists (backends/cpu/kernels/quantization.cc), tactics below the int8 fast path.
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/eltwise_kernels.h"
#include "backends/cuda/kernels/eltwise_quant.h"

namespace kiln::cuda::eltwise {

namespace {

bool in(std::initializer_list<DType> s, DType t) { return std::find(s.begin(), s.end(), t) != s.end(); }

bool isF8(DType t) {
  return in({DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2, DType::kFloat8E5M2FNUZ}, t);
}
bool isQuantType(DType t) {
  return in({DType::kInt8, DType::kUInt8, DType::kInt16, DType::kUInt16, DType::kInt4, DType::kUInt4, DType::kInt2,
             DType::kUInt2, DType::kFloat4E2M1}, t) || isF8(t);
}
bool isRealType(DType t) { return in({DType::kFloat32, DType::kFloat16, DType::kBFloat16}, t); }
bool isScaleType(DType t) { return isRealType(t) || t == DType::kFloat8E8M0; }

Status layout(std::string_view op, const GpuKernelContext& c, QuantGeneralParams* p) {
  const Tensor& x = c.in(0);
  const Tensor& scale = c.in(1);
  if (c.hasInput(2)) {
    const Tensor& zp = c.in(2);
    if (!(zp.dims() == scale.dims() || (zp.numel() == 1 && scale.numel() == 1)))
      return InvalidArgument("{} zero point shape {} must equal the scale shape {}", op, zp.dims().toString(),
                             scale.dims().toString());
    p->zeroPoint = zp.raw();
  }
  if (c.out(0).numel() != x.numel())
    return InvalidArgument("{}: input {} vs output {}", op, x.dims().toString(), c.out(0).dims().toString());
  p->x = x.raw();
  p->scale = scale.raw();
  p->y = c.out(0).raw();
  p->n = x.numel();
  p->maxBlocks = c.res.smCount > 0 ? c.res.smCount * 8 : 1024;
  if (scale.numel() == 1) return Status::OK();
  const int r = x.rank();
  const int64_t a = c.attrs.getInt("axis");
  if (r == 0 || a < -r || a >= r) return InvalidArgument("{} axis {} is out of range for rank {}", op, a, r);
  const int axis = static_cast<int>(a < 0 ? a + r : a);
  p->extent = x.dims()[axis];
  for (int i = axis + 1; i < r; ++i) p->inner *= x.dims()[i];
  const int64_t bs = c.attrs.getInt("block_size");
  if (bs <= 0) {
    if (scale.rank() != 1 || scale.numel() != p->extent)
      return InvalidArgument("{} per-axis scale shape {} does not match axis {} of {}", op, scale.dims().toString(),
                             axis, x.dims().toString());
    p->kind = QuantGeneralParams::kAxis;
    return Status::OK();
  }
  p->kind = QuantGeneralParams::kBlocked;
  p->block = bs;
  p->scaleExtent = (p->extent + bs - 1) / bs;
  bool ok = scale.rank() == r;
  for (int i = 0; ok && i < r; ++i) ok = scale.dims()[i] == (i == axis ? p->scaleExtent : x.dims()[i]);
  if (!ok)
    return InvalidArgument("{} blocked scale shape {} does not fit {} with block_size {} on axis {}", op,
                           scale.dims().toString(), x.dims().toString(), bs, axis);
  return Status::OK();
}

Status quantize(const GpuKernelContext& c) {
  QuantGeneralParams p;
  KILN_RETURN_IF_ERROR(layout("QuantizeLinear", c, &p));
  p.xType = c.in(0).dtype();
  p.scaleType = c.in(1).dtype();
  p.yType = c.out(0).dtype();
  if (!isRealType(p.xType) && p.xType != DType::kInt32) return unsupportedGpuType("QuantizeLinear", p.xType);
  if (!isScaleType(p.scaleType)) return unsupportedGpuType("QuantizeLinear y_scale", p.scaleType);
  if (!isQuantType(p.yType)) return unsupportedGpuType("QuantizeLinear", p.yType);
  if (c.hasInput(2) && c.in(2).dtype() != p.yType)
    return InvalidArgument("QuantizeLinear zero point type must be the output type");
  const int64_t prec = c.attrs.getInt("precision");
  p.explicitPrecision = prec != 0;
  p.precision = p.explicitPrecision ? static_cast<DType>(prec) : p.xType == p.scaleType ? p.scaleType : DType::kFloat32;
  p.saturate = c.attrs.getInt("saturate") != 0;
  KILN_CUDA_RETURN_IF_ERROR(launchQuantizeGeneral(p, true, c.stream));
  return Status::OK();
}

Status dequantize(const GpuKernelContext& c) {
  QuantGeneralParams p;
  KILN_RETURN_IF_ERROR(layout("DequantizeLinear", c, &p));
  p.xType = c.in(0).dtype();
  p.scaleType = c.in(1).dtype();
  p.yType = c.out(0).dtype();
  if (!isQuantType(p.xType) && p.xType != DType::kInt32) return unsupportedGpuType("DequantizeLinear", p.xType);
  if (!isScaleType(p.scaleType)) return unsupportedGpuType("DequantizeLinear x_scale", p.scaleType);
  if (!isRealType(p.yType)) return unsupportedGpuType("DequantizeLinear", p.yType);
  if (c.hasInput(2) && c.in(2).dtype() != p.xType)
    return InvalidArgument("DequantizeLinear zero point type must be the input type");
  KILN_CUDA_RETURN_IF_ERROR(launchQuantizeGeneral(p, false, c.stream));
  return Status::OK();
}

bool zeroPointTypeIs(const LayerDesc& d, DType t) {
  return d.inputTypes.size() < 3 || d.inputTypes[2] == DType::kUndefined || d.inputTypes[2] == t;
}

bool supportsQuantize(const LayerDesc& d) {
  if (!d.attrs || d.inputTypes.size() < 2 || d.outputTypes.empty()) return false;
  const int64_t prec = d.attrs->getInt("precision", 0);
  if (prec != 0 && !isRealType(static_cast<DType>(prec))) return false;
  const DType x = d.inputTypes[0];
  return (isRealType(x) || x == DType::kInt32) && isScaleType(d.inputTypes[1]) && isQuantType(d.outputTypes[0]) &&
         zeroPointTypeIs(d, d.outputTypes[0]);
}

// An fp8 zero point must be zero: the CPU reference refuses others at run time, which a kernel
// cannot do; a constant zero point is checked here, a computed one is subtracted as given (zero in
// every valid model).
bool supportsDequantize(const LayerDesc& d) {
  if (!d.attrs || d.inputTypes.size() < 2 || d.outputTypes.empty()) return false;
  const DType x = d.inputTypes[0];
  if (!(isQuantType(x) || x == DType::kInt32) || !isScaleType(d.inputTypes[1]) || !isRealType(d.outputTypes[0]))
    return false;
  if (!zeroPointTypeIs(d, x)) return false;
  if (isF8(x) && d.inputTypes.size() > 2 && d.inputTypes[2] != DType::kUndefined) {
    if (const Tensor* zp = d.constInputs.size() > 2 ? d.constInputs[2] : nullptr)
      for (int64_t i = 0; i < zp->numel(); ++i)
        if (zp->doubleAt(i) != 0.0) return false;
  }
  return true;
}

Status dynamicQuantize(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  if (x.dtype() != DType::kFloat32) return unsupportedGpuType("DynamicQuantizeLinear", x.dtype());
  if (c.numOutputs() < 3 || !c.hasOutput(0) || !c.hasOutput(1) || !c.hasOutput(2))
    return InvalidArgument("DynamicQuantizeLinear needs its three outputs");
  Tensor &y = c.out(0), &scale = c.out(1), &zp = c.out(2);
  if (y.dtype() != DType::kUInt8 || y.numel() != x.numel() || scale.dtype() != DType::kFloat32 ||
      scale.numel() != 1 || zp.dtype() != DType::kUInt8 || zp.numel() != 1)
    return InternalError("DynamicQuantizeLinear: unexpected outputs {}, {}, {}", y.describe(), scale.describe(),
                         zp.describe());
  const int maxBlocks = c.res.smCount > 0 ? c.res.smCount * 8 : 1024;
  KILN_CUDA_RETURN_IF_ERROR(launchDynamicQuantize(x.data<float>(), x.numel(), y.data<uint8_t>(), scale.data<float>(),
                                                  zp.data<uint8_t>(), maxBlocks, c.stream));
  return Status::OK();
}

bool supportsDynamicQuantize(const LayerDesc& d) {
  return d.inputTypes.size() == 1 && d.inputTypes[0] == DType::kFloat32;
}

}  // namespace

void registerQuantizeGeneralKernels(GpuKernelRegistry& r) {
  r.addFn("QuantizeLinear", "cuda_eltwise_QuantizeLinear_general", &quantize, supportsQuantize, 5);
  r.addFn("DequantizeLinear", "cuda_eltwise_DequantizeLinear_general", &dequantize, supportsDequantize, 5);
  r.addFn("DynamicQuantizeLinear", "cuda_eltwise_DynamicQuantizeLinear", &dynamicQuantize, supportsDynamicQuantize);
}

}  // namespace kiln::cuda::eltwise
