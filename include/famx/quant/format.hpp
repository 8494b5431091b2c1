#pragma once
// The MLX affine quantization format: bits in {2,3,4,5,6,8}, group size in {32,64,128}; a weight
// [out, in] is stored as packed uint32 [out, in*bits/32] plus scales and biases [out, in/group].

#include <cstddef>
#include <cstdint>
#include <string>

#include "famx/core/error.hpp"

namespace famx::quant {

// One affine format: `bits` per weight, one scale and bias per `group_size` consecutive weights.
struct affine_format {
  int bits = 4;
  int group_size = 64;

  friend constexpr bool operator==(affine_format, affine_format) = default;

  // Largest code, 2^bits - 1.
  constexpr std::uint32_t max_code() const noexcept { return (1u << bits) - 1u; }
  // uint32 words holding one packed row of `cols` weights (cols must be a multiple of group_size).
  constexpr std::size_t packed_words(std::size_t cols) const noexcept {
    return cols * static_cast<std::size_t>(bits) / 32;
  }
  // Scale (and bias) entries per row of `cols` weights.
  constexpr std::size_t groups(std::size_t cols) const noexcept {
    return cols / static_cast<std::size_t>(group_size);
  }
  // Words per group: gs*bits/32 (always whole, since gs is a multiple of 32).
  constexpr std::size_t group_words() const noexcept {
    return static_cast<std::size_t>(group_size * bits / 32);
  }
};

// "4-bit group 64".
inline std::string to_string(affine_format f) {
  return std::to_string(f.bits) + "-bit group " + std::to_string(f.group_size);
}

// Checks bits and group size against what MLX accepts; the path names the key being checked.
inline result<void> validate(affine_format f, std::string_view path = "quantization") {
  const std::string p(path);
  if (f.bits != 2 && f.bits != 3 && f.bits != 4 && f.bits != 5 && f.bits != 6 && f.bits != 8)
    return error(errc::invalid_value, p + ".bits", std::to_string(f.bits), "one of 2, 3, 4, 5, 6, 8");
  if (f.group_size != 32 && f.group_size != 64 && f.group_size != 128)
    return error(errc::invalid_value, p + ".group_size", std::to_string(f.group_size),
                 "one of 32, 64, 128");
  return {};
}

// Checks that a row of `cols` weights can be quantized in format f.
inline result<void> validate_cols(affine_format f, std::size_t cols, std::string_view path) {
  if (auto r = validate(f, path); !r) return r;
  if (cols == 0 || cols % static_cast<std::size_t>(f.group_size) != 0)
    return error(errc::not_divisible, std::string(path), "in = " + std::to_string(cols),
                 "a positive multiple of the group size " + std::to_string(f.group_size));
  return {};
}

}  // namespace famx::quant
