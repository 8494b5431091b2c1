#pragma once
// model_description: a family-independent, run-time view of one model (family, typed config as
// key/value text, layer kinds, the full tensor table, parameter counts), built by describe<F>(cfg)
// from the family's compile-time surfaces. This is what the advisor, storage and CLI consume.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "famx/families/family_traits.hpp"

namespace famx::families {

// The kind of one decoder layer.
struct layer_info {
  std::int64_t index = 0;
  std::string attention;  // "full_attention", "linear_attention", "mla"
  std::string mlp;        // "dense", "moe"
  std::string attention_output;  // its row-parallel output projection: "self_attn.o_proj", "linear_attn.out_proj"
  surface::kv_layout kv;         // what its KV cache holds
};

// One model as famx sees it after parsing and validating its config.
struct model_description {
  std::string family;        // famx family (HF model_type after aliases): "deepseek_v3"
  std::string model_type;    // as written in config.json: "kimi_k2"
  std::string architecture;  // architectures[0], when given
  std::string strategy;      // Exo's sharding strategy class
  std::string summary;       // what is unusual in this family
  std::vector<std::pair<std::string, std::string>> config;  // every typed config field: key, value text
  std::vector<std::pair<std::string, double>> numbers;      // numeric config fields (after defaults)
  std::vector<layer_info> layers;
  std::vector<surface::tensor_entry> tensors;  // model-level and every layer's, in checkpoint order
  std::vector<divisor> tp_divisors;             // what a tensor-parallel degree must divide
  std::int64_t experts = 0;            // routed experts per MoE layer (0: dense model)
  std::int64_t experts_per_token = 0;  // routed experts one token uses
  bool tied = false;                   // lm_head is embed_tokens (tie_word_embeddings)

  // A numeric config field by its HF key.
  std::optional<double> number(std::string_view key) const {
    for (const auto& [k, v] : numbers)
      if (k == key) return v;
    return std::nullopt;
  }
  // Integer config field (0 when absent or null).
  std::int64_t dim(std::string_view key) const { return static_cast<std::int64_t>(number(key).value_or(0)); }

  // Parameters one token uses from tensor t (k of E for routed experts).
  std::int64_t active(const surface::tensor_entry& t) const {
    return t.routed_experts ? t.numel() / t.routed_experts * experts_per_token : t.numel();
  }
  // Every parameter (the MTP layer is not part of the surface).
  std::int64_t total_params() const {
    std::int64_t n = 0;
    for (const auto& t : tensors) n += t.numel();
    return n;
  }
  // Parameters one token uses: embeddings and LM head included, k of E routed experts.
  std::int64_t active_params() const {
    std::int64_t n = 0;
    for (const auto& t : tensors) n += active(t);
    return n;
  }
  // Parameters of embed_tokens and (untied) lm_head.
  std::int64_t embedding_params() const {
    std::int64_t n = 0;
    for (const auto& t : tensors)
      if (t.name == "model.embed_tokens.weight" || t.name == "lm_head.weight") n += t.numel();
    return n;
  }
};

namespace detail {
// s as a JSON string literal.
inline std::string json_quote(std::string_view s) {
  std::string r = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') r += '\\', r += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) r += "\\u00" + std::string{"0123456789abcdef"[ch >> 4 & 15], "0123456789abcdef"[ch & 15]};
    else r += ch;
  }
  return r + "\"";
}
// Shortest round-trip text of v ("1e-06", "500000", "0.25").
inline std::string json_text(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
template <class T>
std::string value_text(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
  else if constexpr (std::is_integral_v<T>) return std::to_string(v);
  else if constexpr (std::is_floating_point_v<T>) return json_text(v);
  else if constexpr (std::is_same_v<T, std::string>) return json_quote(v);
  else if constexpr (surface::config_struct<T>) {
    std::string s = "{";
    surface::for_each_field<T>([&](auto field) {
      const auto& f = v.*(decltype(field)::member);
      if (f) s += (s.size() > 1 ? ", " : "") + json_quote(decltype(field)::key.view()) + ": " + value_text(*f);
    });
    return s + "}";
  } else if constexpr (requires { v.has_value(); }) return v ? value_text(*v) : "null";
  else {
    std::string s = "[";
    for (const auto& e : v) s += (s.size() > 1 ? ", " : "") + value_text(e);
    return s + "]";
  }
}
template <class T>
std::optional<double> value_number(const T& v) {
  if constexpr (std::is_arithmetic_v<T>) return static_cast<double>(v);
  else if constexpr (requires { v.has_value(); }) {
    if constexpr (std::is_arithmetic_v<std::remove_cvref_t<decltype(*v)>>)
      if (v) return static_cast<double>(*v);
  }
  return std::nullopt;
}

}  // namespace detail

// The description of a validated, finalized config of Family.
template <class Family>
model_description describe(const typename family_traits<Family>::config& c, std::string architecture = {}) {
  using traits = family_traits<Family>;
  using cfg_t = typename traits::config;
  model_description d;
  d.family = std::string(traits::name);
  d.model_type = c.model_type;
  d.architecture = std::move(architecture);
  d.strategy = std::string(traits::strategy);
  d.summary = std::string(traits::summary);
  surface::for_each_field<cfg_t>([&](auto field) {
    const std::string k(decltype(field)::key.view());
    const auto& v = c.*(decltype(field)::member);
    d.config.emplace_back(k, detail::value_text(v));
    if (auto n = detail::value_number(v)) d.numbers.emplace_back(k, *n);
  });
  d.tied = traits::tied(c);
  d.experts = traits::experts(c);
  d.experts_per_token = traits::experts_per_token(c);
  d.tp_divisors = traits::tp_divisors(c);

  auto sink = [&](surface::tensor_entry t) { d.tensors.push_back(std::move(t)); };
  surface::embed_tokens::tensors(c, surface::emit_at{"model", -1}, sink);
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    for_layer<Family>(c, i, [&]<class L>() {
      d.layers.push_back({i, std::string(L::attention::kind), std::string(L::mlp::kind),
                          std::string(L::attention::output), L::attention::kv(c)});
      L::layer_tensors(c, static_cast<int>(i), sink);
    });
  }
  surface::final_norm::tensors(c, surface::emit_at{"model", -1}, sink);
  if (!d.tied) surface::lm_head::tensors(c, surface::emit_at{"", -1}, sink);
  return d;
}

}  // namespace famx::families
