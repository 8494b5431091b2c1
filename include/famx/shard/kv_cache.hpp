#pragma once
// KV-cache bytes of one decoder layer for a context length, per rank of a tensor-parallel group.
// Per token: GQA ("full_attention") keys + values in bf16, 2 * kv_heads * head_dim * 2 bytes, with
// kv_heads = ceil(num_key_value_heads / tp) (at least one head per rank: KV heads are replicated
// when tp exceeds them); MLA ("mla") the compressed latent plus the shared rope key in bf16,
// (kv_lora_rank + qk_rope_head_dim) * 2 bytes, plus the indexer key index_head_dim * 2 bytes for
// deepseek_v32, replicated on every rank (Exo / mlx-lm keep the latent path whole); Qwen3-Next's
// gated delta net ("linear_attention") holds a state independent of the context: the fp32 recurrent
// state [nv, dv, dk] and the bf16 conv state [Kc - 1, conv_dim], conv_dim = 2 nk dk + nv dv, both
// split by tp (heads per rank rounded up). Batch size 1.

#include <cstdint>
#include <string>

#include "famx/core/error.hpp"
#include "famx/families/describe.hpp"

namespace famx::shard {

namespace detail {
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) noexcept { return (a + b - 1) / b; }
}  // namespace detail

// Bytes the cache of decoder layer `layer` holds after context_tokens tokens on one of tp_degree ranks.
inline result<std::int64_t> kv_cache_bytes(const families::model_description& d, std::int64_t layer,
                                           std::int64_t context_tokens, std::int64_t tp_degree = 1) {
  const std::string path = "layers." + std::to_string(layer);
  if (layer < 0 || layer >= static_cast<std::int64_t>(d.layers.size()))
    return error(errc::out_of_bounds, path, "layer " + std::to_string(layer),
                 "a layer in [0, " + std::to_string(d.layers.size()) + ")");
  if (context_tokens < 0)
    return error(errc::invalid_value, "context_tokens", std::to_string(context_tokens), "a count >= 0");
  if (tp_degree < 1) return error(errc::invalid_value, "tp_degree", std::to_string(tp_degree), "a degree >= 1");
  const auto& kind = d.layers[static_cast<std::size_t>(layer)].attention;
  constexpr std::int64_t bf16 = 2, f32 = 4;
  if (kind == "full_attention") {
    const std::int64_t kv = detail::ceil_div(d.dim("num_key_value_heads"), tp_degree);
    return context_tokens * 2 * kv * d.dim("head_dim") * bf16;
  }
  if (kind == "mla") {
    std::int64_t per_token = (d.dim("kv_lora_rank") + d.dim("qk_rope_head_dim")) * bf16;
    if (d.family == "deepseek_v32") per_token += d.dim("index_head_dim") * bf16;
    return context_tokens * per_token;
  }
  if (kind == "linear_attention") {
    const std::int64_t nk = detail::ceil_div(d.dim("linear_num_key_heads"), tp_degree);
    const std::int64_t nv = detail::ceil_div(d.dim("linear_num_value_heads"), tp_degree);
    const std::int64_t dk = d.dim("linear_key_head_dim"), dv = d.dim("linear_value_head_dim");
    const std::int64_t conv_dim = 2 * nk * dk + nv * dv;
    return nv * dv * dk * f32 + (d.dim("linear_conv_kernel_dim") - 1) * conv_dim * bf16;
  }
  return error(errc::unsupported, path + ".attention", "\"" + kind + "\"",
               "full_attention, mla or linear_attention");
}

}  // namespace famx::shard
