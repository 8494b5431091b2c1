#pragma once
// Compile-time checks of an engine's own layer types against a layer surface. Every module the
// surface holds for every config (its leaves and submodules; `when<always, ...>` children; one of
// the two branches of a `choice`) and every attribute Exo's tensor-parallel strategy rewrites
// (tp_attributes) must be a member along the same dotted path: required_members<Layer>. Modules
// that exist only for some configs (biases, GLM's optional q_norm, DeepSeek's shared_experts) are
// not required. An engine whose names differ from mlx-lm's states its mapping once:
//
//   template <> struct famx::surface::engine_names<MyAttention> {
//     using map = famx::surface::type_list<famx::surface::as<"q_proj", &MyAttention::qkv_proj>,
//                                          famx::surface::as<"n_heads", &MyAttention::num_heads>>;
//   };
//
// check_layer<T, Layer>() fails to compile naming the first missing path: the error reads
// "missing_module<fixed_string<17>{"self_attn.k_proj"}>" (GCC prints the path verbatim).

#include <cstddef>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "famx/surface/layer.hpp"

namespace famx::surface {

// Member probe for an HF / mlx-lm attribute name; one specialization per name (FAMX_SURFACE_MEMBER).
template <fixed_string Name>
struct member {
  static_assert(Name.size() == 0, "famx: no member probe for this module name; add FAMX_SURFACE_MEMBER");
};

// Declares the member probe for attribute `id`: in<T> tells whether T has a member named id.
#define FAMX_SURFACE_MEMBER(id)                                                     \
  template <>                                                                       \
  struct member<#id> {                                                              \
    template <class T>                                                              \
    static constexpr bool in = requires(T& t) { t.id; };                            \
    template <class T>                                                              \
    using type = std::remove_cvref_t<decltype(std::declval<T&>().id)>;              \
  };

FAMX_SURFACE_MEMBER(self_attn)
FAMX_SURFACE_MEMBER(linear_attn)
FAMX_SURFACE_MEMBER(mlp)
FAMX_SURFACE_MEMBER(input_layernorm)
FAMX_SURFACE_MEMBER(post_attention_layernorm)
FAMX_SURFACE_MEMBER(q_proj)
FAMX_SURFACE_MEMBER(k_proj)
FAMX_SURFACE_MEMBER(v_proj)
FAMX_SURFACE_MEMBER(o_proj)
FAMX_SURFACE_MEMBER(q_norm)
FAMX_SURFACE_MEMBER(k_norm)
FAMX_SURFACE_MEMBER(q_a_proj)
FAMX_SURFACE_MEMBER(q_a_layernorm)
FAMX_SURFACE_MEMBER(q_b_proj)
FAMX_SURFACE_MEMBER(kv_a_proj_with_mqa)
FAMX_SURFACE_MEMBER(kv_a_layernorm)
FAMX_SURFACE_MEMBER(embed_q)
FAMX_SURFACE_MEMBER(unembed_out)
FAMX_SURFACE_MEMBER(indexer)
FAMX_SURFACE_MEMBER(wq_b)
FAMX_SURFACE_MEMBER(wk)
FAMX_SURFACE_MEMBER(weights_proj)
FAMX_SURFACE_MEMBER(n_heads)
FAMX_SURFACE_MEMBER(n_kv_heads)
FAMX_SURFACE_MEMBER(num_heads)
FAMX_SURFACE_MEMBER(num_attention_heads)
FAMX_SURFACE_MEMBER(num_key_value_heads)
FAMX_SURFACE_MEMBER(q_lora_rank)
FAMX_SURFACE_MEMBER(in_proj_qkvz)
FAMX_SURFACE_MEMBER(in_proj_ba)
FAMX_SURFACE_MEMBER(conv1d)
FAMX_SURFACE_MEMBER(out_proj)
FAMX_SURFACE_MEMBER(norm)
FAMX_SURFACE_MEMBER(A_log)
FAMX_SURFACE_MEMBER(dt_bias)
FAMX_SURFACE_MEMBER(num_k_heads)
FAMX_SURFACE_MEMBER(num_v_heads)
FAMX_SURFACE_MEMBER(gate)
FAMX_SURFACE_MEMBER(e_score_correction_bias)
FAMX_SURFACE_MEMBER(gate_proj)
FAMX_SURFACE_MEMBER(up_proj)
FAMX_SURFACE_MEMBER(down_proj)
FAMX_SURFACE_MEMBER(switch_mlp)
FAMX_SURFACE_MEMBER(shared_experts)
FAMX_SURFACE_MEMBER(shared_expert)
FAMX_SURFACE_MEMBER(shared_expert_gate)

// One entry of an engine's name map: surface name Name is the engine member Member (a pointer to
// member); several surface names may map to one fused member.
template <fixed_string Name, auto Member>
struct as {
  static constexpr auto name = Name;
  static constexpr auto member = Member;
};

// An engine type's name map (specialize it: `using map = type_list<as<...>, ...>`); none by default.
template <class T>
struct engine_names {
  using map = type_list<>;
};

// All of several requirements (one branch of a choice).
template <class... R>
struct all_of {
  static constexpr auto text = [] {
    return []<class F, class... Rest>(type_list<F, Rest...>) { return F::text; }(type_list<R...>{});
  }();
};

namespace detail {
// The `as` entry of List for Name (void when T does not map it).
template <class List, fixed_string Name>
struct mapped {
  using type = void;
};
template <class H, class... Rest, fixed_string Name>
struct mapped<type_list<H, Rest...>, Name> {
  using type = std::conditional_t<H::name == Name, H, typename mapped<type_list<Rest...>, Name>::type>;
};
template <class T, fixed_string Name>
using mapping = typename mapped<typename engine_names<T>::map, Name>::type;

// Whether T has the surface member Name (mapped or probed), and its type.
template <class T, fixed_string Name>
constexpr bool has_member() {
  if constexpr (!std::is_void_v<mapping<T, Name>>) return true;
  else return member<Name>::template in<T>;
}
template <class T, fixed_string Name>
struct member_type {
  using type = typename member<Name>::template type<T>;
};
template <class T, fixed_string Name>
  requires(!std::is_void_v<mapping<T, Name>>)
struct member_type<T, Name> {
  using type = std::remove_cvref_t<decltype(std::declval<T&>().*(mapping<T, Name>::member))>;
};

template <class T, fixed_string P0, fixed_string... Ps>
constexpr bool has_members() {
  if constexpr (!has_member<T, P0>()) return false;
  else if constexpr (sizeof...(Ps) == 0) return true;
  else return has_members<typename member_type<T, P0>::type, Ps...>();
}
}  // namespace detail

// Whether type T exposes requirement R (a path<...>, one_of<...> or all_of<...>) as nested members.
template <class T, class R>
struct exposes;
template <class T, fixed_string P0, fixed_string... Ps>
struct exposes<T, path<P0, Ps...>> : std::bool_constant<detail::has_members<T, P0, Ps...>()> {};
template <class T, class... R>
struct exposes<T, one_of<R...>> : std::bool_constant<(exposes<T, R>::value || ...)> {};
template <class T, class... R>
struct exposes<T, all_of<R...>> : std::bool_constant<(exposes<T, R>::value && ...)> {};

namespace detail {
// Requirement R under module Name.
template <fixed_string Name, class R>
struct prefix;
template <fixed_string Name, fixed_string... P>
struct prefix<Name, path<P...>> {
  using type = path<Name, P...>;
};
template <fixed_string Name, class... R>
struct prefix<Name, one_of<R...>> {
  using type = one_of<typename prefix<Name, R>::type...>;
};
template <fixed_string Name, class... R>
struct prefix<Name, all_of<R...>> {
  using type = all_of<typename prefix<Name, R>::type...>;
};
template <fixed_string Name, class List>
struct prefix_all;
template <fixed_string Name, class... R>
struct prefix_all<Name, type_list<R...>> {
  using type = type_list<typename prefix<Name, R>::type...>;
};

template <fixed_string N, class... C>
type_list<C...> module_children(const module<N, C...>*);
template <fixed_string N, class... C>
constexpr auto module_name(const module<N, C...>*) { return N; }
template <fixed_string N>
constexpr auto leaf_name(const leaf<N>*) { return N; }
template <class... C>
type_list<C...> group_children(const group<C...>*);

template <class Node>
struct requirements_of;

template <class List>
struct requirements_of_all;
template <class... C>
struct requirements_of_all<type_list<C...>> : concat<typename requirements_of<C>::type...> {};

template <class Node>
struct requirements_of {
  static constexpr auto kind = [] {
    if constexpr (requires { module_name(static_cast<const Node*>(nullptr)); }) return 0;  // a module
    else if constexpr (requires { leaf_name(static_cast<const Node*>(nullptr)); }) return 1;  // a leaf
    else if constexpr (requires { group_children(static_cast<const Node*>(nullptr)); }) return 2;  // a group
    else return 3;
  }();
  static_assert(kind != 3, "famx: a surface node of an unknown kind (see surface/module.hpp)");
  static auto make() {
    if constexpr (kind == 0) {
      constexpr auto n = module_name(static_cast<const Node*>(nullptr));
      using children = decltype(module_children(static_cast<const Node*>(nullptr)));
      return typename concat<type_list<path<n>>,
                             typename prefix_all<n, typename requirements_of_all<children>::type>::type>::type{};
    } else if constexpr (kind == 1) {
      constexpr auto n = leaf_name(static_cast<const Node*>(nullptr));
      if constexpr (n == fixed_string("weight")) return type_list<>{};  // a module's own tensor (MoEGate.weight)
      else return type_list<path<n>>{};
    } else {
      return typename requirements_of_all<decltype(group_children(static_cast<const Node*>(nullptr)))>::type{};
    }
  }
  using type = decltype(make());
};
// Children present for every config: `when<always, ...>` (GLM's when<flag> q_norm is optional).
template <class Cond, class... C>
struct requirements_of<when<Cond, C...>> {
  using type = std::conditional_t<std::is_same_v<Cond, always>, typename concat<typename requirements_of<C>::type...>::type,
                                  type_list<>>;
};
// One of the two branches, all of it.
template <class Cond, class A, class B>
struct requirements_of<choice<Cond, A, B>> {
  template <class L>
  struct all;
  template <class... R>
  struct all<type_list<R...>> {
    using type = all_of<R...>;
  };
  using type = type_list<one_of<typename all<typename requirements_of<A>::type>::type,
                                typename all<typename requirements_of<B>::type>::type>>;
};
}  // namespace detail

// Every module and attribute an engine layer type must expose for layer surface Layer, in order.
template <class Layer>
using required_members =
    typename detail::concat<typename detail::requirements_of<Layer>::type, typename Layer::tp_attributes>::type;

namespace detail {
template <class T, class List>
struct exposes_all;
template <class T, class... P>
struct exposes_all<T, type_list<P...>> : std::bool_constant<(exposes<T, P>::value && ...)> {};

// Index of the first requirement of List that T does not expose (List::size when none is missing).
template <class T, class List>
struct first_missing;
template <class T, class... P>
struct first_missing<T, type_list<P...>> {
  static constexpr std::size_t value = [] {
    std::size_t i = 0;
    (void)((exposes<T, P>::value ? (++i, true) : false) && ...);
    return i;
  }();
  static constexpr std::size_t count = (std::size_t{0} + ... + (exposes<T, P>::value ? 0 : 1));
};
// The index of the smallest of v (the first among equals).
constexpr std::size_t argmin(std::initializer_list<std::size_t> v) {
  std::size_t i = 0, best = 0;
  for (auto it = v.begin(); it != v.end(); ++it, ++i)
    if (*it < *(v.begin() + best)) best = i;
  return best;
}
}  // namespace detail

// T (an engine's layer type) exposes everything layer surface Layer requires.
template <class T, class Layer>
concept layer_conforms_to = detail::exposes_all<T, required_members<Layer>>::value;

// Instantiated only when a module is missing; the template argument is its dotted path.
template <fixed_string Missing>
struct missing_module {
  static_assert(Missing.size() == 0,
                "famx: the engine's layer type lacks a module or attribute of the family surface; "
                "its path is the argument of famx::surface::missing_module above");
  static constexpr bool value = true;
};

// True when T conforms to Layer; otherwise a compile error naming the first missing path.
template <class T, class Layer>
constexpr bool check_layer() {
  using list = required_members<Layer>;
  constexpr std::size_t i = detail::first_missing<T, list>::value;
  if constexpr (i < list::size) return !missing_module<detail::nth<i, list>::type::text>::value;
  else return true;
}

// Whether one of the engine types Ts covers layer surface Layer.
template <class Layer, class... Ts>
constexpr bool covered_by = (layer_conforms_to<Ts, Layer> || ...);

// True when every layer surface of Layers is covered by one of the engine types Ts; otherwise a
// compile error naming the first path missing from the engine type closest to the first uncovered kind.
template <class Layers, class... Ts>
constexpr bool check_layers() {
  return []<class... L>(type_list<L...>) {
    return ([]<class K>() {
      if constexpr (covered_by<K, Ts...>) {
        return true;
      } else {
        using list = required_members<K>;
        constexpr std::size_t best = detail::argmin({detail::first_missing<Ts, list>::count...});
        using T = typename detail::nth<best, type_list<Ts...>>::type;
        return check_layer<T, K>();
      }
    }.template operator()<L>() && ...);
  }(Layers{});
}

}  // namespace famx::surface
