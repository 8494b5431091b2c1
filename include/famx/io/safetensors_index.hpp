#pragma once
// Parsing `model.safetensors.index.json`, the index of a sharded checkpoint:
// {"metadata": {"total_size": <bytes of all tensors>, ...}, "weight_map": {"<tensor>": "<file>"}}.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "famx/core/error.hpp"
#include "famx/io/detail/json_text.hpp"

namespace famx::io {

// The contents of a safetensors index file.
struct safetensors_index {
  std::optional<std::uint64_t> total_size;                       // metadata.total_size, if given
  std::vector<std::pair<std::string, std::string>> weight_map;  // (tensor, file), sorted by tensor

  // The file holding `tensor`, or nullptr when the index does not list it.
  const std::string* file_of(std::string_view tensor) const noexcept {
    auto it = std::ranges::lower_bound(weight_map, tensor, std::less<>{},
                                       [](const auto& e) -> const std::string& { return e.first; });
    return it != weight_map.end() && it->first == tensor ? &it->second : nullptr;
  }
  // The distinct files, sorted.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : weight_map) out.push_back(e.second);
    std::ranges::sort(out);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
};

namespace detail {

// A shard file name must be a plain file name in the index's directory.
inline bool is_plain_file_name(std::string_view f) noexcept {
  return !f.empty() && f != "." && f != ".." && f.find_first_of(std::string_view("/\\\0", 3)) == f.npos;
}

// One parse of one index; every error names `file` and the key path.
class index_parser : json_document {
 public:
  index_parser(std::string_view file, std::string_view json) : json_document(file, json, "byte") {}

  result<safetensors_index> parse() {
    safetensors_index out;
    simdjson::ondemand::object root;
    if (auto e = start()) return json_fail(e, "", "a JSON object");
    if (auto e = doc_.get_object().get(root)) return json_fail(e, "", "a JSON object");
    bool seen_metadata = false, seen_map = false;
    for (auto field_result : root) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (auto e = std::move(field_result).get(field)) return json_fail(e, "", "a JSON object");
      if (auto e = field.unescaped_key().get(key)) return json_fail(e, "", "a JSON object");
      bool* seen = key == "metadata" ? &seen_metadata : key == "weight_map" ? &seen_map : nullptr;
      if (seen == nullptr)
        return fail(errc::invalid_value, printable(key), "an unknown key", "only metadata and weight_map");
      if (*seen) return fail(errc::inconsistent, std::string(key), "the key twice", "each key once");
      *seen = true;
      result<void> r = key == "metadata" ? parse_metadata(field.value(), out) : parse_map(field.value(), out);
      if (!r) return r.err();
    }
    if (doc_.current_location().error() != simdjson::OUT_OF_BOUNDS)
      return fail(errc::syntax, "", "content after the JSON object", "only trailing whitespace");
    if (!seen_map) return fail(errc::missing, "weight_map", "no weight_map", "a weight_map object");
    std::ranges::sort(out.weight_map);
    const auto dup = std::ranges::adjacent_find(out.weight_map, std::equal_to<>{},
                                                [](const auto& e) -> const std::string& { return e.first; });
    if (dup != out.weight_map.end())
      return fail(errc::inconsistent, "weight_map." + printable(dup->first), "the tensor twice",
                  "each tensor once");
    return out;
  }

 private:
  // metadata.total_size is checked; other metadata keys are skipped.
  result<void> parse_metadata(simdjson::ondemand::value v, safetensors_index& out) {
    simdjson::ondemand::object obj;
    if (auto e = v.get_object().get(obj)) return json_fail(e, "metadata", "an object");
    for (auto field_result : obj) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (auto e = std::move(field_result).get(field)) return json_fail(e, "metadata", "an object");
      if (auto e = field.unescaped_key().get(key)) return json_fail(e, "metadata", "an object");
      if (key != "total_size") continue;
      if (out.total_size) return fail(errc::inconsistent, "metadata.total_size", "the key twice", "each key once");
      // Some writers emit the size as a float (1234.0): accept it when it is an exact integer.
      const std::string_view expected = "a non-negative integer byte count";
      simdjson::ondemand::value size = field.value();
      simdjson::ondemand::number_type kind;
      if (auto e = size.get_number_type().get(kind)) return json_fail(e, "metadata.total_size", expected);
      if (kind == simdjson::ondemand::number_type::floating_point_number) {
        double d = 0;
        if (auto e = size.get_double().get(d)) return json_fail(e, "metadata.total_size", expected);
        if (!(d >= 0 && d < 0x1p64 && std::floor(d) == d))
          return fail(errc::invalid_value, "metadata.total_size", std::to_string(d), expected);
        out.total_size = static_cast<std::uint64_t>(d);
      } else {
        std::uint64_t n = 0;
        if (auto e = size.get_uint64().get(n)) return json_fail(e, "metadata.total_size", expected);
        out.total_size = n;
      }
    }
    return {};
  }

  result<void> parse_map(simdjson::ondemand::value v, safetensors_index& out) {
    simdjson::ondemand::object obj;
    if (auto e = v.get_object().get(obj)) return json_fail(e, "weight_map", "an object");
    for (auto field_result : obj) {
      simdjson::ondemand::field field;
      std::string_view key, file;
      if (auto e = std::move(field_result).get(field)) return json_fail(e, "weight_map", "an object");
      if (auto e = field.unescaped_key().get(key)) return json_fail(e, "weight_map", "an object");
      const std::string path = "weight_map." + printable(key);
      if (auto e = field.value().get_string().get(file)) return json_fail(e, path, "a file name string");
      if (!simdjson::validate_utf8(key) || !simdjson::validate_utf8(file))
        return fail(errc::syntax, path, "text that is not valid UTF-8", "UTF-8 text");
      if (!is_plain_file_name(file))
        return fail(errc::invalid_value, path, "the file name \"" + printable(file) + "\"",
                    "a file name in the index's directory");
      out.weight_map.emplace_back(std::string(key), std::string(file));
    }
    return {};
  }
};

}  // namespace detail

// Parses an index file's text; errors name `file_name` and the key ("weight_map.<tensor>").
// Tensor names are unique; shard files are plain file names (no directories).
inline result<safetensors_index> parse_safetensors_index(std::string_view json, std::string_view file_name) {
  if (!simdjson::validate_utf8(json))
    return error(errc::syntax, "", "text that is not valid UTF-8", "a UTF-8 JSON object", std::string(file_name));
  return detail::index_parser(file_name, json).parse();
}

}  // namespace famx::io
