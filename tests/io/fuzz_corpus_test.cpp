// The committed fuzz seed corpus, replayed by the unit tests: valid_* inputs parse, near_* inputs
// are rejected with an error naming the file.
#include <doctest/doctest.h>

#include <filesystem>
#include <span>
#include <string>

#include "famx/io/safetensors_header.hpp"
#include "famx/io/safetensors_index.hpp"
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
