#pragma once
// Parsing and validating a safetensors header: the u64 little-endian length, the JSON header
// (simdjson On Demand) and the layout of the data area. Pure: works on a byte span, copies no
// tensor data.
//
// The file is: 8 bytes N (u64 LE), N bytes of UTF-8 JSON starting with '{' (trailing spaces
// allowed), then the data area. The JSON maps each tensor name to {"dtype", "shape",
// "data_offsets": [begin, end]} (offsets relative to the data area), plus an optional
// "__metadata__" string-to-string map. As in the reference implementation, the tensors must cover
// the data area exactly: sorted by offset, each starts where the previous one ends, the first at
// 0, the last at the end of the file.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "famx/core/dtype.hpp"
#include "famx/core/error.hpp"
#include "famx/core/tensor.hpp"
#include "famx/io/detail/json_text.hpp"
#include "famx/io/safetensors_dtype.hpp"

namespace famx::io {

// Largest JSON header accepted, in bytes (the format's limit).
inline constexpr std::uint64_t max_safetensors_header = 100'000'000;

// One tensor of a safetensors header: name, dtype, shape and its byte range in the data area.
struct tensor_entry {
  std::string name;
  famx::dtype type = dtype::f32;
  famx::shape dims;
  std::uint64_t begin = 0;  // offset of the first byte, relative to the data area
  std::uint64_t end = 0;    // one past the last byte

  std::uint64_t nbytes() const noexcept { return end - begin; }
};

// A validated safetensors header.
struct safetensors_header {
  std::vector<tensor_entry> tensors;  // sorted by name
  std::map<std::string, std::string, std::less<>> metadata;  // "__metadata__"
  std::uint64_t data_offset = 0;  // where the data area starts in the file: 8 + header length
  std::uint64_t data_size = 0;    // bytes in the data area

  // The tensor called `name`, or nullptr.
  const tensor_entry* find(std::string_view name) const noexcept {
    auto it = std::ranges::lower_bound(tensors, name, std::less<>{}, &tensor_entry::name);
    return it != tensors.end() && it->name == name ? &*it : nullptr;
  }
};

namespace detail {

// One parse of one header; every error names `file` and the tensor (or "header").
class header_parser : json_document {
 public:
  header_parser(std::string_view file, std::string_view json) : json_document(file, json, "header byte") {}

  result<safetensors_header> parse(std::uint64_t data_offset, std::uint64_t data_size) {
    safetensors_header h;
    h.data_offset = data_offset;
    h.data_size = data_size;
    simdjson::ondemand::object root;
    if (auto e = start()) return json_fail(e, "header", "a JSON object");
    if (auto e = doc_.get_object().get(root)) return json_fail(e, "header", "a JSON object");
    bool seen_metadata = false;
    for (auto field_result : root) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (auto e = std::move(field_result).get(field)) return json_fail(e, after(h), "a JSON object");
      const char* raw = field.key().raw();  // before unescaped_key(), which consumes the key
      if (auto e = field.unescaped_key().get(key)) return json_fail(e, raw_key(raw), "a tensor name");
      if (!simdjson::validate_utf8(key))
        return fail(errc::syntax, printable(key), "a name that is not valid UTF-8", "a UTF-8 name");
      if (key == "__metadata__") {
        if (seen_metadata) return fail(errc::inconsistent, "__metadata__", "it twice", "one __metadata__");
        seen_metadata = true;
        if (auto r = parse_metadata(field.value(), h.metadata); !r) return r.err();
        continue;
      }
      tensor_entry t;
      t.name = std::string(key);
      if (auto r = parse_entry(field.value(), t, data_size); !r) return r.err();
      h.tensors.push_back(std::move(t));
    }
    // All of the input must have been consumed: only whitespace may follow the object.
    if (doc_.current_location().error() != simdjson::OUT_OF_BOUNDS)
      return fail(errc::syntax, "header", "content after the JSON object", "only trailing spaces");
    if (auto r = check_layout(h); !r) return r.err();
    return h;
  }

 private:
  result<void> parse_metadata(simdjson::ondemand::value v,
                              std::map<std::string, std::string, std::less<>>& out) {
    const std::string_view expected = "an object of string values";
    bool is_null = false;
    if (auto e = v.is_null().get(is_null)) return json_fail(e, "__metadata__", expected);
    if (is_null) return {};
    simdjson::ondemand::object obj;
    if (auto e = v.get_object().get(obj)) return json_fail(e, "__metadata__", expected);
    for (auto field_result : obj) {
      simdjson::ondemand::field field;
      std::string_view key, value;
      if (auto e = std::move(field_result).get(field)) return json_fail(e, "__metadata__", expected);
      if (auto e = field.unescaped_key().get(key)) return json_fail(e, "__metadata__", expected);
      std::string k(key);
      const std::string path = "__metadata__." + printable(k);
      if (auto e = field.value().get_string().get(value)) return json_fail(e, path, "a string value");
      if (!simdjson::validate_utf8(k) || !simdjson::validate_utf8(value))
        return fail(errc::syntax, path, "text that is not valid UTF-8", "UTF-8 text");
      if (!out.emplace(std::move(k), std::string(value)).second)
        return fail(errc::inconsistent, path, "the key twice", "unique metadata keys");
    }
    return {};
  }

  result<void> parse_entry(simdjson::ondemand::value v, tensor_entry& t, std::uint64_t data_size) {
    const std::string name = printable(t.name);
    const std::string_view expected = "an object with dtype, shape and data_offsets";
    simdjson::ondemand::object obj;
    if (auto e = v.get_object().get(obj)) return json_fail(e, name, expected);
    bool has_dtype = false, has_shape = false, has_offsets = false;
    for (auto field_result : obj) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (auto e = std::move(field_result).get(field)) return json_fail(e, name, expected);
      if (auto e = field.unescaped_key().get(key)) return json_fail(e, name, expected);
      bool* seen = key == "dtype" ? &has_dtype : key == "shape" ? &has_shape
                 : key == "data_offsets" ? &has_offsets : nullptr;
      if (seen == nullptr)
        return fail(errc::invalid_value, name, "the key \"" + printable(key) + "\"",
                    "only dtype, shape and data_offsets");
      if (*seen) return fail(errc::inconsistent, name, "\"" + std::string(key) + "\" twice", "each key once");
      *seen = true;
      result<void> r = key == "dtype" ? parse_dtype(field.value(), t, name)
                     : key == "shape" ? parse_shape(field.value(), t, name)
                                      : parse_offsets(field.value(), t, name);
      if (!r) return r.err();
    }
    if (!has_dtype) return fail(errc::missing, name, "no \"dtype\"", expected);
    if (!has_shape) return fail(errc::missing, name, "no \"shape\"", expected);
    if (!has_offsets) return fail(errc::missing, name, "no \"data_offsets\"", expected);
    return check_size(t, name, data_size);
  }

  result<void> parse_dtype(simdjson::ondemand::value v, tensor_entry& t, const std::string& name) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return json_fail(e, name, "a dtype string such as \"F32\"");
    const auto parsed = parse_safetensors_dtype(s);
    if (!parsed) {
      std::string all;
      for (const auto& [n, d] : safetensors_dtypes) all += (all.empty() ? "" : ", ") + std::string(n);
      return fail(errc::invalid_value, name, "dtype \"" + printable(s) + "\"", "one of " + all);
    }
    t.type = *parsed;
    return {};
  }

  result<void> parse_shape(simdjson::ondemand::value v, tensor_entry& t, const std::string& name) {
    const std::string_view expected = "a shape: an array of non-negative integers";
    simdjson::ondemand::array arr;
    if (auto e = v.get_array().get(arr)) return json_fail(e, name, expected);
    for (auto item : arr) {
      std::uint64_t d = 0;
      if (auto e = item.get_uint64().get(d)) return json_fail(e, name, expected);
      if (t.dims.rank() == shape::max_rank)
        return fail(errc::unsupported, name, "a shape of rank above " + std::to_string(shape::max_rank),
                    "rank at most " + std::to_string(shape::max_rank));
      if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return fail(errc::invalid_value, name, "shape dimension " + std::to_string(d), "a dimension below 2^63");
      t.dims.push_back(static_cast<std::int64_t>(d));
    }
    return {};
  }

  result<void> parse_offsets(simdjson::ondemand::value v, tensor_entry& t, const std::string& name) {
    const std::string_view expected = "data_offsets: an array of two non-negative integers";
    simdjson::ondemand::array arr;
    if (auto e = v.get_array().get(arr)) return json_fail(e, name, expected);
    std::uint64_t off[2] = {0, 0};
    std::size_t n = 0;
    for (auto item : arr) {
      std::uint64_t x = 0;
      if (auto e = item.get_uint64().get(x)) return json_fail(e, name, expected);
      if (n == 2) return fail(errc::invalid_value, name, "more than two data_offsets", expected);
      off[n++] = x;
    }
    if (n != 2) return fail(errc::invalid_value, name, std::to_string(n) + " data_offsets", expected);
    t.begin = off[0];
    t.end = off[1];
    return {};
  }

  // begin <= end <= data_size, and end - begin == product(shape) * dtype size, without overflow.
  result<void> check_size(const tensor_entry& t, const std::string& name, std::uint64_t data_size) {
    const std::string offsets = offsets_text(t);
    if (t.begin > t.end) return fail(errc::invalid_value, name, offsets, "begin <= end");
    if (t.end > data_size)
      return fail(errc::out_of_bounds, name, offsets,
                  "a range inside the data area of " + std::to_string(data_size) + " bytes");
    constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    std::uint64_t count = 1;
    for (const std::int64_t d : t.dims.dims()) {
      const auto u = static_cast<std::uint64_t>(d);
      if (u != 0 && count > limit / u)
        return fail(errc::invalid_value, name, "shape " + to_string(t.dims) + " whose size overflows",
                    "a size below 2^63");
      count *= u;
    }
    const std::uint64_t elem = size_of(t.type);
    if (count > limit / elem)
      return fail(errc::invalid_value, name, "shape " + to_string(t.dims) + " whose size overflows",
                  "a size below 2^63");
    if (count * elem != t.nbytes())
      return fail(errc::shape_mismatch, name, std::to_string(t.nbytes()) + " bytes (" + offsets + ")",
                  std::to_string(count * elem) + " bytes (" + std::string(safetensors_name(t.type)) +
                      " " + to_string(t.dims) + ")");
    return {};
  }

  // Unique names; ranges sorted by offset tile the data area exactly.
  result<void> check_layout(safetensors_header& h) {
    std::ranges::sort(h.tensors, std::less<>{}, &tensor_entry::name);
    const auto dup = std::ranges::adjacent_find(h.tensors, std::equal_to<>{}, &tensor_entry::name);
    if (dup != h.tensors.end())
      return fail(errc::inconsistent, printable(dup->name), "the name twice", "unique tensor names");
    std::vector<std::size_t> order(h.tensors.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::ranges::sort(order, [&](std::size_t a, std::size_t b) {
      return std::pair(h.tensors[a].begin, h.tensors[a].end) < std::pair(h.tensors[b].begin, h.tensors[b].end);
    });
    std::uint64_t at = 0;
    const tensor_entry* prev = nullptr;
    for (const std::size_t i : order) {
      const tensor_entry& t = h.tensors[i];
      if (t.begin < at)
        return fail(errc::inconsistent, printable(t.name),
                    offsets_text(t) + " overlapping \"" + printable(prev->name) + "\" " + offsets_text(*prev),
                    "disjoint byte ranges");
      if (t.begin > at)
        return fail(errc::inconsistent, printable(t.name),
                    offsets_text(t) + " leaving bytes [" + std::to_string(at) + ", " +
                        std::to_string(t.begin) + ") unused",
                    "tensors packed back to back from offset 0, as the format requires");
      at = t.end;
      prev = &t;
    }
    if (at != h.data_size)
      return fail(errc::inconsistent, "data area",
                  std::to_string(h.data_size - at) + " bytes after the last tensor",
                  "a data area that ends with the last tensor");
    return {};
  }

  // A key as written in the JSON (escapes kept), for when it cannot be unescaped.
  std::string raw_key(const char* p) const {
    const char* end = json_.data() + json_.size();
    std::string out;
    for (; p >= json_.data() && p < end && *p != '"'; ++p) {
      if (*p == '\\' && p + 1 < end) out += *p++;
      out += *p;
    }
    return printable(out);
  }
  static std::string offsets_text(const tensor_entry& t) {
    return "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
  }
  static std::string after(const safetensors_header& h) {
    return h.tensors.empty() ? "header" : "header (after \"" + printable(h.tensors.back().name) + "\")";
  }
};

}  // namespace detail

// Parses and validates the header of a safetensors file held in `file` (the whole file: the data
// area is only bounds-checked, never read). Errors name `file_name`, the tensor and the problem.
inline result<safetensors_header> parse_safetensors_header(std::span<const std::byte> file,
                                                           std::string_view file_name) {
  auto fail = [&](errc c, std::string found, std::string expected) {
    return error(c, "header", std::move(found), std::move(expected), std::string(file_name));
  };
  if (file.size() < 8)
    return fail(errc::syntax, "a file of " + std::to_string(file.size()) + " bytes",
                "at least 8 bytes: the header length");
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(file[i]) << (8 * i);
  if (n > max_safetensors_header)
    return fail(errc::invalid_value, "a header length of " + std::to_string(n) + " bytes",
                "at most " + std::to_string(max_safetensors_header) + " bytes");
  if (n > file.size() - 8)
    return fail(errc::out_of_bounds,
                "a header length of " + std::to_string(n) + " bytes in a file of " +
                    std::to_string(file.size()) + " bytes",
                "a header inside the file");
  const std::string_view json(reinterpret_cast<const char*>(file.data() + 8), static_cast<std::size_t>(n));
  if (!simdjson::validate_utf8(json)) {
    // Name the string holding the first bad byte: bisect for the longest valid prefix, cutting
    // only before a byte that is not a UTF-8 continuation byte (so validity is monotonic).
    auto valid_prefix = [&](std::size_t k) {
      for (int i = 0; i < 3 && k > 0 && (static_cast<unsigned char>(json[k]) & 0xc0) == 0x80; ++i) --k;
      return simdjson::validate_utf8(json.substr(0, k));
    };
    std::size_t lo = 0, hi = json.size();  // valid_prefix(lo) holds; the whole header is invalid
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      (valid_prefix(mid) ? lo : hi) = mid;
    }
    const std::size_t open = json.rfind('"', lo);
    const std::size_t close = json.find('"', lo);
    const std::size_t from = open == std::string_view::npos ? 0 : open + 1;
    const std::string near(json.substr(from, (close == std::string_view::npos ? json.size() : close) - from));
    return error(errc::syntax, detail::printable(near),
                 "text that is not valid UTF-8 at header byte " + std::to_string(lo), "a UTF-8 JSON header",
                 std::string(file_name));
  }
  if (json.empty() || json.front() != '{')
    return fail(errc::syntax, "a header that does not start with '{'", "a JSON object");
  return detail::header_parser(file_name, json).parse(8 + n, file.size() - 8 - n);
}

}  // namespace famx::io
