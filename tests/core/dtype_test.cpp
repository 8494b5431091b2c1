// bf16 / f16 conversions against an independent double-precision rounding reference.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "famx/core/dtype.hpp"

namespace {

// Round-to-nearest-even of x onto the grid of a binary format with `mant` fraction bits and
// minimum normal exponent `emin`, computed in double (independent of the bit tricks under test).
double round_to_format(double x, int mant, int emin) {
  if (x == 0 || !std::isfinite(x)) return x;
  int e = std::ilogb(x);
  if (e < emin) e = emin;  // subnormal range: fixed quantum
  const double quantum = std::ldexp(1.0, e - mant);
  const double q = x / quantum;
  double r = std::nearbyint(q);  // default rounding mode is to nearest even
  return r * quantum;
}

}  // namespace

TEST_CASE("bf16 rounds to nearest even and is exact on widening") {
  std::mt19937 rng(1);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    const float f = std::bit_cast<float>(bits(rng));
    const famx::bf16 b = famx::bf16::from_float(f);
    if (std::isnan(f)) {
      CHECK(std::isnan(b.to_float()));
      CHECK(std::signbit(b.to_float()) == std::signbit(f));
      continue;
    }
    const double want = round_to_format(f, 7, -126);
    const double max_bf16 = std::ldexp(2.0 - std::ldexp(1.0, -7), 127);
    if (std::fabs(want) > max_bf16) {
      CHECK(std::isinf(b.to_float()));
    } else {
      CHECK(b.to_float() == want);
    }
  }
  // Ties: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> even (1).
  CHECK(famx::bf16::from_float(1.0f + 0x1p-8f).to_float() == 1.0f);
  CHECK(famx::bf16::from_float(1.0f + 3 * 0x1p-8f).to_float() == 1.0f + 0x1p-6f);
  CHECK(std::isinf(famx::bf16::from_float(std::numeric_limits<float>::infinity()).to_float()));
  CHECK(std::signbit(famx::bf16::from_float(-0.0f).to_float()));
}

TEST_CASE("f16 rounds to nearest even through normals, subnormals and overflow") {
  std::mt19937 rng(2);
  std::uniform_int_distribution<std::uint32_t> bits;
  const double max_f16 = 65504.0;
  auto check_one = [&](float f) {
    const famx::f16 h = famx::f16::from_float(f);
    if (std::isnan(f)) {
      CHECK(std::isnan(h.to_float()));
      return;
    }
    const double want = round_to_format(f, 10, -14);
    if (std::fabs(want) > max_f16) {
      CHECK(std::isinf(h.to_float()));
      CHECK(std::signbit(h.to_float()) == std::signbit(f));
    } else {
      CHECK(h.to_float() == want);
    }
  };
  for (int i = 0; i < 100000; ++i) check_one(std::bit_cast<float>(bits(rng)));
  std::uniform_real_distribution<float> small(-1e-4f, 1e-4f);  // dense around the subnormals
  for (int i = 0; i < 100000; ++i) check_one(small(rng));
  std::uniform_real_distribution<float> big(60000.f, 70000.f);  // around the overflow threshold
  for (int i = 0; i < 20000; ++i) check_one(big(rng));
  // Every f16 value round-trips exactly.
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const famx::f16 h{static_cast<std::uint16_t>(b)};
    const float f = h.to_float();
    if (std::isnan(f)) continue;
    REQUIRE(famx::f16::from_float(f).bits == h.bits);
  }
  CHECK(famx::f16::from_float(65520.0f).bits == 0x7c00);  // tie at the top rounds to inf
  CHECK(famx::f16::from_float(65519.0f).bits == 0x7bff);
  CHECK(famx::f16::from_float(0x1p-25f).bits == 0x0000);  // tie to even (zero)
  CHECK(famx::f16::from_float(0x1.8p-24f).bits == 0x0002);  // 1.5 ulp -> 2 (even)
}

TEST_CASE("dtype sizes and names") {
  CHECK(famx::size_of(famx::dtype::bf16) == 2);
  CHECK(famx::size_of(famx::dtype::f8_e4m3) == 1);
  CHECK(famx::size_of(famx::dtype::i64) == 8);
  CHECK(famx::to_string(famx::dtype::bf16) == "bf16");
}

TEST_CASE("every f8_e4m3 byte decodes to its OCP value") {
  for (int b = 0; b < 256; ++b) {
    CAPTURE(b);
    const int e = (b >> 3) & 15, m = b & 7;
    const float got = famx::f8_e4m3_to_float(static_cast<std::uint8_t>(b));
    const float via_load = famx::load_float(&b, famx::dtype::f8_e4m3, 0);  // little-endian low byte
    if (e == 15 && m == 7) {
      CHECK(std::isnan(got));
      continue;
    }
    const double want = (b & 0x80 ? -1.0 : 1.0) * (e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10));
    CHECK(static_cast<double>(got) == want);
    CHECK(via_load == got);
  }
  CHECK(famx::f8_e4m3_to_float(0x7e) == 448.0f);  // the largest finite value
}
