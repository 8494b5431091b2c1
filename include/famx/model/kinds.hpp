#pragma once
// The forward of each module kind, chosen by its surface type: attention_impl<Attention> for the
// attention kinds (surface/attention.hpp) and mlp_impl<Mlp> for the MLP kinds (surface/mlp.hpp).
// Each implementation states
//   params                     what it needs of the config, built by make(config, attention_params)
//   forward(params, weights, cache, offset, x, L, out)   out [L, hidden] for x [L, hidden]
//   localize(params, head_share)  (attention kinds) the params of one rank's share of the heads
// with `weights` the module's surface-bound weights (model/weights.hpp). A kind without an
// implementation is a compile error naming it (unknown_attention_kind / unknown_mlp_kind), never a
// silent fallback.

#include <cstddef>
#include <type_traits>

namespace famx::model {

// The heads one rank of a split model computes (shard::rank_plan's counts); an attention kind whose
// heads can be split states localize(params&, const head_share&).
struct head_share {
  std::size_t heads = 0, kv_heads = 0, linear_key_heads = 0, linear_value_heads = 0;
};

// Instantiated for an attention kind famx has no forward for; the template argument names it.
template <class Attention>
struct unknown_attention_kind {
  static_assert(!std::is_same_v<Attention, Attention>,
                "famx::model: no forward for this attention kind (specialize famx::model::attention_impl)");
  static constexpr bool value = false;
};
// Instantiated for an MLP kind famx has no forward for; the template argument names it.
template <class Mlp>
struct unknown_mlp_kind {
  static_assert(!std::is_same_v<Mlp, Mlp>, "famx::model: no forward for this MLP kind (specialize famx::model::mlp_impl)");
  static constexpr bool value = false;
};

// The forward of attention kind Attention.
template <class Attention>
struct attention_impl {
  static_assert(unknown_attention_kind<Attention>::value);
};
// The forward of MLP kind Mlp.
template <class Mlp>
struct mlp_impl {
  static_assert(unknown_mlp_kind<Mlp>::value);
};

}  // namespace famx::model
