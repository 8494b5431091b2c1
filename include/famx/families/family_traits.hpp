#pragma once
// family_traits<Family>: what famx knows about one HF model_type. The primary template is an error;
// each family header specializes it, and a variant inherits a sibling and overrides only what
// differs (CuTe's mma_traits pattern). The members every family states:
//
//   name, architectures, model_types   its HF model_type, architectures[0] strings and the
//                                      model_type strings that select it (aliases included)
//   strategy, summary                  Exo's sharding strategy class; what is unusual about it
//   config                             the typed config.json (FAMX_CONFIG_FIELDS, mlx-lm defaults)
//   layers                             its layer-kind surfaces (surface::decoder_layer<Attention, Mlp>)
//   layer_kind(c, i)                   which of `layers` decoder layer i is (read by for_layer only)
//   validate(c, file), finalize(c)     semantic checks of a parsed config; mlx-lm's derived defaults
//   tied(c)                            whether lm_head is embed_tokens
//   experts(c), experts_per_token(c)   routed experts per MoE layer and per token (0: dense)
//   tp_divisors(c)                     the config values a tensor-parallel degree must divide
//   attention(c)                       RoPE variant, softmax scale, query scale (attention_params)
//   routing(c)                         the MoE router (MoE families only)
//   sanitize                           mlx-lm's sanitize steps for its checkpoints (families/sanitize.hpp)

#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/core/routing_config.hpp"
#include "famx/surface/config.hpp"
#include "famx/surface/conformance.hpp"

namespace famx::families {

// The `rope_scaling` dict (also Ministral 3's `rope_parameters`); every key optional.
struct rope_scaling {
  FAMX_CONFIG_FIELDS(rope_scaling,
                     (optional, std::optional<std::string>, type, std::nullopt),
                     (optional, std::optional<std::string>, rope_type, std::nullopt),
                     (optional, std::optional<double>, factor, std::nullopt),
                     (optional, std::optional<double>, low_freq_factor, std::nullopt),
                     (optional, std::optional<double>, high_freq_factor, std::nullopt),
                     (optional, std::optional<double>, beta_fast, std::nullopt),
                     (optional, std::optional<double>, beta_slow, std::nullopt),
                     (optional, std::optional<double>, mscale, std::nullopt),
                     (optional, std::optional<double>, mscale_all_dim, std::nullopt),
                     (optional, std::optional<double>, rope_theta, std::nullopt),
                     (optional, std::optional<double>, llama_4_scaling_beta, std::nullopt),
                     (optional, std::optional<std::int64_t>, original_max_position_embeddings, std::nullopt))
};

// The arguments of mlx-lm's initialize_rope for one attention: the rotated features per head, the
// base, the pairing (traditional: x[2i] with x[2i+1]) and the scaling dict; `key` names that dict
// in config.json for errors.
struct rope_params {
  std::int64_t dims = 0;
  double base = 10000;
  bool traditional = false;
  std::optional<famx::families::rope_scaling> scaling{};
  std::string key = "rope_scaling";
};

// How a family's attention treats positions and scores.
struct attention_params {
  rope_params rope;                      // the attention's RoPE (MLA: on qk_rope_head_dim)
  double scale = 1;                      // softmax scale
  double query_scale_beta = 0;           // Llama-4 query scale: q *= 1 + beta * ln(1 + floor(pos / orig))
  std::int64_t query_scale_orig = 1;
  std::optional<rope_params> index_rope{};  // the DeepSeek-V3.2 indexer's RoPE
};

// YaRN's magnitude correction: 1 for scale <= 1, else 0.1 * m * ln(scale) + 1.
inline double yarn_get_mscale(double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

// Checks a RoPE as mlx-lm's initialize_rope takes it: a positive base, a variant it knows
// (default, linear, llama3, yarn, deepseek_yarn) with the keys that variant reads without a default
// (factor) and sane values (factor > 0; llama3: high_freq_factor > low_freq_factor > 0). Errors
// name the dict's key.
inline result<void> validate_rope(const rope_params& r, std::string_view file) {
  auto bad = [&](std::string key, std::string found, std::string expected) -> result<void> {
    return error(errc::invalid_value, std::move(key), std::move(found), std::move(expected), std::string(file));
  };
  if (!(r.base > 0)) return bad(r.key == "rope_scaling" ? "rope_theta" : r.key + ".rope_theta", std::to_string(r.base), "a positive number");
  if (!r.scaling) return {};
  const rope_scaling& s = *r.scaling;
  const std::string type = s.type.value_or(s.rope_type.value_or("default"));
  const std::string where = r.key + (s.type ? ".type" : ".rope_type");
  if (type != "default" && type != "linear" && type != "llama3" && type != "yarn" && type != "deepseek_yarn")
    return error(errc::unsupported, where, "\"" + type + "\"",
                 "one of default, linear, llama3, yarn, deepseek_yarn (the variants mlx-lm builds for these families)",
                 std::string(file));
  if (type == "default") return {};
  if (!s.factor) return error(errc::missing, r.key + ".factor", "no such key", "the scaling factor a " + type + " RoPE reads", std::string(file));
  if (!(*s.factor > 0)) return bad(r.key + ".factor", std::to_string(*s.factor), "a positive factor");
  if (type == "llama3") {
    const double lo = s.low_freq_factor.value_or(1.0), hi = s.high_freq_factor.value_or(4.0);
    if (!(lo > 0)) return bad(r.key + ".low_freq_factor", std::to_string(lo), "a positive number");
    if (!(hi > lo)) return bad(r.key + ".high_freq_factor", std::to_string(hi), "more than low_freq_factor = " + std::to_string(lo));
  }
  if (s.original_max_position_embeddings && *s.original_max_position_embeddings <= 0)
    return bad(r.key + ".original_max_position_embeddings", std::to_string(*s.original_max_position_embeddings), "a positive integer");
  return {};
}

// validate_rope on an attention's RoPE and, when it has one, its indexer's.
inline result<void> validate_rope(const attention_params& a, std::string_view file) {
  if (auto r = validate_rope(a.rope, file); !r) return r;
  if (a.index_rope) return validate_rope(*a.index_rope, file);
  return {};
}

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

template <class List>
struct for_kind;
template <class... L>
struct for_kind<surface::type_list<L...>> {
  // Calls f.template operator()<L_i>() for the i-th layer kind; returns its result.
  template <class F>
  static decltype(auto) call(std::size_t i, F&& f) {
    using R = decltype(f.template operator()<typename surface::detail::nth<0, surface::type_list<L...>>::type>());
    if constexpr (std::is_void_v<R>) {
      std::size_t j = 0;
      (void)((j++ == i ? (f.template operator()<L>(), true) : false) || ...);
    } else {
      std::optional<R> r;
      std::size_t j = 0;
      (void)((j++ == i ? (r.emplace(f.template operator()<L>()), true) : false) || ...);
      return R(std::move(*r));
    }
  }
};
}  // namespace detail

// Whether Family has a MoE router: family_traits<Family>::routing(config) (dense families do not).
template <class Family>
concept has_router = requires(const typename family_traits<Family>::config& c) {
  { family_traits<Family>::routing(c) } -> std::same_as<moe::routing_config>;
};

// Calls f.template operator()<Layer>() with the layer-kind surface of decoder layer i of config c.
template <class Family, class F>
decltype(auto) for_layer(const typename family_traits<Family>::config& c, std::int64_t i, F&& f) {
  using traits = family_traits<Family>;
  return detail::for_kind<typename traits::layers>::call(traits::layer_kind(c, i), std::forward<F>(f));
}

}  // namespace famx::families
