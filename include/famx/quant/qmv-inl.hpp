// Per-target entry points of the quantized matrix-vector product (qmv, qmv_int8): the activation
// is prepared once per call (group sums, and the layout the row kernels read), then rows are
// split over threads and each range runs the streaming kernel where it applies, the 4-row kernel
// for the rest, or the generic kernel for widths that are not powers of two.
// Re-included once per Highway target by <famx/kernels.hpp>: include that header, not this one.
//
// Numerics (all targets): accumulation in fp32. Each group g of a row yields the partial
//   p_g = s_g * sum_j(q_j * x_j) + b_g * sum_j(x_j)
// and the row's result is tree_sum(p_0 .. p_{G-1}) (famx/core/tree_sum.hpp), so a row-parallel
// split over a power-of-two number of ranks reproduces the unsplit result bit for bit.
// How one group's dot product is summed depends on the lane count, so targets agree to rounding,
// not bitwise. qmv_int8 (int8-inl.hpp) forms d_g in integers and is bit-identical on every target
// with FMA (and on every target without).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/parallel.hpp"
#include "famx/quant/matmul.hpp"
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

// Rows [r0, r1) of a prepared call: the streaming kernel takes the blocks of rows it can, the
// 4-row kernel the rest; widths that are not powers of two run the generic kernel.
template <class ScaleT>
inline void QmvRows(const QmvCall& call, std::size_t r0, std::size_t r1) {
  const int bits = call.w->format.bits;
  if (!quant::pow2_widths::contains(bits)) return QmvRowsGeneric<ScaleT>(call, r0, r1);
  auto run = [&](auto bits_c, auto int8_c) {
    r0 = QmvRowsStreamAny<bits_c.value, ScaleT, int8_c.value>(call, r0, r1);
    if (r0 < r1) QmvRowsPow2<bits_c.value, ScaleT, int8_c.value>(call, r0, r1);
  };
  if (call.xq != nullptr) {  // prepared by QmvInt8Prepare
    quant::int8_widths::visit(bits, [&](auto bits_c) { run(bits_c, std::true_type{}); });
  } else {
    quant::pow2_widths::visit(bits, [&](auto bits_c) { run(bits_c, std::false_type{}); });
  }
}

// Prepares x for every matrix of w's format and width: the per-group sums and (power-of-two bits)
// the permuted, pre-scaled copy, in this thread's prep slots. Valid until the next prepare here.
inline QmvCall QmvPrepare(const quant::qmatrix_view& w, const float* HWY_RESTRICT x) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  const std::size_t G = w.groups(), gs = static_cast<std::size_t>(w.format.group_size);
  const int bits = w.format.bits;
  const bool pow2 = quant::pow2_widths::contains(bits);
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
  quant::pow2_widths::visit(bits, [&](auto bits_c) { PrepPow2<bits_c.value>(x, w.cols, N, chunks, xp); });
  return QmvCall{&w, pow2 ? xp : x, sx, chunks, nullptr};
}

// Prepares x for qmv, or for qmv_int8 when `int8` (whose widths outside int8_widths take qmv's).
inline QmvCall QmvPrepareFor(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, bool int8) {
  QmvCall call{};
  bool prepared = false;
  if (int8) {
    quant::int8_widths::visit(w.format.bits, [&](auto bits_c) {
      call = QmvInt8Prepare<bits_c.value>(w, x);
      prepared = true;
    });
  }
  return prepared ? call : QmvPrepare(w, x);
}

// y = W x for a prepared x (QmvPrepareFor with a matrix of the same format and width).
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

// y = W x with x quantized to int8 per group (4- and 8-bit weights; others take the exact path).
inline void QmvInt8(const quant::qmatrix_view& w, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
                    const parallel& par) {
  QmvRun(w, QmvPrepareFor(w, x, true), y, par);
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMV_INL_H_
