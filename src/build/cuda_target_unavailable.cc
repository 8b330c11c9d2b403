// The builder's CUDA target where Kiln was built without the CUDA backend.
#include "build/cuda_target.h"

namespace kiln::build {

bool cudaSupportsLayer(const cpu::LayerDesc&) { return false; }
bool cudaHasOp(const std::string&, const std::string&) { return false; }
std::string cudaDeviceKey(int) { return "cuda:unavailable"; }
int cudaDeviceCount() { return 0; }
int cudaComputeCapability(int) { return 0; }

Result<std::unique_ptr<CudaTactics>> CudaTactics::create(const BuildConfig&, TimingCache*) {
  return Unsupported("this Kiln was built without the CUDA backend (no nvcc at build time): it builds CPU engines "
                     "only");
}

}  // namespace kiln::build
