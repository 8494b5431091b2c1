#pragma once
// The fixed summation tree famx uses wherever tensor parallelism splits a reduction: the sum of
// p[0..n) is sum(p[0..h)) + sum(p[h..n)) with h = ceil(n/2). A power-of-two degree T that divides
// n cuts this tree exactly at its subtrees, so T ranks that each reduce their n/T contiguous
// terms, followed by a tree_sum of the T partials, give the unsplit result bit for bit.

#include <cstddef>

namespace famx {

// Columns per block of famx's dense (fp32-weight) products: each block is summed on its own, then the
// blocks by tree_sum. Every quantization group size is a multiple of it.
inline constexpr std::size_t dense_sum_block = 32;

// Whether splitting a tree_sum over `terms` terms into `parts` contiguous slices, each reduced by
// tree_sum and then combined by a tree_sum of the slices' results, gives the unsplit sum bit for
// bit: parts is a power of two that divides the power-of-two factor of terms.
constexpr bool tree_splits_exactly(std::size_t terms, std::size_t parts) noexcept {
  if (parts == 0 || (parts & (parts - 1)) != 0) return false;
  std::size_t two = 1;
  while (terms != 0 && terms % (2 * two) == 0) two *= 2;
  return two % parts == 0;
}

namespace detail {
// The tree over an odd count n (recursive halving, left half the larger).
inline float odd_tree_sum(const float* p, std::size_t n) noexcept {
  switch (n) {  // the counts that the group counts of real models leave, written out
    case 1: return p[0];
    case 2: return p[0] + p[1];
    case 3: return (p[0] + p[1]) + p[2];
    case 4: return (p[0] + p[1]) + (p[2] + p[3]);
    case 5: return ((p[0] + p[1]) + p[2]) + (p[3] + p[4]);
    case 7: return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + p[6]);
    default: break;
  }
  const std::size_t h = (n + 1) / 2;
  return odd_tree_sum(p, h) + odd_tree_sum(p + h, n - h);
}
}  // namespace detail

// Sums p[0..n) (n >= 1) in the halving tree above; overwrites p as scratch.
// n = 2^a * b (b odd): the 2^a blocks of b are summed first, then paired level by level.
inline float tree_sum(float* p, std::size_t n) noexcept {
  std::size_t b = n;
  while (b % 2 == 0) b /= 2;
  const std::size_t m = n / b;
  if (b > 1)
    for (std::size_t i = 0; i < m; ++i) p[i] = detail::odd_tree_sum(p + i * b, b);
  for (std::size_t s = 1; s < m; s *= 2)
    for (std::size_t i = 0; i + s < m; i += 2 * s) p[i] += p[i + s];
  return p[0];
}

}  // namespace famx
