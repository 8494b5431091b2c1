// The streaming qmv kernel for power-of-two code widths in contiguous rows (whole checkpoint
// tensors and their row ranges), exact and int8 paths, bit-identical to the 4-row kernel.
// Re-included once per Highway target by <famx/kernels.hpp> after qmv-rows-inl.hpp.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <hwy/cache_control.h>

#include "famx/core/config.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_QMV_STREAM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_QMV_STREAM_INL_H_
#undef FAMX_QUANT_QMV_STREAM_INL_H_
#else
#define FAMX_QUANT_QMV_STREAM_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// A block of rows is one run of whole chunks, read front to back (with a software prefetch far ahead, which DRAM needs). Each
// chunk's per-word dot products stay in registers; kGw chunks (N groups) are reduced together
// with the pairwise lane tree SegmentSums uses, and their partials are formed as GroupPartialsN
// forms them and summed per row by TreeSum4. It therefore equals QmvRowsPow2 bit for bit.

// Bytes ahead of the read position that the streaming kernel prefetches.
inline constexpr std::size_t kStreamAhead = 8192;

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
        const auto wv = InRegister(hn::LoadU(du, chunk));
        if constexpr (kInt8) {
          const auto* xq = reinterpret_cast<const std::uint32_t*>(call.xq + xc * (kBits == 4 ? 8 : 4) * N);
          const auto xa = hn::Load(du, xq);
          v[j] = DotInt8<kBits>(du, hn::Zero(di), wv, xa, kBits == 4 ? hn::Load(du, xq + N) : xa);
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

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMV_STREAM_INL_H_
