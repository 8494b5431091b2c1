#pragma once
// Devices a model is placed on: a name, the memory available to the model and an optional link
// bandwidth, parsed from CLI text such as `64G,64G,128G` or `mac-a=64G,mac-b=24G:120`.
// Sizes: K, M, G, T are powers of 1000 (GB as Exo's cards and famx's reports count them);
// Ki, Mi, Gi, Ti are powers of 1024; a trailing B is allowed (`64GB`, `64GiB`); decimals are allowed
// (`97.5G`); a unit is required. `:N` after a size is the bandwidth in GB/s.

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "famx/core/error.hpp"

namespace famx::shard {

// One device: its name, the memory available to the model (bytes) and optional bandwidth (GB/s).
struct device {
  std::string name;
  std::int64_t memory_bytes = 0;
  std::optional<double> bandwidth_gb_s;
};

namespace detail {
// Bytes per unit of a size suffix ("G" -> 1e9, "Gi" -> 2^30); 0 when the suffix is not a unit.
inline double size_unit(std::string_view s) noexcept {
  if (!s.empty() && (s.back() == 'B' || s.back() == 'b')) s.remove_suffix(1);
  const bool binary = s.size() == 2 && (s[1] == 'i' || s[1] == 'I');
  if (s.size() != 1 && !binary) return 0;
  const double base = binary ? 1024.0 : 1000.0;
  switch (s[0]) {
    case 'K': case 'k': return base;
    case 'M': case 'm': return base * base;
    case 'G': case 'g': return base * base * base;
    case 'T': case 't': return base * base * base * base;
    default: return 0;
  }
}
// A finite non-negative decimal number filling all of s.
inline std::optional<double> parse_number(std::string_view s) noexcept {
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}
}  // namespace detail

// Bytes of a size text ("64G" -> 64e9, "1.5Gi" -> 1610612736); errors name `path`.
inline result<std::int64_t> parse_size(std::string_view text, const std::string& path = "size") {
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  const auto number = detail::parse_number(text.substr(0, i));
  const double unit = detail::size_unit(text.substr(i));
  if (!number || unit == 0)
    return error(errc::invalid_value, path, "\"" + std::string(text) + "\"",
                 "a size such as 64G, 97.5G or 24Gi (K/M/G/T = powers of 1000, Ki/Mi/Gi/Ti = powers of 1024)");
  const double bytes = std::round(*number * unit);
  if (bytes <= 0 || bytes > 9.2e18)
    return error(errc::invalid_value, path, "\"" + std::string(text) + "\"", "a size above 0 bytes and below 9.2 EB");
  return static_cast<std::int64_t>(bytes);
}

// The devices of a comma-separated list `[name=]size[:bandwidth_gb_s]`; unnamed devices are called
// "device<i>" (i = position in the list); errors name the item as "devices.<i>".
inline result<std::vector<device>> parse_devices(std::string_view text) {
  std::vector<device> out;
  if (text.empty()) return error(errc::invalid_value, "devices", "an empty list", "sizes such as 64G,64G,128G");
  std::size_t pos = 0;
  for (int i = 0;; ++i) {
    const std::size_t comma = text.find(',', pos);
    const std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    const std::string path = "devices." + std::to_string(i);
    if (item.empty()) return error(errc::invalid_value, path, "an empty item", "[name=]size[:bandwidth_gb_s]");
    device dev;
    std::string_view rest = item;
    if (const auto eq = rest.find('='); eq != std::string_view::npos) {
      dev.name = std::string(rest.substr(0, eq));
      rest = rest.substr(eq + 1);
      if (dev.name.empty() || dev.name.find_first_of(":= ") != std::string::npos)
        return error(errc::invalid_value, path, "name \"" + dev.name + "\" in \"" + std::string(item) + "\"",
                     "a non-empty name without ':', '=' or spaces");
    } else {
      dev.name = "device" + std::to_string(i);
    }
    std::string_view size = rest;
    if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
      size = rest.substr(0, colon);
      const auto bw = detail::parse_number(rest.substr(colon + 1));
      if (!bw || *bw <= 0)
        return error(errc::invalid_value, path, "bandwidth \"" + std::string(rest.substr(colon + 1)) + "\" in \"" +
                     std::string(item) + "\"", "a positive number of GB/s after ':' (mac-a=64G:120)");
      dev.bandwidth_gb_s = *bw;
    }
    auto bytes = parse_size(size, path);
    if (!bytes) return bytes.err();
    dev.memory_bytes = *bytes;
    for (const auto& d : out)
      if (d.name == dev.name)
        return error(errc::inconsistent, path, "name \"" + dev.name + "\" used twice", "distinct device names");
    out.push_back(std::move(dev));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace famx::shard
