// famx run: the fp32 reference forward on a checkpoint directory, greedy decoding from a prompt;
// prints the tokens and a logits checksum. famx demo runs it on a tiny model of every family.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "commands.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/model/model.hpp"

namespace famx_cli {

namespace {

int run_usage(const std::string& why) {
  std::fprintf(stderr, "famx run: %s\n", why.c_str());
  return 2;
}

// "1,2,3" -> {1, 2, 3}; false on anything else.
bool parse_tokens(std::string_view s, std::vector<std::int32_t>& out) {
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    std::int32_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    if (r.ec != std::errc{} || r.ptr != item.data() + item.size()) return false;
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return !out.empty();
}

// The index of the largest logit of row t (the lowest index among equals).
std::int32_t argmax(const std::vector<float>& logits, std::size_t t, std::size_t vocab) {
  std::size_t best = 0;
  for (std::size_t v = 1; v < vocab; ++v)
    if (logits[t * vocab + v] > logits[t * vocab + best]) best = v;
  return static_cast<std::int32_t>(best);
}

// Greedy decoding; prints one line: family, tokens, checksum (sum of the logits of every step).
int run_model(const std::filesystem::path& dir, const std::vector<std::int32_t>& prompt, int decode,
              famx::model::weight_path path) {
  auto m = famx::model::reference_model::load(dir, path);
  if (!m) {
    std::fprintf(stderr, "famx run: %s\n", m.err().message().c_str());
    return 1;
  }
  try {
    const std::size_t V = m->info().vocab;
    auto cache = m->new_cache();
    std::vector<float> logits = m->forward(prompt, cache);
    double sum = 0;
    for (float v : logits) sum += v;
    std::vector<std::int32_t> out = {argmax(logits, prompt.size() - 1, V)};
    for (int i = 1; i < decode; ++i) {
      logits = m->forward(std::span(out).last(1), cache);
      for (float v : logits) sum += v;
      out.push_back(argmax(logits, 0, V));
    }
    std::string toks;
    for (std::int32_t t : out) toks += (toks.empty() ? "" : ",") + std::to_string(t);
    std::printf("%-13s %s: next tokens %s  logits checksum %.6e\n", m->info().model_type.c_str(),
                path == famx::model::weight_path::quantized ? "quantized" : "dequantized", toks.c_str(), sum);
  } catch (const famx::error& e) {
    std::fprintf(stderr, "famx run: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int run(args a) {
  std::vector<std::int32_t> prompt;
  int decode = 8;
  auto path = famx::model::weight_path::quantized;
  std::vector<std::string_view> pos;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string_view s = a[i];
    const bool has_value = i + 1 < a.size();
    if (s == "--prompt-tokens" && has_value) {
      if (!parse_tokens(a[++i], prompt)) return run_usage("--prompt-tokens takes comma-separated token ids");
    } else if (s == "--decode" && has_value) {
      const std::string_view v = a[++i];
      if (std::from_chars(v.data(), v.data() + v.size(), decode).ptr != v.data() + v.size() || decode < 1)
        return run_usage("--decode takes a positive integer");
    } else if (s == "--dequantize") {
      path = famx::model::weight_path::dequantized;
    } else if (s.starts_with("--")) {
      return run_usage("unknown option '" + std::string(s) + "'");
    } else {
      pos.push_back(s);
    }
  }
  if (pos.size() != 1) return run_usage("usage: famx run <checkpoint-dir> [--prompt-tokens 1,2,3] [--decode 8] [--dequantize]");
  if (prompt.empty()) prompt = {1, 2, 3};
  return run_model(std::filesystem::path(pos[0]), prompt, decode, path);
}

int run_tiny_models() {
  const auto root = std::filesystem::temp_directory_path() / ("famx_demo_" + std::to_string(::getpid()));
  int rc = 0;
  for (const auto& t : famx::io::tiny_models) {
    const auto dir = root / t.key;
    if (auto files = famx::io::make_tiny_checkpoint(t.key, dir); !files) {
      std::fprintf(stderr, "famx demo: %s\n", files.err().message().c_str());
      rc = 1;
      continue;
    }
    rc |= run_model(dir, {1, 2, 3}, 8, famx::model::weight_path::quantized);
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return rc;
}

}  // namespace famx_cli
