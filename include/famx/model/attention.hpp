#pragma once
// Full attention of the reference forward (spec 1.3, 2.1-2.4, 2.7, 2.8): grouped-query attention
// with a causal mask, optional biases and per-head q_norm / k_norm before RoPE, Ministral 3's
// Llama-4 query scale after RoPE, and Qwen3-Next's gated form (q_proj yields queries and an
// output gate per head; o_proj sees attn * sigmoid(gate)): attention_impl of gqa_attention and
// gated_attention.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "famx/families/family_traits.hpp"
#include "famx/model/cache.hpp"
#include "famx/model/forward_options.hpp"
#include "famx/model/kinds.hpp"
#include "famx/model/norm.hpp"
#include "famx/model/rope.hpp"
#include "famx/model/weights.hpp"

namespace famx::model {


// out = softmax(scale * q K^T) V over keys [0, n) of one head: q [d], keys/values rows of `stride`
// floats starting at column `col`, out [dv]. Every score is a sum over the head's dims in order and
// every output a sum over the keys in order, in fp64 (the products of two floats are exact there);
// blocks of keys, and the output dims, run as independent chains (the same sums, faster).
inline void attend(std::span<const float> q, std::span<const float> keys, std::span<const float> values,
                   std::size_t n, std::size_t stride, std::size_t col, std::size_t vstride, std::size_t vcol,
                   std::size_t dv, float scale, std::span<float> out) {
  constexpr std::size_t kBlock = 8;  // keys scored together
  std::vector<float> p(n);
  const std::size_t d = q.size();
  for (std::size_t j0 = 0; j0 < n; j0 += kBlock) {
    const std::size_t nb = std::min(kBlock, n - j0);
    double s[kBlock] = {};
    const float* k = keys.data() + j0 * stride + col;
    for (std::size_t i = 0; i < d; ++i) {
      const double qi = q[i];
      for (std::size_t b = 0; b < nb; ++b) s[b] += qi * k[b * stride + i];
    }
    for (std::size_t b = 0; b < nb; ++b) p[j0 + b] = static_cast<float>(s[b]) * scale;
  }
  softmax(p);
  std::vector<double> o(dv, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    const double pj = p[j];
    const float* v = values.data() + j * vstride + vcol;
    for (std::size_t i = 0; i < dv; ++i) o[i] += pj * v[i];
  }
  for (std::size_t i = 0; i < dv; ++i) out[i] = static_cast<float>(o[i]);
}

// Ministral 3's Llama-4 query scale at position pos: 1 + beta * ln(1 + floor(pos / orig)) (1 when beta is 0).
inline float llama4_scale(double beta, std::size_t orig, std::size_t pos) {
  if (beta == 0) return 1.0f;
  return static_cast<float>(1 + beta * std::log(1 + std::floor(static_cast<double>(pos) / static_cast<double>(orig))));
}

namespace detail {

// Grouped-query attention with a causal mask; Gated: Qwen3-Next's q_proj [queries | gate] per head;
// Windowed: each query sees the last sliding_window positions (itself included), as mlx-lm's
// windowed causal mask, and the cache keeps that many tokens (mlx-lm's RotatingKVCache).
template <bool Gated, bool Windowed = false>
struct gqa_impl {
  struct params {
    std::size_t heads = 0, kv_heads = 0, head_dim = 0, hidden = 0;  // num_attention_heads, ...
    float eps = 1e-6f;                                               // rms_norm_eps (q_norm, k_norm)
    famx::model::rope rope;
    float scale = 1;
    double query_beta = 0;  // the Llama-4 query scale
    std::size_t query_orig = 1;
    std::size_t window = 0;  // Windowed: sliding_window
  };

  template <class Cfg>
  static result<params> make(const Cfg& c, const families::attention_params& a) {
    auto r = make_rope(a.rope);
    if (!r) return r.err();
    std::size_t window = 0;
    if constexpr (Windowed) window = static_cast<std::size_t>(surface::field<"sliding_window">::eval(c));
    return params{static_cast<std::size_t>(surface::dims::heads::eval(c)),
                  static_cast<std::size_t>(surface::dims::kv_heads::eval(c)),
                  static_cast<std::size_t>(surface::dims::head_dim::eval(c)),
                  static_cast<std::size_t>(surface::dims::hidden::eval(c)),
                  static_cast<float>(surface::field_value<"rms_norm_eps">(c)),
                  std::move(*r),
                  static_cast<float>(a.scale),
                  a.query_scale_beta,
                  static_cast<std::size_t>(a.query_scale_orig),
                  window};
  }

  // One rank's heads and KV heads.
  static void localize(params& p, const head_share& r) {
    p.heads = r.heads;
    p.kv_heads = r.kv_heads;
  }

  // out [L, hidden] = self_attn(x [L, hidden]) for tokens at positions offset .. offset + L - 1;
  // appends their keys and values to the layer cache. The projections take the L tokens at once
  // and the (token, head) pairs run on opt.threads; a token's bits do not depend on either.
  template <class W>
  static void forward(const params& s, const W& w, const forward_options& opt, layer_cache& c, std::size_t offset,
                      std::span<const float> x, std::size_t L, std::span<float> out) {
    const linear& q_proj = get<"q_proj">(w).value;
    const std::vector<float>* q_norm = get<"q_norm">(w).present ? &get<"q_norm">(w).value : nullptr;
    const std::vector<float>* k_norm = get<"k_norm">(w).present ? &get<"k_norm">(w).value : nullptr;
    const std::size_t H = s.heads, KV = s.kv_heads, hd = s.head_dim, group = H / KV, qw = H * hd * (Gated ? 2 : 1);
    const std::size_t row = KV * hd;
    std::vector<float> q(L * H * hd), gate(Gated ? L * H * hd : 0), qg(L * qw), k(L * row), v(L * row);
    q_proj.apply(x, L, qg, opt);
    get<"k_proj">(w).value.apply(x, L, k, opt);
    get<"v_proj">(w).value.apply(x, L, v, opt);
    for (std::size_t t = 0; t < L; ++t) {
      const std::size_t pos = offset + t;
      for (std::size_t h = 0; h < H; ++h) {
        // Gated: each head's q_proj block is [queries (hd) | gate (hd)].
        const float* src = qg.data() + t * qw + h * hd * (Gated ? 2 : 1);
        std::span<float> qh(q.data() + (t * H + h) * hd, hd);
        std::copy(src, src + hd, qh.begin());
        if (Gated) std::copy(src + hd, src + 2 * hd, gate.begin() + static_cast<std::ptrdiff_t>((t * H + h) * hd));
        if (q_norm) rms_norm(qh, *q_norm, s.eps);
        s.rope.apply(qh, pos);
        const float l4 = llama4_scale(s.query_beta, s.query_orig, pos);
        for (float& e : qh) e *= l4;
      }
      for (std::size_t h = 0; h < KV; ++h) {
        std::span<float> kh(k.data() + t * row + h * hd, hd);
        if (k_norm) rms_norm(kh, *k_norm, s.eps);
        s.rope.apply(kh, pos);
      }
    }
    c.keys.insert(c.keys.end(), k.begin(), k.end());
    c.values.insert(c.values.end(), v.begin(), v.end());
    std::vector<float> o(L * H * hd);
    opt.threads.for_each(L * H, [&](std::size_t th) {
      const std::size_t t = th / H, h = th % H, pos = offset + t, kvh = h / group;
      // Causal: the cached keys up to pos (row r is position start + r); windowed: the last `window` of them.
      const std::size_t first = Windowed && pos + 1 > s.window ? std::max(c.start, pos + 1 - s.window) : c.start;
      const std::size_t n = pos + 1 - first;
      const std::span<const float> keys(c.keys.data() + (first - c.start) * row, n * row);
      const std::span<const float> values(c.values.data() + (first - c.start) * row, n * row);
      const std::span<float> oh(o.data() + th * hd, hd);
      attend({q.data() + th * hd, hd}, keys, values, n, row, kvh * hd, row, kvh * hd, hd, s.scale, oh);
      if (Gated)
        for (std::size_t i = 0; i < hd; ++i) oh[i] *= sigmoid(gate[th * hd + i]);
    });
    get<"o_proj">(w).value.apply(o, L, out, opt);
    if (Windowed && c.keys.size() / row > s.window) {  // keep the last `window` tokens
      const std::size_t drop = c.keys.size() / row - s.window;
      c.keys.erase(c.keys.begin(), c.keys.begin() + static_cast<std::ptrdiff_t>(drop * row));
      c.values.erase(c.values.begin(), c.values.begin() + static_cast<std::ptrdiff_t>(drop * row));
      c.start += drop;
    }
  }
};

}  // namespace detail

// Grouped-query attention (Llama, Qwen3, GLM-4 MoE, Ministral 3).
template <class QkvBias, class OBias, class QkNorm>
struct attention_impl<surface::gqa_attention<QkvBias, OBias, QkNorm>> : detail::gqa_impl<false> {};
// Grouped-query attention over a sliding window (Llama and Ministral 3 "sliding_attention" layers).
template <class QkvBias, class OBias, class QkNorm>
struct attention_impl<surface::sliding_attention<QkvBias, OBias, QkNorm>> : detail::gqa_impl<false, true> {};
// Qwen3-Next's gated full attention.
template <>
struct attention_impl<surface::gated_attention> : detail::gqa_impl<true> {};

}  // namespace famx::model
