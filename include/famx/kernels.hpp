// <famx/kernels.hpp>: every famx SIMD kernel, with Highway runtime dispatch to the best target.
// Deliberately no include guard: Highway's foreach_target.h re-includes this file once per target.
//
// Modes:
//  - header-only (default): this header compiles the kernels for every target in the including
//    translation unit (about 6 s of compile time per TU). It must come before <hwy/highway.h>.
//  - compile once: FAMX_EXTERN_KERNELS makes this header declare the kernels only, and exactly one
//    TU defines FAMX_IMPLEMENT_KERNELS too (the CMake helper famx_add_kernels() does both).
// If the including TU already runs foreach_target.h itself, the kernels join its passes.
// Targets: Highway's defaults plus AVX3_DL (AVX-512 with VNNI: the int8 kernels use vpdpbusd),
// when this header comes before any Highway header; HWY_DISABLED_TARGETS=HWY_AVX3_DL drops it.

#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif

#include <algorithm>
#include <limits>

#include "famx/core/targets.hpp"
#include "famx/moe/experts.hpp"
#include "famx/moe/route.hpp"
#include "famx/quant/matmul.hpp"

#if (!defined(FAMX_EXTERN_KERNELS) || defined(FAMX_IMPLEMENT_KERNELS)) && !defined(FAMX_KERNELS_HPP_ONCE_)

#ifndef HIGHWAY_HWY_FOREACH_TARGET_H_
#ifdef HWY_HIGHWAY_INCLUDED
#error "Include <famx/kernels.hpp> before <hwy/highway.h> (or run foreach_target.h yourself first)."
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "famx/kernels.hpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#endif

#include <hwy/highway.h>

#include "famx/core/target-inl.hpp"
#include "famx/quant/matvec-inl.hpp"
#include "famx/moe/router-inl.hpp"
#include "famx/quant/common-inl.hpp"
#include "famx/quant/int8-inl.hpp"
#include "famx/quant/qmv-rows-inl.hpp"
#include "famx/quant/qmv-stream-inl.hpp"
#include "famx/quant/qmv-generic-inl.hpp"
#include "famx/quant/qmv-inl.hpp"
#include "famx/quant/qmm-inl.hpp"
#include "famx/quant/qmm-int8-inl.hpp"
#include "famx/quant/exact-inl.hpp"
#include "famx/moe/experts-inl.hpp"

#if HWY_ONCE
#define FAMX_KERNELS_HPP_ONCE_

namespace famx {
inline namespace FAMX_ABI {

HWY_EXPORT(QmvF32);
HWY_EXPORT(QmvBF16);
HWY_EXPORT(QmvInt8);
HWY_EXPORT(QmmF32);
HWY_EXPORT(QmmBF16);
HWY_EXPORT(QmmInt8);
HWY_EXPORT(QmmInt8Panels);
HWY_EXPORT(QmmInt8Quantized);
HWY_EXPORT(QmmInt8PanelsQuantized);
HWY_EXPORT(QuantizeInt8Activations);
HWY_EXPORT(FillInt8Panels);
HWY_EXPORT(QmmFastF32);
HWY_EXPORT(QmmFastBF16);
HWY_EXPORT(MatvecF32);
HWY_EXPORT(ExactMatmulT);
HWY_EXPORT(ExactMatmulTBlocks);
HWY_EXPORT(ExactMatmulPV);
HWY_EXPORT(ExactDeltaStep);
HWY_EXPORT(KernelTarget);
HWY_EXPORT(Route);
HWY_EXPORT(SwiGLU);
HWY_EXPORT(SiluMulExport);

FAMX_KERNEL_LINKAGE const char* kernel_target() { return HWY_DYNAMIC_DISPATCH(KernelTarget)(); }

FAMX_KERNEL_LINKAGE std::vector<std::int64_t> kernel_targets() {
  return hwy::SupportedAndGeneratedTargets();
}

}  // namespace FAMX_ABI

namespace quant {
inline namespace FAMX_ABI {

FAMX_KERNEL_LINKAGE void qmv(const qmatrix_view& w, std::span<const float> x, std::span<float> y,
                             const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), 1, "qmv");
  HWY_DYNAMIC_DISPATCH(QmvF32)(w, x.data(), y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmv(const qmatrix_view& w, std::span<const bf16> x, std::span<float> y,
                             const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), 1, "qmv");
  HWY_DYNAMIC_DISPATCH(QmvBF16)(w, x.data(), y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmv_int8(const qmatrix_view& w, std::span<const float> x, std::span<float> y,
                                  const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), 1, "qmv_int8");
  HWY_DYNAMIC_DISPATCH(QmvInt8)(w, x.data(), y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm(const qmatrix_view& w, std::span<const float> x, std::size_t m,
                             std::span<float> y, const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), m, "qmm");
  if (m != 0) HWY_DYNAMIC_DISPATCH(QmmF32)(w, x.data(), m, y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_int8(const qmatrix_view& w, std::span<const float> x, std::size_t m,
                                  std::span<float> y, const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), m, "qmm_int8");
  if (m != 0) HWY_DYNAMIC_DISPATCH(QmmInt8)(w, x.data(), m, y.data(), par);
}

FAMX_KERNEL_LINKAGE void fill_int8_panels(const qmatrix_view& w, std::span<std::uint32_t> out, const parallel& par) {
  detail::check_int8_panels_source(w, "fill_int8_panels.w");
  const int8_panels_view shape{nullptr, w.format, w.rows, w.cols};
  if (out.size() != shape.panels() * shape.panel_words())
    throw error(errc::shape_mismatch, "fill_int8_panels.out", detail::size_str(out.size()),
                detail::size_str(shape.panels() * shape.panel_words()) + " (panels * panel_words)");
  HWY_DYNAMIC_DISPATCH(FillInt8Panels)(w, out.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_int8(const int8_panels_view& w, std::span<const float> x, std::size_t m,
                                  std::span<float> y, const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), m, "qmm_int8");
  if (m != 0) HWY_DYNAMIC_DISPATCH(QmmInt8Panels)(w, x.data(), m, y.data(), par);
}

FAMX_KERNEL_LINKAGE void quantize_int8_activations(const affine_format& format, std::size_t cols,
                                                   std::span<const float> x, std::size_t m,
                                                   std::span<std::uint32_t> out, const parallel& par) {
  detail::check_quantize_int8_args(format, cols, x.size(), m, out.size());
  if (m != 0) HWY_DYNAMIC_DISPATCH(QuantizeInt8Activations)(format, cols, x.data(), m, out.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_int8(const qmatrix_view& w, const int8_activations_view& x,
                                  std::span<const std::uint32_t> tokens, std::span<float> y, const parallel& par) {
  detail::check_int8_panels_source(w, "qmm_int8.w");
  detail::check_quantized_args(w.format, w.rows, w.cols, x, tokens, false, y.size());
  if (!tokens.empty()) HWY_DYNAMIC_DISPATCH(QmmInt8Quantized)(w, x, tokens.data(), tokens.size(), y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_int8(const qmatrix_view& w, const int8_activations_view& x, std::span<float> y,
                                  const parallel& par) {
  detail::check_int8_panels_source(w, "qmm_int8.w");
  detail::check_quantized_args(w.format, w.rows, w.cols, x, {}, true, y.size());
  if (x.tokens != 0) HWY_DYNAMIC_DISPATCH(QmmInt8Quantized)(w, x, nullptr, x.tokens, y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_int8(const int8_panels_view& w, const int8_activations_view& x,
                                  std::span<const std::uint32_t> tokens, std::span<float> y, const parallel& par) {
  detail::check_int8_panels_view(w, "qmm_int8");
  detail::check_quantized_args(w.format, w.rows, w.cols, x, tokens, false, y.size());
  if (!tokens.empty()) HWY_DYNAMIC_DISPATCH(QmmInt8PanelsQuantized)(w, x, tokens.data(), tokens.size(), y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_int8(const int8_panels_view& w, const int8_activations_view& x, std::span<float> y,
                                  const parallel& par) {
  detail::check_int8_panels_view(w, "qmm_int8");
  detail::check_quantized_args(w.format, w.rows, w.cols, x, {}, true, y.size());
  if (x.tokens != 0) HWY_DYNAMIC_DISPATCH(QmmInt8PanelsQuantized)(w, x, nullptr, x.tokens, y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm(const qmatrix_view& w, std::span<const bf16> x, std::size_t m,
                             std::span<float> y, const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), m, "qmm");
  if (m != 0) HWY_DYNAMIC_DISPATCH(QmmBF16)(w, x.data(), m, y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_fast(const qmatrix_view& w, std::span<const float> x, std::size_t m,
                                  std::span<float> y, const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), m, "qmm_fast");
  if (m != 0) HWY_DYNAMIC_DISPATCH(QmmFastF32)(w, x.data(), m, y.data(), par);
}

FAMX_KERNEL_LINKAGE void qmm_fast(const qmatrix_view& w, std::span<const bf16> x, std::size_t m,
                                  std::span<float> y, const parallel& par) {
  detail::check_qmm_args(w, x.size(), y.size(), m, "qmm_fast");
  if (m != 0) HWY_DYNAMIC_DISPATCH(QmmFastBF16)(w, x.data(), m, y.data(), par);
}

FAMX_KERNEL_LINKAGE void matvec(const tensor_view& w, std::span<const float> x, std::span<float> y,
                                const parallel& par) {
  detail::check_matvec_args(w, x.size(), y.size());
  if (w.dims[0] != 0 && w.dims[1] != 0) HWY_DYNAMIC_DISPATCH(MatvecF32)(w, x.data(), y.data(), par);
}

FAMX_KERNEL_LINKAGE void exact_matmul_t(const tensor_view& a, const tensor_view& b, std::span<float> c) {
  detail::check_rows_view(a, "exact_matmul_t", "a");
  detail::check_rows_view(b, "exact_matmul_t", "b");
  const auto m = static_cast<std::size_t>(a.dims[0]), n = static_cast<std::size_t>(b.dims[0]);
  const auto k = static_cast<std::size_t>(a.dims[1]);
  if (b.dims[1] != a.dims[1])
    throw error(errc::shape_mismatch, "exact_matmul_t.b", to_string(b.dims), "[n, " + std::to_string(k) + "] (a's columns)");
  if (c.size() != m * n)
    throw error(errc::shape_mismatch, "exact_matmul_t.c", detail::size_str(c.size()), detail::size_str(m * n) + " (m * n)");
  if (m != 0 && n != 0)
    HWY_DYNAMIC_DISPATCH(ExactMatmulT)(a.as<float>(), static_cast<std::size_t>(a.strides[0]), m, b.as<float>(),
                                       static_cast<std::size_t>(b.strides[0]), n, k, c.data(), n);
}

FAMX_KERNEL_LINKAGE void exact_matmul_t_blocks(const tensor_view& a, std::span<const float> b_blocks,
                                               std::size_t first, std::size_t n, std::span<float> c) {
  detail::check_rows_view(a, "exact_matmul_t_blocks", "a");
  const auto m = static_cast<std::size_t>(a.dims[0]), k = static_cast<std::size_t>(a.dims[1]);
  if (c.size() != m * n)
    throw error(errc::shape_mismatch, "exact_matmul_t_blocks.c", detail::size_str(c.size()), detail::size_str(m * n) + " (m * n)");
  // The rows b_blocks holds (whole blocks); checked without overflow for any first and n.
  const std::size_t stored = k == 0 ? std::numeric_limits<std::size_t>::max() : b_blocks.size() / (block_rows * k) * block_rows;
  if (m != 0 && n != 0 && (first > stored || n > stored - first))
    throw error(errc::shape_mismatch, "exact_matmul_t_blocks.b_blocks",
                detail::size_str(b_blocks.size()) + " (" + std::to_string(stored) + " rows of " + std::to_string(k) + ")",
                "rows [" + std::to_string(first) + ", " + std::to_string(first) + " + " + std::to_string(n) + ")");
  if (m != 0 && n != 0 && k != 0)
    HWY_DYNAMIC_DISPATCH(ExactMatmulTBlocks)(a.as<float>(), static_cast<std::size_t>(a.strides[0]), m, b_blocks.data(),
                                             first, n, k, c.data(), n);
  else
    std::fill(c.begin(), c.end(), 0.0f);
}

// exact_matmul (ranges null) and exact_matmul_ranges, named `fn` in errors: the checks, then the kernel.
inline void exact_matmul_checked(const tensor_view& p, const tensor_view& v, const std::span<const row_range>* ranges,
                                 std::span<float> out, const std::string& fn) {
  detail::check_rows_view(p, fn.c_str(), "p");
  detail::check_rows_view(v, fn.c_str(), "v");
  const auto m = static_cast<std::size_t>(p.dims[0]), k = static_cast<std::size_t>(p.dims[1]);
  const auto n = static_cast<std::size_t>(v.dims[1]);
  if (v.dims[0] != p.dims[1])
    throw error(errc::shape_mismatch, fn + ".v", to_string(v.dims), "[" + std::to_string(k) + ", n] (p's columns)");
  if (ranges != nullptr) {
    if (ranges->size() != m)
      throw error(errc::shape_mismatch, fn + ".ranges", detail::size_str(ranges->size()), detail::size_str(m) + " (one per row of p)");
    for (std::size_t r = 0; r < m; ++r)
      if ((*ranges)[r].begin > (*ranges)[r].end || (*ranges)[r].end > k)
        throw error(errc::invalid_value, fn + ".ranges." + std::to_string(r),
                    "[" + std::to_string((*ranges)[r].begin) + ", " + std::to_string((*ranges)[r].end) + ")",
                    "rows [begin, end) of v within [0, " + std::to_string(k) + ")");
  }
  if (out.size() != m * n)
    throw error(errc::shape_mismatch, fn + ".out", detail::size_str(out.size()), detail::size_str(m * n) + " (m * n)");
  if (m != 0 && n != 0)
    HWY_DYNAMIC_DISPATCH(ExactMatmulPV)(p.as<float>(), static_cast<std::size_t>(p.strides[0]), m, k, v.as<float>(),
                                        static_cast<std::size_t>(v.strides[0]), n, out.data(), n,
                                        ranges == nullptr ? nullptr : ranges->data());
}

FAMX_KERNEL_LINKAGE void exact_matmul(const tensor_view& p, const tensor_view& v, std::span<float> out) {
  exact_matmul_checked(p, v, nullptr, out, "exact_matmul");
}

FAMX_KERNEL_LINKAGE void exact_matmul_ranges(const tensor_view& p, const tensor_view& v, std::span<const row_range> ranges,
                                             std::span<float> out) {
  exact_matmul_checked(p, v, &ranges, out, "exact_matmul_ranges");
}

FAMX_KERNEL_LINKAGE void exact_vecmat(std::span<const float> p, const tensor_view& v, std::span<float> out) {
  detail::check_rows_view(v, "exact_vecmat", "v");
  const auto rows = static_cast<std::size_t>(v.dims[0]), cols = static_cast<std::size_t>(v.dims[1]);
  if (p.size() != rows)
    throw error(errc::shape_mismatch, "exact_vecmat.p", detail::size_str(p.size()), detail::size_str(rows) + " (v's rows)");
  if (out.size() != cols)
    throw error(errc::shape_mismatch, "exact_vecmat.out", detail::size_str(out.size()), detail::size_str(cols) + " (v's columns)");
  if (cols != 0)
    HWY_DYNAMIC_DISPATCH(ExactMatmulPV)(p.data(), rows, 1, rows, v.as<float>(), static_cast<std::size_t>(v.strides[0]), cols,
                                        out.data(), cols, nullptr);
}

FAMX_KERNEL_LINKAGE void exact_delta_step(std::span<float> state, std::span<const float> k, std::span<const float> q,
                                          std::span<const float> v, float g, float beta, std::span<float> y) {
  if (q.size() != k.size())
    throw error(errc::shape_mismatch, "exact_delta_step.q", detail::size_str(q.size()), detail::size_str(k.size()) + " (k's)");
  if (state.size() != k.size() * v.size())
    throw error(errc::shape_mismatch, "exact_delta_step.state", detail::size_str(state.size()),
                detail::size_str(k.size() * v.size()) + " (k * v)");
  if (y.size() != v.size())
    throw error(errc::shape_mismatch, "exact_delta_step.y", detail::size_str(y.size()), detail::size_str(v.size()) + " (v's)");
  if (!v.empty())
    HWY_DYNAMIC_DISPATCH(ExactDeltaStep)(state.data(), k.size(), v.size(), k.data(), q.data(), v.data(), g, beta, y.data());
}

}  // namespace FAMX_ABI
}  // namespace quant

namespace moe {
inline namespace FAMX_ABI {

FAMX_KERNEL_LINKAGE routing route(const routing_config& c, std::span<const float> logits,
                                  std::span<const float> bias, std::size_t tokens, const parallel& par) {
  detail::check_route_args(c, logits.size(), bias.size(), tokens);
  routing out(tokens, c.num_experts_per_tok);
  if (tokens != 0)
    HWY_DYNAMIC_DISPATCH(Route)(c, logits.data(), bias.empty() ? nullptr : bias.data(), tokens,
                                out.experts.data(), out.weights.data(), out.non_finite.data(), par);
  for (auto f : out.non_finite) out.non_finite_tokens += f;
  return out;
}

FAMX_KERNEL_LINKAGE void swiglu(const quant::qmatrix_view& gate, const quant::qmatrix_view& up,
                                std::span<const float> x, std::span<float> h, const parallel& par) {
  quant::detail::check_qmm_args(gate, x.size(), h.size(), 1, "swiglu.gate_proj");
  detail::check_swiglu_args(gate, up, x.size(), h.size());
  HWY_DYNAMIC_DISPATCH(SwiGLU)(gate, up, x.data(), h.data(), false, par);
}

FAMX_KERNEL_LINKAGE void swiglu_int8(const quant::qmatrix_view& gate, const quant::qmatrix_view& up,
                                     std::span<const float> x, std::span<float> h, const parallel& par) {
  quant::detail::check_qmm_args(gate, x.size(), h.size(), 1, "swiglu_int8.gate_proj");
  detail::check_swiglu_args(gate, up, x.size(), h.size());
  HWY_DYNAMIC_DISPATCH(SwiGLU)(gate, up, x.data(), h.data(), true, par);
}

FAMX_KERNEL_LINKAGE void silu_mul(std::span<const float> g, std::span<const float> u, std::span<float> h) {
  if (u.size() != g.size() || h.size() != g.size())
    throw error(errc::shape_mismatch, "silu_mul", std::to_string(u.size()) + " and " + std::to_string(h.size()) +
                " elements", std::to_string(g.size()) + " like g");
  HWY_DYNAMIC_DISPATCH(SiluMulExport)(g.data(), u.data(), g.size(), h.data());
}

}  // namespace FAMX_ABI
}  // namespace moe
}  // namespace famx

#endif  // HWY_ONCE
#endif  // kernels compiled in this TU
