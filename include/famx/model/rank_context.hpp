#pragma once
// model::rank_context: what one rank of a split model runs its layers with (tensor or expert
// parallelism over all ranks): the communicator, the experts the rank holds, and the two exchanges
// that make a module's output whole on every rank. Both only move bytes and combine locally in one
// fixed order: partial sums of row-parallel slices are summed by comm::all_sum (famx::tree_sum over
// the ranks, which continues the kernels' own tree), and expert outputs are taken from the rank
// that holds the expert. So every rank holds the bits of the unsplit forward.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "famx/comm/communicator.hpp"
#include "famx/comm/reduce.hpp"
#include "famx/model/weights.hpp"

namespace famx::model {

// One rank's view of the split, for one layer.
struct rank_context {
  comm::communicator* comm = nullptr;
  std::string layer;                            // "model.layers.3": names the collectives in errors
  std::span<const std::int32_t> local_expert;   // global expert -> index in the rank's stacks, -1 elsewhere; empty: all
  std::span<const std::int32_t> expert_owner;   // global expert -> the rank that holds it (with local_expert)

  // y <- the sum over ranks of every rank's y (identical bits on every rank).
  void all_sum(std::span<float> y, std::string_view module) const {
    comm::all_sum(*comm, y, layer + "." + std::string(module) + " all_sum");
  }

  // y [slots, D] (slot p routed to expert experts[p]) <- every slot's row from the rank holding its expert.
  void gather_owned(std::span<float> y, std::span<const std::int32_t> experts, std::size_t D, std::string_view module) const {
    const std::size_t n = static_cast<std::size_t>(comm->size());
    std::vector<float> all(n * y.size());
    comm->all_gather(std::as_bytes(y), std::as_writable_bytes(std::span(all)), layer + "." + std::string(module) + " all_gather");
    for (std::size_t p = 0; p < experts.size(); ++p) {
      const auto owner = static_cast<std::size_t>(expert_owner[static_cast<std::size_t>(experts[p])]);
      std::memcpy(y.data() + p * D, all.data() + owner * y.size() + p * D, D * sizeof(float));
    }
  }

  // When module m holds a row-parallel slice (a partial projection): y [L, D] <- the sum over ranks,
  // then the slice's bias, once, per token.
  template <class M>
  void finish(const M& m, std::span<float> y, std::size_t D, std::string_view module) const {
    bool partial = false;
    const linear* biased = nullptr;
    for_each_linear(m, [&](const linear& l) {
      if (!l.partial) return;
      partial = true;
      if (!l.bias.empty()) biased = &l;
    });
    if (!partial) return;
    all_sum(y, module);
    if (biased)
      for (std::size_t t = 0; t < y.size() / D; ++t) biased->add_bias(y.subspan(t * D, D));
  }
};

}  // namespace famx::model
