// Reduce* (axes as a host input, keepdims, noop_with_empty_axes) and ArgMax/ArgMin: validation and
// the collapse of the input into runs of kept/reduced axes; the launches live in reduce_sum.cu,
// reduce_minmax.cu and reduce_arg.cu. Nothing here allocates (fixed-size arrays only).
#include <cuda_runtime_api.h>

#include <memory>

#include "backends/cuda/cuda_check.h"
#include "backends/fit_output.h"
#include "backends/cuda/kernels/reduce_launch.h"
#include "backends/cuda/kernels/reduce_register.h"

namespace kiln::cuda {

namespace {

using rn::ROp;

constexpr int kMaxInRank = 12;  // Dims' inline capacity

// Collapses dims into alternating runs (size-1 axes dropped); false if more than kMaxRuns runs.
bool makeLayout(const Dims& d, const bool* reduced, rn::ReduceLayout* L) {
  *L = rn::ReduceLayout{};
  for (int i = 0; i < d.rank(); ++i) {
    if (d[i] == 1) continue;
    if (L->rank > 0 && L->red[L->rank - 1] == reduced[i]) {
      L->dim[L->rank - 1] *= d[i];
    } else {
      if (L->rank == rn::kMaxRuns) return false;
      L->dim[L->rank] = d[i];
      L->red[L->rank] = reduced[i];
      ++L->rank;
    }
  }
  bool anyReduced = false;
  for (int i = 0; i < L->rank; ++i) anyReduced |= L->red[i];
  if (!anyReduced) {  // nothing left to reduce: a reduced run of 1 (each output copies one input)
    if (L->rank == rn::kMaxRuns) return false;
    L->dim[L->rank] = 1;
    L->red[L->rank] = true;
    ++L->rank;
  }
  int64_t s = 1;
  for (int i = L->rank - 1; i >= 0; --i) {
    L->stride[i] = s;
    s *= L->dim[i];
    (L->red[i] ? L->redCount : L->outCount) *= L->dim[i];
  }
  return true;
}

template <ROp Op>
constexpr const char* reduceName() {
  switch (Op) {
    case ROp::kSum: return "ReduceSum";
    case ROp::kMean: return "ReduceMean";
    case ROp::kMax: return "ReduceMax";
    case ROp::kMin: return "ReduceMin";
    case ROp::kProd: return "ReduceProd";
    case ROp::kL1: return "ReduceL1";
    case ROp::kL2: return "ReduceL2";
    case ROp::kLogSum: return "ReduceLogSum";
    case ROp::kLogSumExp: return "ReduceLogSumExp";
    case ROp::kSumSquare: return "ReduceSumSquare";
  }
  return "Reduce";
}

template <ROp Op>
Status reduceEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = reduceName<Op>();
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (!rn::reduceSupportsType(Op, x.dtype())) return unsupportedGpuType(op, x.dtype());
  const int rank = x.rank();
  if (rank > kMaxInRank) return Unsupported("{}: rank {} is above {}", op, rank, kMaxInRank);
  bool reduced[kMaxInRank] = {};
  const bool hasAxes = c.hasInput(1) && c.in(1).numel() > 0;
  if (!hasAxes) {
    if (c.attrs.getInt("noop_with_empty_axes") != 0) {
      if (y.numel() != x.numel() || y.dtype() != x.dtype())
        return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
      if (y.nbytes() > 0 && y.raw() != x.raw())
        KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(y.raw(), x.raw(), y.nbytes(), cudaMemcpyDeviceToDevice, c.stream));
      return Status::OK();
    }
    for (int i = 0; i < rank; ++i) reduced[i] = true;
  } else {
    const Tensor& axes = c.in(1);  // host tensor (hostInputs)
    for (int64_t i = 0; i < axes.numel(); ++i) {
      const int64_t a = axes.intAt(i);
      if (a < -rank || a >= rank) return InvalidArgument("{} axes value {} is out of range for rank {}", op, a, rank);
      const int k = static_cast<int>(a < 0 ? a + rank : a);
      if (reduced[k]) return InvalidArgument("{} axes repeats axis {}", op, a);
      reduced[k] = true;
    }
  }
  int64_t outNumel = 1;
  for (int i = 0; i < rank; ++i) outNumel *= reduced[i] ? 1 : x.dims()[i];
  if (y.numel() != outNumel || y.dtype() != x.dtype())
    return InternalError("{}: output {} does not match the reduction of {}", op, y.describe(), x.describe());
  rn::ReduceArgs a;
  a.op = Op;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = y.raw();
  a.inNumel = x.numel();
  a.outNumel = outNumel;
  a.smCount = c.res.smCount;
  a.workspace = c.workspace;
  a.workspaceSize = c.workspaceSize;
  if (outNumel == 0) return Status::OK();
  if (a.inNumel > 0 && !makeLayout(x.dims(), reduced, &a.layout))
    return Unsupported("{}: the axes of {} form more than {} runs of kept/reduced axes", op, x.dims().toString(),
                       rn::kMaxRuns);
  KILN_CUDA_RETURN_IF_ERROR(rn::launchReduce(a, c.stream));
  return Status::OK();
}

template <ROp Op>
bool reduceSupports(const LayerDesc& d) {
  const DType t = rnh::inType(d, 0);
  // Rank <= kMaxRuns guarantees the collapsed layout fits whatever the axes (known only at run time).
  return rn::reduceSupportsType(Op, t) && d.outputTypes.size() == 1 && d.outputTypes[0] == t &&
         rnh::knownRank(d, 0) <= rn::kMaxRuns;
}

// Reduce* layers declare a workspace for splitting few long rows across blocks (reduce_kernels.cuh).
template <ROp Op>
class ReduceKernel final : public GpuKernel {
 public:
  Status enqueue(const GpuKernelContext& ctx) const override { return reduceEnqueue<Op>(ctx); }
  size_t workspaceBytes() const override { return rn::kReduceWorkspaceBytes; }
};

template <ROp Op>
void addReduce(GpuKernelRegistry& r, const char* tactic) {
  GpuKernelDef d;
  d.op = reduceName<Op>();
  d.tactic = tactic;
  d.priority = 10;
  d.supports = reduceSupports<Op>;
  d.create = [](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<ReduceKernel<Op>>());
  };
  r.add(std::move(d));
}

template <bool kMax>
Status argEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = kMax ? "ArgMax" : "ArgMin";
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (!rn::argSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  int axis;
  if (!rnh::normAxis(c.attrs.getInt("axis"), x.rank(), &axis))
    return InvalidArgument("{} axis {} is out of range for rank {}", op, c.attrs.getInt("axis"), x.rank());
  rn::ArgArgs a;
  a.isMax = kMax;
  a.selectLast = c.attrs.getInt("select_last_index") != 0;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = y.data<int64_t>();
  a.smCount = c.res.smCount;
  for (int i = 0; i < x.rank(); ++i) {
    if (i < axis) a.outer *= x.dims()[i];
    else if (i == axis) a.n = x.dims()[i];
    else a.inner *= x.dims()[i];
  }
  if (y.dtype() != DType::kInt64 || y.numel() != a.outer * a.inner)
    return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
  if (a.n == 0 && a.outer * a.inner > 0) return InvalidArgument("{} over an axis of size 0 has no result", op);
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchArg(a, c.stream));
  return Status::OK();
}

bool argSupports(const LayerDesc& d) { return rn::argSupportsType(rnh::inType(d, 0)); }

// CumSum/CumProd: the axis arrives on the host (hostInputs).
template <bool kProd>
Status scanEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = kProd ? "CumProd" : "CumSum";
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (!rn::scanSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  if (y.dtype() != x.dtype() || y.numel() != x.numel())
    return InternalError("{}: output {} does not match the input {}", op, y.describe(), x.describe());
  const Tensor& ax = c.in(1);
  if (ax.numel() != 1) return InvalidArgument("{} axis must hold one value, got {}", op, ax.numel());
  if (x.rank() == 0) return InvalidArgument("{} needs an input of rank >= 1", op);
  int axis;
  if (!rnh::normAxis(ax.intAt(0), x.rank(), &axis))
    return InvalidArgument("{} axis {} is out of range for rank {}", op, ax.intAt(0), x.rank());
  rn::ScanArgs a;
  a.prod = kProd;
  a.exclusive = c.attrs.getInt("exclusive") != 0;
  a.reverse = c.attrs.getInt("reverse") != 0;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.y = y.raw();
  a.smCount = c.res.smCount;
  for (int i = 0; i < x.rank(); ++i) {
    if (i < axis) a.outer *= x.dims()[i];
    else if (i == axis) a.n = x.dims()[i];
    else a.inner *= x.dims()[i];
  }
  if (x.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(rn::launchScan(a, c.stream));
  return Status::OK();
}

bool cumSumSupports(const LayerDesc& d) {
  return rn::scanSupportsType(rnh::inType(d, 0)) && rnh::knownRank(d, 0) != 0;
}

// TopK: the small-K kernel (K <= kTopKMaxK; supports() needs K constant to know it) and the
// any-K selection kernel. K arrives on the host (a constant, or a host input of the engine).
template <bool kSmall>
Status topKEnqueue(const GpuKernelContext& c) {
  constexpr const char* op = "TopK";
  const Tensor& x = c.in(0);
  if (!rn::topKSupportsType(x.dtype())) return unsupportedGpuType(op, x.dtype());
  if (x.rank() == 0) return InvalidArgument("TopK needs an input of rank >= 1");
  int axis;
  if (!rnh::normAxis(c.attrs.getInt("axis"), x.rank(), &axis))
    return InvalidArgument("TopK axis {} is out of range for rank {}", c.attrs.getInt("axis"), x.rank());
  if (!c.hasInput(1) || c.in(1).numel() != 1) return InvalidArgument("TopK K must hold one value");
  rn::TopKArgs a;
  a.k = c.in(1).intAt(0);
  a.largest = c.attrs.getInt("largest") != 0;
  a.dtype = x.dtype();
  a.x = x.raw();
  a.smCount = c.res.smCount;
  for (int i = 0; i < x.rank(); ++i) {
    if (i < axis) a.outer *= x.dims()[i];
    else if (i == axis) a.n = x.dims()[i];
    else a.inner *= x.dims()[i];
  }
  if (a.k < 0 || a.k > a.n)
    return InvalidArgument("TopK K = {} is outside [0, {}] (the size of axis {})", a.k, a.n, axis);
  if (kSmall && a.k > rn::kTopKMaxK)
    return Unsupported("TopK K = {} is above the small-K CUDA kernel's {}", a.k, rn::kTopKMaxK);
  Tensor &v = c.out(0), &ind = c.out(1);
  // K from a host input: the outputs are sized for K's bound (the axis) until this run decides it.
  Dims yDims = x.dims();
  yDims[axis] = a.k;
  KILN_RETURN_IF_ERROR(backends::fitOutput(v, yDims, op));
  KILN_RETURN_IF_ERROR(backends::fitOutput(ind, yDims, op));
  if (v.dtype() != x.dtype() || v.numel() != a.outer * a.k * a.inner || ind.dtype() != DType::kInt64 ||
      ind.numel() != v.numel())
    return InternalError("TopK outputs {} and {} do not hold K = {} elements per slice", v.describe(), ind.describe(),
                         a.k);
  a.values = v.raw();
  a.indices = ind.data<int64_t>();
  if (v.numel() == 0) return Status::OK();
  KILN_CUDA_RETURN_IF_ERROR(kSmall ? rn::launchTopK(a, c.stream) : rn::launchTopKSelect(a, c.stream));
  return Status::OK();
}

bool topKAnySupports(const LayerDesc& d) { return rn::topKSupportsType(rnh::inType(d, 0)); }

bool topKSupports(const LayerDesc& d) {
  if (!rn::topKSupportsType(rnh::inType(d, 0))) return false;
  const Tensor* k = d.constInputs.size() > 1 ? d.constInputs[1] : nullptr;
  return k && k->numel() == 1 && k->intAt(0) <= rn::kTopKMaxK;
}

}  // namespace

void registerReduceOps(GpuKernelRegistry& r) {
  addReduce<ROp::kSum>(r, "cuda_reduce_sum");
  addReduce<ROp::kMean>(r, "cuda_reduce_mean");
  addReduce<ROp::kMax>(r, "cuda_reduce_max");
  addReduce<ROp::kMin>(r, "cuda_reduce_min");
  addReduce<ROp::kProd>(r, "cuda_reduce_prod");
  addReduce<ROp::kL1>(r, "cuda_reduce_l1");
  addReduce<ROp::kL2>(r, "cuda_reduce_l2");
  addReduce<ROp::kLogSum>(r, "cuda_reduce_logsum");
  addReduce<ROp::kLogSumExp>(r, "cuda_reduce_logsumexp");
  addReduce<ROp::kSumSquare>(r, "cuda_reduce_sumsquare");
  r.addFn("ArgMax", "cuda_reduce_argmax", &argEnqueue<true>, argSupports, 10);
  r.addFn("ArgMin", "cuda_reduce_argmin", &argEnqueue<false>, argSupports, 10);
  r.addFn("CumSum", "cuda_reduce_cumsum", &scanEnqueue<false>, cumSumSupports, 10);
  r.addFn("CumProd", "cuda_reduce_cumprod", &scanEnqueue<true>, cumSumSupports, 10);
  r.addFn("TopK", "cuda_reduce_topk_small", &topKEnqueue<true>, topKSupports, 10);
  r.addFn("TopK", "cuda_reduce_topk_select", &topKEnqueue<false>, topKAnySupports, 5);
}

}  // namespace kiln::cuda
