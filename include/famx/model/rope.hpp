#pragma once
// Rotary position embeddings as mlx-lm's initialize_rope builds them (spec 1.2): the inverse
// frequencies of the default, linear, llama3 and YaRN variants, the YaRN mscale on q and k,
// partial rotary (only the first `dims` features rotate) and both pairings (rotate_half, or
// traditional / interleaved). Angles, cos and sin in fp32.

#include <cmath>
#include <cstddef>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/families/family_traits.hpp"

namespace famx::model {

// One RoPE: rotate the first `dims` features of a head by position * inv_freq[i], pairing x[i]
// with x[i + dims/2] (traditional = false) or x[2i] with x[2i+1] (traditional = true), after
// multiplying those features by mscale.
struct rope {
  std::size_t dims = 0;
  bool traditional = false;
  std::vector<float> inv_freq;  // dims / 2 entries
  float mscale = 1.0f;

  // cos and sin of pos * inv_freq[i] for the dims / 2 pairs: one table serves every head at pos.
  struct angles {
    std::vector<float> cos, sin;
  };
  angles at(std::size_t pos) const {
    angles a{std::vector<float>(dims / 2), std::vector<float>(dims / 2)};
    for (std::size_t i = 0; i < dims / 2; ++i) {
      const float theta = static_cast<float>(pos) * inv_freq[i];
      a.cos[i] = std::cos(theta);
      a.sin[i] = std::sin(theta);
    }
    return a;
  }

  // Rotates x (one head, at least dims features) in place by the angles of one position (at(pos)).
  void apply(std::span<float> x, const angles& r) const {
    const std::size_t half = dims / 2;
    if (mscale != 1.0f)
      for (std::size_t i = 0; i < dims; ++i) x[i] *= mscale;
    for (std::size_t i = 0; i < half; ++i) {
      const float c = r.cos[i], s = r.sin[i];
      float& a = traditional ? x[2 * i] : x[i];
      float& b = traditional ? x[2 * i + 1] : x[i + half];
      const float x1 = a, x2 = b;
      a = x1 * c - x2 * s;
      b = x1 * s + x2 * c;
    }
  }
};

// mlx-lm initialize_rope(dims, base, traditional, scaling): the variant named by scaling.type,
// else scaling.rope_type, else "default". Errors name `key` (the config key of the dict).
inline result<rope> make_rope(std::size_t dims, double base, bool traditional,
                              const std::optional<families::rope_scaling>& scaling,
                              const std::string& key = "rope_scaling") {
  rope r{dims, traditional, std::vector<float>(dims / 2), 1.0f};
  const std::size_t half = dims / 2;
  // Periods base^(2i/dims), in fp32 as mx.arange / mx.power compute them.
  std::vector<float> period(half);
  for (std::size_t i = 0; i < half; ++i)
    period[i] = std::pow(static_cast<float>(base), static_cast<float>(2 * i) / static_cast<float>(dims));
  const std::string type = scaling ? scaling->type.value_or(scaling->rope_type.value_or("default")) : "default";
  if (type == "default" || type == "linear") {
    const float scale = type == "linear" ? static_cast<float>(1.0 / scaling->factor.value_or(1.0)) : 1.0f;
    for (std::size_t i = 0; i < half; ++i)
      r.inv_freq[i] = scale * std::exp(-static_cast<float>(i) * std::log(static_cast<float>(base)) / static_cast<float>(half));
    return r;
  }
  if (type == "llama3") {
    const double factor = scaling->factor.value_or(1.0), low = scaling->low_freq_factor.value_or(1.0),
                 high = scaling->high_freq_factor.value_or(4.0);
    const double old = static_cast<double>(scaling->original_max_position_embeddings.value_or(8192));
    for (std::size_t i = 0; i < half; ++i) {
      float f = period[i];
      const double wavelen = 2 * std::numbers::pi * f;
      if (wavelen > old / low) {
        f = static_cast<float>(f * factor);
      } else if (wavelen > old / high && wavelen < old / low) {  // both bounds strict, as mlx-lm
        const double s = (old / wavelen - low) / (high - low);
        f = static_cast<float>(f / ((1 - s) / factor + s));
      }
      r.inv_freq[i] = 1.0f / f;
    }
    return r;
  }
  if (type == "yarn" || type == "deepseek_yarn") {
    const double factor = scaling->factor.value_or(1.0), beta_fast = scaling->beta_fast.value_or(32),
                 beta_slow = scaling->beta_slow.value_or(1);
    const double orig = static_cast<double>(scaling->original_max_position_embeddings.value_or(4096));
    const double d = static_cast<double>(dims);
    auto corr = [&](double rot) { return d * std::log(orig / (rot * 2 * std::numbers::pi)) / (2 * std::log(base)); };
    const double lo = std::max(std::floor(corr(beta_fast)), 0.0);
    double hi = std::min(std::ceil(corr(beta_slow)), d - 1);
    if (lo == hi) hi += 0.001;
    for (std::size_t i = 0; i < half; ++i) {
      const double ramp = std::clamp((static_cast<double>(i) - lo) / (hi - lo), 0.0, 1.0);
      const double mask = 1 - ramp;  // 1: extrapolate (original frequency), 0: interpolate (/factor)
      const double extra = 1.0 / period[i], inter = 1.0 / (factor * period[i]);
      r.inv_freq[i] = static_cast<float>(inter * (1 - mask) + extra * mask);
    }
    r.mscale = static_cast<float>(families::yarn_get_mscale(factor, scaling->mscale.value_or(1)) /
                                  families::yarn_get_mscale(factor, scaling->mscale_all_dim.value_or(0)));
    return r;
  }
  return error(errc::unsupported, key + ".type", "\"" + type + "\"",
               "one of default, linear, llama3, yarn, deepseek_yarn (the variants the families use)");
}

// The RoPE a family's attention_params describe.
inline result<rope> make_rope(const families::rope_params& p) {
  return make_rope(static_cast<std::size_t>(p.dims), p.base, p.traditional, p.scaling, p.key);
}

}  // namespace famx::model
