#pragma once
// Qwen3-Next (model_type `qwen3_next`): hybrid layers. Layer i is linear attention (gated DeltaNet,
// `linear_attn`) iff (i+1) % full_attention_interval != 0, else gated full attention (`self_attn`,
// q_proj doubled for the output gate, partial rotary). MoE as Qwen3-MoE plus `shared_expert` and
// its sigmoid `shared_expert_gate`.

#include "famx/families/qwen3_moe.hpp"

namespace famx::families {

// Family tag for HF model_type "qwen3_next".
struct qwen3_next {};

// mlx-lm qwen3_next.ModelArgs: Qwen3-MoE's fields plus linear attention, the shared expert and
// partial rotary; norm_topk_prob and tie_word_embeddings default to false.
struct qwen3_next_config : qwen3_moe_config {
  FAMX_CONFIG_FIELDS_EXTEND(qwen3_next_config, qwen3_moe_config,
                            (required, std::int64_t, linear_num_value_heads),
                            (required, std::int64_t, linear_num_key_heads),
                            (required, std::int64_t, linear_key_head_dim),
                            (required, std::int64_t, linear_value_head_dim),
                            (required, std::int64_t, linear_conv_kernel_dim),
                            (required, std::int64_t, shared_expert_intermediate_size),
                            (required, double, partial_rotary_factor),
                            (optional, bool, attention_bias, false),
                            (optional, std::int64_t, full_attention_interval, 4),
                            (default, norm_topk_prob, false),
                            (default, tie_word_embeddings, false))
};

template <>
struct family_traits<qwen3_next> : family_traits<qwen3_moe> {
  static constexpr std::string_view name = "qwen3_next";
  static constexpr std::array<std::string_view, 1> architectures = {"Qwen3NextForCausalLM"};
  static constexpr std::array<std::string_view, 1> model_types = {"qwen3_next"};
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
  using sanitize = surface::type_list<families::sanitize::drop_mtp_keys, families::sanitize::stack_experts,
                                      families::sanitize::conv_moveaxis, families::sanitize::norm_shift>;

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
  // Partial rotary: the first head_dim * partial_rotary_factor features rotate, with rope_scaling.
  static attention_params attention(const config& c) {
    const auto dims = static_cast<std::int64_t>(static_cast<double>(c.head_dim) * c.partial_rotary_factor);
    return {.rope = {.dims = dims, .base = c.rope_theta, .scaling = c.rope_scaling}, .scale = detail::inverse_sqrt(c.head_dim)};
  }
};

}  // namespace famx::families
