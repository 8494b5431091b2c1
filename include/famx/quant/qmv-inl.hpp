// Per-target quantized matrix-vector (qmv) and matrix-matrix (qmm) products on MLX affine weights.
// Re-included once per Highway target by <famx/kernels.hpp>: include that header, not this one.
//
// Numerics (all targets): accumulation in fp32. Each group g of a row yields the partial
//   p_g = s_g * sum_j(q_j * x_j) + b_g * sum_j(x_j)
// and the row's result is tree_sum(p_0 .. p_{G-1}) (famx/core/tree_sum.hpp), so a row-parallel
// split over a power-of-two number of ranks reproduces the unsplit result bit for bit.
// How one group's dot product is summed depends on the lane count, so targets agree to rounding,
// not bitwise.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <hwy/aligned_allocator.h>
#include <hwy/cache_control.h>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/quant/pack.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_QMV_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_QMV_INL_H_
#undef FAMX_QUANT_QMV_INL_H_
#else
#define FAMX_QUANT_QMV_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Scratch slots: 0-1 belong to the row workers, 2-3 to a call's prep (sx, permuted x), 4 to the
// calling thread's own inputs or outputs (a widened bf16 x, the fused SwiGLU's two projections);
// the calling thread is also a worker, so the sets must not overlap.
enum ScratchSlot : int { kSlotWork0 = 0, kSlotWork1 = 1, kSlotSx = 2, kSlotXp = 3, kSlotInput = 4 };

// A per-thread, per-slot scratch buffer of at least n floats (grows, never shrinks).
inline float* ScratchFloats(int slot, std::size_t n) {
  struct Buffer {
    hwy::AlignedFreeUniquePtr<float[]> p;
    std::size_t n = 0;
  };
  static thread_local Buffer buffers[5];
  Buffer& b = buffers[slot];
  if (b.n < n) {
    b.p = hwy::AllocateAligned<float>(n);
    b.n = n;
  }
  return b.p.get();
}

// Loads N scale (or bias) values of type ScaleT as f32.
template <class DF, class ScaleT>
HWY_INLINE hn::Vec<DF> LoadScales(DF df, const ScaleT* HWY_RESTRICT p) {
  if constexpr (std::is_same_v<ScaleT, float>) {
    return hn::LoadU(df, p);
  } else if constexpr (std::is_same_v<ScaleT, bf16>) {
    const hn::Rebind<hwy::bfloat16_t, DF> dbf;
    return hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(p)));
  } else {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
  }
}

template <class ScaleT>
HWY_INLINE float ScaleToF32(ScaleT v) {
  if constexpr (std::is_same_v<ScaleT, float>) {
    return v;
  } else {
    return v.to_float();
  }
}

// Copies of the group sums (and activation scales) a preparation lays out: one per row of a block.
inline constexpr std::size_t kTileRows = 16;

// Per-call state shared by all threads of one qmv call.
struct QmvCall {
  const quant::qmatrix_view* w;
  const float* xp;  // x in the layout the phase-A kernel reads (see PrepPow2 / generic: plain x)
  const float* sx;  // per-group sums of x, [groups], repeated kTileRows times
  std::size_t chunks;  // vectors of words per row (power-of-two bits path)
  float* y;
  const std::int8_t* xq = nullptr;  // int8 path: quantized x planes (see ChunkDotInt4)
  const float* xa = nullptr;        // int8 path: per-group activation scales, repeated kTileRows times
};

// ---------------------------------------------------------------------------------------------
// Power-of-two bit widths (2, 4, 8): codes are extracted in place from whole words.
//
// A vector of N words covers N*kPer codes; lane l holds word l. Code j of every word is
// `word & (mask << kBits*j)` = q * 2^(kBits*j), exact in fp32, so x is pre-scaled by 2^-(kBits*j)
// once per call and the product is q*x exactly as in natural order. The top code uses a shift
// (its masked value would not fit a signed lane).

// xp[(c*kPer + j)*N + l] = x[(c*N + l)*kPer + j] * 2^-(kBits*j) (top j unscaled), zero past cols.
template <int kBits>
inline void PrepPow2(const float* HWY_RESTRICT x, std::size_t cols, std::size_t N, std::size_t chunks,
                     float* HWY_RESTRICT xp) {
  constexpr std::size_t kPer = 32 / kBits;
  float pre[kPer];
  for (std::size_t j = 0; j < kPer; ++j)
    pre[j] = j + 1 < kPer ? 1.0f / static_cast<float>(1u << (kBits * j)) : 1.0f;
  for (std::size_t c = 0; c < chunks; ++c) {
    for (std::size_t l = 0; l < N; ++l) {
      const std::size_t base = (c * N + l) * kPer;
      float* out = xp + c * kPer * N + l;
      if (base < cols) {
        for (std::size_t j = 0; j < kPer; ++j) out[j * N] = x[base + j] * pre[j];
      } else {
        for (std::size_t j = 0; j < kPer; ++j) out[j * N] = 0.0f;
      }
    }
  }
}

// Per-word dot products of one chunk of one row on the exact path: lane l = sum_j q*x over word
// l's codes, in two chains (even j and odd j, each in order) then added: the exact path's order.
template <int kBits, class DF>
HWY_INLINE hn::Vec<DF> ChunkDot1(DF df, hn::Vec<hn::RebindToUnsigned<DF>> w, const float* HWY_RESTRICT xp) {
  constexpr int kPer = 32 / kBits;
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const std::size_t N = hn::Lanes(df);
  auto even = hn::Zero(df), odd = hn::Zero(df);
  HWY_UNROLL(16)
  for (int j = 0; j < kPer - 1; ++j) {
    const auto m = hn::Set(du, ((1u << kBits) - 1u) << (kBits * j));
    const auto qx = hn::ConvertTo(df, hn::BitCast(di, hn::And(w, m)));
    const auto xj = hn::Load(df, xp + static_cast<std::size_t>(j) * N);
    if (j % 2 == 0) {
      even = hn::MulAdd(qx, xj, even);
    } else {
      odd = hn::MulAdd(qx, xj, odd);
    }
  }
  odd = hn::MulAdd(hn::ConvertTo(df, hn::BitCast(di, hn::ShiftRight<32 - kBits>(w))),
                   hn::Load(df, xp + static_cast<std::size_t>(kPer - 1) * N), odd);
  return hn::Add(even, odd);
}

// Per-lane partial dot products of one chunk (N words) of four rows: a_r[l] = sum_j q*x.
template <int kBits, class DF>
HWY_INLINE void ChunkDot4(DF df, hn::Vec<hn::RebindToUnsigned<DF>> w0, hn::Vec<hn::RebindToUnsigned<DF>> w1,
                          hn::Vec<hn::RebindToUnsigned<DF>> w2, hn::Vec<hn::RebindToUnsigned<DF>> w3,
                          const float* HWY_RESTRICT xp, float* HWY_RESTRICT a0, float* HWY_RESTRICT a1,
                          float* HWY_RESTRICT a2, float* HWY_RESTRICT a3) {
  hn::Store(ChunkDot1<kBits>(df, w0, xp), df, a0);
  hn::Store(ChunkDot1<kBits>(df, w1, xp), df, a1);
  hn::Store(ChunkDot1<kBits>(df, w2, xp), df, a2);
  hn::Store(ChunkDot1<kBits>(df, w3, xp), df, a3);
}

// ---------------------------------------------------------------------------------------------
// The int8 path (qmv_int8): x is quantized per group to xq = rint(x / a_g), a_g = max|x_g| / 127,
// and codes are multiplied with xq in integers (u8 x s8 pairs summed to i16, then to i32), so a
// group's sum d_g is exact and the result is fixed by p_g = s_g * (d_g * a_g) + b_g * sum(x_g):
// targets with FMA (AVX2 and up) agree bit for bit, and so do the others (two roundings).
//
// Layout: a chunk of N words is 4N bytes. For 4-bit codes byte b of word l holds codes 8l+2b (low
// nibble) and 8l+2b+1 (high nibble): xq is split into the matching "lo" and "hi" byte planes.
// For 8-bit codes byte b of word l is code 4l+b: xq stays in natural order, and each code is split
// into its nibbles (q = lo + 16 hi) so that u8 x s8 pair sums cannot saturate.

// i32 lanes: a[4i]*b[4i] + ... + a[4i+3]*b[4i+3] for u8 a and s8 b (|sums| < 2^15 per pair).
#undef FAMX_HAVE_DOT_BYTES
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define FAMX_HAVE_DOT_BYTES 1
template <class DU>
HWY_INLINE hn::Vec<DU> DotBytes(DU, hn::Vec<DU> a, hn::Vec<DU> b, int pair_weight) {
  const __m512i p16 = _mm512_maddubs_epi16(a.raw, b.raw);
  return hn::Vec<DU>{_mm512_madd_epi16(p16, _mm512_set1_epi16(static_cast<short>(pair_weight)))};
}
#elif HWY_TARGET == HWY_AVX2
#define FAMX_HAVE_DOT_BYTES 1
template <class DU>
HWY_INLINE hn::Vec<DU> DotBytes(DU, hn::Vec<DU> a, hn::Vec<DU> b, int pair_weight) {
  const __m256i p16 = _mm256_maddubs_epi16(a.raw, b.raw);
  return hn::Vec<DU>{_mm256_madd_epi16(p16, _mm256_set1_epi16(static_cast<short>(pair_weight)))};
}
#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
#define FAMX_HAVE_DOT_BYTES 1
template <class DU>
HWY_INLINE hn::Vec<DU> DotBytes(DU, hn::Vec<DU> a, hn::Vec<DU> b, int pair_weight) {
  const __m128i p16 = _mm_maddubs_epi16(a.raw, b.raw);
  return hn::Vec<DU>{_mm_madd_epi16(p16, _mm_set1_epi16(static_cast<short>(pair_weight)))};
}
#else
#define FAMX_HAVE_DOT_BYTES 0
#endif

#if FAMX_HAVE_DOT_BYTES
// Exact per-word sums of one chunk of codes with their int8 activations, lane l = word l's
// products. 4-bit: xa and xb are the lo- and hi-nibble planes, and the u8 x s8 pair sums of both
// fit one i16 (|sum| < 2^13). 8-bit: xa = xb is x in natural order and each code is split into
// nibbles, q = lo + 16 hi, so that no pair sum saturates.
template <int kBits, class DU>
HWY_INLINE hn::Vec<hn::RebindToSigned<DU>> DotInt8(DU du, hn::Vec<DU> w, hn::Vec<DU> xa, hn::Vec<DU> xb) {
  const hn::RebindToSigned<DU> di;
  const auto nib = hn::Set(du, 0x0F0F0F0Fu);
  const auto lo = hn::And(w, nib), hi = hn::And(hn::ShiftRight<4>(w), nib);
  if constexpr (kBits == 8) {
    return hn::BitCast(di, hn::Add(DotBytes(du, lo, xa, 1), DotBytes(du, hi, xb, 16)));
  } else {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    const __m512i s16 = _mm512_add_epi16(_mm512_maddubs_epi16(lo.raw, xa.raw), _mm512_maddubs_epi16(hi.raw, xb.raw));
    return hn::Vec<decltype(di)>{_mm512_madd_epi16(s16, _mm512_set1_epi16(1))};
#elif HWY_TARGET == HWY_AVX2
    const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo.raw, xa.raw), _mm256_maddubs_epi16(hi.raw, xb.raw));
    return hn::Vec<decltype(di)>{_mm256_madd_epi16(s16, _mm256_set1_epi16(1))};
#else
    const __m128i s16 = _mm_add_epi16(_mm_maddubs_epi16(lo.raw, xa.raw), _mm_maddubs_epi16(hi.raw, xb.raw));
    return hn::Vec<decltype(di)>{_mm_madd_epi16(s16, _mm_set1_epi16(1))};
#endif
  }
}
#endif

// Exact per-word integer sums of one chunk of four rows, stored as f32 lanes (|sum| < 2^24).
template <int kBits, class DF>
HWY_INLINE void ChunkDotInt4(DF df, const std::uint32_t* const* rows, std::size_t c,
                             const std::uint32_t* tail_rows, const std::int8_t* HWY_RESTRICT xq,
                             float* HWY_RESTRICT const* out) {
  const std::size_t N = hn::Lanes(df);
#if FAMX_HAVE_DOT_BYTES
  const hn::RebindToUnsigned<DF> du;
  const auto* xw = reinterpret_cast<const std::uint32_t*>(xq);
  const auto xa = hn::Load(du, xw);
  const auto xb = kBits == 4 ? hn::Load(du, xw + N) : xa;
  for (std::size_t r = 0; r < 4; ++r) {
    const auto w = hn::LoadU(du, tail_rows ? tail_rows + r * (HWY_MAX_BYTES / 4) : rows[r] + c * N);
    hn::Store(hn::ConvertTo(df, DotInt8<kBits>(du, w, xa, xb)), df, out[r] + c * N);
  }
#else
  for (std::size_t r = 0; r < 4; ++r) {
    const std::uint32_t* words = tail_rows ? tail_rows + r * (HWY_MAX_BYTES / 4) : rows[r] + c * N;
    for (std::size_t l = 0; l < N; ++l) {
      std::int32_t t = 0;
      for (std::size_t b = 0; b < 4; ++b) {
        const std::int32_t byte = static_cast<std::int32_t>((words[l] >> (8 * b)) & 0xFFu);
        const std::int32_t lo = byte & 0xF, hi = byte >> 4;
        if constexpr (kBits == 4) {
          t += lo * xq[4 * l + b] + hi * xq[4 * N + 4 * l + b];
        } else {
          t += (lo + 16 * hi) * xq[4 * l + b];
        }
      }
      out[r][c * N + l] = static_cast<float>(t);
    }
  }
#endif
}

// Sums aligned segments of `seg` lanes of `nv` consecutive vectors in place: afterwards the first
// nv*N/seg floats of a are the segment sums, in (vector, segment) order. nv must be a multiple of
// seg. Each level adds adjacent lane pairs, so a segment's sum is a fixed pairwise tree.
template <class DF>
HWY_INLINE void SegmentSums(DF df, float* HWY_RESTRICT a, std::size_t nv, std::size_t seg) {
#if HWY_TARGET == HWY_SCALAR
  (void)df, (void)a, (void)nv, (void)seg;
#else
  const std::size_t N = hn::Lanes(df);
  for (std::size_t width = 1; width < seg; width *= 2, nv /= 2) {
    for (std::size_t i = 0; i < nv / 2; ++i) {
      const auto lo = hn::Load(df, a + 2 * i * N);
      const auto hi = hn::Load(df, a + (2 * i + 1) * N);
      hn::Store(hn::Add(ConcatEven(df, hi, lo), ConcatOdd(df, hi, lo)), df, a + i * N);
    }
  }
#endif
}

// p[g] = s[g] * d[g] + b[g] * sx[g] for g < G, vectorized.
// With activation scales xa (the int8 path), d[g] is first multiplied by xa[g]. Every group takes
// the same operations (the tail in 1-lane vectors, never compiler-contracted scalar code), so a
// group's partial does not depend on where a slice of the matrix starts.
template <class D, class ScaleT>
HWY_INLINE void GroupPartialsN(D d, const ScaleT* HWY_RESTRICT s, const ScaleT* HWY_RESTRICT b,
                               const float* HWY_RESTRICT dots, const float* HWY_RESTRICT xa,
                               const float* HWY_RESTRICT sx, float* HWY_RESTRICT p) {
  auto dv = hn::LoadU(d, dots);
  if (xa != nullptr) dv = hn::Mul(dv, hn::LoadU(d, xa));
  hn::StoreU(hn::MulAdd(LoadScales(d, s), dv, hn::Mul(LoadScales(d, b), hn::LoadU(d, sx))), d, p);
}

template <class DF, class ScaleT>
HWY_INLINE void GroupPartials(DF df, const ScaleT* HWY_RESTRICT s, const ScaleT* HWY_RESTRICT b,
                              const float* HWY_RESTRICT d, const float* HWY_RESTRICT xa,
                              const float* HWY_RESTRICT sx, std::size_t G, float* HWY_RESTRICT p) {
  const std::size_t N = hn::Lanes(df);
  std::size_t g = 0;
  for (; g + N <= G; g += N)
    GroupPartialsN(df, s + g, b + g, d + g, xa == nullptr ? nullptr : xa + g, sx + g, p + g);
  const hn::CappedTag<float, 1> d1;
  for (; g < G; ++g) GroupPartialsN(d1, s + g, b + g, d + g, xa == nullptr ? nullptr : xa + g, sx + g, p + g);
}

// odd_tree_sum over the blocks p[(k+l)*b .. (k+l+1)*b) in lane l, for the N blocks from k = 0:
// the same tree, one vector of gathered terms per position.
template <class DF>
hn::Vec<DF> OddTreeSumN(DF df, const float* HWY_RESTRICT p, hn::Vec<hn::RebindToSigned<DF>> idx, std::size_t n) {
  if (n == 1) return hn::GatherIndex(df, p, idx);
  const std::size_t h = (n + 1) / 2;
  return hn::Add(OddTreeSumN(df, p, idx, h), OddTreeSumN(df, p + h, idx, n - h));
}

// y[i] = tree_sum(p + i*G, G) for 4 consecutive rows of partials p [4][G] (overwritten). The odd
// blocks of G = 2^a * b are summed first (N blocks at a time in vectors), then the 2^a block sums
// of all 4 rows are paired level by level in vectors; adjacent pairing of the flat array is the
// halving tree.
template <class DF>
HWY_INLINE void TreeSum4(DF df, float* HWY_RESTRICT p, std::size_t G, float* HWY_RESTRICT y) {
#if HWY_TARGET == HWY_SCALAR
  (void)df;
  for (std::size_t i = 0; i < 4; ++i) y[i] = tree_sum(p + i * G, G);
#else
  std::size_t b = G, levels = 0;
  while (b % 2 == 0) b /= 2, ++levels;
  const std::size_t m = G / b;
  const std::size_t N = hn::Lanes(df);
  if (b > 1) {  // compact in place: each write lands before the blocks still to be read
    const hn::RebindToSigned<DF> di;
    const auto idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<std::int32_t>(b)));
    std::size_t k = 0;
    for (; k + N <= 4 * m; k += N) hn::StoreU(OddTreeSumN(df, p + k * b, idx, b), df, p + k);
    for (; k < 4 * m; ++k) p[k] = detail::odd_tree_sum(p + k * b, b);
  }
  std::size_t len = 4 * m;
  for (; levels > 0 && len >= 2 * N; --levels, len /= 2) {
    for (std::size_t i = 0; i < len / N / 2; ++i) {
      const auto lo = hn::LoadU(df, p + 2 * i * N), hi = hn::LoadU(df, p + (2 * i + 1) * N);
      hn::StoreU(hn::Add(ConcatEven(df, hi, lo), ConcatOdd(df, hi, lo)), df, p + i * N);
    }
  }
  if (levels > 0) {
    std::fill(p + len, p + N, 0.0f);  // pad the last vector; padding never mixes into rows
    auto v = hn::LoadU(df, p);
    for (; levels > 0; --levels) v = hn::Add(ConcatEven(df, v, v), ConcatOdd(df, v, v));
    hn::StoreU(v, df, p);
  }
  for (std::size_t i = 0; i < 4; ++i) y[i] = p[i];
#endif
}

// Rows [r0, r1) of y = W x, power-of-two bits; kInt8 selects the int8-activation chunk kernel.
template <int kBits, class ScaleT, bool kInt8 = false>
inline void QmvRowsPow2(const QmvCall& call, std::size_t r0, std::size_t r1) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const std::size_t N = hn::Lanes(df);
  const quant::qmatrix_view& w = *call.w;
  constexpr std::size_t kPer = 32 / kBits;
  const std::size_t words = w.format.packed_words(w.cols);
  const std::size_t gw = w.format.group_words();
  const std::size_t G = w.groups();
  const std::size_t chunks = call.chunks;
  const std::size_t seg = std::min(N, gw);              // lanes per segment
  const std::size_t segs_per_vec = N / seg;             // segments per stored vector
  const std::size_t segs_per_group = gw / seg;          // segments summed into one group
  const std::size_t nv = (4 * chunks + seg - 1) / seg * seg;  // stored vectors, padded
  float* a = ScratchFloats(kSlotWork0, nv * N);
  float* d = ScratchFloats(kSlotWork1, 8 * G + N);
  float* p = d + 4 * G;  // [4][G] partials, padded to a vector for TreeSum4
  const auto* scales = static_cast<const ScaleT*>(w.scales);
  const auto* biases = static_cast<const ScaleT*>(w.biases);
  const std::size_t full = words / N;  // chunks without a tail

  alignas(64) std::uint32_t tail[4][HWY_MAX_BYTES / 4];
  for (std::size_t rb = r0; rb < r1; rb += 4) {
    const std::size_t nr = std::min<std::size_t>(4, r1 - rb);
    const std::uint32_t* rows[4];
    for (std::size_t i = 0; i < 4; ++i) rows[i] = w.row(rb + std::min(i, nr - 1));
    // The next block's rows, fetched a block ahead: each block starts four new short streams
    // that the hardware prefetchers would only pick up after a few misses.
    const std::uint32_t* next[4];
    for (std::size_t i = 0; i < 4; ++i) next[i] = w.row(std::min(rb + 4 + i, w.rows - 1));
    float* outs[4] = {a, a + chunks * N, a + 2 * chunks * N, a + 3 * chunks * N};
    const std::size_t xq_chunk = (kBits == 4 ? 8 : 4) * N;  // bytes of xq per chunk
    for (std::size_t c = 0; kInt8 && c < full; ++c) {
      for (std::size_t i = 0; i < 4; ++i) hwy::Prefetch(next[i] + c * N);
      ChunkDotInt4<kBits>(df, rows, c, nullptr, call.xq + c * xq_chunk, outs);
    }
    for (std::size_t c = 0; !kInt8 && c < full; ++c) {
      for (std::size_t i = 0; i < 4; ++i) hwy::Prefetch(next[i] + c * N);
      ChunkDot4<kBits>(df, hn::LoadU(du, rows[0] + c * N), hn::LoadU(du, rows[1] + c * N),
                       hn::LoadU(du, rows[2] + c * N), hn::LoadU(du, rows[3] + c * N),
                       call.xp + c * kPer * N, a + (0 * chunks + c) * N, a + (1 * chunks + c) * N,
                       a + (2 * chunks + c) * N, a + (3 * chunks + c) * N);
    }
    if (full < chunks) {  // the last, partial chunk: zero-padded copies of the tail words
      const std::size_t left = words - full * N;
      for (std::size_t i = 0; i < 4; ++i) {
        std::memset(tail[i], 0, N * sizeof(std::uint32_t));
        std::memcpy(tail[i], rows[i] + full * N, left * sizeof(std::uint32_t));
      }
      if constexpr (kInt8) {
        ChunkDotInt4<kBits>(df, rows, full, tail[0], call.xq + full * xq_chunk, outs);
      } else {
        ChunkDot4<kBits>(df, hn::Load(du, tail[0]), hn::Load(du, tail[1]), hn::Load(du, tail[2]),
                         hn::Load(du, tail[3]), call.xp + full * kPer * N, a + (0 * chunks + full) * N,
                         a + (1 * chunks + full) * N, a + (2 * chunks + full) * N, a + (3 * chunks + full) * N);
      }
    }
    std::fill(a + 4 * chunks * N, a + nv * N, 0.0f);
    SegmentSums(df, a, nv, seg);
    // Group dot products of the 4 rows, d [4][G] (directly the segment sums when they line up).
    const std::size_t row_sums = chunks * segs_per_vec;
    float* dots = d;
    if (segs_per_group == 1 && row_sums == G) {
      dots = a;
    } else {
      for (std::size_t i = 0; i < 4; ++i) {
        const float* sums = a + i * row_sums;
        for (std::size_t g = 0; g < G; ++g) {
          float t = 0;
          for (std::size_t k = 0; k < segs_per_group; ++k) t += sums[g * segs_per_group + k];
          d[i * G + g] = t;
        }
      }
    }
    const std::size_t off = rb * w.scale_stride;
    if (nr == 4 && w.scale_stride == G) {  // 4 rows of scales are contiguous: one pass over 4G
      GroupPartials(df, scales + off, biases + off, dots, call.xa, call.sx, 4 * G, p);
      TreeSum4(df, p, G, call.y + rb);
    } else {
      for (std::size_t i = 0; i < nr; ++i) {
        GroupPartials(df, scales + off + i * w.scale_stride, biases + off + i * w.scale_stride, dots + i * G,
                      call.xa == nullptr ? nullptr : call.xa + i * G, call.sx, G, p);
        call.y[rb + i] = tree_sum(p, G);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The streaming kernel for power-of-two bits in contiguous rows: a block of rows is one run of
// whole chunks, read front to back (with a software prefetch far ahead, which DRAM needs). Each
// chunk's per-word dot products stay in registers; kGw chunks (N groups) are reduced together
// with the pairwise lane tree SegmentSums uses, and their partials are formed as GroupPartialsN
// forms them and summed per row by TreeSum4. It therefore equals QmvRowsPow2 bit for bit.

// Bytes ahead of the read position that the streaming kernel prefetches.
inline constexpr std::size_t kStreamAhead = 8192;



// Sums adjacent lane pairs of the n vectors v[0..n) level by level (SegmentSums' tree) until each
// lane holds a whole segment of n lanes: v[0] then holds the n-lane segment sums in order.
template <std::size_t kN, class V>
HWY_INLINE void PairLanes(V* HWY_RESTRICT v) {
#if HWY_TARGET == HWY_SCALAR
  (void)v;
#else
  if constexpr (kN > 1) {
    const hn::DFromV<V> d;
    HWY_UNROLL(16)
    for (std::size_t i = 0; i < kN / 2; ++i)
      v[i] = hn::Add(hn::ConcatEven(d, v[2 * i + 1], v[2 * i]), hn::ConcatOdd(d, v[2 * i + 1], v[2 * i]));
    PairLanes<kN / 2>(v);
  }
#endif
}

// Rows [r0, r1) of y = W x with kBits codes of kGw words per group (kInt8: the int8 path, 4- and
// 8-bit); returns the first row it did not compute (r0 when the matrix does not fit its layout).
template <int kBits, std::size_t kGw, class ScaleT, bool kInt8>
inline std::size_t QmvRowsStream(const QmvCall& call, std::size_t r0, std::size_t r1) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::RebindToSigned<decltype(df)> di;
  const std::size_t N = hn::Lanes(df);
  const quant::qmatrix_view& w = *call.w;
  const std::size_t G = w.groups();
  // Whole chunks per row, rows and their scales back to back, and at least a vector of groups
  // per 4 rows (TreeSum4 pads its last vector in place).
#if HWY_TARGET == HWY_SCALAR
  (void)df, (void)du, (void)di, (void)N, (void)w, (void)G, (void)r1;
  return r0;
#else
  if (N < kGw || N % kGw != 0 || (G * kGw) % N != 0 || w.packed_stride != G * kGw || w.scale_stride != G ||
      4 * G < N)
    return r0;
  std::size_t rb_rows = 4;  // rows per block: the fewest (a multiple of 4) that hold whole batches of N groups
  while ((rb_rows * G) % N != 0) rb_rows += 4;
  if (rb_rows > kTileRows) return r0;
  constexpr std::size_t kPer = 32 / kBits;
  const std::size_t cpr = G * kGw / N;          // chunks per row
  const std::size_t batches = rb_rows * G / N;  // kGw chunks each
  float* p = ScratchFloats(kSlotWork1, rb_rows * G + N);
  const auto* scales = static_cast<const ScaleT*>(w.scales);
  const auto* biases = static_cast<const ScaleT*>(w.biases);
  using V = std::conditional_t<kInt8, hn::Vec<decltype(di)>, hn::Vec<decltype(df)>>;
  std::size_t rb = r0;
  for (; rb + rb_rows <= r1; rb += rb_rows) {
    const std::uint32_t* chunk = w.row(rb);
    std::size_t xc = 0;  // the chunk of x that the next chunk of weights meets
    for (std::size_t b = 0; b < batches; ++b) {
      V v[kGw];
      HWY_UNROLL(16)
      for (std::size_t j = 0; j < kGw; ++j, chunk += N) {
        hwy::Prefetch(reinterpret_cast<const std::byte*>(chunk) + kStreamAhead);
        const auto wv = hn::LoadU(du, chunk);
        if constexpr (kInt8) {
#if FAMX_HAVE_DOT_BYTES
          const auto* xq = reinterpret_cast<const std::uint32_t*>(call.xq + xc * (kBits == 4 ? 8 : 4) * N);
          const auto xa = hn::Load(du, xq);
          v[j] = DotInt8<kBits>(du, wv, xa, kBits == 4 ? hn::Load(du, xq + N) : xa);
#endif
        } else {
          v[j] = ChunkDot1<kBits>(df, wv, call.xp + xc * kPer * N);
        }
        xc = xc + 1 == cpr ? 0 : xc + 1;
      }
      PairLanes<kGw>(v);
      const std::size_t f = b * N;  // the first of the batch's groups within the block
      hn::Vec<decltype(df)> dv;
      if constexpr (kInt8) {
        dv = hn::Mul(hn::ConvertTo(df, v[0]), hn::LoadU(df, call.xa + f));
      } else {
        dv = v[0];
      }
      const std::size_t off = rb * G + f;
      hn::StoreU(hn::MulAdd(LoadScales(df, scales + off), dv,
                            hn::Mul(LoadScales(df, biases + off), hn::LoadU(df, call.sx + f))),
                 df, p + f);
    }
    for (std::size_t q = 0; q < rb_rows; q += 4) TreeSum4(df, p + q * G, G, call.y + rb + q);
  }
  return rb;
#endif
}

// The streaming kernel for w's group width, where it applies; returns the first row left to do.
template <int kBits, class ScaleT, bool kInt8>
inline std::size_t QmvRowsStreamAny(const QmvCall& call, std::size_t r0, std::size_t r1) {
  switch (call.w->format.group_words()) {
    case 4: return QmvRowsStream<kBits, 4, ScaleT, kInt8>(call, r0, r1);
    case 8: return QmvRowsStream<kBits, 8, ScaleT, kInt8>(call, r0, r1);
    case 16: return QmvRowsStream<kBits, 16, ScaleT, kInt8>(call, r0, r1);
    default: return r0;
  }
}

// ---------------------------------------------------------------------------------------------
// Any bit width (3, 5, 6 and the others): codes are decoded per group into floats, then dotted.

// Decodes the gs codes of one group (starting word-aligned at `row`) into q.
inline void DecodeGroup(const std::uint32_t* HWY_RESTRICT row, int bits, std::size_t gs,
                        float* HWY_RESTRICT q) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(row);
  const std::uint64_t mask = (1u << bits) - 1u;
  for (std::size_t k = 0; k < gs; k += 8) {  // 8 codes fill exactly `bits` bytes
    std::uint64_t window = 0;
    std::memcpy(&window, bytes + k / 8 * static_cast<std::size_t>(bits), static_cast<std::size_t>(bits));
    for (std::size_t i = 0; i < 8; ++i)
      q[k + i] = static_cast<float>((window >> (i * static_cast<std::size_t>(bits))) & mask);
  }
}

// Sum of q[i] * x[i] over one group (gs is a multiple of 32), lanes then a full reduction.
template <class DF>
HWY_INLINE float GroupDot(DF df, const float* HWY_RESTRICT q, const float* HWY_RESTRICT x, std::size_t gs) {
  const std::size_t N = hn::Lanes(df);
  auto acc = hn::Zero(df);
  for (std::size_t k = 0; k < gs; k += N) acc = hn::MulAdd(hn::LoadU(df, q + k), hn::LoadU(df, x + k), acc);
  return hn::GetLane(hn::SumOfLanes(df, acc));
}

template <class ScaleT>
inline void QmvRowsGeneric(const QmvCall& call, std::size_t r0, std::size_t r1) {
  const hn::ScalableTag<float> df;
  const quant::qmatrix_view& w = *call.w;
  const std::size_t G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const std::size_t gw = w.format.group_words();
  float* q = ScratchFloats(kSlotWork0, gs);
  float* d = ScratchFloats(kSlotWork1, 2 * G);
  float* p = d + G;
  const auto* scales = static_cast<const ScaleT*>(w.scales);
  const auto* biases = static_cast<const ScaleT*>(w.biases);
  for (std::size_t r = r0; r < r1; ++r) {
    for (std::size_t g = 0; g < G; ++g) {
      DecodeGroup(w.row(r) + g * gw, w.format.bits, gs, q);
      d[g] = GroupDot(df, q, call.xp + g * gs, gs);
    }
    GroupPartials(df, scales + r * w.scale_stride, biases + r * w.scale_stride, d, nullptr, call.sx, G, p);
    call.y[r] = tree_sum(p, G);
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points.

template <class ScaleT>
inline void QmvRows(const QmvCall& call, std::size_t r0, std::size_t r1) {
  // The streaming kernel takes the blocks of rows it can; QmvRowsPow2 the rest.
  if (call.xq != nullptr) {  // prepared by QmvInt8Prepare (4- and 8-bit only)
    const bool four = call.w->format.bits == 4;
#if FAMX_HAVE_DOT_BYTES
    r0 = four ? QmvRowsStreamAny<4, ScaleT, true>(call, r0, r1) : QmvRowsStreamAny<8, ScaleT, true>(call, r0, r1);
#endif
    if (r0 == r1) return;
    return four ? QmvRowsPow2<4, ScaleT, true>(call, r0, r1) : QmvRowsPow2<8, ScaleT, true>(call, r0, r1);
  }
  switch (call.w->format.bits) {
    case 2: r0 = QmvRowsStreamAny<2, ScaleT, false>(call, r0, r1); break;
    case 4: r0 = QmvRowsStreamAny<4, ScaleT, false>(call, r0, r1); break;
    case 8: r0 = QmvRowsStreamAny<8, ScaleT, false>(call, r0, r1); break;
    default: return QmvRowsGeneric<ScaleT>(call, r0, r1);
  }
  if (r0 == r1) return;
  switch (call.w->format.bits) {
    case 2: return QmvRowsPow2<2, ScaleT>(call, r0, r1);
    case 4: return QmvRowsPow2<4, ScaleT>(call, r0, r1);
    default: return QmvRowsPow2<8, ScaleT>(call, r0, r1);
  }
}

// Prepares x for every matrix of w's format and width: the per-group sums and (power-of-two bits)
// the permuted, pre-scaled copy, in this thread's prep slots. Valid until the next prepare here.
inline QmvCall QmvPrepare(const quant::qmatrix_view& w, const float* HWY_RESTRICT x) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  const std::size_t G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const int bits = w.format.bits;
  const bool pow2 = bits == 2 || bits == 4 || bits == 8;
  const std::size_t words = w.format.packed_words(w.cols);
  const std::size_t chunks = (words + N - 1) / N;
  float* sx = ScratchFloats(kSlotSx, kTileRows * G);  // the group sums, repeated for kTileRows rows
  float* xp = pow2 ? ScratchFloats(kSlotXp, chunks * N * (32 / static_cast<std::size_t>(bits))) : nullptr;
  for (std::size_t g = 0; g < G; ++g) {
    float t = 0;
    for (std::size_t k = 0; k < gs; ++k) t += x[g * gs + k];
    sx[g] = t;
  }
  for (std::size_t i = 1; i < kTileRows; ++i) std::memcpy(sx + i * G, sx, G * sizeof(float));
  if (bits == 2) PrepPow2<2>(x, w.cols, N, chunks, xp);
  if (bits == 4) PrepPow2<4>(x, w.cols, N, chunks, xp);
  if (bits == 8) PrepPow2<8>(x, w.cols, N, chunks, xp);
  return QmvCall{&w, pow2 ? xp : x, sx, chunks, nullptr};
}

// y = W x for a prepared x (QmvPrepare with a matrix of the same format and width).
inline void QmvRun(const quant::qmatrix_view& w, QmvCall call, float* HWY_RESTRICT y, const parallel& par) {
  call.w = &w;
  call.y = y;
  const std::size_t per = workers_rows(w.rows, par.workers);
  par.for_each((w.rows + per - 1) / per, [&](std::size_t i) {
    const std::size_t r0 = i * per, r1 = std::min(w.rows, r0 + per);
    switch (w.scale_type) {
      case dtype::f32: return QmvRows<float>(call, r0, r1);
      case dtype::f16: return QmvRows<f16>(call, r0, r1);
      default: return QmvRows<bf16>(call, r0, r1);
    }
  });
}

// y = W x (x already f32). Arguments were checked by the caller.
inline void QmvF32Impl(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
                       const parallel& par) {
  QmvRun(w, QmvPrepare(w, x), y, par);
}

// Widens bf16 x into a scratch f32 buffer.
inline const float* WidenBF16(const bf16* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::bfloat16_t, decltype(df)> dbf;
  const std::size_t N = hn::Lanes(df);
  float* out = ScratchFloats(kSlotInput, n);
  std::size_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(x + i))), df, out + i);
  for (; i < n; ++i) out[i] = x[i].to_float();
  return out;
}

inline void QmvF32(const quant::qmatrix_view& w, const float* x, float* y, const parallel& par) {
  QmvF32Impl(w, x, y, par);
}

inline void QmvBF16(const quant::qmatrix_view& w, const bf16* x, float* y, const parallel& par) {
  QmvF32Impl(w, WidenBF16(x, w.cols), y, par);
}

// xq codes for x[j0 .. j0+gs) (one group, scale a > 0): rint(x / a), stored where the int8 kernels
// read them. 8-bit: natural order. 4-bit: code j = 8l + 2b (+1) is byte b of word l's low (high)
// nibble, so within a chunk of 8N codes the even codes form the lo plane and the odd the hi plane.
inline void QuantizeGroupInt8(const float* HWY_RESTRICT x, std::size_t j0, std::size_t gs, float a, int bits,
                              std::int8_t* HWY_RESTRICT xq) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
#if HWY_TARGET == HWY_SCALAR
  (void)df;
  for (std::size_t j = j0; j < j0 + gs; ++j) {
    const auto q = static_cast<std::int8_t>(std::nearbyint(x[j] / a));
    xq[bits == 8 ? j : j / (8 * N) * 8 * N + (j % 2) * 4 * N + (j % (8 * N)) / 2] = q;
  }
#else
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<std::int8_t, decltype(df)> d8;
  const auto av = hn::Set(df, a);
  auto code = [&](hn::Vec<decltype(df)> v) { return hn::DemoteTo(d8, hn::ConvertTo(di, hn::Round(hn::Div(v, av)))); };
  for (std::size_t j = j0; j < j0 + gs; j += 2 * N) {  // gs is a multiple of 32 >= 2N
    const auto v0 = hn::LoadU(df, x + j), v1 = hn::LoadU(df, x + j + N);
    if (bits == 8) {
      hn::StoreU(code(v0), d8, xq + j);
      hn::StoreU(code(v1), d8, xq + j + N);
    } else {
      std::int8_t* lo = xq + j / (8 * N) * 8 * N + (j % (8 * N)) / 2;
      hn::StoreU(code(hn::ConcatEven(df, v1, v0)), d8, lo);
      hn::StoreU(code(hn::ConcatOdd(df, v1, v0)), d8, lo + 4 * N);
    }
  }
#endif
}

// Prepares x for the int8 path (4- and 8-bit weights; other widths get the exact preparation):
// group sums, per-group activation scales a_g = max|x_g| / 127 and the xq byte planes.
inline QmvCall QmvInt8Prepare(const quant::qmatrix_view& w, const float* HWY_RESTRICT x) {
  const int bits = w.format.bits;
  if (bits != 4 && bits != 8) return QmvPrepare(w, x);
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  const std::size_t G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const std::size_t words = w.format.packed_words(w.cols), chunks = (words + N - 1) / N;
  constexpr std::size_t kT = kTileRows;
  float* sx = ScratchFloats(kSlotSx, 2 * kT * G);  // [kT][G] group sums, then [kT][G] activation scales
  float* xa = sx + kT * G;
  const std::size_t plane = chunks * 4 * N;  // bytes per plane (one chunk of N words is 4N bytes)
  auto* xq = reinterpret_cast<std::int8_t*>(ScratchFloats(kSlotXp, (bits == 4 ? 2 : 1) * plane / 4));
  std::memset(xq, 0, (bits == 4 ? 2 : 1) * plane);
  for (std::size_t g = 0; g < G; ++g) {
    float t = 0, amax = 0;
    for (std::size_t k = 0; k < gs; ++k) {
      t += x[g * gs + k];
      amax = std::max(amax, std::fabs(x[g * gs + k]));
    }
    sx[g] = t;
    const float a = amax / 127.0f;
    xa[g] = a;
    if (a > 0) QuantizeGroupInt8(x, g * gs, gs, a, bits, xq);  // an all-zero group stays zero
  }
  for (std::size_t i = 1; i < kT; ++i) {
    std::memcpy(sx + i * G, sx, G * sizeof(float));
    std::memcpy(xa + i * G, xa, G * sizeof(float));
  }
  return QmvCall{&w, x, sx, chunks, nullptr, xq, xa};
}

// y = W x with x quantized to int8 per group (4- and 8-bit weights; others take the exact path).
inline void QmvInt8(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
                    const parallel& par) {
  QmvRun(w, QmvInt8Prepare(w, x), y, par);
}

// ---------------------------------------------------------------------------------------------
// qmm: Y[m, :] = W X[m, :] for M tokens. Weights are dequantized once per block of 2N rows into a
// transposed f32 panel, then a 4-token x 2N-row register tile accumulates one group at a time;
// group tiles are combined with the same halving tree as qmv.

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

#endif  // FAMX_QUANT_QMV_INL_H_
