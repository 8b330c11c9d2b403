// Softmax / LogSoftmax / Hardmax: attribute handling and validation (reduce_softmax.cu launches).
// `kiln_coerce_2d` (the opset < 13 form the importer could not rewrite) normalizes over every axis
// from `axis` on, i.e. rows of prod(dims[axis:]).
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/reduce_launch.h"
#include "backends/cuda/kernels/reduce_register.h"

namespace kiln::cuda {

namespace {

using rn::SMode;

template <SMode M>
constexpr const char* smName() {
  return M == SMode::kSoftmax ? "Softmax" : M == SMode::kLogSoftmax ? "LogSoftmax" : "Hardmax";
}

template <SMode M>
Status softmaxEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = smName<M>();
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (!rn::softmaxSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  if (y.dtype() != x.dtype() || y.numel() != x.numel())
    return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
  const int rank = x.rank();
  const int64_t axisAttr = c.attrs.getInt("axis");
  rn::SoftmaxArgs a;
  a.mode = M;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = y.raw();
  a.smCount = c.res.smCount;
  if (c.attrs.getInt("kiln_coerce_2d", 0) != 0) {
    if (axisAttr < -rank || axisAttr > rank)
      return InvalidArgument("{} axis {} is out of range for rank {}", op, axisAttr, rank);
    const int axis = static_cast<int>(axisAttr < 0 ? axisAttr + rank : axisAttr);
    a.outer = 1;
    a.n = 1;
    for (int i = 0; i < rank; ++i) (i < axis ? a.outer : a.n) *= x.dims()[i];
  } else {
    int axis;
    if (!rnh::normAxis(axisAttr, rank, &axis))
      return InvalidArgument("{} axis {} is out of range for rank {}", op, axisAttr, rank);
    for (int i = 0; i < rank; ++i) {
      if (i < axis) a.outer *= x.dims()[i];
      else if (i == axis) a.n = x.dims()[i];
      else a.inner *= x.dims()[i];
    }
  }
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchSoftmax(a, c.stream));
  return Status::OK();
}

bool softmaxSupports(const LayerDesc& d) {
  return rn::softmaxSupportsType(rnh::inType(d, 0)) && d.outputTypes.size() == 1 &&
         d.outputTypes[0] == rnh::inType(d, 0);
}

}  // namespace

void registerSoftmaxOps(GpuKernelRegistry& r) {
  r.addFn("Softmax", "cuda_reduce_softmax", &softmaxEnqueue<SMode::kSoftmax>, softmaxSupports, 10);
  r.addFn("LogSoftmax", "cuda_reduce_logsoftmax", &softmaxEnqueue<SMode::kLogSoftmax>, softmaxSupports, 10);
  r.addFn("Hardmax", "cuda_reduce_hardmax", &softmaxEnqueue<SMode::kHardmax>, softmaxSupports, 10);
}

}  // namespace kiln::cuda
