#pragma once
// The advisor report as text (terminal), Markdown, or JSON (stable keys; every tensor listed).

#include <cstdio>
#include <string>
#include <string_view>

#include "famx/advise/report.hpp"

namespace famx::advise {

// Output formats of the advisor.
enum class format { text, markdown, json };

namespace detail {
inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
// "17.61 GB".
inline std::string bytes_text(double b) {
  if (b >= 1e9) return fmt("%.2f GB", b / 1e9);
  if (b >= 1e6) return fmt("%.2f MB", b / 1e6);
  if (b >= 1e3) return fmt("%.2f kB", b / 1e3);
  return fmt("%.0f B", b);
}
// "30.53 B" parameters, "3.35 GFLOP".
inline std::string count_text(double n, std::string_view unit) {
  if (n >= 1e9) return fmt("%.2f G", n / 1e9) + std::string(unit);
  if (n >= 1e6) return fmt("%.2f M", n / 1e6) + std::string(unit);
  if (n >= 1e3) return fmt("%.2f k", n / 1e3) + std::string(unit);
  return fmt("%.0f ", n) + std::string(unit);
}
inline std::string params_text(std::int64_t n) { return fmt("%.3f B", static_cast<double>(n) / 1e9); }

// Layer kinds with their counts, in first-seen order: "36 x linear_attention/moe, 12 x ...".
inline std::vector<std::pair<std::string, int>> kind_counts(const families::model_description& d) {
  std::vector<std::pair<std::string, int>> k;
  for (const auto& l : d.layers) {
    const std::string name = l.attention + "/" + l.mlp;
    auto it = std::find_if(k.begin(), k.end(), [&](auto& p) { return p.first == name; });
    if (it == k.end()) k.emplace_back(name, 1);
    else ++it->second;
  }
  return k;
}

inline std::string quant_text(const report& r) {
  if (!r.quantization) return "none (float weights)";
  std::string s = "MLX affine " + quant::to_string(r.quantization->global);
  if (!r.quantization->overrides.empty())
    s += ", " + std::to_string(r.quantization->overrides.size()) + " per-module overrides";
  return s;
}

// The rows of the representative tensor table: model-level tensors and the first layer of each kind.
inline std::vector<const io::stored_tensor*> representative(const report& r) {
  std::vector<const io::stored_tensor*> out;
  std::vector<std::string> kinds_done;
  std::vector<int> layers;
  for (const auto& l : r.description.layers) {
    const std::string k = l.attention + "/" + l.mlp;
    if (std::find(kinds_done.begin(), kinds_done.end(), k) == kinds_done.end()) {
      kinds_done.push_back(k);
      layers.push_back(static_cast<int>(l.index));
    }
  }
  for (const auto& s : r.storage)
    if (s.tensor->layer < 0 || std::find(layers.begin(), layers.end(), s.tensor->layer) != layers.end())
      out.push_back(&s);
  return out;
}

inline std::string tp_text(const report& r, bool legal) {
  std::string s;
  for (const auto& o : r.sharding)
    if (o.tensor_parallel == legal) s += (s.empty() ? "" : ", ") + std::to_string(o.devices);
  return s.empty() ? "none" : s;
}
}  // namespace detail

// The report as human-readable text (fmt = text) or Markdown (fmt = markdown).
inline std::string render_document(const report& r, bool md) {
  const auto& d = r.description;
  std::string o;
  auto line = [&](const std::string& s = {}) { o += s + "\n"; };
  auto head = [&](const std::string& s) {
    if (md) line("\n## " + s + "\n");
    else line("\n== " + s + " ==");
  };
  const std::string title = r.card ? std::string(r.card->model_id) : (d.architecture.empty() ? d.family : d.architecture);
  line(md ? "# famx advisor: " + title : "famx advisor: " + title);
  line((md ? "\n" : "") + std::string("source: ") + r.source);

  head("Architecture summary");
  auto item = [&](const std::string& k, const std::string& v) { line((md ? "- **" + k + "**: " : "  " + k + ": ") + v); };
  item("family", d.family + (d.model_type != d.family ? " (model_type " + d.model_type + ")" : ""));
  if (!d.architecture.empty()) item("architecture", d.architecture);
  item("what is unusual", d.summary);
  std::string kinds;
  for (const auto& [k, n] : detail::kind_counts(d)) kinds += (kinds.empty() ? "" : ", ") + std::to_string(n) + " x " + k;
  item("layers", std::to_string(d.layers.size()) + ": " + kinds);
  item("parameters", detail::params_text(d.total_params()) + " total, " + detail::params_text(d.active_params()) +
                         " active per token (embeddings and LM head included" +
                         (d.experts ? ", " + std::to_string(d.experts_per_token) + " of " + std::to_string(d.experts) +
                                          " routed experts"
                                    : "") +
                         "), " + detail::params_text(d.total_params() - d.embedding_params()) + " without embeddings");
  item("embeddings", d.tied ? "tied (lm_head is embed_tokens)" : "separate lm_head");
  item("quantization", detail::quant_text(r) + (r.source_quantization.empty() ? "" : "; source weights " + r.source_quantization));
  item("storage", detail::bytes_text(static_cast<double>(r.storage_bytes())) + " (" + std::to_string(r.storage_bytes()) + " bytes, computed)");
  if (r.card)
    item("model card", "n_layers " + std::to_string(r.card->n_layers) + ", hidden_size " + std::to_string(r.card->hidden_size) +
                           ", supports_tensor " + (r.card->supports_tensor ? "true" : "false") + ", storage " +
                           std::to_string(r.card->storage_size_bytes) + " bytes");
  item("sharding strategy", d.strategy);

  head("Config to shapes");
  if (md) line("| key | value | meaning | tensors it shapes | failure modes |\n|---|---|---|---|---|");
  for (const auto& c : r.config_shapes) {
    std::string t;
    for (const auto& n : c.tensors) t += (t.empty() ? "" : ", ") + n;
    if (md) line("| `" + c.key + "` | " + c.value + " | " + c.meaning + " | " + t + " | " + c.failure + " |");
    else line("  " + c.key + " = " + c.value + (c.meaning.empty() ? "" : " (" + c.meaning + ")") + "\n      shapes: " + t +
              (c.failure.empty() ? "" : "\n      watch: " + c.failure));
  }

  head("Tensors (model-level and the first layer of each kind; JSON lists every layer)");
  if (md) line("| tensor | shape | as config | stored | bytes |\n|---|---|---|---|---:|");
  for (const auto* s : detail::representative(r)) {
    const auto& t = *s->tensor;
    if (md) line("| `" + t.name + "` | " + to_string(t.dims) + " | " + t.dims_text + " | " + s->format_text() + " | " + std::to_string(s->bytes) + " |");
    else {
      char buf[512];
      std::snprintf(buf, sizeof buf, "  %-52s %-18s %-10s %14lld  %s", t.name.c_str(), to_string(t.dims).c_str(),
                    s->format_text().c_str(), static_cast<long long>(s->bytes), t.dims_text.c_str());
      line(buf);
    }
  }

  head("Hotspot map (per token, batch 1; decode at context " + std::to_string(r.hot.context) + ", prefill of " +
       std::to_string(r.hot.prompt) + " tokens)");
  if (md) line("| module | layers | decode bytes | decode FLOPs | prefill bytes | prefill FLOPs |\n|---|---:|---:|---:|---:|---:|");
  auto hot_line = [&](const hotspot_row& h) {
    if (md) line("| " + h.module + " | " + std::to_string(h.layers) + " | " + detail::bytes_text(h.decode_bytes) + " | " +
                 detail::count_text(h.decode_flops, "FLOP") + " | " + detail::bytes_text(h.prefill_bytes) + " | " +
                 detail::count_text(h.prefill_flops, "FLOP") + " |");
    else {
      char buf[512];
      std::snprintf(buf, sizeof buf, "  %-40s %4lld %12s %14s %12s %14s", h.module.c_str(), static_cast<long long>(h.layers),
                    detail::bytes_text(h.decode_bytes).c_str(), detail::count_text(h.decode_flops, "FLOP").c_str(),
                    detail::bytes_text(h.prefill_bytes).c_str(), detail::count_text(h.prefill_flops, "FLOP").c_str());
      line(buf);
    }
  };
  if (!md) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-40s %4s %12s %14s %12s %14s", "module", "lyrs", "decode B", "decode FLOP", "prefill B",
                  "prefill FLOP");
    line(buf);
  }
  for (const auto& h : r.hot.rows) hot_line(h);
  hot_line(r.hot.total());

  head("Sharding options (1-8 devices)");
  if (md) line("| devices | tensor parallel | expert parallel | pipeline layers/stage |\n|---:|---|---|---:|");
  for (const auto& s : r.sharding) {
    const std::string tp = s.tensor_parallel ? "legal" : "no: " + s.tensor_reason;
    const std::string ep = d.experts ? (s.expert_parallel ? "legal (" + std::to_string(d.experts / s.devices) + " experts each)" : "no") : "-";
    if (md) line("| " + std::to_string(s.devices) + " | " + tp + " | " + ep + " | " + std::to_string(s.layers_per_stage) + " |");
    else line("  " + std::to_string(s.devices) + " device(s): TP " + tp + "; EP " + ep + "; PP " + std::to_string(s.layers_per_stage) + " layers/stage");
  }
  line((md ? "\n" : "  ") + std::string("legal TP degrees: ") + detail::tp_text(r, true));
  for (const auto& n : r.notes) line((md ? "- " : "  note: ") + n);

  head("Optimization plan (" + std::to_string(r.plan.size()) + " experiments)");
  for (std::size_t i = 0; i < r.plan.size(); ++i) {
    const experiment& e = r.plan[i];
    const std::string n = std::to_string(i + 1);
    if (md) line("### " + n + ". " + e.title + "\n");
    else line("  " + n + ". " + e.title);
    auto field = [&](const char* k, const std::string& v) { line(md ? "- **" + std::string(k) + "**: " + v : "      " + std::string(k) + ": " + v); };
    field("change", e.change);
    field("effect", e.effect);
    field(e.metric.c_str(), detail::fmt("%.4g", e.before) + " -> " + detail::fmt("%.4g", e.after));
    field("success", e.success);
    field("fidelity", e.fidelity);
    if (md) line();
  }

  head("Integration notes");
  for (const auto& n : r.integration) line(md ? "- **" + n.topic + "**: " + n.text : "  " + n.topic + ": " + n.text);
  return o;
}

// The report as one JSON object.
inline std::string render_json(const report& r) {
  using families::detail::json_quote;
  const auto& d = r.description;
  std::string o = "{";
  auto num = [](double v) { return families::detail::json_text(v); };
  auto key = [&](std::string_view k) { o += (o.size() > 1 && o.back() != '{' && o.back() != '[' ? "," : "") + json_quote(k) + ":"; };
  key("family"); o += json_quote(d.family);
  key("model_type"); o += json_quote(d.model_type);
  key("architecture"); o += json_quote(d.architecture);
  key("strategy"); o += json_quote(d.strategy);
  key("summary"); o += json_quote(d.summary);
  key("source"); o += json_quote(r.source);
  key("card");
  if (r.card) {
    o += "{\"model_id\":" + json_quote(r.card->model_id) + ",\"n_layers\":" + std::to_string(r.card->n_layers) +
         ",\"hidden_size\":" + std::to_string(r.card->hidden_size) + ",\"supports_tensor\":" +
         (r.card->supports_tensor ? "true" : "false") + ",\"storage_size\":{\"in_bytes\":" +
         std::to_string(r.card->storage_size_bytes) + "}}";
  } else o += "null";
  key("params");
  o += "{\"total\":" + std::to_string(d.total_params()) + ",\"active\":" + std::to_string(d.active_params()) +
       ",\"embedding\":" + std::to_string(d.embedding_params()) + "}";
  key("experts");
  o += "{\"routed\":" + std::to_string(d.experts) + ",\"per_token\":" + std::to_string(d.experts_per_token) + "}";
  key("tied_embeddings"); o += d.tied ? "true" : "false";
  key("quantization");
  if (r.quantization) {
    o += "{\"bits\":" + std::to_string(r.quantization->global.bits) + ",\"group_size\":" +
         std::to_string(r.quantization->global.group_size) + ",\"mode\":" + json_quote(r.quantization->mode) + ",\"overrides\":{";
    bool first = true;
    for (const auto& ov : r.quantization->overrides) {
      o += (first ? "" : ",") + json_quote(ov.module) + ":" +
           (ov.format ? "{\"bits\":" + std::to_string(ov.format->bits) + ",\"group_size\":" + std::to_string(ov.format->group_size) + "}"
                      : std::string("false"));
      first = false;
    }
    o += "}}";
  } else o += "null";
  key("storage_bytes"); o += std::to_string(r.storage_bytes());
  key("config"); o += "{";
  for (const auto& [k, v] : d.config) { key(k); o += v; }
  o += "}";
  key("layers"); o += "[";
  for (const auto& l : d.layers) {
    if (o.back() != '[') o += ",";
    o += "{\"index\":" + std::to_string(l.index) + ",\"attention\":" + json_quote(l.attention) + ",\"mlp\":" + json_quote(l.mlp) + "}";
  }
  o += "]";
  key("config_to_shapes"); o += "[";
  for (const auto& c : r.config_shapes) {
    if (o.back() != '[') o += ",";
    o += "{\"key\":" + json_quote(c.key) + ",\"value\":" + c.value + ",\"meaning\":" + json_quote(c.meaning) +
         ",\"failure_modes\":" + json_quote(c.failure) + ",\"tensors\":[";
    for (std::size_t i = 0; i < c.tensors.size(); ++i) o += (i ? "," : "") + json_quote(c.tensors[i]);
    o += "]}";
  }
  o += "]";
  key("tensors"); o += "[";
  for (const auto& s : r.storage) {
    const auto& t = *s.tensor;
    if (o.back() != '[') o += ",";
    o += "{\"name\":" + json_quote(t.name) + ",\"shape\":[";
    for (std::size_t i = 0; i < t.dims.rank(); ++i) o += (i ? "," : "") + std::to_string(t.dims[i]);
    o += "],\"shape_expr\":" + json_quote(t.dims_text) + ",\"kind\":" + json_quote(surface::to_string(t.kind)) +
         ",\"stored\":" + json_quote(s.format_text()) + ",\"bytes\":" + std::to_string(s.bytes) + ",\"layer\":" + std::to_string(t.layer) + "}";
  }
  o += "]";
  key("hotspots");
  o += "{\"context\":" + std::to_string(r.hot.context) + ",\"prompt\":" + std::to_string(r.hot.prompt) + ",\"rows\":[";
  auto hot = [&](const hotspot_row& h) {
    return "{\"module\":" + json_quote(h.module) + ",\"layers\":" + std::to_string(h.layers) + ",\"decode_bytes\":" + num(h.decode_bytes) +
           ",\"decode_flops\":" + num(h.decode_flops) + ",\"prefill_bytes\":" + num(h.prefill_bytes) + ",\"prefill_flops\":" + num(h.prefill_flops) + "}";
  };
  for (std::size_t i = 0; i < r.hot.rows.size(); ++i) o += (i ? "," : "") + hot(r.hot.rows[i]);
  o += "],\"total\":" + hot(r.hot.total()) + "}";
  key("sharding"); o += "[";
  for (const auto& s : r.sharding) {
    if (o.back() != '[') o += ",";
    o += "{\"devices\":" + std::to_string(s.devices) + ",\"tensor_parallel\":" + (s.tensor_parallel ? "true" : "false") +
         ",\"tensor_reason\":" + json_quote(s.tensor_reason) + ",\"expert_parallel\":" + (s.expert_parallel ? "true" : "false") +
         ",\"layers_per_stage\":" + std::to_string(s.layers_per_stage) + "}";
  }
  o += "]";
  key("notes"); o += "[";
  for (std::size_t i = 0; i < r.notes.size(); ++i) o += (i ? "," : "") + json_quote(r.notes[i]);
  o += "]";
  key("optimization_plan"); o += "[";
  for (std::size_t i = 0; i < r.plan.size(); ++i) {
    const experiment& e = r.plan[i];
    o += std::string(i ? "," : "") + "{\"title\":" + json_quote(e.title) + ",\"change\":" + json_quote(e.change) +
         ",\"metric\":" + json_quote(e.metric) + ",\"before\":" + num(e.before) + ",\"after\":" + num(e.after) +
         ",\"effect\":" + json_quote(e.effect) + ",\"success\":" + json_quote(e.success) + ",\"fidelity\":" + json_quote(e.fidelity) + "}";
  }
  o += "]";
  key("integration_notes"); o += "[";
  for (std::size_t i = 0; i < r.integration.size(); ++i)
    o += std::string(i ? "," : "") + "{\"topic\":" + json_quote(r.integration[i].topic) + ",\"text\":" + json_quote(r.integration[i].text) + "}";
  o += "]";
  key("checkpoint");
  if (r.checkpoint) {
    const io::serving_config& s = r.checkpoint->serving;
    o += "{\"directory\":" + json_quote(r.checkpoint->directory) + ",\"layout\":" + json_quote(r.checkpoint->layout) +
         ",\"generation_config\":" + (s.generation_config ? "true" : "false") + ",\"tokenizer_config\":" +
         (s.tokenizer_config ? "true" : "false") + ",\"eos_token_ids\":[";
    for (std::size_t i = 0; i < s.eos_token_ids.size(); ++i) o += (i ? "," : "") + std::to_string(s.eos_token_ids[i]);
    o += "],\"bos_token_id\":" + (s.bos_token_id ? std::to_string(*s.bos_token_id) : std::string("null")) +
         ",\"chat_template\":" + (s.chat_template ? "true" : "false") + ",\"thinking_tags\":" + (s.thinking_tags ? "true" : "false") +
         ",\"verification_errors\":" + std::to_string(r.checkpoint->errors) + "}";
  } else o += "null";
  o += "}";
  return o;
}

// The report in the requested format.
inline std::string render(const report& r, format f) {
  return f == format::json ? render_json(r) : render_document(r, f == format::markdown);
}

}  // namespace famx::advise
