#pragma once
// model::linear: one projection y = W x (+ b) of the reference forward, with W either dense fp32
// (the dequantized path) or an MLX-quantized view run by the quantized kernels (famx::quant::qmv).
// Calls the SIMD kernels, so it includes <famx/kernels.hpp> first.

#include <famx/kernels.hpp>  // first: it owns Highway's per-target compilation

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "famx/quant/matmul.hpp"
#include "famx/quant/qmatrix.hpp"
#include "famx/quant/quantize.hpp"

namespace famx::model {

// y = W x for a dense fp32 W [rows, cols] (row-major), each row accumulated in fp64 in column order.
inline void dense_matvec(const float* w, std::size_t rows, std::size_t cols, std::span<const float> x, std::span<float> y) {
  for (std::size_t r = 0; r < rows; ++r) {
    double acc = 0;
    const float* wr = w + r * cols;
    for (std::size_t c = 0; c < cols; ++c) acc += static_cast<double>(wr[c]) * x[c];
    y[r] = static_cast<float>(acc);
  }
}

// W [rows, cols] and an optional bias [rows]. `dense` holds W row-major in fp32 when the weight
// is float or was dequantized; `quantized` is set when the quantized kernels run it.
struct linear {
  std::size_t rows = 0, cols = 0;
  std::vector<float> dense;
  std::optional<quant::qmatrix_view> quantized;
  std::vector<float> bias;

  // y = W x + b.
  void apply(std::span<const float> x, std::span<float> y) const {
    if (quantized) {
      quant::qmv(*quantized, x, y);
    } else {
      dense_matvec(dense.data(), rows, cols, x, y);
    }
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
