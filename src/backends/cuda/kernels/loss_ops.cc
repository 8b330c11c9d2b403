// NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss: attribute handling and the shape checks of
// the CPU reference (backends/cpu/kernels/misc.cc); loss.cu launches. The one check the GPU cannot
// make is the labels' range (they live in device memory): see loss.cu for what it does instead.
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/loss_launch.h"

namespace kiln::cuda {

namespace {

using loss::Reduction;

Status lossEnqueue(const GpuKernelContext& c, const char* op, bool softmax) {
  const Tensor &x = c.in(0), &tgt = c.in(1);
  const Tensor* w = c.hasInput(2) ? &c.in(2) : nullptr;
  if (!loss::lossSupportsTypes(x.dtype(), tgt.dtype()))
    return Unsupported("{} on the GPU does not support scores {} with labels {}", op, dtypeName(x.dtype()),
                       dtypeName(tgt.dtype()));
  const Dims &xd = x.dims(), &td = tgt.dims();
  bool match = xd.rank() >= 2 && td.rank() == xd.rank() - 1 && td[0] == xd[0];
  for (int i = 1; match && i < td.rank(); ++i) match = td[i] == xd[i + 1];
  if (!match) return InvalidArgument("{} target {} does not match input {}", op, td.toString(), xd.toString());
  loss::LossArgs a;
  a.n = xd[0];
  a.c = xd[1];
  for (int i = 2; i < xd.rank(); ++i) a.d *= xd[i];
  if (w && (w->dims() != Dims{a.c} || w->dtype() != x.dtype()))
    return InvalidArgument("{} weight must have shape ({}) and type {}, got {}", op, a.c, dtypeName(x.dtype()),
                           w->describe());
  const std::string& red = c.attrs.getString("reduction");
  if (red == "none") a.reduction = Reduction::kNone;
  else if (red == "sum") a.reduction = Reduction::kSum;
  else if (red == "mean") a.reduction = Reduction::kMean;
  else return InvalidArgument("{} reduction must be none, sum or mean, got '{}'", op, red);
  Tensor& y = c.out(0);
  const int64_t lossNumel = a.reduction == Reduction::kNone ? a.n * a.d : 1;
  if (y.dtype() != x.dtype() || y.numel() != lossNumel)
    return InternalError("{} output {} does not match input {}", op, y.describe(), x.describe());
  if (softmax && c.hasOutput(1)) {
    Tensor& lp = c.out(1);
    if (lp.dtype() != x.dtype() || lp.dims() != xd)
      return InternalError("{} log_prob output {} does not match input {}", op, lp.describe(), x.describe());
    a.logProb = lp.raw();
  }
  a.softmax = softmax;
  a.dtype = x.dtype();
  a.labelDtype = tgt.dtype();
  a.x = x.raw();
  a.labels = tgt.raw();
  a.weight = w ? w->raw() : nullptr;
  a.loss = y.raw();
  a.hasIgnore = c.attrs.has("ignore_index");
  a.ignoreIndex = a.hasIgnore ? c.attrs.getInt("ignore_index") : 0;
  a.workspace = c.workspace;
  a.workspaceSize = c.workspaceSize;
  a.smCount = c.res.smCount;
  KILN_CUDA_RETURN_IF_ERROR(loss::launchLoss(a, c.stream));
  return Status::OK();
}

// Stateless, but declares the workspace holding the per-block partial sums of sum/mean.
class LossKernel final : public GpuKernel {
 public:
  LossKernel(const char* op, bool softmax) : op_(op), softmax_(softmax) {}
  Status enqueue(const GpuKernelContext& ctx) const override { return lossEnqueue(ctx, op_, softmax_); }
  size_t workspaceBytes() const override { return loss::kLossWorkspaceBytes; }

 private:
  const char* op_;
  bool softmax_;
};

DType typeAt(const std::vector<DType>& v, size_t i) { return i < v.size() ? v[i] : DType::kUndefined; }

// Scores of a float type, int32/int64 labels, and weight and outputs of the scores' type.
bool lossSupports(const LayerDesc& d) {
  const DType t = typeAt(d.inputTypes, 0);
  if (!loss::lossSupportsTypes(t, typeAt(d.inputTypes, 1))) return false;
  const DType wt = typeAt(d.inputTypes, 2);
  if (wt != DType::kUndefined && wt != t) return false;
  for (DType o : d.outputTypes)
    if (o != DType::kUndefined && o != t) return false;
  return !d.outputTypes.empty();
}

void addLoss(GpuKernelRegistry& r, const char* op, const char* tactic, bool softmax) {
  GpuKernelDef d;
  d.op = op;
  d.tactic = tactic;
  d.priority = 10;
  d.supports = lossSupports;
  d.create = [op, softmax](const LayerDesc&, int, size_t) -> Result<std::unique_ptr<GpuKernel>> {
    return std::unique_ptr<GpuKernel>(std::make_unique<LossKernel>(op, softmax));
  };
  r.add(std::move(d));
}

}  // namespace

void registerLossKernels(GpuKernelRegistry& r) {
  addLoss(r, "NegativeLogLikelihoodLoss", "cuda_loss_nll", false);
  addLoss(r, "SoftmaxCrossEntropyLoss", "cuda_loss_sce", true);
}

}  // namespace kiln::cuda
