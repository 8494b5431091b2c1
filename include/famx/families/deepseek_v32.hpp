#pragma once
// DeepSeek-V3.2 (model_type `deepseek_v32`): DeepSeek-V3 plus the lightning indexer
// (`self_attn.indexer`: wq_b, wk, LayerNorm k_norm, weights_proj) that picks index_topk keys per
// query (DeepSeek sparse attention). q_lora_rank is mandatory (no q_proj path).

#include "famx/families/deepseek_v3.hpp"

namespace famx::families {

// Family tag for HF model_type "deepseek_v32".
struct deepseek_v32 {};

// mlx-lm deepseek_v32.ModelArgs: V3's fields plus the indexer's.
struct deepseek_v32_config : deepseek_v3_config {
  FAMX_CONFIG_FIELDS_EXTEND(deepseek_v32_config, deepseek_v3_config,
                            (optional, std::int64_t, index_head_dim, 128),
                            (optional, std::int64_t, index_n_heads, 64),
                            (optional, std::int64_t, index_topk, 2048),
                            (optional, bool, indexer_rope_interleave, false))
};

template <>
struct family_traits<deepseek_v32> : family_traits<deepseek_v3> {
  static constexpr std::string_view name = "deepseek_v32";
  static constexpr std::array<std::string_view, 1> architectures = {"DeepseekV32ForCausalLM"};
  static constexpr std::array<std::string_view, 1> model_types = {"deepseek_v32"};
  static constexpr std::string_view summary =
      "DeepSeek-V3 MLA + MoE with DeepSeek sparse attention: a lightning indexer (index_n_heads heads of "
      "index_head_dim, ReLU scores weighted per head) keeps the index_topk best keys per query once the "
      "context exceeds index_topk; the indexer has its own key cache and stays replicated under TP";
  using config = deepseek_v32_config;
  using attention_kind = surface::mla_attention<surface::dsa_indexer>;
  using moe_layer = surface::decoder_layer<attention_kind, surface::deepseek_moe_block>;
  using dense_layer = surface::decoder_layer<attention_kind, surface::dense_glu<>>;
  using layers = surface::type_list<moe_layer, dense_layer>;
  using sanitize = surface::type_list<families::sanitize::drop_layers_past_end, families::sanitize::fp8_dequant,
                                      families::sanitize::stack_experts, families::sanitize::split_kv_b>;

  static void finalize(config&) {}
  static result<void> validate(const config& c, std::string_view file) {
    if (!c.q_lora_rank)
      return detail::bad_value(errc::invalid_value, file, "q_lora_rank", "null",
                               "an integer (deepseek_v32 has no q_proj path)");
    for (auto [k, v] : {std::pair<std::string_view, std::int64_t>{"index_head_dim", c.index_head_dim},
                        {"index_n_heads", c.index_n_heads},
                        {"index_topk", c.index_topk}})
      if (auto r = detail::positive(file, k, v); !r) return r;
    return family_traits<deepseek_v3>::validate(c, file);
  }
  // V3's attention plus the indexer's RoPE (rotate-half unless indexer_rope_interleave).
  static attention_params attention(const config& c) {
    attention_params a = family_traits<deepseek_v3>::attention(c);
    a.index_rope = rope_params{.dims = c.qk_rope_head_dim, .base = c.rope_theta, .traditional = c.indexer_rope_interleave,
                               .scaling = c.rope_scaling};
    return a;
  }
};

}  // namespace famx::families
