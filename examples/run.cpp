// famx run: the fp32 reference forward on a checkpoint directory, greedy decoding from a prompt;
// prints the tokens and a logits checksum. famx demo runs it on a tiny model of every family.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "commands.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/model/model.hpp"

namespace famx_cli {

namespace {

struct run_options {
  std::string dir;
  std::vector<std::int32_t> prompt = {1, 2, 3};
  int decode = 8;
  bool dequantize = false;
};

// "1,2,3" -> {1, 2, 3}; a usage error naming the item that is empty or not a token id.
std::vector<std::int32_t> parse_tokens(const std::string& s) {
  std::vector<std::int32_t> out;
  std::size_t pos = 0;
  for (std::size_t i = 1;; ++i) {
    const std::size_t comma = s.find(',', pos);
    const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    std::int32_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || r.ec != std::errc{} || r.ptr != item.data() + item.size() || v < 0)
      throw CLI::ValidationError("--prompt-tokens", "item " + std::to_string(i) + (item.empty() ? " is empty" : " is '" + item + "'") +
                                                        ", expected comma-separated token ids from 0 to 2147483647 (1,2,3)");
    out.push_back(v);
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

// The index of the largest logit of row t (the lowest index among equals).
std::int32_t argmax(const std::vector<float>& logits, std::size_t t, std::size_t vocab) {
  std::size_t best = 0;
  for (std::size_t v = 1; v < vocab; ++v)
    if (logits[t * vocab + v] > logits[t * vocab + best]) best = v;
  return static_cast<std::int32_t>(best);
}

// Greedy decoding; prints one line: the model's name (its model_type), tokens, checksum (sum of
// the logits of every step).
int run_model(const std::filesystem::path& dir, const std::vector<std::int32_t>& prompt, int decode,
              famx::model::weight_path path) {
  auto cfg = famx::io::load_model_config(dir);
  if (!cfg) {
    std::fprintf(stderr, "famx run: %s\n", cfg.err().what());
    return exit_failed;
  }
  // Positions the model sees: the prompt, then every generated token but the last.
  const auto positions = static_cast<std::int64_t>(prompt.size()) + decode - 1;
  if (const auto max_pos = cfg->description.number("max_position_embeddings"); max_pos && *max_pos > 0 && static_cast<double>(positions) > *max_pos) {
    std::fprintf(stderr,
                 "famx run: %s: max_position_embeddings: found %lld positions (%zu prompt tokens + %d decoded - 1), "
                 "expected at most max_position_embeddings = %.0f\n",
                 cfg->file.c_str(), static_cast<long long>(positions), prompt.size(), decode, *max_pos);
    return exit_failed;
  }
  auto m = famx::model::reference_model::load(dir, path);
  if (!m) {
    std::fprintf(stderr, "famx run: %s\n", m.err().what());
    return exit_failed;
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
    return exit_failed;
  }
  return exit_ok;
}

}  // namespace

runner add_run(CLI::App& app) {
  auto o = std::make_shared<run_options>();
  auto* c = app.add_subcommand("run", "greedy decoding with the fp32 reference forward (quantized kernels unless "
                                      "--dequantize); next tokens and logits checksum");
  c->add_option("dir", o->dir, "the checkpoint directory")->required();
  c->add_option_function<std::string>(
       "--prompt-tokens", [o](const std::string& s) { o->prompt = parse_tokens(s); }, "comma-separated prompt token ids")
      ->type_name("IDS")
      ->default_str("1,2,3");
  add_integer(*c, "--decode", o->decode, 1, 1 << 20, "tokens to generate");
  c->add_flag("--dequantize", o->dequantize, "expand every quantized weight to fp32 (the dequantized path)");
  return [o] {
    return run_model(std::filesystem::path(o->dir), o->prompt, o->decode,
                     o->dequantize ? famx::model::weight_path::dequantized : famx::model::weight_path::quantized);
  };
}

int run_tiny_models() {
  std::error_code ec;
  const auto root = std::filesystem::temp_directory_path(ec) / ("famx_demo_" + std::to_string(::getpid()));
  int rc = exit_ok;
  for (const auto& t : famx::io::tiny_models) {
    const auto dir = root / t.key;
    if (auto files = famx::io::make_tiny_checkpoint(t.key, dir); !files) {
      std::fprintf(stderr, "famx demo: %s\n", files.err().message().c_str());
      rc = exit_failed;
      continue;
    }
    rc |= run_model(dir, {1, 2, 3}, 8, famx::model::weight_path::quantized);
  }
  std::filesystem::remove_all(root, ec);
  return rc;
}

}  // namespace famx_cli
