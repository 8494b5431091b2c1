#pragma once
// Full attention of the reference forward (spec 1.3, 2.1-2.4, 2.7, 2.8): grouped-query attention
// with a causal mask, optional biases and per-head q_norm / k_norm before RoPE, Ministral 3's
// Llama-4 query scale after RoPE, and Qwen3-Next's gated form (q_proj yields queries and an
// output gate per head; o_proj sees attn * sigmoid(gate)).

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "famx/model/cache.hpp"
#include "famx/model/linear.hpp"
#include "famx/model/norm.hpp"
#include "famx/model/spec.hpp"

namespace famx::model {

// self_attn of a gqa or gated layer.
struct gqa_weights {
  linear q_proj, k_proj, v_proj, o_proj;
  std::vector<float> q_norm, k_norm;  // empty without q/k norm
};

// out = softmax(scale * q K^T) V over keys [0, n) of one head: q [d], keys/values rows of `stride`
// floats starting at column `col`, out [dv].
inline void attend(std::span<const float> q, const std::vector<float>& keys, const std::vector<float>& values,
                   std::size_t n, std::size_t stride, std::size_t col, std::size_t vstride, std::size_t vcol,
                   std::size_t dv, float scale, std::span<float> out) {
  std::vector<float> p(n);
  for (std::size_t j = 0; j < n; ++j) {
    double s = 0;
    for (std::size_t i = 0; i < q.size(); ++i) s += static_cast<double>(q[i]) * keys[j * stride + col + i];
    p[j] = static_cast<float>(s) * scale;
  }
  softmax(p);
  for (std::size_t i = 0; i < dv; ++i) {
    double o = 0;
    for (std::size_t j = 0; j < n; ++j) o += static_cast<double>(p[j]) * values[j * vstride + vcol + i];
    out[i] = static_cast<float>(o);
  }
}

// Ministral 3's Llama-4 query scale at position pos (1 when beta is 0).
inline float llama4_scale(const model_spec& s, std::size_t pos) {
  if (s.llama4_beta == 0) return 1.0f;
  return static_cast<float>(1 + s.llama4_beta * std::log(1 + std::floor(static_cast<double>(pos) / static_cast<double>(s.llama4_orig))));
}

// out [L, hidden] = self_attn(x [L, hidden]) for tokens at positions c.offset .. c.offset + L - 1;
// appends their keys and values to the layer cache.
inline void gqa_attention(const model_spec& s, const gqa_weights& w, bool gated, layer_cache& c, std::size_t offset,
                          std::span<const float> x, std::size_t L, std::span<float> out) {
  const std::size_t H = s.heads, KV = s.kv_heads, hd = s.head_dim, D = s.hidden, group = H / KV;
  std::vector<float> q(L * H * hd), gate(gated ? L * H * hd : 0), qg(H * hd * (gated ? 2 : 1)), k(KV * hd), v(KV * hd);
  for (std::size_t t = 0; t < L; ++t) {
    const std::size_t pos = offset + t;
    const auto xt = x.subspan(t * D, D);
    w.q_proj.apply(xt, qg);
    for (std::size_t h = 0; h < H; ++h) {
      // Gated: each head's q_proj block is [queries (hd) | gate (hd)].
      const float* src = qg.data() + h * hd * (gated ? 2 : 1);
      std::span<float> qh(q.data() + (t * H + h) * hd, hd);
      std::copy(src, src + hd, qh.begin());
      if (gated) std::copy(src + hd, src + 2 * hd, gate.begin() + static_cast<std::ptrdiff_t>((t * H + h) * hd));
      if (!w.q_norm.empty()) rms_norm(qh, w.q_norm, s.eps);
      s.rope.apply(qh, pos);
      const float l4 = llama4_scale(s, pos);
      for (float& e : qh) e *= l4;
    }
    w.k_proj.apply(xt, k);
    w.v_proj.apply(xt, v);
    for (std::size_t h = 0; h < KV; ++h) {
      std::span<float> kh(k.data() + h * hd, hd);
      if (!w.k_norm.empty()) rms_norm(kh, w.k_norm, s.eps);
      s.rope.apply(kh, pos);
    }
    c.keys.insert(c.keys.end(), k.begin(), k.end());
    c.values.insert(c.values.end(), v.begin(), v.end());
  }
  std::vector<float> o(H * hd);
  for (std::size_t t = 0; t < L; ++t) {
    const std::size_t n = offset + t + 1;  // causal: keys 0 .. pos
    for (std::size_t h = 0; h < H; ++h) {
      const std::size_t kvh = h / group;
      attend({q.data() + (t * H + h) * hd, hd}, c.keys, c.values, n, KV * hd, kvh * hd, KV * hd, kvh * hd, hd, s.scale,
             {o.data() + h * hd, hd});
    }
    if (gated)
      for (std::size_t i = 0; i < H * hd; ++i) o[i] *= sigmoid(gate[t * H * hd + i]);
    w.o_proj.apply(o, out.subspan(t * D, D));
  }
}

}  // namespace famx::model
