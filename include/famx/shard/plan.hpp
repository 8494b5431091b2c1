#pragma once
// The planner: devices + a model (family, config, quantization) + a strategy -> a shard plan, or an
// error that says why not. Per rank: every tensor slice (name, rule, placement, global and local
// shape, the file tensors and their byte runs, quantized triplets cut on group boundaries), local
// head / KV-head / expert counts, the collectives in execution order, and memory (weights + KV
// cache for a context length) checked against the device.
//
// Strategies:
//   tensor    Exo's tensor parallelism over all devices (tensor_parallel.hpp rules; one all_sum per
//             attention block and one per MLP / MoE block).
//   expert    expert parallelism for the routed experts (expert_parallel.hpp), attention and dense
//             MLPs tensor-parallel over the same ranks; every rank routes every token, runs the
//             (token, slot) pairs of the experts it holds, and an all_gather hands each slot's
//             output from its expert's rank to all. Shared experts are replicated (default) or
//             tensor-parallel (then one all_sum).
//   pipeline  contiguous layer ranges (pipeline.hpp), activations sent rank r -> r + 1, the
//             logits broadcast from the last stage.
//   automatic one device: everything on it; else tensor when it is legal and fits, else expert
//             for MoE models when legal and it fits, else pipeline. Tensor first: every device
//             streams its share of every layer's weights concurrently, which is what decode speed is
//             made of; pipeline stages run one after the other for a single sequence.
// Card restrictions (Exo): a card with supports_tensor = false refuses tensor; Exo's ban of
// pipeline for mlx-community/DeepSeek-V3.1-8bit applies to pipeline.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "famx/io/config.hpp"
#include "famx/io/model_cards.hpp"
#include "famx/shard/exo_rules.hpp"
#include "famx/shard/expert_parallel.hpp"
#include "famx/shard/kv_cache.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/shard/pipeline.hpp"
#include "famx/shard/slice.hpp"

namespace famx::shard {

// One collective, where it happens and what it carries per token.
struct collective {
  std::string op;     // all_sum, reduce_scatter, all_gather, all_to_all, send, recv
  std::string after;  // the module whose output it carries ("model.layers.3.self_attn.o_proj")
  std::string axis;   // tp, ep or pp
  std::int64_t bytes_per_token = 0;  // bytes of fp32 activations one rank contributes per token
};

// One logical tensor on one rank.
struct tensor_plan {
  std::string name;
  tp_rule rule = tp_rule::replicated;
  placement place;
  partition_spec spec;
  shape global, local;
  std::optional<quant::affine_format> format;
  std::vector<file_slice> files;  // the checkpoint tensors holding it, with the rank's blocks

  // Bytes the rank holds for this tensor.
  std::int64_t bytes() const {
    std::int64_t n = 0;
    for (const auto& f : files) n += static_cast<std::int64_t>(f.local_bytes());
    return n;
  }
};

// What one rank holds and does.
struct rank_plan {
  int rank = 0;
  std::string device;
  std::int64_t device_memory = 0;
  layer_range layers;  // the decoder layers it runs (all of them except under pipeline)
  std::int64_t heads = 0, kv_heads = 0;  // attention heads and KV heads it computes (0 KV heads: MLA's replicated latent)
  std::int64_t linear_key_heads = 0, linear_value_heads = 0;  // Qwen3-Next linear attention
  std::vector<std::int64_t> experts;  // routed experts it holds (global ids); all under tensor / pipeline
  std::string expert_share;           // "all 128, 1/2 of moe_intermediate_size each", "16 of 128"
  std::vector<tensor_plan> tensors;
  std::vector<collective> collectives;  // in execution order for one forward step
  std::int64_t weight_bytes = 0, kv_cache_bytes = 0;

  std::int64_t total_bytes() const { return weight_bytes + kv_cache_bytes; }
};

// A whole plan.
struct shard_plan {
  std::string family;
  std::string model;  // model id or config path, as given
  strategy kind = strategy::tensor;
  int world = 1;
  std::int64_t context_tokens = 0;
  std::vector<std::string> layer_kinds;  // per decoder layer: "mla/moe", "linear_attention/moe", ...
  std::vector<rank_plan> ranks;
  std::vector<std::string> notes;  // why automatic chose what it chose, policies applied
  // Whether a split forward reproduces the unsplit logits bit for bit: every row-parallel split cuts
  // the kernels' summation tree at its subtrees (see exact_split); pipeline and expert splits always do.
  bool exact = true;
};

// What the planner may do.
struct plan_options {
  strategy kind = strategy::automatic;
  std::int64_t context_tokens = 4096;  // KV cache sized for this many tokens (batch 1)
  bool kv_replication = false;         // replicate KV heads when fewer than the TP degree (vLLM)
  expert_placement experts = expert_placement::linear;
  bool shared_experts_tensor_parallel = false;  // under expert parallelism; else replicated
  layer_weighting weighting = layer_weighting::equal;  // pipeline: Exo's layer counts, or real bytes
  std::string model_id;  // Hugging Face id, to apply its card's placement restrictions
};

namespace detail {

// Bytes one token's hidden state takes in the split forward's collectives (fp32).
inline std::int64_t hidden_bytes(const families::model_description& d) { return d.dim("hidden_size") * 4; }

// The tensor plan of t under rule r with `blocks` (in logical coordinates), placed on mesh axis `axis`.
inline tensor_plan make_tensor_plan(const surface::tensor_entry& t, tp_rule r, std::vector<block> blocks,
                                    const std::optional<io::quantization_config>& q, std::string_view axis) {
  tensor_plan p;
  p.name = t.name;
  p.rule = r;
  p.place = blocks.empty() ? placement::replicate() : placement::shard(blocks.front().axis);
  p.spec = blocks.empty() ? partition_spec(t.dims.rank()) : tp_spec(t, r, axis);
  p.global = t.dims;
  p.local = local_shape(t, blocks);
  p.format = io::stored_format(t, q);
  p.files = file_slices(t, p.format, t.float_dtype, blocks);
  return p;
}

// Sums the tensor plans' and KV cache bytes of a rank.
inline result<void> account(rank_plan& r, const families::model_description& d, std::int64_t context, std::int64_t tp) {
  r.weight_bytes = 0;
  for (const auto& t : r.tensors) r.weight_bytes += t.bytes();
  r.kv_cache_bytes = 0;
  for (std::int64_t i = r.layers.begin; i < r.layers.end; ++i) {
    auto kv = kv_cache_bytes(d, i, context, tp);
    if (!kv) return kv.err();
    r.kv_cache_bytes += *kv;
  }
  return {};
}

// Checks that every rank fits its device.
inline result<void> check_memory(const shard_plan& p) {
  for (const rank_plan& r : p.ranks)
    if (r.total_bytes() > r.device_memory)
      return error(errc::invalid_value, "devices." + std::to_string(r.rank),
                   r.device + " needs " + detail::gb_text(r.total_bytes(), 2) + " (weights " + detail::gb_text(r.weight_bytes, 2) +
                       " + KV cache " + detail::gb_text(r.kv_cache_bytes, 2) + " for " + std::to_string(p.context_tokens) +
                       " tokens) under " + std::string(to_string(p.kind)) + " parallelism",
                   "at most its " + detail::gb_text(r.device_memory, 2));
  return {};
}

// Rank-independent collectives of a tensor- (or expert-) parallel plan, as the split forward runs
// them (model/rank_context.hpp): an all_sum after each row-parallel block (attention, dense MLP); per
// MoE layer, the routed experts' per-slot outputs made whole (all_sum of every slot's partial sums
// under tensor parallelism, all_gather of the owners' outputs under expert parallelism), then an
// all_sum of a tensor-parallel shared expert. Collectives only move bytes; sums are formed locally.
inline void tp_collectives(rank_plan& r, const families::model_description& d, int n, bool expert,
                           bool shared_tp) {
  if (n == 1) return;
  const std::int64_t h = hidden_bytes(d), k = d.experts_per_token;
  for (const auto& l : d.layers) {
    const std::string p = "model.layers." + std::to_string(l.index);
    r.collectives.push_back({"all_sum", p + "." + l.attention_output, "tp", h});
    if (l.mlp != "moe") {
      r.collectives.push_back({"all_sum", p + ".mlp.down_proj", "tp", h});
      continue;
    }
    r.collectives.push_back({expert ? "all_gather" : "all_sum", p + ".mlp.switch_mlp", expert ? "ep" : "tp", h * k});
    for (const auto& t : d.tensors)
      if (t.layer == l.index && t.name.find(".shared_expert") != std::string::npos) {
        if (!expert || shared_tp)
          r.collectives.push_back({"all_sum", p + (t.name.find(".shared_experts.") != std::string::npos ? ".mlp.shared_experts" : ".mlp.shared_expert"), "tp", h});
        break;
      }
  }
}

inline void head_counts(rank_plan& r, const families::model_description& d, int n, bool kv_replication) {
  r.heads = d.dim("num_attention_heads") / n;
  // KV heads split over the ranks (none when every layer's cache is replicated, as MLA's latent is).
  const bool split = std::ranges::any_of(d.layers, [](const families::layer_info& l) {
    return std::ranges::any_of(l.kv, [](const surface::kv_term& t) { return t.per_token && t.heads > 0; });
  });
  r.kv_heads = split ? kv_heads_of(d.dim("num_key_value_heads"), n, r.rank, kv_replication).count : 0;
  r.linear_key_heads = d.dim("linear_num_key_heads") / n;
  r.linear_value_heads = d.dim("linear_num_value_heads") / n;
}

// Whether rank 0's row-parallel slices of plan p cut every summation tree at its subtrees: the terms of
// a quantized row are its groups, of a float row its blocks of dense_sum_block columns (core/tree_sum.hpp).
// Returns the first tensor that does not, or an empty string.
inline std::string inexact_split(const shard_plan& p) {
  if (p.ranks.empty()) return {};
  for (const tensor_plan& t : p.ranks.front().tensors) {
    if (t.rule != tp_rule::row_parallel || t.local == t.global) continue;
    const auto cols = static_cast<std::size_t>(t.global.dim(-1)), local = static_cast<std::size_t>(t.local.dim(-1));
    const auto unit = t.format ? static_cast<std::size_t>(t.format->group_size) : dense_sum_block;
    if (local % unit != 0 || !tree_splits_exactly(cols / unit, cols / local)) return t.name;
  }
  return {};
}

// Tensor or expert parallelism over all devices.
inline result<shard_plan> plan_tensor(const io::loaded_model& m, std::span<const device> devices, const plan_options& o,
                                      bool expert) {
  const auto& d = m.description;
  const int n = static_cast<int>(devices.size());
  const expert_scope whole{expert, expert && !o.shared_experts_tensor_parallel};
  if (auto r = check_tensor_parallel(d, m.quantization, n, o.kv_replication, m.file, whole); !r) return r.err();
  if (expert && d.experts == 0)
    return error(errc::unsupported, "strategy", "expert parallelism for " + d.family + ", a dense model",
                 "a model with routed experts", m.file);
  if (expert && d.experts < n)
    return error(errc::not_divisible, "n_routed_experts", std::to_string(d.experts) + " experts over " + std::to_string(n) + " ranks",
                 "at least one expert per rank", m.file);
  shard_plan p;
  p.family = d.family;
  p.kind = expert ? strategy::expert : strategy::tensor;
  p.world = n;
  p.context_tokens = o.context_tokens;
  const auto tensors = io::mlx_tensors(d);
  for (int rank = 0; rank < n; ++rank) {
    rank_plan r;
    r.rank = rank;
    r.device = devices[static_cast<std::size_t>(rank)].name;
    r.device_memory = devices[static_cast<std::size_t>(rank)].memory_bytes;
    r.layers = {0, static_cast<std::int64_t>(d.layers.size())};
    head_counts(r, d, n, o.kv_replication);
    for (const auto& t : tensors) {
      tp_rule rule = rule_of(t);
      std::vector<block> blocks;
      const bool shared = t.name.find(".shared_expert") != std::string::npos;
      if (expert && t.routed_experts > 0) {
        rule = tp_rule::expert_sharded;
        blocks = expert_blocks(t.dims[0], n, rank, o.experts);
      } else if (expert && shared && !o.shared_experts_tensor_parallel) {
        rule = tp_rule::replicated;
      } else {
        blocks = tp_blocks(t, rule, n, rank, d, o.kv_replication);
      }
      r.tensors.push_back(make_tensor_plan(t, rule, std::move(blocks), m.quantization, rule == tp_rule::expert_sharded ? "ep" : "tp"));
    }
    if (d.experts > 0) {
      if (expert) {
        r.experts = local_experts(d.experts, n, rank, o.experts);
        r.expert_share = std::to_string(r.experts.size()) + " of " + std::to_string(d.experts) + " (" +
                         std::string(to_string(o.experts)) + ")";
      } else {
        for (std::int64_t e = 0; e < d.experts; ++e) r.experts.push_back(e);
        r.expert_share = "all " + std::to_string(d.experts) + ", 1/" + std::to_string(n) + " of moe_intermediate_size each";
      }
    }
    tp_collectives(r, d, n, expert, o.shared_experts_tensor_parallel);
    if (auto a = account(r, d, o.context_tokens, n); !a) return a.err();
    p.ranks.push_back(std::move(r));
  }
  if (auto c = check_memory(p); !c) return c.err();
  return p;
}

// Pipeline parallelism: stages from pipeline.hpp, whole tensors on the stage that owns them.
inline result<shard_plan> plan_stages(const io::loaded_model& m, std::span<const device> devices, const plan_options& o) {
  const auto& d = m.description;
  auto stages = plan_pipeline(d, io::storage_table(d, m.quantization), devices, o.weighting, o.context_tokens);
  if (!stages) return stages.err().at_file(m.file);
  shard_plan p;
  p.family = d.family;
  p.kind = strategy::pipeline;
  p.world = static_cast<int>(devices.size());
  p.context_tokens = o.context_tokens;
  const auto tensors = io::mlx_tensors(d);
  const std::int64_t h = hidden_bytes(d);
  for (const pipeline_stage& s : *stages) {
    rank_plan r;
    r.rank = s.rank;
    r.device = s.device;
    r.device_memory = devices[static_cast<std::size_t>(s.rank)].memory_bytes;
    r.layers = s.layers;
    head_counts(r, d, 1, false);
    for (std::int64_t e = 0; e < d.experts; ++e) r.experts.push_back(e);
    if (d.experts > 0) r.expert_share = "all " + std::to_string(d.experts) + " of its layers";
    for (const auto& t : tensors) {
      const bool mine = t.layer >= 0 ? t.layer >= s.layers.begin && t.layer < s.layers.end
                                     : (t.name == "model.embed_tokens.weight" ? s.owns_embedding : s.owns_head);
      if (mine) r.tensors.push_back(make_tensor_plan(t, tp_rule::replicated, {}, m.quantization, "pp"));
    }
    const std::string last = "model.layers." + std::to_string(s.layers.end - 1);
    if (s.rank > 0) r.collectives.push_back({"recv", "model.layers." + std::to_string(s.layers.begin - 1), "pp", h});
    if (s.rank + 1 < p.world) r.collectives.push_back({"send", last, "pp", h});
    if (p.world > 1) r.collectives.push_back({"broadcast", "lm_head", "pp", d.dim("vocab_size") * 4});  // from the last stage
    if (auto a = account(r, d, o.context_tokens, 1); !a) return a.err();
    p.ranks.push_back(std::move(r));
  }
  if (auto c = check_memory(p); !c) return c.err();
  return p;
}

// The card restrictions of Exo for strategy s (tensor / pipeline), when the model id has a card.
inline result<void> card_restrictions(const plan_options& o, strategy s) {
  const io::model_card* card = io::find_card(o.model_id);
  if (card == nullptr) return {};
  if (s == strategy::tensor && !card->supports_tensor)
    return error(errc::unsupported, "strategy",
                 "Requested Tensor sharding but this model does not support tensor parallelism: " + o.model_id,
                 "pipeline, or tensor parallelism on a model whose card allows it (Exo card supports_tensor = false)");
  if (s == strategy::pipeline && o.model_id == "mlx-community/DeepSeek-V3.1-8bit")
    return error(errc::unsupported, "strategy", "Pipeline parallelism is not supported for DeepSeek V3.1 (8-bit)",
                 "tensor parallelism for this card (Exo's placement bans pipeline for it; no reason is recorded)");
  return {};
}

}  // namespace detail

// The plan for model m on `devices` (in rank order) under options o.
inline result<shard_plan> plan(const io::loaded_model& m, std::span<const device> devices, const plan_options& o = {}) {
  if (devices.empty()) return error(errc::invalid_value, "devices", "no devices", "at least one device");
  auto run = [&](strategy s) -> result<shard_plan> {
    if (auto r = detail::card_restrictions(o, s); !r) return r.err();
    if (s == strategy::pipeline) return detail::plan_stages(m, devices, o);
    return detail::plan_tensor(m, devices, o, s == strategy::expert);
  };
  auto finish = [&](result<shard_plan> p, std::vector<std::string> notes) -> result<shard_plan> {
    if (!p) return p;
    p->model = o.model_id.empty() ? m.file : o.model_id;
    for (const auto& l : m.description.layers) p->layer_kinds.push_back(l.attention + "/" + l.mlp);
    p->notes = std::move(notes);
    if (o.kv_replication) p->notes.push_back("KV heads replicated where fewer than the tensor-parallel degree");
    return p;
  };
  if (o.kind != strategy::automatic) return finish(run(o.kind), {});
  std::vector<std::string> notes;
  // One device: no split, so no card restriction applies (Exo runs it as a one-node pipeline).
  if (devices.size() == 1)
    return finish(detail::plan_tensor(m, devices, o, false), {"automatic: one device holds the whole model"});
  std::vector<strategy> order{strategy::tensor};
  if (m.description.experts > 0) order.push_back(strategy::expert);
  order.push_back(strategy::pipeline);
  std::optional<error> last;
  for (strategy s : order) {
    auto p = run(s);
    if (p) {
      notes.push_back("automatic: chose " + std::string(to_string(s)) + " parallelism");
      return finish(std::move(p), std::move(notes));
    }
    notes.push_back("automatic: " + std::string(to_string(s)) + " parallelism rejected: " + p.err().message());
    last = p.err();
  }
  error e = *last;
  std::string why;
  for (const auto& n : notes) why += (why.empty() ? "" : "; ") + n;
  return error(e.code(), "strategy", why, "a strategy under which the model fits these devices", m.file);
}

}  // namespace famx::shard
