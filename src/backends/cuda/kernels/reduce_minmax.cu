// The non-additive reductions: Max, Min, Prod, LogSumExp.
#include "backends/cuda/kernels/reduce_kernels.cuh"

namespace kiln::cuda::rn {

cudaError_t launchReduceOther(const ReduceArgs& a, cudaStream_t s) {
  switch (a.op) {
    case ROp::kMax: return launchReduceOp<ROp::kMax>(a, s);
    case ROp::kMin: return launchReduceOp<ROp::kMin>(a, s);
    case ROp::kProd: return launchReduceOp<ROp::kProd>(a, s);
    case ROp::kLogSumExp: return launchReduceOp<ROp::kLogSumExp>(a, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda::rn
