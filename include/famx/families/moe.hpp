#pragma once
// The MoE families' routers and blocks: routing_of(config) gives each MoE family's router (its
// routing kind and parameters, named as in config.json), and an engine writes
//   famx::moe::route<famx::families::deepseek_v3>(config, logits, bias, tokens)
//   famx::moe::moe_block<famx::families::qwen3_moe>(config, weights, x, tokens, out)
// Softmax routers: qwen3_moe, qwen3_next. Sigmoid, group-limited routers with correction bias and
// routed_scaling_factor: deepseek_v3 (and kimi_k2), deepseek_v32, glm4_moe.
// Includes <famx/moe/block.hpp>, hence the kernels (see <famx/kernels.hpp>).

#include <famx/moe/block.hpp>  // first: it includes <famx/kernels.hpp>

#include <cstddef>
#include <span>

#include "famx/families/deepseek_v3.hpp"
#include "famx/families/deepseek_v32.hpp"
#include "famx/families/glm4_moe.hpp"
#include "famx/families/qwen3_moe.hpp"
#include "famx/families/qwen3_next.hpp"
#include "famx/moe/route.hpp"
#include "famx/moe/routing.hpp"

namespace famx::families {

// Qwen3-MoE: softmax over num_experts, top num_experts_per_tok, optional renormalization.
inline moe::routing_config routing_of(const qwen3_moe_config& c) {
  return {moe::scoring::softmax, static_cast<std::size_t>(c.num_experts),
          static_cast<std::size_t>(c.num_experts_per_tok), c.norm_topk_prob};
}

// Qwen3-Next: the Qwen3-MoE router (its shared_expert_gate belongs to the block weights).
inline moe::routing_config routing_of(const qwen3_next_config& c) {
  return {moe::scoring::softmax, static_cast<std::size_t>(c.num_experts),
          static_cast<std::size_t>(c.num_experts_per_tok), c.norm_topk_prob};
}

// DeepSeek V3 / V3.1 / V3.2 and Kimi K2: sigmoid scores, group-limited top-k on scores plus
// e_score_correction_bias, renormalized when num_experts_per_tok > 1 and norm_topk_prob, then
// scaled by routed_scaling_factor. A config without n_routed_experts has no router (0 experts).
inline moe::routing_config routing_of(const deepseek_v3_config& c) {
  return {moe::scoring::sigmoid, static_cast<std::size_t>(c.n_routed_experts.value_or(0)),
          static_cast<std::size_t>(c.num_experts_per_tok), c.norm_topk_prob, static_cast<std::size_t>(c.n_group),
          static_cast<std::size_t>(c.topk_group), static_cast<float>(c.routed_scaling_factor)};
}

// GLM-4 MoE: the DeepSeek router (n_group = topk_group = 1 in GLM-4.5 skips the group step).
inline moe::routing_config routing_of(const glm4_moe_config& c) {
  return {moe::scoring::sigmoid, static_cast<std::size_t>(c.n_routed_experts),
          static_cast<std::size_t>(c.num_experts_per_tok), c.norm_topk_prob, static_cast<std::size_t>(c.n_group),
          static_cast<std::size_t>(c.topk_group), static_cast<float>(c.routed_scaling_factor)};
}

// Whether Family has a MoE router (dense families such as llama do not).
template <class Family>
concept has_router = requires(const typename family_traits<Family>::config& c) {
  { routing_of(c) } -> std::same_as<moe::routing_config>;
};

}  // namespace famx::families

namespace famx::moe {

// Routes `tokens` tokens with Family's router configured from its config.json; `mask` chooses the
// group masking convention (see routing.hpp).
template <class Family>
  requires families::has_router<Family>
routing route(const typename families::family_traits<Family>::config& c, std::span<const float> logits,
              std::span<const float> bias, std::size_t tokens, const parallel& par = {},
              group_mask mask = group_mask::neg_inf) {
  routing_config rc = families::routing_of(c);
  rc.group_mask = mask;
  return route(rc, logits, bias, tokens, par);
}

// Family's whole MoE block (router from its config.json) on x [tokens, hidden_size].
template <class Family>
  requires families::has_router<Family>
moe_stats moe_block(const typename families::family_traits<Family>::config& c, const moe_block_weights& w,
                    std::span<const float> x, std::size_t tokens, std::span<float> out, const moe_options& opt = {},
                    const parallel& par = {}) {
  return moe_block(families::routing_of(c), w, x, tokens, out, opt, par);
}

}  // namespace famx::moe
