#pragma once
// Option helpers for the famx command line (CLI11): integers in a range or from a set, and words
// from a set, each shown in --help with its default, each rejected with a usage error that names
// the flag, the value given and what it takes.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace famx_cli {

// Exit codes of every command: 0 ok, 1 a check failed or the input (a file, a model) is bad,
// 2 a usage error (unknown flag, missing or bad value, wrong arguments).
inline constexpr int exit_ok = 0, exit_failed = 1, exit_usage = 2;

namespace detail {
// v as decimal text, or "" (no default shown) for a non-integer.
template <class T>
std::string text_of(const T& v) {
  return std::to_string(v);
}
// The integer s fills entirely (decimal digits, '-' for signed types), or false.
template <class T>
bool parse_integer(const std::string& s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && r.ec == std::errc{} && r.ptr == s.data() + s.size();
}
// "2, 3, 4 or 8".
template <class T>
std::string one_of(const std::vector<T>& set) {
  std::string s;
  for (std::size_t i = 0; i < set.size(); ++i)
    s += (i == 0 ? "" : i + 1 == set.size() ? " or " : ", ") + [&] {
      if constexpr (std::is_arithmetic_v<T>) return std::to_string(set[i]);
      else return std::string(set[i]);
    }();
  return s;
}
}  // namespace detail

// An integer option in [lo, hi]; anything else (not a decimal integer, out of range) is an error
// naming the flag.
template <class T>
CLI::Option* add_integer(CLI::App& app, const std::string& name, T& v, T lo, T hi, const std::string& help) {
  auto* o = app.add_option_function<std::string>(
      name,
      [&v, name, lo, hi](const std::string& s) {
        T x{};
        if (!detail::parse_integer(s, x) || x < lo || x > hi)
          throw CLI::ValidationError(name, "takes an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                                               ", not '" + s + "'");
        v = x;
      },
      help);
  return o->type_name("INT")->default_str(detail::text_of(v));
}

// An integer option taking one of `set`.
template <class T>
CLI::Option* add_integer(CLI::App& app, const std::string& name, T& v, std::vector<T> set, const std::string& help) {
  auto* o = app.add_option_function<std::string>(
      name,
      [&v, name, set](const std::string& s) {
        T x{};
        if (!detail::parse_integer(s, x) || std::find(set.begin(), set.end(), x) == set.end())
          throw CLI::ValidationError(name, "takes " + detail::one_of(set) + ", not '" + s + "'");
        v = x;
      },
      help + " (" + detail::one_of(set) + ")");
  return o->type_name("INT")->default_str(detail::text_of(v));
}

// A word option taking one of `set`.
inline CLI::Option* add_choice(CLI::App& app, const std::string& name, std::string& v, std::vector<std::string> set,
                               const std::string& help) {
  auto* o = app.add_option_function<std::string>(
      name,
      [&v, name, set](const std::string& s) {
        if (std::find(set.begin(), set.end(), s) == set.end())
          throw CLI::ValidationError(name, "takes " + detail::one_of(set) + ", not '" + s + "'");
        v = s;
      },
      help + " (" + detail::one_of(set) + ")");
  return o->type_name("WORD")->default_str(v);
}

// Writes `text` to file `path`; false (after an error naming the file, prefixed by `who`) when it
// cannot be written.
inline bool write_file(const std::string& path, const std::string& text, const char* who) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "%s: %s: cannot write the file\n", who, path.c_str());
    return false;
  }
  return true;
}

}  // namespace famx_cli
