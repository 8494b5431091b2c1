// Bit packing matches MLX's layout: one LSB-first bitstream per row.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "famx/quant/pack.hpp"

TEST_CASE("3-bit packing matches the byte layout MLX documents") {
  // b0 = v0 | v1<<3 | (v2&3)<<6, b1 = v2>>2 | v3<<1 | v4<<4 | (v5&1)<<7, b2 = v5>>1 | v6<<2 | v7<<5
  const std::uint8_t v[32] = {1, 2, 3, 4, 5, 6, 7, 0, 7, 7, 7, 7, 0, 0, 0, 0,
                              3, 1, 4, 1, 5, 1, 2, 6, 0, 1, 0, 1, 0, 1, 0, 1};
  std::uint32_t words[3];
  famx::quant::pack_row(v, 32, 3, words);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(words);
  for (int blk = 0; blk < 4; ++blk) {
    const std::uint8_t* c = v + 8 * blk;
    const std::uint8_t b0 = static_cast<std::uint8_t>(c[0] | c[1] << 3 | (c[2] & 3) << 6);
    const std::uint8_t b1 = static_cast<std::uint8_t>(c[2] >> 2 | c[3] << 1 | c[4] << 4 | (c[5] & 1) << 7);
    const std::uint8_t b2 = static_cast<std::uint8_t>(c[5] >> 1 | c[6] << 2 | c[7] << 5);
    CHECK(bytes[3 * blk + 0] == b0);
    CHECK(bytes[3 * blk + 1] == b1);
    CHECK(bytes[3 * blk + 2] == b2);
  }
}

TEST_CASE("4-bit value 0 is the low nibble of byte 0; 8-bit values are bytes") {
  const std::uint8_t v[8] = {0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8};
  std::uint32_t w = 0;
  famx::quant::pack_row(v, 8, 4, &w);
  CHECK(w == 0x87654321u);
  const std::uint8_t b[4] = {0x11, 0x22, 0x33, 0x44};
  famx::quant::pack_row(b, 4, 8, &w);
  CHECK(w == 0x44332211u);
}

TEST_CASE("pack and unpack round-trip for every bit width, codes straddling words") {
  std::mt19937 rng(3);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    const std::size_t n = 128;
    std::vector<std::uint8_t> codes(n);
    for (auto& c : codes) c = static_cast<std::uint8_t>(rng() & ((1u << bits) - 1));
    std::vector<std::uint32_t> row(n * static_cast<std::size_t>(bits) / 32);
    famx::quant::pack_row(codes.data(), n, bits, row.data());
    for (std::size_t j = 0; j < n; ++j) REQUIRE(famx::quant::unpack_code(row.data(), bits, j) == codes[j]);
  }
}
