// libFuzzer target: the input is the value of config.json's MLX `quantization` key (global
// {group_size, bits, mode} and per-module overrides). io::parse_quantization must return a dict
// or an error, never crash; on success the global format and every override's format are formats
// famx's kernels take (quant::validate accepts them).
#include <cstddef>
#include <cstdint>
#include <string>

#include <simdjson.h>

#include "famx/io/quantization.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const simdjson::padded_string json("{\"quantization\":" + std::string(reinterpret_cast<const char*>(data), size) + "}");
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(json).get(doc)) return 0;
  simdjson::ondemand::value v;
  if (doc.find_field_unordered("quantization").get(v)) return 0;
  auto q = famx::io::parse_quantization(v, "fuzz");
  if (!q) {
    if (q.err().message().empty()) __builtin_trap();
    return 0;
  }
  if (!q->quant_method.empty()) return 0;  // a Hugging Face quantization_config: nothing MLX to check
  if (!famx::quant::validate(q->global, "global")) __builtin_trap();
  for (const auto& o : q->overrides)
    if (o.format && !famx::quant::validate(*o.format, o.module)) __builtin_trap();
  return 0;
}
