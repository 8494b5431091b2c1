#pragma once
// How forward() runs: options that choose the arithmetic and the threads (not the model).

#include "famx/core/parallel.hpp"

namespace famx::model {

// How MLA runs: with the query absorbed into the latent space, or with per-head keys and values.
enum class mla_form { absorbed, naive };

// How forward() runs. A token's logits depend on these (mla, int8_activations) but never on how many
// tokens one call takes (a prompt in one call, in chunks or token by token) nor on `threads`.
struct forward_options {
  mla_form mla = mla_form::absorbed;
  bool int8_activations = false;  // quantized projections and experts use qmv_int8 / qmm_int8 arithmetic
  famx::parallel threads{};       // rows of projections, attention heads and experts run on it
};

}  // namespace famx::model
