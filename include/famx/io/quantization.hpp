#pragma once
// The MLX `quantization` key of config.json: the global {group_size, bits, mode} and per-module
// overrides keyed by module path ("model.layers.0.mlp.gate": {"group_size": 64, "bits": 8}), where
// `false` means the module stays in float (AWQ-style). Loading rule (mlx-lm): an override wins,
// else a quantizable module uses the global format.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "famx/io/json_read.hpp"
#include "famx/quant/format.hpp"

namespace famx::io {

// One per-module entry of the quantization dict.
struct quantization_override {
  std::string module;                              // "model.layers.0.mlp.gate"
  std::optional<quant::affine_format> format;      // nullopt: `false`, left unquantized
  std::string mode = "affine";
};

// The whole `quantization` dict.
struct quantization_config {
  quant::affine_format global{};
  std::string mode = "affine";
  std::vector<quantization_override> overrides;
  std::string quant_method;  // set for a Hugging Face quantization_config (fp8, awq, ...), not an MLX dict

  // The override for module path m, if any.
  const quantization_override* find(std::string_view m) const {
    for (const auto& o : overrides)
      if (o.module == m) return &o;
    return nullptr;
  }
};

namespace detail {
// Reads {group_size, bits, mode} of one override object at key path `key`; absent keys stay unset.
inline result<void> read_format(od::object o, std::optional<int>& group_size, std::optional<int>& bits,
                                std::string& mode, const std::string& key, std::string_view file) {
  for (auto field : o) {
    std::string_view k;
    if (auto ec = field.unescaped_key().get(k)) return json_error(ec, file, key);
    const std::string sub = key + "." + std::string(k);
    od::value v;
    if (auto ec = field.value().get(v)) return json_error(ec, file, sub);
    result<void> r;
    if (k == "group_size") r = read_json(v, group_size, sub, file);
    else if (k == "bits") r = read_json(v, bits, sub, file);
    else if (k == "mode") r = read_json(v, mode, sub, file);
    if (!r) return r;
  }
  return {};
}
}  // namespace detail

// Parses the value of the `quantization` key (an object).
inline result<quantization_config> parse_quantization(simdjson::ondemand::value v, std::string_view file,
                                                      const std::string& key = "quantization") {
  namespace od = simdjson::ondemand;
  od::object o;
  if (v.get_object().get(o))
    return error(errc::wrong_type, key, detail::found_text(v), "an object", std::string(file));
  quantization_config q;
  bool have_bits = false, have_group = false;
  // Per-module objects: their own group_size / bits (absent: the global value, filled in below).
  std::vector<std::pair<std::optional<int>, std::optional<int>>> own;
  for (auto field : o) {
    std::string_view k;
    if (auto ec = field.unescaped_key().get(k)) return detail::json_error(ec, file, key);
    const std::string sub = key + "." + std::string(k);
    od::value fv;
    if (auto ec = field.value().get(fv)) return detail::json_error(ec, file, sub);
    if (k == "group_size") {
      have_group = true;
      if (auto r = read_json(fv, q.global.group_size, sub, file); !r) return r.err();
    } else if (k == "bits") {
      have_bits = true;
      if (auto r = read_json(fv, q.global.bits, sub, file); !r) return r.err();
    } else if (k == "mode") {
      if (auto r = read_json(fv, q.mode, sub, file); !r) return r.err();
    } else if (k == "quant_method") {
      if (auto r = read_json(fv, q.quant_method, sub, file); !r) return r.err();
    } else {
      od::json_type t{};
      if (auto ec = fv.type().get(t)) return detail::json_error(ec, file, sub);
      quantization_override ov{std::string(k), std::nullopt, "affine"};
      std::optional<int> gs, bits;
      if (t == od::json_type::boolean) {
        bool b = true;
        if (auto ec = fv.get_bool().get(b)) return detail::json_error(ec, file, sub);
        if (b) return error(errc::invalid_value, sub, "true", "false or a {group_size, bits} object", std::string(file));
      } else if (t == od::json_type::object) {
        od::object fo;
        if (auto ec = fv.get_object().get(fo)) return detail::json_error(ec, file, sub);
        if (auto r = detail::read_format(fo, gs, bits, ov.mode, sub, file); !r) return r.err();
        ov.format = quant::affine_format{};
      } else {
        continue;  // other scalar keys (e.g. quant_method) carry no per-module rule
      }
      // A module given twice takes its last entry (as Python's json does).
      for (std::size_t i = 0; i < q.overrides.size(); ++i)
        if (q.overrides[i].module == ov.module) {
          q.overrides.erase(q.overrides.begin() + static_cast<std::ptrdiff_t>(i));
          own.erase(own.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
      q.overrides.push_back(std::move(ov));
      own.emplace_back(gs, bits);
    }
  }
  if (!q.quant_method.empty()) return q;  // not an MLX dict: nothing more to check
  if (!have_bits || !have_group)
    return error(errc::missing, key + (have_bits ? ".group_size" : ".bits"), "no such key",
                 "both group_size and bits in the MLX quantization dict", std::string(file));
  if (q.mode != "affine")
    return error(errc::unsupported, key + ".mode", "\"" + q.mode + "\"",
                 "\"affine\" (mxfp4/mxfp8/nvfp4 are not handled yet)", std::string(file));
  if (auto r = quant::validate(q.global, key); !r) return r.err().at_file(file);
  for (std::size_t i = 0; i < q.overrides.size(); ++i) {
    auto& ov = q.overrides[i];
    const std::string sub = key + "." + ov.module;
    if (ov.mode != "affine")
      return error(errc::unsupported, sub + ".mode", "\"" + ov.mode + "\"",
                   "\"affine\" (mxfp4/mxfp8/nvfp4 are not handled yet)", std::string(file));
    if (!ov.format) continue;
    ov.format->group_size = own[i].first.value_or(q.global.group_size);
    ov.format->bits = own[i].second.value_or(q.global.bits);
    if (auto r = quant::validate(*ov.format, sub); !r) return r.err().at_file(file);
  }
  return q;
}

}  // namespace famx::io
