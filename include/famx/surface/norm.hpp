#pragma once
// Norms: rms_norm<Name, Dim> (nn.RMSNorm, weight [Dim]) and layer_norm<Name, Dim> (nn.LayerNorm,
// weight and bias [Dim]). Never quantized.

#include <string>

#include "famx/surface/projection.hpp"

namespace famx::surface {

// nn.RMSNorm(Dim): weight [Dim].
template <fixed_string Name, class Dim>
struct rms_norm : leaf<Name> {
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const std::string m = at.child(Name.view());
    sink(tensor_entry{m + ".weight", m, {Dim::eval(c)}, detail::dims_text<Dim>(), module_kind::rms_norm,
                      quant_rule::never, dtype::bf16, false, 0, at.layer});
  }
};

// nn.LayerNorm(Dim) with affine weight and bias [Dim] (the DeepSeek-V3.2 indexer's k_norm).
template <fixed_string Name, class Dim>
struct layer_norm : leaf<Name> {
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const std::string m = at.child(Name.view());
    for (const char* t : {".weight", ".bias"})
      sink(tensor_entry{m + t, m, {Dim::eval(c)}, detail::dims_text<Dim>(), module_kind::layer_norm,
                        quant_rule::never, dtype::bf16, false, 0, at.layer});
  }
};

}  // namespace famx::surface
