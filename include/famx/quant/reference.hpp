#pragma once
// The fp64 scalar reference for quantized and dense matrix-vector products: the ground truth the
// SIMD kernels are tested against, and the baseline the benchmarks compare with.

#include <cmath>
#include <cstddef>
#include <span>

#include "famx/quant/pack.hpp"
#include "famx/quant/qmatrix.hpp"

namespace famx::quant {

// y[r] = sum_j x[j] * (s[r, j/gs] * q[r, j] + b[r, j/gs]) in double; if magnitude is given,
// magnitude[r] = sum_j |x[j] * w_hat[r, j]| (the scale of the rounding error a float kernel may make).
inline void reference_qmv(const qmatrix_view& w, std::span<const float> x, std::span<double> y,
                          std::span<double> magnitude = {}) {
  const std::size_t gs = static_cast<std::size_t>(w.format.group_size);
  for (std::size_t r = 0; r < w.rows; ++r) {
    double acc = 0, mag = 0;
    for (std::size_t g = 0; g < w.groups(); ++g) {
      const double s = w.scale(r, g), b = w.bias(r, g);
      for (std::size_t j = g * gs; j < (g + 1) * gs; ++j) {
        const double wj = s * unpack_code(w.row(r), w.format.bits, j) + b;
        acc += static_cast<double>(x[j]) * wj;
        mag += std::fabs(static_cast<double>(x[j]) * wj);
      }
    }
    y[r] = acc;
    if (!magnitude.empty()) magnitude[r] = mag;
  }
}

// y[r] = sum_j x[j] * w[r, j] in double for a dense f32, f16 or bf16 matrix [rows, cols].
inline void reference_matvec(const tensor_view& w, std::span<const float> x, std::span<double> y,
                             std::span<double> magnitude = {}) {
  const auto rows = static_cast<std::size_t>(w.dims[0]), cols = static_cast<std::size_t>(w.dims[1]);
  for (std::size_t r = 0; r < rows; ++r) {
    double acc = 0, mag = 0;
    for (std::size_t j = 0; j < cols; ++j) {
      const double p = static_cast<double>(x[j]) *
                       load_float(w.data, w.type, r * static_cast<std::size_t>(w.strides[0]) + j);
      acc += p;
      mag += std::fabs(p);
    }
    y[r] = acc;
    if (!magnitude.empty()) magnitude[r] = mag;
  }
}

}  // namespace famx::quant
