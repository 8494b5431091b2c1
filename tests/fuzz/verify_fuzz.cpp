// libFuzzer target: io::verify_checkpoint over a checkpoint directory whose files the fuzzer
// writes. The input is a checkpoint archive (checkpoint_archive.hpp: config.json, the index and
// safetensors headers, whose data the target fills with zeros, so mutations reach the header
// checks, not only the framing). verify_checkpoint must give a report, never crash or throw;
// every error finding says what it found and expected.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "checkpoint_archive.hpp"
#include "famx/io/verify.hpp"

namespace {

// The scratch checkpoint directory: made once per process, emptied before every input, removed
// at exit.
struct scratch_dir {
  std::filesystem::path path;
  scratch_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "famx-verify-fuzz-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) __builtin_trap();
    path = t;
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const scratch_dir scratch;
  const std::filesystem::path& dir = scratch.path;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    std::filesystem::remove_all(it->path(), ec);
  famx::test::unpack_archive(std::string_view(reinterpret_cast<const char*>(data), size), dir);
  const auto report = famx::io::verify_checkpoint(dir);
  for (const auto& f : report.findings)
    if (f.level == famx::io::severity::error && f.found.empty() && f.expected.empty()) __builtin_trap();
  return 0;
}
