#pragma once
// MoE routing: what a router computes (routing_config) and what it returns (routing).
//
// Contract, every router, every SIMD target, every thread count:
//  - experts are selected by score, highest first; equal scores: the lower expert index wins.
//    Selected experts are listed in that order.
//  - softmax routers (Qwen3-MoE, Qwen3-Next) select on the logits: softmax is strictly increasing,
//    so this is selection by exact probability (MLX selects on bf16-rounded probabilities, where
//    ties are common and the higher index wins).
//  - sigmoid routers (DeepSeek V3/V3.1/V3.2, Kimi K2, GLM-4 MoE) select on sigmoid(logit) +
//    e_score_correction_bias; the weights are the unbiased sigmoid scores.
//  - a non-finite logit never crashes: NaN counts as -FLT_MAX, +-inf as +-FLT_MAX, and the token is
//    flagged in routing::non_finite.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/core/routing_config.hpp"

namespace famx::moe {

// Routing of T tokens: for token t, experts[t*k + i] with weights[t*k + i], i < k.
struct routing {
  std::size_t tokens = 0, k = 0;
  std::vector<std::int32_t> experts;
  std::vector<float> weights;
  std::vector<std::uint8_t> non_finite;  // 1 where the token's logits had a NaN or inf
  std::size_t non_finite_tokens = 0;

  routing() = default;
  routing(std::size_t t, std::size_t k_) : tokens(t), k(k_), experts(t * k_), weights(t * k_), non_finite(t) {}
  std::span<const std::int32_t> experts_of(std::size_t t) const { return {experts.data() + t * k, k}; }
  std::span<const float> weights_of(std::size_t t) const { return {weights.data() + t * k, k}; }
};

}  // namespace famx::moe
