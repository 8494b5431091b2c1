#pragma once
// Module-tree nodes: module<Name, Children...> (a named submodule), when<Cond, Children...> (present
// only when a config condition holds) and choice<Cond, A, B> (A or B by a config condition).
// Every node answers has<Path...>() at compile time and emits its tensors for a config at run time.

#include <cstddef>
#include <string>
#include <string_view>

#include "famx/surface/fixed_string.hpp"
#include "famx/surface/tensor_entry.hpp"

namespace famx::surface {

// A list of types (surface nodes, paths); nothing more.
template <class... T>
struct type_list {
  static constexpr std::size_t size = sizeof...(T);
};

namespace detail {
// The concatenation of type lists.
template <class... L>
struct concat;
template <>
struct concat<> {
  using type = type_list<>;
};
template <class... A>
struct concat<type_list<A...>> {
  using type = type_list<A...>;
};
template <class... A, class... B, class... Rest>
struct concat<type_list<A...>, type_list<B...>, Rest...> : concat<type_list<A..., B...>, Rest...> {};
}  // namespace detail

// Where a node emits: the dotted prefix of its parent module and the decoder layer index.
struct emit_at {
  std::string prefix;
  int layer = -1;

  // The path of a child named n: "prefix.n", or n at the root.
  std::string child(std::string_view n) const {
    return prefix.empty() ? std::string(n) : prefix + "." + std::string(n);
  }
};

namespace detail {
// Whether child node C (named, or transparent) leads along path P0.Ps...
template <class C, fixed_string P0, fixed_string... Ps>
constexpr bool child_has() {
  if constexpr (C::transparent) return C::template has<P0, Ps...>();
  else if constexpr (C::name == P0) return C::template has<Ps...>();
  else return false;
}
}  // namespace detail

// A leaf module (a projection, norm, parameter): has no submodules.
template <fixed_string Name>
struct leaf {
  static constexpr auto name = Name;
  static constexpr bool transparent = false;
  template <fixed_string... P>
  static constexpr bool has() { return sizeof...(P) == 0; }
};

// A named submodule holding Children (HF / mlx-lm attribute name verbatim).
template <fixed_string Name, class... Children>
struct module {
  static constexpr auto name = Name;
  static constexpr bool transparent = false;

  // Whether the dotted path P... exists below this module (empty path: this module itself).
  template <fixed_string... P>
  static constexpr bool has() {
    if constexpr (sizeof...(P) == 0) return true;
    else return (detail::child_has<Children, P...>() || ...);
  }
  // Emits every tensor of this module for config c.
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const emit_at inner{at.child(Name.view()), at.layer};
    (Children::tensors(c, inner, sink), ...);
  }
};

// Children that exist only when Cond holds for the config (e.g. q_norm when use_qk_norm).
template <class Cond, class... Children>
struct when {
  static constexpr bool transparent = true;
  template <fixed_string... P>
  static constexpr bool has() { return (detail::child_has<Children, P...>() || ...); }
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    if (Cond::eval(c)) (Children::tensors(c, at, sink), ...);
  }
};

// Node A when Cond holds, else node B (e.g. MLA's q_proj when q_lora_rank is null, else q_a/q_b).
template <class Cond, class A, class B>
struct choice {
  static constexpr bool transparent = true;
  template <fixed_string... P>
  static constexpr bool has() { return detail::child_has<A, P...>() || detail::child_has<B, P...>(); }
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    if (Cond::eval(c)) A::tensors(c, at, sink);
    else B::tensors(c, at, sink);
  }
};

// A group of sibling nodes with no name of its own (a choice branch holding several modules).
template <class... Children>
struct group {
  static constexpr bool transparent = true;
  template <fixed_string... P>
  static constexpr bool has() { return (detail::child_has<Children, P...>() || ...); }
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    (Children::tensors(c, at, sink), ...);
  }
};

namespace detail {
template <fixed_string H, fixed_string... T>
constexpr auto dotted() {
  if constexpr (sizeof...(T) == 0) return H;
  else return join_path<H, dotted<T...>()>();
}
}  // namespace detail

// A dotted module path as a type: path<"self_attn", "q_proj">; text is "self_attn.q_proj".
template <fixed_string P0, fixed_string... P>
struct path {
  static constexpr auto text = detail::dotted<P0, P...>();
  // Whether surface node Node has this path.
  template <class Node>
  static constexpr bool in = Node::template has<P0, P...>();
};

// Any one of several paths (Exo: q_proj when q_lora_rank is null, else q_b_proj).
template <class... Paths>
struct one_of {
  static constexpr auto text = [] {
    return []<class F, class... R>(type_list<F, R...>) {
      return (F::text + ... + (fixed_string(" or ") + R::text));
    }(type_list<Paths...>{});
  }();
  template <class Node>
  static constexpr bool in = (Paths::template in<Node> || ...);
};

}  // namespace famx::surface
