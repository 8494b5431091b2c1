// famx make-tiny / famx verify: write tiny MLX checkpoints of every family, and verify a checkpoint
// directory against its family surface.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include <unistd.h>

#include "commands.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/io/verify.hpp"

namespace famx_cli {

namespace {

int usage_error(const char* command, const std::string& why) {
  std::fprintf(stderr, "famx %s: %s\n", command, why.c_str());
  return 2;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

// Writes one tiny checkpoint and prints what it wrote.
int write_tiny(std::string_view name, const std::filesystem::path& dir, const famx::io::tiny_options& opt) {
  auto files = famx::io::make_tiny_checkpoint(name, dir, opt);
  if (!files) {
    std::fprintf(stderr, "famx make-tiny: %s\n", files.err().message().c_str());
    return 1;
  }
  std::uintmax_t bytes = 0;
  for (const auto& f : *files) bytes += std::filesystem::file_size(f);
  std::printf("%-13s %s: %zu files, %ju bytes\n", std::string(name).c_str(), dir.string().c_str(), files->size(), bytes);
  return 0;
}

}  // namespace

int make_tiny(args a) {
  famx::io::tiny_options opt;
  std::vector<std::string_view> pos;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string_view s = a[i];
    const bool has_value = i + 1 < a.size();
    if (s == "--bits" && has_value) {
      if (!parse_number(a[++i], opt.bits)) return usage_error("make-tiny", "--bits takes 0 (float), 2, 3, 4, 5, 6 or 8");
    } else if (s == "--group" && has_value) {
      if (!parse_number(a[++i], opt.group_size)) return usage_error("make-tiny", "--group takes 32, 64 or 128");
    } else if (s == "--shards" && has_value) {
      if (!parse_number(a[++i], opt.shards) || opt.shards < 1) return usage_error("make-tiny", "--shards takes a positive integer");
    } else if (s == "--seed" && has_value) {
      if (!parse_number(a[++i], opt.seed)) return usage_error("make-tiny", "--seed takes a non-negative integer");
    } else if (s.starts_with("--")) {
      return usage_error("make-tiny", "unknown option '" + std::string(s) + "'");
    } else {
      pos.push_back(s);
    }
  }
  if (pos.size() != 2)
    return usage_error("make-tiny", "usage: famx make-tiny <family|all> <dir> [--bits 4] [--group 64] [--shards N] [--seed S]");
  if (pos[0] != "all") return write_tiny(pos[0], std::filesystem::path(pos[1]), opt);
  for (const auto& t : famx::io::tiny_models)
    if (const int rc = write_tiny(t.key, std::filesystem::path(pos[1]) / t.key, opt); rc != 0) return rc;
  return 0;
}

int verify(args a) {
  bool json = false, all = false;
  std::vector<std::string_view> pos;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string_view s = a[i];
    if (s == "--format" && i + 1 < a.size()) {
      const std::string_view f = a[++i];
      if (f != "text" && f != "json") return usage_error("verify", "--format takes text or json");
      json = f == "json";
    } else if (s == "--all") {
      all = true;
    } else if (s.starts_with("--")) {
      return usage_error("verify", "unknown option '" + std::string(s) + "'");
    } else {
      pos.push_back(s);
    }
  }
  if (pos.size() != 1) return usage_error("verify", "usage: famx verify <checkpoint-dir> [--format text|json] [--all]");
  const auto report = famx::io::verify_checkpoint(std::filesystem::path(pos[0]));
  const std::string out = json ? famx::io::render_json(report) + "\n" : famx::io::render_text(report, all);
  std::fputs(out.c_str(), stdout);
  return report.ok() ? 0 : 1;
}

int checkpoint_demo() {
  std::error_code ec;
  const auto dir = std::filesystem::temp_directory_path(ec) / ("famx-demo-" + std::to_string(::getpid()));
  famx::io::tiny_options opt;
  opt.shards = 2;
  int rc = 0;
  for (const auto& t : famx::io::tiny_models) {
    if (rc = write_tiny(t.key, dir / t.key, opt); rc != 0) break;
    const auto report = famx::io::verify_checkpoint(dir / t.key);
    std::printf("  verify: %s, %zu tensors in %zu files, layout %s\n", report.ok() ? "OK" : "FAILED", report.tensors,
                report.files, report.layout.c_str());
    if (!report.ok()) {
      std::fputs(famx::io::render_text(report).c_str(), stdout);
      rc = 1;
      break;
    }
  }
  std::filesystem::remove_all(dir, ec);
  return rc;
}

}  // namespace famx_cli
