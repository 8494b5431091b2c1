// The include graph flows one way (DESIGN.md): every header's famx includes stay inside the layers
// its directory may use; in particular nothing under core/, surface/, families/ or io/ includes
// the SIMD kernels (kernels.hpp, quant/*-inl.hpp), moe/ or model/, and no header outside model/
// names a family or switches on a family name.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// The layers (directories under include/famx, or a top-level header) each layer may include.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"core", {"core"}},
    {"surface", {"core", "surface"}},
    {"families", {"core", "surface", "families"}},
    {"quant", {"core", "quant", "kernels.hpp"}},
    {"moe", {"core", "quant", "moe", "kernels.hpp"}},
    {"comm", {"core", "comm"}},
    {"io", {"core", "surface", "families", "io", "quant"}},
    {"shard", {"core", "surface", "families", "io", "quant", "shard"}},
    {"advise", {"core", "surface", "families", "io", "quant", "shard", "advise"}},
    {"model", {"core", "surface", "families", "io", "quant", "moe", "comm", "shard", "model", "kernels.hpp"}},
};

// The layer of a header path relative to include/famx ("io/config.hpp" -> "io", "famx.hpp" -> "famx.hpp").
std::string layer_of(const std::string& rel) {
  const auto slash = rel.find('/');
  return slash == std::string::npos ? rel : rel.substr(0, slash);
}

struct header {
  std::string rel;                    // "io/config.hpp"
  std::vector<std::string> includes;  // "famx/core/error.hpp", ...
  std::string text;
};

std::vector<header> headers() {
  const fs::path root = fs::path(FAMX_SOURCE_DIR) / "include" / "famx";
  std::vector<header> out;
  const std::regex inc(R"(^\s*#\s*include\s*[<"](famx/[^>"]+)[>"])");
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().extension() != ".hpp") continue;
    header h;
    h.rel = fs::relative(e.path(), root).generic_string();
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      h.text += line.substr(0, line.find("//")) + "\n";  // code only: comments may cite examples
      std::smatch m;
      if (std::regex_search(line, m, inc)) h.includes.push_back(m[1]);
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

TEST_CASE("every header includes only the layers below it") {
  const auto all = headers();
  REQUIRE(all.size() > 50);
  for (const auto& h : all) {
    const std::string from = layer_of(h.rel);
    const auto allowed = kAllowed.find(from);
    if (allowed == kAllowed.end()) continue;  // famx.hpp, kernels.hpp, version.hpp: the umbrella headers
    for (const auto& inc : h.includes) {
      const std::string to = layer_of(inc.substr(5));
      CAPTURE(h.rel);
      CAPTURE(inc);
      CHECK(allowed->second.contains(to));
    }
  }
}

TEST_CASE("no SIMD kernel, moe/ or model/ below model/, and <famx/famx.hpp> pulls in none") {
  for (const auto& h : headers()) {
    const std::string from = layer_of(h.rel);
    if (from != "core" && from != "surface" && from != "families" && from != "io" && h.rel != "famx.hpp") continue;
    for (const auto& inc : h.includes) {
      CAPTURE(h.rel);
      CAPTURE(inc);
      CHECK(inc != "famx/kernels.hpp");
      CHECK_FALSE(inc.ends_with("-inl.hpp"));
      if (h.rel != "famx.hpp") CHECK_FALSE(inc.starts_with("famx/moe/"));
      CHECK_FALSE(inc.starts_with("famx/model/"));
    }
  }
}

TEST_CASE("above families/, no header names a family") {
  // A family tag or a family-name string compare (`.family == "..."`) outside families/.
  const std::regex named(R"(families::(llama|qwen3|qwen3_moe|qwen3_next|deepseek_v3|deepseek_v32|glm4_moe|ministral3|kimi_k2)\b|family\s*==\s*")");
  for (const auto& h : headers()) {
    if (layer_of(h.rel) == "families") continue;
    CAPTURE(h.rel);
    CHECK_FALSE(std::regex_search(h.text, named));
  }
}
