// famx make-tiny / famx verify: write tiny MLX checkpoints of every family, and verify a checkpoint
// directory against its family surface.
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <unistd.h>

#include "commands.hpp"
#include "famx/advise/render.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/io/verify.hpp"

namespace famx_cli {

namespace {

// Writes one tiny checkpoint and prints what it wrote.
int write_tiny(std::string_view name, const std::filesystem::path& dir, const famx::io::tiny_options& opt) {
  auto files = famx::io::make_tiny_checkpoint(name, dir, opt);
  if (!files) {
    std::fprintf(stderr, "famx make-tiny: %s\n", files.err().message().c_str());
    return exit_failed;
  }
  std::uintmax_t bytes = 0;
  std::error_code ec;
  for (const auto& f : *files) bytes += std::filesystem::file_size(f, ec);
  std::printf("%-13s %s: %zu files, %ju bytes\n", std::string(name).c_str(), dir.string().c_str(), files->size(), bytes);
  return exit_ok;
}

struct make_tiny_options {
  std::string family, dir;
  famx::io::tiny_options tiny;
};

struct verify_options {
  std::string dir, format = "text";
  bool all = false;
};

}  // namespace

runner add_make_tiny(CLI::App& app) {
  auto o = std::make_shared<make_tiny_options>();
  auto* c = app.add_subcommand("make-tiny",
                               "write a tiny, format-faithful MLX checkpoint of a family (all: every family into <dir>/<family>)");
  c->add_option("family", o->family, "a family key (llama qwen3 qwen3_moe qwen3_next deepseek_v3 kimi_k2 deepseek_v32 "
                                     "glm4_moe ministral3) or all")
      ->required();
  c->add_option("dir", o->dir, "the directory to write (created)")->required();
  add_integer(*c, "--bits", o->tiny.bits, {0, 2, 3, 4, 5, 6, 8}, "bits of the MLX quantization (0: float weights)");
  add_integer(*c, "--group", o->tiny.group_size, {32, 64, 128}, "quantization group size");
  add_integer(*c, "--shards", o->tiny.shards, 1, 64, "safetensors files (an index is written when > 1)");
  add_integer(*c, "--layers", o->tiny.layers, 1, 64, "decoder layers (default 2), the family's layer-kind pattern kept");
  add_integer(*c, "--seed", o->tiny.seed, std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max(),
              "seed of the weights (the same seed writes the same bytes)");
  return [o] {
    if (o->family != "all") return write_tiny(o->family, std::filesystem::path(o->dir), o->tiny);
    for (const auto& t : famx::io::tiny_models)
      if (const int rc = write_tiny(t.key, std::filesystem::path(o->dir) / t.key, o->tiny); rc != 0) return rc;
    return exit_ok;
  };
}

runner add_verify(CLI::App& app) {
  auto o = std::make_shared<verify_options>();
  auto* c = app.add_subcommand("verify",
                               "check config.json and the safetensors files against the family surface (exit 1 on failure)");
  c->add_option("dir", o->dir, "the checkpoint directory")->required();
  add_choice(*c, "--format", o->format, {"text", "json"}, "output format");
  c->add_flag("--all", o->all, "list every rename and dropped-tensor note, not one per kind");
  return [o] {
    const auto report = famx::io::verify_checkpoint(std::filesystem::path(o->dir));
    const std::string out = o->format == "json" ? famx::io::render_json(report) + "\n" : famx::io::render_text(report, o->all);
    std::fputs(out.c_str(), stdout);
    return report.ok() ? exit_ok : exit_failed;
  };
}

int checkpoint_demo() {
  std::error_code ec;
  const auto dir = std::filesystem::temp_directory_path(ec) / ("famx-demo-" + std::to_string(::getpid()));
  famx::io::tiny_options opt;
  opt.shards = 2;
  int rc = exit_ok;
  for (const auto& t : famx::io::tiny_models) {
    if (rc = write_tiny(t.key, dir / t.key, opt); rc != 0) break;
    const auto report = famx::io::verify_checkpoint(dir / t.key);
    std::printf("  verify: %s, %zu tensors in %zu files, layout %s\n", report.ok() ? "OK" : "FAILED", report.tensors,
                report.files, report.layout.c_str());
    if (!report.ok()) {
      std::fputs(famx::io::render_text(report).c_str(), stdout);
      rc = exit_failed;
      break;
    }
  }
  if (rc == exit_ok) {  // what an engine must get right for one of them: the advisor's integration notes
    const auto ckpt = dir / "qwen3_next";
    auto r = famx::advise::report_for_id(ckpt.string());
    if (!r) {
      std::fprintf(stderr, "famx demo: %s\n", r.err().what());
      rc = exit_failed;
    } else {
      r->add_checkpoint(ckpt);
      const std::string text = famx::advise::render(*r, famx::advise::format::text);
      std::printf("\n  famx advise %s (its integration notes):\n%s", ckpt.string().c_str(),
                  text.substr(text.find("== Integration notes ==") + 24).c_str());
    }
  }
  std::filesystem::remove_all(dir, ec);
  return rc;
}

}  // namespace famx_cli
