// famx advise / famx cards: the advisor report for a bundled model id, a config.json or a
// checkpoint directory, and the list of bundled model cards.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "commands.hpp"
#include "famx/advise/picture.hpp"
#include "famx/advise/render.hpp"
#include "famx/io/model_cards.hpp"

namespace famx_cli {

namespace {

// The model `famx advise` describes when given none.
constexpr std::string_view default_model = "mlx-community/Qwen3-30B-A3B-4bit";
// Largest context or prompt length a command accepts (tokens).
constexpr std::int64_t max_tokens = std::int64_t{1} << 24;

struct advise_options {
  std::string target{default_model};
  std::string format = "text";
  famx::advise::report_options report;
  int bits = 0;
  std::string svg;
};

void print_card(const famx::io::model_card& c) {
  std::printf("model card %s\n  family: %s\n  quantization: %s\n  n_layers: %lld\n  hidden_size: %lld\n"
              "  supports_tensor: %s\n  storage_size.in_bytes: %lld\n",
              std::string(c.model_id).c_str(), std::string(c.family).c_str(), std::string(c.quantization).c_str(),
              static_cast<long long>(c.n_layers), static_cast<long long>(c.hidden_size),
              c.supports_tensor ? "true" : "false", static_cast<long long>(c.storage_size_bytes));
}

int advise(const advise_options& o) {
  const auto fmt = o.format == "json" ? famx::advise::format::json
                   : o.format == "text" ? famx::advise::format::text
                                        : famx::advise::format::markdown;
  std::optional<famx::io::quantization_config> q;
  if (o.bits) q = famx::io::convert_quantization(o.bits);
  const famx::io::model_card* card = nullptr;
  auto r = famx::advise::report_for_id(o.target, o.report, &card, std::move(q));
  if (!r) {
    if (card) {
      print_card(*card);
      std::printf("famx has no built-in architecture figures for this model: run `famx advise path/to/config.json`\n");
      return exit_ok;
    }
    std::fprintf(stderr, "famx advise: %s\n", r.err().what());
    return exit_failed;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(std::filesystem::path(o.target), ec)) r->add_checkpoint(std::filesystem::path(o.target));
  std::fputs(famx::advise::render(*r, fmt).c_str(), stdout);
  if (fmt == famx::advise::format::json) std::fputc('\n', stdout);
  if (!o.svg.empty() && !write_file(o.svg, famx::advise::render_hotspot_svg(*r), "famx advise")) return exit_failed;
  return exit_ok;
}

}  // namespace

runner add_advise(CLI::App& app) {
  auto o = std::make_shared<advise_options>();
  auto* c = app.add_subcommand(
      "advise", "architecture summary, shapes, storage, hotspots, sharding options, optimization plan, integration notes");
  c->add_option("model", o->target, "a bundled model id (famx cards), a built-in key, a config.json or a checkpoint directory")
      ->capture_default_str();
  add_choice(*c, "--format", o->format, {"text", "md", "markdown", "json"}, "output format");
  add_integer(*c, "--context", o->report.context, std::int64_t{1}, max_tokens, "decode context length (tokens attended)");
  add_integer(*c, "--prompt", o->report.prompt, std::int64_t{1}, max_tokens, "prefill prompt length (tokens)");
  add_integer(*c, "--bits", o->bits, {2, 3, 4, 5, 6, 8}, "quantize as MLX B-bit, group 64 (default: as the config or id says)")
      ->default_str("");
  c->add_option("--svg", o->svg, "also draw the hotspot map (bytes and FLOPs per module) as SVG into FILE")->type_name("FILE");
  return [o] { return advise(*o); };
}

runner add_cards(CLI::App& app) {
  app.add_subcommand("cards", "list the bundled model cards");
  return [] {
    std::printf("%-52s %-13s %-6s %6s %6s %6s %16s  %s\n", "model_id", "family", "quant", "layers", "hidden", "tensor",
                "storage bytes", "built-in figures");
    for (const auto& c : famx::io::model_cards)
      std::printf("%-52s %-13s %-6s %6lld %6lld %6s %16lld  %s\n", std::string(c.model_id).c_str(),
                  std::string(c.family).c_str(), std::string(c.quantization).c_str(), static_cast<long long>(c.n_layers),
                  static_cast<long long>(c.hidden_size), c.supports_tensor ? "yes" : "no",
                  static_cast<long long>(c.storage_size_bytes), c.builtin.empty() ? "-" : std::string(c.builtin).c_str());
    return exit_ok;
  };
}

int advise_demo(const std::string& svg_file) {
  advise_options o;
  o.svg = svg_file;
  return advise(o);
}

}  // namespace famx_cli
