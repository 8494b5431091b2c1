// The 4-row qmv kernel for power-of-two code widths (2, 4, 8), exact and int8 paths, on any row
// and scale strides (strided views, row-parallel group slices, the rows the streaming kernel
// leaves). Codes are extracted in place from whole words (see PrepPow2); per-word dot products
// are summed into groups by lane-pair trees (SegmentSums), then into partials and tree_sum.
// Re-included once per Highway target by <famx/kernels.hpp> after int8-inl.hpp.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <hwy/cache_control.h>

#include "famx/core/config.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_QMV_ROWS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_QMV_ROWS_INL_H_
#undef FAMX_QUANT_QMV_ROWS_INL_H_
#else
#define FAMX_QUANT_QMV_ROWS_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Exact-path code extraction (pow2_widths; shared with the streaming kernel): a vector of N words covers N*kPer codes; lane l holds word l. Code j of every word is
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

// Exact per-word integer sums of one chunk of four rows, stored as f32 lanes (|sum| < 2^24).
template <int kBits, class DF>
HWY_INLINE void ChunkDotInt4(DF df, const std::uint32_t* const* rows, std::size_t c,
                             const std::uint32_t* tail_rows, const std::int8_t* HWY_RESTRICT xq,
                             float* HWY_RESTRICT const* out) {
  const std::size_t N = hn::Lanes(df);
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const auto* xw = reinterpret_cast<const std::uint32_t*>(xq);
  const auto xa = hn::Load(du, xw);
  const auto xb = kBits == 4 ? hn::Load(du, xw + N) : xa;
  for (std::size_t r = 0; r < 4; ++r) {
    const auto w = InRegister(hn::LoadU(du, tail_rows ? tail_rows + r * (HWY_MAX_BYTES / 4) : rows[r] + c * N));
    hn::Store(hn::ConvertTo(df, DotInt8<kBits>(du, hn::Zero(di), w, xa, xb)), df, out[r] + c * N);
  }
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
      ChunkDot4<kBits>(df, InRegister(hn::LoadU(du, rows[0] + c * N)), InRegister(hn::LoadU(du, rows[1] + c * N)),
                       InRegister(hn::LoadU(du, rows[2] + c * N)), InRegister(hn::LoadU(du, rows[3] + c * N)),
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

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMV_ROWS_INL_H_
