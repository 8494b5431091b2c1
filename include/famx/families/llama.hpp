#pragma once
// Llama 3.x (model_type `llama`; mlx-lm also maps `mistral` here): GQA without q/k norm, llama3
// RoPE scaling, embeddings tied by default (Llama 3.2 1B / 3B), biases when attention_bias / mlp_bias.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "famx/families/family_traits.hpp"

namespace famx::families {

// Family tag for HF model_type "llama".
struct llama {};

// mlx-lm llama.ModelArgs: field names are the config.json keys; defaults are mlx-lm's.
struct llama_config {
  std::string model_type;
  std::int64_t hidden_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_attention_heads = 0;
  double rms_norm_eps = 0;
  std::int64_t vocab_size = 0;
  std::optional<std::int64_t> head_dim;                 // None -> hidden_size / num_attention_heads
  std::optional<std::int64_t> max_position_embeddings;
  std::optional<std::int64_t> num_key_value_heads;      // None -> num_attention_heads
  bool attention_bias = false;
  bool mlp_bias = false;
  double rope_theta = 10000;
  bool rope_traditional = false;
  std::optional<famx::families::rope_scaling> rope_scaling;
  bool tie_word_embeddings = true;
  std::optional<std::vector<std::string>> layer_types;  // None -> all "full_attention"
  std::optional<std::int64_t> sliding_window;

  // Keys without a default in mlx-lm (a config missing one is rejected).
  static constexpr std::array<std::string_view, 7> required = {
      "model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
      "rms_norm_eps", "vocab_size"};
};

namespace detail {
// Checks shared by the GQA families: sizes positive, heads dividing hidden when head_dim is
// derived, KV heads dividing query heads.
inline std::int64_t value_or(std::int64_t v, std::int64_t) { return v; }
inline std::int64_t value_or(const std::optional<std::int64_t>& v, std::int64_t d) { return v.value_or(d); }

template <class Cfg>
result<void> validate_gqa(const Cfg& c, std::string_view file) {
  for (auto [k, v] : {std::pair<std::string_view, std::int64_t>{"hidden_size", c.hidden_size},
                      {"num_hidden_layers", c.num_hidden_layers},
                      {"intermediate_size", c.intermediate_size},
                      {"num_attention_heads", c.num_attention_heads},
                      {"vocab_size", c.vocab_size}})
    if (auto r = positive(file, k, v); !r) return r;
  const bool head_dim_given = value_or(c.head_dim, -1) != -1;
  if (!head_dim_given && c.hidden_size % c.num_attention_heads != 0)
    return bad_value(errc::inconsistent, file, "num_attention_heads", std::to_string(c.num_attention_heads),
                     "a divisor of hidden_size = " + std::to_string(c.hidden_size) +
                         " (head_dim is absent, so head_dim = hidden_size / num_attention_heads)");
  const std::int64_t kv = value_or(c.num_key_value_heads, c.num_attention_heads);
  if (auto r = positive(file, "num_key_value_heads", kv); !r) return r;
  if (c.num_attention_heads % kv != 0)
    return bad_value(errc::inconsistent, file, "num_key_value_heads", std::to_string(kv),
                     "a divisor of num_attention_heads = " + std::to_string(c.num_attention_heads));
  if (head_dim_given) return positive(file, "head_dim", value_or(c.head_dim, 0));
  return {};
}
}  // namespace detail

template <>
struct family_traits<llama> {
  static constexpr std::string_view name = "llama";
  static constexpr std::string_view strategy = "LlamaShardingStrategy";
  static constexpr std::string_view summary =
      "dense decoder, grouped-query attention, SwiGLU MLP; llama3 RoPE scaling (three frequency bands)";
  using config = llama_config;
  using layer = surface::decoder_layer<surface::gqa_attention<surface::flag<"attention_bias">>,
                                       surface::dense_glu<surface::field<"intermediate_size">,
                                                          surface::flag<"mlp_bias">>>;
  using layers = surface::type_list<layer>;
  using primary_layer = layer;

  // Index into `layers` of decoder layer i.
  template <class Cfg>
  static std::size_t layer_kind(const Cfg&, std::int64_t) { return 0; }
  // mlx-lm __post_init__: derived defaults.
  static void finalize(config& c) {
    if (!c.num_key_value_heads) c.num_key_value_heads = c.num_attention_heads;
    if (!c.head_dim && c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  // Semantic checks of a parsed config, before finalize.
  static result<void> validate(const config& c, std::string_view file) {
    return detail::validate_gqa(c, file);
  }
  template <class Cfg>
  static bool tied(const Cfg& c) { return c.tie_word_embeddings; }
  template <class Cfg>
  static std::int64_t experts(const Cfg&) { return 0; }
  template <class Cfg>
  static std::int64_t experts_per_token(const Cfg&) { return 0; }
  // What a tensor-parallel degree must divide (Exo's LlamaShardingStrategy).
  template <class Cfg>
  static std::vector<divisor> tp_divisors(const Cfg& c) {
    return {{"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", surface::field<"num_key_value_heads">::eval(c)},
            {"intermediate_size", c.intermediate_size}};
  }
};

}  // namespace famx::families

BOOST_HANA_ADAPT_STRUCT(famx::families::llama_config, model_type, hidden_size, num_hidden_layers,
                        intermediate_size, num_attention_heads, rms_norm_eps, vocab_size, head_dim,
                        max_position_embeddings, num_key_value_heads, attention_bias, mlp_bias,
                        rope_theta, rope_traditional, rope_scaling, tie_word_embeddings, layer_types,
                        sliding_window);
