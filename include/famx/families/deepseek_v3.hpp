#pragma once
// DeepSeek-V3 / V3.1 (model_type `deepseek_v3`; mlx-lm maps `kimi_k2` here too): multi-head latent
// attention (MLA, as mlx-lm holds it: kv_b_proj split per head into embed_q / unembed_out) and a
// sigmoid router with e_score_correction_bias and group-limited top-k. Layer i is MoE iff
// n_routed_experts is set, i >= first_k_dense_replace and i % moe_layer_freq == 0. The MTP layer
// (model.layers.61) is dropped by mlx-lm and not part of the surface.

#include "famx/core/routing_config.hpp"
#include "famx/families/llama.hpp"

namespace famx::families {

// Family tag for HF model_type "deepseek_v3".
struct deepseek_v3 {};
// Kimi K2 is a DeepSeek-V3 (mlx-lm MODEL_REMAPPING kimi_k2 -> deepseek_v3).
using kimi_k2 = deepseek_v3;

// mlx-lm deepseek_v3.ModelArgs: every field has a default.
struct deepseek_v3_config {
  FAMX_CONFIG_FIELDS(deepseek_v3_config,
                     (optional, std::string, model_type, "deepseek_v3"),
                     (optional, std::int64_t, vocab_size, 102400),
                     (optional, std::int64_t, hidden_size, 4096),
                     (optional, std::int64_t, intermediate_size, 11008),
                     (optional, std::int64_t, moe_intermediate_size, 1407),
                     (optional, std::int64_t, num_hidden_layers, 30),
                     (optional, std::int64_t, num_attention_heads, 32),
                     (optional, std::int64_t, num_key_value_heads, 32),  // unused by MLA
                     (optional, std::optional<std::int64_t>, n_shared_experts, std::nullopt),
                     (optional, std::optional<std::int64_t>, n_routed_experts, std::nullopt),
                     (optional, double, routed_scaling_factor, 1.0),
                     (optional, std::int64_t, kv_lora_rank, 512),
                     (optional, std::optional<std::int64_t>, q_lora_rank, 1536),
                     (optional, std::int64_t, qk_rope_head_dim, 64),
                     (optional, std::int64_t, v_head_dim, 128),
                     (optional, std::int64_t, qk_nope_head_dim, 128),
                     (optional, std::string, topk_method, "noaux_tc"),
                     (optional, std::string, scoring_func, "sigmoid"),
                     (optional, bool, norm_topk_prob, true),
                     (optional, std::int64_t, n_group, 1),
                     (optional, std::int64_t, topk_group, 1),
                     (optional, std::int64_t, num_experts_per_tok, 1),
                     (optional, std::int64_t, moe_layer_freq, 1),
                     (optional, std::int64_t, first_k_dense_replace, 0),
                     (optional, std::int64_t, max_position_embeddings, 2048),
                     (optional, double, rms_norm_eps, 1e-6),
                     (optional, double, rope_theta, 10000),
                     (optional, std::optional<famx::families::rope_scaling>, rope_scaling, std::nullopt),
                     (optional, bool, attention_bias, false))
};

namespace detail {
// Checks of a sigmoid, group-limited router (DeepSeek-V3, V3.2, GLM-4 MoE).
template <class Cfg>
result<void> validate_grouped_router(const Cfg& c, std::string_view file, std::int64_t experts) {
  for (auto [k, v] : {std::pair<std::string_view, std::int64_t>{"n_routed_experts", experts},
                      {"num_experts_per_tok", c.num_experts_per_tok},
                      {"n_group", c.n_group},
                      {"topk_group", c.topk_group},
                      {"moe_intermediate_size", c.moe_intermediate_size}})
    if (auto r = positive(file, k, v); !r) return r;
  if (c.num_experts_per_tok > experts)
    return bad_value(errc::inconsistent, file, "num_experts_per_tok", std::to_string(c.num_experts_per_tok),
                     "at most n_routed_experts = " + std::to_string(experts));
  if (auto r = divides(file, "n_routed_experts", experts, "n_group", c.n_group); !r) return r;
  if (c.topk_group > c.n_group)
    return bad_value(errc::inconsistent, file, "topk_group", std::to_string(c.topk_group),
                     "at most n_group = " + std::to_string(c.n_group));
  if (c.num_experts_per_tok > c.topk_group * (experts / c.n_group))
    return bad_value(errc::inconsistent, file, "num_experts_per_tok", std::to_string(c.num_experts_per_tok),
                     "at most topk_group * n_routed_experts / n_group = " +
                         std::to_string(c.topk_group * (experts / c.n_group)));
  if (c.topk_method != "noaux_tc")
    return bad_value(errc::unsupported, file, "topk_method", "\"" + c.topk_method + "\"",
                     "\"noaux_tc\" (the only method mlx-lm implements)");
  if (c.first_k_dense_replace < 0 || c.first_k_dense_replace > c.num_hidden_layers)
    return bad_value(errc::invalid_value, file, "first_k_dense_replace", std::to_string(c.first_k_dense_replace),
                     "in [0, num_hidden_layers = " + std::to_string(c.num_hidden_layers) + "]");
  return {};
}

// Checks of the MLA geometry.
template <class Cfg>
result<void> validate_mla(const Cfg& c, std::string_view file) {
  for (auto [k, v] : {std::pair<std::string_view, std::int64_t>{"hidden_size", c.hidden_size},
                      {"num_hidden_layers", c.num_hidden_layers},
                      {"num_attention_heads", c.num_attention_heads},
                      {"intermediate_size", c.intermediate_size},
                      {"vocab_size", c.vocab_size},
                      {"kv_lora_rank", c.kv_lora_rank},
                      {"qk_rope_head_dim", c.qk_rope_head_dim},
                      {"qk_nope_head_dim", c.qk_nope_head_dim},
                      {"v_head_dim", c.v_head_dim},
                      {"q_lora_rank", c.q_lora_rank.value_or(1)}})
    if (auto r = positive(file, k, v); !r) return r;
  return {};
}

// The group-limited sigmoid router of DeepSeek and GLM-4 MoE: group-limited top-k on scores plus
// e_score_correction_bias, renormalized when norm_topk_prob, then scaled by routed_scaling_factor.
template <class Cfg>
moe::routing_config grouped_sigmoid_routing(const Cfg& c, std::int64_t experts) {
  return {moe::scoring::sigmoid, static_cast<std::size_t>(experts),
          static_cast<std::size_t>(c.num_experts_per_tok), c.norm_topk_prob, static_cast<std::size_t>(c.n_group),
          static_cast<std::size_t>(c.topk_group), static_cast<float>(c.routed_scaling_factor)};
}
}  // namespace detail

template <>
struct family_traits<deepseek_v3> : family_traits<llama> {
  static constexpr std::string_view name = "deepseek_v3";
  static constexpr std::array<std::string_view, 1> architectures = {"DeepseekV3ForCausalLM"};
  static constexpr std::array<std::string_view, 3> model_types = {"deepseek_v3", "kimi_k2", "joyai_llm_flash"};
  static constexpr std::string_view strategy = "DeepSeekShardingStrategy";
  static constexpr std::string_view summary =
      "MLA: queries through a q_lora_rank bottleneck, keys/values through a shared kv_lora_rank latent "
      "plus a decoupled RoPE key (the cache holds the latent, not per-head K/V); mlx-lm absorbs kv_b_proj "
      "into per-head embed_q / unembed_out; first_k_dense_replace dense layers, then MoE with a sigmoid "
      "router, e_score_correction_bias (fp32, selection only), group-limited top-k, routed_scaling_factor, "
      "and an always-on shared expert";
  using config = deepseek_v3_config;
  using attention_kind = surface::mla_attention<>;
  using moe_layer = surface::decoder_layer<attention_kind, surface::deepseek_moe_block>;
  using dense_layer = surface::decoder_layer<attention_kind, surface::dense_glu<>>;
  using layers = surface::type_list<moe_layer, dense_layer>;
  using sanitize = surface::type_list<families::sanitize::drop_layer<61>, families::sanitize::fp8_dequant,
                                      families::sanitize::stack_experts, families::sanitize::split_kv_b>;

  template <class Cfg>
  static std::size_t layer_kind(const Cfg& c, std::int64_t i) {
    return c.n_routed_experts && i >= c.first_k_dense_replace && i % c.moe_layer_freq == 0 ? 0 : 1;
  }
  static void finalize(config&) {}
  static result<void> validate(const config& c, std::string_view file) {
    if (auto r = detail::validate_mla(c, file); !r) return r;
    if (auto r = detail::positive(file, "moe_layer_freq", c.moe_layer_freq); !r) return r;
    if (c.n_routed_experts) return detail::validate_grouped_router(c, file, *c.n_routed_experts);
    return {};
  }
  template <class Cfg>
  static bool tied(const Cfg&) { return false; }  // lm_head is always present
  template <class Cfg>
  static std::int64_t experts(const Cfg& c) {
    if constexpr (std::is_integral_v<decltype(c.n_routed_experts)>) return c.n_routed_experts;
    else return c.n_routed_experts.value_or(0);
  }
  template <class Cfg>
  static std::int64_t experts_per_token(const Cfg& c) { return experts(c) ? c.num_experts_per_tok : 0; }
  template <class Cfg>
  static std::vector<divisor> tp_divisors(const Cfg& c) {
    return {{"num_attention_heads", c.num_attention_heads},
            {"moe_intermediate_size", c.moe_intermediate_size},
            {"intermediate_size", c.intermediate_size}};
  }
  // MLA's RoPE on the qk_rope_head_dim part, interleaved pairs; mlx-lm DeepseekV3Attention's scale
  // (nope + rope)^-1/2, times mscale^2 when rope_scaling has mscale_all_dim and factor > 1.
  template <class Cfg>
  static attention_params attention(const Cfg& c) {
    attention_params a{.rope = {.dims = c.qk_rope_head_dim, .base = c.rope_theta, .traditional = true, .scaling = c.rope_scaling},
                       .scale = detail::inverse_sqrt(c.qk_nope_head_dim + c.qk_rope_head_dim)};
    if (c.rope_scaling && c.rope_scaling->mscale_all_dim && c.rope_scaling->factor.value_or(1) > 1) {
      const double m = yarn_get_mscale(*c.rope_scaling->factor, *c.rope_scaling->mscale_all_dim);
      a.scale *= m * m;
    }
    return a;
  }
  // The group-limited sigmoid router over n_routed_experts (0 experts without it: no router).
  template <class Cfg>
  static moe::routing_config routing(const Cfg& c) {
    return detail::grouped_sigmoid_routing(c, experts(c));
  }
};

}  // namespace famx::families
