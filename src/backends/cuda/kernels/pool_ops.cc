// Pooling layers: MaxPool (optional Indices), AveragePool, LpPool (spatial rank 1..3), the global
// pools, and the channels-last kiln:Nhwc* forms the optimizer produces. Window geometry (pads,
// auto_pad) is resolved by the CPU backend's makeGeom so both backends agree; pool_pool.cu launches.
#include <cuda_runtime_api.h>

#include "backends/cpu/kernels/conv_pool_geom.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/reduce_launch.h"
#include "backends/cuda/kernels/reduce_register.h"

namespace kiln::cuda {

namespace {

using rn::PoolMode;

// Channels-first view of channels-last dims: [N, S..., C] -> [N, C, S...].
Dims toChannelsFirst(const Dims& d) {
  Dims r;
  r.push_back(d[0]);
  r.push_back(d[d.rank() - 1]);
  for (int i = 1; i < d.rank() - 1; ++i) r.push_back(d[i]);
  return r;
}

template <PoolMode M, bool kNhwc>
Status poolEnqueue(const GpuKernelContext& c) {
  const char* op = M == PoolMode::kMax ? (kNhwc ? "NhwcMaxPool" : "MaxPool")
                   : M == PoolMode::kAvg ? (kNhwc ? "NhwcAveragePool" : "AveragePool")
                                         : "LpPool";
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (!rn::poolSupportsType(M, x.dtype())) return unsupportedGpuType(op, x.dtype());
  if (x.rank() < 3) return InvalidArgument("{}: input must have rank >= 3, got {}", op, x.dims().toString());
  if (y.rank() != x.rank() || y.dtype() != x.dtype())
    return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
  const int nd = x.rank() - 2;
  if (nd > rn::kMaxPoolDims) return Unsupported("{}: {} spatial dims (at most {})", op, nd, rn::kMaxPoolDims);
  const auto& k = c.attrs.getInts("kernel_shape");
  if (static_cast<int>(k.size()) != nd)
    return InvalidArgument("{}: kernel_shape has {} values; the input has {} spatial dims", op, k.size(), nd);
  const Dims xd = kNhwc ? toChannelsFirst(x.dims()) : x.dims();
  const Dims yd = kNhwc ? toChannelsFirst(y.dims()) : y.dims();
  cpu::SpatialGeom sg;
  Dims kd;
  for (int64_t v : k) kd.push_back(v);
  KILN_RETURN_IF_ERROR(cpu::makeGeom(c.attrs, xd, kd, yd, cpu::PadMode::kConv, &sg));
  if (yd[0] != xd[0] || yd[1] != xd[1])
    return InternalError("{}: output {} does not keep N and C of {}", op, y.describe(), x.describe());
  rn::PoolArgs a;
  a.mode = M;
  a.dtype = x.dtype();
  a.channelsLast = kNhwc;
  a.x = x.raw();
  a.y = y.raw();
  a.smCount = c.res.smCount;
  a.g.nd = nd;
  a.g.batch = xd[0];
  a.g.channels = xd[1];
  for (int i = 0; i < nd; ++i) {
    a.g.in[i] = sg.in[i];
    a.g.out[i] = sg.out[i];
    a.g.kernel[i] = sg.kernel[i];
    a.g.stride[i] = sg.strides[i];
    a.g.dilation[i] = sg.dilations[i];
    a.g.padBegin[i] = sg.padBegin[i];
    a.g.padEnd[i] = sg.padEnd[i];
    if (sg.kernel[i] < 1 || sg.strides[i] < 1 || sg.dilations[i] < 1 || sg.padBegin[i] < 0 || sg.padEnd[i] < 0)
      return InvalidArgument("{}: kernel, strides and dilations must be >= 1 and pads >= 0", op);
  }
  if constexpr (M == PoolMode::kAvg) a.countIncludePad = c.attrs.getInt("count_include_pad") != 0;
  if constexpr (M == PoolMode::kLp) {
    a.p = static_cast<int>(c.attrs.getInt("p"));
    if (c.attrs.getInt("p") < 1) return InvalidArgument("{}: p must be >= 1 (got {})", op, c.attrs.getInt("p"));
  }
  if constexpr (M == PoolMode::kMax && !kNhwc) {
    a.colMajorIndices = c.attrs.getInt("storage_order") != 0;
    if (c.hasOutput(1)) {
      Tensor& ind = c.out(1);
      if (ind.dtype() != DType::kInt64 || ind.numel() != y.numel())
        return InternalError("{}: Indices {} does not match the output {}", op, ind.describe(), y.describe());
      a.indices = ind.data<int64_t>();
    }
  }
  if (y.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchPool(a, c.stream));
  return Status::OK();
}

template <PoolMode M, bool kNhwc>
bool poolSupports(const LayerDesc& d) {
  const int r = rnh::knownRank(d, 0);
  if (!rn::poolSupportsType(M, rnh::inType(d, 0)) || r > 2 + rn::kMaxPoolDims) return false;
  if (r >= 0 && r < 3) return false;
  return true;
}

template <PoolMode M, bool kNhwc>
Status globalEnqueue(const GpuKernelContext& c) {
  const char* op = M == PoolMode::kMax ? "GlobalMaxPool"
                   : M == PoolMode::kAvg ? (kNhwc ? "NhwcGlobalAveragePool" : "GlobalAveragePool")
                                         : "GlobalLpPool";
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (!rn::poolSupportsType(PoolMode::kAvg, x.dtype())) return unsupportedGpuType(op, x.dtype());
  const int minRank = kNhwc ? 3 : 2;
  if (x.rank() < minRank) return InvalidArgument("{}: input must have rank >= {}, got {}", op, minRank, x.dims().toString());
  rn::GlobalPoolArgs a;
  a.mode = M;
  a.dtype = x.dtype();
  a.channelsLast = kNhwc;
  a.x = x.raw();
  a.y = y.raw();
  a.smCount = c.res.smCount;
  a.batch = x.dims()[0];
  a.channels = kNhwc ? x.dims()[x.rank() - 1] : x.dims()[1];
  a.spatial = 1;
  for (int i = kNhwc ? 1 : 2; i < (kNhwc ? x.rank() - 1 : x.rank()); ++i) a.spatial *= x.dims()[i];
  if constexpr (M == PoolMode::kLp) {
    a.p = static_cast<int>(c.attrs.getInt("p"));
    if (c.attrs.getInt("p") < 1) return InvalidArgument("{}: p must be >= 1 (got {})", op, c.attrs.getInt("p"));
  }
  if (y.dtype() != x.dtype() || y.numel() != a.batch * a.channels)
    return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
  if (y.numel() == 0) return Status::OK();
  if (a.spatial == 0) {  // empty planes pool to 0, as the CPU reference
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.raw(), 0, y.nbytes(), c.stream));
    return Status::OK();
  }
  KILN_CUDA_RETURN_IF_ERROR(rn::launchGlobalPool(a, c.stream));
  return Status::OK();
}

template <bool kNhwc>
bool globalSupports(const LayerDesc& d) {
  const int r = rnh::knownRank(d, 0);
  if (r >= 0 && r < (kNhwc ? 3 : 2)) return false;
  return rn::poolSupportsType(PoolMode::kAvg, rnh::inType(d, 0));
}

}  // namespace

void registerPoolOps(GpuKernelRegistry& r) {
  r.addFn("MaxPool", "cuda_pool_max", &poolEnqueue<PoolMode::kMax, false>, poolSupports<PoolMode::kMax, false>, 10);
  r.addFn("AveragePool", "cuda_pool_avg", &poolEnqueue<PoolMode::kAvg, false>, poolSupports<PoolMode::kAvg, false>,
          10);
  r.addFn("LpPool", "cuda_pool_lp", &poolEnqueue<PoolMode::kLp, false>, poolSupports<PoolMode::kLp, false>, 10);
  r.addFn("GlobalAveragePool", "cuda_pool_global_avg", &globalEnqueue<PoolMode::kAvg, false>, globalSupports<false>,
          10);
  r.addFn("GlobalMaxPool", "cuda_pool_global_max", &globalEnqueue<PoolMode::kMax, false>, globalSupports<false>, 10);
  r.addFn("GlobalLpPool", "cuda_pool_global_lp", &globalEnqueue<PoolMode::kLp, false>, globalSupports<false>, 10);
  r.addFn("NhwcMaxPool", "cuda_pool_nhwc_max", &poolEnqueue<PoolMode::kMax, true>, poolSupports<PoolMode::kMax, true>,
          10, "kiln");
  r.addFn("NhwcAveragePool", "cuda_pool_nhwc_avg", &poolEnqueue<PoolMode::kAvg, true>,
          poolSupports<PoolMode::kAvg, true>, 10, "kiln");
  r.addFn("NhwcGlobalAveragePool", "cuda_pool_nhwc_global_avg", &globalEnqueue<PoolMode::kAvg, true>,
          globalSupports<true>, 10, "kiln");
}

}  // namespace kiln::cuda
