// Per-target qmm_int8: M tokens with int8 activations. Each token is quantized exactly as qmv_int8
// quantizes it; a block of rows is repacked once (word k of N consecutive rows side by side, so
// each lane accumulates its own row and no horizontal sum is needed) and multiplied in register
// tiles of kInt8TileTokens tokens x kInt8TileVecs row vectors with the DotInt8 building block
// (vpdpbusd with VNNI, maddubs elsewhere). A group's integer dot product is exact in any order;
// its partial s_g * (d_g * a_g) + b_g * sum(x_g) takes GroupPartialsN's operations and the
// groups are summed in tree_sum's tree, so every token's row equals qmv_int8's bit for bit.
// Re-included once per Highway target by <famx/kernels.hpp> after qmv-inl.hpp.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/parallel.hpp"
#include "famx/quant/matmul.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_QMM_INT8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_QMM_INT8_INL_H_
#undef FAMX_QUANT_QMM_INT8_INL_H_
#else
#define FAMX_QUANT_QMM_INT8_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The register tile: tokens x vectors of rows (accumulators kInt8TileTokens * kInt8TileVecs).
inline constexpr std::size_t kInt8TileTokens = 8;
inline constexpr std::size_t kInt8TileVecs = 2;

// The quantized activations of m tokens: per token its group sums and scales [G] and its codes as
// u32 words, xw_per_token of them: 8-bit, the codes of weight word k in word k; 4-bit, weight word
// k's even codes in word 2k and its odd codes in word 2k + 1 (the lo and hi nibble planes).
struct QmmInt8Act {
  const float* sx;
  const float* xa;
  const std::uint32_t* xw;
  std::size_t xw_per_token;
};

// One block of rows, repacked: words [words][kInt8TileVecs * N], scales and biases [G][same] f32.
struct QmmInt8Panel {
  const std::uint32_t* w;
  const float* s;
  const float* b;
};

// Rows [n0, n0 + nb) of w in the panel layout (rows past the end are zero).
template <class ScaleT>
inline void RepackInt8Panel(const quant::qmatrix_view& w, std::size_t n0, std::size_t nb, std::uint32_t* HWY_RESTRICT pw,
                            float* HWY_RESTRICT ps, float* HWY_RESTRICT pb) {
  const std::size_t words = w.format.packed_words(w.cols), G = w.groups();
  const auto* scales = static_cast<const ScaleT*>(w.scales);
  const auto* biases = static_cast<const ScaleT*>(w.biases);
  for (std::size_t i = 0; i < nb; ++i) {
    const bool in = n0 + i < w.rows;
    const std::uint32_t* row = in ? w.row(n0 + i) : nullptr;
    for (std::size_t k = 0; k < words; ++k) pw[k * nb + i] = in ? row[k] : 0u;
    for (std::size_t g = 0; g < G; ++g) {
      ps[g * nb + i] = in ? ScaleToF32(scales[(n0 + i) * w.scale_stride + g]) : 0.0f;
      pb[g * nb + i] = in ? ScaleToF32(biases[(n0 + i) * w.scale_stride + g]) : 0.0f;
    }
  }
}

// The partials p = s * (d * a) + b * sum(x) of group g for the tile's tokens (their activation
// words xw[t], group sums sx[t], scales xa[t]): out[(t * kInt8TileVecs + j) * N + i].
template <int kBits>
HWY_INLINE void GroupTileInt8(const QmmInt8Panel& p, const std::uint32_t* const* xw, const float* const* sx,
                              const float* const* xa, std::size_t g, std::size_t gw, float* HWY_RESTRICT out) {
  constexpr std::size_t kT = kInt8TileTokens, kV = kInt8TileVecs;
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::RebindToSigned<decltype(df)> di;
  const std::size_t N = hn::Lanes(df), nb = kV * N;
  // The loops over the tile are unrolled by pragma: rolled (GCC -O2), the accumulators live on
  // the stack and every vpdpbusd pays a load and a store.
  hn::Vec<decltype(di)> acc[kT][kV];
  HWY_UNROLL(8)
  for (std::size_t t = 0; t < kT; ++t)
    HWY_UNROLL(2)
    for (std::size_t j = 0; j < kV; ++j) acc[t][j] = hn::Zero(di);
  for (std::size_t k = g * gw; k < (g + 1) * gw; ++k) {
    hn::Vec<decltype(du)> wv[kV];
    HWY_UNROLL(2)
    for (std::size_t j = 0; j < kV; ++j) wv[j] = hn::Load(du, p.w + k * nb + j * N);
    HWY_UNROLL(8)
    for (std::size_t t = 0; t < kT; ++t) {
      const auto xa_t = hn::Set(du, xw[t][kBits == 4 ? 2 * k : k]);
      const auto xb_t = kBits == 4 ? hn::Set(du, xw[t][2 * k + 1]) : xa_t;
      HWY_UNROLL(2)
      for (std::size_t j = 0; j < kV; ++j) acc[t][j] = DotInt8<kBits>(du, acc[t][j], wv[j], xa_t, xb_t);
    }
  }
  HWY_UNROLL(8)
  for (std::size_t t = 0; t < kT; ++t) {
    const auto a = hn::Set(df, xa[t][g]), sum = hn::Set(df, sx[t][g]);
    HWY_UNROLL(2)
    for (std::size_t j = 0; j < kV; ++j) {
      const auto dv = hn::Mul(hn::ConvertTo(df, acc[t][j]), a);
      const auto s = hn::Load(df, p.s + g * nb + j * N), b = hn::Load(df, p.b + g * nb + j * N);
      hn::Store(hn::MulAdd(s, dv, hn::Mul(b, sum)), df, out + (t * kV + j) * N);
    }
  }
}

// The tile of groups [g0, g0 + ng) summed in tree_sum's tree (halves at ceil); `stack` holds one
// tile per level.
template <int kBits>
inline void TileTreeInt8(const QmmInt8Panel& p, const std::uint32_t* const* xw, const float* const* sx,
                         const float* const* xa, std::size_t gw, std::size_t g0, std::size_t ng,
                         float* HWY_RESTRICT out, float* HWY_RESTRICT stack) {
  if (ng == 1) return GroupTileInt8<kBits>(p, xw, sx, xa, g0, gw, out);
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), tile = kInt8TileTokens * kInt8TileVecs * N;
  const std::size_t h = (ng + 1) / 2;
  TileTreeInt8<kBits>(p, xw, sx, xa, gw, g0, h, out, stack + tile);
  TileTreeInt8<kBits>(p, xw, sx, xa, gw, g0 + h, ng - h, stack, stack + tile);
  for (std::size_t i = 0; i < tile; i += N)
    hn::Store(hn::Add(hn::Load(df, out + i), hn::Load(df, stack + i)), df, out + i);
}

// Quantizes the m tokens of x (threads split over tokens) into the calling thread's prep slots.
template <int kBits>
inline QmmInt8Act QmmInt8Prepare(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, std::size_t m,
                                 const parallel& par) {
  const std::size_t K = w.cols, G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const std::size_t per = K / 4;  // u32 words of codes per token (both widths)
  float* sx = ScratchFloats(kSlotSx, 2 * m * G);
  auto* xw = reinterpret_cast<std::uint32_t*>(ScratchFloats(kSlotXp, m * per));
  par.for_each(m, [&](std::size_t t) {
    auto* out = reinterpret_cast<std::int8_t*>(xw + t * per);
    auto* codes = kBits == 4 ? reinterpret_cast<std::int8_t*>(ScratchFloats(kSlotWork1, per)) : out;
    std::memset(codes, 0, K);
    QuantizeActivationInt8<8>(x + t * K, G, gs, sx + t * G, sx + (m + t) * G, codes);  // natural order
    if constexpr (kBits == 4) {  // weight word k holds codes 8k..8k+7, even ones in its low nibbles
      for (std::size_t k = 0; k < K / 8; ++k)
        for (std::size_t b = 0; b < 4; ++b) {
          out[8 * k + b] = codes[8 * k + 2 * b];
          out[8 * k + 4 + b] = codes[8 * k + 2 * b + 1];
        }
    }
  });
  return QmmInt8Act{sx, sx + m * G, xw, per};
}

// Y = X W^T with int8 activations for int8_widths codes; rows of blocks split over threads.
template <int kBits>
inline void QmmInt8Tiles(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, std::size_t m,
                         float* HWY_RESTRICT y, const parallel& par) {
  constexpr std::size_t kT = kInt8TileTokens, kV = kInt8TileVecs;
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), nb = kV * N;
  const std::size_t G = w.groups(), words = w.format.packed_words(w.cols), gw = w.format.group_words();
  const QmmInt8Act act = QmmInt8Prepare<kBits>(w, x, m, par);
  std::size_t depth = 1;
  for (std::size_t n = G; n > 1; n = (n + 1) / 2) ++depth;
  const std::size_t tile = kT * nb;
  par.for_each((w.rows + nb - 1) / nb, [&](std::size_t blk) {
    const std::size_t n0 = blk * nb, rows_here = std::min(nb, w.rows - n0);
    auto* pw = reinterpret_cast<std::uint32_t*>(ScratchFloats(kSlotWork0, words * nb + 2 * G * nb));
    float* ps = reinterpret_cast<float*>(pw + words * nb);
    float* pb = ps + G * nb;
    switch (w.scale_type) {
      case dtype::f32: RepackInt8Panel<float>(w, n0, nb, pw, ps, pb); break;
      case dtype::f16: RepackInt8Panel<f16>(w, n0, nb, pw, ps, pb); break;
      default: RepackInt8Panel<bf16>(w, n0, nb, pw, ps, pb); break;
    }
    float* tiles = ScratchFloats(kSlotWork1, (depth + 1) * tile);
    const QmmInt8Panel panel{pw, ps, pb};
    for (std::size_t t0 = 0; t0 < m; t0 += kT) {
      const std::size_t nt = std::min(kT, m - t0);
      const std::uint32_t* xw[kT];
      const float* sx[kT];
      const float* xa[kT];
      for (std::size_t t = 0; t < kT; ++t) {  // a short last tile repeats its last token
        const std::size_t tok = t0 + std::min(t, nt - 1);
        xw[t] = act.xw + tok * act.xw_per_token;
        sx[t] = act.sx + tok * G;
        xa[t] = act.xa + tok * G;
      }
      TileTreeInt8<kBits>(panel, xw, sx, xa, gw, 0, G, tiles, tiles + tile);
      for (std::size_t t = 0; t < nt; ++t)
        for (std::size_t j = 0; j * N < rows_here; ++j)
          std::memcpy(y + (t0 + t) * w.rows + n0 + j * N, tiles + (t * kV + j) * N,
                      std::min(N, rows_here - j * N) * sizeof(float));
    }
  });
}

// qmm_int8: the tiles for int8_widths from a few tokens on; one qmv_int8 per token otherwise.
inline void QmmInt8(const quant::qmatrix_view& w, const float* x, std::size_t m, float* y, const parallel& par) {
  bool tiled = false;
  if (m >= kInt8TileTokens / 2) {
    quant::int8_widths::visit(w.format.bits, [&](auto bits_c) {
      QmmInt8Tiles<bits_c.value>(w, x, m, y, par);
      tiled = true;
    });
  }
  if (!tiled)
    for (std::size_t t = 0; t < m; ++t) QmvInt8(w, x + t * w.cols, y + t * w.rows, par);
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMM_INT8_INL_H_
