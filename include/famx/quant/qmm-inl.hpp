// Per-target quantized matrix-matrix product (qmm) for M tokens: weights dequantized once per
// block of 2N rows into a transposed f32 panel, a 4-token x 2N-row register tile accumulating one
// group at a time, group tiles combined with the same halving tree as qmv.
// Re-included once per Highway target by <famx/kernels.hpp> after qmv-inl.hpp.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/parallel.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_QMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_QMM_INL_H_
#undef FAMX_QUANT_QMM_INL_H_
#else
#define FAMX_QUANT_QMM_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// panel[k * nb + i] = s*q + b for rows n0 + i (i < nb; rows past the end are zero).
template <class ScaleT>
inline void DequantPanel(const quant::qmatrix_view& w, std::size_t n0, std::size_t nb, float* HWY_RESTRICT panel,
                         float* HWY_RESTRICT q) {
  const std::size_t K = w.cols, gs = static_cast<std::size_t>(w.format.group_size);
  const std::size_t gw = w.format.group_words();
  const auto* scales = static_cast<const ScaleT*>(w.scales);
  const auto* biases = static_cast<const ScaleT*>(w.biases);
  for (std::size_t i = 0; i < nb; ++i) {
    const std::size_t r = n0 + i;
    if (r >= w.rows) {
      for (std::size_t k = 0; k < K; ++k) panel[k * nb + i] = 0.0f;
      continue;
    }
    for (std::size_t g = 0; g < w.groups(); ++g) {
      DecodeGroup(w.row(r) + g * gw, w.format.bits, gs, q);
      const float s = ScaleToF32(scales[r * w.scale_stride + g]);
      const float b = ScaleToF32(biases[r * w.scale_stride + g]);
      for (std::size_t k = 0; k < gs; ++k) panel[(g * gs + k) * nb + i] = s * q[k] + b;
    }
  }
}

// out[t * nb + i] = sum over k in one group of x_t[k] * panel[k * nb + i], for 4 tokens t.
template <class DF>
HWY_INLINE void TileGroup(DF df, const float* HWY_RESTRICT x0, const float* HWY_RESTRICT x1,
                          const float* HWY_RESTRICT x2, const float* HWY_RESTRICT x3,
                          const float* HWY_RESTRICT panel, std::size_t gs, float* HWY_RESTRICT out) {
  const std::size_t N = hn::Lanes(df), nb = 2 * N;
  auto c00 = hn::Zero(df), c01 = hn::Zero(df), c10 = hn::Zero(df), c11 = hn::Zero(df);
  auto c20 = hn::Zero(df), c21 = hn::Zero(df), c30 = hn::Zero(df), c31 = hn::Zero(df);
  for (std::size_t k = 0; k < gs; ++k) {
    const auto w0 = hn::Load(df, panel + k * nb), w1 = hn::Load(df, panel + k * nb + N);
    const auto a0 = hn::Set(df, x0[k]), a1 = hn::Set(df, x1[k]);
    const auto a2 = hn::Set(df, x2[k]), a3 = hn::Set(df, x3[k]);
    c00 = hn::MulAdd(a0, w0, c00);
    c01 = hn::MulAdd(a0, w1, c01);
    c10 = hn::MulAdd(a1, w0, c10);
    c11 = hn::MulAdd(a1, w1, c11);
    c20 = hn::MulAdd(a2, w0, c20);
    c21 = hn::MulAdd(a2, w1, c21);
    c30 = hn::MulAdd(a3, w0, c30);
    c31 = hn::MulAdd(a3, w1, c31);
  }
  hn::Store(c00, df, out);
  hn::Store(c01, df, out + N);
  hn::Store(c10, df, out + nb);
  hn::Store(c11, df, out + nb + N);
  hn::Store(c20, df, out + 2 * nb);
  hn::Store(c21, df, out + 2 * nb + N);
  hn::Store(c30, df, out + 3 * nb);
  hn::Store(c31, df, out + 3 * nb + N);
}

// The tile of groups [g0, g0 + ng) summed in the halving tree; `stack` holds one tile per level.
template <class DF>
inline void TileTree(DF df, const float* const* x, const float* HWY_RESTRICT panel, std::size_t gs,
                     std::size_t g0, std::size_t ng, float* HWY_RESTRICT out, float* HWY_RESTRICT stack) {
  const std::size_t N = hn::Lanes(df), tile = 4 * 2 * N;
  if (ng == 1) {
    TileGroup(df, x[0] + g0 * gs, x[1] + g0 * gs, x[2] + g0 * gs, x[3] + g0 * gs, panel + g0 * gs * 2 * N,
              gs, out);
    return;
  }
  const std::size_t h = (ng + 1) / 2;
  TileTree(df, x, panel, gs, g0, h, out, stack + tile);
  TileTree(df, x, panel, gs, g0 + h, ng - h, stack, stack + tile);
  for (std::size_t i = 0; i < tile; i += N)
    hn::Store(hn::Add(hn::Load(df, out + i), hn::Load(df, stack + i)), df, out + i);
}

// The halving tree needs the same grouping as tree_sum: for G = 2^a * b, the 2^a blocks of b
// groups split evenly, and odd blocks split at ceil. TileTree's ceil split is that tree.
inline void QmmF32Impl(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, std::size_t m,
                       float* HWY_RESTRICT y, const parallel& par) {
  if (m < 4) {  // a register tile of 4 tokens would waste work: one qmv per token
    for (std::size_t t = 0; t < m; ++t) QmvF32Impl(w, x + t * w.cols, y + t * w.rows, par);
    return;
  }
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), nb = 2 * N;
  const std::size_t K = w.cols, G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const std::size_t blocks = (w.rows + nb - 1) / nb;
  std::size_t depth = 1;
  for (std::size_t n = G; n > 1; n = (n + 1) / 2) ++depth;
  par.for_each(blocks, [&](std::size_t blk) {
    const std::size_t n0 = blk * nb;
    float* panel = ScratchFloats(kSlotWork0, K * nb);
    float* tiles = ScratchFloats(kSlotWork1, (depth + 1) * 4 * nb + gs);
    float* q = tiles + (depth + 1) * 4 * nb;
    switch (w.scale_type) {
      case dtype::f32: DequantPanel<float>(w, n0, nb, panel, q); break;
      case dtype::f16: DequantPanel<f16>(w, n0, nb, panel, q); break;
      default: DequantPanel<bf16>(w, n0, nb, panel, q); break;
    }
    const std::size_t rows_here = std::min(nb, w.rows - n0);
    for (std::size_t t0 = 0; t0 < m; t0 += 4) {
      const std::size_t nt = std::min<std::size_t>(4, m - t0);
      const float* xs[4];
      for (std::size_t t = 0; t < 4; ++t) xs[t] = x + (t0 + std::min(t, nt - 1)) * K;
      TileTree(df, xs, panel, gs, 0, G, tiles, tiles + 4 * nb);
      for (std::size_t t = 0; t < nt; ++t)
        std::memcpy(y + (t0 + t) * w.rows + n0, tiles + t * nb, rows_here * sizeof(float));
    }
  });
}

inline void QmmF32(const quant::qmatrix_view& w, const float* x, std::size_t m, float* y, const parallel& par) {
  QmmF32Impl(w, x, m, y, par);
}

inline void QmmBF16(const quant::qmatrix_view& w, const bf16* x, std::size_t m, float* y, const parallel& par) {
  if (m < 4) {
    for (std::size_t t = 0; t < m; ++t) QmvF32Impl(w, WidenBF16(x + t * w.cols, w.cols), y + t * w.rows, par);
    return;
  }
  QmmF32Impl(w, WidenBF16(x, m * w.cols), m, y, par);
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMM_INL_H_
