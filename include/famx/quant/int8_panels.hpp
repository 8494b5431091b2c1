#pragma once
// int8_panels: qmm_int8's weight layout (quant/panel_layout.hpp), built once (at load time) from an
// MLX-quantized matrix so that batched int8 calls skip qmm_int8's per-call repack. The MLX layout
// stays the storage format; qmm_int8 on the panels gives the bits it gives on the MLX view (each
// token's row is qmv_int8's). It fills the panels with a SIMD kernel, so it includes
// <famx/kernels.hpp> first.

#include <famx/kernels.hpp>  // first: it owns Highway's per-target compilation

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

#include <hwy/aligned_allocator.h>

#include "famx/core/parallel.hpp"
#include "famx/quant/panel_layout.hpp"
#include "famx/quant/qmatrix.hpp"

namespace famx::quant {

// Owns the panel layout of one matrix with 4- or 8-bit codes (the widths qmm_int8 multiplies in
// integers). It takes kPanelRows-aligned rows, so its bytes are the MLX bytes plus the widening of
// scales and biases to f32 (4-bit group 64 with bf16 scales: 1.11x).
class int8_panels {
 public:
  // The panels of w, filled on par's threads. Throws famx::error naming `name` unless w is a
  // usable matrix with 4- or 8-bit codes.
  explicit int8_panels(const qmatrix_view& w, const parallel& par = {}, const std::string& name = "int8_panels.w") {
    detail::check_int8_panels_source(w, name);
    view_ = {nullptr, w.format, w.rows, w.cols};
    data_ = hwy::AllocateAligned<std::uint32_t>(std::max<std::size_t>(1, view_.panels() * view_.panel_words()));
    if (!data_) throw std::bad_alloc();
    view_.data = data_.get();
    fill_int8_panels(w, {data_.get(), view_.panels() * view_.panel_words()}, par);
  }
  // The panels (valid while this object lives).
  const int8_panels_view& view() const noexcept { return view_; }
  // Bytes the panels occupy.
  std::size_t bytes() const noexcept { return view_.panels() * view_.panel_words() * sizeof(std::uint32_t); }

 private:
  hwy::AlignedFreeUniquePtr<std::uint32_t[]> data_;
  int8_panels_view view_;
};

}  // namespace famx::quant
