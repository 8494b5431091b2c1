#pragma once
// The dtype strings of the safetensors format ("F32", "BF16", "F8_E4M3", ...) and famx::dtype.

#include <array>
#include <optional>
#include <string_view>
#include <utility>

#include "famx/core/dtype.hpp"

namespace famx::io {

// Every safetensors dtype famx reads and writes, with its famx::dtype.
inline constexpr std::array<std::pair<std::string_view, dtype>, 15> safetensors_dtypes{{
    {"F64", dtype::f64},   {"F32", dtype::f32},   {"F16", dtype::f16},         {"BF16", dtype::bf16},
    {"I64", dtype::i64},   {"I32", dtype::i32},   {"I16", dtype::i16},         {"I8", dtype::i8},
    {"U64", dtype::u64},   {"U32", dtype::u32},   {"U16", dtype::u16},         {"U8", dtype::u8},
    {"BOOL", dtype::boolean}, {"F8_E4M3", dtype::f8_e4m3}, {"F8_E5M2", dtype::f8_e5m2},
}};

// The famx dtype of a safetensors dtype string; nullopt for any other string (case-sensitive).
constexpr std::optional<dtype> parse_safetensors_dtype(std::string_view s) noexcept {
  for (const auto& [name, t] : safetensors_dtypes)
    if (name == s) return t;
  return std::nullopt;
}

// The safetensors spelling of a dtype.
constexpr std::string_view safetensors_name(dtype t) noexcept {
  for (const auto& [name, u] : safetensors_dtypes)
    if (u == t) return name;
  return "?";
}

}  // namespace famx::io
