// QuantizeLinear / DequantizeLinear on CUDA (tactics cuda_eltwise_QuantizeLinear /
// cuda_eltwise_DequantizeLinear): per-tensor and per-axis scales, no blocked scales; int8/uint8
// quantized values (int32 also dequantizes); float32/float16/bfloat16 real values and scales.
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/eltwise_kernels.h"
#include "backends/cuda/kernels/eltwise_quant.h"

namespace kiln::cuda::eltwise {

namespace {

bool isRealType(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

// Per tensor (one scale value) or per axis (a vector of the axis' length).
Status layout(std::string_view op, const GpuKernelContext& c, QuantParams* p) {
  const Tensor& x = c.in(0);
  const Tensor& scale = c.in(1);
  if (c.attrs.getInt("block_size") > 0 && scale.numel() != 1)
    return Unsupported("{} with blocked scales (block_size {}) has no CUDA kernel", op, c.attrs.getInt("block_size"));
  if (c.hasInput(2)) {
    const Tensor& zp = c.in(2);
    if (zp.numel() != scale.numel())
      return InvalidArgument("{} zero point shape {} must equal the scale shape {}", op, zp.dims().toString(),
                             scale.dims().toString());
    p->zeroPoint = zp.raw();
  }
  p->x = x.raw();
  p->scale = scale.raw();
  p->y = c.out(0).raw();
  p->n = x.numel();
  p->maxBlocks = c.res.smCount > 0 ? c.res.smCount * 8 : 1024;
  if (c.out(0).numel() != x.numel())
    return InvalidArgument("{}: input {} vs output {}", op, x.dims().toString(), c.out(0).dims().toString());
  if (scale.numel() == 1) return Status::OK();
  const int r = x.rank();
  const int64_t a = c.attrs.getInt("axis");
  if (r == 0 || a < -r || a >= r) return InvalidArgument("{} axis {} is out of range for rank {}", op, a, r);
  const int axis = static_cast<int>(a < 0 ? a + r : a);
  if (scale.rank() != 1 || scale.numel() != x.dims()[axis])
    return InvalidArgument("{} per-axis scale shape {} does not match axis {} of {}", op, scale.dims().toString(), axis,
                           x.dims().toString());
  int64_t inner = 1;
  for (int i = axis + 1; i < r; ++i) inner *= x.dims()[i];
  p->inner = inner;
  p->extent = x.dims()[axis];
  return Status::OK();
}

Status quantize(const GpuKernelContext& c) {
  QuantParams p;
  KILN_RETURN_IF_ERROR(layout("QuantizeLinear", c, &p));
  p.xType = c.in(0).dtype();
  p.scaleType = c.in(1).dtype();
  p.yType = c.out(0).dtype();
  if (!isRealType(p.xType) || !isRealType(p.scaleType)) return unsupportedGpuType("QuantizeLinear", p.xType);
  if (p.yType != DType::kInt8 && p.yType != DType::kUInt8) return unsupportedGpuType("QuantizeLinear", p.yType);
  if (c.hasInput(2) && c.in(2).dtype() != p.yType)
    return InvalidArgument("QuantizeLinear zero point type must be the output type");
  if (c.attrs.getInt("precision") != 0) return Unsupported("QuantizeLinear 'precision' has no CUDA kernel");
  p.precision = p.xType == p.scaleType ? p.scaleType : DType::kFloat32;
  KILN_CUDA_RETURN_IF_ERROR(launchQuantize(p, c.stream));
  return Status::OK();
}

Status dequantize(const GpuKernelContext& c) {
  QuantParams p;
  KILN_RETURN_IF_ERROR(layout("DequantizeLinear", c, &p));
  p.xType = c.in(0).dtype();
  p.scaleType = c.in(1).dtype();
  p.yType = c.out(0).dtype();
  if (p.xType != DType::kInt8 && p.xType != DType::kUInt8 && p.xType != DType::kInt32)
    return unsupportedGpuType("DequantizeLinear", p.xType);
  if (!isRealType(p.scaleType)) return unsupportedGpuType("DequantizeLinear scale", p.scaleType);
  if (!isRealType(p.yType)) return unsupportedGpuType("DequantizeLinear", p.yType);
  if (c.hasInput(2) && c.in(2).dtype() != p.xType)
    return InvalidArgument("DequantizeLinear zero point type must be the input type");
  KILN_CUDA_RETURN_IF_ERROR(launchDequantize(p, c.stream));
  return Status::OK();
}

bool supportsQuantize(const LayerDesc& d) {
  const AttrMap* a = d.attrs;
  if (!a || a->getInt("block_size", 0) > 0 || a->getInt("precision", 0) != 0) return false;
  if (d.inputTypes.size() < 2 || d.outputTypes.empty()) return false;
  const DType q = d.outputTypes[0];
  if (!isRealType(d.inputTypes[0]) || !isRealType(d.inputTypes[1])) return false;
  if (q != DType::kInt8 && q != DType::kUInt8) return false;
  return d.inputTypes.size() < 3 || d.inputTypes[2] == DType::kUndefined || d.inputTypes[2] == q;
}

bool supportsDequantize(const LayerDesc& d) {
  const AttrMap* a = d.attrs;
  if (!a || a->getInt("block_size", 0) > 0) return false;
  if (d.inputTypes.size() < 2 || d.outputTypes.empty()) return false;
  const DType x = d.inputTypes[0];
  if (x != DType::kInt8 && x != DType::kUInt8 && x != DType::kInt32) return false;
  if (!isRealType(d.inputTypes[1]) || !isRealType(d.outputTypes[0])) return false;
  return d.inputTypes.size() < 3 || d.inputTypes[2] == DType::kUndefined || d.inputTypes[2] == x;
}

}  // namespace

void registerQuantizeKernels(GpuKernelRegistry& r) {
  r.addFn("QuantizeLinear", "cuda_eltwise_QuantizeLinear", &quantize, supportsQuantize, 10);
  r.addFn("DequantizeLinear", "cuda_eltwise_DequantizeLinear", &dequantize, supportsDequantize, 10);
}

}  // namespace kiln::cuda::eltwise
