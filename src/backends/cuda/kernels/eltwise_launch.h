// POD launch interface of the element-wise CUDA kernels (shared by the .cu kernels and the .cc
// registration, so it includes only CUDA runtime types and kiln/dtype.h).
//
// Every element-wise layer (unary, binary with broadcasting, variadic, Clip, PRelu and the fused
// kiln:ElementwiseChain) runs as one "chain": slot 0 is the value x, the other slots are operands,
// and a short list of steps is applied to every element in one pass:
//     v = load(slot 0); for each step: v = unary(v) or v = binary(v, load(slot k)); store(v).
// The step list lives in the kernel's parameters (__grid_constant__), so one launch does the whole
// chain whatever its length; the op switch is uniform across the warp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda::eltwise {

constexpr int kMaxSlots = 8;    // slot 0 (x) + up to 7 operands
constexpr int kMaxSteps = 24;
constexpr int kMaxGeoRank = 8;  // after collapsing contiguous axes on the host

// Step codes. Unary codes ignore `operand` (-1); binary codes read slot `operand`.
enum Code : int32_t {
  // unary
  kIdentity = 0, kRelu, kSigmoid, kTanh, kExp, kLog, kNeg, kAbs, kSqrt, kReciprocal, kErf, kGelu, kGeluTanh,
  kSilu,       // x * sigmoid(alpha * x)
  kHardSwish, kLeakyRelu, kSoftplus, kFloor, kCeil,
  kClip,       // clamp to [alpha, beta] (chain form with constant bounds)
  kRound, kSign, kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh, kSoftsign,
  kMish, kElu, kCelu,
  kSelu,       // alpha, gamma = beta
  kHardSigmoid, kThresholdedRelu,
  kShrink,     // bias = alpha, lambd = beta
  kBitwiseNot, kNot, kIsNaN,
  kIsInf,      // detect_negative = alpha != 0, detect_positive = beta != 0
  kDivCount,   // v / alpha (Mean)
  kUnaryEnd,
  // binary
  kAdd = 100, kSub, kMul, kDiv, kPow, kMax, kMin,
  kMod,        // fmod = alpha != 0
  kBitAnd, kBitOr, kBitXor, kShiftLeft, kShiftRight, kAnd, kOr, kXor,
  kEqual, kLess, kGreater, kLessOrEqual, kGreaterOrEqual,
  kPRelu,      // v < 0 ? v * slope : v
  kClipLo,     // v < c ? c : v
  kClipHi,     // v > c ? c : v
  kBinaryEnd
};

struct Step {
  int32_t code = kIdentity;
  int32_t operand = -1;  // slot of the other operand (binary), -1 for unary
  int32_t swapped = 0;   // 1: the operand is the left side (c - v)
  float alpha = 0.f;
  float beta = 0.f;
};

// Where slot k is read from, for output element i:
//  - vector path (all slots have period > 0): index i % period[k] (period 1 = scalar, n = same
//    shape, m = a vector of the output's trailing dims);
//  - general path: offset = sum over axes of coord[a] * strides[k][a] on the collapsed geometry.
struct ChainParams {
  const void* in[kMaxSlots] = {};
  void* out = nullptr;
  int64_t n = 0;  // output elements
  int32_t numSlots = 0;
  int32_t numSteps = 0;
  Step steps[kMaxSteps];
  int64_t period[kMaxSlots] = {};  // 0 = needs the general path
  int32_t rank = 0;
  int64_t dims[kMaxGeoRank] = {};
  int64_t strides[kMaxSlots][kMaxGeoRank] = {};
  int32_t maxBlocks = 1024;  // from the SM count
};

// Launches a chain. Element types:
//   launchChainFloat: slots and output of one float type T (float32/16, bfloat16, float64), or
//                     output bool (comparisons, IsNaN/IsInf); computes in float (double for f64).
//   launchChainInt:   one integer type or bool T, output T or bool; exact integer arithmetic.
//   launchChainCastIn: slot 0 of any of the 13 standard types, operands and output float32
//                     (ElementwiseChain starting with Cast).
// Return cudaErrorInvalidValue for a type combination they do not instantiate.
cudaError_t launchChainFloat(const ChainParams& p, DType t, DType out, cudaStream_t s);
cudaError_t launchChainInt(const ChainParams& p, DType t, DType out, cudaStream_t s);
cudaError_t launchChainCastIn(const ChainParams& p, DType in, cudaStream_t s);

// Where(cond, x, y): slots 0..2 of a ChainParams (cond bool, x and y of `elemBytes` bytes each:
// Where moves bits, so it is instantiated per element size 1/2/4/8).
cudaError_t launchWhere(const ChainParams& p, int elemBytes, cudaStream_t s);

// Cast of n contiguous elements between the 13 standard types (ONNX/Kiln rules: float -> integer
// truncates toward zero, NaN -> 0, out-of-range saturates; -> bool is x != 0; 16-bit floats round
// to nearest even, double -> 16-bit goes through float like the CPU reference).
cudaError_t launchCast(const void* in, DType from, void* out, DType to, int64_t n, int maxBlocks, cudaStream_t s);

// Cast where `from` or `to` is a small type (isSmallCastType): fp8 (saturate), fp4, e8m0
// (saturate, roundMode 0 up / 1 down / 2 nearest), 4/2-bit integers one per byte; the other side
// may be any standard type. Matches the CPU reference's castOne bit for bit.
bool isSmallCastType(DType t);
cudaError_t launchCastSmall(const void* in, DType from, void* out, DType to, int64_t n, bool saturate, int roundMode,
                            int maxBlocks, cudaStream_t s);

// Pow(x, e) with x and e of different numeric types: y (x's type) = pow(double(x), double(e))
// like the CPU reference, numpy broadcasting through the strides against `out`.
struct PowMixedArgs {
  const void* x = nullptr;
  const void* e = nullptr;
  void* y = nullptr;
  DType xType = DType::kFloat32, eType = DType::kFloat32;
  int rank = 0;
  int64_t dims[kMaxGeoRank] = {}, xStrides[kMaxGeoRank] = {}, eStrides[kMaxGeoRank] = {};  // 0 = broadcast
  int64_t n = 0;
};
cudaError_t launchPowMixed(const PowMixedArgs& a, int maxBlocks, cudaStream_t s);

// Dropout in training mode with a seed (float types): the CPU reference's mt19937 / numpy stream,
// mask optional. One block; rare (training graphs).
cudaError_t launchDropoutTrain(const void* x, DType t, void* y, bool* mask, int64_t n, uint32_t seed, double ratio,
                               cudaStream_t s);

// True if the type is one of the 13 standard types the kernels instantiate.
inline bool isStandardType(DType t) {
  switch (t) {
    case DType::kFloat32: case DType::kFloat16: case DType::kBFloat16: case DType::kFloat64:
    case DType::kInt8: case DType::kUInt8: case DType::kInt16: case DType::kUInt16:
    case DType::kInt32: case DType::kUInt32: case DType::kInt64: case DType::kUInt64: case DType::kBool:
      return true;
    default:
      return false;
  }
}

}  // namespace kiln::cuda::eltwise
