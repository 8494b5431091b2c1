#pragma once
// routing_config: what a MoE router computes, as config.json names it (scoring, experts, top-k,
// groups, scaling). It lives in core/ because both sides name it: the family traits build it from
// a config (families/), and the router kernels run it (moe/); neither layer includes the other.

#include <cstddef>
#include <string>

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

}  // namespace famx::moe
