#pragma once
// qmm_int8's panel layout: an MLX-quantized matrix's numbers in another order (the codes of 32 rows
// side by side, scales and biases widened exactly to f32), so that each SIMD lane accumulates its
// own row. qmm_int8 builds it per call from an MLX view, or reads it built once (int8_panels).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/targets.hpp"
#include "famx/quant/format.hpp"
#include "famx/quant/qmatrix.hpp"

namespace famx::quant {

// Rows per panel: the widest register tile's rows (two vectors of 16 f32 lanes).
inline constexpr std::size_t kPanelRows = 32;

// A matrix in panel layout. Panel p covers rows [32p, 32p + 32); it is panel_words() u32: the codes
// [words][32] (word k of the panel's rows side by side), then scales [G][32] and biases [G][32] as
// f32. Rows past `rows` are zero.
struct int8_panels_view {
  const std::uint32_t* data = nullptr;
  affine_format format;
  std::size_t rows = 0, cols = 0;

  std::size_t groups() const noexcept { return format.groups(cols); }
  std::size_t panels() const noexcept { return (rows + kPanelRows - 1) / kPanelRows; }
  std::size_t panel_words() const noexcept { return kPanelRows * (format.packed_words(cols) + 2 * groups()); }
  const std::uint32_t* panel(std::size_t p) const noexcept { return data + p * panel_words(); }
};

namespace detail {

// Throws famx::error naming `name` unless codes of `bits` fit the panel layout (4 or 8).
inline void check_panel_bits(int bits, const std::string& name) {
  if (bits != 4 && bits != 8)
    throw error(errc::unsupported, name + ".bits", std::to_string(bits), "4 or 8 (qmm_int8's integer widths)");
}

// Throws famx::error naming `name` unless w is a usable matrix with 4- or 8-bit codes.
inline void check_int8_panels_source(const qmatrix_view& w, const std::string& name) {
  check_qmatrix(w, name);
  check_panel_bits(w.format.bits, name);
}

}  // namespace detail

inline namespace FAMX_ABI {

// Writes every panel of w to out (panels() * panel_words() u32 for w's shape), panels split over
// par's threads. Throws famx::error unless w is a usable matrix with 4- or 8-bit codes and out
// has that size. Defined by <famx/kernels.hpp>, like the kernels; int8_panels calls it.
FAMX_KERNEL_LINKAGE void fill_int8_panels(const qmatrix_view& w, std::span<std::uint32_t> out, const parallel& par = {});

}  // namespace FAMX_ABI

}  // namespace famx::quant
