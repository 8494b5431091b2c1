// The qmv kernel for any code width (3, 5 and 6 bits; codes straddle words): each group's codes
// are decoded into floats, dotted with x in lanes and reduced, then summed by tree_sum.
// Re-included once per Highway target by <famx/kernels.hpp> after common-inl.hpp.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "famx/core/config.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_QMV_GENERIC_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_QMV_GENERIC_INL_H_
#undef FAMX_QUANT_QMV_GENERIC_INL_H_
#else
#define FAMX_QUANT_QMV_GENERIC_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

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

// Rows [r0, r1) of y = W x for any width (a call prepared by QmvPrepare, plain x).
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

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_QMV_GENERIC_INL_H_
