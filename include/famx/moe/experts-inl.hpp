// Per-target quantized SwiGLU expert: h = silu(gate_proj x) * (up_proj x), the activation prepared
// once for both projections (the gather_qmm_swiglu idea). Re-included once per Highway target by
// <famx/kernels.hpp> after quant/qmv-inl.hpp and router-inl.hpp.

#include <cstddef>

#include "famx/core/config.hpp"
#include "famx/core/parallel.hpp"
#include "famx/quant/qmatrix.hpp"

#include <hwy/highway.h>

#if defined(FAMX_MOE_EXPERTS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_MOE_EXPERTS_INL_H_
#undef FAMX_MOE_EXPERTS_INL_H_
#else
#define FAMX_MOE_EXPERTS_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// h[i] = silu(g[i]) * u[i] = g * u / (1 + exp(-g)), the same operations on every lane.
inline void SiluMul(const float* HWY_RESTRICT g, const float* HWY_RESTRICT u, std::size_t n, float* HWY_RESTRICT h) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto gv = hn::LoadU(df, g + i);
    hn::StoreU(hn::Mul(hn::Mul(gv, Sigmoid(df, gv)), hn::LoadU(df, u + i)), df, h + i);
  }
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) {
    const auto gv = hn::LoadU(d1, g + i);
    hn::StoreU(hn::Mul(hn::Mul(gv, Sigmoid(d1, gv)), hn::LoadU(d1, u + i)), d1, h + i);
  }
}

// h = silu(gate x) * (up x), fused: one preparation of x serves both projections; int8 selects
// the qmv_int8 arithmetic.
inline void SwiGLU(const quant::qmatrix_view& gate, const quant::qmatrix_view& up, const float* x, float* h,
                   bool int8, const parallel& par) {
  const QmvCall call = QmvPrepareFor(gate, x, int8);
  float* gu = ScratchFloats(kSlotInput, 2 * gate.rows);
  QmvRun(gate, call, gu, par);
  QmvRun(up, call, gu + gate.rows, par);
  SiluMul(gu, gu + gate.rows, gate.rows, h);
}

// h = silu(g) * u for precomputed projections (the unfused path's last step).
inline void SiluMulExport(const float* g, const float* u, std::size_t n, float* h) { SiluMul(g, u, n, h); }

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_MOE_EXPERTS_INL_H_
