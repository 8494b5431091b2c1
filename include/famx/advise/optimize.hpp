#pragma once
// The advisor's optimization plan: 3-5 concrete experiments for one model, computed from its
// tensor table, hotspot map and legal sharding and from famx's own kernel options (qmv_int8, the
// fused SwiGLU of the experts, tensor parallelism, MLA's absorbed form, batched prefill with qmm,
// fewer bits for routed experts). Each has its expected effect per token (bytes or FLOPs, before
// and after), a success criterion, and the fidelity check that guards it: a bit-exact test famx
// has, or a stated tolerance.

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "famx/advise/hotspots.hpp"
#include "famx/advise/sharding.hpp"
#include "famx/io/storage.hpp"
#include "famx/shard/tensor_parallel.hpp"

namespace famx::advise {

// One experiment of the plan.
struct experiment {
  std::string title;     // "int8 activations for the routed experts"
  std::string change;    // what to run differently (a famx option)
  std::string metric;    // what before/after measure ("decode bytes per token per rank")
  double before = 0, after = 0;
  std::string effect;    // the expected effect in words and numbers
  std::string success;   // how to tell it worked
  std::string fidelity;  // what guards the numbers (a bit-exact test, or a stated tolerance)
};

namespace detail {
// v formatted by printf format f ("%.2f").
inline std::string printf_text(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
inline std::string mb(double b) { return printf_text("%.2f MB", b / 1e6); }
inline std::string gflop(double f) { return printf_text("%.3f GFLOP", f / 1e9); }

// Bytes tensor s contributes to one decoded token (k of E routed experts, one embedding row).
inline double decode_bytes_of(const io::stored_tensor& s, const families::model_description& d) {
  const auto& t = *s.tensor;
  const double bytes = static_cast<double>(s.bytes);
  if (t.name == "model.embed_tokens.weight") return bytes / static_cast<double>(t.dims[0]) + (d.tied ? bytes : 0);
  if (t.routed_experts && d.experts > 0) return bytes * static_cast<double>(d.experts_per_token) / static_cast<double>(d.experts);
  return bytes;
}
}  // namespace detail

// The plan for model d stored as `table` (hotspot map `hot`, sharding verdicts `sharding`).
inline std::vector<experiment> optimization_plan(const families::model_description& d,
                                                 const std::vector<io::stored_tensor>& table, const hotspot_map& hot,
                                                 const std::vector<sharding_option>& sharding) {
  std::vector<experiment> plan;
  const hotspot_row total = hot.total();
  const double k = static_cast<double>(d.experts_per_token);

  // Quantized matmul weights by kind: what qmv_int8 would run (4- and 8-bit), and the routed share.
  double routed_bytes = 0, routed_flops = 0, int8_bytes = 0, int8_flops = 0, int8_routed_flops = 0;
  int routed_bits = 0;
  double glu_calls = 0, glu_width = 0, routed_glu_bytes_8 = 0;
  for (const auto& s : table) {
    const auto& t = *s.tensor;
    const double bytes = detail::decode_bytes_of(s, d);
    const double flops = t.packs && t.kind != surface::module_kind::embedding ? 2.0 * static_cast<double>(d.active(t)) : 0;
    if (t.routed_experts) {
      routed_bytes += bytes;
      routed_flops += flops;
      if (s.format) routed_bits = std::max(routed_bits, s.format->bits);
    }
    if (s.format && (s.format->bits == 4 || s.format->bits == 8) && flops > 0) {
      int8_bytes += bytes;
      int8_flops += flops;
      if (t.routed_experts) int8_routed_flops += flops;
    }
    if (t.packs && t.module.ends_with(".gate_proj")) {  // a GLU MLP: gate_proj and up_proj read the same input
      glu_calls += t.routed_experts ? k : 1;
      glu_width = std::max(glu_width, static_cast<double>(t.dims.dim(-1)));
    }
    if (t.routed_experts && s.format && s.format->bits > 4) routed_glu_bytes_8 += bytes * (1 - 4.0 / s.format->bits);
  }
  const bool moe_dominant = d.experts > 0 && routed_bytes >= 0.4 * total.decode_bytes;

  // 1. int8 activations (qmv_int8) where 4-/8-bit weights dominate.
  if (int8_flops > 0) {
    const bool routed = moe_dominant && int8_routed_flops > 0;
    const double f = routed ? int8_routed_flops : int8_flops;
    experiment e;
    e.title = routed ? "int8 activations for the routed experts" : "int8 activations for the 4- and 8-bit projections";
    e.change = routed ? "moe_options::int8_activations = true (the experts run qmv_int8)" : "run qmv_int8 instead of qmv";
    e.metric = "fp32 multiply-adds per decoded token (FLOPs)";
    e.before = f;
    e.after = 0;
    e.effect = detail::gflop(f) + " of the " + detail::gflop(total.decode_flops) +
               " per token become exact int8 products; the weights they read (" +
               detail::mb(routed ? routed_bytes : int8_bytes) + " per token) are unchanged, so the kernel becomes bound by reading them";
    e.success = "the decode time of these modules within 1.1x of a plain read of their " +
                detail::mb(routed ? routed_bytes : int8_bytes) + " per token (bench_moe x_roof / bench_model roofline_ms), "
                "against 1.3-1.6x with exact activations";
    e.fidelity = "not bit-exact with the exact path; tolerance per output |y - y_exact| <= sum_g |s_g| * a_g / 2 * sum_{j in g} q_j "
                 "(a_g = max|x_g|/127), tested on every SIMD target (kernels_test); accept when famx run's greedy tokens "
                 "match the exact path on the checkpoint";
    plan.push_back(std::move(e));
  }

  // 2. Fused SwiGLU: gate_proj and up_proj share one prepared activation.
  if (glu_calls > 0) {
    experiment e;
    e.title = "fused SwiGLU (gate_proj and up_proj from one prepared activation)";
    e.change = "moe_options fused experts (swiglu prepares the activation once); the same for dense GLU MLPs";
    e.metric = "activation preparations per decoded token";
    e.before = 2 * glu_calls;
    e.after = glu_calls;
    e.effect = detail::printf_text("%.0f", glu_calls) + " GLU calls per token prepare (and, with int8, quantize) their " + detail::printf_text("%.0f", glu_width) +
               "-wide input once instead of twice: " + detail::mb(glu_calls * glu_width * 4) +
               " less activation traffic per token; weight bytes and FLOPs unchanged";
    e.success = "bench_moe: the fused block's decode time below the unfused one's for this shape (medians of 3)";
    e.fidelity = "bit-exact: fused and unfused experts give identical bits (moe block_test), so famx run's tokens and "
                 "checksum must not change";
    plan.push_back(std::move(e));
  }

  // 3. Tensor parallelism: the smallest legal degree, per-rank decode bytes.
  const sharding_option* tp = nullptr;
  for (const auto& o : sharding)
    if (o.devices >= 2 && o.tensor_parallel) {
      tp = &o;
      break;
    }
  if (tp && !hot.rows.empty()) {
    const double n = tp->devices;
    double per_rank = 0, dominant = 0, dominant_rank = 0;
    const std::string& top = hot.rows.front().module;
    for (const auto& s : table) {
      const auto& t = *s.tensor;
      const double b = detail::decode_bytes_of(s, d);
      const bool split = shard::split_axis(t, shard::rule_of(t)) >= 0;
      per_rank += split ? b / n : b;
      std::string g = detail::generic_module(t.kind == surface::module_kind::parameter ? t.name : t.module);
      if (g.ends_with(".weight")) g.resize(g.size() - 7);
      if (g == top) dominant += b, dominant_rank += split ? b / n : b;
    }
    for (const auto& r : hot.rows) {  // attention cores: GQA and linear-attention state split by heads, MLA latent replicated
      if (r.module.find(" core ") == std::string::npos) continue;
      const double b = r.module.starts_with("self_attn core") && d.dim("kv_lora_rank") > 0 ? r.decode_bytes : r.decode_bytes / n;
      per_rank += b;
      if (r.module == top) dominant = r.decode_bytes, dominant_rank = b;
    }
    const double layers = static_cast<double>(d.layers.size());
    experiment e;
    e.title = "tensor parallelism over " + std::to_string(tp->devices) + " ranks";
    e.change = "famx plan --strategy tensor --devices (" + std::to_string(tp->devices) + " devices)";
    e.metric = "decode bytes per token per rank";
    e.before = total.decode_bytes;
    e.after = per_rank;
    e.effect = "the dominant module " + top + " reads " + detail::mb(dominant_rank) + " per rank instead of " + detail::mb(dominant) +
               "; the whole model " + detail::mb(per_rank) + " per rank instead of " + detail::mb(total.decode_bytes) +
               ", for 2 all_sum of " + detail::printf_text("%.0f", 2.0 * static_cast<double>(d.dim("hidden_size"))) + " bytes per layer (" +
               detail::mb(layers * 4 * static_cast<double>(d.dim("hidden_size"))) + " per token)";
    e.success = "famx plan shows each rank's weights at about 1/" + std::to_string(tp->devices) +
                " of the model's, and a decode step on the ranks takes at most 1.2x the single-rank time scaled by " +
                detail::printf_text("%.2f", per_rank / std::max(total.decode_bytes, 1.0));
    e.fidelity = (tp->devices & (tp->devices - 1)) == 0
                     ? "bit-exact (the EXACT promise): a row-parallel split over a power-of-two degree combined with tree_sum "
                       "reproduces the unsplit output bit for bit (kernels_test, 2/4/8 ranks; shard tests)"
                     : "not a power of two: the row-parallel sums reassociate; tolerance 2^-16 * sum_j |x_j w_j| per output";
    plan.push_back(std::move(e));
  }

  // 4. MLA: the absorbed form reads the latent cache without expanding per-head keys and values.
  if (std::ranges::any_of(d.layers, [](const families::layer_info& l) { return l.attention == "mla"; })) {
    const double H = static_cast<double>(d.dim("num_attention_heads")), lora = static_cast<double>(d.dim("kv_lora_rank"));
    const double rope = static_cast<double>(d.dim("qk_rope_head_dim")), nope = static_cast<double>(d.dim("qk_nope_head_dim"));
    const double v = static_cast<double>(d.dim("v_head_dim")), C = static_cast<double>(hot.context);
    double mla_layers = 0;
    for (const auto& l : d.layers) mla_layers += l.attention == "mla";
    const double naive = mla_layers * C * (2 * lora * H * (nope + v) + 2 * H * (nope + rope) + 2 * H * v);
    const double absorbed = mla_layers * C * (2 * H * (lora + rope) + 2 * H * lora);
    experiment e;
    e.title = "MLA in the absorbed form";
    e.change = "model::forward_options::mla = mla_form::absorbed (embed_q / unembed_out applied to query and output)";
    e.metric = "attention FLOPs per decoded token at context " + std::to_string(hot.context);
    e.before = naive;
    e.after = absorbed;
    e.effect = "attention over " + std::to_string(hot.context) + " cached positions costs " + detail::gflop(absorbed) + " instead of " +
               detail::gflop(naive) + " (no per-position expansion of the latent into per-head keys and values)";
    e.success = "decode time per token at long contexts grows with the latent cache bytes, not with kv_b_proj FLOPs per position";
    e.fidelity = "absorbed vs naive within 2e-6 of max |logit| on the tiny checkpoint (model_test; observed 5.2e-7)";
    plan.push_back(std::move(e));
  }

  // 5. Batched prefill: qmm reads each weight once per prompt instead of once per token.
  if (plan.size() < 5 && total.prefill_bytes < total.decode_bytes) {
    experiment e;
    e.title = "batched prefill with qmm (" + std::to_string(hot.prompt) + "-token prompt)";
    e.change = "forward() on the whole prompt at once (qmm over the prompt's tokens) instead of one token at a time";
    e.metric = "weight bytes read per prompt token";
    e.before = total.decode_bytes;
    e.after = total.prefill_bytes;
    e.effect = "each prompt token reads " + detail::mb(total.prefill_bytes) + " instead of " + detail::mb(total.decode_bytes) +
               "; prefill becomes compute-bound at " + detail::gflop(total.prefill_flops) + " per token";
    e.success = "bench_quant: qmm at this width reaches >= 50% of the fp32 FMA peak of its threads (of_peak)";
    e.fidelity = "bit-exact (the EXACT promise): a batched or chunked prompt gives the same logits as one-token steps "
                 "(model_test: prefill + decode equals full recompute bit for bit)";
    plan.push_back(std::move(e));
  }

  // 6. Fewer bits for the routed experts when they dominate and are stored above 4 bits.
  if (plan.size() < 5 && moe_dominant && routed_bits > 4 && routed_glu_bytes_8 > 0) {
    experiment e;
    e.title = "4-bit routed experts (per-module quantization overrides)";
    e.change = "requantize the switch_mlp weights at 4 bits, group 64 (an override per module; other modules keep " +
               std::to_string(routed_bits) + " bits)";
    e.metric = "decode bytes per token";
    e.before = total.decode_bytes;
    e.after = total.decode_bytes - routed_glu_bytes_8;
    e.effect = "the routed experts read " + detail::mb(routed_bytes - routed_glu_bytes_8) + " per token instead of " +
               detail::mb(routed_bytes);
    e.success = "decode time per token falls in proportion to the bytes (bench_model roofline_ms) and the model's "
                "quality on the engine's evaluation set stays within its budget";
    e.fidelity = "changes the weights: per weight |w - w^| <= scale / 2 of its group (MLX round trip, quantize_test); "
                 "famx cannot guard quality, the engine's evaluation must";
    plan.push_back(std::move(e));
  }
  if (plan.size() > 5) plan.resize(5);
  return plan;
}

}  // namespace famx::advise
