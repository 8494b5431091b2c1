// Per-target qmm_int8: M tokens with int8 activations. Each token is quantized exactly as qmv_int8
// quantizes it; the weights are read in the panel layout (quant/panel_layout.hpp: word k of 32 rows
// side by side, so each lane accumulates its own row and no horizontal sum is needed), repacked per
// call from an MLX view or built once at load time, and multiplied in register
// tiles of kInt8TileTokens tokens x kInt8TileVecs row vectors with the DotInt8 building block
// (vpdpbusd with VNNI, maddubs elsewhere). A group's integer dot product is exact in any order;
// its partial s_g * (d_g * a_g) + b_g * sum(x_g) takes GroupPartialsN's operations and the
// groups are summed in tree_sum's tree, so every token's row equals qmv_int8's bit for bit.
// Re-included once per Highway target by <famx/kernels.hpp> after qmv-inl.hpp.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/error.hpp"
#include "famx/quant/activation_layout.hpp"
#include "famx/quant/panel_layout.hpp"
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

// The register tile: up to kInt8TileTokens tokens x kInt8TileVecs vectors of rows. With 32 vector
// registers (AVX-512) a tile of 12 tokens amortizes the weights' nibble split over 48 dot products
// per k step (8 tokens: 32; 16 tokens of one vector of rows: twice the broadcast loads), which ran
// 3-15% faster than 8 (bench/RESULTS.md); other targets keep 8.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
inline constexpr std::size_t kInt8TileTokens = 12;
#else
inline constexpr std::size_t kInt8TileTokens = 8;
#endif
inline constexpr std::size_t kInt8TileVecs = 2;

// The quantized activations of the tokens (quant::int8_activations_view's layout): per token its
// group sums and scales [G] and its codes as u32 words, xw_per_token of them. Output row i takes
// token rows[i] (token i when rows is null).
struct QmmInt8Act {
  const float* sx;
  const float* xa;
  const std::uint32_t* xw;
  std::size_t xw_per_token;
  const std::uint32_t* rows = nullptr;
};

// u32 code words per token and k step (one word of weight codes): the lo and hi planes for 4-bit
// codes, the bytes for 8-bit.
template <int kBits>
inline constexpr std::size_t kInt8StepWords = kBits == 4 ? 2 : 1;

// The activations of one tile of kT tokens side by side (FillTileAct), so that the tile reads
// every token's values at a fixed offset from one pointer: codes [k step][kT][step words], then
// sums and scales [G][kT] each; TileActWords(kT, W, G) u32 words for W code words per token.
struct QmmInt8TileAct {
  const std::uint32_t* xw;
  const float* sx;
  const float* xa;
};

// u32 words of one tile of kT tokens with W code words and G groups each.
inline std::size_t TileActWords(std::size_t kT, std::size_t W, std::size_t G) { return kT * (W + 2 * G); }

// The tile of kT tokens whose layout starts at p (W code words, G groups per token).
inline QmmInt8TileAct TileActAt(const std::uint32_t* p, std::size_t kT, std::size_t W, std::size_t G) {
  const auto* sx = reinterpret_cast<const float*>(p + kT * W);
  return {p, sx, sx + kT * G};
}

// Tokens [t0, t0 + nt) of act (nt <= kT; a short tile repeats its last token) written to out in
// the tile layout of kT tokens.
template <int kBits>
inline void FillTileAct(const QmmInt8Act& act, std::size_t G, std::size_t kT, std::size_t t0, std::size_t nt,
                        std::uint32_t* HWY_RESTRICT out) {
  constexpr std::size_t kC = kInt8StepWords<kBits>;
  const std::size_t W = act.xw_per_token, steps = W / kC;
  const QmmInt8TileAct to = TileActAt(out, kT, W, G);
  auto* sx = const_cast<float*>(to.sx);
  auto* xa = const_cast<float*>(to.xa);
  for (std::size_t t = 0; t < kT; ++t) {
    const std::size_t i = t0 + std::min(t, nt - 1), tok = act.rows ? act.rows[i] : i;
    const std::uint32_t* src = act.xw + tok * W;
    for (std::size_t k = 0; k < steps; ++k) std::memcpy(out + (k * kT + t) * kC, src + k * kC, kC * sizeof(std::uint32_t));
    for (std::size_t g = 0; g < G; ++g) {
      sx[g * kT + t] = act.sx[tok * G + g];
      xa[g * kT + t] = act.xa[tok * G + g];
    }
  }
}

// kInt8TileVecs vectors of rows inside a panel (quant::int8_panels_view's layout): codes [words],
// scales and biases [G], each entry kPanelRows apart. `ahead` is this tile's share of the next
// panel's bytes (null: none), fetched into cache a slice per group while this tile is multiplied.
struct QmmInt8Panel {
  const std::uint32_t* w;
  const float* s;
  const float* b;
  const char* ahead;
  std::size_t ahead_bytes;
};

// The partials p = s * (d * a) + b * sum(x) of group g for the first kT tokens of a tile of kLdT
// (QmmInt8TileAct), in registers: part[t][j] covers vector j of rows.
template <int kBits, std::size_t kT, std::size_t kLdT, class VF>
HWY_INLINE void GroupTileInt8(const QmmInt8Panel& p, const QmmInt8TileAct& x, std::size_t g, std::size_t gw,
                              VF (&part)[kT][kInt8TileVecs]) {
  constexpr std::size_t kV = kInt8TileVecs, kLd = quant::kPanelRows, kC = kInt8StepWords<kBits>;
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::RebindToSigned<decltype(df)> di;
  const std::size_t N = hn::Lanes(df);
  // The loops over the tile are unrolled by pragma: rolled (GCC -O2), the accumulators live on
  // the stack and every vpdpbusd pays a load and a store.
  hn::Vec<decltype(di)> acc[kT][kV];
  HWY_UNROLL(16)
  for (std::size_t t = 0; t < kT; ++t)
    HWY_UNROLL(2)
    for (std::size_t j = 0; j < kV; ++j) acc[t][j] = hn::Zero(di);
  const std::uint32_t* xk = x.xw + g * gw * kLdT * kC;
  for (std::size_t k = g * gw; k < (g + 1) * gw; ++k, xk += kLdT * kC) {
    hn::Vec<decltype(du)> wv[kV];
    HWY_UNROLL(2)
    for (std::size_t j = 0; j < kV; ++j) wv[j] = hn::Load(du, p.w + k * kLd + j * N);
    HWY_UNROLL(16)
    for (std::size_t t = 0; t < kT; ++t) {
      const auto xa_t = hn::Set(du, xk[t * kC]);
      const auto xb_t = kBits == 4 ? hn::Set(du, xk[t * kC + 1]) : xa_t;
      HWY_UNROLL(2)
      for (std::size_t j = 0; j < kV; ++j) acc[t][j] = DotInt8<kBits>(du, acc[t][j], wv[j], xa_t, xb_t);
    }
  }
  HWY_UNROLL(16)
  for (std::size_t t = 0; t < kT; ++t) {
    const auto a = hn::Set(df, x.xa[g * kLdT + t]), sum = hn::Set(df, x.sx[g * kLdT + t]);
    HWY_UNROLL(2)
    for (std::size_t j = 0; j < kV; ++j) {
      const auto dv = hn::Mul(hn::ConvertTo(df, acc[t][j]), a);
      const auto s = hn::Load(df, p.s + g * kLd + j * N), b = hn::Load(df, p.b + g * kLd + j * N);
      part[t][j] = hn::MulAdd(s, dv, hn::Mul(b, sum));
    }
  }
}

// A leaf of tree_sum's tree (core/tree_sum.hpp) over a row's groups, the leaves taken left to
// right: the leaf's partial is added as the right operand to the left siblings waiting at depths
// depth, depth - 1, ... (merges of them), and the sum waits at depth - merges (0: the row's sum).
struct TreeLeaf {
  std::uint16_t depth, merges;
};

// Appends the leaves of the subtree over n >= 1 terms whose root is at `depth` and ends a run of
// `merges` right children.
inline void TreeLeaves(std::size_t n, std::size_t depth, std::size_t merges, TreeLeaf*& out) {
  if (n == 1) {
    *out++ = {static_cast<std::uint16_t>(depth), static_cast<std::uint16_t>(merges)};
    return;
  }
  const std::size_t h = (n + 1) / 2;
  TreeLeaves(h, depth + 1, 0, out);
  TreeLeaves(n - h, depth + 1, merges + 1, out);
}

// Reorders n codes (n a multiple of 8) in place for 4-bit weights: each 8 codes c0..c7 become
// c0 c2 c4 c6 c1 c3 c5 c7, since weight word k holds codes 8k..8k+7 with the even ones in its low
// nibbles.
inline void PairNibbleOrder(std::uint8_t* HWY_RESTRICT codes, std::size_t n) {
  alignas(16) static constexpr std::uint8_t kOrder[16] = {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15};
  std::size_t j = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<std::uint8_t> d8;
  const auto order = hn::LoadDup128(d8, kOrder);  // within each 128-bit block
  for (; j + hn::Lanes(d8) <= n; j += hn::Lanes(d8))
    hn::StoreU(hn::TableLookupBytes(hn::LoadU(d8, codes + j), order), d8, codes + j);
#endif
  for (; j < n; j += 8) {
    std::uint8_t c[8];
    std::memcpy(c, codes + j, 8);
    for (std::size_t b = 0; b < 8; ++b) codes[j + b] = c[kOrder[b]];
  }
}

// Quantizes the m tokens of x [m, K] (threads split over tokens) as qmv_int8 quantizes each: the
// group sums into sx [m][G], the scales into xa [m][G] and the codes into xw [m][K / 4] in
// quant::int8_activations_view's order for kBits-bit weights.
template <int kBits>
inline void QuantizeTokensInt8(const quant::affine_format& fmt, std::size_t K, const float* HWY_RESTRICT x,
                               std::size_t m, float* HWY_RESTRICT sx, float* HWY_RESTRICT xa,
                               std::uint32_t* HWY_RESTRICT xw, const parallel& par) {
  const std::size_t G = fmt.groups(K), gs = static_cast<std::size_t>(fmt.group_size);
  const std::size_t per = K / 4;  // u32 words of codes per token (both widths)
  par.for_each(m, [&](std::size_t t) {
    auto* out = reinterpret_cast<std::int8_t*>(xw + t * per);
    std::memset(out, 0, K);
    QuantizeActivationInt8<8>(x + t * K, G, gs, sx + t * G, xa + t * G, out);  // natural order
    if constexpr (kBits == 4) PairNibbleOrder(reinterpret_cast<std::uint8_t*>(out), K);
  });
}

// Quantizes the m tokens of x [m, K] into the calling thread's prep slots (QuantizeTokensInt8).
template <int kBits>
inline QmmInt8Act QmmInt8Prepare(const quant::affine_format& fmt, std::size_t K, const float* HWY_RESTRICT x,
                                 std::size_t m, const parallel& par) {
  const std::size_t G = fmt.groups(K), per = K / 4;
  float* sx = ScratchFloats(kSlotSx, 2 * m * G);
  auto* xw = reinterpret_cast<std::uint32_t*>(ScratchFloats(kSlotXp, m * per));
  QuantizeTokensInt8<kBits>(fmt, K, x, m, sx, sx + m * G, xw, par);
  return QmmInt8Act{sx, sx + m * G, xw, per};
}

// x [m, K] quantized into out (quant::int8_activations_view's layout for fmt), for 4- and 8-bit
// weights.
inline void QuantizeInt8Activations(const quant::affine_format& fmt, std::size_t K, const float* x, std::size_t m,
                                    std::uint32_t* out, const parallel& par) {
  const quant::int8_activations_view shape{out, fmt, m, K};
  quant::int8_widths::visit(fmt.bits, [&](auto bits_c) {
    QuantizeTokensInt8<bits_c.value>(fmt, K, x, m, const_cast<float*>(shape.sums()),
                                     const_cast<float*>(shape.scales()), const_cast<std::uint32_t*>(shape.codes()), par);
  });
}

// Rows [n0, n0 + n) of scales (or biases) v, of type ScaleT, widened to f32 and transposed to
// out [G][kPanelRows].
template <class ScaleT>
inline void WidenPanelScales(const quant::qmatrix_view& w, const void* v, std::size_t n0, std::size_t n,
                             float* HWY_RESTRICT out) {
  const auto* src = static_cast<const ScaleT*>(v);
  const std::size_t G = w.groups();
  for (std::size_t g = 0; g < G; ++g)
    for (std::size_t i = 0; i < n; ++i) out[g * quant::kPanelRows + i] = ScaleToF32(src[(n0 + i) * w.scale_stride + g]);
}

// Panel p of w (quant::int8_panels_view's layout, panel_words() u32) written to out: the codes
// transposed in 4 x 4 blocks of 128-bit vectors (words per row are a multiple of 4 for 4- and
// 8-bit codes), the scales and biases widened exactly.
inline void FillInt8Panel(const quant::qmatrix_view& w, std::size_t p, std::uint32_t* HWY_RESTRICT out) {
  constexpr std::size_t kLd = quant::kPanelRows;
  const std::size_t words = w.format.packed_words(w.cols), G = w.groups(), n0 = p * kLd;
  const std::size_t n = std::min(kLd, w.rows - n0);
  if (n < kLd) std::fill_n(out, kLd * (words + 2 * G), 0u);
  std::size_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::FixedTag<std::uint32_t, 4> d;
  for (; i + 4 <= n; i += 4) {
    const std::uint32_t* r[4] = {w.row(n0 + i), w.row(n0 + i + 1), w.row(n0 + i + 2), w.row(n0 + i + 3)};
    for (std::size_t k = 0; k < words; k += 4) {
      hn::Vec<decltype(d)> v[4] = {hn::LoadU(d, r[0] + k), hn::LoadU(d, r[1] + k), hn::LoadU(d, r[2] + k),
                                   hn::LoadU(d, r[3] + k)};
      Transpose4x4(d, v);  // v[j]: word k + j of the four rows
      HWY_UNROLL(4)
      for (std::size_t j = 0; j < 4; ++j) hn::Store(v[j], d, out + (k + j) * kLd + i);
    }
  }
#endif
  for (; i < n; ++i) {
    const std::uint32_t* row = w.row(n0 + i);
    for (std::size_t k = 0; k < words; ++k) out[k * kLd + i] = row[k];
  }
  auto* s = reinterpret_cast<float*>(out + words * kLd);
  for (auto [src, dst] : {std::pair{w.scales, s}, std::pair{w.biases, s + G * kLd}}) {
    switch (w.scale_type) {
      case dtype::f32: WidenPanelScales<float>(w, src, n0, n, dst); break;
      case dtype::f16: WidenPanelScales<f16>(w, src, n0, n, dst); break;
      default: WidenPanelScales<bf16>(w, src, n0, n, dst); break;
    }
  }
}

// Every panel of w written to out (quant::fill_int8_panels), panels split over threads.
inline void FillInt8Panels(const quant::qmatrix_view& w, std::uint32_t* out, const parallel& par) {
  const quant::int8_panels_view shape{nullptr, w.format, w.rows, w.cols};
  par.for_each(shape.panels(), [&](std::size_t p) { FillInt8Panel(w, p, out + p * shape.panel_words()); });
}

// Whether this target's row blocks (kInt8TileVecs vectors) tile a panel; true for vectors of up to
// 512 bits (every x86 target).
HWY_INLINE bool Int8PanelsFit() {
  const std::size_t nb = kInt8TileVecs * hn::Lanes(hn::ScalableTag<float>());
  return nb <= quant::kPanelRows && quant::kPanelRows % nb == 0;
}

// Tokens [t0, t0 + nt) (the first kT <= kLdT of a tile of kLdT, x) times one block of rows
// [n0, n0 + rows_here) of y's `rows`: the groups in the order of `leaves`, each partial summed
// into the tiles waiting in `tiles` (one per depth of the tree), then y.
template <int kBits, std::size_t kT, std::size_t kLdT>
inline void TokenTileInt8(const QmmInt8Panel& panel, const QmmInt8TileAct& x, std::size_t G, std::size_t gw,
                          const TreeLeaf* leaves, std::size_t t0, std::size_t nt, float* HWY_RESTRICT tiles,
                          float* HWY_RESTRICT y, std::size_t rows, std::size_t n0, std::size_t rows_here) {
  constexpr std::size_t kV = kInt8TileVecs;
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df), tile = kT * kV * N;
  std::size_t fetched = 0;  // bytes of panel.ahead fetched: about ahead_bytes / G per group, a line at a time
  for (std::size_t g = 0; g < G; ++g) {
    hn::Vec<decltype(df)> part[kT][kV];
    if (panel.ahead)
      for (; fetched * G < (g + 1) * panel.ahead_bytes; fetched += 64) hwy::Prefetch(panel.ahead + fetched);
    GroupTileInt8<kBits, kT, kLdT>(panel, x, g, gw, part);
    const TreeLeaf leaf = leaves[g];
    for (std::size_t l = 0; l < leaf.merges; ++l) {
      const float* left = tiles + (leaf.depth - l) * tile;
      HWY_UNROLL(16)
      for (std::size_t t = 0; t < kT; ++t)
        HWY_UNROLL(2)
        for (std::size_t j = 0; j < kV; ++j) part[t][j] = hn::Add(hn::Load(df, left + (t * kV + j) * N), part[t][j]);
    }
    if (leaf.depth == leaf.merges && rows_here == kV * N) {  // the rows' sums, a whole block: into y
      HWY_UNROLL(16)
      for (std::size_t t = 0; t < kT; ++t)
        if (t < nt)
          HWY_UNROLL(2)
          for (std::size_t j = 0; j < kV; ++j) hn::StoreU(part[t][j], df, y + (t0 + t) * rows + n0 + j * N);
      return;
    }
    float* to = tiles + (leaf.depth - leaf.merges) * tile;
    HWY_UNROLL(16)
    for (std::size_t t = 0; t < kT; ++t)
      HWY_UNROLL(2)
      for (std::size_t j = 0; j < kV; ++j) hn::Store(part[t][j], df, to + (t * kV + j) * N);
  }
  for (std::size_t t = 0; t < nt; ++t)  // a block cut short by the last row: its rows of slot 0
    std::memcpy(y + (t0 + t) * rows + n0, tiles + t * kV * N, rows_here * sizeof(float));
}

// TokenTileInt8 in the smallest tile that holds nt <= kT tokens of a tile of kLdT: kT, then the
// powers of two below it.
template <int kBits, std::size_t kT, std::size_t kLdT = kT>
HWY_INLINE void TokenTileFit(const QmmInt8Panel& panel, const QmmInt8TileAct& x, std::size_t G, std::size_t gw,
                             const TreeLeaf* leaves, std::size_t t0, std::size_t nt, float* HWY_RESTRICT tiles,
                             float* HWY_RESTRICT y, std::size_t rows, std::size_t n0, std::size_t rows_here) {
  if constexpr (kT > 1) {
    constexpr std::size_t kBelow = std::bit_floor(kT - 1);
    if (nt <= kBelow)
      return TokenTileFit<kBits, kBelow, kLdT>(panel, x, G, gw, leaves, t0, nt, tiles, y, rows, n0, rows_here);
  }
  TokenTileInt8<kBits, kT, kLdT>(panel, x, G, gw, leaves, t0, nt, tiles, y, rows, n0, rows_here);
}

// Bytes of quantized activations (codes, sums and scales) in one block of tokens: every panel
// meets one block's tokens before the next block's, so that they stay in L2 rather than stream
// from L3 once per panel (512 tokens of 4096 columns: 2.3 MB; blocks of ~1 MB ran 2-4% faster).
inline constexpr std::size_t kInt8TokenBlockBytes = std::size_t{1} << 20;

// Tokens per block for K columns (a multiple of kT; see kInt8TokenBlockBytes).
inline std::size_t Int8TokenBlock(std::size_t K, std::size_t G, std::size_t kT) {
  return std::max(kT, kInt8TokenBlockBytes / (K + 8 * G) / kT * kT);
}

// Y [m, rows] = X W^T with the weights in panels of the panel layout (panel_of(p): panel p's
// words; next_of(p): the panel to prefetch meanwhile, or null) and X quantized in act: panels split
// over threads, then blocks of kInt8TileVecs vectors of rows x tiles of kT tokens (the last tile
// the smallest that holds what is left, TokenTileFit), `block` tokens at a time.
template <int kBits, std::size_t kT, class PanelOf, class NextOf>
inline void QmmInt8OverPanels(const quant::affine_format& fmt, std::size_t rows, std::size_t K,
                              const QmmInt8Act& act, std::size_t m, std::size_t block, float* HWY_RESTRICT y,
                              const parallel& par, const PanelOf& panel_of, const NextOf& next_of) {
  constexpr std::size_t kLd = quant::kPanelRows;
  const std::size_t nb = kInt8TileVecs * hn::Lanes(hn::ScalableTag<float>());
  const std::size_t G = fmt.groups(K), words = fmt.packed_words(K), gw = fmt.group_words();
  std::size_t depth = 0;
  for (std::size_t n = G; n > 1; n = (n + 1) / 2) ++depth;
  std::vector<TreeLeaf> leaves(G);
  TreeLeaf* cursor = leaves.data();
  TreeLeaves(G, 0, 0, cursor);
  // Each tile of a panel fetches its share of the next panel's bytes (a panel with a next one is
  // whole: kLd / nb blocks of rows), so that the next panel arrives spread over the whole panel's
  // work: fetched in one tile it filled the miss queue (a fifth of a MoE expert's tile time).
  const std::size_t panel_bytes = kLd * (words + 2 * G) * sizeof(std::uint32_t);
  // Each block's tokens are laid out tile by tile (FillTileAct) before its panels run.
  const std::size_t W = act.xw_per_token, tile_words = TileActWords(kT, W, G);
  auto* tile_acts = reinterpret_cast<std::uint32_t*>(ScratchFloats(kSlotTiles, (std::min(m, block) + kT - 1) / kT * tile_words));
  for (std::size_t b0 = 0; b0 < m; b0 += block) {
    const std::size_t b1 = std::min(m, b0 + block);
    const std::size_t per_block = (b1 - b0 + kT - 1) / kT, shares = kLd / nb * per_block;
    par.for_each(per_block, [&](std::size_t i) {
      const std::size_t t0 = b0 + i * kT;
      FillTileAct<kBits>(act, G, kT, t0, std::min(kT, b1 - t0), tile_acts + i * tile_words);
    });
    par.for_each((rows + kLd - 1) / kLd, [&](std::size_t p) {
      const std::uint32_t* P = panel_of(p);
      const auto* next = reinterpret_cast<const char*>(next_of(p));
      const auto* ps = reinterpret_cast<const float*>(P + words * kLd);
      float* tiles = ScratchFloats(kSlotWork1, (depth + 1) * kT * nb);
      for (std::size_t n0 = p * kLd; n0 < std::min(rows, (p + 1) * kLd); n0 += nb) {
        const std::size_t sub = n0 - p * kLd, rows_here = std::min(nb, rows - n0);
        for (std::size_t t0 = b0; t0 < b1; t0 += kT) {
          const std::size_t tile = sub / nb * per_block + (t0 - b0) / kT;  // this tile's share of `next`
          const std::size_t lo = tile * panel_bytes / shares, hi = (tile + 1) * panel_bytes / shares;
          const QmmInt8Panel panel{P + sub, ps + sub, ps + G * kLd + sub, next ? next + lo : nullptr, hi - lo};
          const QmmInt8TileAct x = TileActAt(tile_acts + (t0 - b0) / kT * tile_words, kT, W, G);
          TokenTileFit<kBits, kT>(panel, x, G, gw, leaves.data(), t0, std::min(kT, b1 - t0), tiles, y, rows, n0, rows_here);
        }
      }
    });
  }
}

// From this many tokens on, qmm_int8 on an MLX view repacks and runs the tiles: below it, one
// qmv_int8 per token was faster (bench/RESULTS.md: 4- and 8-bit, 768x2048 to 14336x4096).
inline constexpr std::size_t kInt8ViewMinTokens = 6;

// m rows of y from act through w's panels, each repacked per call into scratch (once: all m
// tokens in one block).
template <int kBits>
inline void QmmInt8ViewRun(const quant::qmatrix_view& w, const QmmInt8Act& act, std::size_t m, float* y,
                           const parallel& par) {
  const quant::int8_panels_view shape{nullptr, w.format, w.rows, w.cols};
  const auto repack = [&](std::size_t p) {
    auto* P = reinterpret_cast<std::uint32_t*>(ScratchFloats(kSlotWork0, shape.panel_words()));
    FillInt8Panel(w, p, P);
    return static_cast<const std::uint32_t*>(P);
  };
  const auto none = [](std::size_t) -> const std::uint32_t* { return nullptr; };  // nothing to fetch ahead
  QmmInt8OverPanels<kBits, kInt8TileTokens>(w.format, w.rows, w.cols, act, m, m, y, par, repack, none);
}

// m rows of y from act through load-time panels, in tiles of kInt8TileTokens tokens (fewer for the
// last: one token for the decode case), in blocks of tokens whose activations stay in L2.
template <int kBits>
inline void QmmInt8PanelsRun(const quant::int8_panels_view& w, const QmmInt8Act& act, std::size_t m, float* y,
                             const parallel& par) {
  const auto panel_of = [&](std::size_t p) { return w.panel(p); };
  const auto next_of = [&](std::size_t p) { return p + 1 < w.panels() ? w.panel(p + 1) : nullptr; };
  const std::size_t block = Int8TokenBlock(w.cols, w.groups(), kInt8TileTokens);
  QmmInt8OverPanels<kBits, kInt8TileTokens>(w.format, w.rows, w.cols, act, m, block, y, par, panel_of, next_of);
}

// The tile kernels' view of quantized activations x, output row i taking token rows[i] (i when null).
inline QmmInt8Act ActOf(const quant::int8_activations_view& x, const std::uint32_t* rows) {
  return QmmInt8Act{x.sums(), x.scales(), x.codes(), x.cols / 4, rows};
}

// Throws unless this target's row tiles fit a panel.
inline void CheckInt8PanelsFit() {
  if (!Int8PanelsFit())
    throw error(errc::unsupported, "qmm_int8.w", "vectors wider than 512 bits", "a target whose row tiles fit a panel");
}

// qmm_int8 on an MLX view: from kInt8ViewMinTokens tokens on, each panel is repacked per call
// into scratch and run through the tiles (int8_widths); one qmv_int8 per token otherwise.
inline void QmmInt8(const quant::qmatrix_view& w, const float* x, std::size_t m, float* y, const parallel& par) {
  bool tiled = false;
  if (m >= kInt8ViewMinTokens && Int8PanelsFit()) {
    quant::int8_widths::visit(w.format.bits, [&](auto bits_c) {
      QmmInt8ViewRun<bits_c.value>(w, QmmInt8Prepare<bits_c.value>(w.format, w.cols, x, m, par), m, y, par);
      tiled = true;
    });
  }
  if (!tiled)
    for (std::size_t t = 0; t < m; ++t) QmvInt8(w, x + t * w.cols, y + t * w.rows, par);
}

// qmm_int8 on an MLX view with activations quantized beforehand: m rows, row i of token rows[i]
// (i when rows is null); the panels are repacked per call whatever m.
inline void QmmInt8Quantized(const quant::qmatrix_view& w, const quant::int8_activations_view& x,
                             const std::uint32_t* rows, std::size_t m, float* y, const parallel& par) {
  CheckInt8PanelsFit();
  quant::int8_widths::visit(w.format.bits, [&](auto bits_c) { QmmInt8ViewRun<bits_c.value>(w, ActOf(x, rows), m, y, par); });
}

// qmm_int8 on load-time panels: every row equals qmv_int8's on the MLX view.
inline void QmmInt8Panels(const quant::int8_panels_view& w, const float* x, std::size_t m, float* y,
                          const parallel& par) {
  CheckInt8PanelsFit();
  quant::int8_widths::visit(w.format.bits, [&](auto bits_c) {
    QmmInt8PanelsRun<bits_c.value>(w, QmmInt8Prepare<bits_c.value>(w.format, w.cols, x, m, par), m, y, par);
  });
}

// qmm_int8 on load-time panels with activations quantized beforehand (rows as QmmInt8Quantized).
inline void QmmInt8PanelsQuantized(const quant::int8_panels_view& w, const quant::int8_activations_view& x,
                                   const std::uint32_t* rows, std::size_t m, float* y, const parallel& par) {
  CheckInt8PanelsFit();
  quant::int8_widths::visit(w.format.bits, [&](auto bits_c) { QmmInt8PanelsRun<bits_c.value>(w, ActOf(x, rows), m, y, par); });
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMM_INT8_INL_H_
