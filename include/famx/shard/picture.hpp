#pragma once
// A shard plan as an SVG picture: one column per rank (group class "rank"), its device memory as a
// frame with the rank's weights and KV cache as stacked bars against it (all columns on one scale,
// the largest device's memory), and under it the rank's layers, heads, experts and collectives
// (how many of each operation one forward step runs, and the bytes per token they carry).

#include <algorithm>
#include <map>
#include <string>

#include "famx/core/svg.hpp"
#include "famx/shard/plan.hpp"

namespace famx::shard {

// Plan p as an SVG document.
inline std::string render_svg(const shard_plan& p) {
  const double col_w = 240, gap = 20, left = 20, top = 80, bar_h = 320, bar_w = 70;
  std::int64_t largest = 1;
  std::size_t kinds = 0;
  for (const rank_plan& r : p.ranks) {
    largest = std::max({largest, r.device_memory, r.total_bytes()});
    std::map<std::string, int> ops;
    for (const collective& c : r.collectives) ++ops[c.op];
    kinds = std::max(kinds, ops.size());
  }
  const double n = static_cast<double>(p.ranks.size());
  const double width = std::max(left * 2 + n * col_w + (n - 1) * gap, 560.0);
  const double height = top + bar_h + 140 + 16 * static_cast<double>(kinds + 1);
  svg::document doc(width, height);
  doc.text(left, 24, "famx plan: " + p.model + " (" + p.family + ")", "start", 15, "bold");
  doc.text(left, 44, std::string(to_string(p.kind)) + " parallelism over " + std::to_string(p.world) +
                         (p.world == 1 ? " rank" : " ranks") + ", KV cache for " + std::to_string(p.context_tokens) + " tokens");
  doc.rect(left, 54, 12, 12, "#3b6fb6");
  doc.text(left + 16, 64, "weights", "start", 11);
  doc.rect(left + 80, 54, 12, 12, "#e69138");
  doc.text(left + 96, 64, "KV cache", "start", 11);
  doc.text(left + 170, 64, "frame: device memory (one scale for all ranks)", "start", 11);
  const double scale = bar_h / static_cast<double>(largest);
  for (std::size_t i = 0; i < p.ranks.size(); ++i) {
    const rank_plan& r = p.ranks[i];
    const double x = left + static_cast<double>(i) * (col_w + gap), base = top + bar_h;
    doc.open_group("rank", "rank-" + std::to_string(r.rank));
    const double mem_h = static_cast<double>(r.device_memory) * scale;
    const double w_h = static_cast<double>(r.weight_bytes) * scale, kv_h = static_cast<double>(r.kv_cache_bytes) * scale;
    doc.rect(x, base - w_h, bar_w, w_h, "#3b6fb6", "weights " + detail::gb_text(r.weight_bytes, 2));
    doc.rect(x, base - w_h - kv_h, bar_w, kv_h, "#e69138", "KV cache " + detail::gb_text(r.kv_cache_bytes, 2));
    doc.frame(x, base - mem_h, bar_w, mem_h, r.total_bytes() > r.device_memory ? "#cc0000" : "#333333");
    const double tx = x + bar_w + 8;
    doc.text(tx, base - mem_h + 12, "rank " + std::to_string(r.rank), "start", 12, "bold");
    doc.text(tx, base - mem_h + 28, r.device, "start", 11);
    doc.text(tx, base - mem_h + 42, detail::gb_text(r.device_memory, 1) + " memory", "start", 11);
    doc.text(tx, base - mem_h + 56, detail::gb_text(r.weight_bytes, 2) + " weights", "start", 11);
    doc.text(tx, base - mem_h + 70, detail::gb_text(r.kv_cache_bytes, 2) + " KV", "start", 11);
    double y = base + 18;
    doc.text(x, y, "layers [" + std::to_string(r.layers.begin) + ", " + std::to_string(r.layers.end) + ")", "start", 11);
    doc.text(x, y += 15,
             "heads " + std::to_string(r.heads) + (r.kv_heads > 0 ? ", kv heads " + std::to_string(r.kv_heads) : std::string(", MLA latent")),
             "start", 11);
    if (r.linear_key_heads > 0)
      doc.text(x, y += 15, "linear k/v heads " + std::to_string(r.linear_key_heads) + "/" + std::to_string(r.linear_value_heads),
               "start", 11);
    if (!r.expert_share.empty()) {  // "all 256, 1/8 of moe_intermediate_size each": one line per clause
      std::string share = "experts " + r.expert_share;
      for (std::size_t comma; (comma = share.find(", ")) != std::string::npos; share.erase(0, comma + 2))
        doc.text(x, y += 15, share.substr(0, comma + 1), "start", 11);
      doc.text(x, y += 15, share, "start", 11);
    }
    doc.text(x, y += 18, "collectives per step:", "start", 11, "bold");
    std::map<std::string, std::pair<int, std::int64_t>> ops;  // op -> (count, bytes per token)
    for (const collective& c : r.collectives) {
      auto& [count, bytes] = ops[c.op];
      ++count;
      bytes += c.bytes_per_token;
    }
    if (ops.empty()) doc.text(x, y += 15, "none", "start", 11);
    for (const auto& [op, cb] : ops)
      doc.text(x, y += 15, op + " x " + std::to_string(cb.first) + " (" + std::to_string(cb.second) + " B/token)", "start", 11);
    doc.close_group();
  }
  return doc.finish();
}

}  // namespace famx::shard
