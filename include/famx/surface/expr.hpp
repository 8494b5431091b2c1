#pragma once
// Dimension expressions over config fields, by their HF key: field<"hidden_size">,
// mul<field<"num_attention_heads">, field<"head_dim">>, add<...>, lit<N>. Each expression evaluates against a
// family's typed config (a FAMX_CONFIG_FIELDS struct) and prints itself ("num_attention_heads*head_dim").

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "famx/core/error.hpp"
#include "famx/surface/config.hpp"
#include "famx/surface/fixed_string.hpp"

namespace famx::surface {

namespace detail {
template <class T>
constexpr std::int64_t as_int(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return v ? 1 : 0;
  else if constexpr (std::is_integral_v<T>) return static_cast<std::int64_t>(v);
  else return static_cast<std::int64_t>(v.value());  // std::optional: resolved before use
}
}  // namespace detail

// The integer value of config field Key (booleans as 0/1, optionals must be set).
template <fixed_string Key>
struct field {
  template <class Cfg>
  static constexpr std::int64_t eval(const Cfg& c) {
    return detail::as_int(field_value<Key>(c));
  }
  static std::string text() { return std::string(Key.view()); }
  static constexpr int precedence = 3;
};

// A literal integer.
template <std::int64_t N>
struct lit {
  template <class Cfg>
  static constexpr std::int64_t eval(const Cfg&) { return N; }
  static std::string text() { return std::to_string(N); }
  static constexpr int precedence = 3;
};

namespace detail {
template <class E>
std::string paren(int outer) {
  std::string t = E::text();
  if (E::precedence >= outer) return t;
  std::string r(1, '(');  // built by appends: g++ 12 warns (-Wrestrict) on chains of operator+
  r += t;
  r += ')';
  return r;
}
// a, op, b joined.
inline std::string join(std::string a, char op, const std::string& b) {
  a += op;
  a += b;
  return a;
}
// Throws a famx::error naming expression Expr, whose value overflows 63 bits.
template <class Expr>
[[noreturn]] void overflowed() {
  throw error(errc::invalid_value, Expr::text(), "a size that overflows 63 bits", "sizes famx can count");
}
}  // namespace detail

// A + B.
template <class A, class B>
struct add {
  template <class Cfg>
  static constexpr std::int64_t eval(const Cfg& c) {
    std::int64_t r = 0;
    if (__builtin_add_overflow(A::eval(c), B::eval(c), &r)) detail::overflowed<add>();
    return r;
  }
  static std::string text() { return detail::join(detail::paren<A>(1), '+', detail::paren<B>(1)); }
  static constexpr int precedence = 1;
};

// A * B.
template <class A, class B>
struct mul {
  template <class Cfg>
  static constexpr std::int64_t eval(const Cfg& c) {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(A::eval(c), B::eval(c), &r)) detail::overflowed<mul>();
    return r;
  }
  static std::string text() { return detail::join(detail::paren<A>(2), '*', detail::paren<B>(2)); }
  static constexpr int precedence = 2;
};

// Conditions on the config, for optional modules and biases.
// Boolean config field Key is true.
template <fixed_string Key>
struct flag {
  template <class Cfg>
  static constexpr bool eval(const Cfg& c) { return field<Key>::eval(c) != 0; }
  static std::string text() { return std::string(Key.view()); }
};
// Optional config field Key is null (JSON null or absent with a None default).
template <fixed_string Key>
struct is_null {
  template <class Cfg>
  static constexpr bool eval(const Cfg& c) { return !field_value<Key>(c).has_value(); }
  static std::string text() { return std::string(Key.view()).append(" is null"); }
};
// Negation of a condition.
template <class C>
struct negate {
  template <class Cfg>
  static constexpr bool eval(const Cfg& c) { return !C::eval(c); }
  static std::string text() { return std::string("not ").append(C::text()); }
};
// The constant conditions.
struct always {
  template <class Cfg>
  static constexpr bool eval(const Cfg&) { return true; }
  static std::string text() { return "always"; }
};
struct never {
  template <class Cfg>
  static constexpr bool eval(const Cfg&) { return false; }
  static std::string text() { return "never"; }
};

}  // namespace famx::surface
