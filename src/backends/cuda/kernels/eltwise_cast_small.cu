// Cast where either side is a small type (fp8 x4, fp4 e2m1, e8m0, int4/uint4/int2/uint2), with
// the CPU reference's rules (backends/cpu/kernels/tensor.cc castOne + kiln::convertValue): a small
// float is read as float, a small integer as int; an fp8/e8m0 result honours `saturate` (and
// e8m0 `round_mode`); floats become small integers by truncation toward zero and wrapping to the
// low bits (NaN and values beyond int64 give 0). These casts are rare (quantized weights, tests),
// so one runtime-dispatched kernel serves every pair instead of a template per pair.
#include "backends/cuda/kernels/cuda_common.cuh"
#include "backends/cuda/kernels/eltwise_launch.h"
#include "backends/cuda/kernels/small_types.cuh"

namespace kiln::cuda::eltwise {

namespace {

// One element on its way through the cast: a float (exact for every source float, double
// included), a signed or an unsigned integer.
struct Carrier {
  enum Kind : uint8_t { kF, kI, kU } kind;
  double f;
  int64_t i;
  uint64_t u;
};

__device__ __forceinline__ Carrier fromF(double v) { return {Carrier::kF, v, 0, 0}; }
__device__ __forceinline__ Carrier fromI(int64_t v) { return {Carrier::kI, 0, v, 0}; }
__device__ __forceinline__ Carrier fromU(uint64_t v) { return {Carrier::kU, 0, 0, v}; }

__device__ Carrier load(const void* p, DType t, int64_t k) {
  switch (t) {
    case DType::kFloat32: return fromF(static_cast<const float*>(p)[k]);
    case DType::kFloat64: return fromF(static_cast<const double*>(p)[k]);
    case DType::kFloat16: return fromF(small::halfToFloatExact(static_cast<const uint16_t*>(p)[k]));
    case DType::kBFloat16: return fromF(__bfloat162float(static_cast<const __nv_bfloat16*>(p)[k]));
    case DType::kInt8: return fromI(static_cast<const int8_t*>(p)[k]);
    case DType::kInt16: return fromI(static_cast<const int16_t*>(p)[k]);
    case DType::kInt32: return fromI(static_cast<const int32_t*>(p)[k]);
    case DType::kInt64: return fromI(static_cast<const int64_t*>(p)[k]);
    case DType::kBool: return fromI(static_cast<const bool*>(p)[k] ? 1 : 0);
    case DType::kUInt8: return fromU(static_cast<const uint8_t*>(p)[k]);
    case DType::kUInt16: return fromU(static_cast<const uint16_t*>(p)[k]);
    case DType::kUInt32: return fromU(static_cast<const uint32_t*>(p)[k]);
    case DType::kUInt64: return fromU(static_cast<const uint64_t*>(p)[k]);
    default: break;
  }
  const uint8_t b = static_cast<const uint8_t*>(p)[k];
  switch (t) {
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
      return fromF(small::decodeF8(b, small::f8Format(t)));
    case DType::kFloat4E2M1: return fromF(small::decodeF4(b));
    case DType::kFloat8E8M0: return fromF(small::decodeE8M0(b));
    case DType::kInt4: return fromI(small::subByteValue(b, 4, true));
    case DType::kUInt4: return fromI(small::subByteValue(b, 4, false));
    case DType::kInt2: return fromI(small::subByteValue(b, 2, true));
    default: return fromI(small::subByteValue(b, 2, false));  // kUInt2
  }
}

// The value as float, as convertValue<float> computes it from the source type.
__device__ __forceinline__ float asFloat(const Carrier& c) {
  return c.kind == Carrier::kF ? static_cast<float>(c.f)
                               : c.kind == Carrier::kI ? static_cast<float>(c.i) : static_cast<float>(c.u);
}

// Float -> standard integer: truncation toward zero in double, NaN -> 0, saturation (castOne).
template <typename To>
__device__ __forceinline__ To floatToInt(double d) {
  if (isnan(d)) return To(0);
  if (d <= static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
  if (d >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
  return static_cast<To>(d);
}

template <typename To>
__device__ __forceinline__ To toStdInt(const Carrier& c) {
  if (c.kind == Carrier::kF) return floatToInt<To>(c.f);
  return c.kind == Carrier::kI ? static_cast<To>(c.i) : static_cast<To>(c.u);
}

// Float -> 4/2-bit integer: truncate to int64 (0 for NaN/out of int64 range), keep the low bits.
__device__ __forceinline__ uint8_t toSubByte(const Carrier& c, int bits, bool isSigned) {
  int64_t v;
  if (c.kind == Carrier::kF) v = (c.f > -9.2e18 && c.f < 9.2e18) ? static_cast<int64_t>(c.f) : 0;
  else v = c.kind == Carrier::kI ? c.i : static_cast<int64_t>(c.u);
  return small::subByteCanonical(static_cast<uint8_t>(static_cast<uint64_t>(v)), bits, isSigned);
}

__device__ void store(void* p, DType t, int64_t k, const Carrier& c, bool saturate, int roundMode) {
  switch (t) {
    case DType::kFloat32:
      static_cast<float*>(p)[k] = asFloat(c);
      return;
    case DType::kFloat64:
      static_cast<double*>(p)[k] = c.kind == Carrier::kF ? c.f : c.kind == Carrier::kI ? static_cast<double>(c.i)
                                                                                          : static_cast<double>(c.u);
      return;
    case DType::kFloat16: static_cast<__half*>(p)[k] = __float2half_rn(asFloat(c)); return;
    case DType::kBFloat16: static_cast<__nv_bfloat16*>(p)[k] = __float2bfloat16_rn(asFloat(c)); return;
    case DType::kBool:
      static_cast<bool*>(p)[k] = c.kind == Carrier::kF ? c.f != 0 : c.kind == Carrier::kI ? c.i != 0 : c.u != 0;
      return;
    case DType::kInt8: static_cast<int8_t*>(p)[k] = toStdInt<int8_t>(c); return;
    case DType::kInt16: static_cast<int16_t*>(p)[k] = toStdInt<int16_t>(c); return;
    case DType::kInt32: static_cast<int32_t*>(p)[k] = toStdInt<int32_t>(c); return;
    case DType::kInt64: static_cast<int64_t*>(p)[k] = toStdInt<int64_t>(c); return;
    case DType::kUInt8: static_cast<uint8_t*>(p)[k] = toStdInt<uint8_t>(c); return;
    case DType::kUInt16: static_cast<uint16_t*>(p)[k] = toStdInt<uint16_t>(c); return;
    case DType::kUInt32: static_cast<uint32_t*>(p)[k] = toStdInt<uint32_t>(c); return;
    case DType::kUInt64: static_cast<uint64_t*>(p)[k] = toStdInt<uint64_t>(c); return;
    default: break;
  }
  uint8_t* b = static_cast<uint8_t*>(p) + k;
  switch (t) {
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
      *b = small::encodeF8(asFloat(c), saturate, small::f8Format(t));
      return;
    case DType::kFloat4E2M1: *b = small::encodeF4(asFloat(c)); return;
    case DType::kFloat8E8M0: *b = small::encodeE8M0(asFloat(c), saturate, roundMode); return;
    case DType::kInt4: *b = toSubByte(c, 4, true); return;
    case DType::kUInt4: *b = toSubByte(c, 4, false); return;
    case DType::kInt2: *b = toSubByte(c, 2, true); return;
    default: *b = toSubByte(c, 2, false); return;  // kUInt2
  }
}

__global__ void castSmallKernel(const void* in, DType from, void* out, DType to, int64_t n, bool saturate,
                                int roundMode) {
  KILN_GRID_STRIDE_LOOP(i, n) { store(out, to, i, load(in, from, i), saturate, roundMode); }
}

}  // namespace

bool isSmallCastType(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1: case DType::kFloat8E8M0:
    case DType::kInt4: case DType::kUInt4: case DType::kInt2: case DType::kUInt2:
      return true;
    default:
      return false;
  }
}

cudaError_t launchCastSmall(const void* in, DType from, void* out, DType to, int64_t n, bool saturate, int roundMode,
                            int maxBlocks, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  castSmallKernel<<<blocksFor(n, kThreads, maxBlocks), kThreads, 0, s>>>(in, from, out, to, n, saturate, roundMode);
  return cudaGetLastError();
}

}  // namespace kiln::cuda::eltwise
