// Layers that only move bytes: Identity and the reshaping ops (same bytes, new dims), and the
// engine-internal HostToDevice upload of a host-computed tensor (shape arithmetic results a device
// layer reads as data). Device-to-device copies go through the copy engine, on the layer's stream.
#include <cuda_runtime_api.h>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/eltwise_launch.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {

Status copyInput0(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (x.nbytes() != y.nbytes())
    return InternalError("copy of {} into {}: sizes differ", x.describe(), y.describe());
  if (y.nbytes() == 0 || x.raw() == y.raw()) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), x.raw(), y.nbytes(), cudaMemcpyDeviceToDevice, c.stream));
  return Status::OK();
}

Status hostToDevice(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);  // pinned host memory (the context's host arena)
  Tensor& y = c.out(0);
  if (x.nbytes() != y.nbytes())
    return InternalError("upload of {} into {}: sizes differ", x.describe(), y.describe());
  if (y.nbytes() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), x.raw(), y.nbytes(), cudaMemcpyHostToDevice, c.stream));
  return Status::OK();
}

// BitCast reinterprets the bytes (same element width by the op's definition); a bool result keeps
// only 0/1 as the CPU reference does (any nonzero byte is true).
Status bitCast(const GpuKernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (x.nbytes() != y.nbytes()) return InvalidArgument("BitCast of {} into {}: sizes differ", x.describe(), y.describe());
  if (y.dtype() != DType::kBool) return copyInput0(c);
  if (y.numel() == 0) return Status::OK();
  const int maxBlocks = c.res.smCount > 0 ? c.res.smCount * 8 : 1024;
  KILN_CUDA_RETURN_IF_ERROR(eltwise::launchCast(x.raw(), DType::kUInt8, y.raw(), DType::kBool, y.numel(), maxBlocks, c.stream));
  return Status::OK();
}

// 4/2-bit results would need their code bits re-read in the target type: not offered.
bool supportsBitCast(const LayerDesc& d) {
  return d.inputTypes.size() == 1 && !d.outputTypes.empty() && eltwise::isStandardType(d.inputTypes[0]) &&
         eltwise::isStandardType(d.outputTypes[0]);
}

// OptionalHasElement of a tensor (true) or of nothing (false): engines hold tensors only, so a
// present input is a present optional.
Status optionalHasElement(const GpuKernelContext& c) {
  Tensor& y = c.out(0);
  if (y.dtype() != DType::kBool || y.numel() != 1) return InternalError("OptionalHasElement output {}", y.describe());
  KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), c.hasInput(0) ? 1 : 0, 1, c.stream));
  return Status::OK();
}

bool tensorOnly(const LayerDesc& d) {
  for (DType t : d.outputTypes)
    if (t == DType::kString) return false;
  return true;
}

}  // namespace

void registerCopyKernels(GpuKernelRegistry& r) {
  for (const char* op : {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"})
    r.addFn(op, std::string("cuda_copy_") + op, &copyInput0, tensorOnly);
  r.addFn("BitCast", "cuda_copy_BitCast", &bitCast, supportsBitCast);
  r.addFn("OptionalHasElement", "cuda_copy_OptionalHasElement", &optionalHasElement);
  r.addFn("OptionalGetElement", "cuda_copy_OptionalGetElement", &copyInput0, tensorOnly);
  r.addFn("HostToDevice", "cuda_host_to_device", &hostToDevice, nullptr, 0, "kiln");
}

}  // namespace kiln::cuda
