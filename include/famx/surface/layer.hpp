#pragma once
// decoder_layer<Attention, Mlp>: one pre-norm decoder layer (input_layernorm, the attention kind,
// post_attention_layernorm, the MLP kind), the tensor-parallel touch list of both halves, and the
// compile-time self-check that every module the strategy touches exists in the layer.

#include <string>
#include <string_view>

#include "famx/surface/mlp.hpp"

namespace famx::surface {

namespace detail {
template <class A, class B>
struct concat_lists;
template <class... A, class... B>
struct concat_lists<type_list<A...>, type_list<B...>> {
  using type = type_list<A..., B...>;
};
template <class Node, class List>
struct all_in;
template <class Node, class... P>
struct all_in<Node, type_list<P...>> {
  static constexpr bool value = (P::template in<Node> && ...);
};
}  // namespace detail

// A decoder layer: `h = x + attn(input_layernorm(x))`, `out = h + mlp(post_attention_layernorm(h))`.
template <class Attention, class Mlp>
struct decoder_layer
    : group<rms_norm<"input_layernorm", dims::hidden>, Attention,
            rms_norm<"post_attention_layernorm", dims::hidden>, Mlp> {
  using attention = Attention;
  using mlp = Mlp;
  // "full_attention/dense", "linear_attention/moe", "mla/moe", ...
  static std::string kind() { return std::string(Attention::kind) + "/" + std::string(Mlp::kind); }
  // Every module Exo's tensor-parallel strategy shards in this layer (attention, then MLP).
  using tp_touches =
      typename detail::concat_lists<typename Attention::tp_touches, typename Mlp::tp_touches>::type;
  // Attributes the strategy rewrites (head counts), which an engine's layer must expose.
  using tp_attributes = typename Attention::tp_attributes;

  static_assert(detail::all_in<group<Attention, Mlp>, tp_touches>::value,
                "a module the tensor-parallel strategy touches is missing from the layer surface");

  // Emits the tensors of layer i under "model.layers.i".
  template <class Cfg, class Sink>
  static void layer_tensors(const Cfg& c, int i, Sink& sink) {
    group<rms_norm<"input_layernorm", dims::hidden>, Attention,
          rms_norm<"post_attention_layernorm", dims::hidden>, Mlp>::tensors(
        c, emit_at{"model.layers." + std::to_string(i), i}, sink);
  }
};

}  // namespace famx::surface
