#pragma once
// famx::conforms_to<Layer, Family>: an engine's decoder-layer type exposes every module and
// attribute the family's sharding strategy touches in its primary layer (the MoE layer of MoE
// families); famx::check_conforms<Layer, Family>() fails to compile naming the first missing
// path (`self_attn.k_proj`, `mlp.switch_mlp.gate_proj`, ...).

#include "famx/families/family_traits.hpp"

namespace famx {

// Layer exposes Family's primary layer surface (see surface::layer_conforms_to for one layer kind).
template <class Layer, class Family>
concept conforms_to =
    surface::layer_conforms_to<Layer, typename families::family_traits<Family>::primary_layer>;

// For static_assert: true when Layer conforms to Family, else an error naming the missing path.
template <class Layer, class Family>
constexpr bool check_conforms() {
  return surface::check_layer<Layer, typename families::family_traits<Family>::primary_layer>();
}

}  // namespace famx
