#pragma once
// qmm_int8's quantized activations: tokens quantized per group exactly as qmv_int8 quantizes one,
// laid out for its register tiles, so that several products of the same input (an MoE block's
// experts, gate and up, q, k and v) quantize it once. int8_activations owns such a buffer.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/targets.hpp"
#include "famx/quant/format.hpp"

namespace famx::quant {

// `tokens` tokens of `cols` activations quantized for weights of `format`: data holds words() u32,
// the group sums [tokens][G] and scales a_g = max|x_g| / 127 [tokens][G] as f32, then each token's
// cols int8 codes rint(x / a_g) as cols / 4 words, in the order weights of format.bits meet them
// (8-bit: natural; 4-bit: per 8 codes, the even ones then the odd ones, a weight word's low and high
// nibbles).
struct int8_activations_view {
  const std::uint32_t* data = nullptr;
  affine_format format;
  std::size_t tokens = 0, cols = 0;

  std::size_t groups() const noexcept { return format.groups(cols); }
  std::size_t words() const noexcept { return tokens * (2 * groups() + cols / 4); }
  const float* sums() const noexcept { return reinterpret_cast<const float*>(data); }
  const float* scales() const noexcept { return sums() + tokens * groups(); }
  const std::uint32_t* codes() const noexcept { return data + 2 * tokens * groups(); }
};

namespace detail {

// Throws famx::error unless `format` has 4- or 8-bit codes and x [m, cols] fits it.
inline void check_quantize_int8_args(const affine_format& format, std::size_t cols, std::size_t x_size,
                                     std::size_t m) {
  const std::string f = "quantize_int8_activations";
  if (auto r = validate_cols(format, cols, f + ".format"); !r) throw r.err();
  if (format.bits != 4 && format.bits != 8)
    throw error(errc::unsupported, f + ".format.bits", std::to_string(format.bits), "4 or 8 (qmm_int8's integer widths)");
  if (x_size != m * cols)
    throw error(errc::shape_mismatch, f + ".x", std::to_string(x_size) + " elements",
                std::to_string(m * cols) + " elements (m * cols)");
}

// check_quantize_int8_args, and that out holds the activations' words.
inline void check_quantize_int8_args(const affine_format& format, std::size_t cols, std::size_t x_size,
                                     std::size_t m, std::size_t out_size) {
  check_quantize_int8_args(format, cols, x_size, m);
  const std::size_t words = int8_activations_view{nullptr, format, m, cols}.words();
  if (out_size != words)
    throw error(errc::shape_mismatch, "quantize_int8_activations.out", std::to_string(out_size) + " elements",
                std::to_string(words) + " elements (int8_activations_view::words)");
}

}  // namespace detail

inline namespace FAMX_ABI {

// Quantizes x [m, cols] for weights of `format` into out (int8_activations_view{out, format, m,
// cols}.words() u32), tokens split over par's threads. Throws famx::error unless format has 4- or
// 8-bit codes, cols is a multiple of its group size and the sizes match. Defined by
// <famx/kernels.hpp>, like the kernels; int8_activations calls it.
FAMX_KERNEL_LINKAGE void quantize_int8_activations(const affine_format& format, std::size_t cols,
                                                   std::span<const float> x, std::size_t m,
                                                   std::span<std::uint32_t> out, const parallel& par = {});

}  // namespace FAMX_ABI

}  // namespace famx::quant
