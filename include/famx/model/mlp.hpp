#pragma once
// The MLPs of the reference forward: mlp_impl of the dense SwiGLU MLP down(silu(gate x) * up x)
// and of the MoE blocks (router, routed SwiGLU experts `switch_mlp`, and, when the surface has
// them, DeepSeek's `shared_experts` or Qwen3-Next's `shared_expert` scaled by
// sigmoid(shared_expert_gate x); spec 3). The MoE runs either in fp32 here (dequantized weights,
// routing by famx::moe::route) or through famx::moe::moe_block on the quantized switch_mlp
// stacks; both use the same router, so they differ only by the rounding of the quantized kernels.

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "famx/model/forward_options.hpp"
#include "famx/model/kinds.hpp"
#include "famx/model/norm.hpp"
#include "famx/model/rank_context.hpp"
#include "famx/model/weights.hpp"
#include "famx/moe/block.hpp"

namespace famx::model {

// y [m, hidden] = down(silu(gate x) * up x) for m tokens x [m, hidden] (each token's row as if alone).
inline void glu(const linear& gate, const linear& up, const linear& down, std::span<const float> x, std::size_t m,
                std::span<float> y, const forward_options& opt) {
  std::vector<float> g(m * gate.rows), u(m * up.rows);
  gate.apply(x, m, g, opt);
  up.apply(x, m, u, opt);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
  down.apply(g, m, y, opt);
}
// y [m, hidden] = the SwiGLU module w (gate_proj, up_proj, down_proj) on m tokens x.
template <class W>
void glu(const W& w, std::span<const float> x, std::size_t m, std::span<float> y, const forward_options& opt) {
  glu(get<"gate_proj">(w).value, get<"up_proj">(w).value, get<"down_proj">(w).value, x, m, y, opt);
}

// The dense SwiGLU MLP.
template <class I, class Bias>
struct mlp_impl<surface::dense_glu<I, Bias>> {
  struct params {
    std::size_t hidden = 0;
  };
  template <class Cfg>
  static result<params> make(const Cfg& c, const moe::routing_config*) {
    return params{static_cast<std::size_t>(surface::dims::hidden::eval(c))};
  }
  // Builds the int8 panels of its projections (linear::build_int8_panels); returns their bytes.
  template <class W>
  static std::size_t build_int8_panels(params&, W& w, const parallel& par) {
    std::size_t bytes = 0;
    for_each_projection(w, [&](linear& l) { bytes += l.build_int8_panels(par); });
    return bytes;
  }
  // out [L, hidden] = mlp(x [L, hidden]) (made whole over the ranks of a split model).
  template <class W>
  static void forward(const params& s, const W& w, std::span<const float> x, std::size_t L, std::span<float> out,
                      const forward_options& opt, const rank_context* rc = nullptr) {
    glu(w, x, L, out, opt);
    if (rc) rc->finish(w, out, s.hidden, "mlp");
  }
};

namespace detail {

// The kernels' view of a projection (quantized, or dense fp32).
inline moe::linear_view kernel_view(const linear& l) {
  if (l.quantized) return {*l.quantized, {}};
  return {std::nullopt, tensor_view::contiguous(l.dense.data(), dtype::f32,
                                                {static_cast<std::int64_t>(l.rows), static_cast<std::int64_t>(l.cols)})};
}
// A contiguous stack of quantized experts as the MoE kernels take it.
inline moe::stacked_qmatrix stack_view(const std::vector<linear>& e) {
  const quant::qmatrix_view& f = *e.front().quantized;
  return {f, e.size(), f.rows * f.packed_stride, f.rows * f.scale_stride};
}
// The panels of a projection, or null when none were built.
inline const quant::int8_panels_view* panels_of(const linear& l) { return l.int8_panels ? &l.int8_panels->view() : nullptr; }
inline bool quantized(const std::vector<linear>& v) {
  return std::ranges::all_of(v, [](const linear& l) { return l.quantized.has_value(); });
}

// A MoE block (any surface MLP kind with routed experts).
struct moe_impl {
  struct params {
    std::size_t hidden = 0;
    moe::routing_config routing;
    std::shared_ptr<const moe::expert_int8_panels> int8_panels;  // the routed experts', when built
  };
  template <class Cfg>
  static result<params> make(const Cfg& c, const moe::routing_config* routing) {
    return params{static_cast<std::size_t>(surface::dims::hidden::eval(c)), *routing, nullptr};
  }

  // The router: a Linear (Qwen, quantized or not) or DeepSeek's MoEGate (raw weight and fp32 bias).
  template <class W>
  struct router {
    const W& w;
    std::size_t hidden, experts;
    std::span<const float> bias() const {
      if constexpr (is_gate_module) return get<"gate", "e_score_correction_bias">(w).value;
      else return {};
    }
    // logits [L, experts] of x [L, hidden].
    void apply(std::span<const float> x, std::size_t L, std::span<float> logits, const forward_options& opt) const {
      if constexpr (is_gate_module) {
        for (std::size_t t = 0; t < L; ++t)
          dense_matvec(get<"gate", "weight">(w).value.data(), experts, hidden, x.subspan(t * hidden, hidden),
                       logits.subspan(t * experts, experts));
      } else {
        get<"gate">(w).value.apply(x, L, logits, opt);
      }
    }
    moe::linear_view kernel() const {
      if constexpr (is_gate_module)
        return {std::nullopt, tensor_view::contiguous(get<"gate", "weight">(w).value.data(), dtype::f32,
                                                      {static_cast<std::int64_t>(experts), static_cast<std::int64_t>(hidden)})};
      else return kernel_view(get<"gate">(w).value);
    }
    static constexpr bool is_gate_module =
        !std::is_same_v<std::remove_cvref_t<decltype(get<"gate">(std::declval<const W&>()).value)>, linear>;
  };

  // The shared expert module (DeepSeek's shared_experts, Qwen3-Next's shared_expert), or nullptr
  // (const when w is).
  template <class W>
  static auto* shared(W& w) {
    using M = std::remove_const_t<W>;
    if constexpr (has_slot<M, "shared_experts">) return get<"shared_experts">(w).present ? &get<"shared_experts">(w).value : nullptr;
    else if constexpr (has_slot<M, "shared_expert">) return get<"shared_expert">(w).present ? &get<"shared_expert">(w).value : nullptr;
    else return static_cast<const bound_module<>*>(nullptr);
  }

  // How the block runs as one rank of a split model: the routed experts' partial sums (a tensor-
  // parallel slice of every expert) are summed over the ranks, whole experts (expert parallelism)
  // are taken from the rank that holds them, and a tensor-parallel shared expert is summed.
  template <class W>
  static moe::moe_split split_of(const W& w, const rank_context& rc, std::size_t D) {
    moe::moe_split sp;
    sp.local_expert = rc.local_expert;
    const bool routed_partial = get<"down_proj">(get<"switch_mlp">(w).value).value.front().partial;
    if (routed_partial)
      sp.routed = [&rc](std::span<float> y, const moe::routing&) { rc.all_sum(y, "mlp.switch_mlp"); };
    else if (!rc.local_expert.empty())
      sp.routed = [&rc, D](std::span<float> y, const moe::routing& r) { rc.gather_owned(y, r.experts, D, "mlp.switch_mlp"); };
    if (const auto* sh = shared(w)) {
      bool partial = false;
      for_each_linear(*sh, [&](const linear& l) { partial = partial || l.partial; });
      if (partial) sp.shared = [&rc](std::span<float> y) { rc.all_sum(y, "mlp.shared_experts"); };
    }
    return sp;
  }

  // The routed experts' matrices and whether all are quantized (the block then runs in moe_block).
  template <class W>
  static std::optional<std::array<moe::stacked_qmatrix, 3>> expert_stacks(const W& w) {
    const auto& experts = get<"switch_mlp">(w).value;
    const std::vector<linear>& gate_proj = get<"gate_proj">(experts).value;
    const std::vector<linear>& up_proj = get<"up_proj">(experts).value;
    const std::vector<linear>& down_proj = get<"down_proj">(experts).value;
    if (!quantized(gate_proj) || !quantized(up_proj) || !quantized(down_proj)) return std::nullopt;
    return std::array{stack_view(gate_proj), stack_view(up_proj), stack_view(down_proj)};
  }

  // Builds the int8 panels of the quantized routed experts (every expert of the stacks) and of the
  // shared expert's projections (the router keeps its exact path); returns their bytes.
  template <class W>
  static std::size_t build_int8_panels(params& s, W& w, const parallel& par) {
    std::size_t bytes = 0;
    if (auto* sh = shared(w)) for_each_projection(*sh, [&](linear& l) { bytes += l.build_int8_panels(par); });
    if (const auto st = expert_stacks(w)) {
      auto p = std::make_shared<const moe::expert_int8_panels>(moe::expert_int8_panels::of((*st)[0], (*st)[1], (*st)[2], par));
      for (const auto* stack : {&p->gate_proj, &p->up_proj, &p->down_proj})
        for (const quant::int8_panels& e : *stack) bytes += e.bytes();
      s.int8_panels = std::move(p);
    }
    return bytes;
  }

  // out [L, hidden] = the MoE block on x [L, hidden] (as one rank of a split model when rc is given).
  template <class W>
  static void forward(const params& s, const W& w, std::span<const float> x, std::size_t L, std::span<float> out,
                      const forward_options& opt, const rank_context* rc = nullptr) {
    const std::size_t D = s.hidden, E = s.routing.num_experts, K = s.routing.num_experts_per_tok;
    const router<W> gate{w, D, E};
    const auto& experts = get<"switch_mlp">(w).value;
    const std::vector<linear>& gate_proj = get<"gate_proj">(experts).value;
    const std::vector<linear>& up_proj = get<"up_proj">(experts).value;
    const std::vector<linear>& down_proj = get<"down_proj">(experts).value;
    const auto* sh = shared(w);
    const linear* sh_gate = nullptr;
    if constexpr (has_slot<W, "shared_expert_gate">) sh_gate = &get<"shared_expert_gate">(w).value;
    const moe::moe_split sp = rc ? split_of(w, *rc, D) : moe::moe_split{};
    const auto stacks = expert_stacks(w);
    bool all_quantized = stacks.has_value();
    if constexpr (!std::is_same_v<decltype(sh), const bound_module<>*>)
      if (sh)
        all_quantized = all_quantized && get<"gate_proj">(*sh).value.quantized && get<"up_proj">(*sh).value.quantized &&
                        get<"down_proj">(*sh).value.quantized;
    if (all_quantized) {
      moe::moe_block_weights k{gate.kernel(), gate.bias(), (*stacks)[0], (*stacks)[1], (*stacks)[2],
                               std::nullopt, std::nullopt, s.int8_panels.get()};
      if constexpr (!std::is_same_v<decltype(sh), const bound_module<>*>)
        if (sh) {
          const linear &sg = get<"gate_proj">(*sh).value, &su = get<"up_proj">(*sh).value, &sd = get<"down_proj">(*sh).value;
          k.shared = moe::glu_view{*sg.quantized, *su.quantized, *sd.quantized, {panels_of(sg), panels_of(su), panels_of(sd)}};
        }
      if (sh_gate) k.shared_expert_gate = kernel_view(*sh_gate);
      moe::moe_options mo;
      mo.int8_activations = opt.int8_activations;
      moe::moe_block(s.routing, k, x, L, out, mo, opt.threads, rc ? &sp : nullptr);
      return;
    }
    // The fp32 path: the same steps as moe::moe_block (each expert's tokens at once, exchanges,
    // combine in slot order).
    std::vector<float> logits(L * E);
    gate.apply(x, L, logits, opt);
    const moe::routing r = moe::route(s.routing, logits, gate.bias(), L);
    std::vector<float> y(L * K * D, 0.0f), xs, ys;
    const std::vector<std::int32_t> order = moe::dispatch(r, E).order;  // grouped by expert
    const auto expert_at = [&](std::size_t i) { return static_cast<std::size_t>(r.experts[static_cast<std::size_t>(order[i])]); };
    for (std::size_t b = 0, n = 1; b < order.size(); b += n, n = 1) {
      while (b + n < order.size() && expert_at(b + n) == expert_at(b)) ++n;
      const std::int32_t e = sp.local_expert.empty() ? static_cast<std::int32_t>(expert_at(b)) : sp.local_expert[expert_at(b)];
      if (e < 0) continue;  // not held by this rank
      xs.resize(n * D);
      ys.resize(n * D);
      for (std::size_t i = 0; i < n; ++i)
        std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(order[b + i]) / K * D), D,
                    xs.begin() + static_cast<std::ptrdiff_t>(i * D));
      const auto ue = static_cast<std::size_t>(e);
      glu(gate_proj[ue], up_proj[ue], down_proj[ue], xs, n, ys, opt);
      for (std::size_t i = 0; i < n; ++i)
        std::copy_n(ys.begin() + static_cast<std::ptrdiff_t>(i * D), D,
                    y.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(order[b + i]) * D));
    }
    if (sp.routed) sp.routed(y, r);
    std::vector<float> shared_y, g(L);
    if constexpr (!std::is_same_v<decltype(sh), const bound_module<>*>) {
      if (sh) {
        shared_y.resize(L * D);
        glu(*sh, x, L, shared_y, opt);
        if (sp.shared) sp.shared(shared_y);
        if (sh_gate) sh_gate->apply(x, L, g, opt);
      }
    }
    for (std::size_t t = 0; t < L; ++t) {
      const std::span<float> o = out.subspan(t * D, D);
      std::fill(o.begin(), o.end(), 0.0f);
      for (std::size_t i = 0; i < K; ++i)
        for (std::size_t j = 0; j < D; ++j) o[j] += r.weights[t * K + i] * y[(t * K + i) * D + j];
      if (!shared_y.empty()) {
        const float scale = sh_gate ? sigmoid(g[t]) : 1.0f;
        for (std::size_t j = 0; j < D; ++j) o[j] += scale * shared_y[t * D + j];
      }
    }
  }
};

}  // namespace detail

// A MoE block: routed experts (`switch_mlp`) behind a router, with the surface's shared experts.
template <class Mlp>
  requires requires { typename Mlp::experts; }
struct mlp_impl<Mlp> : detail::moe_impl {};

}  // namespace famx::model
