// famx advise / famx cards: the advisor report for a bundled model id, a config.json or a
// checkpoint directory, and the list of bundled model cards.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "famx/advise/render.hpp"
#include "famx/io/model_cards.hpp"

namespace famx_cli {

namespace {

// The model `famx advise` describes when given none.
constexpr std::string_view default_model = "mlx-community/Qwen3-30B-A3B-4bit";

bool parse_int(std::string_view s, std::int64_t& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size() && out > 0;
}

int usage_error(const std::string& why) {
  std::fprintf(stderr, "famx advise: %s\n", why.c_str());
  return 2;
}

void print_card(const famx::io::model_card& c) {
  std::printf("model card %s\n  family: %s\n  quantization: %s\n  n_layers: %lld\n  hidden_size: %lld\n"
              "  supports_tensor: %s\n  storage_size.in_bytes: %lld\n",
              std::string(c.model_id).c_str(), std::string(c.family).c_str(), std::string(c.quantization).c_str(),
              static_cast<long long>(c.n_layers), static_cast<long long>(c.hidden_size),
              c.supports_tensor ? "true" : "false", static_cast<long long>(c.storage_size_bytes));
}

}  // namespace

int advise(args a) {
  std::string_view target = default_model;
  famx::advise::format fmt = famx::advise::format::text;
  famx::advise::report_options opt;
  std::int64_t bits = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string_view s = a[i];
    const bool has_value = i + 1 < a.size();
    if (s == "--format" && has_value) {
      const std::string_view f = a[++i];
      if (f == "text") fmt = famx::advise::format::text;
      else if (f == "md" || f == "markdown") fmt = famx::advise::format::markdown;
      else if (f == "json") fmt = famx::advise::format::json;
      else return usage_error("--format takes text, md or json, not '" + std::string(f) + "'");
    } else if (s == "--context" && has_value) {
      if (!parse_int(a[++i], opt.context)) return usage_error("--context takes a positive integer");
    } else if (s == "--prompt" && has_value) {
      if (!parse_int(a[++i], opt.prompt)) return usage_error("--prompt takes a positive integer");
    } else if (s == "--bits" && has_value) {
      if (!parse_int(a[++i], bits)) return usage_error("--bits takes 2, 3, 4, 5, 6 or 8");
    } else if (s.starts_with("--")) {
      return usage_error("unknown option '" + std::string(s) + "'");
    } else {
      target = s;
    }
  }

  std::optional<famx::io::quantization_config> q;
  if (bits) {
    q = famx::io::convert_quantization(static_cast<int>(bits));
    if (auto v = famx::quant::validate(q->global, "--bits"); !v) return usage_error(v.err().message());
  }

  famx::result<famx::advise::report> r = famx::error(famx::errc::missing, "", "", "");
  if (std::filesystem::exists(std::filesystem::path(target))) {
    auto m = famx::io::load_model_config(std::filesystem::path(target));
    if (!m) {
      std::fprintf(stderr, "famx advise: %s\n", m.err().what());
      return 1;
    }
    r = famx::advise::make_report(std::move(*m), opt, std::move(q));
  } else {
    const famx::io::model_card* card = nullptr;
    r = famx::advise::report_for_id(target, opt, &card, std::move(q));
    if (!r) {
      if (card) {
        print_card(*card);
        std::printf("famx has no built-in architecture figures for this model: run `famx advise path/to/config.json`\n");
        return 0;
      }
      std::fprintf(stderr, "famx advise: %s\n", r.err().what());
      return 1;
    }
  }
  std::fputs(famx::advise::render(*r, fmt).c_str(), stdout);
  if (fmt == famx::advise::format::json) std::fputc('\n', stdout);
  return 0;
}

int cards(args) {
  std::printf("%-52s %-13s %-6s %6s %6s %6s %16s  %s\n", "model_id", "family", "quant", "layers", "hidden", "tensor",
              "storage bytes", "built-in figures");
  for (const auto& c : famx::io::model_cards)
    std::printf("%-52s %-13s %-6s %6lld %6lld %6s %16lld  %s\n", std::string(c.model_id).c_str(),
                std::string(c.family).c_str(), std::string(c.quantization).c_str(), static_cast<long long>(c.n_layers),
                static_cast<long long>(c.hidden_size), c.supports_tensor ? "yes" : "no",
                static_cast<long long>(c.storage_size_bytes), c.builtin.empty() ? "-" : std::string(c.builtin).c_str());
  return 0;
}

}  // namespace famx_cli
