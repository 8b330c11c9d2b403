// Element-wise chains on integer and bool types: exact arithmetic in the type itself; output T or
// bool (comparisons).
#include "backends/cuda/kernels/eltwise_chain.cuh"

namespace kiln::cuda::eltwise {

cudaError_t launchChainInt(const ChainParams& p, DType t, DType out, cudaStream_t s) {
  const bool toBool = out == DType::kBool;
  if (!toBool && out != t) return cudaErrorInvalidValue;
  if (isFloat(t)) return cudaErrorInvalidValue;
  cudaError_t e = cudaErrorInvalidValue;
  dispatchDevice(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      e = toBool ? launchChainT<T, T, bool, T>(p, s) : launchChainT<T, T, T, T>(p, s);
    }
  });
  return e;
}

}  // namespace kiln::cuda::eltwise
