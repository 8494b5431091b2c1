#pragma once
// Ministral 3 (model_type `ministral3`, the text model inside `mistral3`): Llama's surface without
// biases; RoPE from the transformers-v5 `rope_parameters` dict (YaRN) and the Llama-4 position-
// dependent query scale (llama_4_scaling_beta); sliding-window layers as in Llama.

#include "famx/families/llama.hpp"

namespace famx::families {

// Family tag for HF model_type "ministral3".
struct ministral3 {};

// mlx-lm ministral3.ModelArgs.
struct ministral3_config {
  FAMX_CONFIG_FIELDS(ministral3_config,
                     (required, std::string, model_type),
                     (required, std::int64_t, hidden_size),
                     (required, std::int64_t, num_hidden_layers),
                     (required, std::int64_t, intermediate_size),
                     (required, std::int64_t, num_attention_heads),
                     (required, double, rms_norm_eps),
                     (required, std::int64_t, vocab_size),
                     (optional, std::optional<std::int64_t>, head_dim, std::nullopt),
                     (optional, std::optional<std::int64_t>, max_position_embeddings, std::nullopt),
                     (optional, std::optional<std::int64_t>, num_key_value_heads, std::nullopt),
                     (optional, std::optional<famx::families::rope_scaling>, rope_parameters, std::nullopt),
                     (optional, bool, tie_word_embeddings, true),
                     (optional, string_list, layer_types, std::nullopt),
                     (optional, std::optional<std::int64_t>, sliding_window, std::nullopt))
};

template <>
struct family_traits<ministral3> : family_traits<llama> {
  static constexpr std::string_view name = "ministral3";
  static constexpr std::array<std::string_view, 1> architectures = {"Ministral3ForCausalLM"};
  static constexpr std::array<std::string_view, 1> model_types = {"ministral3"};
  static constexpr std::string_view summary =
      "dense decoder, GQA, SwiGLU MLP; YaRN RoPE from rope_parameters and a Llama-4 query scale "
      "1 + beta*ln(1 + floor(pos / original_max_position_embeddings)) applied after RoPE";
  using config = ministral3_config;
  using layer = surface::decoder_layer<surface::gqa_attention<>, surface::dense_glu<>>;
  using sliding_layer = surface::decoder_layer<surface::sliding_attention<>, surface::dense_glu<>>;
  using layers = surface::type_list<layer, sliding_layer>;
  using sanitize = surface::type_list<families::sanitize::drop_activation_scale, families::sanitize::fp8_dequant>;

  static void finalize(config& c) {
    if (!c.num_key_value_heads) c.num_key_value_heads = c.num_attention_heads;
    if (!c.head_dim && c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  static result<void> validate(const config& c, std::string_view file) {
    if (!c.rope_parameters)
      return detail::bad_value(errc::missing, file, "rope_parameters", "no such key (or null)",
                               "a rope_parameters object (mlx-lm dereferences it)");
    if (auto r = detail::validate_gqa(c, file); !r) return r;
    return detail::validate_layer_types(c, file);
  }
  // RoPE from rope_parameters (its rope_theta, default 10000) and the Llama-4 query scale.
  static attention_params attention(const config& c) {
    const auto& p = *c.rope_parameters;
    const std::int64_t hd = c.head_dim.value_or(0);
    attention_params a{.rope = {.dims = hd, .base = p.rope_theta.value_or(10000), .scaling = c.rope_parameters, .key = "rope_parameters"},
                       .scale = detail::inverse_sqrt(hd)};
    if (p.llama_4_scaling_beta) {
      a.query_scale_beta = *p.llama_4_scaling_beta;
      a.query_scale_orig = p.original_max_position_embeddings.value_or(1);
    }
    return a;
  }
};

}  // namespace famx::families
