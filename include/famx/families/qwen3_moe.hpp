#pragma once
// Qwen3-MoE (model_type `qwen3_moe`): Qwen3 attention; layer i is MoE iff i is not in
// mlp_only_layers, num_experts > 0 and (i+1) % decoder_sparse_step == 0. The MoE block is a
// softmax router `mlp.gate` (8-bit when converted) and `mlp.switch_mlp`; no shared expert.

#include <algorithm>

#include "famx/core/routing_config.hpp"
#include "famx/families/qwen3.hpp"

namespace famx::families {

// Family tag for HF model_type "qwen3_moe".
struct qwen3_moe {};

// mlx-lm qwen3_moe.ModelArgs: Qwen3's fields plus the experts' (rope_scaling accepted, unused).
struct qwen3_moe_config : qwen3_config {
  FAMX_CONFIG_FIELDS_EXTEND(qwen3_moe_config, qwen3_config,
                            (required, std::int64_t, num_experts),
                            (required, std::int64_t, num_experts_per_tok),
                            (required, std::int64_t, decoder_sparse_step),
                            (required, std::vector<std::int64_t>, mlp_only_layers),
                            (required, std::int64_t, moe_intermediate_size),
                            (required, bool, norm_topk_prob))
};

namespace detail {
// Qwen's MoE-layer rule (qwen3_moe, qwen3_next).
template <class Cfg>
bool qwen_is_moe(const Cfg& c, std::int64_t i) {
  return std::find(c.mlp_only_layers.begin(), c.mlp_only_layers.end(), i) == c.mlp_only_layers.end() &&
         c.num_experts > 0 && (i + 1) % c.decoder_sparse_step == 0;
}

// Checks of a softmax-routed expert configuration.
template <class Cfg>
result<void> validate_qwen_moe(const Cfg& c, std::string_view file) {
  for (auto [k, v] : {std::pair<std::string_view, std::int64_t>{"num_experts", c.num_experts},
                      {"num_experts_per_tok", c.num_experts_per_tok},
                      {"decoder_sparse_step", c.decoder_sparse_step},
                      {"moe_intermediate_size", c.moe_intermediate_size}})
    if (auto r = positive(file, k, v); !r) return r;
  if (c.num_experts_per_tok > c.num_experts)
    return bad_value(errc::inconsistent, file, "num_experts_per_tok", std::to_string(c.num_experts_per_tok),
                     "at most num_experts = " + std::to_string(c.num_experts));
  for (std::size_t j = 0; j < c.mlp_only_layers.size(); ++j)
    if (c.mlp_only_layers[j] < 0 || c.mlp_only_layers[j] >= c.num_hidden_layers)
      return bad_value(errc::invalid_value, file, "mlp_only_layers." + std::to_string(j),
                       std::to_string(c.mlp_only_layers[j]),
                       "a layer index in [0, num_hidden_layers = " + std::to_string(c.num_hidden_layers) + ")");
  return {};
}
}  // namespace detail

template <>
struct family_traits<qwen3_moe> : family_traits<qwen3> {
  static constexpr std::string_view name = "qwen3_moe";
  static constexpr std::array<std::string_view, 1> architectures = {"Qwen3MoeForCausalLM"};
  static constexpr std::array<std::string_view, 1> model_types = {"qwen3_moe"};
  static constexpr std::string_view summary =
      "sparse MoE decoder: Qwen3 attention (q_norm, k_norm); softmax router `gate` (8-bit when converted) "
      "choosing num_experts_per_tok of num_experts routed experts, selection on bf16 probabilities; "
      "no shared expert; rope_scaling ignored by mlx-lm";
  using config = qwen3_moe_config;
  using moe_layer = surface::decoder_layer<attention_kind, surface::qwen_moe_block>;
  using dense_layer = surface::decoder_layer<attention_kind, surface::dense_glu<>>;
  using layers = surface::type_list<moe_layer, dense_layer>;
  using sanitize = surface::type_list<families::sanitize::stack_experts>;

  template <class Cfg>
  static std::size_t layer_kind(const Cfg& c, std::int64_t i) { return detail::qwen_is_moe(c, i) ? 0 : 1; }
  static void finalize(config&) {}
  static result<void> validate(const config& c, std::string_view file) {
    if (auto r = detail::validate_gqa(c, file); !r) return r;
    return detail::validate_qwen_moe(c, file);
  }
  template <class Cfg>
  static std::int64_t experts(const Cfg& c) { return c.num_experts; }
  template <class Cfg>
  static std::int64_t experts_per_token(const Cfg& c) { return c.num_experts_per_tok; }
  template <class Cfg>
  static std::vector<divisor> tp_divisors(const Cfg& c) {
    return {{"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"moe_intermediate_size", c.moe_intermediate_size}};
  }
  // mlx-lm ignores rope_scaling for Qwen3-MoE.
  static attention_params attention(const config& c) {
    return {.rope = {.dims = c.head_dim, .base = c.rope_theta}, .scale = detail::inverse_sqrt(c.head_dim)};
  }
  // Softmax over num_experts, top num_experts_per_tok, optional renormalization.
  template <class Cfg>
  static moe::routing_config routing(const Cfg& c) {
    return {moe::scoring::softmax, static_cast<std::size_t>(c.num_experts),
            static_cast<std::size_t>(c.num_experts_per_tok), c.norm_topk_prob};
  }
};

}  // namespace famx::families
