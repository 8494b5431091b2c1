// libFuzzer target: the input is a whole safetensors file. parse_safetensors_header must return
// a header or an error, never crash or read outside the input; on success every tensor range lies
// inside the data area, and reading every tensor byte (checked by AddressSanitizer) is safe.
#include <cstddef>
#include <cstdint>
#include <span>

#include "famx/io/safetensors_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = std::as_bytes(std::span(data, size));
  auto header = famx::io::parse_safetensors_header(file, "fuzz.safetensors");
  if (!header) {
    if (header.err().message().empty()) __builtin_trap();
    return 0;
  }
  std::uint64_t at = 0;
  unsigned sum = 0;
  for (const famx::io::tensor_entry& t : header->tensors) {
    if (t.begin > t.end || t.end > header->data_size) __builtin_trap();
    if (t.nbytes() != static_cast<std::uint64_t>(t.dims.numel()) * famx::size_of(t.type)) __builtin_trap();
    at += t.nbytes();
    for (const std::byte b : file.subspan(header->data_offset + t.begin, t.nbytes())) sum += static_cast<unsigned>(b);
  }
  if (at != header->data_size || header->data_offset + header->data_size != size) __builtin_trap();
  return static_cast<int>(sum & 0);
}
