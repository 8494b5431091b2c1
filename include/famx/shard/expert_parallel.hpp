#pragma once
// Expert parallelism (which Exo lacks): the routed experts of every MoE layer distributed over the
// ep ranks by an expert map (vLLM's vocabulary: global expert id -> local id, -1 when absent).
// Rule for E not divisible by n: `linear` gives the first E % n ranks one expert more (ranks hold
// contiguous id ranges); `round_robin` puts expert e on rank e % n. The router is replicated and
// every rank routes every token identically (famx routing is bitwise identical on every target).

#include <cstdint>
#include <string_view>
#include <vector>

#include "famx/shard/tensor_parallel.hpp"

namespace famx::shard {

// How experts are assigned to ranks.
enum class expert_placement : std::uint8_t { linear, round_robin };

// Stable name of an expert placement.
constexpr std::string_view to_string(expert_placement p) noexcept {
  return p == expert_placement::linear ? "linear" : "round_robin";
}

// The experts of one rank: global ids in local order.
inline std::vector<std::int64_t> local_experts(std::int64_t experts, int n, int rank, expert_placement p) {
  std::vector<std::int64_t> ids;
  if (p == expert_placement::round_robin) {
    for (std::int64_t e = rank; e < experts; e += n) ids.push_back(e);
    return ids;
  }
  const std::int64_t base = experts / n, extra = experts % n;
  const std::int64_t first = rank * base + std::min<std::int64_t>(rank, extra);
  for (std::int64_t e = first; e < first + base + (rank < extra ? 1 : 0); ++e) ids.push_back(e);
  return ids;
}

// The expert map of one rank: for every global expert, its local id there or -1.
inline std::vector<std::int64_t> expert_map(std::int64_t experts, int n, int rank, expert_placement p) {
  std::vector<std::int64_t> map(static_cast<std::size_t>(experts), -1);
  std::int64_t local = 0;
  for (std::int64_t e : local_experts(experts, n, rank, p)) map[static_cast<std::size_t>(e)] = local++;
  return map;
}

// The axis-0 blocks of a stacked [E, ...] tensor that hold one rank's experts (runs of consecutive ids merged).
inline std::vector<block> expert_blocks(std::int64_t experts, int n, int rank, expert_placement p) {
  std::vector<block> out;
  for (std::int64_t e : local_experts(experts, n, rank, p)) {
    if (!out.empty() && out.back().begin + out.back().length == e) ++out.back().length;
    else out.push_back({0, e, 1});
  }
  return out;
}

}  // namespace famx::shard
