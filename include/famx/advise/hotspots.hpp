#pragma once
// The hotspot map: bytes read and FLOPs per token for every module (aggregated over the layers
// that have it), for decode at a context length and for prefill of a prompt, batch 1.
// Model: a matmul costs 2 FLOPs per weight it uses; decode reads every weight it uses once per
// token (routed experts: k of E; embed_tokens: one row); prefill reads each weight once per prompt
// (routed experts: the expected number of distinct experts E*(1-(1-k/E)^L) under uniform routing).
// Attention cores add their cache traffic: GQA K/V (bf16), MLA's latent + RoPE key, the V3.2
// indexer's keys (top index_topk positions attended), gated DeltaNet's fp32 state.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "famx/io/storage.hpp"

namespace famx::advise {

// Cost of one module per token, summed over the layers that hold it.
struct hotspot_row {
  std::string module;          // "self_attn.q_proj", "mlp.switch_mlp.down_proj", "attention core (KV cache)"
  std::int64_t layers = 0;     // how many layers hold it (0 for model-level modules)
  double decode_bytes = 0;     // bytes read per decoded token
  double decode_flops = 0;     // FLOPs per decoded token
  double prefill_bytes = 0;    // bytes read per prompt token
  double prefill_flops = 0;    // FLOPs per prompt token
};

// The whole map, rows ordered by decode bytes (the decode bottleneck), largest first.
struct hotspot_map {
  std::int64_t context = 0;  // decode: tokens attended (cache length incl. the new token)
  std::int64_t prompt = 0;   // prefill: prompt length
  std::vector<hotspot_row> rows;

  hotspot_row total() const {
    hotspot_row t{"total", 0, 0, 0, 0, 0};
    for (const auto& r : rows) {
      t.decode_bytes += r.decode_bytes;
      t.decode_flops += r.decode_flops;
      t.prefill_bytes += r.prefill_bytes;
      t.prefill_flops += r.prefill_flops;
    }
    return t;
  }
};

namespace detail {
// "model.layers.12.self_attn.q_proj" -> "self_attn.q_proj"; model-level modules keep their name.
inline std::string generic_module(const std::string& m) {
  constexpr std::string_view p = "model.layers.";
  if (m.rfind(p, 0) != 0) return m;
  const auto dot = m.find('.', p.size());
  return dot == std::string::npos ? m : m.substr(dot + 1);
}

inline hotspot_row& row(std::vector<hotspot_row>& rows, const std::string& name) {
  for (auto& r : rows)
    if (r.module == name) return r;
  rows.push_back(hotspot_row{name, 0, 0, 0, 0, 0});
  return rows.back();
}
}  // namespace detail

// The hotspot map of a model stored as `table`, decoding at `context`, prefilling `prompt` tokens.
inline hotspot_map hotspots(const families::model_description& d, const std::vector<io::stored_tensor>& table,
                            std::int64_t context, std::int64_t prompt) {
  hotspot_map h;
  h.context = std::max<std::int64_t>(context, 1);
  h.prompt = std::max<std::int64_t>(prompt, 1);
  const double L = static_cast<double>(h.prompt);
  const double E = static_cast<double>(d.experts), k = static_cast<double>(d.experts_per_token);
  const double touched = E > 0 ? E * (1 - std::pow(1 - k / E, L)) : 0;  // distinct experts per prompt

  std::set<std::pair<std::string, int>> seen;  // (module, layer) pairs already counted in `layers`
  for (const auto& s : table) {
    const auto& t = *s.tensor;
    // Raw arrays are rows of their own ("linear_attn.A_log"); module tensors group by module.
    std::string g = detail::generic_module(t.kind == surface::module_kind::parameter ? t.name : t.module);
    if (g.ends_with(".weight")) g.resize(g.size() - 7);
    auto& r = detail::row(h.rows, g);
    if (t.layer >= 0 && seen.emplace(g, t.layer).second) r.layers += 1;
    const double bytes = static_cast<double>(s.bytes);
    const bool matmul = t.packs && t.kind != surface::module_kind::embedding;
    if (t.name == "model.embed_tokens.weight") {
      const double row_bytes = bytes / static_cast<double>(t.dims[0]);
      r.decode_bytes += row_bytes;
      r.prefill_bytes += row_bytes;
      if (d.tied) {  // the tied LM head reads the whole matrix
        auto& head = detail::row(h.rows, "lm_head (tied embed_tokens)");
        head.decode_bytes += bytes;
        head.prefill_bytes += bytes / L;
        head.decode_flops += 2.0 * static_cast<double>(t.numel());
        head.prefill_flops += 2.0 * static_cast<double>(t.numel());
      }
      continue;
    }
    if (t.routed_experts) {
      r.decode_bytes += bytes * k / E;
      r.prefill_bytes += bytes * std::min(touched, E) / E / L;
    } else {
      r.decode_bytes += bytes;
      r.prefill_bytes += bytes / L;
    }
    if (matmul || (t.kind == surface::module_kind::parameter && t.name.ends_with("gate.weight"))) {
      r.decode_flops += 2.0 * static_cast<double>(d.active(t));
      r.prefill_flops += 2.0 * static_cast<double>(d.active(t));
    }
  }

  // Attention cores: per layer, positions attended at decode (C) and on average in prefill ((L+1)/2).
  const double C = static_cast<double>(h.context), Cp = (L + 1) / 2;
  for (const auto& li : d.layers) {
    if (li.attention == "linear_attention") {
      const double nv = static_cast<double>(d.dim("linear_num_value_heads"));
      const double dk = static_cast<double>(d.dim("linear_key_head_dim")), dv = static_cast<double>(d.dim("linear_value_head_dim"));
      const double conv = static_cast<double>(2 * d.dim("linear_num_key_heads") * d.dim("linear_key_head_dim") +
                                              d.dim("linear_num_value_heads") * d.dim("linear_value_head_dim"));
      auto& r = detail::row(h.rows, "linear_attn core (recurrent state)");
      r.layers += 1;
      const double state_bytes = 4 * nv * dv * dk * 2;  // fp32 state read and written each token
      const double flops = 7 * nv * dv * dk + 2 * conv * static_cast<double>(d.dim("linear_conv_kernel_dim"));
      r.decode_bytes += state_bytes;
      r.decode_flops += flops;
      r.prefill_flops += flops;  // the recurrence runs per token; its state stays on chip in a chunked kernel
      continue;
    }
    auto& r = detail::row(h.rows, "self_attn core (cache)");
    r.layers += 1;
    const double H = static_cast<double>(d.dim("num_attention_heads"));
    if (li.attention == "mla") {
      const double lora = static_cast<double>(d.dim("kv_lora_rank")), rope = static_cast<double>(d.dim("qk_rope_head_dim"));
      const double topk = static_cast<double>(d.dim("index_topk"));
      const double Cd = topk > 0 ? std::min(C, topk) : C, Cpp = topk > 0 ? std::min(Cp, topk) : Cp;
      const double per_pos = 2 * H * (lora + rope) + 2 * H * lora;
      r.decode_bytes += C * (lora + rope) * 2;
      r.decode_flops += per_pos * Cd;
      r.prefill_flops += per_pos * Cpp;
      if (topk > 0) {
        const double ih = static_cast<double>(d.dim("index_n_heads")), id = static_cast<double>(d.dim("index_head_dim"));
        auto& ix = detail::row(h.rows, "self_attn.indexer core (key scores)");
        ix.layers += 1;
        ix.decode_bytes += C * id * 2;
        ix.decode_flops += 2 * ih * id * C;
        ix.prefill_flops += 2 * ih * id * Cp;
      }
    } else {
      const double kv = static_cast<double>(d.dim("num_key_value_heads")), hd = static_cast<double>(d.dim("head_dim"));
      r.decode_bytes += C * 2 * kv * hd * 2;
      r.decode_flops += 4 * H * hd * C;
      r.prefill_flops += 4 * H * hd * Cp;
      r.prefill_bytes += 2 * kv * hd * 2;  // the token's K and V written to the cache
    }
  }
  std::stable_sort(h.rows.begin(), h.rows.end(),
                   [](const hotspot_row& a, const hotspot_row& b) { return a.decode_bytes > b.decode_bytes; });
  return h;
}

}  // namespace famx::advise
