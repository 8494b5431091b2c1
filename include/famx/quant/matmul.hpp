#pragma once
// The quantized and dense matrix products an engine calls in its hot loop (declarations, argument
// checks and the code widths each kernel family serves; the SIMD code is in the quant/*-inl.hpp
// headers, compiled through <famx/kernels.hpp>). Include <famx/kernels.hpp> to call them.
//
// Every function checks its arguments and throws famx::error on a size or dtype mismatch; it never
// reads out of bounds. Outputs are f32. The optional `parallel` hook splits rows across threads.

#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/tensor.hpp"
#include "famx/quant/activation_layout.hpp"
#include "famx/quant/panel_layout.hpp"
#include "famx/quant/qmatrix.hpp"

#include "famx/core/targets.hpp"

namespace famx {
namespace quant {

// A compile-time set of code widths. visit(bits, f) calls f(std::integral_constant<int, b>{}) for
// the member b == bits (nothing when bits is not a member).
template <int... kBits>
struct width_set {
  static constexpr bool contains(int bits) noexcept { return ((bits == kBits) || ...); }
  template <class F>
  static constexpr void visit(int bits, F&& f) {
    (void)((bits == kBits ? (f(std::integral_constant<int, kBits>{}), true) : false) || ...);
  }
};
// Widths whose codes the qmv kernels extract in place from whole words (the 4-row and streaming
// kernels); the others are decoded group by group.
using pow2_widths = width_set<2, 4, 8>;
// Widths qmv_int8 multiplies in integers; it runs the exact qmv for the others.
using int8_widths = width_set<4, 8>;

inline namespace FAMX_ABI {

// y = W x for one token: W [rows, cols] quantized, x [cols], y [rows].
FAMX_KERNEL_LINKAGE void qmv(const qmatrix_view& w, std::span<const float> x, std::span<float> y,
                             const parallel& par = {});
// y = W x with bf16 activations (widened exactly to f32).
FAMX_KERNEL_LINKAGE void qmv(const qmatrix_view& w, std::span<const bf16> x, std::span<float> y,
                             const parallel& par = {});
// y = W x, fast and approximate: x is quantized once per call to int8 per group (a_g = max|x_g|/127,
// xq = rint(x/a_g)) and codes are multiplied in integers. Error bound (tested):
//   |y_r - y_exact_r| <= sum_g |s_rg| * a_g / 2 * sum_{j in g} q_rj  (+ fp32 rounding).
// Used for 4- and 8-bit weights; other widths run the exact qmv.
FAMX_KERNEL_LINKAGE void qmv_int8(const qmatrix_view& w, std::span<const float> x, std::span<float> y,
                                  const parallel& par = {});
// Y = X W^T for m tokens: x [m, cols] row-major, y [m, rows]. Batch-invariant: each token's row
// of y is bit-identical to qmv on that token alone, for any m and thread count.
FAMX_KERNEL_LINKAGE void qmm(const qmatrix_view& w, std::span<const float> x, std::size_t m,
                             std::span<float> y, const parallel& par = {});
// Y = X W^T for m tokens with int8 activations: each token's row of y is bit-identical to
// qmv_int8 on that token alone, for any m and thread count (integer register tiles over several
// tokens and rows; the fp32 steps are qmv_int8's, in its order). Error bound: qmv_int8's.
FAMX_KERNEL_LINKAGE void qmm_int8(const qmatrix_view& w, std::span<const float> x, std::size_t m,
                                  std::span<float> y, const parallel& par = {});
// qmm_int8 on weights in the load-time panel layout (int8_panels): the same rows, bit for bit, as
// qmm_int8 and qmv_int8 on the MLX view the panels were built from, without the per-call repack;
// the last tile of tokens is the smallest of 8, 4, 2 or 1 tokens that holds the rest (one token
// for the decode case).
FAMX_KERNEL_LINKAGE void qmm_int8(const int8_panels_view& w, std::span<const float> x, std::size_t m,
                                  std::span<float> y, const parallel& par = {});
// qmm_int8 with activations quantized beforehand (quantize_int8_activations for w's format and
// cols): y [x.tokens, rows], each row bit-identical to qmm_int8 and qmv_int8 on that token's f32
// activations. On an MLX view each panel is repacked per call whatever the token count.
FAMX_KERNEL_LINKAGE void qmm_int8(const qmatrix_view& w, const int8_activations_view& x, std::span<float> y,
                                  const parallel& par = {});
FAMX_KERNEL_LINKAGE void qmm_int8(const int8_panels_view& w, const int8_activations_view& x, std::span<float> y,
                                  const parallel& par = {});
// The same for the tokens of x that `tokens` selects: y [tokens.size(), rows], row i that of token
// tokens[i] (an MoE expert's tokens, gathered without copying them).
FAMX_KERNEL_LINKAGE void qmm_int8(const qmatrix_view& w, const int8_activations_view& x,
                                  std::span<const std::uint32_t> tokens, std::span<float> y, const parallel& par = {});
FAMX_KERNEL_LINKAGE void qmm_int8(const int8_panels_view& w, const int8_activations_view& x,
                                  std::span<const std::uint32_t> tokens, std::span<float> y, const parallel& par = {});
// Y = X W^T with bf16 activations (each row equals qmv with bf16 activations).
FAMX_KERNEL_LINKAGE void qmm(const qmatrix_view& w, std::span<const bf16> x, std::size_t m,
                             std::span<float> y, const parallel& par = {});
// Y = X W^T, faster than qmm but not batch-invariant: weights are dequantized to s*q + b once and
// each group is one FMA chain, so a row differs from qmv's in the last bits (within the same fp32
// error bound) and depends on whether m < 4 (one qmv per token then). Row-parallel splits over
// group ranges still reproduce the unsplit result bit for bit.
FAMX_KERNEL_LINKAGE void qmm_fast(const qmatrix_view& w, std::span<const float> x, std::size_t m,
                                  std::span<float> y, const parallel& par = {});
// qmm_fast with bf16 activations.
FAMX_KERNEL_LINKAGE void qmm_fast(const qmatrix_view& w, std::span<const bf16> x, std::size_t m,
                                  std::span<float> y, const parallel& par = {});
// y = W x for a dense f32 or bf16 W [rows, cols] (rank 2, unit inner stride).
FAMX_KERNEL_LINKAGE void matvec(const tensor_view& w, std::span<const float> x, std::span<float> y,
                                const parallel& par = {});

// c [m, n] = a [m, k] b [n, k]^T with every entry one fp64 sum over k in order, rounded to f32
// once: the scalar loop's bits on every target (attention's scores q K^T). a and b are f32 rank-2
// views with unit inner stride; c is row-major.
FAMX_KERNEL_LINKAGE void exact_matmul_t(const tensor_view& a, const tensor_view& b, std::span<float> c);

// Rows per block of exact_matmul_t_blocks' layout of b (an attention key cache): block i holds
// b's rows [8i, 8i + 8) transposed, so column x of row j is element (j / 8) * 8k + 8x + j % 8.
inline constexpr std::size_t block_rows = 8;

// exact_matmul_t on b's rows [first, first + n), b [., k] in transposed blocks of block_rows rows
// (b_blocks): c [m, n] with c[r][j] exact_matmul_t's entry for a's row r and b's row first + j,
// bit for bit. Lanes run over b's rows, so one row of a (a decode step's query) fills them.
// b_blocks holds at least the blocks that rows first .. first + n - 1 fall in.
FAMX_KERNEL_LINKAGE void exact_matmul_t_blocks(const tensor_view& a, std::span<const float> b_blocks,
                                               std::size_t first, std::size_t n, std::span<float> c);

// out [m, n] = p [m, k] v [k, n] with every entry one fp64 sum over v's rows in order, rounded to
// f32 once: row r is exact_vecmat(p's row r, v) bit for bit, and the rows of p share each read of
// v (a query group's weighted sums of the same values). p and v are f32 rank-2 views with unit
// inner stride; out is row-major.
FAMX_KERNEL_LINKAGE void exact_matmul(const tensor_view& p, const tensor_view& v, std::span<float> out);

// The rows [begin, end) of a matrix that one row of another meets (exact_matmul_ranges).
struct row_range {
  std::size_t begin = 0, end = 0;
};

// exact_matmul with each row of p over its own rows of v: out row r sums v's rows
// [ranges[r].begin, ranges[r].end) in order (a causal or sliding-window mask over a run of
// queries), bit for bit exact_vecmat over those rows; p's entries outside a row's range do not
// affect it, and v's rows outside every range are not read.
FAMX_KERNEL_LINKAGE void exact_matmul_ranges(const tensor_view& p, const tensor_view& v, std::span<const row_range> ranges,
                                             std::span<float> out);

// out [n] = p [m] v [m, n] with every entry one fp64 sum over v's rows in order, rounded to f32
// once (attention's weighted sum of values). v is an f32 rank-2 view with unit inner stride.
FAMX_KERNEL_LINKAGE void exact_vecmat(std::span<const float> p, const tensor_view& v, std::span<float> out);

// One step of the gated delta rule (Qwen3-Next's linear attention) on one head's state [dk, dv]
// (row-major, k.size() x v.size(), updated in place), with q and k of dk and v, y of dv:
//   s1 = f32(g * s);  kv[i] = f32(sum_j k[j] s1[j][i]);  delta[i] = f32(f32(v[i] - kv[i]) * beta);
//   s[j][i] = f32(s1[j][i] + k[j] delta[i]);  y[i] = f32(sum_j q[j] s[j][i]);
// the sums over j in order and the update in fp64 (products of two floats are exact there): the
// scalar loop's bits on every target.
FAMX_KERNEL_LINKAGE void exact_delta_step(std::span<float> state, std::span<const float> k, std::span<const float> q,
                                          std::span<const float> v, float g, float beta, std::span<float> y);

}  // namespace FAMX_ABI
}  // namespace quant

namespace quant::detail {

inline std::string size_str(std::size_t n) { return std::to_string(n) + " elements"; }

// Throws unless x, y hold m*cols and m*rows elements.
inline void check_qmm_sizes(std::size_t rows, std::size_t cols, std::size_t x_size, std::size_t y_size,
                            std::size_t m, const std::string& f) {
  if (x_size != m * cols)
    throw error(errc::shape_mismatch, f + ".x", size_str(x_size), size_str(m * cols) + " (m * cols)");
  if (y_size != m * rows)
    throw error(errc::shape_mismatch, f + ".y", size_str(y_size), size_str(m * rows) + " (m * rows)");
}

// Throws unless w is usable and x, y hold m*cols and m*rows elements.
inline void check_qmm_args(const qmatrix_view& w, std::size_t x_size, std::size_t y_size, std::size_t m,
                           const char* fn) {
  const std::string f(fn);
  check_qmatrix(w, f + ".w");
  check_qmm_sizes(w.rows, w.cols, x_size, y_size, m, f);
}

// Throws unless w holds panels of 4- or 8-bit codes (as int8_panels builds them); f names the call.
inline void check_int8_panels_view(const int8_panels_view& w, const std::string& f) {
  if (w.data == nullptr) throw error(errc::invalid_value, f + ".w", "a null data pointer", "panels built by int8_panels");
  if (auto r = validate_cols(w.format, w.cols, f + ".w"); !r) throw r.err();
  check_panel_bits(w.format.bits, f + ".w");
}

// Throws unless w holds panels of 4- or 8-bit codes and x, y hold m*cols and m*rows elements.
inline void check_qmm_args(const int8_panels_view& w, std::size_t x_size, std::size_t y_size, std::size_t m,
                           const char* fn) {
  const std::string f(fn);
  check_int8_panels_view(w, f);
  check_qmm_sizes(w.rows, w.cols, x_size, y_size, m, f);
}

// Throws unless quantized activations x fit w's format and cols, the selected tokens (all of x's
// when `all`) are x's, and y holds tokens * w_rows elements.
inline void check_quantized_args(const affine_format& w_format, std::size_t w_rows, std::size_t w_cols,
                                 const int8_activations_view& x, std::span<const std::uint32_t> tokens, bool all,
                                 std::size_t y_size) {
  const std::string f = "qmm_int8";
  if (x.data == nullptr && x.tokens != 0)
    throw error(errc::invalid_value, f + ".x", "a null data pointer", "activations quantized by quantize_int8_activations");
  if (x.format != w_format)
    throw error(errc::shape_mismatch, f + ".x.format", to_string(x.format), to_string(w_format) + " (w's format)");
  if (x.cols != w_cols)
    throw error(errc::shape_mismatch, f + ".x.cols", std::to_string(x.cols), std::to_string(w_cols) + " (w's cols)");
  for (std::size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] >= x.tokens)
      throw error(errc::out_of_bounds, f + ".tokens[" + std::to_string(i) + "]", std::to_string(tokens[i]),
                  "a token of x (fewer than " + std::to_string(x.tokens) + ")");
  const std::size_t m = all ? x.tokens : tokens.size();
  if (y_size != m * w_rows)
    throw error(errc::shape_mismatch, f + ".y", size_str(y_size), size_str(m * w_rows) + " (tokens * rows)");
}

// Throws unless w is a rank-2 f32/bf16 matrix with unit inner stride and x, y fit it.
inline void check_matvec_args(const tensor_view& w, std::size_t x_size, std::size_t y_size) {
  if (w.type != dtype::f32 && w.type != dtype::bf16)
    throw error(errc::wrong_type, "matvec.w", std::string(to_string(w.type)), "f32 or bf16 weights");
  if (w.dims.rank() != 2 || w.strides[1] != 1 || w.strides[0] < w.dims[1])
    throw error(errc::shape_mismatch, "matvec.w", to_string(w.dims), "a rank-2 matrix with contiguous rows");
  if (x_size != static_cast<std::size_t>(w.dims[1]))
    throw error(errc::shape_mismatch, "matvec.x", size_str(x_size), size_str(static_cast<std::size_t>(w.dims[1])));
  if (y_size != static_cast<std::size_t>(w.dims[0]))
    throw error(errc::shape_mismatch, "matvec.y", size_str(y_size), size_str(static_cast<std::size_t>(w.dims[0])));
}

// Throws unless v (argument `what` of `fn`) is an f32 rank-2 view with unit inner stride whose rows do not overlap.
inline void check_rows_view(const tensor_view& v, const char* fn, const char* what) {
  const std::string at = std::string(fn) + "." + what;
  if (v.type != dtype::f32) throw error(errc::wrong_type, at, std::string(to_string(v.type)), "f32");
  if (v.dims.rank() != 2 || v.strides.rank() != 2 || v.dims[0] < 0 || v.dims[1] < 0 || (v.dims[1] > 1 && v.strides[1] != 1) ||
      (v.dims[0] > 1 && v.strides[0] < v.dims[1]))
    throw error(errc::shape_mismatch, at, to_string(v.dims), "a rank-2 matrix with contiguous, non-overlapping rows");
  if (v.data == nullptr && v.numel() != 0) throw error(errc::invalid_value, at, "a null data pointer", "data set");
}
}  // namespace quant::detail
}  // namespace famx
