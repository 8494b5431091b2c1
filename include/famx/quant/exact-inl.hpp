// Per-target dense products in which every output is one fp64 sum in a fixed order, rounded to f32
// once: C = A B^T (lanes over rows of A, or over rows of B when B is in transposed blocks, a
// sequential sum over k in each lane) and out = P V (lanes over columns of V, a sequential sum
// over its rows), and the gated delta rule's state step (the same lanes and sums). The product of
// two floats is exact in fp64, so a lane's FMA equals the scalar loop's multiply-then-add: every
// target gives the scalar loop's bits. Re-included once per Highway target by <famx/kernels.hpp>.

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include <hwy/cache_control.h>

#include "famx/core/config.hpp"
#include "famx/quant/common-inl.hpp"
#include "famx/quant/matmul.hpp"

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

// acc[q][v] += s[q ld] w[v] over a kQ x kV register tile of fp64 lanes: one FMA each, which
// rounds once (the product of two promoted floats is exact), as the scalar loop's add.
template <std::size_t kQ, std::size_t kV, class V>
HWY_INLINE void FmaTile(V (&acc)[kQ][kV], const V (&w)[kV], const double* HWY_RESTRICT s, std::size_t ld) {
  const hn::DFromV<V> d;
  HWY_UNROLL(4)
  for (std::size_t q = 0; q < kQ; ++q) {
    const auto sq = hn::Set(d, s[q * ld]);
    HWY_UNROLL(16)
    for (std::size_t v = 0; v < kV; ++v) acc[q][v] = hn::MulAdd(sq, w[v], acc[q][v]);
  }
}

// c [m, n] (row stride ldc) = a [m, k] B^T over B's rows [first, first + n), B in transposed blocks
// of quant::block_rows rows (row j, column i at blocks[(j / 8) * 8k + 8i + j % 8]): c[r][j] =
// f32(sum_{i<k} f64(a[r][i]) * f64(B[first + j][i])). Lanes over B's rows, each lane one chain
// over i, a unit of kV vectors of B's rows at a time: BlockScoresRows meets the unit with kQ rows
// of a; load(i, v) is vector v of the unit's column i as doubles.
template <std::size_t kQ, class DD, class Load>
HWY_INLINE void BlockScoresRows(DD dd, const double* HWY_RESTRICT qd, std::size_t k, const Load& load,
                                double* HWY_RESTRICT out) {
  constexpr std::size_t kV = std::max<std::size_t>(4, quant::block_rows / hn::MaxLanes(DD()));
  const std::size_t N = hn::Lanes(dd), U = kV * N;
  hn::Vec<DD> acc[kQ][kV];
  HWY_UNROLL(4)
  for (std::size_t q = 0; q < kQ; ++q)
    for (std::size_t v = 0; v < kV; ++v) acc[q][v] = hn::Zero(dd);
  for (std::size_t i = 0; i < k; ++i) {
    hn::Vec<DD> kv[kV];
    HWY_UNROLL(8)
    for (std::size_t v = 0; v < kV; ++v) kv[v] = load(i, v);
    FmaTile(acc, kv, qd + i, k);
  }
  for (std::size_t q = 0; q < kQ; ++q)
    for (std::size_t v = 0; v < kV; ++v) hn::Store(acc[q][v], dd, out + q * U + v * N);
}

// The rows of a (four, two, one at a time) met with one unit: c's entries for the unit's rows
// [lo, hi) (the unit starts at row j0).
template <class DD, class Load>
HWY_INLINE void BlockScoresUnit(DD dd, const double* HWY_RESTRICT qd, std::size_t m, std::size_t k, const Load& load,
                                double* HWY_RESTRICT out, std::size_t j0, std::size_t lo, std::size_t hi,
                                std::size_t first, float* HWY_RESTRICT c, std::size_t ldc) {
  constexpr std::size_t kV = std::max<std::size_t>(4, quant::block_rows / hn::MaxLanes(DD()));
  const std::size_t U = kV * hn::Lanes(dd);
  const auto emit = [&](std::size_t r, std::size_t rows) {
    for (std::size_t q = 0; q < rows; ++q)
      for (std::size_t j = lo; j < hi; ++j) c[(r + q) * ldc + j - first] = static_cast<float>(out[q * U + j - j0]);
  };
  std::size_t r = 0;
  for (; r + 4 <= m; r += 4) BlockScoresRows<4>(dd, qd + r * k, k, load, out), emit(r, 4);
  for (; r + 2 <= m; r += 2) BlockScoresRows<2>(dd, qd + r * k, k, load, out), emit(r, 2);
  for (; r < m; ++r) BlockScoresRows<1>(dd, qd + r * k, k, load, out), emit(r, 1);
}

// A unit whose blocks all exist is read straight from B when a meets it once (up to four rows:
// a decode step's queries); otherwise (more rows, or the last unit) it is promoted to doubles
// once, blocks past the last needed one as zeros. Either way the next unit is prefetched.
inline void ExactMatmulTBlocks(const float* HWY_RESTRICT a, std::size_t lda, std::size_t m,
                               const float* HWY_RESTRICT blocks, std::size_t first, std::size_t n, std::size_t k,
                               float* HWY_RESTRICT c, std::size_t ldc) {
  constexpr std::size_t B = quant::block_rows;
  const hn::CappedTag<double, B> dd;
  const hn::Rebind<float, decltype(dd)> df;
  constexpr std::size_t kV = std::max<std::size_t>(4, B / hn::MaxLanes(decltype(dd)()));
  const std::size_t N = hn::Lanes(dd), U = kV * N;  // B's rows per unit, a multiple of B
  double* qd = ScratchDoubles(kSlotWork0, m * k);
  double* kd = ScratchDoubles(kSlotWork1, U * k + 4 * U);
  double* out = kd + U * k;  // [kQ][U] sums of one unit
  PromoteRows(a, lda, 0, m, k, qd);
  const std::size_t end_block = (first + n + B - 1) / B;  // one past the last block read
  for (std::size_t j0 = first / B * B; j0 < first + n; j0 += U) {
    const float* unit = blocks + j0 * k;  // vector v of column i: unit + (v N / B) B k + (v N) % B + i B
    const auto at = [&](std::size_t i, std::size_t v) { return unit + v * N / B * B * k + v * N % B + i * B; };
    const std::size_t lo = std::max(first, j0), hi = std::min(first + n, j0 + U);  // the unit's rows wanted
    if (m <= 4 && (j0 + U) / B <= end_block) {
      const auto load = [&](std::size_t i, std::size_t v) {
        if (i % 2 == 0) hwy::Prefetch(at(i, v) + U * k);  // the next unit's lines, a unit ahead
        return hn::PromoteTo(dd, hn::LoadU(df, at(i, v)));
      };
      BlockScoresUnit(dd, qd, m, k, load, out, j0, lo, hi, first, c, ldc);
      continue;
    }
    for (std::size_t v = 0; v < kV; ++v) {
      const bool live = (j0 + v * N) / B < end_block;
      for (std::size_t i = 0; i < k; ++i) {
        hwy::Prefetch(at(i, v) + U * k);
        hn::Store(live ? hn::PromoteTo(dd, hn::LoadU(df, at(i, v))) : hn::Zero(dd), dd, kd + i * U + v * N);
      }
    }
    const auto load = [&](std::size_t i, std::size_t v) { return hn::Load(dd, kd + i * U + v * N); };
    BlockScoresUnit(dd, qd, m, k, load, out, j0, lo, hi, first, c, ldc);
  }
}

// Rows [0, rows) of one chunk of kVecs * Lanes(dd) columns: acc [kQ, .] (row stride lda, doubles)
// += pd [kQ, rows] (doubles, row stride ldp) v [rows, .] (row stride ldv), each lane one chain over
// the rows in order, each promoted vector of v met by the kQ rows of pd. With `next`, reading row j
// also prefetches line_bytes of row j at `next` (the next tile's rows).
template <std::size_t kQ, std::size_t kVecs, class DD>
HWY_INLINE void PVChunk(DD dd, const double* HWY_RESTRICT pd, std::size_t ldp, std::size_t rows,
                        const float* HWY_RESTRICT v, std::size_t ldv, double* HWY_RESTRICT acc, std::size_t lda,
                        const float* next, std::size_t line_bytes) {
  const hn::Rebind<float, DD> df;
  const std::size_t N = hn::Lanes(dd);
  hn::Vec<DD> a[kQ][kVecs];
  HWY_UNROLL(4)
  for (std::size_t q = 0; q < kQ; ++q)
    for (std::size_t x = 0; x < kVecs; ++x) a[q][x] = hn::LoadU(dd, acc + q * lda + x * N);
  for (std::size_t j = 0; j < rows; ++j) {
    if (next != nullptr)
      for (std::size_t b = 0; b < line_bytes; b += 64) hwy::Prefetch(reinterpret_cast<const char*>(next + j * ldv) + b);
    hn::Vec<DD> vv[kVecs];
    HWY_UNROLL(16)
    for (std::size_t x = 0; x < kVecs; ++x) vv[x] = hn::PromoteTo(dd, hn::LoadU(df, v + j * ldv + x * N));
    FmaTile(a, vv, pd + j, ldp);
  }
  for (std::size_t q = 0; q < kQ; ++q)
    for (std::size_t x = 0; x < kVecs; ++x) hn::StoreU(a[q][x], dd, acc + q * lda + x * N);
}

// acc [kQ, cols] (row stride lda) += pd [kQ, rows] (row stride ldp) v [rows, cols] for one tile of
// rows: the columns kAcc / kQ vectors at a time, then one vector, then one lane. With `next`, the
// first chunk of columns prefetches the rows at `next` (the next tile's).
template <std::size_t kQ, class DD>
HWY_INLINE void PVTile(DD dd, const double* HWY_RESTRICT pd, std::size_t ldp, std::size_t rows,
                       const float* HWY_RESTRICT v, std::size_t ldv, std::size_t cols, double* HWY_RESTRICT acc,
                       std::size_t lda, const float* next) {
  constexpr std::size_t kAcc = hn::MaxLanes(DD()) >= 8 ? 16 : 8;  // accumulators: 32 registers with 512-bit vectors
  constexpr std::size_t kVecs = std::max<std::size_t>(1, std::min<std::size_t>(8, kAcc / kQ));
  const hn::CappedTag<double, 1> d1;  // the last columns, one lane each (the same chains)
  const std::size_t N = hn::Lanes(dd);
  std::size_t x = 0;
  for (; x + kVecs * N <= cols; x += kVecs * N, next = nullptr)
    PVChunk<kQ, kVecs>(dd, pd, ldp, rows, v + x, ldv, acc + x, lda, next, 4 * cols);
  for (; x + N <= cols; x += N, next = nullptr) PVChunk<kQ, 1>(dd, pd, ldp, rows, v + x, ldv, acc + x, lda, next, 4 * cols);
  for (; x < cols; ++x, next = nullptr) PVChunk<kQ, 1>(d1, pd, ldp, rows, v + x, ldv, acc + x, lda, next, 4 * cols);
}

// The rows [r, r + kQ) of pd met with the tile of v's rows [j0, j1): with ranges, row i only over
// its own rows [ranges[i].begin, ranges[i].end) within the tile, each in ascending order (the rows
// before the common part one by one, the common part together, the rows after it one by one).
template <std::size_t kQ, class DD>
HWY_INLINE void PVSet(DD dd, const double* HWY_RESTRICT pd, std::size_t rows, std::size_t r, std::size_t j0,
                      std::size_t j1, const float* HWY_RESTRICT v, std::size_t ldv, std::size_t cols,
                      double* HWY_RESTRICT acc, const quant::row_range* ranges, const float*& next) {
  const auto run = [&](auto q, std::size_t i, std::size_t a, std::size_t b) {  // rows [a, b) of pd's rows [i, i + q)
    if (a < b)
      PVTile<decltype(q)::value>(dd, pd + i * rows + a, rows, b - a, v + a * ldv, ldv, cols, acc + i * cols, cols, next);
    next = nullptr;
  };
  constexpr std::integral_constant<std::size_t, kQ> all;
  constexpr std::integral_constant<std::size_t, 1> one;
  if (ranges == nullptr) return run(all, r, j0, j1);
  std::size_t s[kQ], e[kQ], cs = j0, ce = j1;
  for (std::size_t i = 0; i < kQ; ++i) {
    s[i] = std::max(j0, ranges[r + i].begin), e[i] = std::min(j1, ranges[r + i].end);
    cs = std::max(cs, s[i]), ce = std::min(ce, e[i]);
  }
  if (cs >= ce) {
    for (std::size_t i = 0; i < kQ; ++i) run(one, r + i, s[i], e[i]);
    return;
  }
  for (std::size_t i = 0; i < kQ; ++i) run(one, r + i, s[i], cs);
  run(all, r, cs, ce);
  for (std::size_t i = 0; i < kQ; ++i) run(one, r + i, ce, e[i]);
}

// out [m, cols] (row stride ldo) = p [m, rows] (row stride ldp) v [rows, cols] (row stride ldv):
// out[r][x] = f32(sum_j f64(p[r][j]) * f64(v[j][x])) over j < rows, or over j in
// [ranges[r].begin, ranges[r].end) when ranges is given; lanes over columns, each lane one chain
// over j in order. v is read in tiles of rows (about 16 KB) from memory once, the next tile
// prefetched meanwhile: every row of p meets a tile (up to four rows of p sharing each promoted
// vector of it) while it is in L1, the sums carried in fp64 between tiles.
inline void ExactMatmulPV(const float* HWY_RESTRICT p, std::size_t ldp, std::size_t m, std::size_t rows,
                          const float* HWY_RESTRICT v, std::size_t ldv, std::size_t cols, float* HWY_RESTRICT out,
                          std::size_t ldo, const quant::row_range* ranges) {
  const hn::ScalableTag<double> dd;
  double* pd = ScratchDoubles(kSlotWork0, m * rows);
  double* acc = ScratchDoubles(kSlotWork1, m * cols);
  PromoteRows(p, ldp, 0, m, rows, pd);
  std::fill(acc, acc + m * cols, 0.0);
  const std::size_t tile = std::max<std::size_t>(4, 16384 / (4 * cols));
  for (std::size_t j0 = 0; j0 < rows; j0 += tile) {
    const std::size_t j1 = std::min(rows, j0 + tile);
    const float* next = j1 < rows ? v + j1 * ldv : nullptr;  // prefetched by the first pass over this tile
    std::size_t r = 0;
    for (; r + 4 <= m; r += 4) PVSet<4>(dd, pd, rows, r, j0, j1, v, ldv, cols, acc, ranges, next);
    for (; r + 2 <= m; r += 2) PVSet<2>(dd, pd, rows, r, j0, j1, v, ldv, cols, acc, ranges, next);
    for (; r < m; ++r) PVSet<1>(dd, pd, rows, r, j0, j1, v, ldv, cols, acc, ranges, next);
  }
  for (std::size_t r = 0; r < m; ++r)
    for (std::size_t x = 0; x < cols; ++x) out[r * ldo + x] = static_cast<float>(acc[r * cols + x]);
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
