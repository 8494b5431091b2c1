#pragma once
// config.json -> a family's typed config, in two phases (simdjson On Demand):
//   1. parse: every typed field read by its HF key (mlx-lm defaults for absent keys; a missing
//      required key or a wrong JSON type is an error naming file and key);
//   2. validate: the family's semantic checks (heads dividing hidden, num_experts_per_tok <=
//      experts, n_group dividing experts, ...), then finalize (mlx-lm's derived defaults).
// load_model_config identifies the family (registry) and returns its model_description and the
// MLX `quantization` dict.

#include <filesystem>
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
  if (auto r = detail::read_members(obj, c, prefix, file, traits::config::required); !r) return r.err();
  if (auto r = traits::validate(c, file); !r) return prefix.empty() ? r.err() : r.err().in(prefix);
  traits::finalize(c);
  return c;
}

// A config.json identified, parsed and validated.
struct loaded_model {
  std::string file;
  families::family_id family{};
  families::model_description description;
  std::optional<quantization_config> quantization;  // the MLX `quantization` dict, when present
  std::string source_quantization;                  // a non-MLX quantization_config's quant_method ("fp8")
  std::string wrapper;  // "mistral3" when the text model sits in text_config (weights under language_model.)
};

// Parses config.json text; `file` names it in errors.
inline result<loaded_model> parse_model_config(std::string_view json, std::string file) {
  namespace od = simdjson::ondemand;
  const simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  if (auto ec = parser.iterate(padded).get(doc)) return detail::json_error(ec, file, "");
  od::object root;
  if (auto ec = doc.get_object().get(root)) {
    return error(ec == simdjson::INCORRECT_TYPE ? errc::wrong_type : errc::syntax, "",
                 ec == simdjson::INCORRECT_TYPE ? "a JSON value that is not an object"
                                                : std::string("JSON error: ") + simdjson::error_message(ec),
                 "a JSON object", file);
  }
  loaded_model m;
  m.file = file;
  std::optional<std::vector<std::string>> architectures;
  std::optional<std::string> model_type;
  od::value v;
  if (auto ec = root.find_field_unordered("architectures").get(v); ec != simdjson::NO_SUCH_FIELD) {
    if (ec) return detail::json_error(ec, file, "architectures");
    if (auto r = read_json(v, architectures, "architectures", file); !r) return r.err();
  }
  if (auto ec = root.find_field_unordered("model_type").get(v); ec != simdjson::NO_SUCH_FIELD) {
    if (ec) return detail::json_error(ec, file, "model_type");
    if (auto r = read_json(v, model_type, "model_type", file); !r) return r.err();
  }
  if (!model_type && (!architectures || architectures->empty()))
    return error(errc::missing, "model_type", "no such key (and no architectures)",
                 "a model_type string naming the family", file);
  const std::string arch = architectures && !architectures->empty() ? architectures->front() : "";
  od::object text;
  std::string prefix;
  if (model_type == "mistral3" || arch == "Mistral3ForConditionalGeneration") {
    // mlx-lm's mistral3 wrapper: ministral3 when text_config.model_type says so, else llama.
    prefix = "text_config";
    m.wrapper = "mistral3";
    const auto ec = root.find_field_unordered(prefix).get(v);
    if (ec == simdjson::NO_SUCH_FIELD)
      return error(errc::missing, prefix, "no such key", "the text model's config (mistral3 wraps it)", file);
    if (ec) return detail::json_error(ec, file, prefix);
    if (v.get_object().get(text)) return error(errc::wrong_type, prefix, detail::found_text(v), "an object", file);
    std::optional<std::string> inner;
    if (auto ec2 = text.find_field_unordered("model_type").get(v); ec2 != simdjson::NO_SUCH_FIELD) {
      if (ec2) return detail::json_error(ec2, file, prefix + ".model_type");
      if (auto r = read_json(v, inner, prefix + ".model_type", file); !r) return r.err();
    }
    m.family = inner == "ministral3" ? families::family_id::ministral3 : families::family_id::llama;
  } else {
    auto family = families::find_family(arch, model_type.value_or(""), file);
    if (!family) return family.err();
    m.family = *family;
  }

  auto described = families::visit_family(m.family, [&]<class F>() -> result<families::model_description> {
    auto c = parse_config<F>(prefix.empty() ? root : text, file, prefix);
    if (!c) return c.err();
    return families::describe<F>(*c, arch);
  });
  if (!described) return described.err();
  m.description = std::move(*described);

  for (std::string_view key : {"quantization", "quantization_config"}) {
    const auto ec = root.find_field_unordered(key).get(v);
    if (ec == simdjson::NO_SUCH_FIELD) continue;
    if (ec) return detail::json_error(ec, file, std::string(key));
    auto q = parse_quantization(v, file, std::string(key));
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
inline result<loaded_model> load_model_config(const std::filesystem::path& p) {
  std::error_code ec;  // a path that cannot be inspected is opened as a file, whose error names it
  const std::filesystem::path file = std::filesystem::is_directory(p, ec) ? p / "config.json" : p;
  auto text = read_regular_file(file, "a readable config.json");
  if (!text) return text.err();
  return parse_model_config(std::string_view(text->data(), text->size()), file.string());
}

}  // namespace famx::io
