// Explicitly rounded float/double arithmetic for kernels that match the CPU reference bit for bit:
// nvcc contracts a * b + c into an FMA (one rounding) where the host code rounds twice; these
// intrinsics keep every operation rounded on its own.
#pragma once

#include <cuda_runtime.h>

namespace kiln::cuda::exact {

__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ double dvd(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float dvd(float a, float b) { return __fdiv_rn(a, b); }

}  // namespace kiln::cuda::exact
