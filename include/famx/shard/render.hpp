#pragma once
// A shard plan as text (a summary per rank, then the rules of the first layer of each kind, or every
// tensor) and as JSON (everything, stable keys). Text lines read like
// `model.layers.0.self_attn.q_proj.weight  column_parallel  S(0)  [4096, 2048] -> [2048, 2048]  4-bit g64`.

#include <cstdio>
#include <set>
#include <string>

#include "famx/shard/plan.hpp"

namespace famx::shard {

namespace detail {

inline std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

inline std::string tensor_line(const tensor_plan& t) {
  std::string s = "    " + pad(t.name, 56) + " " + pad(std::string(to_string(t.rule)), 16) + " " + pad(to_string(t.place), 6) +
                  " " + pad(to_string(t.global) + " -> " + to_string(t.local), 34);
  s += t.format ? " " + quant::to_string(*t.format) : std::string(" ") + std::string(to_string(t.files.front().type));
  return s + "\n";
}

inline std::string percent(std::int64_t a, std::int64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", b > 0 ? 100.0 * static_cast<double>(a) / static_cast<double>(b) : 0.0);
  return buf;
}

}  // namespace detail

// The plan as text; `full` lists every tensor and collective of every rank.
inline std::string render_text(const shard_plan& p, bool full = false) {
  std::string s = "famx plan: " + p.model + " (" + p.family + "), " + std::string(to_string(p.kind)) + " parallelism over " +
                  std::to_string(p.world) + (p.world == 1 ? " rank" : " ranks") + ", KV cache for " +
                  std::to_string(p.context_tokens) + " tokens\n";
  for (const auto& n : p.notes) s += "  " + n + "\n";
  for (const rank_plan& r : p.ranks) {
    s += "rank " + std::to_string(r.rank) + "  " + r.device + " (" + detail::gb_text(r.device_memory, 2) + "): weights " +
         detail::gb_text(r.weight_bytes, 2) + " + KV cache " + detail::gb_text(r.kv_cache_bytes, 2) + " = " +
         detail::gb_text(r.total_bytes(), 2) + " (" + detail::percent(r.total_bytes(), r.device_memory) + ")\n";
    s += "  layers [" + std::to_string(r.layers.begin) + ", " + std::to_string(r.layers.end) + ")  heads " + std::to_string(r.heads) +
         (r.kv_heads > 0 ? "  kv heads " + std::to_string(r.kv_heads) : std::string("  MLA latent KV replicated"));
    if (r.linear_key_heads > 0)
      s += "  linear k/v heads " + std::to_string(r.linear_key_heads) + "/" + std::to_string(r.linear_value_heads);
    if (!r.expert_share.empty()) s += "  experts " + r.expert_share;
    s += "  collectives " + std::to_string(r.collectives.size()) + " per step\n";
  }
  for (const rank_plan& r : p.ranks) {
    if (!full && r.rank != 0) break;
    s += full ? "tensors of rank " + std::to_string(r.rank) + ":\n"
              : "tensors of rank 0 (model-level and the first layer of each kind; --full lists all):\n";
    std::set<std::int64_t> first_of_kind;
    std::set<std::string> kinds;
    for (std::size_t i = 0; i < p.layer_kinds.size(); ++i)
      if (kinds.insert(p.layer_kinds[i]).second) first_of_kind.insert(static_cast<std::int64_t>(i));
    for (const tensor_plan& t : r.tensors) {
      const auto layer = io::layer_of(t.name, "");
      if (full || !layer || first_of_kind.contains(*layer)) s += detail::tensor_line(t);
    }
    s += "collectives of rank " + std::to_string(r.rank) + " (in execution order):\n";
    std::size_t i = 0;
    for (const collective& c : r.collectives) {
      if (!full && i >= 6) {
        s += "    ... " + std::to_string(r.collectives.size() - i) + " more\n";
        break;
      }
      s += "    " + std::to_string(++i) + ". " + c.op + " after " + c.after + " (" + c.axis + ", " +
           std::to_string(c.bytes_per_token) + " bytes per token)\n";
    }
  }
  return s;
}

// The plan as one JSON object (stable keys; byte runs as [offset, bytes, count, stride]).
inline std::string render_json(const shard_plan& p) {
  using families::detail::json_quote;
  auto shape_json = [](const shape& d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.rank(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
    return s + "]";
  };
  std::string s = "{\"model\":" + json_quote(p.model) + ",\"family\":" + json_quote(p.family) + ",\"strategy\":" +
                  json_quote(to_string(p.kind)) + ",\"world\":" + std::to_string(p.world) +
                  ",\"exact\":" + (p.exact ? "true" : "false") +
                  ",\"context_tokens\":" + std::to_string(p.context_tokens) + ",\"notes\":[";
  for (std::size_t i = 0; i < p.notes.size(); ++i) s += (i ? "," : "") + json_quote(p.notes[i]);
  s += "],\"ranks\":[";
  for (std::size_t ri = 0; ri < p.ranks.size(); ++ri) {
    const rank_plan& r = p.ranks[ri];
    s += std::string(ri ? "," : "") + "{\"rank\":" + std::to_string(r.rank) + ",\"device\":" + json_quote(r.device) +
         ",\"device_memory\":" + std::to_string(r.device_memory) + ",\"layers\":[" + std::to_string(r.layers.begin) + "," +
         std::to_string(r.layers.end) + "],\"heads\":" + std::to_string(r.heads) + ",\"kv_heads\":" + std::to_string(r.kv_heads) +
         ",\"linear_key_heads\":" + std::to_string(r.linear_key_heads) + ",\"linear_value_heads\":" +
         std::to_string(r.linear_value_heads) + ",\"experts\":[";
    for (std::size_t i = 0; i < r.experts.size(); ++i) s += (i ? "," : "") + std::to_string(r.experts[i]);
    s += "],\"weight_bytes\":" + std::to_string(r.weight_bytes) + ",\"kv_cache_bytes\":" + std::to_string(r.kv_cache_bytes) +
         ",\"tensors\":[";
    for (std::size_t ti = 0; ti < r.tensors.size(); ++ti) {
      const tensor_plan& t = r.tensors[ti];
      s += std::string(ti ? "," : "") + "{\"name\":" + json_quote(t.name) + ",\"rule\":" + json_quote(to_string(t.rule)) +
           ",\"placement\":" + json_quote(to_string(t.place)) + ",\"spec\":" + json_quote(to_string(t.spec)) +
           ",\"global\":" + shape_json(t.global) + ",\"local\":" + shape_json(t.local) + ",\"format\":" +
           (t.format ? json_quote(quant::to_string(*t.format)) : std::string("null")) + ",\"files\":[";
      for (std::size_t fi = 0; fi < t.files.size(); ++fi) {
        const file_slice& f = t.files[fi];
        s += std::string(fi ? "," : "") + "{\"name\":" + json_quote(f.name) + ",\"dtype\":" + json_quote(to_string(f.type)) +
             ",\"global\":" + shape_json(f.global) + ",\"local\":" + shape_json(f.local) + ",\"runs\":[";
        const auto runs = f.runs();
        for (std::size_t k = 0; k < runs.size(); ++k)
          s += std::string(k ? "," : "") + "[" + std::to_string(runs[k].offset) + "," + std::to_string(runs[k].bytes) + "," +
               std::to_string(runs[k].count) + "," + std::to_string(runs[k].stride) + "]";
        s += "]}";
      }
      s += "]}";
    }
    s += "],\"collectives\":[";
    for (std::size_t ci = 0; ci < r.collectives.size(); ++ci) {
      const collective& c = r.collectives[ci];
      s += std::string(ci ? "," : "") + "{\"op\":" + json_quote(c.op) + ",\"after\":" + json_quote(c.after) + ",\"axis\":" +
           json_quote(c.axis) + ",\"bytes_per_token\":" + std::to_string(c.bytes_per_token) + "}";
    }
    s += "]}";
  }
  return s + "]}";
}

}  // namespace famx::shard
