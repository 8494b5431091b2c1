#pragma once
// Typed config.json structs whose fields are written once. FAMX_CONFIG_FIELDS declares each field
// with its type, its config.json key (the member name, verbatim) and either `required` (mlx-lm's
// ModelArgs has no default: a config without the key is rejected) or `optional` with its default;
// it also defines `famx_fields`, the compile-time list of field descriptors the parser, the printer
// and the surface expressions walk. A variant extends its parent's struct with
// FAMX_CONFIG_FIELDS_EXTEND: it inherits every field, adds its own, and `(default, key, value)`
// changes an inherited field's default (the field becomes optional):
//
//   struct qwen3_config {
//     FAMX_CONFIG_FIELDS(qwen3_config,
//       (required, std::int64_t, hidden_size),
//       (optional, double, rope_theta, 10000))
//   };
//   struct my_config : qwen3_config {
//     FAMX_CONFIG_FIELDS_EXTEND(my_config, qwen3_config,
//       (optional, bool, use_sliding_window, false),
//       (default, rope_theta, 1000000))
//   };
//
// Types must not contain commas (use an alias).

#include <cstddef>
#include <type_traits>

#include <boost/preprocessor/cat.hpp>
#include <boost/preprocessor/seq/for_each.hpp>
#include <boost/preprocessor/stringize.hpp>
#include <boost/preprocessor/tuple/elem.hpp>
#include <boost/preprocessor/variadic/to_seq.hpp>

#include "famx/surface/fixed_string.hpp"
#include "famx/surface/module.hpp"

namespace famx::surface {

// One config.json field: its key, the member holding it (a pointer to member) and whether mlx-lm
// requires it.
template <fixed_string Key, auto Member, bool Required>
struct config_field {
  static constexpr auto key = Key;
  static constexpr auto member = Member;
  static constexpr bool required = Required;
};

// Marks an inherited field `Key` optional: the variant gives it a new default in its constructor.
template <fixed_string Key>
struct config_default {
  static constexpr auto key = Key;
};

// A config struct declared with FAMX_CONFIG_FIELDS.
template <class Cfg>
concept config_struct = requires { typename Cfg::famx_fields; };

namespace detail {
template <class List, class F>
struct append;
template <class... T, class F>
struct append<type_list<T...>, F> {
  using type = type_list<T..., F>;
};
template <class List, fixed_string Key>
struct make_optional {
  static_assert(Key.size() == 0, "FAMX_CONFIG_FIELDS_EXTEND: (default, key, value) names no inherited field");
};
template <bool Found, class List, fixed_string Key>
struct make_optional_at;
template <class H, class... T, fixed_string Key>
struct make_optional_at<true, type_list<H, T...>, Key> {
  using type = type_list<config_field<Key, H::member, false>, T...>;
};
template <class H, class... T, fixed_string Key>
struct make_optional_at<false, type_list<H, T...>, Key> {
  template <class R>
  struct prepend;
  template <class... R>
  struct prepend<type_list<R...>> {
    using type = type_list<H, R...>;
  };
  using type = typename prepend<typename make_optional<type_list<T...>, Key>::type>::type;
};
template <class H, class... T, fixed_string Key>
struct make_optional<type_list<H, T...>, Key> : make_optional_at<H::key == Key, type_list<H, T...>, Key> {};

// The field list of a struct: its parent's fields, then its own, with default overrides applied.
template <class Base, class... Entries>
struct merge_fields;
template <class Base>
struct merge_fields<Base> {
  using type = Base;
};
template <class Base, fixed_string K, auto M, bool R, class... Rest>
struct merge_fields<Base, config_field<K, M, R>, Rest...>
    : merge_fields<typename append<Base, config_field<K, M, R>>::type, Rest...> {};
template <class Base, fixed_string K, class... Rest>
struct merge_fields<Base, config_default<K>, Rest...> : merge_fields<typename make_optional<Base, K>::type, Rest...> {};

// The descriptor of field Key in list List (void when absent).
template <class List, fixed_string Key>
struct find_field {
  using type = void;
};
template <class H, class... T, fixed_string Key>
struct find_field<type_list<H, T...>, Key> {
  using type = std::conditional_t<H::key == Key, H, typename find_field<type_list<T...>, Key>::type>;
};
}  // namespace detail

// The list of field descriptors: `void` first (the macro's leading comma), then the entries.
template <class Base, class Void, class... Entries>
using fields_of = typename detail::merge_fields<Base, Entries...>::type;

// The descriptor of config field Key of Cfg (void when Cfg has no such field).
template <config_struct Cfg, fixed_string Key>
using field_descriptor = typename detail::find_field<typename Cfg::famx_fields, Key>::type;

// True when config type Cfg has a field keyed Key.
template <class Cfg, fixed_string Key>
constexpr bool has_field = [] {
  if constexpr (config_struct<Cfg>) return !std::is_void_v<field_descriptor<Cfg, Key>>;
  else return false;
}();

// The value of field Key of config c (a reference to the member).
template <fixed_string Key, config_struct Cfg>
constexpr const auto& field_value(const Cfg& c) {
  using F = field_descriptor<Cfg, Key>;
  static_assert(!std::is_void_v<F>, "a surface expression names a config field this family's config lacks");
  return c.*(F::member);
}

// Calls f(descriptor) for every field of Cfg, in declaration order (parents' fields first).
template <config_struct Cfg, class F>
constexpr void for_each_field(F&& f) {
  [&]<class... D>(type_list<D...>) { (f(D{}), ...); }(typename Cfg::famx_fields{});
}

// The member type of a field descriptor for config type Cfg.
template <class Cfg, class D>
using field_type = std::remove_cvref_t<decltype(std::declval<const Cfg&>().*(D::member))>;

}  // namespace famx::surface

// Implementation macros of FAMX_CONFIG_FIELDS: one expansion per (kind, ...) tuple.
#define FAMX_CF_MEMBER_required(kind, type, name) type name{};
#define FAMX_CF_MEMBER_optional(kind, type, name, value) type name = value;
#define FAMX_CF_MEMBER_default(kind, name, value)
#define FAMX_CF_MEMBER(r, self, field) BOOST_PP_CAT(FAMX_CF_MEMBER_, BOOST_PP_TUPLE_ELEM(0, field)) field
#define FAMX_CF_ENTRY_required(self, field) \
  , ::famx::surface::config_field<BOOST_PP_STRINGIZE(BOOST_PP_TUPLE_ELEM(2, field)), &self::BOOST_PP_TUPLE_ELEM(2, field), true>
#define FAMX_CF_ENTRY_optional(self, field) \
  , ::famx::surface::config_field<BOOST_PP_STRINGIZE(BOOST_PP_TUPLE_ELEM(2, field)), &self::BOOST_PP_TUPLE_ELEM(2, field), false>
#define FAMX_CF_ENTRY_default(self, field) \
  , ::famx::surface::config_default<BOOST_PP_STRINGIZE(BOOST_PP_TUPLE_ELEM(1, field))>
#define FAMX_CF_ENTRY(r, self, field) BOOST_PP_CAT(FAMX_CF_ENTRY_, BOOST_PP_TUPLE_ELEM(0, field))(self, field)
#define FAMX_CF_INIT_required(field)
#define FAMX_CF_INIT_optional(field)
#define FAMX_CF_INIT_default(field) BOOST_PP_TUPLE_ELEM(1, field) = BOOST_PP_TUPLE_ELEM(2, field);
#define FAMX_CF_INIT(r, self, field) BOOST_PP_CAT(FAMX_CF_INIT_, BOOST_PP_TUPLE_ELEM(0, field))(field)

// Declares the fields of config struct Self: (required, type, key) or (optional, type, key, default).
#define FAMX_CONFIG_FIELDS(Self, ...)                                                       \
  BOOST_PP_SEQ_FOR_EACH(FAMX_CF_MEMBER, Self, BOOST_PP_VARIADIC_TO_SEQ(__VA_ARGS__))        \
  using famx_fields = ::famx::surface::fields_of<::famx::surface::type_list<>,              \
                                                 void BOOST_PP_SEQ_FOR_EACH(FAMX_CF_ENTRY, Self, \
                                                                            BOOST_PP_VARIADIC_TO_SEQ(__VA_ARGS__))>;

// Declares a variant Self of config struct Base: Base's fields, then these (also (default, key, value)).
#define FAMX_CONFIG_FIELDS_EXTEND(Self, Base, ...)                                                \
  BOOST_PP_SEQ_FOR_EACH(FAMX_CF_MEMBER, Self, BOOST_PP_VARIADIC_TO_SEQ(__VA_ARGS__))              \
  Self() { BOOST_PP_SEQ_FOR_EACH(FAMX_CF_INIT, Self, BOOST_PP_VARIADIC_TO_SEQ(__VA_ARGS__)) }     \
  using famx_fields = ::famx::surface::fields_of<typename Base::famx_fields,                       \
                                                 void BOOST_PP_SEQ_FOR_EACH(FAMX_CF_ENTRY, Self,   \
                                                                            BOOST_PP_VARIADIC_TO_SEQ(__VA_ARGS__))>;
