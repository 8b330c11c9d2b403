// Reduce* entry point and the additive reductions (Sum, Mean, L1, L2, LogSum, SumSquare).
#include "backends/cuda/kernels/reduce_kernels.cuh"

namespace kiln::cuda::rn {

bool reduceSupportsType(ROp op, DType t) { return inSet<FloatSet>(t) || reduceIntType(op, t); }

cudaError_t launchReduceAdditive(const ReduceArgs& a, cudaStream_t s) {
  switch (a.op) {
    case ROp::kSum: return launchReduceOp<ROp::kSum>(a, s);
    case ROp::kMean: return launchReduceOp<ROp::kMean>(a, s);
    case ROp::kL1: return launchReduceOp<ROp::kL1>(a, s);
    case ROp::kL2: return launchReduceOp<ROp::kL2>(a, s);
    case ROp::kLogSum: return launchReduceOp<ROp::kLogSum>(a, s);
    case ROp::kSumSquare: return launchReduceOp<ROp::kSumSquare>(a, s);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t launchReduce(const ReduceArgs& a, cudaStream_t s) {
  switch (a.op) {
    case ROp::kMax:
    case ROp::kMin:
    case ROp::kProd:
    case ROp::kLogSumExp: return launchReduceOther(a, s);
    default: return launchReduceAdditive(a, s);
  }
}

}  // namespace kiln::cuda::rn
