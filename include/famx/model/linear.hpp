#pragma once
// model::linear: one projection y = W x (+ b) of the reference forward, over a forward call's
// tokens at once, with W either dense fp32 (the dequantized path) or an MLX-quantized view run by
// the quantized kernels (qmv, or qmv_int8 / qmm_int8 with int8 activations, optionally on
// load-time int8 panels).
// Calls the SIMD kernels, so it includes <famx/kernels.hpp> first.

#include <famx/kernels.hpp>  // first: it owns Highway's per-target compilation

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/model/forward_options.hpp"
#include "famx/quant/int8_panels.hpp"
#include "famx/quant/matmul.hpp"
#include "famx/quant/qmatrix.hpp"
#include "famx/quant/quantize.hpp"

namespace famx::model {

// y = W x for a dense fp32 W [rows, cols] (row-major), rows [r0, r1) of it. Each row is a
// famx::tree_sum over blocks of dense_sum_block columns, each block summed in fp64 in column order
// and rounded once, so that a row-parallel split into a power-of-two number of whole-block slices,
// followed by a tree_sum of the slices' results, reproduces the unsplit row bit for bit (the products
// are exact in fp64, so FMA contraction cannot change a block's sum either).
inline void dense_matvec(const float* w, std::size_t cols, std::span<const float> x, std::span<float> y, std::size_t r0,
                         std::size_t r1) {
  const std::size_t blocks = (cols + dense_sum_block - 1) / dense_sum_block;
  std::vector<float> part(std::max<std::size_t>(blocks, 1));
  for (std::size_t r = r0; r < r1; ++r) {
    const float* wr = w + r * cols;
    for (std::size_t b = 0; b < blocks; ++b) {
      double acc = 0;
      for (std::size_t c = b * dense_sum_block; c < std::min(cols, (b + 1) * dense_sum_block); ++c) acc += static_cast<double>(wr[c]) * x[c];
      part[b] = static_cast<float>(acc);
    }
    y[r] = blocks == 0 ? 0.0f : tree_sum(part.data(), blocks);
  }
}
// y = W x for a dense fp32 W [rows, cols], every row.
inline void dense_matvec(const float* w, std::size_t rows, std::size_t cols, std::span<const float> x, std::span<float> y) {
  dense_matvec(w, cols, x, y, 0, rows);
}

// W [rows, cols] and an optional bias [rows]. `dense` holds W row-major in fp32 when the weight
// is float or was dequantized; `quantized` is set when the quantized kernels run it. A `partial`
// projection holds a row-parallel slice of its columns (a split model): apply() gives the slice's
// partial sums, and its bias is added by add_bias() once the ranks' partials are summed.
// `int8_panels`, when built, holds the quantized W in qmm_int8's panel layout for calls of more
// than one token with int8 activations (the same bits, without the per-call repack).
struct linear {
  std::size_t rows = 0, cols = 0;
  std::vector<float> dense;
  std::optional<quant::qmatrix_view> quantized;
  std::vector<float> bias;
  bool partial = false;
  std::shared_ptr<const quant::int8_panels> int8_panels;

  // Builds int8_panels on par's threads when W is quantized with codes qmm_int8 multiplies in
  // integers (4- or 8-bit), otherwise leaves it empty; returns the panels' bytes (0: none).
  std::size_t build_int8_panels(const parallel& par = {}) {
    if (!quantized || !quant::int8_widths::contains(quantized->format.bits)) return 0;
    int8_panels = std::make_shared<const quant::int8_panels>(*quantized, par);
    return int8_panels->bytes();
  }

  // y [m, rows] = x [m, cols] W^T + b (without b when partial). Each token's row has the bits of a
  // one-token call on it, for any m and any o.threads: quantized with int8 activations, qmm_int8 (its
  // rows are qmv_int8's; on int8_panels when built and m > 1); quantized exact, qmv per token (the
  // batch-invariant qmm gives the same bits but is slower than m qmv calls today, bench_quant);
  // dense, dense_matvec per token, rows split over the threads.
  void apply(std::span<const float> x, std::size_t m, std::span<float> y, const forward_options& o = {}) const {
    if (x.size() != m * cols || y.size() != m * rows)
      throw error(errc::shape_mismatch, "linear.apply", std::to_string(x.size()) + " inputs, " + std::to_string(y.size()) + " outputs",
                  std::to_string(m) + " tokens x " + std::to_string(cols) + " inputs, x " + std::to_string(rows) + " outputs");
    if (quantized && o.int8_activations) {
      if (m == 1) quant::qmv_int8(*quantized, x, y, o.threads);
      else if (int8_panels) quant::qmm_int8(int8_panels->view(), x, m, y, o.threads);
      else quant::qmm_int8(*quantized, x, m, y, o.threads);
    } else if (quantized) {
      for (std::size_t t = 0; t < m; ++t) quant::qmv(*quantized, x.subspan(t * cols, cols), y.subspan(t * rows, rows), o.threads);
    } else {
      const std::size_t per = workers_rows(rows, o.threads.workers), chunks = (rows + per - 1) / per;
      o.threads.for_each(chunks, [&](std::size_t ci) {
        for (std::size_t t = 0; t < m; ++t)
          dense_matvec(dense.data(), cols, x.subspan(t * cols, cols), y.subspan(t * rows, rows), ci * per,
                       std::min(rows, (ci + 1) * per));
      });
    }
    if (!partial)
      for (std::size_t t = 0; t < m; ++t) add_bias(y.subspan(t * rows, rows));
  }
  // y = W x + b for one token (without b when partial).
  void apply(std::span<const float> x, std::span<float> y, const forward_options& o = {}) const { apply(x, 1, y, o); }
  // y += b.
  void add_bias(std::span<float> y) const {
    for (std::size_t r = 0; r < bias.size(); ++r) y[r] += bias[r];
  }
  // Row r of W in fp32 (an embedding lookup): dequantized by row when quantized.
  std::vector<float> row(std::size_t r) const {
    if (!quantized) return {dense.begin() + static_cast<std::ptrdiff_t>(r * cols),
                            dense.begin() + static_cast<std::ptrdiff_t>((r + 1) * cols)};
    const tensor t = quant::dequantize(quantized->row_range(r, 1), dtype::f32);
    const auto v = t.as<float>();
    return {v.begin(), v.end()};
  }
};

}  // namespace famx::model
