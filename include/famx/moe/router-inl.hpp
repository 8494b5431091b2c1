// Per-target MoE routers (softmax top-k; sigmoid + correction bias + group-limited top-k), batched
// over tokens. Re-included once per Highway target by <famx/kernels.hpp>: include that header.
// The contract (tie rule, non-finite logits) is in famx/moe/routing.hpp.
//
// Every target computes bitwise the same routing: exp is a Cephes-style polynomial made of
// separately rounded IEEE operations (never fused: NoContract stops the compiler from contracting
// a multiply and an add into an FMA), and the softmax denominator is a tree_sum.

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <algorithm>
#include <cstdint>

#include <hwy/aligned_allocator.h>

#include "famx/core/config.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/moe/routing.hpp"

#include <hwy/highway.h>

#if defined(FAMX_MOE_ROUTER_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_MOE_ROUTER_INL_H_
#undef FAMX_MOE_ROUTER_INL_H_
#else
#define FAMX_MOE_ROUTER_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Per-thread router scratch of at least n floats.
inline float* RouterScratch(std::size_t n) {
  static thread_local hwy::AlignedFreeUniquePtr<float[]> buf;
  static thread_local std::size_t size = 0;
  if (size < n) {
    buf = hwy::AllocateAligned<float>(n);
    size = n;
  }
  return buf.get();
}

// l[e] = logits[e] with NaN -> -FLT_MAX and +-inf -> +-FLT_MAX; returns whether any was replaced.
inline bool SanitizeLogits(const float* HWY_RESTRICT logits, std::size_t E, float* HWY_RESTRICT l) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  const auto lo = hn::Set(df, -FLT_MAX), hi = hn::Set(df, FLT_MAX);
  auto bad = hn::Zero(df);
  std::size_t e = 0;
  for (; e + N <= E; e += N) {
    const auto v = hn::LoadU(df, logits + e);
    const auto nan = hn::IsNaN(v);
    const auto clean = hn::IfThenElse(nan, lo, hn::Min(hn::Max(v, lo), hi));
    bad = hn::Or(bad, hn::VecFromMask(df, hn::Or(nan, hn::IsInf(v))));
    hn::StoreU(clean, df, l + e);
  }
  bool replaced = !hn::AllTrue(df, hn::Eq(bad, hn::Zero(df)));
  for (; e < E; ++e) {
    const float v = logits[e];
    const bool nan = std::isnan(v), inf = std::isinf(v);
    replaced |= nan || inf;
    l[e] = nan ? -FLT_MAX : (inf ? (v > 0 ? FLT_MAX : -FLT_MAX) : v);
  }
  return replaced;
}

// Index of the largest of v[0..n) (no NaN), the lowest index among equals.
inline std::size_t ArgMax(const float* HWY_RESTRICT v, std::size_t n) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  float m = -INFINITY;
  std::size_t i = 0;
  if (n >= N) {
    auto best = hn::LoadU(df, v);
    for (i = N; i + N <= n; i += N) best = hn::Max(best, hn::LoadU(df, v + i));
    m = hn::GetLane(hn::MaxOfLanes(df, best));
  }
  for (; i < n; ++i) m = v[i] > m ? v[i] : m;
  const auto mv = hn::Set(df, m);
  for (i = 0; i + N <= n; i += N) {
    const intptr_t f = hn::FindFirstTrue(df, hn::Eq(hn::LoadU(df, v + i), mv));
    if (f >= 0) return i + static_cast<std::size_t>(f);
  }
  for (; i < n; ++i)
    if (v[i] == m) return i;
  return 0;  // unreachable: m is one of the values
}

// Picks the k best of scores[0..E) (destroying them), highest first, lower index on ties.
inline void TopK(float* HWY_RESTRICT scores, std::size_t E, std::size_t k, std::int32_t* HWY_RESTRICT experts,
                 float* HWY_RESTRICT values) {
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t e = ArgMax(scores, E);
    experts[i] = static_cast<std::int32_t>(e);
    values[i] = scores[e];
    scores[e] = -INFINITY;  // below every sanitized score
  }
}

// v, opaque to the optimizer: a multiply before it is never fused with an add after it.
template <class V>
HWY_INLINE V NoContract(V v) {
#if (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL) && defined(__GNUC__)
  __asm__("" : "+v"(v.raw));
#endif
  return v;
}

// exp(x), Cephes expf (about 1 ulp) for x in [-87.3, 88]; x is clamped to that range.
template <class D>
HWY_INLINE hn::Vec<D> ExpExact(D d, hn::Vec<D> x) {
  const hn::RebindToSigned<D> di;
  x = hn::Min(hn::Max(x, hn::Set(d, -87.3365f)), hn::Set(d, 88.0f));
  const auto n = hn::Round(NoContract(hn::Mul(x, hn::Set(d, 1.44269504088896341f))));
  auto r = hn::Sub(x, NoContract(hn::Mul(n, hn::Set(d, 0.693359375f))));
  r = hn::Sub(r, NoContract(hn::Mul(n, hn::Set(d, -2.12194440e-4f))));
  const auto z = hn::Mul(r, r);
  auto p = hn::Set(d, 1.9875691500e-4f);
  p = hn::Add(NoContract(hn::Mul(p, r)), hn::Set(d, 1.3981999507e-3f));
  p = hn::Add(NoContract(hn::Mul(p, r)), hn::Set(d, 8.3334519073e-3f));
  p = hn::Add(NoContract(hn::Mul(p, r)), hn::Set(d, 4.1665795894e-2f));
  p = hn::Add(NoContract(hn::Mul(p, r)), hn::Set(d, 1.6666665459e-1f));
  p = hn::Add(NoContract(hn::Mul(p, r)), hn::Set(d, 5.0000001201e-1f));
  p = hn::Add(hn::Add(NoContract(hn::Mul(p, z)), r), hn::Set(d, 1.0f));
  const auto two_n = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127))));
  return hn::Mul(p, two_n);
}

// exp(x) of one value, the same operations as the vector code.
HWY_INLINE float Exp1(float x) {
  const hn::CappedTag<float, 1> d1;
  return hn::GetLane(ExpExact(d1, hn::Set(d1, x)));
}

// sigmoid(x) = 1 / (1 + exp(-x)).
template <class D>
HWY_INLINE hn::Vec<D> Sigmoid(D d, hn::Vec<D> x) {
  const auto one = hn::Set(d, 1.0f);
  return hn::Div(one, hn::Add(one, ExpExact(d, hn::Neg(x))));
}

// Renormalizes the k weights to sum 1 (summed in selection order).
inline void Normalize(float* HWY_RESTRICT w, std::size_t k) {
  float sum = 0;
  for (std::size_t i = 0; i < k; ++i) sum += w[i];
  for (std::size_t i = 0; i < k; ++i) w[i] /= sum;
}

// One token of a softmax router: l holds the sanitized logits (destroyed); ex is E-float scratch.
inline void RouteSoftmaxToken(const moe::routing_config& c, float* HWY_RESTRICT l, float* HWY_RESTRICT ex,
                              std::int32_t* HWY_RESTRICT experts, float* HWY_RESTRICT w) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), E = c.num_experts, k = c.num_experts_per_tok;
  const float m = l[ArgMax(l, E)];
  const auto mv = hn::Set(df, m);
  std::size_t e = 0;
  for (; e + N <= E; e += N) hn::StoreU(ExpExact(df, hn::Sub(hn::LoadU(df, l + e), mv)), df, ex + e);
  for (; e < E; ++e) ex[e] = Exp1(l[e] - m);
  const float inv = 1.0f / tree_sum(ex, E);  // MLX multiplies by the reciprocal
  TopK(l, E, k, experts, w);
  for (std::size_t i = 0; i < k; ++i) w[i] = Exp1(w[i] - m) * inv;
  if (c.norm_topk_prob) Normalize(w, k);
}

// One token of a sigmoid router: l holds the sanitized logits; s, sc are E-float scratch.
inline void RouteSigmoidToken(const moe::routing_config& c, const float* HWY_RESTRICT l, const float* HWY_RESTRICT bias,
                              float* HWY_RESTRICT s, float* HWY_RESTRICT sc, std::int32_t* HWY_RESTRICT experts,
                              float* HWY_RESTRICT w) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), E = c.num_experts, k = c.num_experts_per_tok;
  std::size_t e = 0;
  for (; e + N <= E; e += N) {
    const auto sv = Sigmoid(df, hn::LoadU(df, l + e));
    hn::StoreU(sv, df, s + e);
    hn::StoreU(bias ? hn::Add(sv, hn::LoadU(df, bias + e)) : sv, df, sc + e);
  }
  const hn::CappedTag<float, 1> d1;
  for (; e < E; ++e) {
    const auto sv = Sigmoid(d1, hn::LoadU(d1, l + e));
    hn::StoreU(sv, d1, s + e);
    hn::StoreU(bias ? hn::Add(sv, hn::LoadU(d1, bias + e)) : sv, d1, sc + e);
  }
  if (c.n_group > 1) {
    const std::size_t per = E / c.n_group;
    float gs[256];  // n_group <= 256 (checked by the caller)
    for (std::size_t g = 0; g < c.n_group; ++g) {
      const float* v = sc + g * per;
      const std::size_t i1 = ArgMax(v, per);
      float second = -INFINITY;
      for (std::size_t i = 0; i < per; ++i)
        if (i != i1 && v[i] > second) second = v[i];
      gs[g] = v[i1] + second;
    }
    bool keep[256] = {};
    for (std::size_t kept = 0; kept < c.topk_group; ++kept) {
      const std::size_t g = ArgMax(gs, c.n_group);
      keep[g] = true;
      gs[g] = -INFINITY;
    }
    const float dropped = c.group_mask == moe::group_mask::zero ? 0.0f : -INFINITY;
    for (std::size_t g = 0; g < c.n_group; ++g)
      if (!keep[g])
        for (std::size_t i = 0; i < per; ++i) sc[g * per + i] = dropped;
  }
  TopK(sc, E, k, experts, w);
  for (std::size_t i = 0; i < k; ++i) w[i] = s[experts[i]];
  if (k > 1 && c.norm_topk_prob) Normalize(w, k);
  for (std::size_t i = 0; i < k; ++i) w[i] *= c.routed_scaling_factor;
}

// Routes `tokens` rows of logits [tokens, E] into experts/weights [tokens, k] and flags.
inline void Route(const moe::routing_config& c, const float* logits, const float* bias, std::size_t tokens,
                  std::int32_t* experts, float* weights, std::uint8_t* non_finite, const parallel& par) {
  const std::size_t E = c.num_experts, k = c.num_experts_per_tok;
  const std::size_t per = workers_rows(tokens, par.workers);
  par.for_each((tokens + per - 1) / per, [&](std::size_t chunk) {
    float* l = RouterScratch(4 * E);
    for (std::size_t t = chunk * per; t < std::min(tokens, (chunk + 1) * per); ++t) {
      non_finite[t] = SanitizeLogits(logits + t * E, E, l) ? 1 : 0;
      if (c.scoring == moe::scoring::softmax) {
        RouteSoftmaxToken(c, l, l + E, experts + t * k, weights + t * k);
      } else {
        RouteSigmoidToken(c, l, bias, l + E, l + 2 * E, experts + t * k, weights + t * k);
      }
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_MOE_ROUTER_INL_H_
