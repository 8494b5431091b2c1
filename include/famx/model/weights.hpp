#pragma once
// Weights bound from a surface: bound_t<Node> is the typed weight struct of surface node Node (a
// tuple of named slots, one per leaf or submodule, nested as the modules nest), and bind() fills it
// by walking the surface with the same emission (names and shapes) that verification, the planner
// and the tiny-checkpoint writer use, reading each tensor from a source (a checkpoint). Slots of
// children that exist only for some configs (a bias-free when<>, one branch of a choice<>) carry
// present = false. Access is by name at compile time: get<"self_attn", "q_proj">(layer).value.
//
// Leaf values: linear, embedding -> model::linear; switch_linear, multi_linear -> one model::linear
// per expert or head; rms_norm, parameter, conv1d -> fp32 values; layer_norm -> weight and bias.

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/model/linear.hpp"
#include "famx/surface/layer.hpp"

namespace famx::model {

// One named part of a bound module: its value, and whether the config has it.
template <surface::fixed_string Name, class T>
struct slot {
  static constexpr auto name = Name;
  T value{};
  bool present = false;
};

// An affine normalization's weight and bias (nn.LayerNorm).
struct affine_norm {
  std::vector<float> weight, bias;
};

// The slots of a module, in surface order.
template <class... Slots>
struct bound_module {
  std::tuple<Slots...> slots;
};

template <class Leaf>
struct leaf_value {
  static_assert(!std::is_same_v<Leaf, Leaf>, "famx::model: no bound value for this surface leaf kind (leaf_value)");
};
template <surface::fixed_string N, class In, class Out, class B, surface::quant_rule R>
struct leaf_value<surface::linear<N, In, Out, B, R>> {
  using type = linear;
};
template <surface::fixed_string N, class V, class D>
struct leaf_value<surface::embedding<N, V, D>> {
  using type = linear;
};
template <surface::fixed_string N, class E, class In, class Out>
struct leaf_value<surface::switch_linear<N, E, In, Out>> {
  using type = std::vector<linear>;
};
template <surface::fixed_string N, class H, class In, class Out>
struct leaf_value<surface::multi_linear<N, H, In, Out>> {
  using type = std::vector<linear>;
};
template <surface::fixed_string N, class D>
struct leaf_value<surface::rms_norm<N, D>> {
  using type = std::vector<float>;
};
template <surface::fixed_string N, class D>
struct leaf_value<surface::layer_norm<N, D>> {
  using type = affine_norm;
};
template <surface::fixed_string N, dtype T, class... D>
struct leaf_value<surface::parameter<N, T, D...>> {
  using type = std::vector<float>;
};
template <surface::fixed_string N, class C, class K>
struct leaf_value<surface::conv1d<N, C, K>> {
  using type = std::vector<float>;
};

namespace detail {
template <surface::fixed_string N, class... C>
surface::type_list<C...> children_of(const surface::module<N, C...>*);
template <surface::fixed_string N, class... C>
constexpr auto name_of(const surface::module<N, C...>*) { return N; }
template <class... C>
surface::type_list<C...> group_of(const surface::group<C...>*);

template <class Node>
constexpr bool is_module = requires { name_of(static_cast<const Node*>(nullptr)); };
template <class Node>
constexpr bool is_group = requires { group_of(static_cast<const Node*>(nullptr)); };

template <class List>
struct to_module;
template <class... S>
struct to_module<surface::type_list<S...>> {
  using type = bound_module<S...>;
};

template <class Node>
struct slots_of;
template <class List>
struct slots_of_all;
template <class... C>
struct slots_of_all<surface::type_list<C...>> : surface::detail::concat<typename slots_of<C>::type...> {};

template <class Node>
struct slots_of {
  static auto make() {
    if constexpr (is_module<Node>) {
      using children = decltype(children_of(static_cast<const Node*>(nullptr)));
      constexpr auto n = name_of(static_cast<const Node*>(nullptr));
      return surface::type_list<slot<n, typename to_module<typename slots_of_all<children>::type>::type>>{};
    } else if constexpr (is_group<Node>) {
      return typename slots_of_all<decltype(group_of(static_cast<const Node*>(nullptr)))>::type{};
    } else {
      return surface::type_list<slot<Node::name, typename leaf_value<Node>::type>>{};
    }
  }
  using type = decltype(make());
};
template <class Cond, class... C>
struct slots_of<surface::when<Cond, C...>> : surface::detail::concat<typename slots_of<C>::type...> {};
template <class Cond, class A, class B>
struct slots_of<surface::choice<Cond, A, B>> : surface::detail::concat<typename slots_of<A>::type, typename slots_of<B>::type> {};

// The index of slot Name in module M (tuple size when absent).
template <class M, surface::fixed_string Name>
struct slot_index;
template <class... S, surface::fixed_string Name>
struct slot_index<bound_module<S...>, Name> {
  static constexpr std::size_t value = [] {
    std::size_t i = 0;
    (void)((S::name == Name ? true : (++i, false)) || ...);
    return i;
  }();
};
}  // namespace detail

// The bound weights of surface node Node: a bound_module for a module or a group (a decoder layer),
// the leaf value for a leaf.
template <class Node>
using bound_t = std::conditional_t<detail::is_module<Node>,
                                   std::remove_cvref_t<decltype(std::get<0>(
                                       std::declval<typename detail::to_module<typename detail::slots_of<Node>::type>::type>().slots).value)>,
                                   typename detail::to_module<typename detail::slots_of<Node>::type>::type>;

// The slot at dotted path Name, Rest... of a bound module (a compile error when absent).
template <surface::fixed_string Name, surface::fixed_string... Rest, class... S>
constexpr auto& get(bound_module<S...>& m) {
  constexpr std::size_t i = detail::slot_index<bound_module<S...>, Name>::value;
  static_assert(i < sizeof...(S), "famx::model::get: the surface has no such module here");
  auto& s = std::get<i>(m.slots);
  if constexpr (sizeof...(Rest) == 0) return s;
  else return get<Rest...>(s.value);
}
template <surface::fixed_string Name, surface::fixed_string... Rest, class... S>
constexpr const auto& get(const bound_module<S...>& m) {
  return get<Name, Rest...>(const_cast<bound_module<S...>&>(m));
}
// Whether bound module M has a slot Name (at compile time; its `present` says whether the config has it).
template <class M, surface::fixed_string Name>
constexpr bool has_slot = detail::slot_index<M, Name>::value < std::tuple_size_v<decltype(std::declval<M>().slots)>;

// Calls f(l) for every projection l bound in module m (nested modules and expert stacks included).
template <class M, class F>
void for_each_linear(const M& m, F&& f) {
  if constexpr (std::is_same_v<M, linear>) {
    f(m);
  } else if constexpr (std::is_same_v<M, std::vector<linear>>) {
    for (const linear& l : m) f(l);
  } else if constexpr (requires { m.slots; }) {
    std::apply([&](const auto&... s) { ((s.present ? for_each_linear(s.value, f) : void()), ...); }, m.slots);
  }
}

// Calls f(l) for every single projection l bound in module m (nested modules included, not the
// expert and head stacks), mutable when m is.
template <class M, class F>
void for_each_projection(M& m, F&& f) {
  if constexpr (std::is_same_v<std::remove_const_t<M>, linear>) {
    f(m);
  } else if constexpr (requires { m.slots; }) {
    std::apply([&](auto&... s) { ((s.present ? for_each_projection(s.value, f) : void()), ...); }, m.slots);
  }
}

// Fills bound weights from a source (a checkpoint): Source::load<Leaf>(entries) -> result<leaf value>
// for the tensors a leaf emits; a source with holds(entries) may leave leaves it does not hold
// unbound (present = false). `bound` collects the name of every surface tensor read.
template <class Cfg, class Source>
struct binder {
  const Cfg& config;
  const Source& source;
  std::vector<std::string>& bound;

  // Binds node Node (present when the config has it) into the slots of module `m`, at `at`.
  template <class Node, class M>
  result<void> bind(M& m, const surface::emit_at& at, bool present) {
    if constexpr (detail::is_module<Node>) {
      constexpr auto n = detail::name_of(static_cast<const Node*>(nullptr));
      auto& s = get<n>(m);
      s.present = present;
      using children = decltype(detail::children_of(static_cast<const Node*>(nullptr)));
      return bind_all<children>(s.value, surface::emit_at{at.child(n.view()), at.layer}, present);
    } else if constexpr (detail::is_group<Node>) {
      return bind_all<decltype(detail::group_of(static_cast<const Node*>(nullptr)))>(m, at, present);
    } else {
      auto& s = get<Node::name>(m);
      s.present = present;
      if (!present) return {};
      std::vector<surface::tensor_entry> entries;
      auto sink = [&](surface::tensor_entry t) { entries.push_back(std::move(t)); };
      Node::tensors(config, at, sink);
      if constexpr (requires { source.holds(entries); })
        if (!source.holds(entries)) {  // one rank of a split model holds only its part of the model
          s.present = false;
          return {};
        }
      for (const auto& e : entries) bound.push_back(e.name);
      auto v = source.template load<Node>(entries);
      if (!v) return v.err();
      s.value = std::move(*v);
      return {};
    }
  }

 private:
  template <class List, class M>
  result<void> bind_all(M& m, const surface::emit_at& at, bool present) {
    return [&]<class... C>(surface::type_list<C...>) {
      result<void> r;
      (void)((r = bind_child<C>(m, at, present)) && ...);
      return r;
    }(List{});
  }
  template <class C, class M>
  result<void> bind_child(M& m, const surface::emit_at& at, bool present) {
    if constexpr (requires { typename detail::slots_of<C>::type; } && !detail::is_module<C> && !detail::is_group<C> &&
                  requires { C::transparent; } && C::transparent) {
      return bind_transparent(static_cast<C*>(nullptr), m, at, present);
    } else {
      return bind<C>(m, at, present);
    }
  }
  template <class Cond, class... C, class M>
  result<void> bind_transparent(surface::when<Cond, C...>*, M& m, const surface::emit_at& at, bool present) {
    return bind_all<surface::type_list<C...>>(m, at, present && Cond::eval(config));
  }
  template <class Cond, class A, class B, class M>
  result<void> bind_transparent(surface::choice<Cond, A, B>*, M& m, const surface::emit_at& at, bool present) {
    const bool a = Cond::eval(config);
    if (auto r = bind_child<A>(m, at, present && a); !r) return r;
    return bind_child<B>(m, at, present && !a);
  }
};

}  // namespace famx::model
