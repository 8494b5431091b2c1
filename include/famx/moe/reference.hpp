#pragma once
// fp64 scalar reference routers: the published routing math (spec section 3) in double precision,
// with famx's tie rule and non-finite handling (see routing.hpp). Ground truth for the SIMD routers.

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <vector>

#include "famx/moe/routing.hpp"

namespace famx::moe {

namespace detail {

// The k indices of the largest values, highest first, equal values by lower index.
inline std::vector<std::size_t> top_k_indices(std::span<const double> v, std::size_t k) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] > v[b]; });
  idx.resize(k);
  return idx;
}

// NaN -> -FLT_MAX, +-inf -> +-FLT_MAX; returns whether anything was replaced.
inline bool sanitize(std::span<double> l) {
  bool replaced = false;
  for (double& x : l) {
    if (std::isnan(x)) x = -FLT_MAX, replaced = true;
    else if (std::isinf(x)) x = x > 0 ? FLT_MAX : -FLT_MAX, replaced = true;
  }
  return replaced;
}

}  // namespace detail

// Routes T tokens of logits [T, E]; bias [E] (e_score_correction_bias) for sigmoid routers, or empty.
inline routing reference_route(const routing_config& c, std::span<const float> logits, std::span<const float> bias,
                               std::size_t tokens) {
  const std::size_t E = c.num_experts, k = c.num_experts_per_tok;
  routing out(tokens, k);
  std::vector<double> l(E), s(E), sc(E);
  for (std::size_t t = 0; t < tokens; ++t) {
    for (std::size_t e = 0; e < E; ++e) l[e] = logits[t * E + e];
    out.non_finite[t] = detail::sanitize(l);
    out.non_finite_tokens += out.non_finite[t];
    std::vector<double> w(k);
    std::vector<std::size_t> sel;
    if (c.scoring == scoring::softmax) {
      sel = detail::top_k_indices(l, k);
      const double m = l[sel[0]];
      double sum = 0;
      for (double x : l) sum += std::exp(x - m);
      for (std::size_t i = 0; i < k; ++i) w[i] = std::exp(l[sel[i]] - m) / sum;
      if (c.norm_topk_prob) {
        const double ws = std::accumulate(w.begin(), w.end(), 0.0);
        for (double& x : w) x /= ws;
      }
    } else {
      for (std::size_t e = 0; e < E; ++e) {
        s[e] = 1.0 / (1.0 + std::exp(-l[e]));
        sc[e] = s[e] + (bias.empty() ? 0.0 : static_cast<double>(bias[e]));
      }
      if (c.n_group > 1) {
        const std::size_t per = E / c.n_group;
        std::vector<double> gscore(c.n_group);
        for (std::size_t g = 0; g < c.n_group; ++g) {
          const auto top2 = detail::top_k_indices(std::span<const double>(sc).subspan(g * per, per), 2);
          gscore[g] = sc[g * per + top2[0]] + sc[g * per + top2[1]];
        }
        const auto keep = detail::top_k_indices(gscore, c.topk_group);
        for (std::size_t g = 0; g < c.n_group; ++g) {
          if (std::find(keep.begin(), keep.end(), g) != keep.end()) continue;
          for (std::size_t e = g * per; e < (g + 1) * per; ++e)
            sc[e] = c.group_mask == group_mask::zero ? 0.0 : -INFINITY;
        }
      }
      sel = detail::top_k_indices(sc, k);
      for (std::size_t i = 0; i < k; ++i) w[i] = s[sel[i]];
      if (k > 1 && c.norm_topk_prob) {
        const double ws = std::accumulate(w.begin(), w.end(), 0.0);
        for (double& x : w) x /= ws;
      }
      for (double& x : w) x *= c.routed_scaling_factor;
    }
    for (std::size_t i = 0; i < k; ++i) {
      out.experts[t * k + i] = static_cast<std::int32_t>(sel[i]);
      out.weights[t * k + i] = static_cast<float>(w[i]);
    }
  }
  return out;
}

}  // namespace famx::moe
