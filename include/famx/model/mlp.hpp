#pragma once
// The MLPs of the reference forward: the dense SwiGLU MLP down(silu(gate x) * up x), and the MoE
// block (router, routed SwiGLU experts, shared experts; spec 3). The MoE runs either in fp32 here
// (dequantized weights, routing by famx::moe::route) or through famx::moe::moe_block on the
// quantized switch_mlp stacks; both use the same router, so they differ only by the rounding of
// the quantized kernels.

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "famx/model/linear.hpp"
#include "famx/model/norm.hpp"
#include "famx/model/spec.hpp"
#include "famx/moe/block.hpp"

namespace famx::model {

// mlp (dense) or a shared expert: gate_proj, up_proj, down_proj.
struct mlp_weights {
  linear gate_proj, up_proj, down_proj;
};

// mlp of a MoE layer (mlx-lm names); expert e of switch_mlp.* is element e.
struct moe_weights {
  linear gate;                          // mlp.gate [E, hidden]
  std::vector<float> e_score_correction_bias;
  std::vector<linear> gate_proj, up_proj, down_proj;
  std::optional<mlp_weights> shared;    // shared_experts / shared_expert
  std::optional<linear> shared_expert_gate;
};

// y [hidden] = down(silu(gate x) * up x).
inline void glu(const linear& gate, const linear& up, const linear& down, std::span<const float> x, std::span<float> y) {
  std::vector<float> g(gate.rows), u(up.rows);
  gate.apply(x, g);
  up.apply(x, u);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
  down.apply(g, y);
}
// y [hidden] = the MLP w on x.
inline void glu(const mlp_weights& w, std::span<const float> x, std::span<float> y) {
  glu(w.gate_proj, w.up_proj, w.down_proj, x, y);
}

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
// Whether every routed and shared expert projection is quantized (the kernels' block applies).
inline bool all_quantized(const moe_weights& w) {
  auto q = [](const std::vector<linear>& v) { return std::ranges::all_of(v, [](const linear& l) { return l.quantized.has_value(); }); };
  return q(w.gate_proj) && q(w.up_proj) && q(w.down_proj) &&
         (!w.shared || (w.shared->gate_proj.quantized && w.shared->up_proj.quantized && w.shared->down_proj.quantized));
}

}  // namespace detail

// out [L, hidden] = the MoE block on x [L, hidden].
inline void moe_mlp(const model_spec& s, const moe_weights& w, std::span<const float> x, std::size_t L, std::span<float> out) {
  const std::size_t D = s.hidden;
  if (detail::all_quantized(w)) {
    moe::moe_block_weights k{detail::kernel_view(w.gate), w.e_score_correction_bias, detail::stack_view(w.gate_proj),
                             detail::stack_view(w.up_proj), detail::stack_view(w.down_proj), std::nullopt, std::nullopt};
    if (w.shared) k.shared = moe::glu_view{*w.shared->gate_proj.quantized, *w.shared->up_proj.quantized, *w.shared->down_proj.quantized};
    if (w.shared_expert_gate) k.shared_expert_gate = detail::kernel_view(*w.shared_expert_gate);
    moe::moe_block(s.routing, k, x, L, out);
    return;
  }
  const std::size_t E = s.routing.num_experts, K = s.routing.num_experts_per_tok;
  std::vector<float> logits(L * E);
  for (std::size_t t = 0; t < L; ++t) w.gate.apply(x.subspan(t * D, D), {logits.data() + t * E, E});
  const moe::routing r = moe::route(s.routing, logits, w.e_score_correction_bias, L);
  std::vector<float> y(D), g(1);
  for (std::size_t t = 0; t < L; ++t) {
    const auto xt = x.subspan(t * D, D);
    const std::span<float> o = out.subspan(t * D, D);
    std::fill(o.begin(), o.end(), 0.0f);
    for (std::size_t i = 0; i < K; ++i) {
      const auto e = static_cast<std::size_t>(r.experts[t * K + i]);
      glu(w.gate_proj[e], w.up_proj[e], w.down_proj[e], xt, y);
      for (std::size_t j = 0; j < D; ++j) o[j] += r.weights[t * K + i] * y[j];
    }
    if (w.shared) {
      glu(*w.shared, xt, y);
      float scale = 1.0f;
      if (w.shared_expert_gate) {
        w.shared_expert_gate->apply(xt, g);
        scale = sigmoid(g[0]);
      }
      for (std::size_t j = 0; j < D; ++j) o[j] += scale * y[j];
    }
  }
}

}  // namespace famx::model
