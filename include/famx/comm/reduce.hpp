#pragma once
// comm/reduce.hpp: sums across ranks that every rank forms itself, in one fixed order. all_sum
// all-gathers the ranks' vectors (the transport only moves bytes) and adds each element's terms, one
// per rank, in rank order with famx::tree_sum's tree. Every rank holds the same bits for any rank
// count, and when a power-of-two number of ranks each hold the tree_sum of a contiguous share of
// a tree_sum's terms, all_sum reproduces the unsplit tree_sum bit for bit.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "famx/comm/communicator.hpp"

namespace famx::comm {

namespace detail {
// Rows r in [0, n) of `len` floats at p + r * stride: row 0 becomes famx::tree_sum over the rows,
// element by element (tree_sum(p, n) = tree_sum(p, h) + tree_sum(p + h, n - h), h = ceil(n / 2)).
inline void tree_sum_rows(float* p, std::size_t n, std::size_t stride, std::size_t len) noexcept {
  if (n == 1) return;
  const std::size_t h = (n + 1) / 2;
  tree_sum_rows(p, h, stride, len);
  tree_sum_rows(p + h * stride, n - h, stride, len);
  const float* b = p + h * stride;
  for (std::size_t i = 0; i < len; ++i) p[i] += b[i];
}
}  // namespace detail

// out[i] = famx::tree_sum of gathered[r * out.size() + i] over the ranks r in [0, ranks), i.e. of
// the ranks' vectors as all_gather lays them out; gathered (ranks * out.size() floats) is scratch.
inline void sum_over_ranks(std::span<float> gathered, std::size_t ranks, std::span<float> out) noexcept {
  const std::size_t len = out.size();
  constexpr std::size_t block = 1024;  // the rows' blocks stay in L1 while the tree adds them
  for (std::size_t i = 0; i < len; i += block) {
    const std::size_t m = std::min(block, len - i);
    detail::tree_sum_rows(gathered.data() + i, ranks, len, m);
    std::copy_n(gathered.data() + i, m, out.data() + i);
  }
}

// x on every rank = the ranks' x summed element by element with famx::tree_sum in rank order (every
// rank passes the same x.size()); the same bits on every rank.
inline void all_sum(communicator& c, std::span<float> x, std::string_view what) {
  const std::size_t n = static_cast<std::size_t>(c.size());
  const auto gathered = std::make_unique_for_overwrite<float[]>(n * x.size());
  const std::span<float> all(gathered.get(), n * x.size());
  c.all_gather(std::as_bytes(x), std::as_writable_bytes(all), what);
  sum_over_ranks(all, n, x);
}

}  // namespace famx::comm
