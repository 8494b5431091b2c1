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

namespace famx::moe {

// How expert scores are computed from the router logits.
enum class scoring { softmax, sigmoid };

// What group-limited routing does to the experts of groups it drops.
//  neg_inf (default): they can never be selected, as in DeepSeek's reference code and vLLM; this
//    is the semantics the models were trained with.
//  zero: their biased scores become 0.0, as mlx-lm and HF transformers do; a retained expert with a
//    negative biased score can then lose to a dropped one. Use it to reproduce mlx-lm exactly.
enum class group_mask { neg_inf, zero };

// A router: config.json fields, named as there.
struct routing_config {
  famx::moe::scoring scoring = scoring::softmax;
  std::size_t num_experts = 0;          // num_experts / n_routed_experts
  std::size_t num_experts_per_tok = 0;  // top-k
  bool norm_topk_prob = false;          // renormalize the k weights to sum 1
  std::size_t n_group = 1;              // sigmoid: expert groups
  std::size_t topk_group = 1;           // sigmoid: groups kept per token
  float routed_scaling_factor = 1.0f;   // sigmoid: weights multiplied by this
  famx::moe::group_mask group_mask = group_mask::neg_inf;
};

// Checks a config: k in [1, E], n_group (<= 256) divides E, topk_group in [1, n_group], groups hold
// >= 2 experts; softmax routers take no groups.
inline result<void> validate(const routing_config& c) {
  auto bad = [](std::string key, std::string found, std::string expected) {
    return error(errc::inconsistent, std::move(key), std::move(found), std::move(expected));
  };
  if (c.num_experts == 0) return bad("num_experts", "0", "at least 1 expert");
  if (c.num_experts_per_tok == 0 || c.num_experts_per_tok > c.num_experts)
    return bad("num_experts_per_tok", std::to_string(c.num_experts_per_tok),
               "between 1 and num_experts = " + std::to_string(c.num_experts));
  if (c.n_group == 0 || c.num_experts % c.n_group != 0)
    return bad("n_group", std::to_string(c.n_group), "a divisor of the " + std::to_string(c.num_experts) + " experts");
  if (c.n_group > 256)
    return bad("n_group", std::to_string(c.n_group), "at most 256 expert groups");
  if (c.topk_group == 0 || c.topk_group > c.n_group)
    return bad("topk_group", std::to_string(c.topk_group), "between 1 and n_group = " + std::to_string(c.n_group));
  if (c.n_group > 1 && c.num_experts / c.n_group < 2)
    return bad("n_group", std::to_string(c.n_group), "groups of at least 2 experts (the group score sums the top 2)");
  if (c.n_group > 1 && c.num_experts_per_tok > c.topk_group * (c.num_experts / c.n_group))
    return bad("num_experts_per_tok", std::to_string(c.num_experts_per_tok),
               "at most topk_group * experts per group = " + std::to_string(c.topk_group * (c.num_experts / c.n_group)));
  if (c.scoring == scoring::softmax && c.n_group != 1)
    return bad("n_group", std::to_string(c.n_group), "1 for a softmax router");
  return {};
}

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
