#pragma once
// Element types: the dtype enum (every safetensors dtype), and bf16 / f16 with exact conversions
// (round to nearest even; NaN stays NaN, infinities and signed zeros are preserved).
// Highway 1.0.3's BF16FromF32 truncates and it has no f16 conversion, hence these.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace famx {

// The dtypes a tensor can hold (names as safetensors spells them are in io/).
enum class dtype : std::uint8_t {
  boolean, u8, i8, u16, i16, u32, i32, u64, i64, f16, bf16, f32, f64, f8_e4m3, f8_e5m2
};

// Bytes per element.
constexpr std::size_t size_of(dtype t) noexcept {
  switch (t) {
    case dtype::boolean: case dtype::u8: case dtype::i8: case dtype::f8_e4m3: case dtype::f8_e5m2:
      return 1;
    case dtype::u16: case dtype::i16: case dtype::f16: case dtype::bf16: return 2;
    case dtype::u32: case dtype::i32: case dtype::f32: return 4;
    case dtype::u64: case dtype::i64: case dtype::f64: return 8;
  }
  return 0;
}

// Stable lower-case name ("bf16", "f32", ...).
constexpr std::string_view to_string(dtype t) noexcept {
  switch (t) {
    case dtype::boolean: return "bool";
    case dtype::u8: return "u8";
    case dtype::i8: return "i8";
    case dtype::u16: return "u16";
    case dtype::i16: return "i16";
    case dtype::u32: return "u32";
    case dtype::i32: return "i32";
    case dtype::u64: return "u64";
    case dtype::i64: return "i64";
    case dtype::f16: return "f16";
    case dtype::bf16: return "bf16";
    case dtype::f32: return "f32";
    case dtype::f64: return "f64";
    case dtype::f8_e4m3: return "f8_e4m3";
    case dtype::f8_e5m2: return "f8_e5m2";
  }
  return "?";
}

// bfloat16 storage: the upper 16 bits of an IEEE binary32.
struct bf16 {
  std::uint16_t bits = 0;

  // Rounds to nearest even; NaN inputs become a quiet NaN with the same sign.
  static constexpr bf16 from_float(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<std::uint16_t>((u >> 16) | 0x40u)};
    const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return bf16{static_cast<std::uint16_t>((u + rounding) >> 16)};
  }
  // Exact widening.
  constexpr float to_float() const noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
  }
  friend constexpr bool operator==(bf16, bf16) = default;
};

// IEEE binary16 storage.
struct f16 {
  std::uint16_t bits = 0;

  // Rounds to nearest even, including into and out of subnormals; overflow gives infinity.
  static constexpr f16 from_float(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return f16{static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu))};
    if (a >= 0x477ff000u) return f16{static_cast<std::uint16_t>(sign | 0x7c00u)};  // rounds to inf
    if (a < 0x38800000u) {  // result is subnormal or zero: scale into the subnormal grid
      const float scaled = std::bit_cast<float>(a) * 16777216.0f;  // * 2^24: exact
      // round half to even on an integer value in [0, 1024]
      std::uint32_t q = static_cast<std::uint32_t>(scaled);
      const float rem = scaled - static_cast<float>(q);
      if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
      return f16{static_cast<std::uint16_t>(sign | q)};
    }
    const std::uint32_t rounding = 0xfffu + ((a >> 13) & 1u);
    return f16{static_cast<std::uint16_t>(sign | ((a - 0x38000000u + rounding) >> 13))};
  }
  // Exact widening.
  constexpr float to_float() const noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t exp = (bits >> 10) & 0x1fu;
    const std::uint32_t man = bits & 0x3ffu;
    if (exp == 0) {  // zero or subnormal: man * 2^-24
      const float v = static_cast<float>(man) * (1.0f / 16777216.0f);
      return sign ? -v : v;
    }
    if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));
    return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (man << 13));
  }
  friend constexpr bool operator==(f16, f16) = default;
};

// The dtype of a C++ element type.
template <class T> inline constexpr dtype dtype_of = dtype::u8;
template <> inline constexpr dtype dtype_of<float> = dtype::f32;
template <> inline constexpr dtype dtype_of<double> = dtype::f64;
template <> inline constexpr dtype dtype_of<bf16> = dtype::bf16;
template <> inline constexpr dtype dtype_of<f16> = dtype::f16;
template <> inline constexpr dtype dtype_of<std::uint32_t> = dtype::u32;
template <> inline constexpr dtype dtype_of<std::int32_t> = dtype::i32;
template <> inline constexpr dtype dtype_of<std::int8_t> = dtype::i8;
template <> inline constexpr dtype dtype_of<std::uint16_t> = dtype::u16;
template <> inline constexpr dtype dtype_of<std::int16_t> = dtype::i16;
template <> inline constexpr dtype dtype_of<std::uint64_t> = dtype::u64;
template <> inline constexpr dtype dtype_of<std::int64_t> = dtype::i64;

// The value of an OCP FP8 E4M3 byte (1 sign, 4 exponent bits with bias 7, 3 mantissa bits; no
// infinities, S.1111.111 is NaN), exactly.
constexpr float f8_e4m3_to_float(std::uint8_t b) noexcept {
  const float sign = (b & 0x80u) ? -1.0f : 1.0f;
  const int exp = (b >> 3) & 0xf, man = b & 0x7;
  if (exp == 0xf && man == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * static_cast<float>(man) * (1.0f / 512.0f);  // man/8 * 2^-6
  const float scale = exp >= 7 ? static_cast<float>(1u << (exp - 7)) : 1.0f / static_cast<float>(1u << (7 - exp));
  return sign * (1.0f + static_cast<float>(man) / 8.0f) * scale;
}

// Reads element i of a float-like buffer of dtype t (f32, f16, bf16 or f8_e4m3) as float.
inline float load_float(const void* data, dtype t, std::size_t i) noexcept {
  switch (t) {
    case dtype::f8_e4m3: return f8_e4m3_to_float(static_cast<const std::uint8_t*>(data)[i]);
    case dtype::f16: return static_cast<const f16*>(data)[i].to_float();
    case dtype::bf16: return static_cast<const bf16*>(data)[i].to_float();
    default: return static_cast<const float*>(data)[i];
  }
}

// Writes v rounded to dtype t (f32, f16 or bf16) at element i.
inline void store_float(void* data, dtype t, std::size_t i, float v) noexcept {
  switch (t) {
    case dtype::f16: static_cast<f16*>(data)[i] = f16::from_float(v); break;
    case dtype::bf16: static_cast<bf16*>(data)[i] = bf16::from_float(v); break;
    default: static_cast<float*>(data)[i] = v; break;
  }
}

// v rounded to dtype t (f32, f16 or bf16) and widened back.
inline float round_to(dtype t, float v) noexcept {
  switch (t) {
    case dtype::f16: return f16::from_float(v).to_float();
    case dtype::bf16: return bf16::from_float(v).to_float();
    default: return v;
  }
}

}  // namespace famx
