#pragma once
// decoder_layer<Attention, Mlp>: one pre-norm decoder layer (input_layernorm, the attention kind,
// post_attention_layernorm, the MLP kind), the tensor-parallel touch list of both halves, and the
// compile-time self-check that every module the strategy touches exists in the layer.

#include <string>
#include <string_view>

#include "famx/surface/mlp.hpp"

namespace famx::surface {

namespace detail {
// Index of the first path of List that surface Node lacks (List::size when none).
template <class Node, class List>
struct first_absent;
template <class Node, class... P>
struct first_absent<Node, type_list<P...>> {
  static constexpr std::size_t value = [] {
    std::size_t i = 0;
    (void)((P::template in<Node> ? (++i, true) : false) && ...);
    return i;
  }();
};
template <std::size_t I, class List>
struct nth;
template <std::size_t I, class H, class... R>
struct nth<I, type_list<H, R...>> : nth<I - 1, type_list<R...>> {};
template <class H, class... R>
struct nth<0, type_list<H, R...>> {
  using type = H;
};
}  // namespace detail

// Instantiated only when a layer kind's touch list names a module its surface lacks; the template
// argument is that module's path.
template <fixed_string Missing>
struct strategy_module_missing {
  static_assert(Missing.size() == 0,
                "a module the tensor-parallel strategy touches is missing from the layer surface "
                "(its path is the argument of famx::surface::strategy_module_missing above)");
  static constexpr bool value = true;
};

// True when every path of List exists in surface Node; otherwise an error naming the first absent one.
template <class Node, class List>
constexpr bool check_touches() {
  constexpr std::size_t i = detail::first_absent<Node, List>::value;
  if constexpr (i < List::size) return !strategy_module_missing<detail::nth<i, List>::type::text>::value;
  else return true;
}

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
      typename detail::concat<typename Attention::tp_touches, typename Mlp::tp_touches>::type;
  // Attributes the strategy rewrites (head counts), which an engine's layer must expose.
  using tp_attributes = typename Attention::tp_attributes;

  static_assert(check_touches<group<Attention, Mlp>, tp_touches>());

  // Emits the tensors of layer i under "model.layers.i".
  template <class Cfg, class Sink>
  static void layer_tensors(const Cfg& c, int i, Sink& sink) {
    group<rms_norm<"input_layernorm", dims::hidden>, Attention,
          rms_norm<"post_attention_layernorm", dims::hidden>, Mlp>::tensors(
        c, emit_at{"model.layers." + std::to_string(i), i}, sink);
  }
};

// The model-level modules of a causal LM around the decoder layers: `model.embed_tokens`,
// `model.norm` and `lm_head` (absent when the family ties it to embed_tokens).
using embed_tokens = embedding<"embed_tokens", field<"vocab_size">, dims::hidden>;  // under "model"
using final_norm = rms_norm<"norm", dims::hidden>;                                  // under "model"
using lm_head = linear<"lm_head", dims::hidden, field<"vocab_size">>;               // at the root

}  // namespace famx::surface
