#pragma once
// config.json -> a family's typed config, in two phases (simdjson On Demand):
//   1. parse: every typed field read by its HF key (mlx-lm defaults for absent keys; a missing
//      required key or a wrong JSON type is an error naming file and key);
//   2. validate: the family's semantic checks (heads dividing hidden, num_experts_per_tok <=
//      experts, n_group dividing experts, ...), then finalize (mlx-lm's derived defaults).
// load_model_config identifies the family (a families::family_list, by default famx's builtin
// families) and returns its typed config, its model_description and the MLX `quantization` dict.

#include <any>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <simdjson.h>

#include "famx/families/describe.hpp"
#include "famx/families/registry.hpp"
#include "famx/io/json_read.hpp"
#include "famx/io/quantization.hpp"
#include "famx/io/read_file.hpp"

namespace famx::io {

namespace detail {
// The largest value famx accepts for an integer config field: num_hidden_layers 4096 (real models
// have under 200; work scales with it), context lengths 2^31 - 1, every other size 2^24.
inline std::int64_t max_of(std::string_view key) noexcept {
  if (key == "num_hidden_layers") return 4096;
  if (key.ends_with("max_position_embeddings")) return 2147483647;
  return std::int64_t{1} << 24;
}

// Checks the integers of config c against [0, max_of(key)] and that rms_norm_eps and rope_theta
// are positive, before anything scales with them.
template <class Cfg>
result<void> check_bounds(const Cfg& c, std::string_view file, const std::string& prefix) {
  result<void> res;
  surface::for_each_field<Cfg>([&](auto field) {
    using F = decltype(field);
    const auto& v = c.*(F::member);
    const std::string_view key = F::key.view();
    const std::string path = prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
    if (!res) return;
    using T = std::remove_cvref_t<decltype(v)>;
    if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::optional<std::int64_t>>) {
      const std::optional<std::int64_t> x = v;
      if (x && (*x < 0 || *x > max_of(key)))
        res = error(errc::invalid_value, path, std::to_string(*x),
                    "an integer in [0, " + std::to_string(max_of(key)) + "] (famx's bound for this size)", std::string(file));
    } else if constexpr (std::is_same_v<T, double>) {
      if ((key == "rms_norm_eps" || key == "rope_theta") && !(v > 0))
        res = error(errc::invalid_value, path, families::detail::json_text(v), "a positive number", std::string(file));
    }
  });
  return res;
}

// Checks that every tensor of d has at most 2^40 elements and the model at most 2^48 parameters
// (so that byte counts cannot overflow).
inline result<void> check_size(const families::model_description& d, std::string_view file) {
  constexpr std::int64_t max_tensor = std::int64_t{1} << 40, max_model = std::int64_t{1} << 48;
  std::int64_t total = 0;
  for (const auto& t : d.tensors) {
    std::int64_t n = 1;
    for (std::int64_t x : t.dims.dims())
      if (x < 0 || __builtin_mul_overflow(n, x, &n) || n > max_tensor)
        return error(errc::invalid_value, t.name, t.dims_text + " elements overflow",
                     "at most 2^40 elements per tensor (famx's bound)", std::string(file));
    total += n;
    if (total > max_model)
      return error(errc::invalid_value, "", "more than 2^48 parameters", "a model of at most 2^48 parameters (famx's bound)",
                   std::string(file));
  }
  return {};
}
}  // namespace detail

// Phases 1 and 2 for Family on a config object: the root of a config.json, or the `text_config`
// of a mistral3 wrapper (prefix "text_config"; mlx-lm then defaults tie_word_embeddings to false).
template <class Family>
result<typename families::family_traits<Family>::config> parse_config(simdjson::ondemand::object obj,
                                                                      std::string_view file,
                                                                      const std::string& prefix = {}) {
  using traits = families::family_traits<Family>;
  typename traits::config c{};
  if constexpr (requires { c.tie_word_embeddings; })
    if (!prefix.empty()) c.tie_word_embeddings = false;
  if (auto r = detail::read_members(obj, c, prefix, file); !r) return r.err();
  if (auto r = detail::check_bounds(c, file, prefix); !r) return r.err();
  if (auto r = traits::validate(c, file); !r) return prefix.empty() ? r.err() : r.err().in(prefix);
  traits::finalize(c);
  if (auto r = families::validate_rope(traits::attention(c), file); !r) return prefix.empty() ? r.err() : r.err().in(prefix);
  return c;
}

// A config.json identified, parsed and validated.
struct loaded_model {
  std::string file;
  std::size_t family = 0;  // index of its family in the family_list it was loaded with
  std::any config;         // that family's typed config (family_traits<F>::config), validated and finalized
  families::model_description description;
  std::optional<quantization_config> quantization;  // the MLX `quantization` dict, when present
  std::string source_quantization;                  // a non-MLX quantization_config's quant_method ("fp8")
  std::string wrapper;  // "mistral3" when the text model sits in text_config (weights under language_model.)
};

// The typed config of m, loaded as family Family (nullptr when m holds another family's config).
template <class Family>
const typename families::family_traits<Family>::config* typed_config(const loaded_model& m) noexcept {
  return std::any_cast<typename families::family_traits<Family>::config>(&m.config);
}

namespace detail {
// A JSON value parsed on its own from its text (the last occurrence of a root key).
struct json_part {
  simdjson::padded_string text;
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::value value;
};

// The JSON text of value v (an object, an array or a scalar token); consumes v.
inline result<std::string_view> raw_text(simdjson::ondemand::value v, const std::string& key, std::string_view file) {
  namespace od = simdjson::ondemand;
  od::json_type t{};
  std::string_view text;
  if (auto ec = v.type().get(t)) return json_error(ec, file, key);
  simdjson::error_code ec = simdjson::SUCCESS;
  if (t == od::json_type::object) {
    od::object o;
    ec = v.get_object().get(o);
    if (!ec) ec = o.raw_json().get(text);
  } else if (t == od::json_type::array) {
    od::array a;
    ec = v.get_array().get(a);
    if (!ec) ec = a.raw_json().get(text);
  } else {
    text = v.raw_json_token();
  }
  if (ec) return json_error(ec, file, key);
  return text;
}

// Parses `raw` (the JSON text of the value at `key`) into a json_part (as the member of an object,
// which On Demand reads like any nested value).
inline result<std::unique_ptr<json_part>> parse_part(std::string_view raw, const std::string& key, std::string_view file) {
  auto p = std::make_unique<json_part>();
  p->text = simdjson::padded_string("{\"v\":" + std::string(raw) + "}");
  if (auto ec = p->parser.iterate(p->text).get(p->doc)) return json_error(ec, file, key);
  if (auto ec = p->doc.find_field("v").get(p->value)) return json_error(ec, file, key);
  return p;
}
}  // namespace detail

// Parses config.json text as one of Families; `file` names it in errors. The family is the one
// model_type names (as mlx-lm selects it; architectures[0], when it names a family, must agree);
// a key given twice takes its last value (as Python's json, and so mlx-lm, does).
template <class Families = families::builtin>
result<loaded_model> parse_model_config(std::string_view json, std::string file) {
  namespace od = simdjson::ondemand;
  const simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  if (auto ec = parser.iterate(padded).get(doc)) return detail::json_error(ec, file, "");
  // One JSON value, nothing after it.
  std::string_view whole;
  if (auto ec = doc.raw_json().get(whole)) return detail::json_error(ec, file, "");
  const auto end = static_cast<std::size_t>(whole.data() + whole.size() - padded.data());
  if (json.find_first_not_of(" \t\r\n", end) != std::string_view::npos)
    return error(errc::syntax, "", "more JSON after the root object", "one JSON object (config.json holds one)", file);
  doc.rewind();
  od::object root;
  if (auto ec = doc.get_object().get(root)) {
    return error(ec == simdjson::INCORRECT_TYPE ? errc::wrong_type : errc::syntax, "",
                 ec == simdjson::INCORRECT_TYPE ? "a JSON value that is not an object"
                                                : std::string("JSON error: ") + simdjson::error_message(ec),
                 "a JSON object", file);
  }
  // The root keys famx reads before the family's fields: their last occurrence, as JSON text.
  std::map<std::string, std::string, std::less<>> raw;
  for (auto field : root) {
    std::string_view k;
    if (auto ec = field.unescaped_key().get(k)) return detail::json_error(ec, file, "");
    const std::string key(k);
    od::value v;
    if (auto ec = field.value().get(v)) return detail::json_error(ec, file, key);
    if (key != "architectures" && key != "model_type" && key != "text_config" && key != "quantization" &&
        key != "quantization_config")
      continue;
    auto text = detail::raw_text(v, key, file);
    if (!text) return text.err();
    raw[key] = std::string(*text);
  }
  auto part = [&](std::string_view key) -> result<std::unique_ptr<detail::json_part>> {
    const auto it = raw.find(key);
    if (it == raw.end()) return std::unique_ptr<detail::json_part>();
    return detail::parse_part(it->second, std::string(key), file);
  };
  loaded_model m;
  m.file = file;
  std::optional<std::vector<std::string>> architectures;
  std::optional<std::string> model_type;
  if (auto p = part("architectures"); !p) {
    return p.err();
  } else if (*p) {
    if (auto r = read_json((*p)->value, architectures, "architectures", file); !r) return r.err();
  }
  if (auto p = part("model_type"); !p) {
    return p.err();
  } else if (*p) {
    if (auto r = read_json((*p)->value, model_type, "model_type", file); !r) return r.err();
  }
  const std::string arch = architectures && !architectures->empty() ? architectures->front() : "";
  if (!model_type)
    return error(errc::missing, "model_type", arch.empty() ? "no such key" : "no such key (architectures.0 is \"" + arch + "\")",
                 "a model_type string naming the family (mlx-lm selects the model by it)", file);
  std::unique_ptr<detail::json_part> text;
  std::string prefix;
  if (const families::wrapper* w = families::find_wrapper(*model_type, arch)) {
    // A wrapper (mlx-lm's mistral3): the text model's config is inside it.
    prefix = std::string(w->config_key);
    m.wrapper = std::string(w->model_type);
    auto p = part(prefix);
    if (!p) return p.err();
    if (!*p) return error(errc::missing, prefix, "no such key", "the text model's config (" + m.wrapper + " wraps it)", file);
    text = std::move(*p);
    od::object inner_obj;
    if (text->value.get_object().get(inner_obj))
      return error(errc::wrong_type, prefix, detail::found_text(text->value), "an object", file);
    std::optional<std::string> inner;
    if (auto ec = inner_obj.find_field_unordered("model_type").get(text->value); ec != simdjson::NO_SUCH_FIELD) {
      if (ec) return detail::json_error(ec, file, prefix + ".model_type");
      if (auto r = read_json(text->value, inner, prefix + ".model_type", file); !r) return r.err();
    }
    auto family = Families::find("", inner == w->inner_model_type ? w->inner_model_type : w->default_family, file);
    if (!family) return family.err();
    m.family = *family;
    text->doc.rewind();
    if (auto ec = text->doc.find_field("v").get(text->value)) return detail::json_error(ec, file, prefix);
  } else {
    auto family = Families::find("", *model_type, file);
    if (!family)
      return error(errc::unknown_family, "model_type",
                   "\"" + *model_type + "\"" + (arch.empty() ? "" : " (architectures.0 \"" + arch + "\")"),
                   Families::supported(), file);
    m.family = *family;
    if (!arch.empty())
      if (auto by_arch = Families::find(arch, "", file); by_arch && *by_arch != m.family)
        return error(errc::inconsistent, "architectures.0",
                     "\"" + arch + "\", a " + std::string(Families::name(*by_arch)) + " architecture",
                     "an architecture of model_type \"" + *model_type + "\" (" + std::string(Families::name(m.family)) + ")",
                     file);
  }

  od::object fields = root;
  if (text && text->value.get_object().get(fields)) return error(errc::wrong_type, prefix, "not an object", "an object", file);
  auto described = Families::visit(m.family, [&]<class F>() -> result<families::model_description> {
    auto c = parse_config<F>(fields, file, prefix);
    if (!c) return c.err();
    try {
      auto d = families::describe<F>(*c, arch);
      if (auto r = detail::check_size(d, file); !r) return r.err();
      m.config = std::move(*c);
      return d;
    } catch (const error& e) {  // a shape expression that overflows (surface/expr.hpp)
      return error(e).at_file(file);
    }
  });
  if (!described) return described.err();
  m.description = std::move(*described);

  for (std::string_view key : {"quantization", "quantization_config"}) {
    auto p = part(key);
    if (!p) return p.err();
    if (!*p) continue;
    auto q = parse_quantization((*p)->value, file, std::string(key));
    if (!q) return q.err();
    if (!q->quant_method.empty()) m.source_quantization = q->quant_method;
    else m.quantization = std::move(*q);
    break;  // mlx-lm writes the same dict under both keys; the first one rules
  }
  return m;
}

// Reads a config.json file, or `dir/config.json` when given a checkpoint directory.
// Only a regular file is read (a FIFO or device is an error, never a wait); a path that is too long
// or a symlink loop is an error naming it.
template <class Families = families::builtin>
result<loaded_model> load_model_config(const std::filesystem::path& p) {
  std::error_code ec;  // a path that cannot be inspected is opened as a file, whose error names it
  const std::filesystem::path file = std::filesystem::is_directory(p, ec) ? p / "config.json" : p;
  auto text = read_regular_file(file, "a readable config.json");
  if (!text) return text.err();
  return parse_model_config<Families>(std::string_view(text->data(), text->size()), file.string());
}

}  // namespace famx::io
