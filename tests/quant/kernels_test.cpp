// qmv / qmm / matvec / the exact fp64-order products under every compiled SIMD target against the fp64 reference.
// Tolerance: |y - y_ref| <= 2^-16 * sum_j |x_j * w_j| (fp32 accumulation, about 256 ulps of the
// magnitude; the observed worst case is below 2^-22).
#include <famx/kernels.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <famx/famx.hpp>
#include <famx/quant/int8_activations.hpp>
#include <famx/quant/int8_panels.hpp>

namespace {

constexpr double kTol = 1.0 / 65536;

// Runs f once under every compiled target, checking dispatch really picks it.
void for_each_target(const std::function<void()>& f) {
  const auto targets = famx::kernel_targets();
  REQUIRE(targets.size() >= 1);
  for (std::int64_t t : targets) {
    famx::force_target guard(t);
    const std::string name = hwy::TargetName(t);
    CAPTURE(name);
    REQUIRE(std::string(famx::kernel_target()) == name);
    f();
  }
}

famx::quant::quantized make_weights(std::size_t rows, std::size_t cols, famx::quant::affine_format fmt,
                                    famx::dtype st, const std::function<float(std::size_t, std::size_t)>& gen) {
  std::vector<float> w(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) w[r * cols + j] = gen(r, j);
  return famx::quant::quantize(famx::tensor_view::contiguous(w.data(), famx::dtype::f32,
                                                            {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)}),
                               fmt, st).value();
}

// Checks y against the reference for every token of x [m, cols].
void check_against_reference(const famx::quant::qmatrix_view& w, const std::vector<float>& x, std::size_t m,
                             const std::vector<float>& y) {
  std::vector<double> ref(w.rows), mag(w.rows);
  for (std::size_t t = 0; t < m; ++t) {
    famx::quant::reference_qmv(w, std::span<const float>(x).subspan(t * w.cols, w.cols), ref, mag);
    for (std::size_t r = 0; r < w.rows; ++r) {
      const double err = std::fabs(y[t * w.rows + r] - ref[r]);
      if (!(err <= kTol * mag[r] + 1e-30)) {
        CAPTURE(t);
        CAPTURE(r);
        CHECK(y[t * w.rows + r] == doctest::Approx(ref[r]));
        return;
      }
    }
  }
}

struct case_shape {
  std::size_t rows, cols;
};

// qmv_int8's stated error bound for token x [cols]: sum_g |s_g| * a_g / 2 * sum_{j in g} q_j per row.
std::vector<double> int8_bound(const famx::quant::qmatrix_view& v, std::span<const float> x) {
  const std::size_t gs = static_cast<std::size_t>(v.format.group_size);
  std::vector<double> bound(v.rows, 0.0);
  for (std::size_t r = 0; r < v.rows; ++r) {
    for (std::size_t g = 0; g < v.groups(); ++g) {
      double amax = 0, sum_q = 0;
      for (std::size_t k = 0; k < gs; ++k) {
        amax = std::max(amax, std::fabs(static_cast<double>(x[g * gs + k])));
        sum_q += famx::quant::unpack_code(v.row(r), v.format.bits, g * gs + k);
      }
      bound[r] += std::fabs(static_cast<double>(v.scale(r, g))) * amax / 127.0 / 2.0 * sum_q;
    }
  }
  return bound;
}

}  // namespace

TEST_CASE("qmv matches the fp64 reference for every format, target and scale dtype") {
  std::mt19937 rng(10);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const case_shape shapes[] = {{1, 32}, {3, 128}, {5, 96}, {37, 384}, {64, 1024}};
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      for (const auto& s : shapes) {
        if (s.cols % static_cast<std::size_t>(gs) != 0) continue;
        CAPTURE(bits);
        CAPTURE(gs);
        CAPTURE(s.rows);
        CAPTURE(s.cols);
        const famx::dtype st = (bits + gs) % 3 == 0 ? famx::dtype::f16 : (bits % 2 ? famx::dtype::f32 : famx::dtype::bf16);
        const auto q = make_weights(s.rows, s.cols, {bits, gs}, st, [&](std::size_t, std::size_t) { return 0.05f * nd(rng); });
        std::vector<float> x(s.cols), y(s.rows);
        for (auto& v : x) v = nd(rng);
        for_each_target([&] {
          std::fill(y.begin(), y.end(), NAN);
          famx::quant::qmv(q.view(), x, y);
          check_against_reference(q.view(), x, 1, y);
        });
      }
    }
  }
}

TEST_CASE("qmv_int8 stays within its stated error bound on every target, and falls back for 3/5/6 bits") {
  std::mt19937 rng(18);
  std::normal_distribution<float> nd;
  for (int bits : {3, 4, 8}) {
    for (int gs : {32, 64, 128}) {
      for (std::size_t cols : {128u, 384u, 1024u}) {
        if (cols % static_cast<std::size_t>(gs) != 0) continue;
        CAPTURE(bits);
        CAPTURE(gs);
        CAPTURE(cols);
        const std::size_t rows = 23;
        const auto q = make_weights(rows, cols, {bits, gs}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return 0.05f * nd(rng); });
        const auto v = q.view();
        std::vector<float> x(cols), y(rows), exact(rows);
        for (std::size_t j = 0; j < cols; ++j) x[j] = (j % 11 == 0 ? 8.0f : 1.0f) * nd(rng);
        std::vector<double> ref(rows), mag(rows);
        famx::quant::reference_qmv(v, x, ref, mag);
        const std::vector<double> bound = int8_bound(v, x);
        for_each_target([&] {
          famx::quant::qmv_int8(v, x, y);
          if (bits == 3) {
            famx::quant::qmv(v, x, exact);
            CHECK(y == exact);
            return;
          }
          for (std::size_t r = 0; r < rows; ++r) REQUIRE(std::fabs(y[r] - ref[r]) <= bound[r] + kTol * mag[r]);
        });
      }
    }
  }
}

TEST_CASE("qmv and qmm on adversarial data: equal groups, extreme scales, wide-range activations") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int bits : {2, 3, 4, 8}) {
    CAPTURE(bits);
    // all-equal groups (scale clamps to eps), huge and tiny magnitudes in alternate rows
    const auto q = make_weights(9, 256, {bits, 32}, famx::dtype::f32, [&](std::size_t r, std::size_t j) {
      if (r % 3 == 0) return 0.25f;                        // constant rows
      if (r % 3 == 1) return 1e18f * u(rng);               // extreme scales
      return (j / 32) % 2 ? 1e-18f * u(rng) : u(rng);      // tiny groups next to normal ones
    });
    std::vector<float> x(5 * 256), y(5 * 9);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = (j % 7 == 0 ? 1e6f : 1e-6f) * u(rng);
    for_each_target([&] {
      famx::quant::qmv(q.view(), std::span<const float>(x).first(256), std::span<float>(y).first(9));
      check_against_reference(q.view(), x, 1, y);
      famx::quant::qmm(q.view(), x, 5, y);
      check_against_reference(q.view(), x, 5, y);
      famx::quant::qmm_fast(q.view(), x, 5, y);
      check_against_reference(q.view(), x, 5, y);
    });
  }
}

TEST_CASE("qmv with bf16 activations equals qmv on the widened activations") {
  std::mt19937 rng(12);
  std::normal_distribution<float> nd;
  const auto q = make_weights(19, 512, {4, 64}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return nd(rng); });
  std::vector<famx::bf16> xb(512);
  std::vector<float> xf(512), y1(19), y2(19);
  for (std::size_t j = 0; j < 512; ++j) {
    xb[j] = famx::bf16::from_float(nd(rng));
    xf[j] = xb[j].to_float();
  }
  for_each_target([&] {
    famx::quant::qmv(q.view(), xb, y1);
    famx::quant::qmv(q.view(), xf, y2);
    CHECK(y1 == y2);
  });
}

TEST_CASE("qmm and qmm_fast match the reference for 1 to 9 tokens, f32 and bf16 activations") {
  std::mt19937 rng(13);
  std::normal_distribution<float> nd;
  for (int bits : {3, 4, 8}) {
    for (std::size_t m : {1u, 3u, 4u, 5u, 9u}) {
      CAPTURE(bits);
      CAPTURE(m);
      const auto q = make_weights(45, 192, {bits, 32}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return nd(rng); });
      std::vector<float> x(m * 192), y(m * 45);
      std::vector<famx::bf16> xb(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        xb[i] = famx::bf16::from_float(nd(rng));
        x[i] = xb[i].to_float();
      }
      for_each_target([&] {
        famx::quant::qmm(q.view(), x, m, y);
        check_against_reference(q.view(), x, m, y);
        std::vector<float> yb(y.size());
        famx::quant::qmm(q.view(), xb, m, yb);
        CHECK(yb == y);
        famx::quant::qmm_fast(q.view(), x, m, y);
        check_against_reference(q.view(), x, m, y);
        famx::quant::qmm_fast(q.view(), xb, m, yb);
        CHECK(yb == y);
      });
    }
  }
}

TEST_CASE("qmv_int8 computes its documented integer arithmetic bit for bit on every target") {
  // xq_j = rint(x_j / a_g) with a_g = max|x_g| / 127; d_g = sum q_j * xq_j exactly;
  // p_g = s_g * (d_g * a_g) + b_g * sum_g x with the group sum taken in index order (one fused
  // multiply-add on targets with FMA, AVX2 and up; separately rounded on the others);
  // y = tree_sum(p). Integer sums have no order, so every target must give exactly this.
  std::mt19937 rng(29);
  std::normal_distribution<float> nd;
  for (int bits : {4, 8}) {
    for (int gs : {32, 64, 128}) {
      // Group counts with odd blocks of 3, 5, 7, 9 and 11 (the group tree's written-out blocks)
      // and 13 (gathered), across a vector of blocks on every target and in the remainder; and
      // powers of two whose last levels pair 1 to 16 vectors in registers, after levels through
      // memory for 4096 columns.
      for (std::size_t cols : {384u, 640u, 768u, 896u, 1024u, 1152u, 1408u, 1664u, 2048u, 4096u}) {
        CAPTURE(bits);
        CAPTURE(gs);
        CAPTURE(cols);
        const std::size_t rows = 13, g_size = static_cast<std::size_t>(gs), G = cols / g_size;
        const auto q = make_weights(rows, cols, {bits, gs}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return 0.05f * nd(rng); });
        const auto v = q.view();
        std::vector<float> x(cols), y(rows), expected_fma(rows), expected_unfused(rows), p(G), pu(G);
        for (std::size_t j = 0; j < cols; ++j) x[j] = (j % 7 == 0 ? 6.0f : 1.0f) * nd(rng);
        std::fill(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(g_size), 0.0f);  // an all-zero group
        for (std::size_t r = 0; r < rows; ++r) {
          for (std::size_t g = 0; g < G; ++g) {
            float sum = 0, amax = 0;
            for (std::size_t k = 0; k < g_size; ++k) {
              sum += x[g * g_size + k];
              amax = std::max(amax, std::fabs(x[g * g_size + k]));
            }
            const float a = amax / 127.0f;
            std::int32_t d = 0;
            for (std::size_t k = 0; a > 0 && k < g_size; ++k)
              d += static_cast<std::int32_t>(famx::quant::unpack_code(v.row(r), bits, g * g_size + k)) *
                   static_cast<std::int32_t>(std::nearbyint(x[g * g_size + k] / a));
            const float da = static_cast<float>(d) * a, bs = v.bias(r, g) * sum, sda = v.scale(r, g) * da;
            p[g] = std::fma(v.scale(r, g), da, bs);
            pu[g] = sda + bs;
          }
          expected_fma[r] = famx::tree_sum(p.data(), G);
          expected_unfused[r] = famx::tree_sum(pu.data(), G);
        }
        for_each_target([&] {
          std::fill(y.begin(), y.end(), NAN);
          famx::quant::qmv_int8(v, x, y);
          const bool fma = std::string(famx::kernel_target()).starts_with("AVX");
          CHECK(y == (fma ? expected_fma : expected_unfused));
        });
      }
    }
  }
}

TEST_CASE("qmv and qmv_int8 on contiguous rows (the streaming kernel) equal the strided-view kernel bit for bit") {
  // A group_range view keeps the parent's row stride, which the streaming kernel declines, so
  // the same codes run through both kernels. Group counts 4..112 give blocks of 4, 8 and 16 rows;
  // 7 and 45 groups do not fill whole vectors and take the general kernel on both sides.
  std::mt19937 rng(23);
  std::normal_distribution<float> nd;
  for (int bits : {2, 4, 8}) {
    for (int gs : {32, 64, 128}) {
      for (std::size_t groups : {4u, 6u, 7u, 12u, 14u, 45u, 112u}) {
        for (std::size_t rows : {1u, 7u, 37u}) {
          CAPTURE(bits);
          CAPTURE(gs);
          CAPTURE(groups);
          CAPTURE(rows);
          const std::size_t cols = groups * static_cast<std::size_t>(gs), wide = cols + static_cast<std::size_t>(gs);
          std::vector<float> w(rows * wide);
          for (auto& v : w) v = 0.05f * nd(rng);
          const auto whole = make_weights(rows, wide, {bits, gs}, famx::dtype::bf16,
                                          [&](std::size_t r, std::size_t j) { return w[r * wide + j]; });
          const auto tight = make_weights(rows, cols, {bits, gs}, famx::dtype::bf16,
                                          [&](std::size_t r, std::size_t j) { return w[r * wide + j]; });
          const auto strided = whole.view().group_range(0, groups);
          REQUIRE(strided.packed_stride != tight.view().packed_stride);
          std::vector<float> x(cols), y_tight(rows), y_strided(rows);
          for (auto& v : x) v = nd(rng);
          for_each_target([&] {
            std::fill(y_tight.begin(), y_tight.end(), NAN);
            famx::quant::qmv(tight.view(), x, y_tight);
            famx::quant::qmv(strided, x, y_strided);
            CHECK(y_tight == y_strided);
            if (bits == 2) return;
            std::fill(y_tight.begin(), y_tight.end(), NAN);
            famx::quant::qmv_int8(tight.view(), x, y_tight);
            famx::quant::qmv_int8(strided, x, y_strided);
            CHECK(y_tight == y_strided);
          });
        }
      }
    }
  }
}

TEST_CASE("qmm and qmm_int8 give every token exactly qmv's and qmv_int8's row, for any token count, target and thread count") {
  // qmm_int8: 4- and 8-bit take the integer tiles on the MLX view from 6 tokens on (one qmv_int8
  // per token below) and on load-time panels for any count. Tiles hold 12 tokens on AVX-512
  // targets, 8 on the others; the last tile is the smallest of the full tile, 8, 4, 2 or 1 tokens
  // that holds the rest (on AVX-512, m = 1, 2, 8, 12 run whole tiles and m = 3, 5, 17, 23 end in
  // a short tile that repeats its last token). 3-bit falls back like qmv_int8. qmm: 2-, 4- and
  // 8-bit take the exact tiles, 3-bit runs qmv.
  // 37 rows leave a partial block of rows on every target; 128, 384, 640 and 896 columns give 1,
  // 2, 3, 4, 5, 6, 7, 10, 12, 14, 20 and 28 groups (a lone group, odd blocks in the group tree).
  std::mt19937 rng(31);
  std::normal_distribution<float> nd;
  famx::thread_pool pool(3);
  for (int bits : {2, 3, 4, 8}) {
    for (int gs : {32, 64, 128}) {
      for (std::size_t cols : {128u, 384u, 640u, 896u}) {
        const std::size_t rows = 37;
        const famx::dtype st = gs == 32 ? famx::dtype::f16 : (gs == 64 ? famx::dtype::bf16 : famx::dtype::f32);
        const auto q = make_weights(rows, cols, {bits, gs}, st, [&](std::size_t, std::size_t) { return 0.05f * nd(rng); });
        const std::size_t max_m = 64;
        std::vector<float> x(max_m * cols);
        for (std::size_t j = 0; j < x.size(); ++j) x[j] = (j % 13 == 0 ? 7.0f : 1.0f) * nd(rng);
        std::fill_n(x.begin() + static_cast<std::ptrdiff_t>(cols), gs, 0.0f);  // token 1: an all-zero group
        // The load-time panel layout (4- and 8-bit): 37 rows leave a partial panel.
        const std::optional<famx::quant::int8_panels> panels =
            bits == 4 || bits == 8 ? std::optional(famx::quant::int8_panels(q.view(), pool.hook())) : std::nullopt;
        for_each_target([&] {
          std::vector<float> want_int8(max_m * rows), want(max_m * rows), y(max_m * rows);
          for (std::size_t t = 0; t < max_m; ++t) {
            const auto xt = std::span<const float>(x).subspan(t * cols, cols);
            famx::quant::qmv_int8(q.view(), xt, std::span<float>(want_int8).subspan(t * rows, rows));
            famx::quant::qmv(q.view(), xt, std::span<float>(want).subspan(t * rows, rows));
          }
          for (std::size_t m : {1u, 2u, 3u, 5u, 8u, 12u, 17u, 23u, 64u}) {
            for (std::size_t threads : {1u, 3u}) {
              CAPTURE(bits);
              CAPTURE(gs);
              CAPTURE(cols);
              CAPTURE(m);
              CAPTURE(threads);
              const auto xm = std::span<const float>(x).first(m * cols);
              const auto ym = std::span<float>(y).first(m * rows);
              const famx::parallel par = threads == 3 ? pool.hook() : famx::parallel{};
              if (bits != 2) {
                std::fill(y.begin(), y.end(), NAN);
                famx::quant::qmm_int8(q.view(), xm, m, ym, par);
                REQUIRE(std::equal(ym.begin(), ym.end(), want_int8.begin()));
              }
              if (panels) {
                std::fill(y.begin(), y.end(), NAN);
                famx::quant::qmm_int8(panels->view(), xm, m, ym, par);
                REQUIRE(std::equal(ym.begin(), ym.end(), want_int8.begin()));
              }
              std::fill(y.begin(), y.end(), NAN);
              famx::quant::qmm(q.view(), xm, m, ym, par);
              REQUIRE(std::equal(ym.begin(), ym.end(), want.begin()));
            }
          }
        });
      }
    }
  }
}

TEST_CASE("qmm_int8 on activations quantized once gives each selected token qmv_int8's row") {
  // One quantization serves every product and any selection of its tokens (repeated, out of
  // order), on MLX views (repacked per call at any count) and panels, every target, 1 and 3
  // threads; 1, 3, 11 and 24 tokens run a one-token tile, short tiles that repeat their last
  // token, and full tiles. 96 and 1120 columns (group size 32) end in half a 512-bit vector of
  // codes, which the 4-bit reordering finishes 8 codes at a time.
  std::mt19937 rng(37);
  std::normal_distribution<float> nd;
  famx::thread_pool pool(3);
  for (int bits : {4, 8}) {
    for (int gs : {32, 64, 128}) {
      for (std::size_t cols : {96u, 128u, 384u, 896u, 1120u}) {
        if (cols % static_cast<std::size_t>(gs) != 0) continue;
        const std::size_t rows = 37, m = 11;
        const auto q = make_weights(rows, cols, {bits, gs}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return 0.05f * nd(rng); });
        const famx::quant::int8_panels panels(q.view());
        std::vector<float> x(m * cols);
        for (auto& v : x) v = nd(rng);
        std::fill_n(x.begin() + static_cast<std::ptrdiff_t>(2 * cols), gs, 0.0f);  // token 2: an all-zero group
        const std::vector<std::uint32_t> pick = {10, 2, 2, 0, 7, 3, 9, 1, 5, 4, 6, 8, 10, 0, 3, 3, 1, 9, 2, 7, 5, 8, 6, 4};
        for_each_target([&] {
          std::vector<float> want(m * rows);
          for (std::size_t t = 0; t < m; ++t)
            famx::quant::qmv_int8(q.view(), std::span<const float>(x).subspan(t * cols, cols),
                                  std::span<float>(want).subspan(t * rows, rows));
          famx::quant::int8_activations act;
          for (std::size_t threads : {1u, 3u}) {
            CAPTURE(bits);
            CAPTURE(gs);
            CAPTURE(cols);
            CAPTURE(threads);
            const famx::parallel par = threads == 3 ? pool.hook() : famx::parallel{};
            const auto& xv = act.quantize({bits, gs}, cols, x, m, par);
            std::vector<float> y(m * rows, NAN);
            famx::quant::qmm_int8(q.view(), xv, y, par);
            REQUIRE(y == want);
            std::fill(y.begin(), y.end(), NAN);
            famx::quant::qmm_int8(panels.view(), xv, y, par);
            REQUIRE(y == want);
            for (std::size_t n : {1u, 3u, 24u}) {
              CAPTURE(n);
              const auto sel = std::span<const std::uint32_t>(pick).first(n);
              std::vector<float> ys(n * rows, NAN), yp(n * rows, NAN);
              famx::quant::qmm_int8(q.view(), xv, sel, ys, par);
              famx::quant::qmm_int8(panels.view(), xv, sel, yp, par);
              for (std::size_t i = 0; i < n; ++i) {
                const auto row = want.begin() + static_cast<std::ptrdiff_t>(sel[i] * rows);
                REQUIRE(std::equal(ys.begin() + static_cast<std::ptrdiff_t>(i * rows), ys.begin() + static_cast<std::ptrdiff_t>((i + 1) * rows), row));
                REQUIRE(std::equal(yp.begin() + static_cast<std::ptrdiff_t>(i * rows), yp.begin() + static_cast<std::ptrdiff_t>((i + 1) * rows), row));
              }
            }
          }
        });
      }
    }
  }
}

TEST_CASE("qmm_int8 on panels runs long prompts in blocks of tokens with qmv_int8's rows") {
  // 4096 columns: a block holds 216 tokens with AVX-512's tiles of 12, 224 with tiles of 8 (about
  // 1 MB of quantized activations), so 240 tokens run a whole block and a short one.
  std::mt19937 rng(41);
  std::normal_distribution<float> nd;
  famx::thread_pool pool(3);
  const std::size_t rows = 37, cols = 4096, m = 240;
  const auto q = make_weights(rows, cols, {4, 64}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return 0.05f * nd(rng); });
  const famx::quant::int8_panels panels(q.view());
  std::vector<float> x(m * cols);
  for (auto& v : x) v = nd(rng);
  for_each_target([&] {
    std::vector<float> want(m * rows), y(m * rows, NAN);
    for (std::size_t t = 0; t < m; ++t)
      famx::quant::qmv_int8(q.view(), std::span<const float>(x).subspan(t * cols, cols),
                            std::span<float>(want).subspan(t * rows, rows));
    famx::quant::qmm_int8(panels.view(), x, m, y, pool.hook());
    REQUIRE(y == want);
  });
}

TEST_CASE("qmm_int8 stays within qmv_int8's error bound of the fp64 reference") {
  std::mt19937 rng(32);
  std::normal_distribution<float> nd;
  const std::size_t rows = 45, cols = 1024, m = 9;
  const auto q = make_weights(rows, cols, {4, 64}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return 0.05f * nd(rng); });
  std::vector<float> x(m * cols), y(m * rows);
  for (std::size_t j = 0; j < x.size(); ++j) x[j] = (j % 11 == 0 ? 8.0f : 1.0f) * nd(rng);
  for_each_target([&] {
    famx::quant::qmm_int8(q.view(), x, m, y);
    std::vector<double> ref(rows), mag(rows);
    for (std::size_t t = 0; t < m; ++t) {
      const auto xt = std::span<const float>(x).subspan(t * cols, cols);
      famx::quant::reference_qmv(q.view(), xt, ref, mag);
      const std::vector<double> bound = int8_bound(q.view(), xt);
      for (std::size_t r = 0; r < rows; ++r) REQUIRE(std::fabs(y[t * rows + r] - ref[r]) <= bound[r] + kTol * mag[r]);
    }
  });
}

TEST_CASE("two threads give bit-identical results to one") {
  std::mt19937 rng(14);
  std::normal_distribution<float> nd;
  const auto q = make_weights(203, 640, {4, 32}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return nd(rng); });
  std::vector<float> x(8 * 640), y1(8 * 203), y2(8 * 203);
  for (auto& v : x) v = nd(rng);
  famx::thread_pool pool(2);
  for_each_target([&] {
    famx::quant::qmv(q.view(), std::span<const float>(x).first(640), std::span<float>(y1).first(203));
    famx::quant::qmv(q.view(), std::span<const float>(x).first(640), std::span<float>(y2).first(203), pool.hook());
    CHECK(y1 == y2);
    famx::quant::qmm(q.view(), x, 8, y1);
    famx::quant::qmm(q.view(), x, 8, y2, pool.hook());
    CHECK(y1 == y2);
  });
}

TEST_CASE("a row-parallel split over 2, 4 and 8 ranks reproduces the unsplit result bit for bit") {
  // Each rank owns a contiguous range of groups (and the matching slice of x); tree_sum of the
  // rank partials is the all-reduce. 24 groups of 32: degree 8 leaves 3 groups per rank.
  std::mt19937 rng(15);
  std::normal_distribution<float> nd;
  for (int bits : {3, 4, 8}) {
    const std::size_t rows = 21, cols = 24 * 32, m = 5;
    const auto q = make_weights(rows, cols, {bits, 32}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return nd(rng); });
    std::vector<float> x(m * cols);
    for (auto& v : x) v = nd(rng);
    for_each_target([&] {
      std::vector<float> full(rows), full_mm(m * rows);
      famx::quant::qmv(q.view(), std::span<const float>(x).first(cols), full);
      famx::quant::qmm(q.view(), x, m, full_mm);
      for (std::size_t degree : {2u, 4u, 8u}) {
        CAPTURE(bits);
        CAPTURE(degree);
        const std::size_t groups = 24 / degree, width = groups * 32;
        std::vector<std::vector<float>> part(degree, std::vector<float>(rows)),
            part_mm(degree, std::vector<float>(m * rows));
        for (std::size_t k = 0; k < degree; ++k) {
          const auto slice = q.view().group_range(k * groups, groups);
          famx::quant::qmv(slice, std::span<const float>(x).subspan(k * width, width), part[k]);
          std::vector<float> xs(m * width);
          for (std::size_t t = 0; t < m; ++t)
            std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(t * cols + k * width), width, xs.begin() + static_cast<std::ptrdiff_t>(t * width));
          famx::quant::qmm(slice, xs, m, part_mm[k]);
        }
        for (std::size_t i = 0; i < m * rows; ++i) {
          std::vector<float> p(degree), pm(degree);
          for (std::size_t k = 0; k < degree; ++k) pm[k] = part_mm[k][i];
          REQUIRE(famx::tree_sum(pm.data(), degree) == full_mm[i]);
          if (i < rows) {
            for (std::size_t k = 0; k < degree; ++k) p[k] = part[k][i];
            REQUIRE(famx::tree_sum(p.data(), degree) == full[i]);
          }
        }
      }
    });
  }
}

TEST_CASE("a column-parallel split (row ranges) equals the matching rows of the full result") {
  std::mt19937 rng(16);
  std::normal_distribution<float> nd;
  const auto q = make_weights(40, 256, {4, 64}, famx::dtype::bf16, [&](std::size_t, std::size_t) { return nd(rng); });
  std::vector<float> x(256), full(40), part(10);
  for (auto& v : x) v = nd(rng);
  famx::quant::qmv(q.view(), x, full);
  for (std::size_t k = 0; k < 4; ++k) {
    famx::quant::qmv(q.view().row_range(k * 10, 10), x, part);
    for (std::size_t r = 0; r < 10; ++r) CHECK(part[r] == full[k * 10 + r]);
  }
}

TEST_CASE("dense matvec with f32 and bf16 weights matches the reference") {
  std::mt19937 rng(17);
  std::normal_distribution<float> nd;
  for (auto t : {famx::dtype::f32, famx::dtype::bf16}) {
    for (std::size_t cols : {1u, 7u, 64u, 2051u}) {
      const std::size_t rows = 13;
      famx::tensor w(t, {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)});
      for (std::size_t i = 0; i < rows * cols; ++i) famx::store_float(w.data(), t, i, nd(rng));
      std::vector<float> x(cols), y(rows);
      std::vector<double> ref(rows), mag(rows);
      for (auto& v : x) v = nd(rng);
      famx::quant::reference_matvec(w.view(), x, ref, mag);
      for_each_target([&] {
        famx::quant::matvec(w.view(), x, y);
        for (std::size_t r = 0; r < rows; ++r) REQUIRE(std::fabs(y[r] - ref[r]) <= kTol * mag[r]);
      });
    }
  }
}

// One float of padding, then `rows` rows `ld` floats apart of `cols` entries 1..2 * 2^-8..2^0 with random signs, except
// the first and last columns: 2^20 and `last` * 2^20. A row pair's first and last products are
// +-2^40 and cancel, so the sum keeps the middle terms only as rounded against 2^40: the result
// depends on the order of the sum, and only the documented order gives the reference's bits.
std::vector<float> cancelling(std::size_t rows, std::size_t cols, std::size_t ld, float last, std::mt19937& rng) {
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> ex(-8, 0), sign(0, 1);
  std::vector<float> v(1 + rows * ld);
  for (auto& e : v) e = std::ldexp(mant(rng), ex(rng)) * (sign(rng) ? -1.0f : 1.0f);
  if (cols >= 3)
    for (std::size_t r = 0; r < rows; ++r) v[1 + r * ld] = 0x1p20f, v[1 + r * ld + cols - 1] = last * 0x1p20f;
  return v;
}

TEST_CASE("exact_matmul_t and exact_vecmat give the in-order fp64 sums' bits on every target") {
  std::mt19937 rng(29);
  const auto view = [](const std::vector<float>& d, std::size_t off, std::size_t rows, std::size_t cols, std::size_t stride) {
    return famx::tensor_view{d.data() + off, famx::dtype::f32,
                             {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)},
                             {static_cast<std::int64_t>(stride), 1}};
  };
  std::size_t order_sensitive = 0;
  for (std::size_t k : {1u, 3u, 16u, 128u, 131u}) {
    for (std::size_t m : {1u, 4u, 9u, 33u}) {
      for (std::size_t n : {1u, 7u, 8u, 21u}) {
        CAPTURE(k);
        CAPTURE(m);
        CAPTURE(n);
        const std::size_t lda = k + 2, ldb = k + 5;  // strided rows, starting one float in
        const auto a = cancelling(m, k, lda, 1, rng), b = cancelling(n, k, ldb, -1, rng);
        std::vector<float> ref(m * n), c(m * n);
        for (std::size_t r = 0; r < m; ++r)
          for (std::size_t j = 0; j < n; ++j) {
            double s = 0, rev = 0;
            for (std::size_t i = 0; i < k; ++i) s += static_cast<double>(a[1 + r * lda + i]) * b[1 + j * ldb + i];
            for (std::size_t i = k; i-- > 0;) rev += static_cast<double>(a[1 + r * lda + i]) * b[1 + j * ldb + i];
            ref[r * n + j] = static_cast<float>(s);
            order_sensitive += static_cast<float>(rev) != ref[r * n + j];
          }
        for_each_target([&] {
          famx::quant::exact_matmul_t(view(a, 1, m, k, lda), view(b, 1, n, k, ldb), c);
          for (std::size_t i = 0; i < m * n; ++i) REQUIRE(c[i] == ref[i]);
        });
      }
      // out = p v for v [m, k] (m rows, k columns here).
      // (p's first and last entries 2^20, v's first and last rows +-2^20: the same cancellation.)
      const std::size_t ldv = k + 3;
      const auto pc = cancelling(1, m, m, 1, rng), vt = cancelling(k, m, m, -1, rng);
      const std::vector<float> p(pc.begin() + 1, pc.end());
      std::vector<float> v(m * ldv);
      for (std::size_t j = 0; j < m; ++j)
        for (std::size_t x = 0; x < k; ++x) v[j * ldv + x] = vt[1 + x * m + j];
      std::vector<float> ref(k), out(k);
      for (std::size_t x = 0; x < k; ++x) {
        double s = 0, rev = 0;
        for (std::size_t j = 0; j < m; ++j) s += static_cast<double>(p[j]) * v[j * ldv + x];
        for (std::size_t j = m; j-- > 0;) rev += static_cast<double>(p[j]) * v[j * ldv + x];
        ref[x] = static_cast<float>(s);
        order_sensitive += static_cast<float>(rev) != ref[x];
      }
      for_each_target([&] {
        famx::quant::exact_vecmat(p, view(v, 0, m, k, ldv), out);
        for (std::size_t x = 0; x < k; ++x) REQUIRE(out[x] == ref[x]);
      });
    }
  }
  CHECK(order_sensitive > 100);  // the data tells orders apart
  std::vector<float> d(64), c(4);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_t(view(d, 0, 2, 8, 8), view(d, 0, 2, 7, 8), c),
                       "exact_matmul_t.b: found [2, 7], expected [n, 8] (a's columns)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_t(view(d, 0, 2, 8, 8), view(d, 0, 3, 8, 8), c),
                       "exact_matmul_t.c: found 4 elements, expected 6 elements (m * n)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_t(view(d, 0, 2, 8, 4), view(d, 0, 2, 8, 8), c),
                       "exact_matmul_t.a: found [2, 8], expected a rank-2 matrix with contiguous, non-overlapping rows",
                       famx::error);
  famx::tensor wi(famx::dtype::bf16, {2, 2});
  std::vector<float> p2(2), o2(2), o3(3);
  CHECK_THROWS_WITH_AS(famx::quant::exact_vecmat(p2, wi.view(), o2), "exact_vecmat.v: found bf16, expected f32",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_vecmat(p2, view(d, 0, 2, 3, 3), o2),
                       "exact_vecmat.out: found 2 elements, expected 3 elements (v's columns)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_vecmat(o3, view(d, 0, 2, 3, 3), o3),
                       "exact_vecmat.p: found 3 elements, expected 2 elements (v's rows)", famx::error);
}

TEST_CASE("exact_matmul_t_blocks and exact_matmul give exact_matmul_t's and exact_vecmat's bits on every target") {
  std::mt19937 rng(31);
  const auto view = [](const std::vector<float>& d, std::size_t off, std::size_t rows, std::size_t cols, std::size_t stride) {
    return famx::tensor_view{d.data() + off, famx::dtype::f32,
                             {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)},
                             {static_cast<std::int64_t>(stride), 1}};
  };
  constexpr std::size_t B = famx::quant::block_rows;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t k : {1u, 3u, 16u, 128u, 131u}) {
    for (std::size_t m : {1u, 2u, 3u, 4u, 7u, 12u}) {
      for (std::size_t first : {0u, 5u, 8u, 37u}) {
        for (std::size_t n : {1u, 3u, 8u, 27u, 70u}) {
          CAPTURE(k);
          CAPTURE(m);
          CAPTURE(first);
          CAPTURE(n);
          const std::size_t lda = k + 2, ldb = k;
          const auto a = cancelling(m, k, lda, 1, rng), b = cancelling(first + n, k, ldb, -1, rng);
          // b's rows in blocks; the lanes of rows outside [first, first + n) are NaN, never read into c.
          std::vector<float> blocks((first + n + B - 1) / B * B * k, nan);
          for (std::size_t j = first; j < first + n; ++j)
            for (std::size_t i = 0; i < k; ++i) blocks[j / B * B * k + i * B + j % B] = b[1 + j * ldb + i];
          std::vector<float> ref(m * n), c(m * n);
          famx::quant::exact_matmul_t(view(a, 1, m, k, lda), view(b, 1 + first * ldb, n, k, ldb), ref);
          for_each_target([&] {
            famx::quant::exact_matmul_t_blocks(view(a, 1, m, k, lda), blocks, first, n, c);
            for (std::size_t i = 0; i < m * n; ++i) REQUIRE(std::bit_cast<std::uint32_t>(c[i]) == std::bit_cast<std::uint32_t>(ref[i]));
          });
        }
      }
      // out [m, k] = p [m, rows] v [rows, k]: each row exact_vecmat's (checked against fp64 above).
      for (std::size_t rows : {0u, 1u, 9u, 70u}) {
        CAPTURE(rows);
        const std::size_t ldp = rows + 1, ldv = k + 3;
        const auto p = cancelling(m, rows, ldp, 1, rng), v = cancelling(rows, k, ldv, -1, rng);
        std::vector<float> ref(m * k), out(m * k);
        for (std::size_t r = 0; r < m; ++r)
          famx::quant::exact_vecmat(std::span(p.data() + 1 + r * ldp, rows), view(v, 1, rows, k, ldv),
                                    std::span(ref.data() + r * k, k));
        for_each_target([&] {
          famx::quant::exact_matmul(view(p, 1, m, rows, ldp), view(v, 1, rows, k, ldv), out);
          for (std::size_t i = 0; i < m * k; ++i) REQUIRE(std::bit_cast<std::uint32_t>(out[i]) == std::bit_cast<std::uint32_t>(ref[i]));
        });
        // Each row of p over its own rows of v (a causal run, then random ranges); p's entries
        // outside a row's range and v's rows outside every range are NaN and must not count.
        for (int shape = 0; shape < 2; ++shape) {
          std::vector<famx::quant::row_range> ranges(m);
          for (std::size_t r = 0; r < m; ++r) {
            std::uniform_int_distribution<std::size_t> pick(0, rows);
            std::size_t b = shape == 0 ? 0 : pick(rng), e = shape == 0 ? rows * (r + 1) / m : pick(rng);
            ranges[r] = {std::min(b, e), std::max(b, e)};
          }
          auto pm = p, vm = v;
          std::vector<bool> used(rows);
          for (std::size_t r = 0; r < m; ++r)
            for (std::size_t j = 0; j < rows; ++j) {
              const bool in = j >= ranges[r].begin && j < ranges[r].end;
              if (!in) pm[1 + r * ldp + j] = nan;
              used[j] = used[j] || in;
            }
          for (std::size_t j = 0; j < rows; ++j)
            if (!used[j]) std::fill_n(vm.begin() + static_cast<std::ptrdiff_t>(1 + j * ldv), k, nan);
          std::vector<float> rref(m * k);
          for (std::size_t r = 0; r < m; ++r) {
            const std::size_t b = ranges[r].begin, e = ranges[r].end;
            famx::quant::exact_vecmat(std::span(p.data() + 1 + r * ldp + b, e - b), view(v, 1 + b * ldv, e - b, k, ldv),
                                      std::span(rref.data() + r * k, k));
          }
          for_each_target([&] {
            famx::quant::exact_matmul_ranges(view(pm, 1, m, rows, ldp), view(vm, 1, rows, k, ldv), ranges, out);
            for (std::size_t i = 0; i < m * k; ++i)
              REQUIRE(std::bit_cast<std::uint32_t>(out[i]) == std::bit_cast<std::uint32_t>(rref[i]));
          });
        }
      }
    }
  }
  std::vector<float> d(64), c(4);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_t_blocks(view(d, 0, 2, 4, 4), std::span(d.data(), 63), 7, 2, c),
                       "exact_matmul_t_blocks.b_blocks: found 63 elements (8 rows of 4), expected rows [7, 7 + 2)",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_t_blocks(view(d, 0, 2, 4, 4), d, 15, 2, c),
                       "exact_matmul_t_blocks.b_blocks: found 64 elements (16 rows of 4), expected rows [15, 15 + 2)",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_t_blocks(view(d, 0, 2, 4, 4), d, 0, 3, c),
                       "exact_matmul_t_blocks.c: found 4 elements, expected 6 elements (m * n)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_t_blocks(view(d, 0, 2, 4, 4), d, std::numeric_limits<std::size_t>::max(), 2, c),
                       "exact_matmul_t_blocks.b_blocks: found 64 elements (16 rows of 4), expected rows "
                       "[18446744073709551615, 18446744073709551615 + 2)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul(view(d, 0, 2, 3, 3), view(d, 0, 4, 2, 2), c),
                       "exact_matmul.v: found [4, 2], expected [3, n] (p's columns)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul(view(d, 0, 2, 3, 3), view(d, 0, 3, 3, 3), c),
                       "exact_matmul.out: found 4 elements, expected 6 elements (m * n)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul(view(d, 0, 2, 3, 2), view(d, 0, 3, 2, 2), c),
                       "exact_matmul.p: found [2, 3], expected a rank-2 matrix with contiguous, non-overlapping rows",
                       famx::error);
  const std::vector<famx::quant::row_range> one = {{0, 3}}, bad = {{0, 3}, {2, 4}}, backwards = {{0, 3}, {2, 1}};
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_ranges(view(d, 0, 2, 3, 3), view(d, 0, 3, 2, 2), one, c),
                       "exact_matmul_ranges.ranges: found 1 elements, expected 2 elements (one per row of p)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_ranges(view(d, 0, 2, 3, 3), view(d, 0, 3, 2, 2), bad, c),
                       "exact_matmul_ranges.ranges.1: found [2, 4), expected rows [begin, end) of v within [0, 3)",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_ranges(view(d, 0, 2, 3, 3), view(d, 0, 3, 2, 2), backwards, c),
                       "exact_matmul_ranges.ranges.1: found [2, 1), expected rows [begin, end) of v within [0, 3)",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_matmul_ranges(view(d, 0, 2, 3, 3), view(d, 0, 4, 2, 2), one, c),
                       "exact_matmul_ranges.v: found [4, 2], expected [3, n] (p's columns)", famx::error);
}

// The gated delta rule's step as exact_delta_step documents it, in scalar fp64, the sums over j
// in order (or reversed, to show that the data tells the orders apart).
void delta_step_reference(std::vector<float>& s, std::size_t dk, std::size_t dv, const std::vector<float>& k,
                          const std::vector<float>& q, const std::vector<float>& v, float g, float beta,
                          std::vector<float>& y, bool reversed) {
  for (float& e : s) e = g * e;
  const auto sum = [&](const std::vector<float>& w, std::size_t i) {
    double acc = 0;
    for (std::size_t n = 0; n < dk; ++n) {
      const std::size_t j = reversed ? dk - 1 - n : n;
      acc += static_cast<double>(w[j]) * static_cast<double>(s[j * dv + i]);
    }
    return static_cast<float>(acc);
  };
  for (std::size_t i = 0; i < dv; ++i) {
    const float delta = (v[i] - sum(k, i)) * beta;
    for (std::size_t j = 0; j < dk; ++j)
      s[j * dv + i] = static_cast<float>(static_cast<double>(s[j * dv + i]) + static_cast<double>(k[j]) * delta);
    y[i] = sum(q, i);
  }
}

TEST_CASE("exact_delta_step gives the in-order fp64 scalar loop's bits on every target") {
  std::mt19937 rng(31);
  std::size_t order_sensitive = 0;
  for (std::size_t dk : {1u, 3u, 16u, 128u}) {
    for (std::size_t dv : {1u, 5u, 8u, 21u, 64u, 128u, 131u}) {
      for (bool zero_k : {false, true}) {
        CAPTURE(dk);
        CAPTURE(dv);
        CAPTURE(zero_k);
        // The state's first two rows are +-2^20, and so are k's (or q's, when k is 0 and the state
        // is only decayed) first two entries: their products cancel at once in an in-order sum,
        // and only after rounding the other terms to 2^-12 in a reversed one.
        const auto kc = cancelling(1, dk, dk, 1, rng), qc = cancelling(1, dk, dk, 1, rng), st = cancelling(dv, dk, dk, -1, rng);
        std::vector<float> k(kc.begin() + 1, kc.end()), q(qc.begin() + 1, qc.end());
        if (zero_k) std::fill(k.begin(), k.end(), 0.0f);
        std::vector<float> s0(dk * dv), v(dv);
        for (std::size_t j = 0; j < dk; ++j)
          for (std::size_t i = 0; i < dv; ++i) s0[j * dv + i] = st[1 + i * dk + j];
        if (dk >= 3) {  // cancelling() put the second big entries last: bring them to row 1
          std::swap(k[1], k[dk - 1]);
          std::swap(q[1], q[dk - 1]);
          std::swap_ranges(s0.begin() + static_cast<std::ptrdiff_t>(dv), s0.begin() + static_cast<std::ptrdiff_t>(2 * dv),
                           s0.begin() + static_cast<std::ptrdiff_t>((dk - 1) * dv));
        }
        for (auto& e : v) e = std::uniform_real_distribution<float>(-4, 4)(rng);
        const float g = 0.8125f + 0.01f * static_cast<float>(dk % 7), beta = 0.3f;
        std::vector<float> ref_s = s0, ref_y(dv), rev_s = s0, rev_y(dv);
        delta_step_reference(ref_s, dk, dv, k, q, v, g, beta, ref_y, false);
        delta_step_reference(rev_s, dk, dv, k, q, v, g, beta, rev_y, true);
        for (std::size_t i = 0; i < dv; ++i) order_sensitive += rev_y[i] != ref_y[i];
        for (std::size_t i = 0; i < dk * dv; ++i) order_sensitive += rev_s[i] != ref_s[i];
        for_each_target([&] {
          std::vector<float> s = s0, y(dv);
          famx::quant::exact_delta_step(s, k, q, v, g, beta, y);
          for (std::size_t i = 0; i < dv; ++i) REQUIRE(y[i] == ref_y[i]);
          for (std::size_t i = 0; i < dk * dv; ++i) REQUIRE(s[i] == ref_s[i]);
        });
      }
    }
  }
  CHECK(order_sensitive > 1000);  // the data tells orders apart
  std::vector<float> s(6), k(2), q(2), q3(3), v(3), y(3), y2(2);
  CHECK_THROWS_WITH_AS(famx::quant::exact_delta_step(s, k, q3, v, 1, 1, y),
                       "exact_delta_step.q: found 3 elements, expected 2 elements (k's)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_delta_step(std::span(s).first(5), k, q, v, 1, 1, y),
                       "exact_delta_step.state: found 5 elements, expected 6 elements (k * v)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::exact_delta_step(s, k, q, v, 1, 1, y2),
                       "exact_delta_step.y: found 2 elements, expected 3 elements (v's)", famx::error);
}

TEST_CASE("kernels reject mismatched sizes with a message, never reading out of bounds") {
  const auto q = make_weights(4, 64, {4, 64}, famx::dtype::bf16, [](std::size_t r, std::size_t j) {
    return static_cast<float>(r + j);
  });
  std::vector<float> x(63), y(4), x_ok(64), y_short(3);
  CHECK_THROWS_WITH_AS(famx::quant::qmv(q.view(), x, y), "qmv.x: found 63 elements, expected 64 elements (m * cols)",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmv(q.view(), x_ok, y_short),
                       "qmv.y: found 3 elements, expected 4 elements (m * rows)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm(q.view(), x_ok, 2, y),
                       "qmm.x: found 64 elements, expected 128 elements (m * cols)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_fast(q.view(), x_ok, 2, y),
                       "qmm_fast.x: found 64 elements, expected 128 elements (m * cols)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(q.view(), x_ok, 2, y),
                       "qmm_int8.x: found 64 elements, expected 128 elements (m * cols)", famx::error);
  std::vector<float> y8(8), y7(7);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(q.view(), x_ok, 1, y8),
                       "qmm_int8.y: found 8 elements, expected 4 elements (m * rows)", famx::error);
  std::vector<float> x2t(128);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(q.view(), x2t, 2, y7),
                       "qmm_int8.y: found 7 elements, expected 8 elements (m * rows)", famx::error);
  const famx::quant::int8_panels panels(q.view());
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(panels.view(), x_ok, 2, y),
                       "qmm_int8.x: found 64 elements, expected 128 elements (m * cols)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(panels.view(), x2t, 2, y7),
                       "qmm_int8.y: found 7 elements, expected 8 elements (m * rows)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(famx::quant::int8_panels_view{}, x_ok, 1, y),
                       "qmm_int8.w: found a null data pointer, expected panels built by int8_panels", famx::error);
  std::vector<std::uint32_t> short_out(panels.bytes() / 4 - 1);
  CHECK_THROWS_WITH_AS(famx::quant::fill_int8_panels(q.view(), short_out),
                       "fill_int8_panels.out: found 319 elements, expected 320 elements (panels * panel_words)",
                       famx::error);
  auto three_bit = panels.view();
  three_bit.format.bits = 3;
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(three_bit, x_ok, 1, y),
                       "qmm_int8.w.bits: found 3, expected 4 or 8 (qmm_int8's integer widths)", famx::error);
  const auto q3 = make_weights(4, 64, {3, 64}, famx::dtype::bf16, [](std::size_t, std::size_t) { return 0.5f; });
  CHECK_THROWS_WITH_AS(famx::quant::int8_panels(q3.view(), {}, "layers.0.mlp.down_proj"),
                       "layers.0.mlp.down_proj.bits: found 3, expected 4 or 8 (qmm_int8's integer widths)", famx::error);
  // Quantized activations: their arguments, and whether they fit the weights.
  std::vector<std::uint32_t> act_out(famx::quant::int8_activations_view{nullptr, {4, 64}, 2, 64}.words());
  CHECK_THROWS_WITH_AS(famx::quant::quantize_int8_activations({3, 64}, 64, x_ok, 1, act_out),
                       "quantize_int8_activations.format.bits: found 3, expected 4 or 8 (qmm_int8's integer widths)",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::quantize_int8_activations({4, 64}, 48, x_ok, 1, act_out),
                       "quantize_int8_activations.format: found in = 48, expected a positive multiple of the group size 64",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::quantize_int8_activations({4, 64}, 64, x_ok, 2, act_out),
                       "quantize_int8_activations.x: found 64 elements, expected 128 elements (m * cols)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::quantize_int8_activations({4, 64}, 64, x_ok, 1, act_out),
                       "quantize_int8_activations.out: found 36 elements, expected 18 elements (int8_activations_view::words)",
                       famx::error);
  famx::quant::int8_activations act;
  CHECK_THROWS_WITH_AS(act.quantize({4, 0}, 64, x_ok, 1),
                       "quantize_int8_activations.format.group_size: found 0, expected one of 32, 64, 128", famx::error);
  CHECK(act.view().data == nullptr);
  const auto& xa = act.quantize({4, 64}, 64, x2t, 2);
  const std::vector<std::uint32_t> tok_ok = {1, 0}, tok_bad = {1, 2};
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(q.view(), xa, tok_bad, y8),
                       "qmm_int8.tokens[1]: found 2, expected a token of x (fewer than 2)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(panels.view(), xa, tok_ok, y7),
                       "qmm_int8.y: found 7 elements, expected 8 elements (tokens * rows)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(panels.view(), xa, y),
                       "qmm_int8.y: found 4 elements, expected 8 elements (tokens * rows)", famx::error);
  famx::quant::int8_activations act8;
  const auto& x8 = act8.quantize({8, 64}, 64, x_ok, 1);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(q.view(), x8, y),
                       "qmm_int8.x.format: found 8-bit group 64, expected 4-bit group 64 (w's format)", famx::error);
  famx::quant::int8_activations wide;
  wide.quantize({4, 64}, 128, x2t, 1);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(panels.view(), wide.view(), y),
                       "qmm_int8.x.cols: found 128, expected 64 (w's cols)", famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(panels.view(), famx::quant::int8_activations_view{nullptr, {4, 64}, 1, 64}, y),
                       "qmm_int8.x: found a null data pointer, expected activations quantized by quantize_int8_activations",
                       famx::error);
  CHECK_THROWS_WITH_AS(famx::quant::qmm_int8(q3.view(), x8, y),
                       "qmm_int8.w.bits: found 3, expected 4 or 8 (qmm_int8's integer widths)", famx::error);
  auto unaligned = q.view();
  unaligned.cols = 48;
  CHECK_THROWS_WITH_AS(famx::quant::int8_panels{unaligned},
                       "int8_panels.w.cols: found 48, expected a positive multiple of the group size 64", famx::error);
  auto bad = q.view();
  bad.format.bits = 7;
  CHECK_THROWS_WITH_AS(famx::quant::qmv(bad, x_ok, y), "qmv.w.bits: found 7, expected one of 2, 3, 4, 5, 6, 8",
                       famx::error);
  famx::tensor wi(famx::dtype::i32, {2, 2});
  std::vector<float> x2(2), y2(2);
  CHECK_THROWS_WITH_AS(famx::quant::matvec(wi.view(), x2, y2), "matvec.w: found i32, expected f32 or bf16 weights",
                       famx::error);
}

TEST_CASE("make_qmatrix_view checks MLX shapes and names the tensor") {
  famx::tensor packed(famx::dtype::u32, {8, 16}), scales(famx::dtype::bf16, {8, 2}), biases(famx::dtype::bf16, {8, 2});
  auto ok = famx::quant::make_qmatrix_view(packed.view(), scales.view(), biases.view(), {4, 64}, "layers.0.mlp.down_proj");
  REQUIRE(ok.has_value());
  CHECK(ok->cols == 128);
  CHECK(ok->rows == 8);
  auto wrong = famx::quant::make_qmatrix_view(packed.view(), scales.view(), biases.view(), {4, 32}, "layers.0.mlp.down_proj");
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.err().message() ==
        "layers.0.mlp.down_proj.scales: found [8, 2], expected [8, 4] for 4-bit group 32 and in = 128");
  famx::tensor f16b(famx::dtype::f16, {8, 2});
  auto mixed = famx::quant::make_qmatrix_view(packed.view(), scales.view(), f16b.view(), {4, 64}, "o_proj");
  CHECK(mixed.err().message() == "o_proj.biases: found f16, expected bf16 like the scales");
}

TEST_CASE("the kernels are compiled for several targets, the portable fallback included") {
  std::string names;
  for (std::int64_t t : famx::kernel_targets()) names += std::string(hwy::TargetName(t)) + " ";
  MESSAGE("kernel targets on this CPU: " << names);
  const auto targets = famx::kernel_targets();
  REQUIRE(targets.size() >= 2);
  const std::string last = hwy::TargetName(targets.back());
  CHECK((last == "SCALAR" || last == "EMU128"));
}
