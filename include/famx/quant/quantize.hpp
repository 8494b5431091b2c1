#pragma once
// quantize / dequantize in the MLX affine format, bit for bit as MLX computes them:
// rounding::cpu is MLX's CPU kernel (quantize<T,U> in backend/cpu/quantized.cpp),
// rounding::gpu its Metal/CUDA kernels (w_max starts at 0, round half away from zero).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "famx/core/dtype.hpp"
#include "famx/core/error.hpp"
#include "famx/core/tensor.hpp"
#include "famx/quant/format.hpp"
#include "famx/quant/pack.hpp"
#include "famx/quant/qmatrix.hpp"

namespace famx::quant {

// Which MLX quantize kernel to reproduce (they differ on all-negative groups and .5 ties).
enum class rounding { cpu, gpu };

// An owning quantized matrix (or a stack of them: packed [..., out, in*bits/32]).
struct quantized {
  tensor packed, scales, biases;
  affine_format format;

  // The view of matrix `e` of a stack (e = 0 for a plain matrix).
  qmatrix_view view(std::size_t e = 0) const {
    const auto& pd = packed.dims();
    const std::size_t r = pd.rank();
    const auto rows = static_cast<std::size_t>(pd[r - 2]);
    const auto words = static_cast<std::size_t>(pd[r - 1]);
    const auto groups = static_cast<std::size_t>(scales.dims()[r - 1]);
    const std::size_t ss = size_of(scales.type());
    return {packed.as<std::uint32_t>().data() + e * rows * words,
            static_cast<const std::byte*>(scales.data()) + e * rows * groups * ss,
            static_cast<const std::byte*>(biases.data()) + e * rows * groups * ss,
            scales.type(), format, rows, words * 32 / static_cast<std::size_t>(format.bits), words,
            groups};
  }
};

namespace detail {

// One group: computes codes, scale and bias as MLX does (fp32 arithmetic throughout).
inline void quantize_group(const float* w, std::size_t n, int bits, rounding mode, std::uint8_t* codes,
                           float& scale_out, float& bias_out) {
  float w_max = mode == rounding::gpu ? 0.0f : -std::numeric_limits<float>::infinity();
  float w_min = mode == rounding::gpu ? std::numeric_limits<float>::max()
                                      : std::numeric_limits<float>::infinity();
  for (std::size_t j = 0; j < n; ++j) {
    w_max = std::max(w_max, w[j]);
    w_min = std::min(w_min, w[j]);
  }
  const float n_bins = static_cast<float>((1 << bits) - 1);
  const float eps = 1e-7f;
  const bool mask = std::fabs(w_min) > std::fabs(w_max);
  float scale = std::max((w_max - w_min) / n_bins, eps);
  scale = mask ? scale : -scale;
  const float edge = mask ? w_min : w_max;
  auto round = [mode](float v) { return mode == rounding::gpu ? std::round(v) : std::nearbyint(v); };
  const float q0 = round(edge / scale);
  float bias = 0.0f;
  if (q0 != 0.0f) {
    scale = edge / q0;
    bias = edge;
  }
  for (std::size_t j = 0; j < n; ++j) {
    float q = round((w[j] - bias) / scale);
    // The CPU kernel clips to [0, n_bins]; the GPU kernels clamp above only, and their codes
    // are never negative (w_max >= 0 keeps the zero edge inside the range).
    q = std::min(std::max(q, 0.0f), n_bins);
    codes[j] = static_cast<std::uint8_t>(q);
  }
  scale_out = scale;
  bias_out = bias;
}

}  // namespace detail

// Quantizes w (f32, f16 or bf16, rank >= 2, quantized along the last axis) into `fmt`.
// Scales and biases are stored in `scale_type` (MLX stores them in w's dtype; pass w.type).
// Errors: bad bits or group size, `in` not a multiple of the group, NaN or infinite weights.
inline result<quantized> quantize(const tensor_view& w, affine_format fmt, dtype scale_type,
                                  rounding mode = rounding::cpu, std::string_view name = "weight") {
  const std::string n(name);
  if (w.dims.rank() < 2)
    return error(errc::shape_mismatch, n, to_string(w.dims), "rank >= 2 ([..., out, in])");
  if (w.type != dtype::f32 && w.type != dtype::f16 && w.type != dtype::bf16)
    return error(errc::wrong_type, n, std::string(to_string(w.type)), "f32, f16 or bf16 weights");
  if (scale_type != dtype::f32 && scale_type != dtype::f16 && scale_type != dtype::bf16)
    return error(errc::wrong_type, n + ".scales", std::string(to_string(scale_type)), "f32, f16 or bf16");
  if (!w.is_contiguous()) return error(errc::unsupported, n, "a strided view", "a contiguous tensor");
  const auto cols = static_cast<std::size_t>(w.dims.dim(-1));
  if (auto r = validate_cols(fmt, cols, n); !r) return r.err();
  const std::size_t rows = static_cast<std::size_t>(w.numel()) / cols;

  shape packed_shape = w.dims, group_shape = w.dims;
  packed_shape[w.dims.rank() - 1] = static_cast<std::int64_t>(fmt.packed_words(cols));
  group_shape[w.dims.rank() - 1] = static_cast<std::int64_t>(fmt.groups(cols));
  quantized q{tensor(dtype::u32, packed_shape), tensor(scale_type, group_shape),
              tensor(scale_type, group_shape), fmt};
  const std::size_t gs = static_cast<std::size_t>(fmt.group_size), groups = fmt.groups(cols);
  std::vector<float> row(cols);
  std::vector<std::uint8_t> codes(cols);
  auto* packed = q.packed.as<std::uint32_t>().data();
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < cols; ++j) {
      row[j] = load_float(w.data, w.type, r * cols + j);
      if (!std::isfinite(row[j]))
        return error(errc::invalid_value, n + "[" + std::to_string(r) + ", " + std::to_string(j) + "]",
                     std::isnan(row[j]) ? "NaN" : "an infinite value", "finite weights");
    }
    for (std::size_t g = 0; g < groups; ++g) {
      float s, b;
      detail::quantize_group(&row[g * gs], gs, fmt.bits, mode, &codes[g * gs], s, b);
      store_float(q.scales.data(), scale_type, r * groups + g, s);
      store_float(q.biases.data(), scale_type, r * groups + g, b);
    }
    pack_row(codes.data(), cols, fmt.bits, packed + r * fmt.packed_words(cols));
  }
  return q;
}

// Dequantizes into `out_type` (f32, f16 or bf16; MLX's default is the scales dtype).
// When out_type is the scales dtype the arithmetic is MLX's CPU one, T(T(q*s) + b), each step
// rounded to T; into f32 it is fl(fl(s*q) + b).
inline tensor dequantize(const qmatrix_view& w, dtype out_type) {
  tensor out(out_type, {static_cast<std::int64_t>(w.rows), static_cast<std::int64_t>(w.cols)});
  const std::size_t gs = static_cast<std::size_t>(w.format.group_size);
  const bool round_steps = out_type == w.scale_type && out_type != dtype::f32;
  for (std::size_t r = 0; r < w.rows; ++r) {
    for (std::size_t j = 0; j < w.cols; ++j) {
      const float s = w.scale(r, j / gs), b = w.bias(r, j / gs);
      float qs = static_cast<float>(unpack_code(w.row(r), w.format.bits, j)) * s;
      if (round_steps) qs = round_to(out_type, qs);
      store_float(out.data(), out_type, r * w.cols + j, qs + b);
    }
  }
  return out;
}

}  // namespace famx::quant
