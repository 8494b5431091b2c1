#pragma once
// How forward() runs: options that change the order of the arithmetic (not the model).

namespace famx::model {

// How MLA runs: with the query absorbed into the latent space, or with per-head keys and values.
enum class mla_form { absorbed, naive };

// How forward() runs.
struct forward_options {
  mla_form mla = mla_form::absorbed;
};

}  // namespace famx::model
