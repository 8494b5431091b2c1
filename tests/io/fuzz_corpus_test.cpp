// The committed fuzz seed corpora, replayed by the unit tests: valid_* inputs parse (plan, verify),
// near_* inputs are rejected with an error naming the file, key or item.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <simdjson.h>

#include "../fuzz/checkpoint_archive.hpp"
#include "famx/io/config.hpp"
#include "famx/io/safetensors_dtype.hpp"
#include "famx/io/safetensors_header.hpp"
#include "famx/io/safetensors_index.hpp"
#include "famx/io/sanitize.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/io/verify.hpp"
#include "famx/shard/device.hpp"
#include "test_files.hpp"

namespace {

const std::filesystem::path corpus = std::filesystem::path(FAMX_SOURCE_DIR) / "tests/fuzz/corpus";

// Calls check(name, bytes) for every file of a corpus directory; returns how many there were.
template <class Check>
int for_each_input(const std::filesystem::path& dir, Check check) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    CAPTURE(name);
    check(name, famx::test::read_bytes(e.path()));
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("the safetensors header seed corpus: valid inputs parse, near-valid ones are rejected") {
  const int n = for_each_input(corpus / "safetensors_header", [](const std::string& name, const std::string& bytes) {
    auto r = famx::io::parse_safetensors_header(std::as_bytes(std::span(bytes.data(), bytes.size())), name);
    CHECK(r.has_value() == name.starts_with("valid_"));
    if (!r) CHECK(r.err().message().starts_with(name + ": "));
  });
  CHECK(n >= 10);
}

TEST_CASE("the safetensors index seed corpus: valid inputs parse, near-valid ones are rejected") {
  const int n = for_each_input(corpus / "safetensors_index", [](const std::string& name, const std::string& text) {
    auto r = famx::io::parse_safetensors_index(text, name);
    CHECK(r.has_value() == name.starts_with("valid_"));
    if (!r) CHECK(r.err().message().starts_with(name + ": "));
  });
  CHECK(n >= 5);
}

TEST_CASE("the --devices seed corpus: valid lists parse, near-valid ones are rejected naming the item") {
  const int n = for_each_input(corpus / "devices", [](const std::string& name, const std::string& text) {
    auto r = famx::shard::parse_devices(text);
    CHECK(r.has_value() == name.starts_with("valid_"));
    if (!r) CHECK(r.err().path().starts_with("devices"));
  });
  CHECK(n >= 10);
}

TEST_CASE("the quantization seed corpus: valid dicts parse, near-valid ones are rejected naming the key") {
  const int n = for_each_input(corpus / "quantization", [](const std::string& name, const std::string& text) {
    const simdjson::padded_string json("{\"quantization\":" + text + "}");
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document doc;
    REQUIRE(parser.iterate(json).get(doc) == simdjson::SUCCESS);
    simdjson::ondemand::value v;
    REQUIRE(doc.find_field_unordered("quantization").get(v) == simdjson::SUCCESS);
    auto r = famx::io::parse_quantization(v, name);
    CHECK(r.has_value() == name.starts_with("valid_"));
    if (!r) CHECK(r.err().message().starts_with(name + ": quantization"));
  });
  CHECK(n >= 10);
}

TEST_CASE("the config.json seed corpus: valid configs parse through the registry, near-valid ones are rejected") {
  const int n = for_each_input(corpus / "config_json", [](const std::string& name, const std::string& text) {
    auto r = famx::io::parse_model_config(text, name);
    CHECK(r.has_value() == name.starts_with("valid_"));
    if (!r) CHECK(r.err().message().starts_with(name + ":"));
  });
  CHECK(n >= 15);
}

TEST_CASE("the sanitize seed corpus: valid layouts plan without problems, near-valid ones report them") {
  const int n = for_each_input(corpus / "sanitize", [](const std::string& name, const std::string& bytes) {
    REQUIRE(!bytes.empty());
    const auto& tm = famx::io::tiny_models[static_cast<unsigned char>(bytes[0]) % famx::io::tiny_models.size()];
    const auto m = famx::io::parse_model_config(tm.config_json, "tiny").value();
    std::vector<famx::io::tensor_entry> entries;
    std::uint64_t offset = 0;
    std::istringstream lines(bytes.substr(1));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream f(line);
      std::string tensor, type, dims;
      f >> tensor >> type >> dims;
      famx::io::tensor_entry e{tensor, famx::io::parse_safetensors_dtype(type).value(), {}, offset, offset};
      std::istringstream ds(dims);
      for (std::string d; std::getline(ds, d, ',');) e.dims.push_back(std::stoll(d));
      e.end = offset += static_cast<std::uint64_t>(e.dims.numel()) * famx::size_of(e.type);
      entries.push_back(e);
    }
    std::ranges::sort(entries, std::less<>{}, &famx::io::tensor_entry::name);
    const auto plan = famx::io::plan_sanitize(entries, m.description, m.wrapper);
    CHECK(plan.problems.empty() == name.starts_with("valid_"));
    for (const auto& e : plan.problems) CHECK(!e.message().empty());
  });
  CHECK(n >= 8);
}

TEST_CASE("the verify seed corpus: valid checkpoint archives verify, near-valid ones fail with findings") {
  const int n = for_each_input(corpus / "verify", [](const std::string& name, const std::string& bytes) {
    famx::test::temp_dir dir;
    famx::test::unpack_archive(bytes, dir.path());
    const auto report = famx::io::verify_checkpoint(dir.path());
    CHECK(report.ok() == name.starts_with("valid_"));
    if (!report.ok()) CHECK(report.errors() > 0);
  });
  CHECK(n >= 6);
}
