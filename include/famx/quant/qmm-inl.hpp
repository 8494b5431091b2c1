// Per-target quantized matrix-matrix products for M tokens, exact (f32 activations):
//  - qmm (batch-invariant): a block of rows is repacked once as the codes qmv's chunk kernel
//    multiplies (code j of a word masked in place, as f32, next to the same code of the other
//    rows, so each lane accumulates its own row) and multiplied in register tiles of 4 tokens x
//    2N rows with qmv's operations in qmv's order: per word two FMA chains (even and odd codes)
//    then added, words paired into groups as SegmentSums pairs lanes, group partials as
//    GroupPartialsN forms them, groups summed in tree_sum's tree. Each token's row is qmv's.
//  - qmm_fast: weights dequantized once per block of 2N rows into a transposed f32 panel
//    (s*q + b), a 4-token x 2N-row tile accumulating one group at a time in one FMA chain, group
//    tiles combined with the same halving tree as qmv. Rounds differently from qmv.
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
inline void QmmFastF32Impl(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, std::size_t m,
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

// ---- qmm, batch-invariant ----

inline constexpr std::size_t kExactTileTokens = 4;
inline constexpr std::size_t kExactTileVecs = 2;

// Rows [n0, n0 + nb) in the exact panel layout: pq[((k * kPer + j) * nb + i] = code j of word k
// as qmv's chunk kernel sees it (masked in place, the top code shifted down), f32; scales and
// biases [G][nb] f32. Rows past the end are zero.
template <int kBits, class ScaleT>
inline void RepackExactPanel(const quant::qmatrix_view& w, std::size_t n0, std::size_t nb, float* HWY_RESTRICT pq,
                             float* HWY_RESTRICT ps, float* HWY_RESTRICT pb) {
  constexpr std::size_t kPer = 32 / kBits;
  const std::size_t words = w.format.packed_words(w.cols), G = w.groups();
  const auto* scales = static_cast<const ScaleT*>(w.scales);
  const auto* biases = static_cast<const ScaleT*>(w.biases);
  for (std::size_t i = 0; i < nb; ++i) {
    const bool in = n0 + i < w.rows;
    const std::uint32_t* row = in ? w.row(n0 + i) : nullptr;
    for (std::size_t k = 0; k < words; ++k) {
      const std::uint32_t word = in ? row[k] : 0u;
      for (std::size_t j = 0; j + 1 < kPer; ++j) {
        const std::uint32_t m = ((1u << kBits) - 1u) << (kBits * j);
        pq[(k * kPer + j) * nb + i] = static_cast<float>(static_cast<std::int32_t>(word & m));
      }
      pq[(k * kPer + kPer - 1) * nb + i] = static_cast<float>(static_cast<std::int32_t>(word >> (32 - kBits)));
    }
    for (std::size_t g = 0; g < G; ++g) {
      ps[g * nb + i] = in ? ScaleToF32(scales[(n0 + i) * w.scale_stride + g]) : 0.0f;
      pb[g * nb + i] = in ? ScaleToF32(biases[(n0 + i) * w.scale_stride + g]) : 0.0f;
    }
  }
}

// The partials s * d + b * sum(x) of group g for the tile's tokens (x pre-scaled as PrepPow2
// scales it, in natural order: xs[t]; group sums sx[t]): out[(t * kExactTileVecs + v) * N + i].
// `words` holds kExactTileTokens * kExactTileVecs * gw vectors.
template <int kBits>
HWY_INLINE void GroupTileExact(const float* HWY_RESTRICT pq, const float* HWY_RESTRICT ps, const float* HWY_RESTRICT pb,
                               const float* const* xs, const float* const* sx, std::size_t g, std::size_t gw,
                               float* HWY_RESTRICT words, float* HWY_RESTRICT out) {
  constexpr std::size_t kT = kExactTileTokens, kV = kExactTileVecs, kPer = 32 / kBits;
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), nb = kV * N;
  for (std::size_t k = g * gw; k < (g + 1) * gw; ++k) {  // per word: ChunkDot1's two chains
    // Every loop over the tile is unrolled by pragma (GCC -O2 keeps them rolled, and the chains
    // then live on the stack).
    hn::Vec<decltype(df)> even[kT][kV], odd[kT][kV];
    HWY_UNROLL(4)
    for (std::size_t t = 0; t < kT; ++t)
      HWY_UNROLL(2)
      for (std::size_t v = 0; v < kV; ++v) even[t][v] = odd[t][v] = hn::Zero(df);
    HWY_UNROLL(16)
    for (std::size_t j = 0; j < kPer; ++j) {
      hn::Vec<decltype(df)> q[kV];
      HWY_UNROLL(2)
      for (std::size_t v = 0; v < kV; ++v) q[v] = hn::Load(df, pq + (k * kPer + j) * nb + v * N);
      HWY_UNROLL(4)
      for (std::size_t t = 0; t < kT; ++t) {
        const auto xj = hn::Set(df, xs[t][k * kPer + j]);
        HWY_UNROLL(2)
        for (std::size_t v = 0; v < kV; ++v) {
          if (j % 2 == 0) {
            even[t][v] = hn::MulAdd(q[v], xj, even[t][v]);
          } else {
            odd[t][v] = hn::MulAdd(q[v], xj, odd[t][v]);
          }
        }
      }
    }
    HWY_UNROLL(4)
    for (std::size_t t = 0; t < kT; ++t)
      HWY_UNROLL(2)
      for (std::size_t v = 0; v < kV; ++v)
        hn::Store(hn::Add(even[t][v], odd[t][v]), df, words + ((t * kV + v) * gw + k - g * gw) * N);
  }
  const std::size_t seg = std::min(N, gw);  // words summed by lane pairs (SegmentSums), then in order
  for (std::size_t t = 0; t < kT; ++t) {
    const auto a = hn::Set(df, sx[t][g]);
    for (std::size_t v = 0; v < kV; ++v) {
      float* wv = words + (t * kV + v) * gw * N;
      std::size_t n = gw;
      for (std::size_t s = seg; s > 1; s /= 2, n /= 2)
        for (std::size_t i = 0; i < n / 2; ++i)
          hn::Store(hn::Add(hn::Load(df, wv + 2 * i * N), hn::Load(df, wv + (2 * i + 1) * N)), df, wv + i * N);
      auto d = hn::Load(df, wv);
      if (n > 1) {
        d = hn::Zero(df);
        for (std::size_t i = 0; i < n; ++i) d = hn::Add(d, hn::Load(df, wv + i * N));
      }
      const auto s = hn::Load(df, ps + g * nb + v * N), b = hn::Load(df, pb + g * nb + v * N);
      hn::Store(hn::MulAdd(s, d, hn::Mul(b, a)), df, out + (t * kV + v) * N);
    }
  }
}

// The tile of groups [g0, g0 + ng) summed in tree_sum's tree; `stack` holds one tile per level.
template <int kBits>
inline void TileTreeExact(const float* pq, const float* ps, const float* pb, const float* const* xs,
                          const float* const* sx, std::size_t gw, std::size_t g0, std::size_t ng, float* words,
                          float* HWY_RESTRICT out, float* HWY_RESTRICT stack) {
  if (ng == 1) return GroupTileExact<kBits>(pq, ps, pb, xs, sx, g0, gw, words, out);
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), tile = kExactTileTokens * kExactTileVecs * N;
  const std::size_t h = (ng + 1) / 2;
  TileTreeExact<kBits>(pq, ps, pb, xs, sx, gw, g0, h, words, out, stack + tile);
  TileTreeExact<kBits>(pq, ps, pb, xs, sx, gw, g0 + h, ng - h, words, stack, stack + tile);
  for (std::size_t i = 0; i < tile; i += N)
    hn::Store(hn::Add(hn::Load(df, out + i), hn::Load(df, stack + i)), df, out + i);
}

// Y = X W^T for pow2_widths codes, each token's row bit-identical to qmv's.
template <int kBits>
inline void QmmExactTiles(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, std::size_t m,
                          float* HWY_RESTRICT y, const parallel& par) {
  constexpr std::size_t kT = kExactTileTokens, kV = kExactTileVecs, kPer = 32 / kBits;
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), nb = kV * N;
  const std::size_t K = w.cols, G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const std::size_t words = w.format.packed_words(K), gw = w.format.group_words();
  float* sx = ScratchFloats(kSlotSx, m * G);
  float* xs = ScratchFloats(kSlotXp, m * K);
  par.for_each(m, [&](std::size_t t) {  // QmvPrepare's group sums and PrepPow2's scaling
    const float* xt = x + t * K;
    for (std::size_t g = 0; g < G; ++g) {
      float sum = 0;
      for (std::size_t k = 0; k < gs; ++k) sum += xt[g * gs + k];
      sx[t * G + g] = sum;
    }
    for (std::size_t j = 0; j < K; ++j) {
      const std::size_t c = j % kPer;
      xs[t * K + j] = xt[j] * (c + 1 < kPer ? 1.0f / static_cast<float>(1u << (kBits * c)) : 1.0f);
    }
  });
  std::size_t depth = 1;
  for (std::size_t n = G; n > 1; n = (n + 1) / 2) ++depth;
  const std::size_t tile = kT * nb;
  par.for_each((w.rows + nb - 1) / nb, [&](std::size_t blk) {
    const std::size_t n0 = blk * nb, rows_here = std::min(nb, w.rows - n0);
    float* pq = ScratchFloats(kSlotWork0, words * kPer * nb + 2 * G * nb);
    float* ps = pq + words * kPer * nb;
    float* pb = ps + G * nb;
    switch (w.scale_type) {
      case dtype::f32: RepackExactPanel<kBits, float>(w, n0, nb, pq, ps, pb); break;
      case dtype::f16: RepackExactPanel<kBits, f16>(w, n0, nb, pq, ps, pb); break;
      default: RepackExactPanel<kBits, bf16>(w, n0, nb, pq, ps, pb); break;
    }
    float* tiles = ScratchFloats(kSlotWork1, (depth + 1) * tile + kT * kV * gw * N);
    float* wbuf = tiles + (depth + 1) * tile;
    for (std::size_t t0 = 0; t0 < m; t0 += kT) {
      const std::size_t nt = std::min(kT, m - t0);
      const float* xt[kT];
      const float* st[kT];
      for (std::size_t t = 0; t < kT; ++t) {  // a short last tile repeats its last token
        const std::size_t tok = t0 + std::min(t, nt - 1);
        xt[t] = xs + tok * K;
        st[t] = sx + tok * G;
      }
      TileTreeExact<kBits>(pq, ps, pb, xt, st, gw, 0, G, wbuf, tiles, tiles + tile);
      for (std::size_t t = 0; t < nt; ++t)
        for (std::size_t v = 0; v * N < rows_here; ++v)
          std::memcpy(y + (t0 + t) * w.rows + n0 + v * N, tiles + (t * kV + v) * N,
                      std::min(N, rows_here - v * N) * sizeof(float));
    }
  });
}

// qmm: the exact tiles for pow2_widths from a few tokens on; one qmv per token otherwise.
inline void QmmF32Impl(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, std::size_t m,
                       float* HWY_RESTRICT y, const parallel& par) {
  bool tiled = false;
  if (m >= kExactTileTokens) {
    quant::pow2_widths::visit(w.format.bits, [&](auto bits_c) {
      QmmExactTiles<bits_c.value>(w, x, m, y, par);
      tiled = true;
    });
  }
  if (!tiled)
    for (std::size_t t = 0; t < m; ++t) QmvF32Impl(w, x + t * w.cols, y + t * w.rows, par);
}

inline void QmmF32(const quant::qmatrix_view& w, const float* x, std::size_t m, float* y, const parallel& par) {
  QmmF32Impl(w, x, m, y, par);
}

inline void QmmBF16(const quant::qmatrix_view& w, const bf16* x, std::size_t m, float* y, const parallel& par) {
  QmmF32Impl(w, WidenBF16(x, m * w.cols), m, y, par);
}

inline void QmmFastF32(const quant::qmatrix_view& w, const float* x, std::size_t m, float* y, const parallel& par) {
  QmmFastF32Impl(w, x, m, y, par);
}

inline void QmmFastBF16(const quant::qmatrix_view& w, const bf16* x, std::size_t m, float* y, const parallel& par) {
  if (m < 4) {
    for (std::size_t t = 0; t < m; ++t) QmvF32Impl(w, WidenBF16(x + t * w.cols, w.cols), y + t * w.rows, par);
    return;
  }
  QmmFastF32Impl(w, WidenBF16(x, m * w.cols), m, y, par);
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMM_INL_H_
