#pragma once
// family_traits<Family>: what famx knows about one HF model_type. The primary template is an error;
// each family header specializes it (variants inherit a sibling and override what differs):
//   name, strategy (Exo's sharding strategy), config (typed config.json, mlx-lm defaults),
//   layers (the layer-kind surfaces), primary_layer, layer_kind(cfg, i), finalize(cfg),
//   validate(cfg, file), experts(cfg) / experts_per_token(cfg), tied(cfg), tp_divisors(cfg).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/hana/adapt_struct.hpp>

#include "famx/core/error.hpp"
#include "famx/surface/conformance.hpp"

namespace famx::families {

// The `rope_scaling` dict (also Ministral 3's `rope_parameters`); every key optional.
struct rope_scaling {
  std::optional<std::string> type, rope_type;
  std::optional<double> factor, low_freq_factor, high_freq_factor, beta_fast, beta_slow, mscale,
      mscale_all_dim, rope_theta, llama_4_scaling_beta;
  std::optional<std::int64_t> original_max_position_embeddings;
};

template <class Family>
struct family_traits {
  static_assert(!std::is_same_v<Family, Family>,
                "family_traits not implemented for this family (see famx/families/*.hpp)");
};

// A value the tensor-parallel degree must divide (config key, its value).
struct divisor {
  std::string key;
  std::int64_t value;
};

namespace detail {
// Error for a config value that violates a rule: names the file, the key, what was found and expected.
inline error bad_value(errc code, std::string_view file, std::string key, std::string found,
                       std::string expected) {
  return error(code, std::move(key), std::move(found), std::move(expected), std::string(file));
}

// Checks that field `key` is positive.
inline result<void> positive(std::string_view file, std::string_view key, std::int64_t v) {
  if (v <= 0)
    return bad_value(errc::invalid_value, file, std::string(key), std::to_string(v), "a positive integer");
  return {};
}

// Checks that `num` (key nk) is a multiple of `den` (key dk).
inline result<void> divides(std::string_view file, std::string_view nk, std::int64_t num,
                            std::string_view dk, std::int64_t den) {
  if (den <= 0 || num % den != 0)
    return bad_value(errc::inconsistent, file, std::string(nk), std::to_string(num),
                     "a multiple of " + std::string(dk) + " = " + std::to_string(den));
  return {};
}
}  // namespace detail

}  // namespace famx::families

BOOST_HANA_ADAPT_STRUCT(famx::families::rope_scaling, type, rope_type, factor, low_freq_factor,
                        high_freq_factor, beta_fast, beta_slow, mscale, mscale_all_dim, rope_theta,
                        llama_4_scaling_beta, original_max_position_embeddings);
