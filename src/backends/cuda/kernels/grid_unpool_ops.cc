// AffineGrid and MaxUnpool layers on CUDA (tactics cuda_affine_grid, cuda_max_unpool): shape
// checks of the CPU reference, then the launchers of grid_unpool.cu. AffineGrid's size and
// MaxUnpool's output_shape arrive on the host (host_inputs.h): they decide the output shapes.
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/grid_unpool_launch.h"

namespace kiln::cuda {

namespace {

bool isFloatStd(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}

Status affineGrid(const GpuKernelContext& c) {
  const Tensor &theta = c.in(0), &size = c.in(1);
  const int64_t n = size.numel();
  if (n != 4 && n != 5) return InvalidArgument("AffineGrid size must have 4 or 5 elements, got {}", n);
  gridunpool::AffineGridArgs a;
  a.r = static_cast<int>(n) - 2;
  a.batch = size.intAt(0);
  for (int d = 0; d < a.r; ++d) a.sizes[d] = size.intAt(2 + d);
  if (theta.dims() != Dims{a.batch, a.r, a.r + 1})
    return InvalidArgument("AffineGrid theta {} does not match size ({} batches, {}-D)", theta.dims().toString(), a.batch, a.r);
  if (!isFloatStd(theta.dtype())) return unsupportedGpuType("AffineGrid", theta.dtype());
  a.dtype = theta.dtype();
  a.theta = theta.raw();
  a.grid = c.out(0).raw();
  a.alignCorners = c.attrs.getInt("align_corners") != 0;
  KILN_CUDA_RETURN_IF_ERROR(gridunpool::launchAffineGrid(a, c.res.smCount, c.stream));
  return Status::OK();
}

Status maxUnpool(const GpuKernelContext& c) {
  const Tensor &x = c.in(0), &ind = c.in(1);
  Tensor& y = c.out(0);
  if (x.rank() < 3 || x.rank() > 5 || ind.dims() != x.dims() || y.rank() != x.rank())
    return InvalidArgument("MaxUnpool: X {} and indices {} must have the same shape of rank 3..5", x.dims().toString(),
                           ind.dims().toString());
  if (ind.dtype() != DType::kInt64) return unsupportedGpuType("MaxUnpool indices", ind.dtype());
  const int n = x.rank() - 2;
  const auto& k = c.attrs.getInts("kernel_shape");
  const auto s = c.attrs.getInts("strides", std::vector<int64_t>(n, 1));
  const auto pads = c.attrs.getInts("pads", std::vector<int64_t>(2 * n, 0));
  if (static_cast<int>(k.size()) != n || static_cast<int>(s.size()) != n || static_cast<int>(pads.size()) != 2 * n)
    return InvalidArgument("MaxUnpool: kernel_shape, strides and pads must match {} spatial dims", n);
  gridunpool::MaxUnpoolArgs a;
  a.spatial = n;
  const Dims& yd = y.dims();
  if (yd[0] != x.dims()[0] || yd[1] != x.dims()[1])
    return InvalidArgument("MaxUnpool: output shape {} must keep N and C of X {}", yd.toString(), x.dims().toString());
  for (int i = 0; i < n; ++i) {
    a.inferred[i] = (x.dims()[i + 2] - 1) * s[i] - pads[i] - pads[i + n] + k[i];
    a.outDims[i] = yd[i + 2];
    if (a.outDims[i] < a.inferred[i])
      return InvalidArgument("MaxUnpool: output shape {} is smaller than the unpooled shape", yd.toString());
  }
  a.elemBytes = static_cast<int>(dtypeSize(x.dtype()));
  a.x = x.raw();
  a.indices = ind.data<int64_t>();
  a.y = y.raw();
  a.n = x.numel();
  a.yNumel = y.numel();
  a.planes = yd[0] * yd[1];
  KILN_CUDA_RETURN_IF_ERROR(gridunpool::launchMaxUnpool(a, c.res.smCount, c.stream));
  return Status::OK();
}

bool supportsAffineGrid(const LayerDesc& d) { return !d.inputTypes.empty() && isFloatStd(d.inputTypes[0]); }

// Indices are assumed unique (MaxPool's are); duplicates would race where the CPU keeps the last.
bool supportsMaxUnpool(const LayerDesc& d) {
  return d.inputTypes.size() >= 2 && isFloatStd(d.inputTypes[0]) && d.inputTypes[1] == DType::kInt64;
}

}  // namespace

void registerGridUnpoolKernels(GpuKernelRegistry& r) {
  r.addFn("AffineGrid", "cuda_affine_grid", &affineGrid, supportsAffineGrid);
  r.addFn("MaxUnpool", "cuda_max_unpool", &maxUnpool, supportsMaxUnpool);
}

}  // namespace kiln::cuda
