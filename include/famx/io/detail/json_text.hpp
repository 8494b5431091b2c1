#pragma once
// Text helpers shared by the io parsers and writers: JSON string quoting, printable names for error
// messages, and simdjson error descriptions. No stability promise.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "famx/core/error.hpp"

namespace famx::io::detail {

// s with control bytes escaped as \xNN, and every byte >= 0x80 too when s is not valid UTF-8:
// safe to put in an error message whatever s holds.
inline std::string printable(std::string_view s) {
  const bool utf8 = simdjson::validate_utf8(s);
  std::string out;
  out.reserve(s.size());
  constexpr char hex[] = "0123456789abcdef";
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f || (!utf8 && b >= 0x80)) {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 15];
    } else {
      out += c;
    }
  }
  return out;
}

// Appends s as a JSON string literal (quotes, backslashes and control characters escaped; s must
// be valid UTF-8).
inline void append_json_string(std::string& out, std::string_view s) {
  constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (b < 0x20) {
      out += "\\u00";
      out += hex[b >> 4];
      out += hex[b & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

// "JSON error: <simdjson's message>".
inline std::string describe(simdjson::error_code e) {
  return std::string("JSON error: ") + simdjson::error_message(e);
}

// The famx error code of a simdjson error: type errors are wrong_type, number range errors
// invalid_value, everything else syntax.
inline errc json_errc(simdjson::error_code e) noexcept {
  if (e == simdjson::INCORRECT_TYPE) return errc::wrong_type;
  if (e == simdjson::NUMBER_OUT_OF_RANGE) return errc::invalid_value;
  return errc::syntax;
}

}  // namespace famx::io::detail
