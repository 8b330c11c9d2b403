// Small device kernels around the cuBLASLt matmuls (launch functions with POD arguments, so that
// both the .cu that defines them and the host-compiled .cc that calls them can include this).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

// Activation codes, numbered like kiln::Activation (core/activation.h), which nvcc does not see.
enum class BlasAct : int { kNone = 0, kRelu, kLeakyRelu, kClip, kSigmoid, kTanh, kHardSwish, kSilu, kGeluErf, kGeluTanh };

// y[i] = act(y[i]) in place over n elements of type t (float32/float16/bfloat16/float64);
// alpha: LeakyRelu slope / Clip min, beta: Clip max.
cudaError_t launchBlasActivation(void* y, DType t, int64_t n, BlasAct act, float alpha, float beta, int smCount,
                                 cudaStream_t stream);

// y[i, j] = scale * c[i * cRowStride + j * cColStride] for an [rows, cols] row-major y (broadcast
// of Gemm's C or FusedMatMul's bias; strides 0 on broadcast axes). Same element type for y and c.
cudaError_t launchBlasBroadcastFill(void* y, const void* c, DType t, int64_t rows, int64_t cols, int64_t cRowStride,
                                    int64_t cColStride, double scale, int smCount, cudaStream_t stream);

}  // namespace kiln::cuda
