#pragma once
// Qwen3-Next (model_type `qwen3_next`): hybrid layers. Layer i is linear attention (gated DeltaNet,
// `linear_attn`) iff (i+1) % full_attention_interval != 0, else gated full attention (`self_attn`,
// q_proj doubled for the output gate, partial rotary). MoE as Qwen3-MoE plus `shared_expert` and
// its sigmoid `shared_expert_gate`.

#include "famx/families/qwen3_moe.hpp"

namespace famx::families {

// Family tag for HF model_type "qwen3_next".
struct qwen3_next {};

// mlx-lm qwen3_next.ModelArgs.
struct qwen3_next_config {
  std::string model_type;
  std::int64_t hidden_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t linear_num_value_heads = 0;
  std::int64_t linear_num_key_heads = 0;
  std::int64_t linear_key_head_dim = 0;
  std::int64_t linear_value_head_dim = 0;
  std::int64_t linear_conv_kernel_dim = 0;
  std::int64_t num_experts = 0;
  std::int64_t num_experts_per_tok = 0;
  std::int64_t decoder_sparse_step = 0;
  std::int64_t shared_expert_intermediate_size = 0;
  std::vector<std::int64_t> mlp_only_layers;
  std::int64_t moe_intermediate_size = 0;
  double rms_norm_eps = 0;
  std::int64_t vocab_size = 0;
  std::int64_t num_key_value_heads = 0;
  double rope_theta = 0;
  double partial_rotary_factor = 0;
  std::int64_t max_position_embeddings = 0;
  std::int64_t head_dim = 0;
  bool norm_topk_prob = false;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  std::optional<famx::families::rope_scaling> rope_scaling;
  std::int64_t full_attention_interval = 4;

  static constexpr std::array<std::string_view, 23> required = {
      "model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
      "linear_num_value_heads", "linear_num_key_heads", "linear_key_head_dim", "linear_value_head_dim",
      "linear_conv_kernel_dim", "num_experts", "num_experts_per_tok", "decoder_sparse_step",
      "shared_expert_intermediate_size", "mlp_only_layers", "moe_intermediate_size", "rms_norm_eps",
      "vocab_size", "num_key_value_heads", "rope_theta", "partial_rotary_factor",
      "max_position_embeddings", "head_dim"};
};

template <>
struct family_traits<qwen3_next> : family_traits<qwen3_moe> {
  static constexpr std::string_view name = "qwen3_next";
  static constexpr std::string_view summary =
      "hybrid decoder: 3 of every full_attention_interval layers are gated DeltaNet linear attention "
      "(fixed-size recurrent state, depthwise conv1d), the rest gated full attention (sigmoid output gate, "
      "partial rotary); ultra-sparse MoE with a gated shared expert; HF norms stored zero-centred (+1 on load)";
  using config = qwen3_next_config;
  using linear_moe = surface::decoder_layer<surface::gated_delta_net, surface::qwen_next_moe_block>;
  using full_moe = surface::decoder_layer<surface::gated_attention, surface::qwen_next_moe_block>;
  using linear_dense = surface::decoder_layer<surface::gated_delta_net, surface::dense_glu<>>;
  using full_dense = surface::decoder_layer<surface::gated_attention, surface::dense_glu<>>;
  using layers = surface::type_list<linear_moe, full_moe, linear_dense, full_dense>;
  using primary_layer = full_moe;

  template <class Cfg>
  static std::size_t layer_kind(const Cfg& c, std::int64_t i) {
    const bool linear = (i + 1) % c.full_attention_interval != 0;
    return (detail::qwen_is_moe(c, i) ? 0 : 2) + (linear ? 0 : 1);
  }
  static void finalize(config&) {}
  static result<void> validate(const config& c, std::string_view file) {
    if (auto r = detail::validate_gqa(c, file); !r) return r;
    if (auto r = detail::validate_qwen_moe(c, file); !r) return r;
    for (auto [k, v] : {std::pair<std::string_view, std::int64_t>{"linear_num_key_heads", c.linear_num_key_heads},
                        {"linear_num_value_heads", c.linear_num_value_heads},
                        {"linear_key_head_dim", c.linear_key_head_dim},
                        {"linear_value_head_dim", c.linear_value_head_dim},
                        {"linear_conv_kernel_dim", c.linear_conv_kernel_dim},
                        {"full_attention_interval", c.full_attention_interval}})
      if (auto r = detail::positive(file, k, v); !r) return r;
    if (auto r = detail::divides(file, "linear_num_value_heads", c.linear_num_value_heads,
                                 "linear_num_key_heads", c.linear_num_key_heads); !r)
      return r;
    if (c.partial_rotary_factor <= 0 || c.partial_rotary_factor > 1)
      return detail::bad_value(errc::invalid_value, file, "partial_rotary_factor",
                               std::to_string(c.partial_rotary_factor), "a fraction in (0, 1]");
    return {};
  }
  template <class Cfg>
  static std::vector<divisor> tp_divisors(const Cfg& c) {
    return {{"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"linear_num_key_heads", c.linear_num_key_heads},
            {"linear_num_value_heads", c.linear_num_value_heads},
            {"moe_intermediate_size", c.moe_intermediate_size},
            {"shared_expert_intermediate_size", c.shared_expert_intermediate_size}};
  }
};

}  // namespace famx::families

BOOST_HANA_ADAPT_STRUCT(famx::families::qwen3_next_config, model_type, hidden_size, num_hidden_layers,
                        intermediate_size, num_attention_heads, linear_num_value_heads,
                        linear_num_key_heads, linear_key_head_dim, linear_value_head_dim,
                        linear_conv_kernel_dim, num_experts, num_experts_per_tok, decoder_sparse_step,
                        shared_expert_intermediate_size, mlp_only_layers, moe_intermediate_size,
                        rms_norm_eps, vocab_size, num_key_value_heads, rope_theta, partial_rotary_factor,
                        max_position_embeddings, head_dim, norm_topk_prob, tie_word_embeddings,
                        attention_bias, rope_scaling, full_attention_interval);
