#pragma once
// Sharding vocabulary (PyTorch DTensor / JAX names): a placement says how one mesh axis holds a
// tensor (replicate R, shard S(dim), partial P(sum)); a partition spec says, per tensor dimension,
// which mesh axis splits it. Both print with stable text.

#include <cstdint>
#include <string>
#include <vector>

namespace famx::shard {

// How one mesh axis holds a tensor.
struct placement {
  enum class kind : std::uint8_t { replicate, shard, partial };
  kind k = kind::replicate;
  int dim = 0;  // the sharded dimension (shard), negative counting from the end

  static constexpr placement replicate() noexcept { return {kind::replicate, 0}; }
  static constexpr placement shard(int d) noexcept { return {kind::shard, d}; }
  static constexpr placement partial_sum() noexcept { return {kind::partial, 0}; }
  friend constexpr bool operator==(placement, placement) = default;
};

// "R", "S(0)", "S(-1)", "P(sum)".
inline std::string to_string(placement p) {
  switch (p.k) {
    case placement::kind::replicate: return "R";
    case placement::kind::shard: return "S(" + std::to_string(p.dim) + ")";
    case placement::kind::partial: return "P(sum)";
  }
  return "?";
}

// Per tensor dimension, the mesh axis that splits it ("" = not split): {"ep", "tp", ""}.
using partition_spec = std::vector<std::string>;

// "[ep, tp, -]".
inline std::string to_string(const partition_spec& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + (s[i].empty() ? std::string("-") : s[i]);
  return out + "]";
}

}  // namespace famx::shard
