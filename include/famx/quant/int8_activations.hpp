#pragma once
// int8_activations: a reusable buffer of qmm_int8's quantized activations (quant/activation_layout.hpp),
// so that an input several products share is quantized once. It quantizes with a SIMD kernel, so
// it includes <famx/kernels.hpp> first.

#include <famx/kernels.hpp>  // first: it owns Highway's per-target compilation

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>

#include <hwy/aligned_allocator.h>

#include "famx/core/parallel.hpp"
#include "famx/quant/activation_layout.hpp"

namespace famx::quant {

// Owns quantized activations; the buffer grows to the largest call and is reused.
class int8_activations {
 public:
  // Quantizes x [m, cols] for weights of `format` (quantize_int8_activations, which throws
  // famx::error on bad arguments) and returns the view, valid until the next call.
  const int8_activations_view& quantize(const affine_format& format, std::size_t cols, std::span<const float> x,
                                        std::size_t m, const parallel& par = {}) {
    view_ = {};
    detail::check_quantize_int8_args(format, cols, x.size(), m);  // before sizing by the format
    const std::size_t words = int8_activations_view{nullptr, format, m, cols}.words();
    if (words > capacity_) {
      data_ = hwy::AllocateAligned<std::uint32_t>(words);
      if (!data_) throw std::bad_alloc();
      capacity_ = words;
    }
    quantize_int8_activations(format, cols, x, m, {data_.get(), words}, par);
    view_ = {data_.get(), format, m, cols};
    return view_;
  }
  // The last quantize's activations (an empty view before the first).
  const int8_activations_view& view() const noexcept { return view_; }

 private:
  hwy::AlignedFreeUniquePtr<std::uint32_t[]> data_;
  std::size_t capacity_ = 0;
  int8_activations_view view_;
};

}  // namespace famx::quant
