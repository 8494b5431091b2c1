#pragma once
// One decoder layer of the reference forward, composed from its surface kinds:
// h = x + attention(input_layernorm(x)), out = h + mlp(post_attention_layernorm(h)), with the
// attention and MLP forwards that attention_impl / mlp_impl give the layer's surface types.

#include <cstddef>
#include <span>
#include <vector>

#include "famx/model/attention.hpp"
#include "famx/model/delta_net.hpp"
#include "famx/model/mla.hpp"
#include "famx/model/mlp.hpp"
#include "famx/model/rank_context.hpp"

namespace famx::model {

template <class Layer>
struct layer_impl;

// A pre-norm decoder layer of attention kind A and MLP kind M.
template <class A, class M>
struct layer_impl<surface::decoder_layer<A, M>> {
  using surface_type = surface::decoder_layer<A, M>;
  using attention = attention_impl<A>;
  using mlp = mlp_impl<M>;
  using weights_type = bound_t<surface_type>;
  static constexpr auto attention_name = detail::name_of(static_cast<const A*>(nullptr));  // "self_attn", "linear_attn"

  struct params {
    std::size_t hidden = 0;
    float eps = 1e-6f;  // rms_norm_eps
    typename attention::params attn;
    typename mlp::params ffn;
  };

  weights_type weights;
  params p;

  // The layer's parameters for config c (family attention params a, MoE router when the family has one).
  template <class Cfg>
  static result<params> make(const Cfg& c, const families::attention_params& a, const moe::routing_config* routing) {
    auto at = attention::make(c, a);
    if (!at) return at.err();
    auto f = mlp::make(c, routing);
    if (!f) return f.err();
    return params{static_cast<std::size_t>(surface::dims::hidden::eval(c)),
                  static_cast<float>(surface::field_value<"rms_norm_eps">(c)), std::move(*at), std::move(*f)};
  }
  // Binds the weights of decoder layer i (model.layers.i.*) from a source.
  template <class Cfg, class Source>
  result<void> bind(const Cfg& c, int i, const Source& src, std::vector<std::string>& bound) {
    binder<Cfg, Source> b{c, src, bound};
    if (auto r = b.template bind<surface_type>(weights, surface::emit_at{"model.layers." + std::to_string(i), i}, true); !r)
      return r;
    if constexpr (requires { attention::prepare(get<attention_name>(weights).value); })
      attention::prepare(get<attention_name>(weights).value);
    return {};
  }

  // Builds qmm_int8's load-time panels for the projections that take a forward call's tokens at
  // once (attention's, the MLP's or the MoE block's experts), on par's threads: batched int8 calls
  // then skip the per-call repack, with the same bits. Returns the panels' bytes.
  std::size_t build_int8_panels(const parallel& par) {
    std::size_t bytes = 0;
    for_each_projection(get<attention_name>(weights).value, [&](linear& l) { bytes += l.build_int8_panels(par); });
    return bytes + mlp::build_int8_panels(p.ffn, get<"mlp">(weights).value, par);
  }

  // The parameters of one rank of a split model: its share of the heads (rank plan r).
  void localize(const head_share& r) {
    if constexpr (requires { attention::localize(p.attn, r); }) attention::localize(p.attn, r);
  }

  // x [L, hidden] <- the layer on x; the attention continues cache c at position offset. As one
  // rank of a split model (rc), the partial outputs of row-parallel slices are made whole.
  void forward(std::vector<float>& x, std::size_t L, layer_cache& c, std::size_t offset, const forward_options& opt,
               const rank_context* rc = nullptr) const {
    const std::size_t D = p.hidden;
    std::vector<float> h = x, y(x.size());
    for (std::size_t t = 0; t < L; ++t) rms_norm({h.data() + t * D, D}, get<"input_layernorm">(weights).value, p.eps);
    const auto& aw = get<attention_name>(weights).value;
    attention::forward(p.attn, aw, opt, c, offset, h, L, y);
    if (rc) rc->finish(aw, y, D, attention_name.view());
    for (std::size_t j = 0; j < x.size(); ++j) x[j] += y[j];
    h = x;
    for (std::size_t t = 0; t < L; ++t) rms_norm({h.data() + t * D, D}, get<"post_attention_layernorm">(weights).value, p.eps);
    mlp::forward(p.ffn, get<"mlp">(weights).value, h, L, y, opt, rc);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] += y[j];
  }
};

}  // namespace famx::model
