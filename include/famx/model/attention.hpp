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
#include "famx/quant/matmul.hpp"

namespace famx::model {


// An f32 view of `rows` rows of `cols` floats, `stride` floats apart, from `data`.
inline tensor_view rows_view(const float* data, std::size_t rows, std::size_t cols, std::size_t stride) {
  return {data, dtype::f32, shape{static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)},
          shape{static_cast<std::int64_t>(stride), 1}};
}

// out = softmax(scale * s) v for one query's raw scores s [n] (overwritten by the probabilities)
// and its values v [n, dv]: every output a sum over the keys in order, in fp64 (quant::exact_vecmat).
inline void attend_scores(std::span<float> s, float scale, const tensor_view& v, std::span<float> out) {
  for (float& e : s) e *= scale;
  softmax(s);
  quant::exact_vecmat(s, v, out);
}

// out = softmax(scale * q K^T) V over keys [0, n) of one head: q [d], keys/values rows of `stride`
// floats starting at column `col`, out [dv]. Every score is a sum over the head's dims in order and
// every output a sum over the keys in order, in fp64 (the products of two floats are exact there),
// rounded to f32 once: quant::exact_matmul_t and quant::exact_vecmat, the same bits on every target.
inline void attend(std::span<const float> q, std::span<const float> keys, std::span<const float> values,
                   std::size_t n, std::size_t stride, std::size_t col, std::size_t vstride, std::size_t vcol,
                   std::size_t dv, float scale, std::span<float> out) {
  std::vector<float> s(n);
  quant::exact_matmul_t(rows_view(q.data(), 1, q.size(), q.size()), rows_view(keys.data() + col, n, q.size(), stride), s);
  attend_scores(s, scale, rows_view(values.data() + vcol, n, dv, vstride), out);
}

// Ministral 3's Llama-4 query scale at position pos: 1 + beta * ln(1 + floor(pos / orig)) (1 when beta is 0).
inline float llama4_scale(double beta, std::size_t orig, std::size_t pos) {
  if (beta == 0) return 1.0f;
  return static_cast<float>(1 + beta * std::log(1 + std::floor(static_cast<double>(pos) / static_cast<double>(orig))));
}

namespace detail {

// Grouped-query attention with a causal mask; Gated: Qwen3-Next's q_proj [queries | gate] per head;
// Windowed: each query sees the last sliding_window positions (itself included), as mlx-lm's
// windowed causal mask, and the cache drops the older ones in blocks (see drop_unseen).
template <bool Gated, bool Windowed = false>
struct gqa_impl {
  static constexpr std::size_t kQueriesPerItem = 32;  // queries a work item scores at once (whole tokens)
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

  // Makes room for `rows` positions per kv head (kv heads of hd) in c's keys and values, keeping
  // the cached ones: the capacity at least doubles, in whole blocks of quant::block_rows rows.
  static void reserve(layer_cache& c, std::size_t kv, std::size_t hd, std::size_t rows) {
    if (rows <= c.capacity) return;
    constexpr std::size_t B = quant::block_rows;
    const std::size_t cap = std::max({(rows + B - 1) / B * B, 2 * c.capacity, 8 * B});
    std::vector<float> keys(kv * cap * hd), values(kv * cap * hd);
    for (std::size_t h = 0; h < kv; ++h) {  // a head's first blocks and rows keep their places
      std::copy_n(c.keys.data() + h * c.capacity * hd, c.capacity * hd, keys.data() + h * cap * hd);
      std::copy_n(c.values.data() + h * c.capacity * hd, c.capacity * hd, values.data() + h * cap * hd);
    }
    c.keys = std::move(keys);
    c.values = std::move(values);
    c.capacity = cap;
  }

  // Sliding window, positions [c.start, end) cached: drops the oldest whole blocks of rows that
  // no later query sees (those before the last `window`) once at least max(window, block_rows)
  // of them can go, so that decode moves the kept rows once per that many tokens. Between calls
  // the cache holds fewer than window + max(window, block_rows) + block_rows positions.
  static void drop_unseen(layer_cache& c, std::size_t kv, std::size_t hd, std::size_t end, std::size_t window) {
    constexpr std::size_t B = quant::block_rows;
    if (end <= c.start + window) return;
    const std::size_t dead = (end - window - c.start) / B * B;
    if (dead < std::max(window, B)) return;
    const std::size_t kept_blocks = (end - c.start + B - 1) / B - dead / B;
    for (std::size_t h = 0; h < kv; ++h) {
      float* keys = c.keys.data() + h * c.capacity * hd;
      std::copy(keys + dead * hd, keys + (dead + kept_blocks * B) * hd, keys);
      float* values = c.values.data() + h * c.capacity * hd;
      std::copy(values + dead * hd, values + (end - c.start) * hd, values);
    }
    c.start += dead;
  }

  // out [L, hidden] = self_attn(x [L, hidden]) for tokens at positions offset .. offset + L - 1;
  // appends their keys and values to the layer cache. The projections take the L tokens at once
  // and the (kv head, run of tokens) items run on opt.threads; a token's bits do not depend on either.
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
      const auto angles = s.rope.at(pos);
      for (std::size_t h = 0; h < H; ++h) {
        // Gated: each head's q_proj block is [queries (hd) | gate (hd)].
        const float* src = qg.data() + t * qw + h * hd * (Gated ? 2 : 1);
        std::span<float> qh(q.data() + (t * H + h) * hd, hd);
        std::copy(src, src + hd, qh.begin());
        if (Gated) std::copy(src + hd, src + 2 * hd, gate.begin() + static_cast<std::ptrdiff_t>((t * H + h) * hd));
        if (q_norm) rms_norm(qh, *q_norm, s.eps);
        s.rope.apply(qh, angles);
        const float l4 = llama4_scale(s.query_beta, s.query_orig, pos);
        for (float& e : qh) e *= l4;
      }
      for (std::size_t h = 0; h < KV; ++h) {
        std::span<float> kh(k.data() + t * row + h * hd, hd);
        if (k_norm) rms_norm(kh, *k_norm, s.eps);
        s.rope.apply(kh, angles);
      }
    }
    // The cache holds positions [c.start, offset) as rows; each kv head keeps its keys in
    // transposed blocks of quant::block_rows rows (the lanes of a decode step's scores) and its
    // values in rows, c.capacity rows each.
    constexpr std::size_t B = quant::block_rows;
    const std::size_t cached = offset - c.start;
    reserve(c, KV, hd, cached + L);
    const std::size_t head_floats = c.capacity * hd;  // one kv head's keys (or values)
    for (std::size_t t = 0; t < L; ++t) {
      const std::size_t r = cached + t;
      for (std::size_t h = 0; h < KV; ++h) {
        float* kb = c.keys.data() + h * head_floats + r / B * B * hd + r % B;
        for (std::size_t i = 0; i < hd; ++i) kb[i * B] = k[t * row + h * hd + i];
        std::copy_n(v.data() + t * row + h * hd, hd, c.values.data() + h * head_floats + r * hd);
      }
    }
    // A work item is one kv head and a run of tokens: its group's queries are scored against the
    // run's keys at once (quant::exact_matmul_t_blocks), then weight the values at once, each
    // query over the keys it sees (quant::exact_matmul_ranges).
    // Causal: the cached keys up to pos (row pos - c.start); windowed: the last `window` of them.
    const auto first_of = [&](std::size_t pos) {
      return Windowed && pos + 1 > s.window ? std::max(c.start, pos + 1 - s.window) : c.start;
    };
    const std::size_t run = std::max<std::size_t>(1, kQueriesPerItem / group), runs = (L + run - 1) / run;
    std::vector<float> o(L * H * hd);
    opt.threads.for_each(KV * runs, [&](std::size_t item) {
      const std::size_t kvh = item / runs, t0 = item % runs * run, t1 = std::min(L, t0 + run);
      const std::size_t lo = first_of(offset + t0), n = offset + t1 - lo, rows = (t1 - t0) * group;
      std::vector<float> qb(rows * hd), sc(rows * n);
      for (std::size_t t = t0; t < t1; ++t)
        std::copy_n(q.data() + (t * H + kvh * group) * hd, group * hd, qb.data() + (t - t0) * group * hd);
      const float* values = c.values.data() + kvh * head_floats;
      quant::exact_matmul_t_blocks(rows_view(qb.data(), rows, hd, hd), {c.keys.data() + kvh * head_floats, head_floats},
                                   lo - c.start, n, sc);
      std::vector<quant::row_range> ranges(rows);
      for (std::size_t r = 0; r < rows; ++r) {  // row r: token t0 + r / group, head kvh * group + r % group
        const std::size_t pos = offset + t0 + r / group;
        ranges[r] = {first_of(pos) - lo, pos + 1 - lo};
        const std::span<float> pr(sc.data() + r * n + ranges[r].begin, ranges[r].end - ranges[r].begin);
        for (float& e : pr) e *= s.scale;
        softmax(pr);
      }
      std::vector<float> ob(rows * hd);
      quant::exact_matmul_ranges(rows_view(sc.data(), rows, n, n), rows_view(values + (lo - c.start) * hd, n, hd, hd),
                                 ranges, ob);
      for (std::size_t t = t0; t < t1; ++t) {
        float* oh = o.data() + (t * H + kvh * group) * hd;
        std::copy_n(ob.data() + (t - t0) * group * hd, group * hd, oh);
        if (Gated)
          for (std::size_t i = 0; i < group * hd; ++i) oh[i] *= sigmoid(gate[(t * H + kvh * group) * hd + i]);
      }
    });
    get<"o_proj">(w).value.apply(o, L, out, opt);
    if constexpr (Windowed) drop_unseen(c, KV, hd, offset + L, s.window);
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
