#pragma once
// Qwen3 dense (model_type `qwen3`): Llama's layer plus per-head q_norm / k_norm (RMSNorm(head_dim))
// before RoPE, no biases, head_dim given explicitly (so H*head_dim may differ from hidden_size).

#include "famx/families/llama.hpp"

namespace famx::families {

// Family tag for HF model_type "qwen3".
struct qwen3 {};

// mlx-lm qwen3.ModelArgs.
struct qwen3_config {
  FAMX_CONFIG_FIELDS(qwen3_config,
                     (required, std::string, model_type),
                     (required, std::int64_t, hidden_size),
                     (required, std::int64_t, num_hidden_layers),
                     (required, std::int64_t, intermediate_size),
                     (required, std::int64_t, num_attention_heads),
                     (required, double, rms_norm_eps),
                     (required, std::int64_t, vocab_size),
                     (required, std::int64_t, num_key_value_heads),
                     (required, std::int64_t, max_position_embeddings),
                     (required, double, rope_theta),
                     (required, std::int64_t, head_dim),
                     (required, bool, tie_word_embeddings),
                     (optional, std::optional<famx::families::rope_scaling>, rope_scaling, std::nullopt))
};

template <>
struct family_traits<qwen3> : family_traits<llama> {
  static constexpr std::string_view name = "qwen3";
  static constexpr std::array<std::string_view, 1> architectures = {"Qwen3ForCausalLM"};
  static constexpr std::array<std::string_view, 1> model_types = {"qwen3"};
  static constexpr std::string_view strategy = "QwenShardingStrategy";
  static constexpr std::string_view summary =
      "dense decoder, GQA with per-head RMSNorm on q and k before RoPE (q_norm, k_norm), SwiGLU MLP";
  using config = qwen3_config;
  using attention_kind = surface::gqa_attention<surface::never, surface::never, surface::always>;
  using layer = surface::decoder_layer<attention_kind, surface::dense_glu<>>;
  using layers = surface::type_list<layer>;

  template <class Cfg>
  static std::size_t layer_kind(const Cfg&, std::int64_t) { return 0; }
  static void finalize(config&) {}
  static result<void> validate(const config& c, std::string_view file) {
    return detail::validate_gqa(c, file);
  }
  // RoPE over the whole head with rope_scaling, rotate-half pairing.
  static attention_params attention(const config& c) {
    return {.rope = {.dims = c.head_dim, .base = c.rope_theta, .scaling = c.rope_scaling}, .scale = detail::inverse_sqrt(c.head_dim)};
  }
};

}  // namespace famx::families
