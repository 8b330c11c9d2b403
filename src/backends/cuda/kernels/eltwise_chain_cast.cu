// kiln:ElementwiseChain starting with Cast: slot 0 of any standard type, read as float; operands
// and output float32 (attention-mask preparation: bool/int64 mask -> float additive bias).
#include "backends/cuda/kernels/eltwise_chain.cuh"

namespace kiln::cuda::eltwise {

cudaError_t launchChainCastIn(const ChainParams& p, DType in, cudaStream_t s) {
  cudaError_t e = cudaErrorInvalidValue;
  dispatchDevice(in, [&](auto tag) {
    using T = decltype(tag);
    e = launchChainT<T, float, float, float>(p, s);
  });
  return e;
}

}  // namespace kiln::cuda::eltwise
