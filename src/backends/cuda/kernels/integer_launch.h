// Host-callable launchers of the ONNX integer matmul/conv family: MatMulInteger, QLinearMatMul,
// ConvInteger and QLinearConv (kernels in integer_ops.cu, validation and registration in
// integer_ops.cc). Plain data only: this header is the boundary between nvcc (no Tensor/Status)
// and the host compiler. Launchers return cudaSuccess, the launch error, or cudaErrorInvalidValue
// for an argument integer_ops.cc should have refused.
//
// Arithmetic mirrors the CPU reference (cpu/kernels/matmul.cc, conv_pool.cc) bit for bit:
// operands minus their zero points are multiplied and summed exactly in int32 (wrapping like the
// CPU's int32 GEMM), and the requantizing ops compute their multiplier in float with the CPU's
// operation order (no FMA contraction) and apply it in double, rounding half to even and
// saturating to the output type.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::integer {

constexpr int kMaxBatchRank = 8;  // numpy batch dims of a matmul
constexpr int kMaxConvDims = 6;   // spatial dims of a convolution

// ---- MatMulInteger / QLinearMatMul --------------------------------------------------------------
// Y[t] = (A[ia(t)] - a_zp) x (B[ib(t)] - b_zp) for every output batch t of numpy matmul
// broadcasting; A matrices [M, K], B matrices [K, N], all row-major and contiguous. a_zp has 1 or
// M values (per row of every A matrix), b_zp 1 or N (per column of every B matrix).
struct MatMulIntArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  DType aType = DType::kUInt8, bType = DType::kUInt8;  // int8 or uint8
  const void* aZp = nullptr;  // of aType; nullptr = 0
  const void* bZp = nullptr;  // of bType; nullptr = 0
  int64_t aZpCount = 1, bZpCount = 1;
  int64_t M = 0, N = 0, K = 0;
  int64_t batch = 1;  // output matrices
  int batchRank = 0;  // output batch dims and the matrix-index strides of A and B (0 = broadcast)
  int64_t outBatch[kMaxBatchRank] = {}, aStr[kMaxBatchRank] = {}, bStr[kMaxBatchRank] = {};

  // Output: int32 (MatMulInteger) or, when `requant`, int8/uint8 requantized like QLinearMatMul:
  // y = sat(rint(acc * f(i, j) + y_zp[i])) with f = S(S(a_scale[i] * b_scale[j]) / y_scale[i])
  // computed in float and rounded to S = the type of a_scale at each step.
  void* y = nullptr;
  bool requant = false;
  DType yType = DType::kInt32;
  const void* aScale = nullptr;  // 1 or M values
  const void* bScale = nullptr;  // 1 or N values
  const void* yScale = nullptr;  // 1 or M values
  const void* yZp = nullptr;     // 1 or M values
  DType aScaleType = DType::kFloat32, bScaleType = DType::kFloat32, yScaleType = DType::kFloat32;  // f32/f16/bf16
  DType yZpType = DType::kUInt8;  // int8 or uint8
  int64_t aScaleCount = 1, bScaleCount = 1, yScaleCount = 1, yZpCount = 1;
};
cudaError_t launchMatMulInteger(const MatMulIntArgs& a, cudaStream_t s);

// ---- ConvInteger / QLinearConv ------------------------------------------------------------------
// y[n, m, out...] = sum over c in m's group and kernel taps k of (x[n, c, o*s - pb + k*d] - x_zp) *
// (w[m, c, k] - w_zp[m]) (+ bias[m]); taps outside the input contribute 0.
struct ConvIntArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  DType xType = DType::kUInt8, wType = DType::kUInt8;  // int8 or uint8
  const void* xZp = nullptr;   // one value of xType; nullptr = 0
  const void* wZp = nullptr;   // wZpCount values of wType; nullptr = 0
  int64_t wZpCount = 1;        // 1 or M
  const int32_t* bias = nullptr;  // [M] or nullptr
  int nd = 0;                  // spatial dims
  int64_t batch = 0, inC = 0, outC = 0, group = 1;
  int64_t in[kMaxConvDims] = {}, out[kMaxConvDims] = {}, kernel[kMaxConvDims] = {};
  int64_t stride[kMaxConvDims] = {}, dilation[kMaxConvDims] = {}, padBegin[kMaxConvDims] = {};

  // Output: int32 (ConvInteger) or, when `requant`, int8/uint8 like QLinearConv:
  // y = sat(rint(acc * (double)(x_scale * w_scale[m] / y_scale) + y_zp)), the multiplier in float.
  void* y = nullptr;
  bool requant = false;
  DType yType = DType::kInt32;
  const float* xScale = nullptr;  // 1 value
  const float* wScale = nullptr;  // wScaleCount values
  int64_t wScaleCount = 1;        // 1 or M
  const float* yScale = nullptr;  // 1 value
  const void* yZp = nullptr;      // 1 value of yType
};
cudaError_t launchConvInteger(const ConvIntArgs& a, cudaStream_t s);

}  // namespace kiln::cuda::integer
