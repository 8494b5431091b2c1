// libFuzzer target: the input is the text of a model.safetensors.index.json. The parser must
// return an index or an error, never crash or read outside the input; on success tensor names are
// unique and sorted and every file name is a plain file name.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "famx/io/safetensors_index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto index = famx::io::parse_safetensors_index(text, "fuzz.index.json");
  if (!index) {
    if (index.err().message().empty()) __builtin_trap();
    return 0;
  }
  for (std::size_t i = 0; i < index->weight_map.size(); ++i) {
    const auto& [name, file] = index->weight_map[i];
    if (i > 0 && !(index->weight_map[i - 1].first < name)) __builtin_trap();
    if (!famx::io::detail::is_plain_file_name(file)) __builtin_trap();
    if (index->file_of(name) == nullptr || *index->file_of(name) != file) __builtin_trap();
  }
  return 0;
}
