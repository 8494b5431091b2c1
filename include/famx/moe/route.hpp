#pragma once
// famx::moe::route: the SIMD routers (declaration and argument checks; the kernels are in
// router-inl.hpp, compiled through <famx/kernels.hpp>). Include <famx/kernels.hpp> to call it.

#include <cstddef>
#include <span>
#include <string>

#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/targets.hpp"
#include "famx/moe/routing.hpp"

namespace famx::moe {
inline namespace FAMX_ABI {

// Routes `tokens` tokens: logits [tokens, E] (f32), bias = e_score_correction_bias [E] for sigmoid
// routers (empty for none). Throws famx::error on an invalid config or mismatched sizes.
FAMX_KERNEL_LINKAGE routing route(const routing_config& c, std::span<const float> logits,
                                  std::span<const float> bias, std::size_t tokens, const parallel& par = {});

}  // namespace FAMX_ABI

namespace detail {

// Throws unless the config is valid and the buffers fit it.
inline void check_route_args(const routing_config& c, std::size_t logits_size, std::size_t bias_size,
                             std::size_t tokens) {
  if (auto r = validate(c); !r) throw r.err().in("route");
  if (logits_size != tokens * c.num_experts)
    throw error(errc::shape_mismatch, "route.logits", std::to_string(logits_size) + " elements",
                std::to_string(tokens * c.num_experts) + " (tokens * num_experts)");
  if (bias_size != 0 && (c.scoring != scoring::sigmoid || bias_size != c.num_experts))
    throw error(errc::shape_mismatch, "route.e_score_correction_bias", std::to_string(bias_size) + " elements",
                c.scoring == scoring::sigmoid ? std::to_string(c.num_experts) + " (num_experts) or none"
                                              : std::string("none for a softmax router"));
}

}  // namespace detail
}  // namespace famx::moe
