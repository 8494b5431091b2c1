#pragma once
// Compile-time checks of an engine's own layer types against a surface: exposes<T, Path> (does T
// have the members along a path), layer_conforms_to<T, Layer> (T exposes every module and
// attribute Exo's tensor-parallel strategy touches in surface Layer), and check_layer<T, Layer>(),
// whose failure names the first missing module: the error reads
// "missing_module<fixed_string<17>{"self_attn.k_proj"}>" (GCC prints the path verbatim).

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
FAMX_SURFACE_MEMBER(q_proj)
FAMX_SURFACE_MEMBER(k_proj)
FAMX_SURFACE_MEMBER(v_proj)
FAMX_SURFACE_MEMBER(o_proj)
FAMX_SURFACE_MEMBER(q_b_proj)
FAMX_SURFACE_MEMBER(kv_b_proj)
FAMX_SURFACE_MEMBER(embed_q)
FAMX_SURFACE_MEMBER(unembed_out)
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
FAMX_SURFACE_MEMBER(A_log)
FAMX_SURFACE_MEMBER(dt_bias)
FAMX_SURFACE_MEMBER(num_k_heads)
FAMX_SURFACE_MEMBER(num_v_heads)
FAMX_SURFACE_MEMBER(gate_proj)
FAMX_SURFACE_MEMBER(up_proj)
FAMX_SURFACE_MEMBER(down_proj)
FAMX_SURFACE_MEMBER(switch_mlp)
FAMX_SURFACE_MEMBER(shared_experts)
FAMX_SURFACE_MEMBER(shared_expert)

namespace detail {
template <class T, fixed_string P0, fixed_string... Ps>
constexpr bool has_members() {
  if constexpr (!member<P0>::template in<T>) return false;
  else if constexpr (sizeof...(Ps) == 0) return true;
  else return has_members<typename member<P0>::template type<T>, Ps...>();
}
}  // namespace detail

// Whether type T exposes path P (a path<...> or a one_of<...>) as nested members.
template <class T, class P>
struct exposes;
template <class T, fixed_string P0, fixed_string... Ps>
struct exposes<T, path<P0, Ps...>> : std::bool_constant<detail::has_members<T, P0, Ps...>()> {};
template <class T, class... Paths>
struct exposes<T, one_of<Paths...>> : std::bool_constant<(exposes<T, Paths>::value || ...)> {};

namespace detail {
template <class T, class List>
struct exposes_all;
template <class T, class... P>
struct exposes_all<T, type_list<P...>> : std::bool_constant<(exposes<T, P>::value && ...)> {};

// Index of the first path of List that T does not expose (List::size when none is missing).
template <class T, class List>
struct first_missing;
template <class T, class... P>
struct first_missing<T, type_list<P...>> {
  static constexpr std::size_t value = [] {
    std::size_t i = 0;
    (void)((exposes<T, P>::value ? (++i, true) : false) && ...);
    return i;
  }();
};
}  // namespace detail

// Every module and attribute the strategy touches in layer surface Layer, in check order.
template <class Layer>
using required_members =
    typename detail::concat_lists<typename Layer::tp_touches, typename Layer::tp_attributes>::type;

// T (an engine's layer type) exposes everything Exo's tensor-parallel strategy needs of Layer.
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

}  // namespace famx::surface
