#pragma once
// Access to the real Hugging Face configs in FAMX_SHARED_DIR "/configs" (never copied into the repo).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>

#include "famx/io/config.hpp"

namespace famx_test {

inline std::filesystem::path shared_config(const std::string& name) {
  return std::filesystem::path(FAMX_SHARED_DIR) / "configs" / (name + ".json");
}

// The loaded real config, or nullopt (with a doctest MESSAGE) when the shared folder is absent.
inline std::optional<famx::io::loaded_model> load_shared(const std::string& name) {
  const auto p = shared_config(name);
  if (!std::filesystem::exists(p)) {
    MESSAGE("skipped: " << p.string() << " is absent (the shared configs folder is not here)");
    return std::nullopt;
  }
  auto m = famx::io::load_model_config(p);
  REQUIRE_MESSAGE(m.has_value(), (m.has_value() ? "" : m.err().message()));
  return std::move(*m);
}

// `value` (e.g. parameters) matches a published figure given in units of `unit` with `decimals`
// decimals: rounding or truncating value to that precision gives the figure (publishers do both).
inline bool matches_published(std::int64_t value, double published, double unit, int decimals) {
  double scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  const double x = static_cast<double>(value) / unit * scale;
  const double want = published * scale;
  return std::llround(x) == std::llround(want) || static_cast<std::int64_t>(x) == std::llround(want);
}

}  // namespace famx_test
