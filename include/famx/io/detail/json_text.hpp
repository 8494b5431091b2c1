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

// Base of the io parsers: one simdjson On Demand document over a padded copy of `json`. Errors name
// `file` and, for JSON errors, the byte offset (`offset_what` names what it counts: "header byte").
class json_document {
 protected:
  json_document(std::string_view file, std::string_view json, std::string_view offset_what)
      : file_(file), json_(json), offset_what_(offset_what) {}

  // Starts the document; current_location() is valid only after a successful start.
  simdjson::error_code start() {
    const auto e = parser_.iterate(json_).get(doc_);
    iterated_ = !e;
    return e;
  }
  error fail(errc c, std::string path, std::string found, std::string_view expected) const {
    return error(c, std::move(path), std::move(found), std::string(expected), std::string(file_));
  }
  // A simdjson failure, with the byte offset when simdjson knows it.
  error json_fail(simdjson::error_code e, std::string path, std::string_view expected) {
    std::string found = describe(e);
    const char* loc = nullptr;
    if (iterated_ && !doc_.current_location().get(loc) && loc >= json_.data() && loc <= json_.data() + json_.size())
      found += " at " + std::string(offset_what_) + " " + std::to_string(loc - json_.data());
    return fail(json_errc(e), std::move(path), std::move(found), expected);
  }

  std::string_view file_;
  simdjson::padded_string json_;
  simdjson::ondemand::parser parser_;
  simdjson::ondemand::document doc_;

 private:
  bool iterated_ = false;
  std::string_view offset_what_;
};

}  // namespace famx::io::detail
