// Element-wise chains on float types: slots and output of one type T (float32, float16,
// bfloat16: computed in float; float64: in double), or output bool (comparisons, IsNaN, IsInf).
#include "backends/cuda/kernels/eltwise_chain.cuh"

namespace kiln::cuda::eltwise {

cudaError_t launchChainFloat(const ChainParams& p, DType t, DType out, cudaStream_t s) {
  const bool toBool = out == DType::kBool;
  if (!toBool && out != t) return cudaErrorInvalidValue;
  switch (t) {
    case DType::kFloat32:
      return toBool ? launchChainT<float, float, bool, float>(p, s) : launchChainT<float, float, float, float>(p, s);
    case DType::kFloat16:
      return toBool ? launchChainT<__half, __half, bool, float>(p, s) : launchChainT<__half, __half, __half, float>(p, s);
    case DType::kBFloat16:
      return toBool ? launchChainT<__nv_bfloat16, __nv_bfloat16, bool, float>(p, s)
                    : launchChainT<__nv_bfloat16, __nv_bfloat16, __nv_bfloat16, float>(p, s);
    case DType::kFloat64:
      return toBool ? launchChainT<double, double, bool, double>(p, s) : launchChainT<double, double, double, double>(p, s);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::cuda::eltwise
