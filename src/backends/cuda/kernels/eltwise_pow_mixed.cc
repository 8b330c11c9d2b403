// Host side of Pow with mixed base/exponent types (eltwise_pow_mixed.cu): broadcasting strides
// and the registration of its tactic. Same-type Pow is the element-wise chain's.
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/eltwise_kernels.h"
#include "backends/cuda/kernels/eltwise_launch.h"

namespace kiln::cuda::eltwise {

namespace {

bool numeric(DType t) { return isStandardType(t) && t != DType::kBool; }

Status powMixed(const GpuKernelContext& c) {
  const Tensor &x = c.in(0), &e = c.in(1);
  Tensor& y = c.out(0);
  if (y.dtype() != x.dtype())
    return InvalidArgument("Pow: output is {}, expected the base's type {}", dtypeName(y.dtype()), dtypeName(x.dtype()));
  if (!numeric(x.dtype())) return unsupportedGpuType("Pow", x.dtype());
  if (!numeric(e.dtype())) return unsupportedGpuType("Pow", e.dtype());
  const Dims& od = y.dims();
  if (od.rank() > kMaxGeoRank) return Unsupported("Pow: rank {} is above the CUDA kernel's {}", od.rank(), kMaxGeoRank);
  PowMixedArgs a;
  a.x = x.raw();
  a.e = e.raw();
  a.y = y.raw();
  a.xType = x.dtype();
  a.eType = e.dtype();
  a.rank = od.rank();
  a.n = y.numel();
  for (int k = 0; k < od.rank(); ++k) a.dims[k] = od[k];
  // Right-aligned numpy broadcasting: stride 0 where an operand has size 1 (or lacks the axis).
  for (const auto& [t, strides] : {std::pair{&x, a.xStrides}, std::pair{&e, a.eStrides}}) {
    const Dims& d = t->dims();
    if (d.rank() > od.rank()) return InvalidArgument("Pow: operand {} does not broadcast to {}", d.toString(), od.toString());
    int64_t acc = 1;
    for (int k = od.rank() - 1; k >= 0; --k) {
      const int ik = k - (od.rank() - d.rank());
      if (ik < 0) continue;
      if (d[ik] != od[k] && d[ik] != 1)
        return InvalidArgument("Pow: operand {} does not broadcast to {}", d.toString(), od.toString());
      strides[k] = d[ik] == 1 ? 0 : acc;
      acc *= d[ik];
    }
  }
  const int maxBlocks = c.res.smCount > 0 ? c.res.smCount * 8 : 1024;
  KILN_CUDA_RETURN_IF_ERROR(launchPowMixed(a, maxBlocks, c.stream));
  return Status::OK();
}

bool supportsPowMixed(const LayerDesc& d) {
  return d.inputTypes.size() == 2 && d.outputTypes.size() == 1 && numeric(d.inputTypes[0]) &&
         numeric(d.inputTypes[1]) && d.inputTypes[0] != d.inputTypes[1] && d.outputTypes[0] == d.inputTypes[0];
}

}  // namespace

void registerPowMixedKernel(GpuKernelRegistry& r) {
  r.addFn("Pow", "cuda_eltwise_pow_mixed", &powMixed, supportsPowMixed);
}

}  // namespace kiln::cuda::eltwise
