#pragma once
// mlx-lm's sanitize(), as a plan and as an operation: which checkpoint tensors it drops (rotary
// inverse frequencies, a tied lm_head, the MTP layer, a mistral3 vision tower) and which it renames
// from the Hugging Face layout (per-expert `mlp.experts.N.*` stacked into `mlp.switch_mlp.*`,
// DeepSeek's `kv_b_proj` split into per-head `embed_q` / `unembed_out`, Qwen3-Next's conv1d axis
// move and +1 norm shift, FP8 `weight_scale_inv` dequantization). plan_sanitize works on names,
// dtypes and shapes only; apply_sanitize computes the renamed tensors.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "famx/io/mlx_surface.hpp"
#include "famx/io/safetensors_writer.hpp"
#include "famx/io/sharded_safetensors.hpp"
#include "famx/quant/quantize.hpp"

namespace famx::io {

// One kind of rename mlx-lm's sanitize applies to a Hugging Face layout.
enum class rename_kind { stack_experts, split_kv_b, conv_moveaxis, norm_shift, fp8_dequant };

// Stable name of a rename kind.
constexpr std::string_view to_string(rename_kind k) noexcept {
  switch (k) {
    case rename_kind::stack_experts: return "stack_experts";
    case rename_kind::split_kv_b: return "split_kv_b";
    case rename_kind::conv_moveaxis: return "conv_moveaxis";
    case rename_kind::norm_shift: return "norm_shift";
    case rename_kind::fp8_dequant: return "fp8_dequant";
  }
  return "?";
}

// One rename: the checkpoint tensors it reads and the tensors it produces (name, dtype, shape).
struct rename_step {
  rename_kind kind;
  std::vector<std::string> sources;
  std::vector<tensor_entry> targets;  // byte ranges unused
};

// A tensor sanitize() drops, and why.
struct dropped_tensor {
  std::string name;
  std::string reason;
};

// What sanitize() does to one checkpoint.
struct sanitize_plan {
  std::vector<rename_step> steps;
  std::vector<dropped_tensor> dropped;
  std::vector<error> problems;  // Hugging Face tensors that cannot be renamed (an expert missing, a bad shape)
  std::set<std::string, std::less<>> blocked;  // targets not produced because of a problem
  std::vector<tensor_entry> tensors;           // the checkpoint as mlx-lm holds it after sanitize, sorted by name
  std::map<std::string, std::size_t, std::less<>> produced_by;  // target name -> index into steps

  // Whether the checkpoint is in a Hugging Face layout (needs renames before mlx-lm can load it).
  bool needs_renames() const noexcept { return !steps.empty() || !problems.empty(); }
  // The tensor called `name` after sanitize, or nullptr.
  const tensor_entry* find(std::string_view name) const noexcept {
    auto it = std::ranges::lower_bound(tensors, name, std::less<>{}, &tensor_entry::name);
    return it != tensors.end() && it->name == name ? &*it : nullptr;
  }
  // "stacked from model.layers.1.mlp.experts.{0..7}.up_proj.weight" for a produced tensor, else "".
  std::string origin(std::string_view name) const {
    const auto it = produced_by.find(name);
    if (it == produced_by.end()) return "";
    const rename_step& s = steps[it->second];
    switch (s.kind) {
      case rename_kind::stack_experts: {
        std::string first = s.sources.front();
        const auto at = first.find(".experts.0.");
        return "stacked from " + first.replace(at, 11, ".experts.{0.." + std::to_string(s.sources.size() - 1) + "}.");
      }
      case rename_kind::split_kv_b: return "split from " + s.sources.front();
      case rename_kind::conv_moveaxis: return "moved from HF [C, 1, K] " + s.sources.front();
      case rename_kind::norm_shift: return "shifted by +1 from HF " + s.sources.front();
      case rename_kind::fp8_dequant: return "dequantized from FP8 " + s.sources.front();
    }
    return "";
  }
};

namespace detail {

// Why sanitize() drops tensor `name` of model d, or "" when it keeps it.
inline std::string drop_reason(std::string_view name, const families::model_description& d,
                               std::string_view prefix, bool hf_layout, bool mistral3) {
  if (name.ends_with("rotary_emb.inv_freq")) return "rotary inverse frequencies (sanitize drops rotary_emb.inv_freq)";
  if (mistral3 && (name.starts_with("vision_tower.") || name.starts_with("multi_modal_projector.")))
    return "the vision model (mistral3 sanitize keeps language_model.* only)";
  const std::string lm_head = std::string(prefix) + "lm_head.";
  if (d.tied && name.starts_with(lm_head)) return "lm_head of a tie_word_embeddings model (sanitize drops it)";
  if (d.family == "ministral3" && name.ends_with(".activation_scale")) return "an FP8 activation scale (sanitize drops it)";
  const auto layer = layer_of(name, prefix);
  if (d.family == "deepseek_v3" && layer == 61) return "the MTP layer (deepseek_v3 sanitize drops model.layers.61)";
  if ((d.family == "deepseek_v32" || d.family == "glm4_moe") && layer && *layer >= static_cast<std::int64_t>(d.layers.size()))
    return "the MTP layer (sanitize drops model.layers.j for j >= num_hidden_layers)";
  if (d.family == "qwen3_next" && hf_layout && name.find("mtp.") != std::string_view::npos)
    return "the MTP module (qwen3_next sanitize drops keys containing \"mtp.\")";
  return "";
}

// Position of ".mlp.experts.<n>." in name with n and the text after it, or nullopt.
struct expert_key {
  std::string base;  // "model.layers.3.mlp"
  std::int64_t index = 0;
  std::string rest;  // "up_proj.weight"
};
inline std::optional<expert_key> parse_expert(std::string_view name) {
  constexpr std::string_view mark = ".mlp.experts.";
  const auto at = name.find(mark);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view tail = name.substr(at + mark.size());
  std::int64_t i = 0;
  const auto r = std::from_chars(tail.data(), tail.data() + tail.size(), i);
  if (r.ec != std::errc{} || r.ptr == tail.data() || r.ptr == tail.data() + tail.size() || *r.ptr != '.')
    return std::nullopt;
  return expert_key{std::string(name.substr(0, at + 4)), i, std::string(r.ptr + 1, tail.data() + tail.size())};
}

inline shape prepend(std::int64_t d0, const shape& s) {
  shape out{d0};
  for (std::int64_t d : s.dims()) out.push_back(d);
  return out;
}

// The experts of every layer stacked: `base.experts.{0..E-1}.rest` -> `base.switch_mlp.rest`.
inline void plan_stack(std::span<const tensor_entry> entries, std::int64_t experts, std::set<std::string>& used,
                       sanitize_plan& plan) {
  std::map<std::pair<std::string, std::string>, std::map<std::int64_t, const tensor_entry*>> groups;
  for (const tensor_entry& e : entries)
    if (!used.contains(e.name))
      if (auto k = parse_expert(e.name)) groups[{k->base, k->rest}][k->index] = &e;
  for (const auto& [key, members] : groups) {
    const auto& [base, rest] = key;
    const std::string target = base + ".switch_mlp." + rest;
    auto name_of = [&](std::int64_t i) { return base + ".experts." + std::to_string(i) + "." + rest; };
    const tensor_entry& first = *members.begin()->second;
    bool ok = true;
    for (std::int64_t i = 0; i < experts; ++i) {
      const auto it = members.find(i);
      if (it == members.end()) {
        plan.problems.emplace_back(errc::missing, name_of(i), "no such tensor",
                                   "experts 0.." + std::to_string(experts - 1) + " to stack into " + target);
        ok = false;
      } else if (it->second->type != first.type || !(it->second->dims == first.dims)) {
        plan.problems.emplace_back(errc::inconsistent, name_of(i),
                                   std::string(to_string(it->second->type)) + " " + to_string(it->second->dims),
                                   std::string(to_string(first.type)) + " " + to_string(first.dims) + " like " +
                                       first.name + " (stacked experts share dtype and shape)");
        ok = false;
      }
    }
    for (const auto& [i, e] : members) {
      used.insert(e->name);
      if (i >= experts) {
        plan.problems.emplace_back(errc::invalid_value, e->name, "expert index " + std::to_string(i),
                                   "an index below n_experts = " + std::to_string(experts));
        ok = false;
      }
    }
    if (!ok) {
      plan.blocked.insert(target);
      continue;
    }
    rename_step s{rename_kind::stack_experts, {}, {}};
    for (std::int64_t i = 0; i < experts; ++i) s.sources.push_back(name_of(i));
    s.targets.push_back(tensor_entry{target, first.type, prepend(experts, first.dims)});
    plan.steps.push_back(std::move(s));
  }
}

// DeepSeek's kv_b_proj [H*(nope+v), kv_lora] (float, or a quantized triplet) split per head.
inline void plan_kv_b(std::span<const tensor_entry> entries, const families::model_description& d,
                      std::set<std::string>& used, sanitize_plan& plan) {
  constexpr std::string_view suffix = "kv_b_proj.weight";
  const std::int64_t h = d.dim("num_attention_heads"), lora = d.dim("kv_lora_rank"),
                     nope = d.dim("qk_nope_head_dim"), v = d.dim("v_head_dim");
  auto find = [&](const std::string& n) -> const tensor_entry* {
    auto it = std::ranges::lower_bound(entries, n, std::less<>{}, &tensor_entry::name);
    return it != entries.end() && it->name == n ? &*it : nullptr;
  };
  for (const tensor_entry& e : entries) {
    if (!e.name.ends_with(suffix) || used.contains(e.name)) continue;
    const std::string attn = e.name.substr(0, e.name.size() - suffix.size());
    const std::string eq = attn + "embed_q", uo = attn + "unembed_out";
    auto fail = [&](errc c, const std::string& name, std::string found, std::string expected) {
      plan.problems.emplace_back(c, name, std::move(found), std::move(expected));
      plan.blocked.insert(eq + ".weight");
      plan.blocked.insert(uo + ".weight");
    };
    used.insert(e.name);
    const std::string rows = "[" + std::to_string(h * (nope + v)) + ", ...] (num_attention_heads * (qk_nope_head_dim + v_head_dim) rows)";
    if (e.dims.rank() != 2 || e.dims[0] != h * (nope + v)) {
      fail(errc::shape_mismatch, e.name, to_string(e.dims), rows);
      continue;
    }
    rename_step s{rename_kind::split_kv_b, {e.name}, {}};
    if (e.type != dtype::u32) {
      if (e.dims[1] != lora) {
        fail(errc::shape_mismatch, e.name, to_string(e.dims), "[" + std::to_string(h * (nope + v)) + ", " +
                                                              std::to_string(lora) + "] (kv_lora_rank columns)");
        continue;
      }
      s.targets = {tensor_entry{eq + ".weight", e.type, {h, lora, nope}}, tensor_entry{uo + ".weight", e.type, {h, v, lora}}};
    } else {
      const std::string base = attn + "kv_b_proj";
      const tensor_entry* sc = find(base + ".scales");
      const tensor_entry* bi = find(base + ".biases");
      if (sc == nullptr || bi == nullptr) {
        fail(errc::missing, base + (sc ? ".biases" : ".scales"), "no such tensor", "the scales and biases of the packed " + e.name);
        continue;
      }
      used.insert(sc->name);
      used.insert(bi->name);
      const std::int64_t words = e.dims[1];
      const std::int64_t groups = sc->dims.rank() == 2 ? sc->dims[1] : 0;
      quant::affine_format f{static_cast<int>(words * 32 / lora), groups > 0 ? static_cast<int>(lora / groups) : 0};
      if (words * 32 % lora != 0 || groups <= 0 || lora % groups != 0 || !quant::validate(f, base) ||
          !(sc->dims == bi->dims) || sc->dims[0] != e.dims[0]) {
        fail(errc::shape_mismatch, base, "weight " + to_string(e.dims) + ", scales " + to_string(sc->dims) + ", biases " + to_string(bi->dims),
             "an affine triplet over kv_lora_rank = " + std::to_string(lora) + " columns");
        continue;
      }
      if (nope % f.group_size != 0) {
        fail(errc::not_divisible, eq, "qk_nope_head_dim = " + std::to_string(nope),
             "a multiple of the group size " + std::to_string(f.group_size) + " to requantize embed_q");
        continue;
      }
      s.sources = {e.name, sc->name, bi->name};
      const auto q = static_cast<std::size_t>(f.bits);
      for (const auto& [m, out, in] : {std::tuple{eq, lora, nope}, std::tuple{uo, v, lora}}) {
        s.targets.push_back({m + ".weight", dtype::u32, {h, out, static_cast<std::int64_t>(static_cast<std::size_t>(in) * q / 32)}});
        s.targets.push_back({m + ".scales", sc->type, {h, out, in / f.group_size}});
        s.targets.push_back({m + ".biases", sc->type, {h, out, in / f.group_size}});
      }
    }
    plan.steps.push_back(std::move(s));
  }
}

// Qwen3-Next's HF conventions: conv1d [C, 1, K] -> [C, K, 1], zero-centred norms +1.
inline void plan_qwen3_next(std::span<const tensor_entry> entries, std::set<std::string>& used, sanitize_plan& plan) {
  for (const tensor_entry& e : entries) {
    if (used.contains(e.name)) continue;
    if (e.name.ends_with(".conv1d.weight") && e.dims.rank() == 3 && e.dims[2] != 1) {
      used.insert(e.name);
      plan.steps.push_back({rename_kind::conv_moveaxis, {e.name}, {{e.name, e.type, {e.dims[0], e.dims[2], e.dims[1]}}}});
      continue;
    }
    const bool shifted = e.dims.rank() == 1 &&
                         (e.name.ends_with(".input_layernorm.weight") || e.name.ends_with(".post_attention_layernorm.weight") ||
                          e.name.ends_with("model.norm.weight") || e.name.ends_with(".q_norm.weight") ||
                          e.name.ends_with(".k_norm.weight"));
    if (shifted) {
      used.insert(e.name);
      plan.steps.push_back({rename_kind::norm_shift, {e.name}, {{e.name, e.type, e.dims}}});
    }
  }
}

// FP8 checkpoints: `X.weight` (F8_E4M3) with `X.weight_scale_inv` (per 128x128 block, or one scalar).
inline void plan_fp8(std::span<const tensor_entry> entries, std::set<std::string>& used, sanitize_plan& plan) {
  constexpr std::string_view suffix = "_scale_inv";
  for (const tensor_entry& e : entries) {
    if (!e.name.ends_with(".weight_scale_inv") || used.contains(e.name)) continue;
    const std::string w = e.name.substr(0, e.name.size() - suffix.size());
    auto it = std::ranges::lower_bound(entries, w, std::less<>{}, &tensor_entry::name);
    used.insert(e.name);
    if (it == entries.end() || it->name != w) {
      plan.problems.emplace_back(errc::missing, w, "no such tensor", "the FP8 weight " + e.name + " scales");
      continue;
    }
    used.insert(w);
    const auto blocks = [](std::int64_t n) { return (n + 127) / 128; };
    const bool scalar = e.dims.numel() == 1;
    const bool block = it->dims.rank() == 2 && e.dims == shape{blocks(it->dims[0]), blocks(it->dims[1])};
    if (it->type != dtype::f8_e4m3 || (!scalar && !block) ||
        (e.type != dtype::f32 && e.type != dtype::bf16 && e.type != dtype::f16)) {
      plan.problems.emplace_back(errc::shape_mismatch, e.name,
                                 std::string(to_string(e.type)) + " " + to_string(e.dims) + " for " +
                                     std::string(to_string(it->type)) + " " + to_string(it->dims),
                                 "a float scalar, or [ceil(out/128), ceil(in/128)] block scales of an f8_e4m3 weight");
      plan.blocked.insert(w);
      continue;
    }
    plan.steps.push_back({rename_kind::fp8_dequant, {w, e.name}, {{w, dtype::bf16, it->dims}}});
  }
}

}  // namespace detail

// What mlx-lm's sanitize() does to a checkpoint of model d whose tensors are `entries` (sorted by
// name, as sharded_safetensors lists them); `wrapper` is loaded_model::wrapper ("mistral3": names under "language_model.").
inline sanitize_plan plan_sanitize(std::span<const tensor_entry> entries, const families::model_description& d,
                                   std::string_view wrapper = {}) {
  const std::string prefix = weight_prefix(wrapper);
  sanitize_plan plan;
  std::set<std::string> used;
  const bool hf_experts = d.experts > 0 && std::ranges::any_of(entries, [](const tensor_entry& e) {
                            return detail::parse_expert(e.name).has_value();
                          });
  for (const tensor_entry& e : entries) {
    std::string why = detail::drop_reason(e.name, d, prefix, hf_experts, wrapper == "mistral3");
    if (!why.empty()) {
      plan.dropped.push_back({e.name, std::move(why)});
      used.insert(e.name);
    }
  }
  if (d.family == "deepseek_v3" || d.family == "deepseek_v32" || d.family == "ministral3")
    detail::plan_fp8(entries, used, plan);
  if (hf_experts) detail::plan_stack(entries, d.experts, used, plan);
  if (d.family == "deepseek_v3" || d.family == "deepseek_v32") detail::plan_kv_b(entries, d, used, plan);
  if (d.family == "qwen3_next" && hf_experts) detail::plan_qwen3_next(entries, used, plan);

  for (const tensor_entry& e : entries)
    if (!used.contains(e.name)) plan.tensors.push_back(e);
  for (std::size_t i = 0; i < plan.steps.size(); ++i)
    for (const tensor_entry& t : plan.steps[i].targets) {
      plan.tensors.push_back(t);
      plan.produced_by[t.name] = i;
    }
  std::ranges::sort(plan.tensors, std::less<>{}, &tensor_entry::name);
  return plan;
}

// A checkpoint after sanitize: views into the files for kept tensors, into `owned` for computed ones.
struct sanitized_checkpoint {
  std::vector<tensor> owned;
  std::vector<named_view> tensors;  // sorted by name

  // The view of the tensor called `name`, or nullptr.
  const named_view* find(std::string_view name) const noexcept {
    auto it = std::ranges::lower_bound(tensors, name, std::less<>{}, &named_view::name);
    return it != tensors.end() && it->name == name ? &*it : nullptr;
  }
};

namespace detail {

// Per-head split of a float kv_b [H*(nope+v), lora] (any float dtype, elements copied bit for bit):
// embed_q[h, r, c] = kv_b[h*(nope+v) + c, r], unembed_out[h, i, r] = kv_b[h*(nope+v) + nope + i, r].
inline std::pair<tensor, tensor> split_kv_b(const tensor_view& w, std::int64_t h, std::int64_t nope, std::int64_t v) {
  const std::int64_t lora = w.dims[1];
  const std::size_t es = size_of(w.type);
  tensor eq(w.type, {h, lora, nope}), uo(w.type, {h, v, lora});
  const auto* src = static_cast<const std::byte*>(w.data);
  auto* q = static_cast<std::byte*>(eq.data());
  auto* o = static_cast<std::byte*>(uo.data());
  for (std::int64_t k = 0; k < h; ++k) {
    const std::int64_t row0 = k * (nope + v);
    for (std::int64_t r = 0; r < lora; ++r)
      for (std::int64_t c = 0; c < nope; ++c)
        std::memcpy(q + static_cast<std::size_t>((k * lora + r) * nope + c) * es,
                    src + static_cast<std::size_t>((row0 + c) * lora + r) * es, es);
    std::memcpy(o + static_cast<std::size_t>(k * v * lora) * es, src + static_cast<std::size_t>((row0 + nope) * lora) * es,
                static_cast<std::size_t>(v * lora) * es);
  }
  return {std::move(eq), std::move(uo)};
}

}  // namespace detail

// Applies `plan` to checkpoint c: stacks experts, splits kv_b_proj (a quantized one is dequantized
// to its scales dtype, split and requantized with the same bits and group, as mlx-lm does, with
// `mode` rounding), moves the conv axis, shifts norms, dequantizes FP8 to bf16. Fails with the
// plan's first problem when it has any.
inline result<sanitized_checkpoint> apply_sanitize(const sharded_safetensors& c, const sanitize_plan& plan,
                                                   const families::model_description& d,
                                                   quant::rounding mode = quant::rounding::gpu) {
  if (!plan.problems.empty()) return plan.problems.front();
  sanitized_checkpoint out;
  std::map<std::string, tensor_view, std::less<>> made;
  auto keep = [&](const std::string& name, tensor t) {
    out.owned.push_back(std::move(t));
    made[name] = out.owned.back().view();
  };
  for (const rename_step& s : plan.steps) {
    std::vector<tensor_view> src;
    for (const std::string& n : s.sources) {
      auto v = c.tensor(n);
      if (!v) return v.err();
      src.push_back(*v);
    }
    const tensor_entry& t0 = s.targets.front();
    switch (s.kind) {
      case rename_kind::stack_experts: {
        tensor t(t0.type, t0.dims);
        auto* p = static_cast<std::byte*>(t.data());
        for (const tensor_view& v : src) std::memcpy(p, v.data, v.nbytes()), p += v.nbytes();
        keep(t0.name, std::move(t));
        break;
      }
      case rename_kind::split_kv_b: {
        const std::int64_t h = d.dim("num_attention_heads"), nope = d.dim("qk_nope_head_dim"), v = d.dim("v_head_dim");
        if (src.size() == 1) {
          auto [eq, uo] = detail::split_kv_b(src[0], h, nope, v);
          keep(s.targets[0].name, std::move(eq));
          keep(s.targets[1].name, std::move(uo));
          break;
        }
        const std::int64_t lora = d.dim("kv_lora_rank");
        const quant::affine_format f{static_cast<int>(src[0].dims[1] * 32 / lora), static_cast<int>(lora / src[1].dims[1])};
        auto w = quant::make_qmatrix_view(src[0], src[1], src[2], f, s.sources[0]);
        if (!w) return w.err();
        const tensor dense = quant::dequantize(*w, src[1].type);
        auto [eq, uo] = detail::split_kv_b(dense.view(), h, nope, v);
        for (std::size_t k = 0; k < 2; ++k) {
          auto q = quant::quantize((k == 0 ? eq : uo).view(), f, src[1].type, mode, s.targets[3 * k].name);
          if (!q) return q.err();
          keep(s.targets[3 * k].name, std::move(q->packed));
          keep(s.targets[3 * k + 1].name, std::move(q->scales));
          keep(s.targets[3 * k + 2].name, std::move(q->biases));
        }
        break;
      }
      case rename_kind::conv_moveaxis:  // moving a size-1 axis keeps the bytes: a view, no copy
        made[t0.name] = tensor_view::contiguous(src[0].data, t0.type, t0.dims);
        break;
      case rename_kind::norm_shift: {
        tensor t(t0.type, t0.dims);
        for (std::int64_t i = 0; i < t0.dims.numel(); ++i)
          store_float(t.data(), t0.type, static_cast<std::size_t>(i), load_float(src[0].data, t0.type, static_cast<std::size_t>(i)) + 1.0f);
        keep(t0.name, std::move(t));
        break;
      }
      case rename_kind::fp8_dequant: {
        tensor t(dtype::bf16, t0.dims);
        const std::int64_t cols = t0.dims.dim(-1), rows = t0.dims.numel() / std::max<std::int64_t>(cols, 1);
        const bool scalar = src[1].numel() == 1;
        const std::int64_t bcols = (cols + 127) / 128;
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t j = 0; j < cols; ++j) {
            const auto i = static_cast<std::size_t>(r * cols + j);
            const auto si = scalar ? 0 : static_cast<std::size_t>(r / 128 * bcols + j / 128);
            store_float(t.data(), dtype::bf16, i, load_float(src[0].data, dtype::f8_e4m3, i) * load_float(src[1].data, src[1].type, si));
          }
        keep(t0.name, std::move(t));
        break;
      }
    }
  }
  for (const tensor_entry& e : plan.tensors) {
    if (auto it = made.find(e.name); it != made.end()) {
      out.tensors.push_back({e.name, it->second});
      continue;
    }
    auto v = c.tensor(e.name);
    if (!v) return v.err();
    out.tensors.push_back({e.name, *v});
  }
  return out;
}

}  // namespace famx::io
