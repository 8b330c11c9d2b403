// Turning failed CUDA / cuBLASLt / cuDNN calls into Status errors that say which call failed and
// the library's own message. Layer context ("layer 'conv1' (Conv, tactic ...)") is added by the
// runtime around each enqueue.
#pragma once

#include <cuda_runtime_api.h>

#include "kiln/status.h"

namespace kiln::cuda {

Status cudaError(cudaError_t e, const char* call, const char* file, int line);
// Library status codes, formatted with the library's name and message.
Status cublasError(int status, const char* call, const char* file, int line);
Status cudnnError(int status, const char* call, const char* file, int line);

}  // namespace kiln::cuda

#define KILN_CUDA_RETURN_IF_ERROR(call)                                                         \
  do {                                                                                          \
    cudaError_t kiln_cuda_e_ = (call);                                                          \
    if (kiln_cuda_e_ != cudaSuccess) return ::kiln::cuda::cudaError(kiln_cuda_e_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch (<<<...>>>): reports launch-configuration errors immediately.
#define KILN_CUDA_RETURN_IF_LAUNCH_FAILED() KILN_CUDA_RETURN_IF_ERROR(cudaGetLastError())

#define KILN_CUBLAS_RETURN_IF_ERROR(call)                                                        \
  do {                                                                                           \
    int kiln_cublas_s_ = static_cast<int>(call);                                                 \
    if (kiln_cublas_s_ != 0) return ::kiln::cuda::cublasError(kiln_cublas_s_, #call, __FILE__, __LINE__); \
  } while (0)

#define KILN_CUDNN_RETURN_IF_ERROR(call)                                                         \
  do {                                                                                           \
    int kiln_cudnn_s_ = static_cast<int>(call);                                                  \
    if (kiln_cudnn_s_ != 0) return ::kiln::cuda::cudnnError(kiln_cudnn_s_, #call, __FILE__, __LINE__); \
  } while (0)
