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
  std::string model_type;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t max_position_embeddings = 0;
  std::int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;
  std::int64_t num_attention_heads = 0;
  std::int64_t n_group = 0;
  std::int64_t head_dim = 0;
  std::int64_t topk_group = 0;
  std::optional<std::int64_t> n_shared_experts;
  std::int64_t n_routed_experts = 0;
  double routed_scaling_factor = 0;
  std::int64_t num_experts_per_tok = 0;
  std::int64_t first_k_dense_replace = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_key_value_heads = 0;
  double rms_norm_eps = 0;
  double rope_theta = 0;
  std::optional<famx::families::rope_scaling> rope_scaling;
  bool use_qk_norm = false;
  bool tie_word_embeddings = false;  // ignored: GLM always has an lm_head
  bool attention_bias = false;
  double partial_rotary_factor = 0;
  std::string scoring_func = "sigmoid";
  std::string topk_method = "noaux_tc";

  static constexpr std::array<std::string_view, 25> required = {
      "model_type", "vocab_size", "hidden_size", "intermediate_size", "max_position_embeddings",
      "moe_intermediate_size", "norm_topk_prob", "num_attention_heads", "n_group", "head_dim",
      "topk_group", "n_shared_experts", "n_routed_experts", "routed_scaling_factor",
      "num_experts_per_tok", "first_k_dense_replace", "num_hidden_layers", "num_key_value_heads",
      "rms_norm_eps", "rope_theta", "rope_scaling", "use_qk_norm", "tie_word_embeddings",
      "attention_bias", "partial_rotary_factor"};
};

template <>
struct family_traits<glm4_moe> : family_traits<deepseek_v3> {
  static constexpr std::string_view name = "glm4_moe";
  static constexpr std::string_view strategy = "Glm4MoeShardingStrategy";
  static constexpr std::string_view summary =
      "GQA attention (q/k/v bias when attention_bias, optional q/k norm, partial rotary) over "
      "DeepSeek-V3's MoE: sigmoid router with fp32 e_score_correction_bias, group-limited top-k, "
      "routed_scaling_factor, shared experts; first_k_dense_replace dense layers; MTP layer dropped";
  using config = glm4_moe_config;
  using attention = surface::gqa_attention<surface::flag<"attention_bias">, surface::never,
                                           surface::flag<"use_qk_norm">>;
  using moe_layer = surface::decoder_layer<attention, surface::deepseek_moe_block>;
  using dense_layer = surface::decoder_layer<attention, surface::dense_glu<>>;
  using layers = surface::type_list<moe_layer, dense_layer>;
  using primary_layer = moe_layer;

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
};

}  // namespace famx::families

BOOST_HANA_ADAPT_STRUCT(famx::families::glm4_moe_config, model_type, vocab_size, hidden_size,
                        intermediate_size, max_position_embeddings, moe_intermediate_size,
                        norm_topk_prob, num_attention_heads, n_group, head_dim, topk_group,
                        n_shared_experts, n_routed_experts, routed_scaling_factor, num_experts_per_tok,
                        first_k_dense_replace, num_hidden_layers, num_key_value_heads, rms_norm_eps,
                        rope_theta, rope_scaling, use_qk_norm, tie_word_embeddings, attention_bias,
                        partial_rotary_factor, scoring_func, topk_method);
