// The 4/2-bit and exponent-only element types: names and predicates, every bit pattern of
// fp4 e2m1, e8m0 and the sub-byte integers, and conversion tables computed with the ONNX
// reference's tools (ml_dtypes 0.6 and onnx.numpy_helper.to_float8e8m0 in the test venv).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/dtype.h"

namespace kiln {
namespace {

TEST(SubByteDType, SizesNamesAndPredicates) {
  const DType all[] = {DType::kUInt4, DType::kInt4, DType::kFloat4E2M1, DType::kFloat8E8M0, DType::kUInt2, DType::kInt2};
  const char* names[] = {"uint4", "int4", "float4e2m1", "float8e8m0", "uint2", "int2"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(isValidDType(21 + i));
    EXPECT_EQ(static_cast<int>(all[i]), 21 + i);
    EXPECT_EQ(dtypeSize(all[i]), 1u) << names[i];  // unpacked in memory
    EXPECT_EQ(dtypeName(all[i]), names[i]);
    DType t;
    ASSERT_TRUE(parseDType(names[i], &t));
    EXPECT_EQ(t, all[i]);
  }
  EXPECT_FALSE(isValidDType(27));
  EXPECT_EQ(dtypeBits(DType::kInt4), 4);
  EXPECT_EQ(dtypeBits(DType::kFloat4E2M1), 4);
  EXPECT_EQ(dtypeBits(DType::kUInt2), 2);
  EXPECT_EQ(dtypeBits(DType::kFloat8E8M0), 8);
  EXPECT_EQ(dtypeBits(DType::kInt32), 32);
  EXPECT_TRUE(isSubByte(DType::kFloat4E2M1));
  EXPECT_FALSE(isSubByte(DType::kFloat8E8M0));
  EXPECT_FALSE(isSubByte(DType::kInt8));
  EXPECT_TRUE(isInteger(DType::kInt4));
  EXPECT_TRUE(isInteger(DType::kUInt2));
  EXPECT_FALSE(isFloat(DType::kInt4));
  EXPECT_TRUE(isFloat(DType::kFloat4E2M1));
  EXPECT_TRUE(isFloat(DType::kFloat8E8M0));
  EXPECT_TRUE(isFloat8(DType::kFloat8E8M0));
  EXPECT_FALSE(isFloat8(DType::kFloat4E2M1));
  EXPECT_TRUE(isSigned(DType::kInt4));
  EXPECT_TRUE(isSigned(DType::kInt2));
  EXPECT_TRUE(isSigned(DType::kFloat4E2M1));
  EXPECT_FALSE(isSigned(DType::kUInt4));
  EXPECT_FALSE(isSigned(DType::kFloat8E8M0));  // exponent only
  EXPECT_EQ(dtypeOf<Int4>, DType::kInt4);
  EXPECT_EQ(dtypeOf<Float8E8M0>, DType::kFloat8E8M0);
}

TEST(Float4E2M1, EveryPatternDecodesAndRoundTrips) {
  const float mags[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (int b = 0; b < 16; ++b) {
    const float f = fp::f4E2M1ToFloat(static_cast<uint8_t>(b));
    EXPECT_EQ(f, (b & 8) ? -mags[b & 7] : mags[b & 7]) << b;
    EXPECT_EQ(std::signbit(f), (b & 8) != 0) << b;  // 0x8 is -0
    EXPECT_EQ(fp::floatToF4E2M1(f), b) << b;
    // Only the low 4 bits are read.
    EXPECT_EQ(static_cast<float>(Float4E2M1::fromBits(static_cast<uint8_t>(b | 0xA0))), f) << b;
    EXPECT_EQ(Float4E2M1::fromBits(static_cast<uint8_t>(b | 0xA0)).bits, b);
  }
}

TEST(Float4E2M1, RoundsToNearestEvenAndSaturatesLikeMlDtypes) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::pair<float, int> table[] = {
      {0.0f, 0x0},  {-0.0f, 0x8}, {0.1f, 0x0},   {0.25f, 0x0}, {0.26f, 0x1},  {0.74f, 0x1},   {0.75f, 0x2},
      {0.76f, 0x2}, {1.24f, 0x2}, {1.25f, 0x2},  {1.26f, 0x3}, {1.75f, 0x4},  {2.25f, 0x4},   {2.5f, 0x4},
      {2.75f, 0x5}, {3.49f, 0x5}, {3.5f, 0x6},   {4.9f, 0x6},  {5.0f, 0x6},   {5.01f, 0x7},   {6.0f, 0x7},
      {7.0f, 0x7},  {100.0f, 0x7}, {-0.25f, 0x8}, {-0.75f, 0xA}, {-2.5f, 0xC}, {-5.0f, 0xE},  {-5.5f, 0xF},
      {inf, 0x7},   {-inf, 0xF},  {nan, 0x8},    {1e-40f, 0x0}};
  for (auto [f, code] : table) EXPECT_EQ(fp::floatToF4E2M1(f), code) << f;
  EXPECT_EQ(fp::floatToF4E2M1(-nan), 0x0);  // ml_dtypes: NaN -> -0, -NaN -> +0
  EXPECT_EQ(Float4E2M1(2.6f).bits, 0x5);
}

TEST(Float8E8M0, EveryPatternDecodesAndRoundTrips) {
  EXPECT_TRUE(std::isnan(fp::f8E8M0ToFloat(0xFF)));
  for (int b = 0; b < 255; ++b) {
    const float f = fp::f8E8M0ToFloat(static_cast<uint8_t>(b));
    EXPECT_EQ(f, std::ldexp(1.0f, b - 127)) << b;
    // Powers of two are exact in every mode; 2^-127 is a float32 subnormal, where "up" sees a
    // nonzero mantissa field (the reference's bit-level rule) and rounds to 2^-126.
    EXPECT_EQ(fp::floatToF8E8M0(f, true, fp::E8M0Rounding::kDown), b) << b;
    EXPECT_EQ(fp::floatToF8E8M0(f, false, fp::E8M0Rounding::kNearest), b) << b;
    EXPECT_EQ(fp::floatToF8E8M0(f, true, fp::E8M0Rounding::kUp), b == 0 ? 1 : b) << b;
  }
}

TEST(Float8E8M0, MatchesTheOnnxReferenceInEveryMode) {
  const float in[] = {0.0f, 1.0f, 1.5f, 1.4999999f, 1.5000001f, 0.75f, 0.124f, 3.0f, std::ldexp(1.0f, -126),
                      std::ldexp(1.0f, -127), 1e-45f, 3e-39f, std::ldexp(1.0f, 127), 3.0e38f, -4.0f, -3.0f,
                      std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  struct Row {
    fp::E8M0Rounding mode;
    bool saturate;
    int want[18];
  };
  // onnx.numpy_helper.to_float8e8m0(in, saturate, mode).view(np.uint8)
  const Row rows[] = {
      {fp::E8M0Rounding::kUp, true, {0, 127, 128, 128, 128, 127, 124, 129, 1, 1, 1, 1, 254, 254, 129, 129, 255, 255}},
      {fp::E8M0Rounding::kUp, false, {0, 127, 128, 128, 128, 127, 124, 129, 1, 1, 1, 1, 254, 255, 129, 129, 255, 255}},
      {fp::E8M0Rounding::kDown, true, {0, 127, 127, 127, 127, 126, 123, 128, 1, 0, 0, 0, 254, 254, 129, 128, 255, 255}},
      {fp::E8M0Rounding::kDown, false, {0, 127, 127, 127, 127, 126, 123, 128, 1, 0, 0, 0, 254, 254, 129, 128, 255, 255}},
      {fp::E8M0Rounding::kNearest, true, {0, 127, 128, 127, 128, 127, 124, 129, 1, 0, 0, 0, 254, 254, 129, 129, 255, 255}},
      {fp::E8M0Rounding::kNearest, false, {0, 127, 128, 127, 128, 127, 124, 129, 1, 0, 0, 0, 254, 255, 129, 129, 255, 255}},
  };
  for (const Row& r : rows)
    for (int i = 0; i < 18; ++i)
      EXPECT_EQ(fp::floatToF8E8M0(in[i], r.saturate, r.mode), r.want[i])
          << "mode " << static_cast<int>(r.mode) << " saturate " << r.saturate << " x " << in[i];
  EXPECT_EQ(Float8E8M0(0.124f).bits, 124);  // default: saturate, round up
}

template <typename T>
void checkSubByteInt(int bits, bool isSigned) {
  const int mask = (1 << bits) - 1;
  for (int b = 0; b < 256; ++b) {
    int want = b & mask;
    if (isSigned && want >= (1 << (bits - 1))) want -= 1 << bits;
    const T v = T::fromBits(static_cast<uint8_t>(b));
    EXPECT_EQ(v.value(), want) << b;
    EXPECT_EQ(static_cast<int>(v), want) << b;
    EXPECT_EQ(v.code(), b & mask) << b;
    EXPECT_EQ(v.bits, static_cast<uint8_t>(want)) << b;  // canonical: the value, sign-extended
    EXPECT_EQ(T(int64_t{want}).bits, v.bits) << b;
  }
  EXPECT_EQ(T::kMin, isSigned ? -(1 << (bits - 1)) : 0);
  EXPECT_EQ(T::kMax, isSigned ? (1 << (bits - 1)) - 1 : mask);
  // Integers wrap: the low bits are kept.
  for (int64_t x = -40; x <= 40; ++x) {
    int want = static_cast<int>(x & mask);
    if (isSigned && want >= (1 << (bits - 1))) want -= 1 << bits;
    EXPECT_EQ(T(x).value(), want) << x;
    EXPECT_EQ(convertValue<T>(static_cast<int32_t>(x)).value(), want) << x;
  }
}

TEST(SubByteInt, EveryByteAndWrapping) {
  checkSubByteInt<Int4>(4, true);
  checkSubByteInt<UInt4>(4, false);
  checkSubByteInt<Int2>(2, true);
  checkSubByteInt<UInt2>(2, false);
}

TEST(SubByteInt, FloatConversionMatchesMlDtypes) {
  const float inf = std::numeric_limits<float>::infinity();
  const float in[] = {0.0f, 2.7f, -2.7f, 7.9f, 8.5f, -8.5f, 15.0f, 16.0f, -9.0f, 1000.0f, -129.0f, 1e10f,
                      std::numeric_limits<float>::quiet_NaN(), inf, -inf};
  // x.astype(ml_dtypes.int4 / uint4 / int2 / uint2): truncate toward zero, keep the low bits.
  const int i4[] = {0, 2, -2, 7, -8, -8, -1, 0, 7, -8, -1, 0, 0, 0, 0};
  const int u4[] = {0, 2, 14, 7, 8, 8, 15, 0, 7, 8, 15, 0, 0, 0, 0};
  const int i2[] = {0, -2, -2, -1, 0, 0, -1, 0, -1, 0, -1, 0, 0, 0, 0};
  const int u2[] = {0, 2, 2, 3, 0, 0, 3, 0, 3, 0, 3, 0, 0, 0, 0};
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(convertValue<Int4>(in[i]).value(), i4[i]) << in[i];
    EXPECT_EQ(convertValue<UInt4>(in[i]).value(), u4[i]) << in[i];
    EXPECT_EQ(convertValue<Int2>(in[i]).value(), i2[i]) << in[i];
    EXPECT_EQ(convertValue<UInt2>(in[i]).value(), u2[i]) << in[i];
    EXPECT_EQ(convertValue<Int4>(Float16(in[i])).value(), convertValue<Int4>(static_cast<float>(Float16(in[i]))).value());
  }
  // And back: exact.
  EXPECT_EQ(convertValue<float>(Int4(int64_t{-7})), -7.0f);
  EXPECT_EQ(convertValue<double>(UInt4(int64_t{13})), 13.0);
  EXPECT_EQ(static_cast<float>(convertValue<Float16>(Int2(int64_t{-2}))), -2.0f);
  EXPECT_EQ(convertValue<int8_t>(Int4(int64_t{-8})), -8);
  EXPECT_EQ(convertValue<uint8_t>(UInt2(int64_t{3})), 3);
  EXPECT_EQ(convertValue<bool>(Int2(int64_t{0})), false);
  EXPECT_EQ(convertValue<bool>(Int2(int64_t{-1})), true);
  EXPECT_EQ(convertValue<UInt4>(Int4(int64_t{-1})).value(), 15);
  EXPECT_EQ(convertValue<Int4>(true).value(), 1);
  EXPECT_EQ(static_cast<float>(convertValue<Float4E2M1>(Int4(int64_t{-5}))), -4.0f);
  EXPECT_EQ(convertValue<Int4>(Float4E2M1::fromBits(0xF)).value(), -6);
}

}  // namespace
}  // namespace kiln
