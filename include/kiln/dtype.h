// Element types of tensors, the small-float storage types (fp16, bf16, fp8, fp4, e8m0) with exact
// conversions, the sub-byte integer types, and a dispatcher from a runtime DType to a C++ type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace kiln {

// Numbered like ONNX's TensorProto.DataType: a stable numbering for engine files and for
// dtype-valued op attributes (Cast's `to`), so neither needs a translation table.
enum class DType : uint8_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,  // elements are std::string (host only)
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  // Sub-byte and exponent-only types. In Kiln's memory every element takes one byte (unpacked),
  // so kernels index them like int8/uint8; only the ONNX wire format packs 2 (4-bit) or 4
  // (2-bit) elements per byte. Signed sub-byte integers are stored sign-extended.
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,  // low 4 bits: sign, 2-bit exponent, 1-bit mantissa
  kFloat8E8M0 = 24,  // 2^(bits - 127); 0xFF is NaN; no zero, no sign
  kUInt2 = 25,
  kInt2 = 26,
};
inline constexpr int kMaxDTypeValue = 26;
// True for the values above (14/15 are ONNX's complex types, which Kiln does not have).
bool isValidDType(int value);

size_t dtypeSize(DType t);           // bytes per element (sizeof(std::string) for kString)
std::string_view dtypeName(DType t);  // "float32", "float16", "int64", ...
bool parseDType(std::string_view name, DType* out);  // inverse of dtypeName
bool isFloat(DType t);      // any floating type, fp8/fp4/e8m0 included
bool isInteger(DType t);    // signed or unsigned integer, sub-byte ones included (not bool)
bool isSigned(DType t);     // floats with a sign bit (not e8m0) and signed integers
bool isFloat8(DType t);     // the 8-bit floats, e8m0 included
bool isSubByte(DType t);    // int4/uint4/fp4 and int2/uint2: packed on the ONNX wire
int dtypeBits(DType t);     // bits per element on the ONNX wire (4 or 2 for sub-byte types)

// ---- Small floats: storage types converted to and from float ----------------------------

namespace fp {
inline uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
uint16_t floatToBFloat16(float f);
inline float bfloat16ToFloat(uint16_t b) { return floatOf(uint32_t(b) << 16); }
// fp8 formats per the OFN fp8 spec (e4m3fn: no inf, one NaN pattern; fnuz: no negative zero,
// 0x80 is NaN). `saturate` clamps out-of-range finite values to the largest finite value
// (ONNX Cast/QuantizeLinear default); otherwise they become NaN (fn/fnuz) or inf (e5m2).
uint8_t floatToF8E4M3FN(float f, bool saturate = true);
float f8E4M3FNToFloat(uint8_t v);
uint8_t floatToF8E4M3FNUZ(float f, bool saturate = true);
float f8E4M3FNUZToFloat(uint8_t v);
uint8_t floatToF8E5M2(float f, bool saturate = true);
float f8E5M2ToFloat(uint8_t v);
uint8_t floatToF8E5M2FNUZ(float f, bool saturate = true);
float f8E5M2FNUZToFloat(uint8_t v);
// fp4 e2m1 (OCP MX): values 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives in the low 4 bits; no
// inf or NaN. Rounds to nearest even and always saturates (inf -> +-6). NaN has no encoding:
// like the ONNX reference (ml_dtypes) it becomes a zero of the opposite sign bit.
uint8_t floatToF4E2M1(float f);
float f4E2M1ToFloat(uint8_t v);  // reads the low 4 bits
// e8m0 (OCP MX scale): 2^(v - 127), 0xFF is NaN. Conversion per ONNX Cast (the reference's
// to_float8e8m0): works on the float32 exponent field, ignoring the sign; NaN and inf become
// NaN; `saturate` keeps rounding from reaching 0xFF.
enum class E8M0Rounding { kUp, kDown, kNearest };  // Cast's round_mode: "up", "down", "nearest"
uint8_t floatToF8E8M0(float f, bool saturate = true, E8M0Rounding mode = E8M0Rounding::kUp);
float f8E8M0ToFloat(uint8_t v);
}  // namespace fp

struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float f) : bits(fp::floatToHalf(f)) {}
  static Float16 fromBits(uint16_t b) { Float16 h; h.bits = b; return h; }
  operator float() const { return fp::halfToFloat(bits); }  // NOLINT
};
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f) : bits(fp::floatToBFloat16(f)) {}
  static BFloat16 fromBits(uint16_t b) { BFloat16 h; h.bits = b; return h; }
  operator float() const { return fp::bfloat16ToFloat(bits); }  // NOLINT
};
#define KILN_DEFINE_F8(Name, To, From)                                   \
  struct Name {                                                          \
    uint8_t bits = 0;                                                    \
    Name() = default;                                                    \
    explicit Name(float f, bool saturate = true) : bits(fp::To(f, saturate)) {} \
    static Name fromBits(uint8_t b) { Name h; h.bits = b; return h; }    \
    operator float() const { return fp::From(bits); }  /* NOLINT */     \
  };
KILN_DEFINE_F8(Float8E4M3FN, floatToF8E4M3FN, f8E4M3FNToFloat)
KILN_DEFINE_F8(Float8E4M3FNUZ, floatToF8E4M3FNUZ, f8E4M3FNUZToFloat)
KILN_DEFINE_F8(Float8E5M2, floatToF8E5M2, f8E5M2ToFloat)
KILN_DEFINE_F8(Float8E5M2FNUZ, floatToF8E5M2FNUZ, f8E5M2FNUZToFloat)
#undef KILN_DEFINE_F8

struct Float4E2M1 {
  uint8_t bits = 0;  // the 4-bit code in the low bits
  Float4E2M1() = default;
  explicit Float4E2M1(float f) : bits(fp::floatToF4E2M1(f)) {}
  static Float4E2M1 fromBits(uint8_t b) { Float4E2M1 h; h.bits = b & 0x0F; return h; }
  operator float() const { return fp::f4E2M1ToFloat(bits); }  // NOLINT
};
struct Float8E8M0 {
  uint8_t bits = 0;
  Float8E8M0() = default;
  explicit Float8E8M0(float f, bool saturate = true, fp::E8M0Rounding mode = fp::E8M0Rounding::kUp)
      : bits(fp::floatToF8E8M0(f, saturate, mode)) {}
  static Float8E8M0 fromBits(uint8_t b) { Float8E8M0 h; h.bits = b; return h; }
  operator float() const { return fp::f8E8M0ToFloat(bits); }  // NOLINT
};

// 4- and 2-bit integers, one per byte. Construction from an integer keeps its low `Bits` bits
// (two's complement), like any narrowing integer conversion (200 -> int4 is -8, 17 -> uint4 is 1);
// `bits` is then the value itself, sign-extended for the signed types. Reading uses only the low
// `Bits` bits, so any byte is a valid element.
template <int Bits, bool Signed>
struct SubByteInt {
  static constexpr int kBits = Bits;
  static constexpr int kMin = Signed ? -(1 << (Bits - 1)) : 0;
  static constexpr int kMax = Signed ? (1 << (Bits - 1)) - 1 : (1 << Bits) - 1;
  static constexpr uint8_t kMask = static_cast<uint8_t>((1u << Bits) - 1);
  uint8_t bits = 0;
  SubByteInt() = default;
  explicit SubByteInt(int64_t v) : bits(canonical(static_cast<uint8_t>(static_cast<uint64_t>(v)))) {}
  // From a wire code (or any byte): the low `Bits` bits.
  static SubByteInt fromBits(uint8_t b) { SubByteInt h; h.bits = canonical(b); return h; }
  uint8_t code() const { return bits & kMask; }  // the `Bits`-bit wire code
  int value() const {
    if constexpr (Signed) return static_cast<int8_t>(static_cast<uint8_t>(bits << (8 - Bits))) >> (8 - Bits);
    else return bits & kMask;
  }
  operator int() const { return value(); }  // NOLINT

 private:
  static uint8_t canonical(uint8_t b) {
    if constexpr (Signed) return static_cast<uint8_t>(static_cast<int8_t>(static_cast<uint8_t>(b << (8 - Bits))) >> (8 - Bits));
    else return b & kMask;
  }
};
using UInt4 = SubByteInt<4, false>;
using Int4 = SubByteInt<4, true>;
using UInt2 = SubByteInt<2, false>;
using Int2 = SubByteInt<2, true>;

// ---- C++ type <-> DType -----------------------------------------------------------------

template <typename T> struct DTypeOf;
#define KILN_DTYPE_OF(T, D) \
  template <> struct DTypeOf<T> { static constexpr DType value = DType::D; };
KILN_DTYPE_OF(float, kFloat32)
KILN_DTYPE_OF(double, kFloat64)
KILN_DTYPE_OF(Float16, kFloat16)
KILN_DTYPE_OF(BFloat16, kBFloat16)
KILN_DTYPE_OF(Float8E4M3FN, kFloat8E4M3FN)
KILN_DTYPE_OF(Float8E4M3FNUZ, kFloat8E4M3FNUZ)
KILN_DTYPE_OF(Float8E5M2, kFloat8E5M2)
KILN_DTYPE_OF(Float8E5M2FNUZ, kFloat8E5M2FNUZ)
KILN_DTYPE_OF(Float4E2M1, kFloat4E2M1)
KILN_DTYPE_OF(Float8E8M0, kFloat8E8M0)
KILN_DTYPE_OF(UInt4, kUInt4)
KILN_DTYPE_OF(Int4, kInt4)
KILN_DTYPE_OF(UInt2, kUInt2)
KILN_DTYPE_OF(Int2, kInt2)
KILN_DTYPE_OF(int8_t, kInt8)
KILN_DTYPE_OF(uint8_t, kUInt8)
KILN_DTYPE_OF(int16_t, kInt16)
KILN_DTYPE_OF(uint16_t, kUInt16)
KILN_DTYPE_OF(int32_t, kInt32)
KILN_DTYPE_OF(uint32_t, kUInt32)
KILN_DTYPE_OF(int64_t, kInt64)
KILN_DTYPE_OF(uint64_t, kUInt64)
KILN_DTYPE_OF(bool, kBool)
KILN_DTYPE_OF(std::string, kString)
#undef KILN_DTYPE_OF
template <typename T> inline constexpr DType dtypeOf = DTypeOf<T>::value;

template <typename T> struct TypeTag { using type = T; };

// A compile-time list of dtypes an op's kernel is instantiated for.
template <typename... Ts> struct TypeList {};

using FloatTypes = TypeList<float, double, Float16, BFloat16>;
using IntTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;
using SignedIntTypes = TypeList<int8_t, int16_t, int32_t, int64_t>;
using NumericTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t,
                              int32_t, uint32_t, int64_t, uint64_t>;
using SignedNumericTypes = TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t>;
using Float8Types = TypeList<Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ>;
using SubByteIntTypes = TypeList<Int4, UInt4, Int2, UInt2>;
using AllPodTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int16_t, uint16_t,
                             int32_t, uint32_t, int64_t, uint64_t, bool, Float8E4M3FN,
                             Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1, Float8E8M0,
                             Int4, UInt4, Int2, UInt2>;

namespace detail {
template <typename F, typename T, typename... Ts>
bool dispatchImpl(DType t, F&& f) {
  if (t == dtypeOf<T>) {
    f(TypeTag<T>{});
    return true;
  }
  if constexpr (sizeof...(Ts) > 0) return dispatchImpl<F, Ts...>(t, std::forward<F>(f));
  return false;
}
template <typename F, typename... Ts>
bool dispatchList(DType t, F&& f, TypeList<Ts...>) {
  return dispatchImpl<F, Ts...>(t, std::forward<F>(f));
}
}  // namespace detail

// Calls f(TypeTag<T>{}) for the T in List matching `t`; returns false if none does.
//   dispatchType<FloatTypes>(x.dtype(), [&](auto tag) { using T = typename decltype(tag)::type; ... });
template <typename List, typename F>
bool dispatchType(DType t, F&& f) {
  return detail::dispatchList(t, std::forward<F>(f), List{});
}

// Widened compute type for element-wise math: small floats compute in float.
template <typename T> struct ComputeType { using type = T; };
template <> struct ComputeType<Float16> { using type = float; };
template <> struct ComputeType<BFloat16> { using type = float; };
template <> struct ComputeType<Float8E4M3FN> { using type = float; };
template <> struct ComputeType<Float8E4M3FNUZ> { using type = float; };
template <> struct ComputeType<Float8E5M2> { using type = float; };
template <> struct ComputeType<Float8E5M2FNUZ> { using type = float; };
template <> struct ComputeType<Float4E2M1> { using type = float; };
template <> struct ComputeType<Float8E8M0> { using type = float; };
template <int B, bool S> struct ComputeType<SubByteInt<B, S>> { using type = int; };
template <typename T> using compute_t = typename ComputeType<T>::type;

template <typename T> inline constexpr bool isSmallFloat =
    std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16> || std::is_same_v<T, Float8E4M3FN> ||
    std::is_same_v<T, Float8E4M3FNUZ> || std::is_same_v<T, Float8E5M2> ||
    std::is_same_v<T, Float8E5M2FNUZ> || std::is_same_v<T, Float4E2M1> ||
    std::is_same_v<T, Float8E8M0>;
template <typename T> inline constexpr bool isFloatLike =
    std::is_floating_point_v<T> || isSmallFloat<T>;
template <typename T> inline constexpr bool isSubByteInt = false;
template <int B, bool S> inline constexpr bool isSubByteInt<SubByteInt<B, S>> = true;

// Converts between any two element types (numeric, small float, bool) like a C++ cast,
// going through float for small floats. Floats become sub-byte integers like ONNX Cast
// (ml_dtypes): truncated toward zero, then the low bits kept; NaN/inf/beyond int64 give 0.
template <typename To, typename From>
inline To convertValue(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (isSmallFloat<From>) {
    return convertValue<To>(static_cast<float>(v));
  } else if constexpr (isSmallFloat<To>) {
    return To(static_cast<float>(v));
  } else if constexpr (isSubByteInt<From>) {
    return convertValue<To>(v.value());
  } else if constexpr (isSubByteInt<To>) {
    if constexpr (std::is_floating_point_v<From>) {
      const double d = static_cast<double>(v);
      if (!(d > -9.2e18 && d < 9.2e18)) return To(int64_t{0});
      return To(static_cast<int64_t>(d));
    } else {
      return To(static_cast<int64_t>(v));
    }
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace kiln
