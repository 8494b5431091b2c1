// libFuzzer target: the input is the text of a config.json. io::parse_model_config identifies the
// family through the registry and runs that family's parser and validator; it must return a model
// or an error, never crash, hang or read outside the input. On success the description is usable:
// its tensor table and the MLX storage table have no negative sizes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "famx/io/config.hpp"
#include "famx/io/storage.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = famx::io::parse_model_config(text, "fuzz");
  if (!m) {
    if (m.err().message().empty()) __builtin_trap();
    return 0;
  }
  const auto& d = m->description;
  if (d.tensors.empty() || d.layers.empty()) __builtin_trap();
  for (const auto& t : d.tensors)
    if (t.numel() < 0) __builtin_trap();
  for (const auto& s : famx::io::storage_table(d, m->quantization))
    if (s.bytes < 0) __builtin_trap();
  return 0;
}
