#pragma once
// Reading simdjson On Demand values into typed fields: integers, floats, booleans, strings,
// std::optional (JSON null), std::vector (arrays) and config structs (FAMX_CONFIG_FIELDS: objects, one
// key per field, found with find_field_unordered). A mismatch is a famx::error naming file, key,
// found and expected.

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <simdjson.h>

#include "famx/core/error.hpp"
#include "famx/surface/config.hpp"

namespace famx::io {

namespace detail {
namespace od = simdjson::ondemand;

// "an object", "an array", or the JSON token itself for scalars ("\"abc\"", "1.5", "true").
inline std::string found_text(od::value& v) {
  od::json_type t{};
  if (v.type().get(t)) return "invalid JSON";
  if (t == od::json_type::object) return "an object";
  if (t == od::json_type::array) return "an array";
  std::string_view raw = v.raw_json_token();
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
    raw.remove_suffix(1);
  return std::string(raw);
}

// What a field of type T expects, in words.
template <class T>
std::string expected_text() {
  if constexpr (std::is_same_v<T, bool>) return "a boolean";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (requires(T t) { t.has_value(); }) return expected_text<typename T::value_type>() + " or null";
  else if constexpr (requires(T t) { t.push_back(t[0]); }) {
    const std::string e = expected_text<typename T::value_type>();
    return "an array of " + e.substr(e.find(' ') + 1) + "s";
  }
  else return "an object";
}

inline error json_error(simdjson::error_code ec, std::string_view file, std::string key) {
  return error(ec == simdjson::IO_ERROR ? errc::io : errc::syntax, std::move(key),
               std::string("JSON error: ") + simdjson::error_message(ec), "valid JSON", std::string(file));
}
}  // namespace detail

// Reads value v into out; key is the dotted key path used in errors.
template <class T>
result<void> read_json(simdjson::ondemand::value v, T& out, const std::string& key, std::string_view file);

namespace detail {
// Reads every field of config struct S from object o (from its first key, whatever was read of it
// before); a key given twice takes its last value, as Python's json does; a required field must be
// present. Keys S does not declare are skipped.
template <surface::config_struct S>
result<void> read_members(od::object o, S& out, const std::string& prefix, std::string_view file) {
  using fields = typename S::famx_fields;
  std::array<bool, fields::size> seen{};
  auto path = [&](std::string_view n) { return prefix.empty() ? std::string(n) : prefix + "." + std::string(n); };
  if (auto ec = o.reset().error()) return json_error(ec, file, prefix);
  for (auto f : o) {
    std::string_view k;
    if (auto ec = f.unescaped_key().get(k)) return json_error(ec, file, prefix);
    const std::string key = path(k);
    od::value v;
    if (auto ec = f.value().get(v)) return json_error(ec, file, key);
    result<void> res;
    std::size_t i = 0;
    surface::for_each_field<S>([&](auto field) {
      using F = decltype(field);
      if (F::key.view() == k) {
        res = read_json(v, out.*(F::member), key, file);
        seen[i] = true;
      }
      ++i;
    });
    if (!res) return res;
  }
  result<void> res;
  std::size_t i = 0;
  surface::for_each_field<S>([&](auto field) {
    using F = decltype(field);
    if (res && F::required && !seen[i])
      res = error(errc::missing, path(F::key.view()), "no such key",
                  "a required key holding " + expected_text<surface::field_type<S, F>>() +
                      " (mlx-lm's ModelArgs has no default for it)",
                  std::string(file));
    ++i;
  });
  return res;
}
}  // namespace detail

template <class T>
result<void> read_json(simdjson::ondemand::value v, T& out, const std::string& key, std::string_view file) {
  namespace od = simdjson::ondemand;
  auto mismatch = [&] {
    return error(errc::wrong_type, key, detail::found_text(v), detail::expected_text<T>(), std::string(file));
  };
  if constexpr (requires(T t) { t.has_value(); }) {  // std::optional: null or the value
    bool null = false;
    if (auto ec = v.is_null().get(null)) return detail::json_error(ec, file, key);
    if (null) {
      out.reset();
      return {};
    }
    typename T::value_type inner{};
    if (auto r = read_json(v, inner, key, file); !r) {
      if (r.err().code() == errc::wrong_type && r.err().path() == key)  // the value itself, not a member
        return error(errc::wrong_type, key, r.err().found(), detail::expected_text<T>(), std::string(file));
      return r;
    }
    out = std::move(inner);
    return {};
  } else if constexpr (std::is_same_v<T, bool>) {
    if (v.get_bool().get(out)) return mismatch();
    return {};
  } else if constexpr (std::is_integral_v<T>) {
    std::int64_t x = 0;
    if (v.get_int64().get(x)) return mismatch();
    if (!std::in_range<T>(x))
      return error(errc::invalid_value, key, detail::found_text(v),
                   "an integer in [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
                       std::to_string(std::numeric_limits<T>::max()) + "]",
                   std::string(file));
    out = static_cast<T>(x);
    return {};
  } else if constexpr (std::is_floating_point_v<T>) {
    double x = 0;
    if (v.get_double().get(x)) return mismatch();
    if (!std::isfinite(x)) return error(errc::invalid_value, key, detail::found_text(v), "a finite number", std::string(file));
    out = static_cast<T>(x);
    return {};
  } else if constexpr (std::is_same_v<T, std::string>) {
    std::string_view s;
    if (v.get_string().get(s)) return mismatch();
    out = std::string(s);
    return {};
  } else if constexpr (requires(T t) { t.push_back(t[0]); }) {  // std::vector
    od::array a;
    if (v.get_array().get(a)) return mismatch();
    out.clear();
    std::size_t i = 0;
    for (auto element : a) {
      od::value e;
      const std::string ek = key + "." + std::to_string(i++);
      if (auto ec = element.get(e)) return detail::json_error(ec, file, ek);
      typename T::value_type x{};
      if (auto r = read_json(e, x, ek, file); !r) return r;
      out.push_back(std::move(x));
    }
    return {};
  } else {  // a config struct read from a JSON object
    od::object o;
    if (v.get_object().get(o)) return mismatch();
    return detail::read_members(o, out, key, file);
  }
}

}  // namespace famx::io
