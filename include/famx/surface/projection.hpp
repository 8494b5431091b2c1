#pragma once
// Projections: linear<Name, In, Out, Bias, Rule> (nn.Linear, weight [Out, In]),
// switch_linear<Name, E, In, Out> (stacked routed experts, weight [E, Out, In]),
// multi_linear<Name, Heads, In, Out> (per-head MLA weights [Heads, Out, In]) and
// embedding<Name, V, D>. In/Out are expressions over config fields (surface/expr.hpp).

#include <string>

#include "famx/surface/expr.hpp"
#include "famx/surface/module.hpp"

namespace famx::surface {

namespace detail {
template <class... E>
std::string dims_text() {
  std::string s = "[";
  bool first = true;
  ((s += (first ? "" : ", ") + E::text(), first = false), ...);
  return s + "]";
}
}  // namespace detail

// nn.Linear(In, Out, bias=Bias): weight [Out, In], bias [Out] when Bias holds for the config.
template <fixed_string Name, class In, class Out, class Bias = never,
          quant_rule Rule = quant_rule::affine_default>
struct linear : leaf<Name> {
  using in_dim = In;
  using out_dim = Out;
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const std::string m = at.child(Name.view());
    sink(tensor_entry{m + ".weight", m, {Out::eval(c), In::eval(c)}, detail::dims_text<Out, In>(),
                      module_kind::linear, Rule, dtype::bf16, true, 0, at.layer});
    if (Bias::eval(c))
      sink(tensor_entry{m + ".bias", m, {Out::eval(c)}, detail::dims_text<Out>(), module_kind::linear,
                        Rule, dtype::bf16, false, 0, at.layer});
  }
};

// SwitchLinear(In, Out, E) without bias: routed experts stacked on axis 0, weight [E, Out, In].
template <fixed_string Name, class E, class In, class Out>
struct switch_linear : leaf<Name> {
  using in_dim = In;
  using out_dim = Out;
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const std::string m = at.child(Name.view());
    sink(tensor_entry{m + ".weight", m, {E::eval(c), Out::eval(c), In::eval(c)},
                      detail::dims_text<E, Out, In>(), module_kind::switch_linear,
                      quant_rule::affine_default, dtype::bf16, true, E::eval(c), at.layer});
  }
};

// MultiLinear(In, Out, Heads): one [Out, In] matrix per head, weight [Heads, Out, In].
template <fixed_string Name, class Heads, class In, class Out>
struct multi_linear : leaf<Name> {
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const std::string m = at.child(Name.view());
    sink(tensor_entry{m + ".weight", m, {Heads::eval(c), Out::eval(c), In::eval(c)},
                      detail::dims_text<Heads, Out, In>(), module_kind::multi_linear,
                      quant_rule::affine_default, dtype::bf16, true, 0, at.layer});
  }
};

// nn.Embedding(V, D): weight [V, D]; quantized as QuantizedEmbedding.
template <fixed_string Name, class V, class D>
struct embedding : leaf<Name> {
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const std::string m = at.child(Name.view());
    sink(tensor_entry{m + ".weight", m, {V::eval(c), D::eval(c)}, detail::dims_text<V, D>(),
                      module_kind::embedding, quant_rule::affine_default, dtype::bf16, true, 0,
                      at.layer});
  }
};

}  // namespace famx::surface
