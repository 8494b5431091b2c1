#pragma once
// Scalar bit packing exactly as MLX lays it out: each row is one little-endian, LSB-first
// bitstream; code j occupies bits [j*bits, (j+1)*bits), so 3/5/6-bit codes may straddle words.

#include <cstddef>
#include <cstdint>

namespace famx::quant {

// Code j of a packed row.
inline std::uint32_t unpack_code(const std::uint32_t* row, int bits, std::size_t j) noexcept {
  const std::size_t bit = j * static_cast<std::size_t>(bits);
  const std::size_t word = bit / 32, shift = bit % 32;
  std::uint64_t window = row[word];
  if (shift + static_cast<std::size_t>(bits) > 32) window |= static_cast<std::uint64_t>(row[word + 1]) << 32;
  return static_cast<std::uint32_t>(window >> shift) & ((1u << bits) - 1u);
}

// Packs n codes (each < 2^bits) into words; writes n*bits/32 words (n*bits must divide by 32).
inline void pack_row(const std::uint8_t* codes, std::size_t n, int bits, std::uint32_t* row) noexcept {
  const std::size_t words = n * static_cast<std::size_t>(bits) / 32;
  for (std::size_t w = 0; w < words; ++w) row[w] = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t bit = j * static_cast<std::size_t>(bits);
    const std::size_t word = bit / 32, shift = bit % 32;
    const std::uint64_t v = static_cast<std::uint64_t>(codes[j]) << shift;
    row[word] |= static_cast<std::uint32_t>(v);
    if (shift + static_cast<std::size_t>(bits) > 32) row[word + 1] |= static_cast<std::uint32_t>(v >> 32);
  }
}

}  // namespace famx::quant
