#pragma once
// Raw arrays held by a module (never quantized): parameter<Name, DType, Dims...> (A_log, dt_bias,
// MoEGate.weight, e_score_correction_bias) and conv1d<Name, Channels, Kernel> (depthwise
// nn.Conv1d, weight [C, K, 1]).

#include <string>

#include "famx/surface/projection.hpp"

namespace famx::surface {

// A raw mx.array attribute Name of its parent module, stored in DType.
template <fixed_string Name, dtype DType, class... Dims>
struct parameter : leaf<Name> {
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    sink(tensor_entry{at.child(Name.view()), at.prefix, {Dims::eval(c)...}, detail::dims_text<Dims...>(),
                      module_kind::parameter, quant_rule::never, DType, false, 0, at.layer});
  }
};

// Depthwise nn.Conv1d(C, C, K, groups=C, bias=False): weight [C, K, 1] (MLX channel-last layout).
template <fixed_string Name, class Channels, class Kernel>
struct conv1d : leaf<Name> {
  template <class Cfg, class Sink>
  static void tensors(const Cfg& c, const emit_at& at, Sink& sink) {
    const std::string m = at.child(Name.view());
    sink(tensor_entry{m + ".weight", m, {Channels::eval(c), Kernel::eval(c), 1},
                      detail::dims_text<Channels, Kernel, lit<1>>(), module_kind::conv1d,
                      quant_rule::never, dtype::bf16, false, 0, at.layer});
  }
};

}  // namespace famx::surface
