#include "backends/cuda/cuda_check.h"

#include <cublasLt.h>
#include <cudnn.h>

#include <cstring>

#include <fmt/format.h>

namespace kiln::cuda {

namespace {
const char* baseName(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}
}  // namespace

Status cudaError(cudaError_t e, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  StatusCode code = e == cudaErrorMemoryAllocation ? StatusCode::kResourceExhausted : StatusCode::kInternal;
  return Status(code, fmt::format("CUDA call {} failed: {} ({}) [{}:{}]", call, cudaGetErrorString(e),
                                  cudaGetErrorName(e), baseName(file), line));
}

Status cublasError(int status, const char* call, const char* file, int line) {
  auto s = static_cast<cublasStatus_t>(status);
  return InternalError("cuBLAS call {} failed: {} ({}) [{}:{}]", call, cublasLtGetStatusString(s), cublasLtGetStatusName(s),
                  baseName(file), line);
}

Status cudnnError(int status, const char* call, const char* file, int line) {
  auto s = static_cast<cudnnStatus_t>(status);
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  return InternalError("cuDNN call {} failed: {}{}{} [{}:{}]", call, cudnnGetErrorString(s), detail[0] ? ": " : "", detail,
                  baseName(file), line);
}

}  // namespace kiln::cuda
