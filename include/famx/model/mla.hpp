#pragma once
// DeepSeek multi-head latent attention (spec 2.5) and the DeepSeek-V3.2 lightning indexer (2.6).
// The cache holds the normalized latent c_kv [kv_lora] and the rotated k_pe [rope] per position.
// Two forms that must agree (the score is scale * (q_nope . k_nope + q_pe . k_pe) either way):
//   naive:    k_nope = embed_q[h]^T latent and v = unembed_out[h] latent per key (kv_b_proj's rows);
//   absorbed: q' = embed_q[h] q_nope scores against the latent itself, and the attention output in
//             latent space goes through unembed_out[h] once per query (mlx-lm's decode path).
// The indexer, once more than index_topk keys are visible, restricts each query to the index_topk
// keys with the highest sum_h relu(q_h . k_j) * w_h (ties: the lower position).

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <optional>
#include <span>
#include <vector>

#include "famx/model/attention.hpp"

namespace famx::model {

// How MLA runs: with the query absorbed into the latent space, or with per-head keys and values.
enum class mla_form { absorbed, naive };

// self_attn.indexer (DeepSeek-V3.2).
struct indexer_weights {
  linear wq_b, wk, weights_proj;
  std::vector<float> k_norm_weight, k_norm_bias;  // LayerNorm(index_head_dim), eps 1e-5 (MLX default)
};

// self_attn of an MLA layer (mlx-lm names; embed_q / unembed_out one linear per head).
struct mla_weights {
  std::optional<linear> q_proj;        // when q_lora_rank is null
  std::optional<linear> q_a_proj, q_b_proj;
  std::vector<float> q_a_layernorm;
  linear kv_a_proj_with_mqa;
  std::vector<float> kv_a_layernorm;
  std::vector<linear> embed_q, unembed_out;  // [kv_lora, nope] and [v_head, kv_lora] per head, fp32 kept
  linear o_proj;
  std::optional<indexer_weights> indexer;
};

namespace detail {

// The positions among [0, n) query t may attend: all of them, or the indexer's top-k.
inline std::vector<std::size_t> indexer_select(const model_spec& s, const layer_cache& c,
                                               std::span<const float> iq, std::span<const float> iw, std::size_t n) {
  std::vector<std::size_t> keep(n);
  std::iota(keep.begin(), keep.end(), std::size_t{0});
  if (n <= s.index_topk) return keep;
  std::vector<double> score(n, 0.0);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t h = 0; h < s.index_heads; ++h) {
      double d = 0;
      for (std::size_t i = 0; i < s.index_dim; ++i) d += static_cast<double>(iq[h * s.index_dim + i]) * c.index_keys[j * s.index_dim + i];
      score[j] += std::max(d, 0.0) * iw[h];
    }
  std::ranges::stable_sort(keep, [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  keep.resize(s.index_topk);
  std::ranges::sort(keep);
  return keep;
}

}  // namespace detail

// out [L, hidden] = MLA(x [L, hidden]) at positions offset .. offset + L - 1; appends the latents,
// rotated k_pe (and indexer keys) to the cache.
inline void mla_attention(const model_spec& s, const mla_weights& w, mla_form form, layer_cache& c, std::size_t offset,
                          std::span<const float> x, std::size_t L, std::span<float> out) {
  const std::size_t H = s.heads, D = s.hidden, qd = s.nope + s.rope_dim, R = s.kv_lora, P = s.rope_dim;
  const bool indexed = w.indexer.has_value();
  std::vector<float> q(L * H * qd), kv(R + P), qa(s.q_lora);
  std::vector<float> iq(indexed ? L * s.index_heads * s.index_dim : 0), iw(indexed ? L * s.index_heads : 0), ik(s.index_dim);
  for (std::size_t t = 0; t < L; ++t) {
    const std::size_t pos = offset + t;
    const auto xt = x.subspan(t * D, D);
    const std::span<float> qt(q.data() + t * H * qd, H * qd);
    if (w.q_proj) {
      w.q_proj->apply(xt, qt);
    } else {
      w.q_a_proj->apply(xt, qa);
      rms_norm(qa, w.q_a_layernorm, 1e-6f);
      w.q_b_proj->apply(qa, qt);
    }
    for (std::size_t h = 0; h < H; ++h) s.rope.apply(qt.subspan(h * qd + s.nope, P), pos);
    w.kv_a_proj_with_mqa.apply(xt, kv);
    rms_norm({kv.data(), R}, w.kv_a_layernorm, 1e-6f);
    s.rope.apply({kv.data() + R, P}, pos);
    c.keys.insert(c.keys.end(), kv.begin(), kv.begin() + static_cast<std::ptrdiff_t>(R));
    c.values.insert(c.values.end(), kv.begin() + static_cast<std::ptrdiff_t>(R), kv.end());
    if (indexed) {
      const indexer_weights& ix = *w.indexer;
      const std::span<float> iqt(iq.data() + t * s.index_heads * s.index_dim, s.index_heads * s.index_dim);
      ix.wq_b.apply(qa, iqt);
      for (std::size_t h = 0; h < s.index_heads; ++h) s.index_rope.apply(iqt.subspan(h * s.index_dim, s.index_dim), pos);
      ix.wk.apply(xt, ik);
      layer_norm(ik, ix.k_norm_weight, ix.k_norm_bias, 1e-5f);
      s.index_rope.apply(ik, pos);
      c.index_keys.insert(c.index_keys.end(), ik.begin(), ik.end());
      const std::span<float> iwt(iw.data() + t * s.index_heads, s.index_heads);
      ix.weights_proj.apply(xt, iwt);
      const float f = 1.0f / std::sqrt(static_cast<float>(s.index_heads)) / std::sqrt(static_cast<float>(s.index_dim));
      for (float& e : iwt) e *= f;
    }
  }
  std::vector<float> o(H * s.v_dim), ql(R), ol(R), kn(s.nope), vh(s.v_dim);
  for (std::size_t t = 0; t < L; ++t) {
    const std::size_t n = offset + t + 1;
    const std::vector<std::size_t> keys =
        indexed ? detail::indexer_select(s, c, {iq.data() + t * s.index_heads * s.index_dim, s.index_heads * s.index_dim},
                                         {iw.data() + t * s.index_heads, s.index_heads}, n)
                : [&] { std::vector<std::size_t> a(n); std::iota(a.begin(), a.end(), std::size_t{0}); return a; }();
    for (std::size_t h = 0; h < H; ++h) {
      const float* qn = q.data() + (t * H + h) * qd;
      const float* qp = qn + s.nope;
      const linear& eq = w.embed_q[h];
      const linear& uo = w.unembed_out[h];
      std::vector<float> p(keys.size());
      if (form == mla_form::absorbed) eq.apply({qn, s.nope}, ql);
      for (std::size_t a = 0; a < keys.size(); ++a) {
        const std::size_t j = keys[a];
        const float* lat = c.keys.data() + j * R;
        double sc = 0;
        if (form == mla_form::absorbed) {
          for (std::size_t r = 0; r < R; ++r) sc += static_cast<double>(ql[r]) * lat[r];
        } else {
          // k_nope[i] = sum_r embed_q[h][r][i] * latent[r].
          std::fill(kn.begin(), kn.end(), 0.0f);
          for (std::size_t r = 0; r < R; ++r)
            for (std::size_t i = 0; i < s.nope; ++i) kn[i] += eq.dense[r * s.nope + i] * lat[r];
          for (std::size_t i = 0; i < s.nope; ++i) sc += static_cast<double>(qn[i]) * kn[i];
        }
        for (std::size_t i = 0; i < P; ++i) sc += static_cast<double>(qp[i]) * c.values[j * P + i];
        p[a] = static_cast<float>(sc) * s.scale;
      }
      softmax(p);
      const std::span<float> oh(o.data() + h * s.v_dim, s.v_dim);
      if (form == mla_form::absorbed) {
        std::fill(ol.begin(), ol.end(), 0.0f);
        for (std::size_t a = 0; a < keys.size(); ++a)
          for (std::size_t r = 0; r < R; ++r) ol[r] += p[a] * c.keys[keys[a] * R + r];
        uo.apply(ol, oh);
      } else {
        std::fill(oh.begin(), oh.end(), 0.0f);
        for (std::size_t a = 0; a < keys.size(); ++a) {
          uo.apply({c.keys.data() + keys[a] * R, R}, vh);
          for (std::size_t i = 0; i < s.v_dim; ++i) oh[i] += p[a] * vh[i];
        }
      }
    }
    w.o_proj.apply(o, out.subspan(t * D, D));
  }
}

}  // namespace famx::model
