#pragma once
// Qwen3-Next's gated DeltaNet (`linear_attn`, spec 2.4), one token at a time:
//   in_proj_qkvz / in_proj_ba in the head-grouped layout (per k-head [q | k | v | z] and [b | a]);
//   a causal depthwise conv1d over [q | k | v] (kernel linear_conv_kernel_dim, state = the last
//   kernel - 1 inputs), then silu; q = l2norm(q) / dk, k = l2norm(k) / sqrt(dk) (rms_norm without
//   weight, eps 1e-6, scaled); beta = sigmoid(b), g = exp(-exp(A_log) * softplus(a + dt_bias));
//   per v-head h (k-head h / (nv/nk)) the fp32 state S^T [dk, dv]:
//     S *= g;  delta = (v - S k) * beta;  S += delta k^T;  y = S q
//   (quant::exact_delta_step: the sums and the update in fp64, each rounded to f32 once);
//   out = rms_norm(y, norm.weight) * silu(z) per v-head, then out_proj. attention_impl of
// surface::gated_delta_net.

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "famx/families/family_traits.hpp"
#include "famx/model/cache.hpp"
#include "famx/model/forward_options.hpp"
#include "famx/model/kinds.hpp"
#include "famx/model/norm.hpp"
#include "famx/model/weights.hpp"
#include "famx/quant/matmul.hpp"

namespace famx::model {

// Qwen3-Next's gated DeltaNet (linear_attn).
template <>
struct attention_impl<surface::gated_delta_net> {
  struct params {
    std::size_t hidden = 0, nk = 0, nv = 0, dk = 0, dv = 0, conv_kernel = 0;  // hidden_size, linear_num_key_heads, ...
    float eps = 1e-6f;                                                        // rms_norm_eps (the gated norm)
    std::size_t key_dim() const { return nk * dk; }
    std::size_t value_dim() const { return nv * dv; }
    std::size_t conv_dim() const { return 2 * key_dim() + value_dim(); }
  };

  template <class Cfg>
  static result<params> make(const Cfg& c, const families::attention_params&) {
    return params{static_cast<std::size_t>(surface::dims::hidden::eval(c)), static_cast<std::size_t>(surface::dims::nk::eval(c)),
                  static_cast<std::size_t>(surface::dims::nv::eval(c)), static_cast<std::size_t>(surface::dims::dk::eval(c)),
                  static_cast<std::size_t>(surface::dims::dv::eval(c)),
                  static_cast<std::size_t>(surface::field<"linear_conv_kernel_dim">::eval(c)),
                  static_cast<float>(surface::field_value<"rms_norm_eps">(c))};
  }

  // One rank's key and value heads.
  static void localize(params& p, const head_share& r) {
    p.nk = r.linear_key_heads;
    p.nv = r.linear_value_heads;
  }

  // out [L, hidden] = linear_attn(x [L, hidden]); advances the conv and recurrent state in c. The
  // projections take the L tokens at once and each token's heads run on opt.threads.
  template <class W>
  static void forward(const params& s, const W& w, const forward_options& opt, layer_cache& c, std::size_t,
                      std::span<const float> x, std::size_t L, std::span<float> out) {
    const linear& in_proj_qkvz = get<"in_proj_qkvz">(w).value;
    const linear& in_proj_ba = get<"in_proj_ba">(w).value;
    const std::vector<float>& conv1d = get<"conv1d">(w).value;
    const std::vector<float>& dt_bias = get<"dt_bias">(w).value;
    const std::vector<float>& A_log = get<"A_log">(w).value;
    const std::vector<float>& norm = get<"norm">(w).value;
    const std::size_t nk = s.nk, nv = s.nv, dk = s.dk, dv = s.dv, Kc = s.conv_kernel;
    const std::size_t rep = nv / nk, Kd = s.key_dim(), Vd = s.value_dim(), C = s.conv_dim();
    if (c.conv_state.empty()) c.conv_state.assign((Kc - 1) * C, 0.0f);
    if (c.ssm_state.empty()) c.ssm_state.assign(nv * dv * dk, 0.0f);
    const std::size_t QKVZ = 2 * Kd + 2 * Vd;
    std::vector<float> qkvz_all(L * QKVZ), ba_all(L * 2 * nv), mixed(C), conv(C), z(Vd), y_all(L * Vd);
    in_proj_qkvz.apply(x, L, qkvz_all, opt);
    in_proj_ba.apply(x, L, ba_all, opt);
    for (std::size_t t = 0; t < L; ++t) {
      const float* qkvz = qkvz_all.data() + t * QKVZ;
      const float* ba = ba_all.data() + t * 2 * nv;
      float* y = y_all.data() + t * Vd;
      // Un-group: mixed = [q (nk*dk) | k (nk*dk) | v (nv*dv)], z [nv*dv]; b, a [nv].
      const std::size_t per = 2 * dk + 2 * rep * dv;
      std::vector<float> b(nv), a(nv);
      for (std::size_t g = 0; g < nk; ++g) {
        const float* src = qkvz + g * per;
        std::copy(src, src + dk, mixed.begin() + static_cast<std::ptrdiff_t>(g * dk));
        std::copy(src + dk, src + 2 * dk, mixed.begin() + static_cast<std::ptrdiff_t>(Kd + g * dk));
        std::copy(src + 2 * dk, src + 2 * dk + rep * dv, mixed.begin() + static_cast<std::ptrdiff_t>(2 * Kd + g * rep * dv));
        std::copy(src + 2 * dk + rep * dv, src + per, z.begin() + static_cast<std::ptrdiff_t>(g * rep * dv));
        for (std::size_t r = 0; r < rep; ++r) {
          b[g * rep + r] = ba[g * 2 * rep + r];
          a[g * rep + r] = ba[g * 2 * rep + rep + r];
        }
      }
      // Causal depthwise conv: inputs [state rows (oldest first) ..., mixed].
      for (std::size_t ch = 0; ch < C; ++ch) {
        float acc = 0;
        for (std::size_t j = 0; j + 1 < Kc; ++j) acc += c.conv_state[j * C + ch] * conv1d[ch * Kc + j];
        acc += mixed[ch] * conv1d[ch * Kc + Kc - 1];
        conv[ch] = silu(acc);
      }
      if (Kc > 1) {
        c.conv_state.erase(c.conv_state.begin(), c.conv_state.begin() + static_cast<std::ptrdiff_t>(C));
        c.conv_state.insert(c.conv_state.end(), mixed.begin(), mixed.end());
      }
      const float qs = 1.0f / static_cast<float>(dk), ks = 1.0f / std::sqrt(static_cast<float>(dk));
      for (std::size_t g = 0; g < nk; ++g) {
        std::span<float> qh(conv.data() + g * dk, dk), kh(conv.data() + Kd + g * dk, dk);
        rms_norm(qh, {}, 1e-6f);
        rms_norm(kh, {}, 1e-6f);
        for (float& e : qh) e *= qs;
        for (float& e : kh) e *= ks;
      }
      opt.threads.for_each(nv, [&](std::size_t h) {
        const float* q = conv.data() + (h / rep) * dk;
        const float* k = conv.data() + Kd + (h / rep) * dk;
        const float* v = conv.data() + 2 * Kd + h * dv;
        const float beta = sigmoid(b[h]);
        const float g = std::exp(-std::exp(A_log[h]) * softplus(a[h] + dt_bias[h]));
        quant::exact_delta_step(std::span(c.ssm_state.data() + h * dk * dv, dk * dv), std::span(k, dk), std::span(q, dk),
                                std::span(v, dv), g, beta, std::span(y + h * dv, dv));
        std::span<float> yh(y + h * dv, dv);
        rms_norm(yh, norm, s.eps);
        for (std::size_t i = 0; i < dv; ++i) yh[i] *= silu(z[h * dv + i]);
      });
    }
    get<"out_proj">(w).value.apply(y_all, L, out, opt);
  }
};

}  // namespace famx::model
