#pragma once
// A whole MoE block an engine can call: router gate -> routing -> expert dispatch -> quantized
// SwiGLU experts (switch_mlp) -> weighted combine in fp32 -> shared experts (DeepSeek's ungated
// shared_experts, or Qwen3-Next's shared_expert scaled by sigmoid(shared_expert_gate x)).
// It calls the SIMD kernels, so it includes <famx/kernels.hpp> first (in header-only mode that
// compiles them in this translation unit; see kernels.hpp for the compile-once mode).
//
// Numerics: every expert output has the bits of the one-token kernels whatever the dispatch order
// and batching (the batched kernels' rows equal the one-token kernels'), so sorted and unsorted
// dispatch, fused and unfused, batched and one-by-one experts, and dynamic dispatch and a capacity
// that drops nothing all give bit-identical results, for any number of tokens per call.

#include <famx/kernels.hpp>  // first: it owns Highway's per-target compilation

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/tensor.hpp"
#include "famx/moe/dispatch.hpp"
#include "famx/moe/experts.hpp"
#include "famx/moe/route.hpp"
#include "famx/moe/routing.hpp"
#include "famx/quant/int8_activations.hpp"
#include "famx/quant/int8_panels.hpp"
#include "famx/quant/matmul.hpp"
#include "famx/quant/qmatrix.hpp"
#include "famx/quant/quantize.hpp"

namespace famx::moe {

// Stacked expert matrices [E, out, in] (switch_mlp.*): expert e is a qmatrix_view.
struct stacked_qmatrix {
  quant::qmatrix_view first;     // expert 0
  std::size_t experts = 0;
  std::size_t packed_step = 0;   // uint32 words from one expert to the next
  std::size_t scale_step = 0;    // scale (and bias) elements from one expert to the next

  quant::qmatrix_view operator[](std::size_t e) const {
    quant::qmatrix_view v = first;
    const std::size_t ss = size_of(first.scale_type);
    v.packed = first.packed + e * packed_step;
    v.scales = static_cast<const std::byte*>(first.scales) + e * scale_step * ss;
    v.biases = static_cast<const std::byte*>(first.biases) + e * scale_step * ss;
    return v;
  }
  // The stack of a quantized [E, out, in] tensor triplet.
  static stacked_qmatrix of(const quant::quantized& q) {
    const auto e0 = q.view(0);
    return {e0, static_cast<std::size_t>(q.packed.dims()[0]), e0.rows * e0.packed_stride, e0.rows * e0.scale_stride};
  }
};

// A linear layer that is either quantized (mlx-lm's QuantizedLinear) or dense f32/bf16 (a raw
// array, like DeepSeek's router weight).
struct linear_view {
  std::optional<quant::qmatrix_view> quantized;
  tensor_view dense;

  std::size_t rows() const { return quantized ? quantized->rows : static_cast<std::size_t>(dense.dims[0]); }
  std::size_t cols() const { return quantized ? quantized->cols : static_cast<std::size_t>(dense.dims[1]); }
  // y = W x.
  void apply(std::span<const float> x, std::span<float> y, const parallel& par = {}) const {
    if (quantized) {
      quant::qmv(*quantized, x, y, par);
    } else {
      quant::matvec(dense, x, y, par);
    }
  }
};

// A SwiGLU MLP's matrices in qmm_int8's load-time panel layout (quant::int8_panels), each
// optional (null: qmm_int8 repacks the MLX view per call).
struct glu_panels {
  const quant::int8_panels_view* gate = nullptr;
  const quant::int8_panels_view* up = nullptr;
  const quant::int8_panels_view* down = nullptr;
};

// A dense SwiGLU MLP (gate_proj, up_proj, down_proj), quantized; `int8_panels` are used by
// batched int8 calls (the same bits).
struct glu_view {
  quant::qmatrix_view gate_proj, up_proj, down_proj;
  glu_panels int8_panels{};
};

struct expert_int8_panels;

// The weights of one MoE block, named as in mlx-lm.
struct moe_block_weights {
  linear_view gate;                                  // mlp.gate [E, D]
  std::span<const float> e_score_correction_bias;    // mlp.gate.e_score_correction_bias [E], or empty
  stacked_qmatrix gate_proj, up_proj, down_proj;     // mlp.switch_mlp.*: [E, I, D], [E, I, D], [E, D, I]
  std::optional<glu_view> shared;                    // mlp.shared_experts / mlp.shared_expert
  std::optional<linear_view> shared_expert_gate;     // mlp.shared_expert_gate [1, D] (Qwen3-Next)
  const expert_int8_panels* int8_panels = nullptr;  // optional: the routed experts in qmm_int8's panel layout
};

// The routed experts of a block in qmm_int8's load-time panel layout (quant::int8_panels): with
// int8 activations, an expert's batch of tokens then runs without qmm_int8's per-call repack, with
// the same bits. It costs about the experts' bytes again: decode and exact runs read the MLX stacks.
struct expert_int8_panels {
  std::vector<quant::int8_panels> gate_proj, up_proj, down_proj;  // one per expert of the stacks

  // The panels of every expert in w's stacks, built on par's threads. Throws famx::error naming
  // the stack unless its codes are 4- or 8-bit.
  static expert_int8_panels of(const moe_block_weights& w, const parallel& par = {}) {
    return of(w.gate_proj, w.up_proj, w.down_proj, par);
  }
  // The panels of every expert in the stacks gate_proj, up_proj and down_proj (as above).
  static expert_int8_panels of(const stacked_qmatrix& gate_proj, const stacked_qmatrix& up_proj,
                               const stacked_qmatrix& down_proj, const parallel& par = {}) {
    expert_int8_panels p;
    const std::pair<const stacked_qmatrix*, std::vector<quant::int8_panels>*> stacks[] = {
        {&gate_proj, &p.gate_proj}, {&up_proj, &p.up_proj}, {&down_proj, &p.down_proj}};
    const char* names[] = {"mlp.switch_mlp.gate_proj", "mlp.switch_mlp.up_proj", "mlp.switch_mlp.down_proj"};
    for (std::size_t i = 0; i < 3; ++i) {
      const auto [stack, out] = stacks[i];
      out->reserve(stack->experts);
      for (std::size_t e = 0; e < stack->experts; ++e)
        out->emplace_back((*stack)[e], par, std::string(names[i]) + "[" + std::to_string(e) + "]");
    }
    return p;
  }
};

// How to run a block.
struct moe_options {
  bool fused = true;            // swiglu (one preparation of x) instead of two qmv + silu_mul
  bool sorted = true;           // run the (token, expert) pairs grouped by expert
  double capacity_factor = 0;   // > 0: static capacity ceil(factor * T * k / E) per expert
  bool int8_activations = false;  // experts use qmv_int8 arithmetic (faster, bounded error)
  bool batched = true;          // int8: an expert's tokens run through qmm_int8 together (same bits as one by one)
};

// How a block runs as one rank of a split model: which routed experts the rank's stacks hold, and
// the exchanges (collectives that only move bytes, then a fixed-order local sum) that turn the rank's
// expert outputs into the whole ones before the combine, so every rank combines the same values in
// the same order as the unsplit block.
struct moe_split {
  std::span<const std::int32_t> local_expert;  // global expert -> its index in the stacks, -1 when not held; empty: all
  std::function<void(std::span<float>, const routing&)> routed;  // y [tokens * k, D] in (token, slot) order: the rank's -> whole
  std::function<void(std::span<float>)> shared;  // shared expert outputs [tokens, D]: the rank's -> whole
};

// What a block call decided.
struct moe_stats {
  famx::moe::routing routing;
  std::size_t capacity = 0;       // 0 without a capacity
  std::size_t dropped_pairs = 0;  // (token, expert) pairs beyond capacity
};

namespace detail {

// y = down(silu(gate x) * up x) for one expert; h is scratch of the intermediate size.
inline void glu_forward(const quant::qmatrix_view& gate, const quant::qmatrix_view& up,
                        const quant::qmatrix_view& down, std::span<const float> x, std::span<float> y,
                        const moe_options& opt, std::vector<float>& h, std::vector<float>& u, const parallel& par) {
  h.resize(gate.rows);
  auto mv = [&](const quant::qmatrix_view& w, std::span<const float> in, std::span<float> out) {
    if (opt.int8_activations) {
      quant::qmv_int8(w, in, out, par);
    } else {
      quant::qmv(w, in, out, par);
    }
  };
  if (opt.fused) {
    if (opt.int8_activations) {
      swiglu_int8(gate, up, x, h, par);
    } else {
      swiglu(gate, up, x, h, par);
    }
  } else {
    u.resize(2 * gate.rows);
    const std::span<float> g(u.data(), gate.rows), v(u.data() + gate.rows, gate.rows);
    mv(gate, x, g);
    mv(up, x, v);
    silu_mul(g, v, h);
  }
  mv(down, h, y);
}

// n floats for the (token, slot) outputs of a call, zeroed when `zero`: a per-thread buffer that
// grows and is reused, so that a long prompt does not map and fault in fresh pages on every call (a
// 512-token Qwen3-30B-A3B chunk needs 33.5 MB, above glibc's largest mmap threshold; faulting it in
// took 90-240 ms on this project's VM, more than the experts' arithmetic).
inline std::span<float> pair_outputs(std::size_t n, bool zero) {
  static thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  if (zero) std::fill_n(buffer.begin(), n, 0.0f);
  return {buffer.data(), n};
}

// A thread's buffers for one run of experts (its tokens' x and y rows or their indices, the
// intermediate h and u), kept across calls like pair_outputs: fresh ones per call fault in their
// pages again.
struct expert_buffers {
  std::vector<float> xs, ys, h, u;
  std::vector<std::uint32_t> tokens;
};
inline expert_buffers& thread_expert_buffers() {
  static thread_local expert_buffers b;
  return b;
}

// Calls f(i, p) for every item i in [0, n): items split over par's threads (p serial) when there
// are at least two per thread, else one after another with p = par (the kernels split their rows).
// Either way each item's arithmetic is the same, so its bits do not depend on the threads.
template <class F>
void for_each_item(std::size_t n, const parallel& par, F&& f) {
  if (par.workers > 1 && n >= 2 * par.workers) {
    const std::size_t chunks = std::min(n, 4 * par.workers), per = (n + chunks - 1) / chunks;
    par.for_each((n + per - 1) / per, [&](std::size_t c) {
      for (std::size_t i = c * per; i < std::min(n, (c + 1) * per); ++i) f(i, parallel{});
    });
  } else {
    for (std::size_t i = 0; i < n; ++i) f(i, par);
  }
}

// Every token's input quantized once for the routed experts' gate_proj and up_proj (int8
// activations on panels, more than one token), and the tokens of the expert at hand: gate and up
// then read those tokens in place, where they would copy and quantize them per expert and matrix.
struct quantized_inputs {
  const quant::int8_activations_view* gate = nullptr;  // null: none
  const quant::int8_activations_view* up = nullptr;
  std::span<const std::uint32_t> tokens;
};

// The calling thread's buffers for quantized_inputs (gate's, and up's when its format differs).
inline quant::int8_activations& thread_activations(std::size_t i) {
  static thread_local quant::int8_activations a[2];
  return a[i];
}

// y [m, D] = down(silu(gate x) * up x) for m tokens x [m, D] of one expert (or, with quantized
// inputs, its tokens of them; x unused): each token's row has the bits glu_forward gives it alone.
// With int8 activations the tokens run through qmm_int8 together (its rows are qmv_int8's;
// silu_mul row by row); exact, glu_forward per token (the batch-invariant qmm gives the same bits
// but is slower than per-token swiglu today, bench_quant).
inline void glu_forward_batch(const quant::qmatrix_view& gate, const quant::qmatrix_view& up,
                              const quant::qmatrix_view& down, std::span<const float> x, std::size_t m,
                              std::span<float> y, const moe_options& opt, std::vector<float>& h,
                              std::vector<float>& u, const parallel& par, const glu_panels& panels = {},
                              const quantized_inputs& quantized = {}) {
  if (!quantized.gate && (m == 1 || !opt.batched || !opt.int8_activations)) {
    for (std::size_t t = 0; t < m; ++t)
      glu_forward(gate, up, down, x.subspan(t * gate.cols, gate.cols), y.subspan(t * down.rows, down.rows), opt, h, u, par);
    return;
  }
  const std::size_t I = gate.rows;
  h.resize(m * I);
  u.resize(2 * m * I);
  const std::span<float> g(u.data(), m * I), v(u.data() + m * I, m * I);
  const auto mm = [&](const quant::qmatrix_view& w, const quant::int8_panels_view* pw, std::span<const float> in,
                      std::span<float> out) {
    if (pw) {
      quant::qmm_int8(*pw, in, m, out, par);
    } else {
      quant::qmm_int8(w, in, m, out, par);
    }
  };
  if (quantized.gate) {
    quant::qmm_int8(*panels.gate, *quantized.gate, quantized.tokens, g, par);
    quant::qmm_int8(*panels.up, *quantized.up, quantized.tokens, v, par);
  } else {
    mm(gate, panels.gate, x, g);
    mm(up, panels.up, x, v);
  }
  for (std::size_t t = 0; t < m; ++t) silu_mul(g.subspan(t * I, I), v.subspan(t * I, I), std::span(h).subspan(t * I, I));
  mm(down, panels.down, h, y);
}

// Throws famx::error (at `path`) unless panels v have the shape and format of matrix f (`what`).
inline void check_panels_of(const quant::qmatrix_view& f, const quant::int8_panels_view& v, const std::string& path,
                            const char* what) {
  if (v.rows != f.rows || v.cols != f.cols || v.format != f.format)
    throw error(errc::shape_mismatch, path, std::to_string(v.rows) + "x" + std::to_string(v.cols) + " " + quant::to_string(v.format),
                std::to_string(f.rows) + "x" + std::to_string(f.cols) + " " + quant::to_string(f.format) + " (" + what + ")");
}

// Throws famx::error unless w.int8_panels holds, per stack, one panel matrix per expert of the
// expert's shape and format, and the shared expert's panels (where given) match its matrices.
inline void check_int8_panels(const moe_block_weights& w) {
  const char* names[] = {"gate_proj", "up_proj", "down_proj"};
  if (w.int8_panels) {
    const std::pair<const stacked_qmatrix*, const std::vector<quant::int8_panels>*> stacks[] = {
        {&w.gate_proj, &w.int8_panels->gate_proj}, {&w.up_proj, &w.int8_panels->up_proj},
        {&w.down_proj, &w.int8_panels->down_proj}};
    for (std::size_t i = 0; i < 3; ++i) {
      const auto [stack, panels] = stacks[i];
      const std::string path = std::string("moe_block_weights.int8_panels.") + names[i];
      if (panels->size() != stack->experts)
        throw error(errc::shape_mismatch, path, std::to_string(panels->size()) + " experts",
                    std::to_string(stack->experts) + " (the stack's experts)");
      for (const auto& p : *panels) check_panels_of(stack->first, p.view(), path, "the stack's experts");
    }
  }
  if (w.shared) {
    const glu_view& g = *w.shared;
    const std::pair<const quant::qmatrix_view*, const quant::int8_panels_view*> shared[] = {
        {&g.gate_proj, g.int8_panels.gate}, {&g.up_proj, g.int8_panels.up}, {&g.down_proj, g.int8_panels.down}};
    for (std::size_t i = 0; i < 3; ++i)
      if (shared[i].second)
        check_panels_of(*shared[i].first, *shared[i].second, std::string("moe_block_weights.shared.int8_panels.") + names[i],
                        "the shared expert's matrix");
  }
}

}  // namespace detail

// out [T, D] = the MoE block applied to x [T, D] (as one rank of a split model when `split` is
// given). Throws famx::error on inconsistent weights or sizes. The calling thread keeps its
// largest call's T * k * D floats of expert outputs for the next call (detail::pair_outputs) and
// its quantized inputs (detail::thread_activations), and every thread that runs experts keeps its
// largest run's buffers (detail::thread_expert_buffers).
inline moe_stats moe_block(const routing_config& c, const moe_block_weights& w, std::span<const float> x,
                           std::size_t tokens, std::span<float> out, const moe_options& opt = {},
                           const parallel& par = {}, const moe_split* split = nullptr) {
  const std::size_t E = c.num_experts, k = c.num_experts_per_tok, D = w.gate.cols();
  const std::span<const std::int32_t> local = split ? split->local_expert : std::span<const std::int32_t>{};
  if (!local.empty() && local.size() != E)
    throw error(errc::shape_mismatch, "moe_split.local_expert", std::to_string(local.size()) + " entries",
                std::to_string(E) + " (num_experts)");
  const std::size_t held = local.empty() ? E : static_cast<std::size_t>(std::ranges::count_if(local, [](std::int32_t i) { return i >= 0; }));
  if (w.gate.rows() != E)
    throw error(errc::shape_mismatch, "mlp.gate", std::to_string(w.gate.rows()) + " rows",
                std::to_string(E) + " (num_experts)");
  if (w.gate_proj.experts != held || w.up_proj.experts != held || w.down_proj.experts != held)
    throw error(errc::shape_mismatch, "mlp.switch_mlp", std::to_string(w.gate_proj.experts) + " experts",
                std::to_string(held) + (local.empty() ? " (num_experts)" : " (the experts this rank holds)"));
  if (w.down_proj.first.rows != D || w.gate_proj.first.cols != D)
    throw error(errc::shape_mismatch, "mlp.switch_mlp.down_proj", std::to_string(w.down_proj.first.rows) + " rows",
                std::to_string(D) + " (hidden_size)");
  detail::check_int8_panels(w);
  if (x.size() != tokens * D || out.size() != tokens * D)
    throw error(errc::shape_mismatch, "moe_block.x", std::to_string(x.size()) + " / " + std::to_string(out.size()) +
                " elements", std::to_string(tokens * D) + " (tokens * hidden_size) for x and out");

  // Router: one gate product per token (batch-invariant: a token's logits never depend on others),
  // tokens across threads when there are enough of them (detail::for_each_item).
  std::vector<float> logits(tokens * E);
  detail::for_each_item(tokens, par, [&](std::size_t t, const parallel& p) {
    w.gate.apply(x.subspan(t * D, D), std::span<float>(logits).subspan(t * E, E), p);
  });
  moe_stats stats{route(c, logits, w.e_score_correction_bias, tokens, par)};
  const routing& r = stats.routing;

  // The pairs to run, in run order.
  std::vector<std::int32_t> pairs;
  std::vector<std::uint8_t> dropped(tokens * k, 0);
  if (opt.capacity_factor > 0) {
    stats.capacity = expert_capacity(opt.capacity_factor, tokens, k, E);
    const auto cd = dispatch_with_capacity(r, E, stats.capacity);
    for (std::int32_t p : cd.slots)
      if (p >= 0) pairs.push_back(p);
    dropped = cd.dropped;
    stats.dropped_pairs = cd.dropped_pairs;
  } else if (opt.sorted) {
    pairs = dispatch(r, E).order;
  } else {
    pairs.resize(tokens * k);
    for (std::size_t p = 0; p < pairs.size(); ++p) pairs[p] = static_cast<std::int32_t>(p);
  }
  if (!local.empty())  // this rank runs the pairs of the experts it holds
    std::erase_if(pairs, [&](std::int32_t p) { return local[static_cast<std::size_t>(r.experts[static_cast<std::size_t>(p)])] < 0; });

  // Experts: the pairs in runs of one expert (a whole expert's tokens under sorted dispatch), each
  // run's tokens through the batched kernels at once; many runs -> runs across threads, few -> rows
  // across threads inside each kernel.
  // Every pair not run (another rank's expert, dropped by capacity) keeps a zero output.
  const std::span<float> y = detail::pair_outputs(tokens * k * D, pairs.size() != tokens * k);
  const auto expert_of = [&](std::int32_t p) {
    const auto e = static_cast<std::size_t>(r.experts[static_cast<std::size_t>(p)]);
    return local.empty() ? e : static_cast<std::size_t>(local[e]);
  };
  std::vector<std::size_t> runs;  // run i is pairs [runs[i], runs[i + 1])
  for (std::size_t i = 0; i < pairs.size(); ++i)
    if (i == 0 || expert_of(pairs[i]) != expert_of(pairs[i - 1])) runs.push_back(i);
  runs.push_back(pairs.size());
  // With int8 activations on panels and more than one token, every token's x is quantized once for
  // all experts' gate and up (detail::quantized_inputs).
  detail::quantized_inputs quantized;
  if (opt.int8_activations && opt.batched && w.int8_panels && tokens > 1) {
    const quant::affine_format gf = w.gate_proj.first.format, uf = w.up_proj.first.format;
    quantized.gate = &detail::thread_activations(0).quantize(gf, D, x, tokens, par);
    quantized.up = uf == gf ? quantized.gate : &detail::thread_activations(1).quantize(uf, D, x, tokens, par);
  }
  auto run_experts = [&](std::size_t ri, const parallel& kp) {
    auto& [xs, ys, h, u, run_tokens] = detail::thread_expert_buffers();
    const std::size_t b = runs[ri], n = runs[ri + 1] - b, e = expert_of(pairs[b]);
    ys.resize(n * D);
    detail::quantized_inputs q = quantized;
    if (q.gate) {
      run_tokens.resize(n);
      for (std::size_t i = 0; i < n; ++i) run_tokens[i] = static_cast<std::uint32_t>(pairs[b + i]) / static_cast<std::uint32_t>(k);
      q.tokens = run_tokens;
    } else {
      xs.resize(n * D);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t t = static_cast<std::size_t>(pairs[b + i]) / k;
        std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(t * D), D, xs.begin() + static_cast<std::ptrdiff_t>(i * D));
      }
    }
    glu_panels panels;
    if (w.int8_panels)
      panels = {&w.int8_panels->gate_proj[e].view(), &w.int8_panels->up_proj[e].view(), &w.int8_panels->down_proj[e].view()};
    const std::span<const float> in = q.gate ? std::span<const float>{} : std::span<const float>(xs);
    detail::glu_forward_batch(w.gate_proj[e], w.up_proj[e], w.down_proj[e], in, n, ys, opt, h, u, kp, panels, q);
    for (std::size_t i = 0; i < n; ++i)
      std::copy_n(ys.begin() + static_cast<std::ptrdiff_t>(i * D), D,
                  y.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(pairs[b + i]) * D));
  };
  detail::for_each_item(runs.size() - 1, par, run_experts);

  if (split && split->routed) split->routed(y, r);

  // The shared expert of every token, then the combine in fp32 (tokens across threads): choices in
  // order, then the shared expert.
  std::vector<float> shared;
  if (w.shared) {
    shared.resize(tokens * D);
    auto& b = detail::thread_expert_buffers();
    detail::glu_forward_batch(w.shared->gate_proj, w.shared->up_proj, w.shared->down_proj, x, tokens, shared, opt, b.h, b.u, par,
                              w.shared->int8_panels);
    if (split && split->shared) split->shared(shared);
  }
  detail::for_each_item(tokens, par, [&](std::size_t t, const parallel& tp) {
    float* o = out.data() + t * D;
    for (std::size_t j = 0; j < D; ++j) o[j] = 0.0f;
    for (std::size_t i = 0; i < k; ++i) {
      const std::size_t p = t * k + i;
      if (dropped[p]) continue;
      const float wt = r.weights[p];
      for (std::size_t j = 0; j < D; ++j) o[j] += wt * y[p * D + j];
    }
    if (w.shared) {
      float scale = 1.0f;
      if (w.shared_expert_gate) {
        float gate_value = 0.0f;
        w.shared_expert_gate->apply(x.subspan(t * D, D), std::span(&gate_value, 1), tp);
        scale = 1.0f / (1.0f + std::exp(-gate_value));
      }
      for (std::size_t j = 0; j < D; ++j) o[j] += scale * shared[t * D + j];
    }
  });
  return stats;
}

}  // namespace famx::moe
