// CudaEngine where this Kiln was built without the CUDA backend (no nvcc at build time).
#include "runtime/cuda_engine.h"

namespace kiln::runtime {

bool cudaBackendBuilt() { return false; }

Result<std::unique_ptr<CudaEngine>> CudaEngine::create(const plan::Plan& p, int, const std::string& what) {
  return Unsupported("{} targets a CUDA GPU ({} {}), but this Kiln was built without the CUDA backend (rebuild "
                     "Kiln where nvcc is installed)", what, p.target.device, p.target.arch);
}
Result<void*> createCudaStream(int) { return Unsupported("this Kiln was built without the CUDA backend"); }
Status synchronizeCudaStream(void*) { return Status::OK(); }
void destroyCudaStream(void*) {}

}  // namespace kiln::runtime
