#pragma once
// famx::conforms_to<Family, Layers...>: an engine's decoder-layer types cover every layer kind of
// the family (each kind's required modules and attributes, surface::required_members, are exposed
// by at least one of the types: a Qwen3-MoE engine passes its MoE and its dense layer type, or one
// type holding both); famx::check_conforms<Family, Layers...>() fails to compile naming the first
// missing path (`self_attn.q_norm`, `mlp.gate`, `linear_attn.in_proj_qkvz`, ...).

#include "famx/families/family_traits.hpp"

namespace famx {

// Every layer kind of Family is covered by one of the engine's layer types.
template <class Family, class... Layers>
concept conforms_to = []<class... K>(surface::type_list<K...>) {
  return (surface::covered_by<K, Layers...> && ...);
}(typename families::family_traits<Family>::layers{});

// For static_assert: true when Layers conform to Family, else an error naming the missing path.
template <class Family, class... Layers>
constexpr bool check_conforms() {
  static_assert(sizeof...(Layers) > 0, "famx::check_conforms<Family, Layers...>: name at least one layer type");
  return surface::check_layers<typename families::family_traits<Family>::layers, Layers...>();
}

}  // namespace famx
