#pragma once
// GLM-4 MoE (model_type `glm4_moe`: GLM-4.5 / 4.6 / 4.7): DeepSeek-V3's MoE block (sigmoid router
// with correction bias, switch_mlp, shared_experts) under standard GQA attention with q/k/v biases
// when attention_bias, no o_proj bias, optional q_norm/k_norm (use_qk_norm) and partial rotary.
// Layer i is MoE iff i >= first_k_dense_replace. rope_scaling is ignored by mlx-lm.

#include "famx/families/deepseek_v3.hpp"

namespace famx::families {

// Family tag for HF model_type "glm4_moe".
struct glm4_moe {};

// mlx-lm glm4_moe.ModelArgs.
struct glm4_moe_config {
  FAMX_CONFIG_FIELDS(glm4_moe_config,
                     (required, std::string, model_type),
                     (required, std::int64_t, vocab_size),
                     (required, std::int64_t, hidden_size),
                     (required, std::int64_t, intermediate_size),
                     (required, std::int64_t, max_position_embeddings),
                     (required, std::int64_t, moe_intermediate_size),
                     (required, bool, norm_topk_prob),
                     (required, std::int64_t, num_attention_heads),
                     (required, std::int64_t, n_group),
                     (required, std::int64_t, head_dim),
                     (required, std::int64_t, topk_group),
                     (required, std::optional<std::int64_t>, n_shared_experts),
                     (required, std::int64_t, n_routed_experts),
                     (required, double, routed_scaling_factor),
                     (required, std::int64_t, num_experts_per_tok),
                     (required, std::int64_t, first_k_dense_replace),
                     (required, std::int64_t, num_hidden_layers),
                     (required, std::int64_t, num_key_value_heads),
                     (required, double, rms_norm_eps),
                     (required, double, rope_theta),
                     (required, std::optional<famx::families::rope_scaling>, rope_scaling),
                     (required, bool, use_qk_norm),
                     (required, bool, tie_word_embeddings),  // ignored: GLM always has an lm_head
                     (required, bool, attention_bias),
                     (required, double, partial_rotary_factor),
                     (optional, std::string, scoring_func, "sigmoid"),
                     (optional, std::string, topk_method, "noaux_tc"))
};

template <>
struct family_traits<glm4_moe> : family_traits<deepseek_v3> {
  static constexpr std::string_view name = "glm4_moe";
  static constexpr std::array<std::string_view, 1> architectures = {"Glm4MoeForCausalLM"};
  static constexpr std::array<std::string_view, 1> model_types = {"glm4_moe"};
  static constexpr std::string_view strategy = "Glm4MoeShardingStrategy";
  static constexpr std::string_view summary =
      "GQA attention (q/k/v bias when attention_bias, optional q/k norm, partial rotary) over "
      "DeepSeek-V3's MoE: sigmoid router with fp32 e_score_correction_bias, group-limited top-k, "
      "routed_scaling_factor, shared experts; first_k_dense_replace dense layers; MTP layer dropped";
  using config = glm4_moe_config;
  using attention_kind = surface::gqa_attention<surface::flag<"attention_bias">, surface::never,
                                                surface::flag<"use_qk_norm">>;
  using moe_layer = surface::decoder_layer<attention_kind, surface::deepseek_moe_block>;
  using dense_layer = surface::decoder_layer<attention_kind, surface::dense_glu<>>;
  using layers = surface::type_list<moe_layer, dense_layer>;
  using sanitize = surface::type_list<families::sanitize::drop_layers_past_end, families::sanitize::stack_experts>;

  template <class Cfg>
  static std::size_t layer_kind(const Cfg& c, std::int64_t i) {
    return i >= c.first_k_dense_replace ? 0 : 1;
  }
  static void finalize(config&) {}
  static result<void> validate(const config& c, std::string_view file) {
    if (auto r = detail::validate_gqa(c, file); !r) return r;
    return detail::validate_grouped_router(c, file, c.n_routed_experts);
  }
  template <class Cfg>
  static std::vector<divisor> tp_divisors(const Cfg& c) {
    return {{"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"moe_intermediate_size", c.moe_intermediate_size},
            {"intermediate_size", c.intermediate_size}};
  }
  // Partial rotary (head_dim * partial_rotary_factor features); mlx-lm ignores rope_scaling here.
  static attention_params attention(const config& c) {
    const auto dims = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * c.partial_rotary_factor);
    return {.rope = {.dims = dims, .base = c.rope_theta}, .scale = detail::inverse_sqrt(c.head_dim)};
  }
};

}  // namespace famx::families
