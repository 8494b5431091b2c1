#pragma once
// The advisor's hotspot map as an SVG picture: one group per module (class "module"), each with
// four bars, decode bytes, decode FLOPs, prefill bytes and prefill FLOPs per token, every metric
// scaled to its largest module so the bottleneck of each is the longest bar of its column.

#include <algorithm>
#include <array>
#include <string>

#include "famx/advise/render.hpp"
#include "famx/core/svg.hpp"

namespace famx::advise {

// The hotspot map of report r as an SVG document.
inline std::string render_hotspot_svg(const report& r) {
  const auto& rows = r.hot.rows;
  struct metric {
    const char* title;
    double hotspot_row::*field;
    const char* color;
    bool bytes;
  };
  constexpr std::array<metric, 4> metrics = {{{"decode bytes", &hotspot_row::decode_bytes, "#3b6fb6", true},
                                              {"decode FLOPs", &hotspot_row::decode_flops, "#6aa84f", false},
                                              {"prefill bytes", &hotspot_row::prefill_bytes, "#8e63b5", true},
                                              {"prefill FLOPs", &hotspot_row::prefill_flops, "#e69138", false}}};
  const double label_w = 300, col_w = 190, bar_w = 120, row_h = 22, top = 70;
  const double width = label_w + col_w * metrics.size() + 20, height = top + row_h * static_cast<double>(rows.size() + 1) + 30;
  svg::document doc(width, height);
  const std::string title = r.card ? std::string(r.card->model_id)
                                   : (r.description.architecture.empty() ? r.description.family : r.description.architecture);
  doc.text(10, 22, "famx advise: hotspot map of " + title, "start", 15, "bold");
  doc.text(10, 42, "per token, batch 1; decode at context " + std::to_string(r.hot.context) + ", prefill of " +
                       std::to_string(r.hot.prompt) + " tokens; bars scaled to the largest module of each column");
  for (std::size_t m = 0; m < metrics.size(); ++m)
    doc.text(label_w + col_w * static_cast<double>(m), top - 8, metrics[m].title, "start", 12, "bold");
  std::array<double, 4> largest{};
  for (const auto& h : rows)
    for (std::size_t m = 0; m < metrics.size(); ++m) largest[m] = std::max(largest[m], h.*(metrics[m].field));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const hotspot_row& h = rows[i];
    const double y = top + row_h * static_cast<double>(i);
    doc.open_group("module", "module-" + std::to_string(i));
    doc.text(10, y + 15, h.module + (h.layers ? " (" + std::to_string(h.layers) + " layers)" : std::string()));
    for (std::size_t m = 0; m < metrics.size(); ++m) {
      const double v = h.*(metrics[m].field), x = label_w + col_w * static_cast<double>(m);
      const std::string value = metrics[m].bytes ? detail::bytes_text(v) : detail::count_text(v, "FLOP");
      doc.rect(x, y + 4, largest[m] > 0 ? bar_w * v / largest[m] : 0, row_h - 8, metrics[m].color,
               h.module + ": " + value + " " + metrics[m].title);
      doc.text(x + bar_w + 4, y + 15, value, "start", 10);
    }
    doc.close_group();
  }
  const hotspot_row t = r.hot.total();
  const double y = top + row_h * static_cast<double>(rows.size()) + 6;
  doc.line(10, y, width - 10, y, "#999999");
  doc.text(10, y + 16, "total", "start", 12, "bold");
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const double v = t.*(metrics[m].field);
    doc.text(label_w + col_w * static_cast<double>(m), y + 16, metrics[m].bytes ? detail::bytes_text(v) : detail::count_text(v, "FLOP"),
             "start", 12, "bold");
  }
  return doc.finish();
}

}  // namespace famx::advise
