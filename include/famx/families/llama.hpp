#pragma once
// Llama 3.x (model_type `llama`; mlx-lm also maps `mistral` here): GQA without q/k norm, llama3
// RoPE scaling, embeddings tied by default (Llama 3.2 1B / 3B), biases when attention_bias / mlp_bias,
// sliding-window layers where layer_types says "sliding_attention".

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "famx/families/family_traits.hpp"
#include "famx/families/sanitize.hpp"

namespace famx::families {

// Family tag for HF model_type "llama".
struct llama {};

// An optional list of strings (a config field type).
using string_list = std::optional<std::vector<std::string>>;

// mlx-lm llama.ModelArgs: field names are the config.json keys; defaults are mlx-lm's.
struct llama_config {
  FAMX_CONFIG_FIELDS(llama_config,
                     (required, std::string, model_type),
                     (required, std::int64_t, hidden_size),
                     (required, std::int64_t, num_hidden_layers),
                     (required, std::int64_t, intermediate_size),
                     (required, std::int64_t, num_attention_heads),
                     (required, double, rms_norm_eps),
                     (required, std::int64_t, vocab_size),
                     (optional, std::optional<std::int64_t>, head_dim, std::nullopt),  // None -> hidden / heads
                     (optional, std::optional<std::int64_t>, max_position_embeddings, std::nullopt),
                     (optional, std::optional<std::int64_t>, num_key_value_heads, std::nullopt),  // None -> heads
                     (optional, bool, attention_bias, false),
                     (optional, bool, mlp_bias, false),
                     (optional, double, rope_theta, 10000),
                     (optional, bool, rope_traditional, false),
                     (optional, std::optional<famx::families::rope_scaling>, rope_scaling, std::nullopt),
                     (optional, bool, tie_word_embeddings, true),
                     (optional, string_list, layer_types, std::nullopt),  // None -> all "full_attention"
                     (optional, std::optional<std::int64_t>, sliding_window, std::nullopt))
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

// Checks layer_types (one "full_attention" or "sliding_attention" per layer) and that
// sliding_window is a positive size when some layer slides.
template <class Cfg>
result<void> validate_layer_types(const Cfg& c, std::string_view file) {
  if (!c.layer_types) return {};
  const auto& t = *c.layer_types;
  if (static_cast<std::int64_t>(t.size()) != c.num_hidden_layers)
    return bad_value(errc::inconsistent, file, "layer_types", std::to_string(t.size()) + " entries",
                     "one per layer: num_hidden_layers = " + std::to_string(c.num_hidden_layers));
  bool sliding = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] != "full_attention" && t[i] != "sliding_attention")
      return bad_value(errc::unsupported, file, "layer_types." + std::to_string(i), "\"" + t[i] + "\"",
                       "\"full_attention\" or \"sliding_attention\" (the layer types mlx-lm builds)");
    sliding = sliding || t[i] == "sliding_attention";
  }
  if (sliding && c.sliding_window.value_or(0) <= 0)
    return bad_value(errc::missing, file, "sliding_window",
                     c.sliding_window ? std::to_string(*c.sliding_window) : std::string("no such key (or null)"),
                     "a positive window for the sliding_attention layers");
  return {};
}

// Index into {full, sliding} layers of layer i by layer_types (absent: every layer full).
template <class Cfg>
std::size_t sliding_kind(const Cfg& c, std::int64_t i) {
  return c.layer_types && (*c.layer_types)[static_cast<std::size_t>(i)] == "sliding_attention" ? 1 : 0;
}

// The softmax scale 1 / sqrt(head_dim).
inline double inverse_sqrt(std::int64_t head_dim) { return 1.0 / std::sqrt(static_cast<double>(head_dim)); }
}  // namespace detail

template <>
struct family_traits<llama> {
  static constexpr std::string_view name = "llama";
  static constexpr std::array<std::string_view, 2> architectures = {"LlamaForCausalLM", "MistralForCausalLM"};
  static constexpr std::array<std::string_view, 2> model_types = {"llama", "mistral"};
  static constexpr std::string_view strategy = "LlamaShardingStrategy";
  static constexpr std::string_view summary =
      "dense decoder, grouped-query attention, SwiGLU MLP; llama3 RoPE scaling (three frequency bands)";
  using config = llama_config;
  using mlp = surface::dense_glu<surface::field<"intermediate_size">, surface::flag<"mlp_bias">>;
  using layer = surface::decoder_layer<surface::gqa_attention<surface::flag<"attention_bias">>, mlp>;
  using sliding_layer = surface::decoder_layer<surface::sliding_attention<surface::flag<"attention_bias">>, mlp>;
  using layers = surface::type_list<layer, sliding_layer>;
  using sanitize = surface::type_list<>;

  // Index into `layers` of decoder layer i: full or sliding attention, by layer_types.
  template <class Cfg>
  static std::size_t layer_kind(const Cfg& c, std::int64_t i) { return detail::sliding_kind(c, i); }
  // mlx-lm __post_init__: derived defaults.
  static void finalize(config& c) {
    if (!c.num_key_value_heads) c.num_key_value_heads = c.num_attention_heads;
    if (!c.head_dim && c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  // Semantic checks of a parsed config, before finalize.
  static result<void> validate(const config& c, std::string_view file) {
    if (auto r = detail::validate_gqa(c, file); !r) return r;
    return detail::validate_layer_types(c, file);
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
  // RoPE over the whole head (rope_traditional pairing, rope_scaling), scale head_dim^-1/2.
  static attention_params attention(const config& c) {
    const std::int64_t hd = c.head_dim.value_or(0);
    return {.rope = {.dims = hd, .base = c.rope_theta, .traditional = c.rope_traditional, .scaling = c.rope_scaling},
            .scale = detail::inverse_sqrt(hd)};
  }
};

}  // namespace famx::families
