#pragma once
// The MoE families' routers and blocks as an engine calls them, configured from a family's typed
// config.json (family_traits<Family>::routing):
//   famx::moe::route<famx::families::deepseek_v3>(config, logits, bias, tokens)
//   famx::moe::moe_block<famx::families::qwen3_moe>(config, weights, x, tokens, out)
// The has_router<Family> concept rejects dense families at compile time. Includes
// <famx/moe/block.hpp>, hence the kernels (see <famx/kernels.hpp>).

#include <famx/moe/block.hpp>  // first: it includes <famx/kernels.hpp>

#include <cstddef>
#include <span>

#include "famx/families/family_traits.hpp"
#include "famx/moe/route.hpp"
#include "famx/moe/routing.hpp"

namespace famx::moe {

// Routes `tokens` tokens with Family's router configured from its config.json; `mask` chooses the
// group masking convention (see routing.hpp).
template <class Family>
  requires families::has_router<Family>
routing route(const typename families::family_traits<Family>::config& c, std::span<const float> logits,
              std::span<const float> bias, std::size_t tokens, const parallel& par = {},
              group_mask mask = group_mask::neg_inf) {
  routing_config rc = families::family_traits<Family>::routing(c);
  rc.group_mask = mask;
  return route(rc, logits, bias, tokens, par);
}

// Family's whole MoE block (router from its config.json) on x [tokens, hidden_size].
template <class Family>
  requires families::has_router<Family>
moe_stats moe_block(const typename families::family_traits<Family>::config& c, const moe_block_weights& w,
                    std::span<const float> x, std::size_t tokens, std::span<float> out, const moe_options& opt = {},
                    const parallel& par = {}) {
  return moe_block(families::family_traits<Family>::routing(c), w, x, tokens, out, opt, par);
}

}  // namespace famx::moe
