#pragma once
// Ministral 3 (model_type `ministral3`, the text model inside `mistral3`): Llama's surface without
// biases; RoPE from the transformers-v5 `rope_parameters` dict (YaRN) and the Llama-4 position-
// dependent query scale (llama_4_scaling_beta).

#include "famx/families/llama.hpp"

namespace famx::families {

// Family tag for HF model_type "ministral3".
struct ministral3 {};

// mlx-lm ministral3.ModelArgs.
struct ministral3_config {
  std::string model_type;
  std::int64_t hidden_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_attention_heads = 0;
  double rms_norm_eps = 0;
  std::int64_t vocab_size = 0;
  std::optional<std::int64_t> head_dim;
  std::optional<std::int64_t> max_position_embeddings;
  std::optional<std::int64_t> num_key_value_heads;
  std::optional<famx::families::rope_scaling> rope_parameters;
  bool tie_word_embeddings = true;
  std::optional<std::vector<std::string>> layer_types;
  std::optional<std::int64_t> sliding_window;

  static constexpr std::array<std::string_view, 7> required = {
      "model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
      "rms_norm_eps", "vocab_size"};
};

template <>
struct family_traits<ministral3> : family_traits<llama> {
  static constexpr std::string_view name = "ministral3";
  static constexpr std::string_view summary =
      "dense decoder, GQA, SwiGLU MLP; YaRN RoPE from rope_parameters and a Llama-4 query scale "
      "1 + beta*ln(1 + floor(pos / original_max_position_embeddings)) applied after RoPE";
  using config = ministral3_config;
  using layer = surface::decoder_layer<surface::gqa_attention<>, surface::dense_glu<>>;
  using layers = surface::type_list<layer>;
  using primary_layer = layer;

  static void finalize(config& c) {
    if (!c.num_key_value_heads) c.num_key_value_heads = c.num_attention_heads;
    if (!c.head_dim && c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  static result<void> validate(const config& c, std::string_view file) {
    if (!c.rope_parameters)
      return detail::bad_value(errc::missing, file, "rope_parameters", "no such key (or null)",
                               "a rope_parameters object (mlx-lm dereferences it)");
    return detail::validate_gqa(c, file);
  }
};

}  // namespace famx::families

BOOST_HANA_ADAPT_STRUCT(famx::families::ministral3_config, model_type, hidden_size, num_hidden_layers,
                        intermediate_size, num_attention_heads, rms_norm_eps, vocab_size, head_dim,
                        max_position_embeddings, num_key_value_heads, rope_parameters,
                        tie_word_embeddings, layer_types, sliding_window);
