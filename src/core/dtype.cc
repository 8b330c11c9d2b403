// DType properties and exact conversions for the small float formats.
#include "kiln/dtype.h"

#include <cmath>
#include <string>

namespace kiln {

namespace {
struct DTypeInfo {
  DType t;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kInfo[] = {
    {DType::kUndefined, "undefined", 0},
    {DType::kFloat32, "float32", 4},
    {DType::kFloat64, "float64", 8},
    {DType::kFloat16, "float16", 2},
    {DType::kBFloat16, "bfloat16", 2},
    {DType::kFloat8E4M3FN, "float8e4m3fn", 1},
    {DType::kFloat8E4M3FNUZ, "float8e4m3fnuz", 1},
    {DType::kFloat8E5M2, "float8e5m2", 1},
    {DType::kFloat8E5M2FNUZ, "float8e5m2fnuz", 1},
    {DType::kFloat4E2M1, "float4e2m1", 1},
    {DType::kFloat8E8M0, "float8e8m0", 1},
    {DType::kInt4, "int4", 1},
    {DType::kUInt4, "uint4", 1},
    {DType::kInt2, "int2", 1},
    {DType::kUInt2, "uint2", 1},
    {DType::kInt8, "int8", 1},
    {DType::kUInt8, "uint8", 1},
    {DType::kInt16, "int16", 2},
    {DType::kUInt16, "uint16", 2},
    {DType::kInt32, "int32", 4},
    {DType::kUInt32, "uint32", 4},
    {DType::kInt64, "int64", 8},
    {DType::kUInt64, "uint64", 8},
    {DType::kBool, "bool", 1},
    {DType::kString, "string", sizeof(std::string)},
};
const DTypeInfo* infoOf(DType t) {
  for (const auto& i : kInfo)
    if (i.t == t) return &i;
  return &kInfo[0];
}
}  // namespace

bool isValidDType(int value) {
  if (value <= 0 || value > kMaxDTypeValue) return false;
  return infoOf(static_cast<DType>(value))->t != DType::kUndefined;
}
size_t dtypeSize(DType t) { return infoOf(t)->size; }
std::string_view dtypeName(DType t) { return infoOf(t)->name; }

bool parseDType(std::string_view name, DType* out) {
  for (const auto& i : kInfo) {
    if (name == i.name) {
      *out = i.t;
      return true;
    }
  }
  if (name == "float") { *out = DType::kFloat32; return true; }
  if (name == "double") { *out = DType::kFloat64; return true; }
  if (name == "half") { *out = DType::kFloat16; return true; }
  return false;
}

bool isFloat8(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 ||
         t == DType::kFloat8E5M2FNUZ || t == DType::kFloat8E8M0;
}
bool isFloat(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16 || isFloat8(t) || t == DType::kFloat4E2M1;
}
bool isInteger(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kUInt8: case DType::kInt16: case DType::kUInt16:
    case DType::kInt32: case DType::kUInt32: case DType::kInt64: case DType::kUInt64:
    case DType::kInt4: case DType::kUInt4: case DType::kInt2: case DType::kUInt2:
      return true;
    default:
      return false;
  }
}
bool isSigned(DType t) {
  return (isFloat(t) && t != DType::kFloat8E8M0) || t == DType::kInt8 || t == DType::kInt16 ||
         t == DType::kInt32 || t == DType::kInt64 || t == DType::kInt4 || t == DType::kInt2;
}
bool isSubByte(DType t) {
  return t == DType::kInt4 || t == DType::kUInt4 || t == DType::kFloat4E2M1 || t == DType::kInt2 ||
         t == DType::kUInt2;
}
int dtypeBits(DType t) {
  if (t == DType::kInt4 || t == DType::kUInt4 || t == DType::kFloat4E2M1) return 4;
  if (t == DType::kInt2 || t == DType::kUInt2) return 2;
  return static_cast<int>(8 * dtypeSize(t));
}

namespace fp {

uint16_t floatToHalf(float f) {
  uint32_t x = bitsOf(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7FFFFFFFu;
  if (absx >= 0x7F800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | (absx > 0x7F800000u ? 0x7E00u : 0x7C00u));
  }
  if (absx >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to inf
  if (absx < 0x38800000u) {  // subnormal half (or zero): value = m * 2^-24
    // Adding 0.5 in float aligns the mantissa so the FPU does round-to-nearest-even for us.
    float a = floatOf(absx) + 0.5f;
    return static_cast<uint16_t>(sign | (bitsOf(a) - bitsOf(0.5f)));
  }
  uint32_t mant_odd = (absx >> 13) & 1u;
  absx += 0xC8000FFFu + mant_odd;  // rebias exponent (-112 << 23) and round half to even
  return static_cast<uint16_t>(sign | (absx >> 13));
}

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return floatOf(sign | 0x7F800000u | (mant << 13));
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return floatOf(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t floatToBFloat16(float f) {
  uint32_t u = bitsOf(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

namespace {
// One 8-bit float format: exponent/mantissa widths, bias, largest finite code and specials.
struct F8Format {
  int manBits;
  int bias;
  uint8_t maxCode;   // largest finite magnitude code
  bool hasInf;       // e5m2: 0x7C is inf
  bool uz;           // fnuz: no negative zero, 0x80 is NaN
  uint8_t nanCode;   // magnitude code used for NaN (fn/e5m2) — with sign bit for fn formats
};
constexpr F8Format kE4M3FN{3, 7, 0x7E, false, false, 0x7F};
constexpr F8Format kE4M3FNUZ{3, 8, 0x7F, false, true, 0x80};
constexpr F8Format kE5M2{2, 15, 0x7B, true, false, 0x7F};
constexpr F8Format kE5M2FNUZ{2, 16, 0x7F, false, true, 0x80};

uint8_t encodeF8(float f, bool saturate, const F8Format& fmt) {
  uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  if (std::isnan(f)) return fmt.uz ? 0x80 : static_cast<uint8_t>(sign | fmt.nanCode);
  double a = std::fabs(static_cast<double>(f));
  auto overflow = [&]() -> uint8_t {
    if (saturate) return static_cast<uint8_t>((fmt.uz && a == 0) ? 0 : (sign | fmt.maxCode));
    if (fmt.hasInf) return static_cast<uint8_t>(sign | 0x7C);
    return fmt.uz ? 0x80 : static_cast<uint8_t>(sign | fmt.nanCode);
  };
  if (std::isinf(f)) return overflow();
  int minExp = 1 - fmt.bias;  // exponent of the smallest normal
  unsigned code;
  if (a < std::ldexp(1.0, minExp)) {
    code = static_cast<unsigned>(std::nearbyint(std::ldexp(a, fmt.manBits - minExp)));
  } else {
    int e;
    double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    e -= 1;                        // a = (2m) * 2^e, 2m in [1, 2)
    double frac = (2 * m - 1) * (1 << fmt.manBits);
    unsigned mant = static_cast<unsigned>(std::nearbyint(frac));
    if (mant == (1u << fmt.manBits)) {
      mant = 0;
      ++e;
    }
    int biased = e + fmt.bias;
    if (biased > 15 + (fmt.manBits == 2 ? 16 : 0)) return overflow();  // beyond 4/5 exponent bits
    code = (static_cast<unsigned>(biased) << fmt.manBits) | mant;
  }
  if (code > fmt.maxCode) return overflow();
  if (code == 0 && fmt.uz) return 0;  // no negative zero
  return static_cast<uint8_t>(sign | code);
}

float decodeF8(uint8_t v, const F8Format& fmt) {
  bool neg = v & 0x80;
  unsigned mag = v & 0x7F;
  if (fmt.uz) {
    if (v == 0x80) return std::nanf("");
  } else if (fmt.hasInf) {
    if (mag == 0x7C) return neg ? -INFINITY : INFINITY;
    if (mag > 0x7C) return std::nanf("");
  } else if (mag == 0x7F) {
    return std::nanf("");
  }
  unsigned exp = mag >> fmt.manBits;
  unsigned mant = mag & ((1u << fmt.manBits) - 1);
  double val;
  if (exp == 0) {
    val = std::ldexp(static_cast<double>(mant), 1 - fmt.bias - fmt.manBits);
  } else {
    val = std::ldexp(1.0 + std::ldexp(static_cast<double>(mant), -fmt.manBits),
                     static_cast<int>(exp) - fmt.bias);
  }
  return static_cast<float>(neg ? -val : val);
}
}  // namespace

uint8_t floatToF8E4M3FN(float f, bool s) { return encodeF8(f, s, kE4M3FN); }
float f8E4M3FNToFloat(uint8_t v) { return decodeF8(v, kE4M3FN); }
uint8_t floatToF8E4M3FNUZ(float f, bool s) { return encodeF8(f, s, kE4M3FNUZ); }
float f8E4M3FNUZToFloat(uint8_t v) { return decodeF8(v, kE4M3FNUZ); }
uint8_t floatToF8E5M2(float f, bool s) { return encodeF8(f, s, kE5M2); }
float f8E5M2ToFloat(uint8_t v) { return decodeF8(v, kE5M2); }
uint8_t floatToF8E5M2FNUZ(float f, bool s) { return encodeF8(f, s, kE5M2FNUZ); }
float f8E5M2FNUZToFloat(uint8_t v) { return decodeF8(v, kE5M2FNUZ); }

uint8_t floatToF4E2M1(float f) {
  const uint8_t sign = std::signbit(f) ? 0x8 : 0x0;
  if (std::isnan(f)) return sign ^ 0x8;  // no NaN: ml_dtypes' quiet_NaN() is -0, negated for -NaN
  const float a = std::fabs(f);
  // Magnitude codes 0..7 are 0, 0.5, 1, 1.5, 2, 3, 4, 6. Midpoints between neighbours decide;
  // a tie goes to the even code.
  static constexpr float kMid[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  uint8_t code = 0;
  while (code < 7 && (a > kMid[code] || (a == kMid[code] && (code & 1)))) ++code;
  return sign | code;  // above 5 (inf included) is 6: saturation
}

float f4E2M1ToFloat(uint8_t v) {
  static constexpr float kMag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float m = kMag[v & 0x7];
  return (v & 0x8) ? -m : m;
}

uint8_t floatToF8E8M0(float f, bool saturate, E8M0Rounding mode) {
  const uint32_t u = bitsOf(f);
  uint32_t exp = (u >> 23) & 0xFF;
  if (exp == 0xFF) return 0xFF;  // NaN and inf
  const uint32_t mant = u & 0x7FFFFF;
  bool up = false;
  switch (mode) {
    case E8M0Rounding::kUp:
      up = mant != 0;
      break;
    case E8M0Rounding::kDown:
      break;
    case E8M0Rounding::kNearest:
      // Ties (mantissa exactly 1.5) round up; the reference treats a zero exponent field as an
      // even "lsb", so a subnormal tie rounds down.
      up = (mant & 0x400000) && ((mant & 0x3FFFFF) || exp > 0);
      break;
  }
  if (up && !(saturate && exp == 0xFE)) ++exp;
  return static_cast<uint8_t>(exp);
}

float f8E8M0ToFloat(uint8_t v) {
  if (v == 0xFF) return std::nanf("");
  if (v == 0) return floatOf(0x00400000u);  // 2^-127 is a float32 subnormal
  return floatOf(static_cast<uint32_t>(v) << 23);
}

}  // namespace fp
}  // namespace kiln
