#pragma once
// The steps of mlx-lm's sanitize(), one io::sanitize_step per families::sanitize tag, each holding
// its plan (from names, dtypes and shapes only), its apply and its origin text together:
//   stack_experts   per-expert `mlp.experts.N.*` stacked into `mlp.switch_mlp.*`
//   split_kv_b      DeepSeek's kv_b_proj split per head into embed_q / unembed_out (a quantized one
//                   dequantized, split and requantized with the same bits and group, as mlx-lm does)
//   fp8_dequant     FP8 `weight` + `weight_scale_inv` dequantized to bf16
//   conv_moveaxis   Qwen3-Next conv1d [C, 1, K] -> [C, K, 1] (a view, no copy)
//   norm_shift      Qwen3-Next zero-centred norms +1
//   drop_*          the family-specific drops (MTP layers, FP8 activation scales)

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>

#include "famx/families/sanitize.hpp"
#include "famx/io/mlx_surface.hpp"
#include "famx/io/sanitize_plan.hpp"

namespace famx::io {

namespace detail {

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

template <>
struct sanitize_step<families::sanitize::stack_experts> {
  static constexpr std::string_view name = "stack_experts";

  // The experts of every layer stacked: `base.experts.{0..E-1}.rest` -> `base.switch_mlp.rest`.
  static void plan(sanitize_context& ctx) {
    if (!ctx.hf_experts) return;
    const std::int64_t experts = ctx.model.experts;
    sanitize_plan& plan = ctx.plan;
    std::map<std::pair<std::string, std::string>, std::map<std::int64_t, const tensor_entry*>> groups;
    for (const tensor_entry& e : ctx.entries)
      if (!ctx.used.contains(e.name))
        if (auto k = detail::parse_expert(e.name)) groups[{k->base, k->rest}][k->index] = &e;
    for (const auto& [key, members] : groups) {
      const std::string &base = key.first, &rest = key.second;  // named: lambdas capture them (clang 14)
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
        ctx.used.insert(e->name);
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
      rename_step s{name, {}, {}, &origin, &apply};
      for (std::int64_t i = 0; i < experts; ++i) s.sources.push_back(name_of(i));
      s.targets.push_back(tensor_entry{target, first.type, detail::prepend(experts, first.dims)});
      plan.steps.push_back(std::move(s));
    }
  }
  static std::string origin(const rename_step& s) {
    std::string first = s.sources.front();
    const auto at = first.find(".experts.0.");
    return "stacked from " + first.replace(at, 11, ".experts.{0.." + std::to_string(s.sources.size() - 1) + "}.");
  }
  static result<void> apply(const rename_step& s, std::span<const tensor_view> src, const families::model_description&,
                            quant::rounding, const rename_output& out) {
    const tensor_entry& t0 = s.targets.front();
    tensor t(t0.type, t0.dims);
    auto* p = static_cast<std::byte*>(t.data());
    for (const tensor_view& v : src) std::memcpy(p, v.data, v.nbytes()), p += v.nbytes();
    out.keep(t0.name, std::move(t));
    return {};
  }
};

template <>
struct sanitize_step<families::sanitize::split_kv_b> {
  static constexpr std::string_view name = "split_kv_b";

  // DeepSeek's kv_b_proj [H*(nope+v), kv_lora] (float, or a quantized triplet) split per head.
  static void plan(sanitize_context& ctx) {
    constexpr std::string_view suffix = "kv_b_proj.weight";
    const families::model_description& d = ctx.model;
    sanitize_plan& plan = ctx.plan;
    const std::int64_t h = d.dim("num_attention_heads"), lora = d.dim("kv_lora_rank"),
                       nope = d.dim("qk_nope_head_dim"), v = d.dim("v_head_dim");
    for (const tensor_entry& e : ctx.entries) {
      if (!e.name.ends_with(suffix) || ctx.used.contains(e.name)) continue;
      const std::string attn = e.name.substr(0, e.name.size() - suffix.size());
      const std::string eq = attn + "embed_q", uo = attn + "unembed_out";
      auto fail = [&](errc c, const std::string& n, std::string found, std::string expected) {
        plan.problems.emplace_back(c, n, std::move(found), std::move(expected));
        plan.blocked.insert(eq + ".weight");
        plan.blocked.insert(uo + ".weight");
      };
      ctx.used.insert(e.name);
      const std::string rows = "[" + std::to_string(h * (nope + v)) + ", ...] (num_attention_heads * (qk_nope_head_dim + v_head_dim) rows)";
      if (e.dims.rank() != 2 || e.dims[0] != h * (nope + v)) {
        fail(errc::shape_mismatch, e.name, to_string(e.dims), rows);
        continue;
      }
      rename_step s{name, {e.name}, {}, &origin, &apply};
      if (e.type != dtype::u32) {
        if (e.dims[1] != lora) {
          fail(errc::shape_mismatch, e.name, to_string(e.dims), "[" + std::to_string(h * (nope + v)) + ", " +
                                                                std::to_string(lora) + "] (kv_lora_rank columns)");
          continue;
        }
        s.targets = {tensor_entry{eq + ".weight", e.type, {h, lora, nope}}, tensor_entry{uo + ".weight", e.type, {h, v, lora}}};
      } else {
        const std::string base = attn + "kv_b_proj";
        const tensor_entry* sc = ctx.find(base + ".scales");
        const tensor_entry* bi = ctx.find(base + ".biases");
        if (sc == nullptr || bi == nullptr) {
          fail(errc::missing, base + (sc ? ".biases" : ".scales"), "no such tensor", "the scales and biases of the packed " + e.name);
          continue;
        }
        ctx.used.insert(sc->name);
        ctx.used.insert(bi->name);
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
        for (const auto& [m, o, in] : {std::tuple{eq, lora, nope}, std::tuple{uo, v, lora}}) {
          s.targets.push_back({m + ".weight", dtype::u32, {h, o, static_cast<std::int64_t>(static_cast<std::size_t>(in) * q / 32)}});
          s.targets.push_back({m + ".scales", sc->type, {h, o, in / f.group_size}});
          s.targets.push_back({m + ".biases", sc->type, {h, o, in / f.group_size}});
        }
      }
      plan.steps.push_back(std::move(s));
    }
  }
  static std::string origin(const rename_step& s) { return "split from " + s.sources.front(); }
  static result<void> apply(const rename_step& s, std::span<const tensor_view> src, const families::model_description& d,
                            quant::rounding mode, const rename_output& out) {
    const std::int64_t h = d.dim("num_attention_heads"), nope = d.dim("qk_nope_head_dim"), v = d.dim("v_head_dim");
    if (src.size() == 1) {
      auto [eq, uo] = detail::split_kv_b(src[0], h, nope, v);
      out.keep(s.targets[0].name, std::move(eq));
      out.keep(s.targets[1].name, std::move(uo));
      return {};
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
      out.keep(s.targets[3 * k].name, std::move(q->packed));
      out.keep(s.targets[3 * k + 1].name, std::move(q->scales));
      out.keep(s.targets[3 * k + 2].name, std::move(q->biases));
    }
    return {};
  }
};

template <>
struct sanitize_step<families::sanitize::fp8_dequant> {
  static constexpr std::string_view name = "fp8_dequant";

  // FP8 checkpoints: `X.weight` (F8_E4M3) with `X.weight_scale_inv` (per 128x128 block, or one scalar).
  static void plan(sanitize_context& ctx) {
    constexpr std::string_view suffix = "_scale_inv";
    sanitize_plan& plan = ctx.plan;
    for (const tensor_entry& e : ctx.entries) {
      if (!e.name.ends_with(".weight_scale_inv") || ctx.used.contains(e.name)) continue;
      const std::string w = e.name.substr(0, e.name.size() - suffix.size());
      const tensor_entry* it = ctx.find(w);
      ctx.used.insert(e.name);
      if (it == nullptr) {
        plan.problems.emplace_back(errc::missing, w, "no such tensor", "the FP8 weight " + e.name + " scales");
        continue;
      }
      ctx.used.insert(w);
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
      plan.steps.push_back({name, {w, e.name}, {{w, dtype::bf16, it->dims}}, &origin, &apply});
    }
  }
  static std::string origin(const rename_step& s) { return "dequantized from FP8 " + s.sources.front(); }
  static result<void> apply(const rename_step& s, std::span<const tensor_view> src, const families::model_description&,
                            quant::rounding, const rename_output& out) {
    const tensor_entry& t0 = s.targets.front();
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
    out.keep(t0.name, std::move(t));
    return {};
  }
};

template <>
struct sanitize_step<families::sanitize::conv_moveaxis> {
  static constexpr std::string_view name = "conv_moveaxis";

  // Qwen3-Next's HF conv1d [C, 1, K] -> [C, K, 1] (in a Hugging Face layout only).
  static void plan(sanitize_context& ctx) {
    if (!ctx.hf_experts) return;
    for (const tensor_entry& e : ctx.entries) {
      if (ctx.used.contains(e.name) || !e.name.ends_with(".conv1d.weight") || e.dims.rank() != 3 || e.dims[2] == 1) continue;
      ctx.used.insert(e.name);
      ctx.plan.steps.push_back({name, {e.name}, {{e.name, e.type, {e.dims[0], e.dims[2], e.dims[1]}}}, &origin, &apply});
    }
  }
  static std::string origin(const rename_step& s) { return "moved from HF [C, 1, K] " + s.sources.front(); }
  // Moving a size-1 axis keeps the bytes: a view, no copy.
  static result<void> apply(const rename_step& s, std::span<const tensor_view> src, const families::model_description&,
                            quant::rounding, const rename_output& out) {
    const tensor_entry& t0 = s.targets.front();
    out.view(t0.name, tensor_view::contiguous(src[0].data, t0.type, t0.dims));
    return {};
  }
};

template <>
struct sanitize_step<families::sanitize::norm_shift> {
  static constexpr std::string_view name = "norm_shift";

  // Qwen3-Next's HF norms, stored zero-centred: +1 (in a Hugging Face layout only).
  static void plan(sanitize_context& ctx) {
    if (!ctx.hf_experts) return;
    for (const tensor_entry& e : ctx.entries) {
      if (ctx.used.contains(e.name) || e.dims.rank() != 1) continue;
      const bool shifted = e.name.ends_with(".input_layernorm.weight") || e.name.ends_with(".post_attention_layernorm.weight") ||
                           e.name.ends_with("model.norm.weight") || e.name.ends_with(".q_norm.weight") ||
                           e.name.ends_with(".k_norm.weight");
      if (!shifted) continue;
      ctx.used.insert(e.name);
      ctx.plan.steps.push_back({name, {e.name}, {{e.name, e.type, e.dims}}, &origin, &apply});
    }
  }
  static std::string origin(const rename_step& s) { return "shifted by +1 from HF " + s.sources.front(); }
  static result<void> apply(const rename_step& s, std::span<const tensor_view> src, const families::model_description&,
                            quant::rounding, const rename_output& out) {
    const tensor_entry& t0 = s.targets.front();
    tensor t(t0.type, t0.dims);
    for (std::int64_t i = 0; i < t0.dims.numel(); ++i)
      store_float(t.data(), t0.type, static_cast<std::size_t>(i), load_float(src[0].data, t0.type, static_cast<std::size_t>(i)) + 1.0f);
    out.keep(t0.name, std::move(t));
    return {};
  }
};

template <std::int64_t Layer>
struct sanitize_step<families::sanitize::drop_layer<Layer>> {
  static void plan(sanitize_context& ctx) {
    ctx.drop_if([&](std::string_view n) -> std::string {
      if (layer_of(n, ctx.prefix) != Layer) return "";
      return "the MTP layer (" + ctx.model.family + " sanitize drops model.layers." + std::to_string(Layer) + ")";
    });
  }
};

template <>
struct sanitize_step<families::sanitize::drop_layers_past_end> {
  static void plan(sanitize_context& ctx) {
    const auto layers = static_cast<std::int64_t>(ctx.model.layers.size());
    ctx.drop_if([&](std::string_view n) -> std::string {
      const auto layer = layer_of(n, ctx.prefix);
      return layer && *layer >= layers ? "the MTP layer (sanitize drops model.layers.j for j >= num_hidden_layers)" : "";
    });
  }
};

template <>
struct sanitize_step<families::sanitize::drop_mtp_keys> {
  static void plan(sanitize_context& ctx) {
    if (!ctx.hf_experts) return;
    ctx.drop_if([&](std::string_view n) -> std::string {
      return n.find("mtp.") != std::string_view::npos
                 ? "the MTP module (" + ctx.model.family + " sanitize drops keys containing \"mtp.\")"
                 : "";
    });
  }
};

template <>
struct sanitize_step<families::sanitize::drop_activation_scale> {
  static void plan(sanitize_context& ctx) {
    ctx.drop_if([](std::string_view n) -> std::string {
      return n.ends_with(".activation_scale") ? "an FP8 activation scale (sanitize drops it)" : "";
    });
  }
};

}  // namespace famx::io
