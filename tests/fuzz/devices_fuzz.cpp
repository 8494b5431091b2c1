// libFuzzer target: the input is a `--devices` list ("mac-a=64G:120,24Gi"). shard::parse_devices
// must return devices or an error naming the item, never crash; on success every device has a
// distinct non-empty name, a positive memory size and, when given, a positive finite bandwidth.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "famx/shard/device.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto devices = famx::shard::parse_devices(text);
  if (!devices) {
    if (!devices.err().path().starts_with("devices")) __builtin_trap();
    return 0;
  }
  if (devices->empty()) __builtin_trap();
  for (std::size_t i = 0; i < devices->size(); ++i) {
    const auto& d = (*devices)[i];
    if (d.name.empty() || d.memory_bytes <= 0) __builtin_trap();
    if (d.bandwidth_gb_s && !(std::isfinite(*d.bandwidth_gb_s) && *d.bandwidth_gb_s > 0)) __builtin_trap();
    for (std::size_t j = 0; j < i; ++j)
      if ((*devices)[j].name == d.name) __builtin_trap();
  }
  return 0;
}
