#pragma once
// What an engine must honour from a checkpoint's generation_config.json and tokenizer_config.json
// (Hugging Face files mlx-lm copies next to the weights): the end-of-sequence token ids, the BOS
// id, whether a chat template is present (inline, as a list of named templates, or in
// chat_template.jinja) and whether it or the added tokens use thinking tags (<think>). Both files
// are optional; a file that is present but unreadable or malformed is a problem naming it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <simdjson.h>

#include "famx/core/error.hpp"
#include "famx/io/read_file.hpp"

namespace famx::io {

// The serving facts of one checkpoint directory.
struct serving_config {
  bool generation_config = false;          // generation_config.json was read
  bool tokenizer_config = false;           // tokenizer_config.json was read
  std::vector<std::int64_t> eos_token_ids; // generation_config.eos_token_id (one id or a list)
  std::optional<std::int64_t> bos_token_id;
  std::string eos_token, bos_token;        // tokenizer_config's token strings
  bool chat_template = false;              // a chat template is present
  bool thinking_tags = false;              // "<think>" in the chat template or the added tokens
  std::vector<error> problems;             // files present but unreadable or malformed
};

namespace detail {
// A token field of tokenizer_config: a string, or an AddedToken object {"content": ...}.
inline std::string token_text(simdjson::dom::element e) {
  std::string_view s;
  if (!e.get_string().get(s)) return std::string(s);
  if (!e["content"].get_string().get(s)) return std::string(s);
  return {};
}
}  // namespace detail

// Reads generation_config.json, tokenizer_config.json and chat_template.jinja from `dir` when
// present. Never throws; problems name the file and key.
inline serving_config read_serving_config(const std::filesystem::path& dir) {
  namespace dom = simdjson::dom;
  serving_config s;
  std::error_code ec;
  auto load = [&](const std::string& name, dom::parser& parser, dom::element& root) -> bool {
    const auto path = dir / name;
    if (!std::filesystem::exists(path, ec)) return false;
    auto text = read_regular_file(path, "a readable " + name);
    if (!text) {
      s.problems.push_back(text.err());
      return false;
    }
    if (auto e = parser.parse(*text).get(root); e || !root.is_object()) {
      s.problems.emplace_back(errc::syntax, "", e ? std::string("JSON error: ") + simdjson::error_message(e) : "a JSON value that is not an object",
                              "a JSON object", path.string());
      return false;
    }
    return true;
  };

  dom::parser gp;
  dom::element g;
  if (load("generation_config.json", gp, g)) {
    s.generation_config = true;
    const std::string file = (dir / "generation_config.json").string();
    auto id_of = [&](dom::element e, const std::string& key) -> std::optional<std::int64_t> {
      std::int64_t v = 0;
      if (e.get_int64().get(v) || v < 0) {
        s.problems.emplace_back(errc::wrong_type, key, std::string(simdjson::minify(e)), "a non-negative token id", file);
        return std::nullopt;
      }
      return v;
    };
    if (dom::element e; !g["eos_token_id"].get(e) && !e.is_null()) {
      if (dom::array a; !e.get_array().get(a)) {
        std::size_t i = 0;
        for (dom::element x : a)
          if (auto v = id_of(x, "eos_token_id." + std::to_string(i++))) s.eos_token_ids.push_back(*v);
      } else if (auto v = id_of(e, "eos_token_id")) {
        s.eos_token_ids.push_back(*v);
      }
    }
    if (dom::element e; !g["bos_token_id"].get(e) && !e.is_null()) s.bos_token_id = id_of(e, "bos_token_id");
  }

  dom::parser tp;
  dom::element t;
  std::string templates;  // every template's text, searched for thinking tags
  if (load("tokenizer_config.json", tp, t)) {
    s.tokenizer_config = true;
    if (dom::element e; !t["eos_token"].get(e)) s.eos_token = detail::token_text(e);
    if (dom::element e; !t["bos_token"].get(e)) s.bos_token = detail::token_text(e);
    if (dom::element e; !t["chat_template"].get(e)) {
      std::string_view text;
      if (!e.get_string().get(text)) {
        templates += text;
      } else if (dom::array a; !e.get_array().get(a)) {  // [{"name": "default", "template": "..."}, ...]
        for (dom::element x : a)
          if (!x["template"].get_string().get(text)) templates += text;
      }
      s.chat_template = !templates.empty();
    }
    if (dom::object added; !t["added_tokens_decoder"].get_object().get(added))
      for (auto [id, tok] : added)
        if (detail::token_text(tok) == "<think>") s.thinking_tags = true;
  }
  if (const auto jinja = dir / "chat_template.jinja"; std::filesystem::exists(jinja, ec)) {
    if (auto text = read_regular_file(jinja, "a readable chat_template.jinja")) {
      templates += std::string_view(text->data(), text->size());
      s.chat_template = true;
    } else {
      s.problems.push_back(text.err());
    }
  }
  if (templates.find("<think>") != std::string::npos) s.thinking_tags = true;
  return s;
}

}  // namespace famx::io
