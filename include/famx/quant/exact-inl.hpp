// Per-target dense products in which every output is one fp64 sum in a fixed order, rounded to f32
// once: C = A B^T (lanes over rows of A, a sequential sum over k in each lane) and out = p^T V
// (lanes over columns of V, a sequential sum over its rows), and the gated delta rule's state step
// (the same lanes and sums). The product of two floats is exact in fp64, so a lane's FMA equals
// the scalar loop's multiply-then-add: every target gives the scalar loop's bits. Re-included once
// per Highway target by <famx/kernels.hpp>.

#include <algorithm>
#include <cstddef>

#include "famx/core/config.hpp"
#include "famx/quant/common-inl.hpp"

#include <hwy/highway.h>

#if defined(FAMX_QUANT_EXACT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_QUANT_EXACT_INL_H_
#undef FAMX_QUANT_EXACT_INL_H_
#else
#define FAMX_QUANT_EXACT_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// A per-thread scratch of at least n doubles (ScratchFloats' buffer in `slot`).
inline double* ScratchDoubles(int slot, std::size_t n) {
  return reinterpret_cast<double*>(ScratchFloats(slot, 2 * n));
}

// b's rows [j0, j0 + count) as doubles, row after row (k each).
inline void PromoteRows(const float* HWY_RESTRICT b, std::size_t ldb, std::size_t j0, std::size_t count, std::size_t k,
                        double* HWY_RESTRICT bt) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const std::size_t N = hn::Lanes(dd);
  for (std::size_t j = 0; j < count; ++j) {
    const float* row = b + (j0 + j) * ldb;
    std::size_t i = 0;
    for (; i + N <= k; i += N) hn::StoreU(hn::PromoteTo(dd, hn::LoadU(df, row + i)), dd, bt + j * k + i);
    for (; i < k; ++i) bt[j * k + i] = static_cast<double>(row[i]);
  }
}

// c [m, n] (row stride ldc) = a [m, k] b [n, k]^T: c[r][j] = f32(sum_{i<k} f64(a[r][i]) * f64(b[j][i])).
// a is transposed once to blocks of [k][N] doubles (a lane per row); b is read 8 rows at a time,
// promoted to doubles once, and each of them meets every block of a, each lane one chain over i.
inline void ExactMatmulT(const float* HWY_RESTRICT a, std::size_t lda, std::size_t m, const float* HWY_RESTRICT b,
                         std::size_t ldb, std::size_t n, std::size_t k, float* HWY_RESTRICT c, std::size_t ldc) {
  const hn::ScalableTag<double> dd;
  const std::size_t N = hn::Lanes(dd);
  constexpr std::size_t kCols = 8;  // rows of b per block: independent chains for the FMA latency
  const std::size_t blocks = (m + N - 1) / N;
  double* at = ScratchDoubles(kSlotWork0, blocks * k * N);
  double* bt = ScratchDoubles(kSlotWork1, k * kCols + kCols * N);
  double* out = bt + k * kCols;  // [kCols][N] results of one block of a
  for (std::size_t r = 0; r < blocks * N; ++r)
    for (std::size_t i = 0; i < k; ++i)
      at[((r / N) * k + i) * N + r % N] = r < m ? static_cast<double>(a[r * lda + i]) : 0.0;
  for (std::size_t j0 = 0; j0 < n; j0 += kCols) {
    const std::size_t nc = std::min(kCols, n - j0);
    PromoteRows(b, ldb, j0, nc, k, bt);
    for (std::size_t blk = 0; blk < blocks; ++blk) {
      const double* ab = at + blk * k * N;
      if (nc == kCols) {
        hn::Vec<decltype(dd)> acc[kCols];
        HWY_UNROLL(8)
        for (std::size_t j = 0; j < kCols; ++j) acc[j] = hn::Zero(dd);
        for (std::size_t i = 0; i < k; ++i) {
          const auto av = hn::Load(dd, ab + i * N);
          HWY_UNROLL(8)
          for (std::size_t j = 0; j < kCols; ++j) acc[j] = hn::MulAdd(av, hn::Set(dd, bt[j * k + i]), acc[j]);
        }
        HWY_UNROLL(8)
        for (std::size_t j = 0; j < kCols; ++j) hn::Store(acc[j], dd, out + j * N);
      } else {  // the last rows of b, one at a time
        for (std::size_t j = 0; j < nc; ++j) {
          auto acc = hn::Zero(dd);
          for (std::size_t i = 0; i < k; ++i) acc = hn::MulAdd(hn::Load(dd, ab + i * N), hn::Set(dd, bt[j * k + i]), acc);
          hn::Store(acc, dd, out + j * N);
        }
      }
      const std::size_t r0 = blk * N, nr = std::min(N, m - r0);
      for (std::size_t l = 0; l < nr; ++l)
        for (std::size_t j = 0; j < nc; ++j) c[(r0 + l) * ldc + j0 + j] = static_cast<float>(out[j * N + l]);
    }
  }
}

// out [cols] = p [rows] v [rows, cols] (row stride ldv): out[x] = f32(sum_{j<rows} f64(p[j]) * f64(v[j][x])),
// lanes over columns (8 vectors of them at a time), each lane one chain over j.
inline void ExactVecmat(const float* HWY_RESTRICT p, std::size_t rows, const float* HWY_RESTRICT v, std::size_t ldv,
                        std::size_t cols, float* HWY_RESTRICT out) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const std::size_t N = hn::Lanes(dd);
  constexpr std::size_t kVecs = 8;
  std::size_t x0 = 0;
  for (; x0 + kVecs * N <= cols; x0 += kVecs * N) {
    hn::Vec<decltype(dd)> acc[kVecs];
    HWY_UNROLL(8)
    for (std::size_t q = 0; q < kVecs; ++q) acc[q] = hn::Zero(dd);
    for (std::size_t j = 0; j < rows; ++j) {
      const auto pj = hn::Set(dd, static_cast<double>(p[j]));
      const float* vj = v + j * ldv + x0;
      HWY_UNROLL(8)
      for (std::size_t q = 0; q < kVecs; ++q) acc[q] = hn::MulAdd(pj, hn::PromoteTo(dd, hn::LoadU(df, vj + q * N)), acc[q]);
    }
    HWY_UNROLL(8)
    for (std::size_t q = 0; q < kVecs; ++q) hn::StoreU(hn::DemoteTo(df, acc[q]), df, out + x0 + q * N);
  }
  for (; x0 + N <= cols; x0 += N) {
    auto acc = hn::Zero(dd);
    for (std::size_t j = 0; j < rows; ++j)
      acc = hn::MulAdd(hn::Set(dd, static_cast<double>(p[j])), hn::PromoteTo(dd, hn::LoadU(df, v + j * ldv + x0)), acc);
    hn::StoreU(hn::DemoteTo(df, acc), df, out + x0);
  }
  for (; x0 < cols; ++x0) {  // the last columns, one scalar chain each (the same sums)
    double acc = 0;
    for (std::size_t j = 0; j < rows; ++j) acc += static_cast<double>(p[j]) * static_cast<double>(v[j * ldv + x0]);
    out[x0] = static_cast<float>(acc);
  }
}

// ExactDeltaStep on the kVecs * N columns of s starting at s (row stride ld), v and y there too:
// the first pass forms kv, the second updates the columns (still in L1) and forms y.
template <std::size_t kVecs, class DD>
HWY_INLINE void DeltaStepColumns(DD dd, float* HWY_RESTRICT s, std::size_t ld, std::size_t dk,
                                 const float* HWY_RESTRICT k, const float* HWY_RESTRICT q,
                                 const float* HWY_RESTRICT v, float g, float beta, float* HWY_RESTRICT y) {
  const hn::Rebind<float, DD> df;
  const std::size_t N = hn::Lanes(dd);
  const auto gv = hn::Set(df, g);
  hn::Vec<DD> acc[kVecs], delta[kVecs];
  HWY_UNROLL(8)
  for (std::size_t c = 0; c < kVecs; ++c) acc[c] = hn::Zero(dd);
  for (std::size_t j = 0; j < dk; ++j) {
    const auto kj = hn::Set(dd, static_cast<double>(k[j]));
    const float* row = s + j * ld;
    HWY_UNROLL(8)
    for (std::size_t c = 0; c < kVecs; ++c)
      acc[c] = hn::MulAdd(kj, hn::PromoteTo(dd, hn::Mul(hn::LoadU(df, row + c * N), gv)), acc[c]);
  }
  const auto bv = hn::Set(df, beta);
  HWY_UNROLL(8)
  for (std::size_t c = 0; c < kVecs; ++c) {
    delta[c] = hn::PromoteTo(dd, hn::Mul(hn::Sub(hn::LoadU(df, v + c * N), hn::DemoteTo(df, acc[c])), bv));
    acc[c] = hn::Zero(dd);
  }
  for (std::size_t j = 0; j < dk; ++j) {
    const auto kj = hn::Set(dd, static_cast<double>(k[j])), qj = hn::Set(dd, static_cast<double>(q[j]));
    float* row = s + j * ld;
    HWY_UNROLL(8)
    for (std::size_t c = 0; c < kVecs; ++c) {
      const auto s1 = hn::PromoteTo(dd, hn::Mul(hn::LoadU(df, row + c * N), gv));
      const auto s2 = hn::DemoteTo(df, hn::MulAdd(kj, delta[c], s1));
      hn::StoreU(s2, df, row + c * N);
      acc[c] = hn::MulAdd(qj, hn::PromoteTo(dd, s2), acc[c]);
    }
  }
  HWY_UNROLL(8)
  for (std::size_t c = 0; c < kVecs; ++c) hn::StoreU(hn::DemoteTo(df, acc[c]), df, y + c * N);
}

// One step of the gated delta rule on a state s [dk, dv] (row-major, updated in place), lanes over
// its columns (8 vectors of them at a time, then one vector, then one lane), each lane one fp64
// chain over the rows in order:
//   s1 = f32(g * s);  kv[i] = f32(sum_j k[j] s1[j][i]);  delta[i] = f32(f32(v[i] - kv[i]) * beta);
//   s[j][i] = f32(s1[j][i] + k[j] delta[i]);  y[i] = f32(sum_j q[j] s[j][i]).
inline void ExactDeltaStep(float* HWY_RESTRICT s, std::size_t dk, std::size_t dv, const float* HWY_RESTRICT k,
                           const float* HWY_RESTRICT q, const float* HWY_RESTRICT v, float g, float beta,
                           float* HWY_RESTRICT y) {
  const hn::ScalableTag<double> dd;
  const std::size_t N = hn::Lanes(dd);
  constexpr std::size_t kVecs = 8;
  std::size_t x = 0;
  for (; x + kVecs * N <= dv; x += kVecs * N) DeltaStepColumns<kVecs>(dd, s + x, dv, dk, k, q, v + x, g, beta, y + x);
  for (; x + N <= dv; x += N) DeltaStepColumns<1>(dd, s + x, dv, dk, k, q, v + x, g, beta, y + x);
  const hn::CappedTag<double, 1> d1;
  for (; x < dv; ++x) DeltaStepColumns<1>(d1, s + x, dv, dk, k, q, v + x, g, beta, y + x);
}

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_QUANT_EXACT_INL_H_
