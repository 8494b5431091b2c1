// The int8-activation path of qmv_int8 (per target): the activation quantized per group,
// xq = rint(x / a_g) with a_g = max|x_g| / 127, and the integer dot product of codes with xq.
// Re-included once per Highway target by <famx/kernels.hpp> after common-inl.hpp.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "famx/core/config.hpp"
#include "famx/quant/matmul.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_INT8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_INT8_INL_H_
#undef FAMX_QUANT_INT8_INL_H_
#else
#define FAMX_QUANT_INT8_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Numerics: x is quantized per group to xq = rint(x / a_g), a_g = max|x_g| / 127, and codes are
// multiplied with xq in integers, so a group's sum d_g is exact (in any order) and the result is
// fixed by p_g = s_g * (d_g * a_g) + b_g * sum(x_g): targets with FMA (AVX2 and up) agree bit for
// bit, and so do the others (two roundings).
//
// Layout: a chunk of N words is 4N bytes. For 4-bit codes byte b of word l holds codes 8l+2b (low
// nibble) and 8l+2b+1 (high nibble): xq is split into the matching "lo" and "hi" byte planes.
// For 8-bit codes byte b of word l is code 4l+b: xq stays in natural order, and each code is split
// into its nibbles (q = lo + 16 hi) so that u8 x s8 pair sums cannot saturate.

// The integer dot product, one definition for both code widths: i32 lane i is acc[i] plus
//   sum_{k<4} lo[4i+k] * xa[4i+k] + kHi * sum_{k<4} hi[4i+k] * xb[4i+k]
// for nibbles lo, hi (u8 in [0, 15]) and s8 xa, xb; exact. With VNNI (AVX3_DL) u8 x s8 quads are
// summed straight into i32 (vpdpbusd). Elsewhere on x86 u8 x s8 pairs are summed to i16
// (maddubs; |pair sum| <= 2 * 15 * 128, so with kHi == 1 both pair sums share one i16) and then
// to i32 (madd); other targets widen the bytes to i32 lanes.
#undef FAMX_X86
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define FAMX_X86(op) _mm512_##op
#elif HWY_TARGET == HWY_AVX2
#define FAMX_X86(op) _mm256_##op
#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
#define FAMX_X86(op) _mm_##op
#endif
#if HWY_TARGET == HWY_AVX3_DL
// acc + the u8 x s8 products of each lane's four byte pairs (vpdpbusd). Inline assembly: Highway
// 1.0.3's AVX3_DL target string names avxvnni, not avx512vnni, although its run-time check for
// AVX3_DL requires AVX512-VNNI, so the intrinsic does not compile here.
template <class VI, class VU>
HWY_INLINE VI DotBytes(VI acc, VU u8, VU s8) {
  asm("vpdpbusd %[s], %[u], %[acc]" : [acc] "+v"(acc.raw) : [u] "v"(u8.raw), [s] "v"(s8.raw));
  return acc;
}
#endif
template <int kHi, class DU>
HWY_INLINE hn::Vec<hn::RebindToSigned<DU>> DotNibbles(DU, hn::Vec<hn::RebindToSigned<DU>> acc, hn::Vec<DU> lo,
                                                      hn::Vec<DU> xa, hn::Vec<DU> hi, hn::Vec<DU> xb) {
  const hn::RebindToSigned<DU> di;
#if HWY_TARGET == HWY_AVX3_DL
  static_assert(kHi == 1);
  (void)di;
  return DotBytes(DotBytes(acc, lo, xa), hi, xb);
#elif defined(FAMX_X86)
  const auto one = FAMX_X86(set1_epi16)(1);
  const auto lx = FAMX_X86(maddubs_epi16)(lo.raw, xa.raw), hx = FAMX_X86(maddubs_epi16)(hi.raw, xb.raw);
  if constexpr (kHi == 1) {
    return hn::Add(acc, hn::Vec<decltype(di)>{FAMX_X86(madd_epi16)(FAMX_X86(add_epi16)(lx, hx), one)});
  } else {
    return hn::Add(acc, hn::Vec<decltype(di)>{FAMX_X86(add_epi32)(
                            FAMX_X86(madd_epi16)(lx, one), FAMX_X86(madd_epi16)(hx, FAMX_X86(set1_epi16)(kHi)))});
  }
#else
  auto lo_sum = hn::Zero(di), hi_sum = hn::Zero(di);
  HWY_UNROLL(4)
  for (int k = 0; k < 4; ++k) {  // byte k of each lane: nibbles zero-extended, activations sign-extended
    const auto nib = hn::Set(di, 0xF);
    const auto l = hn::And(hn::ShiftRightSame(hn::BitCast(di, lo), 8 * k), nib);
    const auto h = hn::And(hn::ShiftRightSame(hn::BitCast(di, hi), 8 * k), nib);
    const auto a = hn::ShiftRight<24>(hn::ShiftLeftSame(hn::BitCast(di, xa), 24 - 8 * k));
    const auto b = hn::ShiftRight<24>(hn::ShiftLeftSame(hn::BitCast(di, xb), 24 - 8 * k));
    lo_sum = hn::Add(lo_sum, hn::Mul(l, a));
    hi_sum = hn::Add(hi_sum, hn::Mul(h, b));
  }
  return hn::Add(acc, hn::Add(lo_sum, hn::Mul(hi_sum, hn::Set(di, kHi))));
#endif
}
#undef FAMX_X86

// acc + the exact per-word sums of one chunk of codes with their int8 activations, lane l = word
// l's products. 4-bit: xa and xb are the lo- and hi-nibble planes. 8-bit: xa = xb is x in natural
// order; each code is split into its nibbles, q = lo + 16 hi (with VNNI the bytes are used whole).
template <int kBits, class DU>
HWY_INLINE hn::Vec<hn::RebindToSigned<DU>> DotInt8(DU du, hn::Vec<hn::RebindToSigned<DU>> acc, hn::Vec<DU> w,
                                                   hn::Vec<DU> xa, hn::Vec<DU> xb) {
  const auto nib = hn::Set(du, 0x0F0F0F0Fu);
  if constexpr (kBits == 8) {
#if HWY_TARGET == HWY_AVX3_DL
    (void)nib, (void)xb;
    return DotBytes(acc, w, xa);
#else
    return DotNibbles<16>(du, acc, hn::And(w, nib), xa, hn::And(hn::ShiftRight<4>(w), nib), xa);
#endif
  } else {
    return DotNibbles<1>(du, acc, hn::And(w, nib), xa, hn::And(hn::ShiftRight<4>(w), nib), xb);
  }
}

// xq codes for x[j0 .. j0+gs) (one group, scale a > 0): rint(x / a), stored where the int8 kernels
// read them. 8-bit: natural order. 4-bit: code j = 8l + 2b (+1) is byte b of word l's low (high)
// nibble, so within a chunk of 8N codes the even codes form the lo plane and the odd the hi plane.
template <int kBits>
inline void QuantizeGroupInt8(const float* HWY_RESTRICT x, std::size_t j0, std::size_t gs, float a,
                              std::int8_t* HWY_RESTRICT xq) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
#if HWY_TARGET == HWY_SCALAR
  (void)df;
  for (std::size_t j = j0; j < j0 + gs; ++j) {
    const auto q = static_cast<std::int8_t>(std::nearbyint(x[j] / a));
    xq[kBits == 8 ? j : j / (8 * N) * 8 * N + (j % 2) * 4 * N + (j % (8 * N)) / 2] = q;
  }
#else
  const hn::Rebind<std::int8_t, decltype(df)> d8;
  const auto av = hn::Set(df, a);
  auto code = [&](hn::Vec<decltype(df)> v) { return hn::DemoteTo(d8, hn::NearestInt(hn::Div(v, av))); };
  for (std::size_t j = j0; j < j0 + gs; j += 2 * N) {  // gs is a multiple of 32 >= 2N
    const auto v0 = hn::LoadU(df, x + j), v1 = hn::LoadU(df, x + j + N);
    if constexpr (kBits == 8) {
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

// max |x[0 .. n)| (exact in any order); n is a multiple of 32.
HWY_INLINE float GroupAbsMax(const float* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  auto m = hn::Zero(df);
  std::size_t k = 0;
  for (; k + N <= n; k += N) m = hn::Max(m, hn::Abs(hn::LoadU(df, x + k)));
  float amax = hn::GetLane(hn::MaxOfLanes(df, m));
  for (; k < n; ++k) amax = std::max(amax, std::fabs(x[k]));
  return amax;
}

#if HWY_TARGET != HWY_SCALAR
// sx[g .. g + 4 kSets) = the sums of those groups of x (gs elements each, gs a multiple of 4), each
// one serial chain in index order: lane i of vector s is group g + 4s + i, and a 4 x 4 transpose
// turns four elements of four groups into four steps of the four chains. kSets vectors run side
// by side so that their chains overlap.
template <std::size_t kSets>
HWY_INLINE void GroupSumsBy4(const float* HWY_RESTRICT x, std::size_t g, std::size_t gs, float* HWY_RESTRICT sx) {
  const hn::FixedTag<float, 4> d4;
  hn::Vec<decltype(d4)> acc[kSets];
  for (auto& a : acc) a = hn::Zero(d4);
  for (std::size_t k = 0; k < gs; k += 4) {
    HWY_UNROLL(4)
    for (std::size_t s = 0; s < kSets; ++s) {
      const float* p = x + (g + 4 * s) * gs + k;
      hn::Vec<decltype(d4)> v[4] = {hn::LoadU(d4, p), hn::LoadU(d4, p + gs), hn::LoadU(d4, p + 2 * gs),
                                    hn::LoadU(d4, p + 3 * gs)};
      Transpose4x4(d4, v);  // v[j]: element k + j of the four groups
      acc[s] = hn::Add(hn::Add(hn::Add(hn::Add(acc[s], v[0]), v[1]), v[2]), v[3]);
    }
  }
  for (std::size_t s = 0; s < kSets; ++s) hn::StoreU(acc[s], d4, sx + g + 4 * s);
}
#endif

// One token's int8 activation as qmv_int8 quantizes it: the group sums sx[g] (in index order),
// the scales xa[g] = max|x_g| / 127 and the codes (QuantizeGroupInt8<kBits>'s layout) in xq,
// which must start zeroed (an all-zero group stays zero).
template <int kBits>
inline void QuantizeActivationInt8(const float* HWY_RESTRICT x, std::size_t G, std::size_t gs,
                                   float* HWY_RESTRICT sx, float* HWY_RESTRICT xa, std::int8_t* HWY_RESTRICT xq) {
  // Each group's sum is one serial chain in index order, four groups to a vector (GroupSumsBy4).
  std::size_t g = 0;
#if HWY_TARGET != HWY_SCALAR
  for (; g + 16 <= G; g += 16) GroupSumsBy4<4>(x, g, gs, sx);
  for (; g + 4 <= G; g += 4) GroupSumsBy4<1>(x, g, gs, sx);
#endif
  for (; g < G; ++g) {
    float t = 0;
    for (std::size_t k = 0; k < gs; ++k) t += x[g * gs + k];
    sx[g] = t;
  }
  for (g = 0; g < G; ++g) {
    const float a = GroupAbsMax(x + g * gs, gs) / 127.0f;
    xa[g] = a;
    if (a > 0) QuantizeGroupInt8<kBits>(x, g * gs, gs, a, xq);
  }
}

// Prepares x for the int8 path of a matrix with int8_widths codes: group sums, per-group
// activation scales a_g = max|x_g| / 127 and the xq byte planes, in this thread's prep slots.
template <int kBits>
inline QmvCall QmvInt8Prepare(const quant::qmatrix_view& w, const float* HWY_RESTRICT x) {
  static_assert(quant::int8_widths::contains(kBits));
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  const std::size_t G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const std::size_t words = w.format.packed_words(w.cols), chunks = (words + N - 1) / N;
  constexpr std::size_t kT = kTileRows;
  constexpr std::size_t kPlanes = kBits == 4 ? 2 : 1;
  float* sx = ScratchFloats(kSlotSx, 2 * kT * G);  // [kT][G] group sums, then [kT][G] activation scales
  float* xa = sx + kT * G;
  const std::size_t plane = chunks * 4 * N;  // bytes per plane (one chunk of N words is 4N bytes)
  auto* xq = reinterpret_cast<std::int8_t*>(ScratchFloats(kSlotXp, kPlanes * plane / 4));
  std::memset(xq, 0, kPlanes * plane);
  QuantizeActivationInt8<kBits>(x, G, gs, sx, xa, xq);
  for (std::size_t i = 1; i < kT; ++i) {
    std::memcpy(sx + i * G, sx, G * sizeof(float));
    std::memcpy(xa + i * G, xa, G * sizeof(float));
  }
  return QmvCall{&w, x, sx, chunks, nullptr, xq, xa};
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_INT8_INL_H_
