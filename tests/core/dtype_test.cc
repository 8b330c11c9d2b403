// DType properties and small-float conversions (exhaustive over every fp16/fp8 bit pattern).
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/dtype.h"

namespace kiln {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtypeSize(DType::kFloat32), 4u);
  EXPECT_EQ(dtypeSize(DType::kBFloat16), 2u);
  EXPECT_EQ(dtypeSize(DType::kFloat8E4M3FN), 1u);
  EXPECT_EQ(dtypeName(DType::kInt64), "int64");
  DType t;
  ASSERT_TRUE(parseDType("float16", &t));
  EXPECT_EQ(t, DType::kFloat16);
  EXPECT_FALSE(parseDType("complex64", &t));
  EXPECT_TRUE(isValidDType(1));
  EXPECT_FALSE(isValidDType(14));  // complex64 is not a Kiln type
  EXPECT_TRUE(isFloat(DType::kFloat8E5M2));
  EXPECT_FALSE(isFloat(DType::kInt8));
  EXPECT_TRUE(isInteger(DType::kUInt64));
  EXPECT_FALSE(isInteger(DType::kBool));
}

TEST(Float16, RoundTripsEveryPattern) {
  for (uint32_t b = 0; b < 65536; ++b) {
    float f = fp::halfToFloat(static_cast<uint16_t>(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fp::halfToFloat(fp::floatToHalf(f))));
      continue;
    }
    EXPECT_EQ(fp::floatToHalf(f), b) << b;
  }
}

TEST(Float16, RoundsHalfToEven) {
  // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties go to even (1.0).
  EXPECT_EQ(fp::floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(fp::floatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(fp::floatToHalf(65520.0f), 0x7C00);  // rounds to inf
  EXPECT_EQ(fp::floatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(fp::floatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // half of the smallest subnormal
  EXPECT_EQ(fp::floatToHalf(std::ldexp(3.0f, -26)), 0x0001);
}

TEST(BFloat16, RoundsHalfToEven) {
  EXPECT_EQ(fp::floatToBFloat16(1.0f), 0x3F80);
  EXPECT_EQ(fp::floatToBFloat16(fp::floatOf(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(fp::floatToBFloat16(fp::floatOf(0x3F818000u)), 0x3F82);
  EXPECT_TRUE(std::isnan(fp::bfloat16ToFloat(fp::floatToBFloat16(NAN))));
}

template <typename Enc, typename Dec>
void checkF8RoundTrip(Enc enc, Dec dec, bool uz) {
  for (int b = 0; b < 256; ++b) {
    float f = dec(static_cast<uint8_t>(b));
    if (std::isnan(f) || std::isinf(f)) continue;  // inf saturates to the largest finite value
    if (uz && b == 0x80) continue;
    EXPECT_EQ(enc(f, true), b) << "pattern " << b << " value " << f;
  }
}

TEST(Float8, RoundTripsEveryPattern) {
  checkF8RoundTrip(fp::floatToF8E4M3FN, fp::f8E4M3FNToFloat, false);
  checkF8RoundTrip(fp::floatToF8E4M3FNUZ, fp::f8E4M3FNUZToFloat, true);
  checkF8RoundTrip(fp::floatToF8E5M2, fp::f8E5M2ToFloat, false);
  checkF8RoundTrip(fp::floatToF8E5M2FNUZ, fp::f8E5M2FNUZToFloat, true);
}

TEST(Float8, SaturationAndSpecials) {
  EXPECT_EQ(fp::f8E4M3FNToFloat(0x7E), 448.0f);
  EXPECT_EQ(fp::floatToF8E4M3FN(1000.0f, true), 0x7E);
  EXPECT_EQ(fp::floatToF8E4M3FN(-1000.0f, true), 0xFE);
  EXPECT_EQ(fp::floatToF8E4M3FN(1000.0f, false), 0x7F);  // NaN without saturation
  EXPECT_EQ(fp::floatToF8E4M3FN(464.0f, false), 0x7E);   // tie rounds to even 448
  EXPECT_EQ(fp::f8E5M2ToFloat(0x7B), 57344.0f);
  EXPECT_EQ(fp::floatToF8E5M2(1e6f, false), 0x7C);       // inf
  EXPECT_EQ(fp::floatToF8E5M2(1e6f, true), 0x7B);
  EXPECT_EQ(fp::floatToF8E4M3FNUZ(-0.0f), 0x00);         // no negative zero
  EXPECT_EQ(fp::f8E4M3FNUZToFloat(0x7F), 240.0f);
  EXPECT_TRUE(std::isnan(fp::f8E4M3FNUZToFloat(0x80)));
}

}  // namespace
}  // namespace kiln
