// Per-target dense matrix-vector product y = W x for f32 or bf16 weights (unquantized layers such
// as the DeepSeek router). Re-included once per Highway target by <famx/kernels.hpp>.
// Numerics: fp32 accumulation in lanes, one reduction per row; targets agree to rounding.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "famx/core/config.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/tensor.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_MATVEC_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_MATVEC_INL_H_
#undef FAMX_QUANT_MATVEC_INL_H_
#else
#define FAMX_QUANT_MATVEC_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// N weights of row `w` at column j as f32.
template <class DF, class WeightT>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const WeightT* HWY_RESTRICT w) {
  if constexpr (std::is_same_v<WeightT, float>) {
    return hn::LoadU(df, w);
  } else {
    const hn::Rebind<hwy::bfloat16_t, DF> dbf;
    return hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(w)));
  }
}

template <class WeightT>
HWY_INLINE float WeightToF32(WeightT v) {
  if constexpr (std::is_same_v<WeightT, float>) {
    return v;
  } else {
    return v.to_float();
  }
}

// Rows [r0, r1) of y = W x, four rows at a time.
template <class WeightT>
inline void MatvecRows(const WeightT* HWY_RESTRICT w, std::size_t stride, std::size_t cols,
                       const float* HWY_RESTRICT x, float* HWY_RESTRICT y, std::size_t r0, std::size_t r1) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  for (std::size_t rb = r0; rb < r1; rb += 4) {
    const std::size_t nr = std::min<std::size_t>(4, r1 - rb);
    const WeightT* rows[4];
    for (std::size_t i = 0; i < 4; ++i) rows[i] = w + (rb + std::min(i, nr - 1)) * stride;
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    std::size_t j = 0;
    for (; j + N <= cols; j += N) {
      const auto xv = hn::LoadU(df, x + j);
      a0 = hn::MulAdd(LoadWeights(df, rows[0] + j), xv, a0);
      a1 = hn::MulAdd(LoadWeights(df, rows[1] + j), xv, a1);
      a2 = hn::MulAdd(LoadWeights(df, rows[2] + j), xv, a2);
      a3 = hn::MulAdd(LoadWeights(df, rows[3] + j), xv, a3);
    }
    float out[4] = {hn::GetLane(hn::SumOfLanes(df, a0)), hn::GetLane(hn::SumOfLanes(df, a1)),
                    hn::GetLane(hn::SumOfLanes(df, a2)), hn::GetLane(hn::SumOfLanes(df, a3))};
    for (; j < cols; ++j)
      for (std::size_t i = 0; i < 4; ++i) out[i] += WeightToF32(rows[i][j]) * x[j];
    for (std::size_t i = 0; i < nr; ++i) y[rb + i] = out[i];
  }
}

// y = W x for a rank-2 f32 or bf16 view with unit inner stride. Arguments were checked by the caller.
inline void MatvecF32(const tensor_view& w, const float* x, float* y, const parallel& par) {
  const auto rows = static_cast<std::size_t>(w.dims[0]), cols = static_cast<std::size_t>(w.dims[1]);
  const auto stride = static_cast<std::size_t>(w.strides[0]);
  const std::size_t per = workers_rows(rows, par.workers);
  par.for_each((rows + per - 1) / per, [&](std::size_t i) {
    const std::size_t r0 = i * per, r1 = std::min(rows, r0 + per);
    if (w.type == dtype::bf16) {
      MatvecRows(w.as<bf16>(), stride, cols, x, y, r0, r1);
    } else {
      MatvecRows(w.as<float>(), stride, cols, x, y, r0, r1);
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_MATVEC_INL_H_
