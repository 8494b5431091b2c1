#pragma once
// Qwen3 dense (model_type `qwen3`): Llama's layer plus per-head q_norm / k_norm (RMSNorm(head_dim))
// before RoPE, no biases, head_dim given explicitly (so H*head_dim may differ from hidden_size).

#include "famx/families/llama.hpp"

namespace famx::families {

// Family tag for HF model_type "qwen3".
struct qwen3 {};

// mlx-lm qwen3.ModelArgs.
struct qwen3_config {
  std::string model_type;
  std::int64_t hidden_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_attention_heads = 0;
  double rms_norm_eps = 0;
  std::int64_t vocab_size = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t max_position_embeddings = 0;
  double rope_theta = 0;
  std::int64_t head_dim = 0;
  bool tie_word_embeddings = false;
  std::optional<famx::families::rope_scaling> rope_scaling;

  static constexpr std::array<std::string_view, 12> required = {
      "model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
      "rms_norm_eps", "vocab_size", "num_key_value_heads", "max_position_embeddings", "rope_theta",
      "head_dim", "tie_word_embeddings"};
};

template <>
struct family_traits<qwen3> : family_traits<llama> {
  static constexpr std::string_view name = "qwen3";
  static constexpr std::string_view strategy = "QwenShardingStrategy";
  static constexpr std::string_view summary =
      "dense decoder, GQA with per-head RMSNorm on q and k before RoPE (q_norm, k_norm), SwiGLU MLP";
  using config = qwen3_config;
  using layer = surface::decoder_layer<surface::gqa_attention<surface::never, surface::never, surface::always>,
                                       surface::dense_glu<>>;
  using layers = surface::type_list<layer>;
  using primary_layer = layer;

  static void finalize(config&) {}
  static result<void> validate(const config& c, std::string_view file) {
    return detail::validate_gqa(c, file);
  }
};

}  // namespace famx::families

BOOST_HANA_ADAPT_STRUCT(famx::families::qwen3_config, model_type, hidden_size, num_hidden_layers,
                        intermediate_size, num_attention_heads, rms_norm_eps, vocab_size,
                        num_key_value_heads, max_position_embeddings, rope_theta, head_dim,
                        tie_word_embeddings, rope_scaling);
