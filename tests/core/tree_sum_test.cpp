// tree_sum is the halving tree, so power-of-two splits reproduce it bit for bit.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "famx/core/tree_sum.hpp"

namespace {
// The definition, recursively: sum(p[0..n)) = sum(p[0..h)) + sum(p[h..n)), h = ceil(n/2).
float halving(const float* p, std::size_t n) {
  if (n == 1) return p[0];
  const std::size_t h = (n + 1) / 2;
  return halving(p, h) + halving(p + h, n - h);
}
}  // namespace

TEST_CASE("tree_sum equals the recursive halving tree and splits exactly") {
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(-1e4f, 1e4f);
  for (std::size_t n = 1; n <= 300; ++n) {
    std::vector<float> p(n);
    for (auto& v : p) v = u(rng) * (rng() % 2 ? 1e-4f : 1.0f);
    std::vector<float> copy = p;
    const float whole = famx::tree_sum(copy.data(), n);
    REQUIRE(whole == halving(p.data(), n));
    for (std::size_t t = 2; t <= 16 && n % t == 0; t *= 2) {
      std::vector<float> parts(t);
      for (std::size_t k = 0; k < t; ++k) {
        std::vector<float> share(p.begin() + static_cast<std::ptrdiff_t>(k * n / t),
                                 p.begin() + static_cast<std::ptrdiff_t>((k + 1) * n / t));
        parts[k] = famx::tree_sum(share.data(), share.size());
      }
      REQUIRE(famx::tree_sum(parts.data(), t) == whole);
    }
  }
}
