#pragma once
// Quantized SwiGLU experts (declarations and argument checks; the kernels are in experts-inl.hpp,
// compiled through <famx/kernels.hpp>). Include <famx/kernels.hpp> to call them.

#include <cstddef>
#include <span>
#include <string>

#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/targets.hpp"
#include "famx/quant/qmatrix.hpp"

namespace famx::moe {
inline namespace FAMX_ABI {

// h = silu(gate_proj x) * (up_proj x) for gate, up [I, D] of one format; x [D], h [I]. Fused: x is
// prepared once for both projections. Equal, bit for bit, to two qmv calls and silu_mul.
FAMX_KERNEL_LINKAGE void swiglu(const quant::qmatrix_view& gate, const quant::qmatrix_view& up,
                                std::span<const float> x, std::span<float> h, const parallel& par = {});
// swiglu with qmv_int8 arithmetic (x quantized to int8 per group once for both projections);
// equal, bit for bit, to two qmv_int8 calls and silu_mul.
FAMX_KERNEL_LINKAGE void swiglu_int8(const quant::qmatrix_view& gate, const quant::qmatrix_view& up,
                                     std::span<const float> x, std::span<float> h, const parallel& par = {});
// h = silu(g) * u elementwise, with the operations swiglu uses.
FAMX_KERNEL_LINKAGE void silu_mul(std::span<const float> g, std::span<const float> u, std::span<float> h);

}  // namespace FAMX_ABI

namespace detail {

// Throws unless gate and up are one format and shape and x, h fit them.
inline void check_swiglu_args(const quant::qmatrix_view& gate, const quant::qmatrix_view& up, std::size_t x_size,
                              std::size_t h_size) {
  if (!(gate.format == up.format) || gate.rows != up.rows || gate.cols != up.cols || gate.scale_type != up.scale_type)
    throw error(errc::shape_mismatch, "swiglu.up_proj",
                std::to_string(up.rows) + "x" + std::to_string(up.cols) + " " + quant::to_string(up.format),
                std::to_string(gate.rows) + "x" + std::to_string(gate.cols) + " " + quant::to_string(gate.format) +
                    " like gate_proj");
  if (x_size != gate.cols)
    throw error(errc::shape_mismatch, "swiglu.x", std::to_string(x_size) + " elements", std::to_string(gate.cols));
  if (h_size != gate.rows)
    throw error(errc::shape_mismatch, "swiglu.h", std::to_string(h_size) + " elements", std::to_string(gate.rows));
}

}  // namespace detail
}  // namespace famx::moe
