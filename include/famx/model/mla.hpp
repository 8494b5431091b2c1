#pragma once
// DeepSeek multi-head latent attention (spec 2.5) and the DeepSeek-V3.2 lightning indexer (2.6).
// The cache holds one row per position: the normalized latent c_kv [kv_lora], then the rotated
// k_pe [rope]. Two forms that must agree (the score is scale * (q_nope . k_nope + q_pe . k_pe)):
//   naive:    k_nope = embed_q[h]^T latent and v = unembed_out[h] latent per key (kv_b_proj's rows);
//   absorbed: q' = embed_q[h] q_nope scores against the latent itself, and the attention output in
//             latent space goes through unembed_out[h] once per query (mlx-lm's decode path). The
//             row [q' | q_pe] of every head of a block scores against the cache rows at once
//             (quant::exact_matmul_t: one fp64 chain over the row's columns in order per score).
// Either form weights its values by the probabilities in one fp64 sum over the keys in order per
// output (quant::exact_matmul over a block's heads absorbed, quant::exact_vecmat per head naive),
// as gqa attention does.
// The indexer, once more than index_topk keys are visible, restricts each query to the index_topk
// keys with the highest sum_h relu(q_h . k_j) * w_h (ties: the lower position). attention_impl of
// surface::mla_attention (the indexer when its Extra is surface::dsa_indexer).

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <optional>
#include <span>
#include <vector>

#include "famx/model/attention.hpp"
#include "famx/model/forward_options.hpp"

namespace famx::model {

namespace detail {

// The indexer's sizes: index_n_heads, index_head_dim, index_topk (0: no indexer).
struct indexer_params {
  std::size_t index_heads = 0, index_dim = 0, index_topk = 0;
};

// The positions among [0, n) query t may attend: all of them, or the indexer's top-k.
inline std::vector<std::size_t> indexer_select(const indexer_params& s, const layer_cache& c,
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

// Multi-head latent attention (DeepSeek-V3, V3.2 with the indexer).
template <class... Extra>
struct attention_impl<surface::mla_attention<Extra...>> {
  static constexpr std::size_t kHeadsPerItem = 32;  // heads a work item scores at once (one token's)
  struct params : detail::indexer_params {
    std::size_t heads = 0, hidden = 0, q_lora = 0, kv_lora = 0, nope = 0, rope_dim = 0, v_dim = 0;  // q_lora 0: q_proj
    famx::model::rope rope, index_rope;
    float scale = 1;
  };

  template <class Cfg>
  static result<params> make(const Cfg& c, const families::attention_params& a) {
    params p;
    p.heads = static_cast<std::size_t>(surface::dims::heads::eval(c));
    p.hidden = static_cast<std::size_t>(surface::dims::hidden::eval(c));
    p.q_lora = surface::is_null<"q_lora_rank">::eval(c) ? 0 : static_cast<std::size_t>(surface::dims::q_lora::eval(c));
    p.kv_lora = static_cast<std::size_t>(surface::dims::kv_lora::eval(c));
    p.nope = static_cast<std::size_t>(surface::dims::qk_nope::eval(c));
    p.rope_dim = static_cast<std::size_t>(surface::dims::qk_rope::eval(c));
    p.v_dim = static_cast<std::size_t>(surface::dims::v_head::eval(c));
    p.scale = static_cast<float>(a.scale);
    auto r = make_rope(a.rope);
    if (!r) return r.err();
    p.rope = std::move(*r);
    if constexpr ((std::is_same_v<Extra, surface::dsa_indexer> || ...)) {
      p.index_heads = static_cast<std::size_t>(surface::field<"index_n_heads">::eval(c));
      p.index_dim = static_cast<std::size_t>(surface::field<"index_head_dim">::eval(c));
      p.index_topk = static_cast<std::size_t>(surface::field<"index_topk">::eval(c));
      auto ir = make_rope(a.index_rope.value_or(a.rope));
      if (!ir) return ir.err();
      p.index_rope = std::move(*ir);
    }
    return p;
  }

  // One rank's heads (the latent path and the V3.2 indexer stay whole).
  static void localize(params& p, const head_share& r) { p.heads = r.heads; }

  // Keeps embed_q in fp32 too (the naive form expands keys from it).
  template <class W>
  static void prepare(W& w) {
    for (linear& l : get<"embed_q">(w).value)
      if (l.dense.empty()) {
        const tensor d = quant::dequantize(*l.quantized, dtype::f32);
        l.dense.assign(d.as<float>().begin(), d.as<float>().end());
      }
  }

  // out [L, hidden] = MLA(x [L, hidden]) at positions offset .. offset + L - 1; appends the latents,
  // rotated k_pe (and indexer keys) to the cache. The projections take the L tokens at once and the
  // (token, head) pairs run on opt.threads; a token's bits do not depend on either.
  template <class W>
  static void forward(const params& s, const W& w, const forward_options& opt, layer_cache& c, std::size_t offset,
                      std::span<const float> x, std::size_t L, std::span<float> out) {
    const std::size_t H = s.heads, qd = s.nope + s.rope_dim, R = s.kv_lora, P = s.rope_dim;
    constexpr bool has_indexer = has_slot<W, "indexer">;
    const bool indexed = has_indexer && s.index_topk > 0;
    const auto& q_proj = get<"q_proj">(w);
    const std::vector<float>& kv_norm = get<"kv_a_layernorm">(w).value;
    std::vector<float> q(L * H * qd), kv(L * (R + P)), qa(L * s.q_lora);
    if (q_proj.present) {
      q_proj.value.apply(x, L, q, opt);
    } else {
      get<"q_a_proj">(w).value.apply(x, L, qa, opt);
      for (std::size_t t = 0; t < L; ++t) rms_norm({qa.data() + t * s.q_lora, s.q_lora}, get<"q_a_layernorm">(w).value, 1e-6f);
      get<"q_b_proj">(w).value.apply(qa, L, q, opt);
    }
    get<"kv_a_proj_with_mqa">(w).value.apply(x, L, kv, opt);
    for (std::size_t t = 0; t < L; ++t) {
      const auto angles = s.rope.at(offset + t);
      for (std::size_t h = 0; h < H; ++h) s.rope.apply({q.data() + (t * H + h) * qd + s.nope, P}, angles);
      const auto kvt = kv.begin() + static_cast<std::ptrdiff_t>(t * (R + P));
      rms_norm({&*kvt, R}, kv_norm, 1e-6f);
      s.rope.apply({&*kvt + R, P}, angles);
      c.keys.insert(c.keys.end(), kvt, kvt + static_cast<std::ptrdiff_t>(R + P));
    }
    std::vector<float> iq(indexed ? L * s.index_heads * s.index_dim : 0), iw(indexed ? L * s.index_heads : 0);
    if constexpr (has_indexer) {
      if (indexed) {
        const auto& ix = get<"indexer">(w).value;
        std::vector<float> ik(L * s.index_dim);
        get<"wq_b">(ix).value.apply(qa, L, iq, opt);
        get<"wk">(ix).value.apply(x, L, ik, opt);
        get<"weights_proj">(ix).value.apply(x, L, iw, opt);
        const affine_norm& kn = get<"k_norm">(ix).value;
        const float f = 1.0f / std::sqrt(static_cast<float>(s.index_heads)) / std::sqrt(static_cast<float>(s.index_dim));
        for (std::size_t t = 0; t < L; ++t) {
          const auto angles = s.index_rope.at(offset + t);
          for (std::size_t h = 0; h < s.index_heads; ++h)
            s.index_rope.apply({iq.data() + (t * s.index_heads + h) * s.index_dim, s.index_dim}, angles);
          const std::span<float> ikt(ik.data() + t * s.index_dim, s.index_dim);
          layer_norm(ikt, kn.weight, kn.bias, 1e-5f);
          s.index_rope.apply(ikt, angles);
          for (float& e : std::span(iw).subspan(t * s.index_heads, s.index_heads)) e *= f;
        }
        c.index_keys.insert(c.index_keys.end(), ik.begin(), ik.end());
      }
    }
    // The keys each token attends to: all positions up to its own, or the indexer's choice.
    std::vector<std::vector<std::size_t>> keys_of(L);
    for (std::size_t t = 0; t < L; ++t) {
      const std::size_t n = offset + t + 1;
      if (indexed) {
        keys_of[t] = detail::indexer_select(s, c, {iq.data() + t * s.index_heads * s.index_dim, s.index_heads * s.index_dim},
                                            {iw.data() + t * s.index_heads, s.index_heads}, n);
      } else {
        keys_of[t].resize(n);
        std::iota(keys_of[t].begin(), keys_of[t].end(), std::size_t{0});
      }
    }
    const std::vector<linear>& embed_q = get<"embed_q">(w).value;
    const std::vector<linear>& unembed_out = get<"unembed_out">(w).value;
    std::vector<float> o(L * H * s.v_dim);
    const bool absorbed = opt.mla == mla_form::absorbed;
    const std::size_t K = R + P, blocks = (H + kHeadsPerItem - 1) / kHeadsPerItem;
    // A work item is one token and a block of its heads.
    opt.threads.for_each(L * blocks, [&](std::size_t item) {
      const std::size_t t = item / blocks, h0 = item % blocks * kHeadsPerItem, hb = std::min(kHeadsPerItem, H - h0);
      const std::vector<std::size_t>& keys = keys_of[t];
      const std::size_t n = keys.size();
      // The cache rows of the token's keys: all rows up to its own, or the indexer's picks gathered.
      std::vector<float> picked(n == offset + t + 1 ? 0 : n * K);
      for (std::size_t a = 0; a < picked.size() / K; ++a)
        std::copy_n(c.keys.data() + keys[a] * K, K, picked.data() + a * K);
      const float* key_rows = picked.empty() ? c.keys.data() : picked.data();
      std::vector<float> sc(hb * n), ol(absorbed ? hb * R : 0), kn(absorbed ? 0 : s.nope), vh(absorbed ? 0 : n * s.v_dim);
      if (absorbed) {
        // The block's rows [embed_q[h] q_nope | q_pe] against the key rows.
        std::vector<float> rows(hb * K);
        for (std::size_t h = h0; h < h0 + hb; ++h) {
          const float* qn = q.data() + (t * H + h) * qd;
          float* row = rows.data() + (h - h0) * K;
          embed_q[h].apply({qn, s.nope}, {row, R});
          std::copy(qn + s.nope, qn + qd, row + R);
        }
        quant::exact_matmul_t(rows_view(rows.data(), hb, K, K), rows_view(key_rows, n, K, K), sc);
      } else {
        for (std::size_t h = h0; h < h0 + hb; ++h) {
          const float* qn = q.data() + (t * H + h) * qd;
          for (std::size_t a = 0; a < n; ++a) {
            const float* lat = key_rows + a * K;
            // k_nope[i] = sum_r embed_q[h][r][i] * latent[r].
            std::fill(kn.begin(), kn.end(), 0.0f);
            for (std::size_t r = 0; r < R; ++r)
              for (std::size_t i = 0; i < s.nope; ++i) kn[i] += embed_q[h].dense[r * s.nope + i] * lat[r];
            double d = 0;
            for (std::size_t i = 0; i < s.nope; ++i) d += static_cast<double>(qn[i]) * kn[i];
            for (std::size_t i = 0; i < P; ++i) d += static_cast<double>(qn[s.nope + i]) * lat[R + i];
            sc[(h - h0) * n + a] = static_cast<float>(d);
          }
        }
      }
      for (std::size_t h = h0; h < h0 + hb; ++h) {
        const std::span<float> p(sc.data() + (h - h0) * n, n);
        for (float& e : p) e *= s.scale;
        softmax(p);
      }
      // The probabilities weight the latents (absorbed: the block's heads at once, sharing each
      // read of the latents, then unembed_out[h]) or each head's per-key values unembed_out[h]
      // latent (naive): every output one fp64 sum over the keys in order (quant::exact_matmul,
      // quant::exact_vecmat), as gqa attention's.
      if (absorbed) quant::exact_matmul(rows_view(sc.data(), hb, n, n), rows_view(key_rows, n, R, K), ol);
      for (std::size_t h = h0; h < h0 + hb; ++h) {
        const linear& uo = unembed_out[h];
        const std::span<float> oh(o.data() + (t * H + h) * s.v_dim, s.v_dim);
        if (absorbed) {
          uo.apply({ol.data() + (h - h0) * R, R}, oh);
        } else {
          for (std::size_t a = 0; a < n; ++a) uo.apply({key_rows + a * K, R}, {vh.data() + a * s.v_dim, s.v_dim});
          quant::exact_vecmat({sc.data() + (h - h0) * n, n}, rows_view(vh.data(), n, s.v_dim, s.v_dim), oh);
        }
      }
    });
    get<"o_proj">(w).value.apply(o, L, out, opt);
  }
};

}  // namespace famx::model
