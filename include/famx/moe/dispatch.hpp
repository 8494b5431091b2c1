#pragma once
// Expert dispatch: the T*k (token, slot) pairs of a routing grouped by expert with a counting sort,
// with the permutation and its inverse; and static capacity (fixed per-expert slots, the
// expert-parallel / Neuron style) with a deterministic drop policy.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "famx/moe/routing.hpp"

namespace famx::moe {

// Pairs grouped by expert. A pair is p = t*k + i (token t's i-th choice).
struct expert_dispatch {
  std::size_t num_experts = 0;
  std::vector<std::size_t> offsets;  // [E + 1]: expert e's pairs are order[offsets[e] .. offsets[e+1])
  std::vector<std::int32_t> order;   // pair ids by expert; within an expert, by pair id (token order)
  std::vector<std::int32_t> inverse; // inverse[p] = position of pair p in order (-1: dropped)

  std::size_t count(std::size_t e) const { return offsets[e + 1] - offsets[e]; }
};

// Groups every pair of r by expert (stable counting sort, O(T*k + E)).
inline expert_dispatch dispatch(const routing& r, std::size_t num_experts) {
  expert_dispatch d;
  d.num_experts = num_experts;
  d.offsets.assign(num_experts + 1, 0);
  for (std::int32_t e : r.experts) ++d.offsets[static_cast<std::size_t>(e) + 1];
  for (std::size_t e = 0; e < num_experts; ++e) d.offsets[e + 1] += d.offsets[e];
  d.order.resize(r.experts.size());
  d.inverse.resize(r.experts.size());
  std::vector<std::size_t> next(d.offsets.begin(), d.offsets.end() - 1);
  for (std::size_t p = 0; p < r.experts.size(); ++p) {
    const std::size_t pos = next[static_cast<std::size_t>(r.experts[p])]++;
    d.order[pos] = static_cast<std::int32_t>(p);
    d.inverse[p] = static_cast<std::int32_t>(pos);
  }
  return d;
}

// Per-expert capacity for a capacity factor: ceil(factor * T * k / E), at least 1.
inline std::size_t expert_capacity(double capacity_factor, std::size_t tokens, std::size_t k, std::size_t num_experts) {
  const double c = std::ceil(capacity_factor * static_cast<double>(tokens * k) / static_cast<double>(num_experts));
  return std::max<std::size_t>(1, static_cast<std::size_t>(c));
}

// Static-shape dispatch: every expert gets exactly `capacity` slots.
// Drop policy: slots are filled by choice rank first (all tokens' first choices, then all second
// choices, ...), and by token order within a rank; pairs that find their expert full are dropped
// (they contribute nothing to their token). With capacity >= the largest expert count nothing is
// dropped, and the kept pairs are exactly those of dispatch().
struct capacity_dispatch {
  std::size_t num_experts = 0, capacity = 0;
  std::vector<std::int32_t> slots;     // [E, capacity]: pair id, or -1 for an empty slot
  std::vector<std::uint8_t> dropped;   // [T*k]: 1 where the pair was dropped
  std::size_t dropped_pairs = 0;       // how many pairs were dropped
  std::size_t dropped_tokens = 0;      // tokens that lost at least one choice
};

inline capacity_dispatch dispatch_with_capacity(const routing& r, std::size_t num_experts, std::size_t capacity) {
  capacity_dispatch d;
  d.num_experts = num_experts;
  d.capacity = capacity;
  d.slots.assign(num_experts * capacity, -1);
  d.dropped.assign(r.experts.size(), 0);
  std::vector<std::size_t> fill(num_experts, 0);
  for (std::size_t i = 0; i < r.k; ++i) {
    for (std::size_t t = 0; t < r.tokens; ++t) {
      const std::size_t p = t * r.k + i;
      const auto e = static_cast<std::size_t>(r.experts[p]);
      if (fill[e] < capacity) {
        d.slots[e * capacity + fill[e]++] = static_cast<std::int32_t>(p);
      } else {
        d.dropped[p] = 1;
        ++d.dropped_pairs;
      }
    }
  }
  for (std::size_t t = 0; t < r.tokens; ++t)
    d.dropped_tokens += std::any_of(d.dropped.begin() + static_cast<std::ptrdiff_t>(t * r.k),
                                    d.dropped.begin() + static_cast<std::ptrdiff_t>((t + 1) * r.k),
                                    [](std::uint8_t x) { return x != 0; });
  return d;
}

}  // namespace famx::moe
