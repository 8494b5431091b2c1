#pragma once
// model::model_spec: what the reference forward needs to know of a model, built from a family's
// typed config.json (famx::families::*) by spec_of<Family>: sizes, the RoPE of each attention
// (spec 2.x: which variant, partial or interleaved), the attention scale, and for each decoder
// layer its attention kind and MLP kind (from family_traits<Family>::layer_kind).

#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

#include "famx/families/deepseek_v32.hpp"
#include "famx/families/glm4_moe.hpp"
#include "famx/families/llama.hpp"
#include "famx/families/ministral3.hpp"
#include "famx/families/moe.hpp"
#include "famx/families/qwen3.hpp"
#include "famx/families/qwen3_moe.hpp"
#include "famx/families/qwen3_next.hpp"
#include "famx/model/rope.hpp"

namespace famx::model {

// The attention of one decoder layer.
enum class attention_kind {
  gqa,        // grouped-query attention (self_attn.{q,k,v,o}_proj, optional q_norm / k_norm, biases)
  gated,      // Qwen3-Next gated full attention (q_proj doubled: queries and a sigmoid output gate)
  mla,        // DeepSeek multi-head latent attention (with the V3.2 indexer when index_topk > 0)
  delta_net,  // Qwen3-Next gated DeltaNet (linear_attn)
};
// The MLP of one decoder layer.
enum class mlp_kind { dense, moe };

// One decoder layer's kinds.
struct layer_spec {
  attention_kind attention = attention_kind::gqa;
  mlp_kind mlp = mlp_kind::dense;
};

// A model for the reference forward: HF config names in comments.
struct model_spec {
  std::string family;
  std::size_t hidden = 0, vocab = 0, intermediate = 0;  // hidden_size, vocab_size, intermediate_size
  float eps = 1e-6f;                                     // rms_norm_eps
  bool tied = false;                                     // tie_word_embeddings (lm_head = embed_tokens)
  std::vector<layer_spec> layers;

  // Full attention (gqa, gated).
  std::size_t heads = 0, kv_heads = 0, head_dim = 0;  // num_attention_heads, num_key_value_heads, head_dim
  bool qkv_bias = false, o_bias = false, qk_norm = false, mlp_bias = false;
  famx::model::rope rope;  // the attention's RoPE (MLA: on the qk_rope_head_dim part)
  float scale = 1.0f;      // softmax scale
  double llama4_beta = 0;  // Ministral 3: q *= 1 + beta * ln(1 + floor(pos / llama4_orig))
  std::size_t llama4_orig = 1;

  // MLA (deepseek_v3, deepseek_v32).
  std::size_t q_lora = 0, kv_lora = 0, nope = 0, rope_dim = 0, v_dim = 0;  // q_lora_rank (0: q_proj), ...
  bool mla_bias = false;                                                    // attention_bias
  std::size_t index_heads = 0, index_dim = 0, index_topk = 0;               // index_n_heads, ... (0: no indexer)
  famx::model::rope index_rope;

  // Gated DeltaNet (qwen3_next linear_attn).
  std::size_t nk = 0, nv = 0, dk = 0, dv = 0, conv_kernel = 0;  // linear_num_key_heads, ..., linear_conv_kernel_dim

  // MoE.
  moe::routing_config routing;
  std::size_t moe_intermediate = 0, shared_intermediate = 0;  // moe_intermediate_size, shared experts' size (0: none)
  bool shared_gate = false;   // Qwen3-Next: shared_expert scaled by sigmoid(shared_expert_gate x)
  bool router_bias = false;   // DeepSeek / GLM: mlp.gate.e_score_correction_bias

  // Derived sizes of the gated DeltaNet.
  std::size_t key_dim() const { return nk * dk; }
  std::size_t value_dim() const { return nv * dv; }
  std::size_t conv_dim() const { return 2 * key_dim() + value_dim(); }
};

namespace detail {

// The attention and MLP kinds of Family's layer kind index (family_traits<Family>::layers order).
template <class Family>
layer_spec layer_of(std::size_t kind) {
  using F = Family;
  if constexpr (std::is_same_v<F, families::qwen3_next>)
    return {kind % 2 == 0 ? attention_kind::delta_net : attention_kind::gated, kind < 2 ? mlp_kind::moe : mlp_kind::dense};
  else if constexpr (std::is_same_v<F, families::deepseek_v3> || std::is_same_v<F, families::deepseek_v32>)
    return {attention_kind::mla, kind == 0 ? mlp_kind::moe : mlp_kind::dense};
  else if constexpr (std::is_same_v<F, families::qwen3_moe> || std::is_same_v<F, families::glm4_moe>)
    return {attention_kind::gqa, kind == 0 ? mlp_kind::moe : mlp_kind::dense};
  else
    return {attention_kind::gqa, mlp_kind::dense};
}

inline std::size_t to_size(std::int64_t v) { return static_cast<std::size_t>(v); }
inline std::size_t to_size(const std::optional<std::int64_t>& v) { return static_cast<std::size_t>(v.value_or(0)); }

}  // namespace detail

// The model_spec of a parsed, finalized config of Family.
template <class Family>
result<model_spec> spec_of(const typename families::family_traits<Family>::config& c) {
  using traits = families::family_traits<Family>;
  using F = Family;
  model_spec s;
  s.family = std::string(traits::name);
  s.hidden = detail::to_size(c.hidden_size);
  s.vocab = detail::to_size(c.vocab_size);
  s.intermediate = detail::to_size(c.intermediate_size);
  s.eps = static_cast<float>(c.rms_norm_eps);
  s.tied = traits::tied(c);
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) s.layers.push_back(detail::layer_of<F>(traits::layer_kind(c, i)));
  s.heads = detail::to_size(c.num_attention_heads);
  s.kv_heads = detail::to_size(c.num_key_value_heads);

  result<famx::model::rope> r = famx::model::rope{};
  if constexpr (std::is_same_v<F, families::deepseek_v3> || std::is_same_v<F, families::deepseek_v32>) {
    s.q_lora = detail::to_size(c.q_lora_rank);
    s.kv_lora = detail::to_size(c.kv_lora_rank);
    s.nope = detail::to_size(c.qk_nope_head_dim);
    s.rope_dim = detail::to_size(c.qk_rope_head_dim);
    s.v_dim = detail::to_size(c.v_head_dim);
    s.mla_bias = c.attention_bias;
    s.kv_heads = s.heads;
    s.head_dim = s.nope + s.rope_dim;
    r = make_rope(s.rope_dim, c.rope_theta, true, c.rope_scaling);
    // mlx-lm DeepseekV3Attention: scale = qd^-0.5, times mscale^2 when mscale_all_dim and factor > 1.
    double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
    if (c.rope_scaling && c.rope_scaling->mscale_all_dim && c.rope_scaling->factor.value_or(1) > 1) {
      const double m = yarn_get_mscale(*c.rope_scaling->factor, *c.rope_scaling->mscale_all_dim);
      scale *= m * m;
    }
    s.scale = static_cast<float>(scale);
    if constexpr (std::is_same_v<F, families::deepseek_v32>) {
      s.index_heads = detail::to_size(c.index_n_heads);
      s.index_dim = detail::to_size(c.index_head_dim);
      s.index_topk = detail::to_size(c.index_topk);
      auto ir = make_rope(s.rope_dim, c.rope_theta, c.indexer_rope_interleave, c.rope_scaling);
      if (!ir) return ir.err();
      s.index_rope = std::move(*ir);
    }
    if (c.n_routed_experts) {
      s.routing = families::routing_of(c);
      s.moe_intermediate = detail::to_size(c.moe_intermediate_size);
      s.shared_intermediate = detail::to_size(c.n_shared_experts) * s.moe_intermediate;
      s.router_bias = true;
    }
  } else {
    s.head_dim = detail::to_size(c.head_dim);
    s.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.head_dim)));
    if constexpr (std::is_same_v<F, families::llama>) {
      s.qkv_bias = s.o_bias = c.attention_bias;
      s.mlp_bias = c.mlp_bias;
      r = make_rope(s.head_dim, c.rope_theta, c.rope_traditional, c.rope_scaling);
    } else if constexpr (std::is_same_v<F, families::qwen3>) {
      s.qk_norm = true;
      r = make_rope(s.head_dim, c.rope_theta, false, c.rope_scaling);
    } else if constexpr (std::is_same_v<F, families::qwen3_moe>) {
      s.qk_norm = true;
      r = make_rope(s.head_dim, c.rope_theta, false, std::nullopt);  // mlx-lm ignores rope_scaling here
    } else if constexpr (std::is_same_v<F, families::qwen3_next>) {
      s.qk_norm = true;
      s.qkv_bias = c.attention_bias;
      const auto dims = static_cast<std::size_t>(static_cast<double>(s.head_dim) * c.partial_rotary_factor);
      r = make_rope(dims, c.rope_theta, false, c.rope_scaling);
      s.nk = detail::to_size(c.linear_num_key_heads);
      s.nv = detail::to_size(c.linear_num_value_heads);
      s.dk = detail::to_size(c.linear_key_head_dim);
      s.dv = detail::to_size(c.linear_value_head_dim);
      s.conv_kernel = detail::to_size(c.linear_conv_kernel_dim);
      s.shared_intermediate = detail::to_size(c.shared_expert_intermediate_size);
      s.shared_gate = true;
    } else if constexpr (std::is_same_v<F, families::glm4_moe>) {
      s.qk_norm = c.use_qk_norm;
      s.qkv_bias = c.attention_bias;
      const auto dims = static_cast<std::size_t>(static_cast<double>(s.head_dim) * c.partial_rotary_factor);
      r = make_rope(dims, c.rope_theta, false, std::nullopt);  // mlx-lm ignores rope_scaling here
      s.shared_intermediate = detail::to_size(c.n_shared_experts) * detail::to_size(c.moe_intermediate_size);
      s.router_bias = true;
    } else if constexpr (std::is_same_v<F, families::ministral3>) {
      const auto& p = *c.rope_parameters;
      r = make_rope(s.head_dim, p.rope_theta.value_or(10000), false, c.rope_parameters, "rope_parameters");
      if (p.llama_4_scaling_beta) {
        s.llama4_beta = *p.llama_4_scaling_beta;
        s.llama4_orig = static_cast<std::size_t>(p.original_max_position_embeddings.value_or(1));
      }
    }
    if constexpr (families::has_router<F>) {
      s.routing = families::routing_of(c);
      s.moe_intermediate = detail::to_size(c.moe_intermediate_size);
    }
  }
  if (!r) return r.err();
  s.rope = std::move(*r);
  return s;
}

}  // namespace famx::model
