// Per-target building blocks shared by the quantized kernels (qmv, qmv_int8, qmm): per-thread
// scratch, scale loading, the per-call state of a prepared activation, and the fixed-order sums
// every kernel uses: lane-pair segment sums, group partials p_g = s_g * d_g + b_g * sum(x_g) and
// the halving tree over groups (tree_sum, four rows at a time).
// Re-included once per Highway target by <famx/kernels.hpp>: include that header, not this one.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <hwy/aligned_allocator.h>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_COMMON_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_COMMON_INL_H_
#undef FAMX_QUANT_COMMON_INL_H_
#else
#define FAMX_QUANT_COMMON_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Scratch slots: 0-1 belong to the row workers, 2-3 to a call's prep (sx, permuted x), 4 to the
// calling thread's own inputs or outputs (a widened bf16 x, the fused SwiGLU's two projections),
// 5 to qmm_int8's tiles of activations; the calling thread is also a worker, so the sets must not
// overlap.
enum ScratchSlot : int { kSlotWork0 = 0, kSlotWork1 = 1, kSlotSx = 2, kSlotXp = 3, kSlotInput = 4, kSlotTiles = 5 };

// A per-thread, per-slot scratch buffer of at least n floats (grows, never shrinks).
inline float* ScratchFloats(int slot, std::size_t n) {
  struct Buffer {
    hwy::AlignedFreeUniquePtr<float[]> p;
    std::size_t n = 0;
  };
  static thread_local Buffer buffers[6];
  Buffer& b = buffers[slot];
  if (b.n < n) {
    b.p = hwy::AllocateAligned<float>(n);
    b.n = n;
  }
  return b.p.get();
}

// v, pinned to a register: a streamed weight vector used by several operations is otherwise
// folded by the compiler into each of them as a memory operand, one load of the same line per
// use (on AVX3 the 8-bit exact qmv ran 1.7x slower that way). Not an operation: same bits.
template <class V>
HWY_INLINE V InRegister(V v) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_SSSE3
  asm("" : "+v"(v.raw));
#endif
  return v;
}

#if HWY_TARGET != HWY_SCALAR
// Transposes the 4 x 4 matrix of 32-bit lanes whose rows are r[0..3] (128-bit vectors): r[i]
// becomes its column i. Moves lanes only.
template <class D>
HWY_INLINE void Transpose4x4(D d, hn::Vec<D> (&r)[4]) {
  static_assert(sizeof(hn::TFromD<D>) == 4 && hn::MaxLanes(D()) == 4);
  const hn::Repartition<std::uint64_t, D> d64;
  const auto lo01 = hn::BitCast(d64, hn::InterleaveLower(d, r[0], r[1]));  // r0[0] r1[0] r0[1] r1[1]
  const auto lo23 = hn::BitCast(d64, hn::InterleaveLower(d, r[2], r[3]));
  const auto hi01 = hn::BitCast(d64, hn::InterleaveUpper(d, r[0], r[1]));  // r0[2] r1[2] r0[3] r1[3]
  const auto hi23 = hn::BitCast(d64, hn::InterleaveUpper(d, r[2], r[3]));
  r[0] = hn::BitCast(d, hn::InterleaveLower(d64, lo01, lo23));
  r[1] = hn::BitCast(d, hn::InterleaveUpper(d64, lo01, lo23));
  r[2] = hn::BitCast(d, hn::InterleaveLower(d64, hi01, hi23));
  r[3] = hn::BitCast(d, hn::InterleaveUpper(d64, hi01, hi23));
}
#endif

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

// One scale (or bias) value of type ScaleT as f32.
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
  const std::int8_t* xq = nullptr;  // int8 path: quantized x planes (see int8-inl.hpp)
  const float* xa = nullptr;        // int8 path: per-group activation scales, repeated kTileRows times
};

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

// GroupPartialsN over G groups: N at a time, the rest one at a time.
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

// detail::odd_tree_sum(p, n) with n known at compile time: inlined, so that blocks overlap.
template <std::size_t n>
HWY_INLINE float OddTree(const float* p) {
  if constexpr (n == 1) {
    return p[0];
  } else {
    constexpr std::size_t h = (n + 1) / 2;
    return OddTree<h>(p) + OddTree<n - h>(p + h);
  }
}

// p[k] = odd_tree_sum(p + k*b, b) for k in [k0, k1), in place (each write lands before the blocks
// still to be read); the odd blocks of real models' group counts are written out.
HWY_INLINE void OddTreeSums(float* p, std::size_t k0, std::size_t k1, std::size_t b) {
  const auto run = [&](auto n) {
    for (std::size_t k = k0; k < k1; ++k) p[k] = OddTree<decltype(n)::value>(p + k * decltype(n)::value);
  };
  switch (b) {
    case 3: return run(std::integral_constant<std::size_t, 3>{});
    case 5: return run(std::integral_constant<std::size_t, 5>{});
    case 7: return run(std::integral_constant<std::size_t, 7>{});
    case 9: return run(std::integral_constant<std::size_t, 9>{});
    case 11: return run(std::integral_constant<std::size_t, 11>{});
    default:
      for (std::size_t k = k0; k < k1; ++k) p[k] = detail::odd_tree_sum(p + k * b, b);
  }
}

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

// Vectors of partials TreeSum4 pairs in registers (the levels above it go through memory).
inline constexpr std::size_t kTreeVectors = 16;

// Stores lanes 0-3 of v to y (v has at least 4 lanes).
template <class D>
HWY_INLINE void StoreFirst4(D d, hn::Vec<D> v, float* HWY_RESTRICT y) {
  if constexpr (hn::MaxLanes(d) > 4) {
    StoreFirst4(hn::Half<D>(), hn::LowerHalf(v), y);
  } else {
    hn::StoreU(v, d, y);
  }
}

// TreeSum4's last levels over kV vectors of partials p (4 rows' block sums, flat): the same
// adjacent pairing, PairLanes over the vectors and then within the one left, kept in registers
// (through memory each level waits on a store-to-load forward). levels: the pairing levels left.
template <std::size_t kV, class DF>
HWY_INLINE void TreeSum4Registers(DF df, const float* HWY_RESTRICT p, std::size_t levels, float* HWY_RESTRICT y) {
  const std::size_t N = hn::Lanes(df);
  hn::Vec<DF> v[kV];
  HWY_UNROLL(16)
  for (std::size_t i = 0; i < kV; ++i) v[i] = hn::LoadU(df, p + i * N);
  PairLanes<kV>(v);
  for (std::size_t k = kV; k > 1; k /= 2) --levels;
  for (; levels > 0; --levels) v[0] = hn::Add(ConcatEven(df, v[0], v[0]), ConcatOdd(df, v[0], v[0]));
  StoreFirst4(df, v[0], y);
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
    if (b == 3) {  // (Qwen3's 768 and 3072 columns): deinterleaving loads instead of gathers
      for (; k + N <= 4 * m; k += N) {
        hn::Vec<DF> p0, p1, p2;
        hn::LoadInterleaved3(df, p + k * 3, p0, p1, p2);
        hn::StoreU(hn::Add(hn::Add(p0, p1), p2), df, p + k);
      }
    }
    if (b > 11)  // longer blocks: gathered, N at a time (blocks of 5 to 11 run faster written out)
      for (; k + N <= 4 * m; k += N) hn::StoreU(OddTreeSumN(df, p + k * b, idx, b), df, p + k);
    OddTreeSums(p, k, 4 * m, b);
  }
  std::size_t len = 4 * m;
  for (; levels > 0 && len > kTreeVectors * N; --levels, len /= 2) {
    for (std::size_t i = 0; i < len / N / 2; ++i) {
      const auto lo = hn::LoadU(df, p + 2 * i * N), hi = hn::LoadU(df, p + (2 * i + 1) * N);
      hn::StoreU(hn::Add(ConcatEven(df, hi, lo), ConcatOdd(df, hi, lo)), df, p + i * N);
    }
  }
  if (len >= N) {  // the last levels in registers: len / N is a power of two up to kTreeVectors
    const auto last = [&](auto kv) { return TreeSum4Registers<decltype(kv)::value>(df, p, levels, y); };
    switch (len / N) {
      case 1: return last(std::integral_constant<std::size_t, 1>{});
      case 2: return last(std::integral_constant<std::size_t, 2>{});
      case 4: return last(std::integral_constant<std::size_t, 4>{});
      case 8: return last(std::integral_constant<std::size_t, 8>{});
      default: return last(std::integral_constant<std::size_t, kTreeVectors>{});
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

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_COMMON_INL_H_
