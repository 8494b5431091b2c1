// quantize / dequantize against MLX's published algorithm and its worked examples.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "famx/quant/quantize.hpp"

namespace {

famx::tensor_view view_of(const std::vector<float>& w, std::int64_t rows, std::int64_t cols) {
  return famx::tensor_view::contiguous(w.data(), famx::dtype::f32, {rows, cols});
}

}  // namespace

TEST_CASE("the spec's 4-bit worked example: max 0.9, min -0.3") {
  // scale = -1.2/15 = -0.08, q0 = rint(0.9 / -0.08) = -11, scale = 0.9 / -11, bias = 0.9;
  // 0.9 -> 0, 0.0 -> 11, -0.3 -> rint(14.67) = 15.
  std::vector<float> w(32, 0.0f);
  w[0] = 0.9f;
  w[1] = -0.3f;
  const auto q = famx::quant::quantize(view_of(w, 1, 32), {4, 32}, famx::dtype::f32).value();
  const auto v = q.view();
  CHECK(v.scale(0, 0) == 0.9f / -11.0f);
  CHECK(v.bias(0, 0) == 0.9f);
  CHECK(famx::quant::unpack_code(v.row(0), 4, 0) == 0);
  CHECK(famx::quant::unpack_code(v.row(0), 4, 1) == 15);
  for (std::size_t j = 2; j < 32; ++j) CHECK(famx::quant::unpack_code(v.row(0), 4, j) == 11);
}

TEST_CASE("the dominant edge maps to code 0 and zero maps to code -q0, for every format") {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      CAPTURE(bits);
      CAPTURE(gs);
      std::vector<float> w(static_cast<std::size_t>(gs) * 3);
      for (auto& x : w) x = u(rng);
      w[5] = 0.0f;
      const auto q = famx::quant::quantize(view_of(w, 1, static_cast<std::int64_t>(w.size())), {bits, gs},
                                           famx::dtype::f32).value();
      const auto v = q.view();
      // group 0: recompute the edge independently
      float mx = w[0], mn = w[0];
      for (int j = 0; j < gs; ++j) mx = std::max(mx, w[static_cast<std::size_t>(j)]), mn = std::min(mn, w[static_cast<std::size_t>(j)]);
      const float edge = std::fabs(mn) > std::fabs(mx) ? mn : mx;
      CHECK(v.bias(0, 0) == edge);
      const float s = v.scale(0, 0);
      CHECK(static_cast<float>(famx::quant::unpack_code(v.row(0), bits, 5)) * s + edge == doctest::Approx(0.0).epsilon(1e-6));
      // every element is within half a step of its dequantized value, or clipped to the range
      // [bias, bias + n_bins * scale] (zero-exactness can shrink the range below [min, max])
      const auto back = famx::quant::dequantize(v, famx::dtype::f32);
      for (std::size_t j = 0; j < w.size(); ++j) {
        const std::size_t g = j / static_cast<std::size_t>(gs);
        const float step = std::fabs(v.scale(0, g));
        const float end = v.bias(0, g) + static_cast<float>((1 << bits) - 1) * v.scale(0, g);
        const float lo = std::min(v.bias(0, g), end), hi = std::max(v.bias(0, g), end);
        const float outside = std::max({0.0f, lo - w[j], w[j] - hi});
        REQUIRE(std::fabs(back.as<float>()[j] - w[j]) <= 0.5f * step * (1 + 1e-5f) + outside + 1e-6f);
      }
    }
  }
}

TEST_CASE("CPU and GPU rounding differ exactly where the spec says") {
  // An all-negative group: the CPU kernel starts w_max at -inf, the GPU kernels at 0.
  std::vector<float> w(32);
  for (int j = 0; j < 32; ++j) w[static_cast<std::size_t>(j)] = -1.0f - 0.1f * static_cast<float>(j);  // -1.0 .. -4.1
  const auto cpu = famx::quant::quantize(view_of(w, 1, 32), {4, 32}, famx::dtype::f32,
                                         famx::quant::rounding::cpu).value();
  const auto gpu = famx::quant::quantize(view_of(w, 1, 32), {4, 32}, famx::dtype::f32,
                                         famx::quant::rounding::gpu).value();
  // CPU: scale = (-1.0 - -4.1)/15 > 0, edge = -4.1, q0 = rint(-4.1/scale) = -20 -> scale = -4.1/-20.
  const float w_min = w[31], cpu_step = (w[0] - w_min) / 15.0f;
  CHECK(cpu.view().scale(0, 0) == w_min / std::nearbyint(w_min / cpu_step));
  // GPU: scale = (0 - -4.1)/15, q0 = round(-15.0...) -> scale = -4.1/-15 exactly the step to zero.
  const float gpu_step = (0.0f - w_min) / 15.0f;
  CHECK(gpu.view().scale(0, 0) == w_min / std::round(w_min / gpu_step));
  CHECK(cpu.view().scale(0, 0) != gpu.view().scale(0, 0));
  // A .5 tie: rint rounds to even, round() away from zero.
  std::vector<float> t(32, 0.0f);
  t[0] = 1.0f;   // edge (max side), scale = -1/15 -> q0 = -15 -> scale = -1/15
  t[1] = 0.5f;   // (0.5 - 1)/(-1/15) = 7.5 -> 8 either way (ties at even 8 and away 8)
  t[2] = 0.3f;   // (0.3 - 1)*(-15) = 10.5 -> 10 (even) vs 11 (away)
  const auto tc = famx::quant::quantize(view_of(t, 1, 32), {4, 32}, famx::dtype::f32,
                                        famx::quant::rounding::cpu).value();
  const auto tg = famx::quant::quantize(view_of(t, 1, 32), {4, 32}, famx::dtype::f32,
                                        famx::quant::rounding::gpu).value();
  const float q_cpu = std::nearbyint((0.3f - 1.0f) / tc.view().scale(0, 0));
  const float q_gpu = std::round((0.3f - 1.0f) / tg.view().scale(0, 0));
  CHECK(famx::quant::unpack_code(tc.view().row(0), 4, 2) == static_cast<std::uint32_t>(q_cpu));
  CHECK(famx::quant::unpack_code(tg.view().row(0), 4, 2) == static_cast<std::uint32_t>(q_gpu));
}

TEST_CASE("an all-zero group keeps scale -eps and bias 0 and dequantizes to zero") {
  std::vector<float> w(64, 0.0f);
  const auto q = famx::quant::quantize(view_of(w, 1, 64), {4, 64}, famx::dtype::f32).value();
  CHECK(q.view().scale(0, 0) == -1e-7f);
  CHECK(q.view().bias(0, 0) == 0.0f);
  const auto back = famx::quant::dequantize(q.view(), famx::dtype::f32);
  for (float x : back.as<float>()) CHECK(x == 0.0f);
}

TEST_CASE("scales and biases are rounded to their dtype after the codes are computed") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  std::vector<float> w(4 * 64);
  for (auto& x : w) x = u(rng);
  const auto f = famx::quant::quantize(view_of(w, 4, 64), {4, 64}, famx::dtype::f32).value();
  const auto b = famx::quant::quantize(view_of(w, 4, 64), {4, 64}, famx::dtype::bf16).value();
  for (std::size_t r = 0; r < 4; ++r) {
    CHECK(b.view().scale(r, 0) == famx::bf16::from_float(f.view().scale(r, 0)).to_float());
    CHECK(b.view().bias(r, 0) == famx::bf16::from_float(f.view().bias(r, 0)).to_float());
    for (std::size_t j = 0; j < 64; ++j)
      CHECK(famx::quant::unpack_code(b.view().row(r), 4, j) == famx::quant::unpack_code(f.view().row(r), 4, j));
  }
  // dequantize into bf16 rounds twice, like MLX's CPU ops: T(T(q*s) + b)
  const auto back = famx::quant::dequantize(b.view(), famx::dtype::bf16);
  for (std::size_t j = 0; j < 64; ++j) {
    const float s = b.view().scale(0, 0), bias = b.view().bias(0, 0);
    const float qs = famx::bf16::from_float(static_cast<float>(famx::quant::unpack_code(b.view().row(0), 4, j)) * s).to_float();
    CHECK(back.as<famx::bf16>()[j] == famx::bf16::from_float(qs + bias));
  }
}

TEST_CASE("quantize rejects what MLX rejects, saying what it expected") {
  std::vector<float> w(2 * 96, 0.5f);
  const auto v = view_of(w, 2, 96);
  auto bad_bits = famx::quant::quantize(v, {7, 32}, famx::dtype::bf16, famx::quant::rounding::cpu, "layers.0.mlp.up_proj");
  REQUIRE_FALSE(bad_bits.has_value());
  CHECK(bad_bits.err().message() == "layers.0.mlp.up_proj.bits: found 7, expected one of 2, 3, 4, 5, 6, 8");
  auto bad_group = famx::quant::quantize(v, {4, 48}, famx::dtype::bf16);
  REQUIRE_FALSE(bad_group.has_value());
  CHECK(bad_group.err().message() == "weight.group_size: found 48, expected one of 32, 64, 128");
  auto bad_cols = famx::quant::quantize(v, {4, 64}, famx::dtype::bf16);
  REQUIRE_FALSE(bad_cols.has_value());
  CHECK(bad_cols.err().message() == "weight: found in = 96, expected a positive multiple of the group size 64");
  w[97] = std::numeric_limits<float>::quiet_NaN();
  auto nan = famx::quant::quantize(v, {4, 32}, famx::dtype::bf16);
  REQUIRE_FALSE(nan.has_value());
  CHECK(nan.err().message() == "weight[1, 1]: found NaN, expected finite weights");
  std::vector<float> one(32);
  auto rank1 = famx::quant::quantize(famx::tensor_view::contiguous(one.data(), famx::dtype::f32, {32}), {4, 32},
                                     famx::dtype::bf16);
  CHECK(rank1.err().message() == "weight: found [32], expected rank >= 2 ([..., out, in])");
}

TEST_CASE("stacked experts [E, out, in] quantize per expert and view per expert") {
  std::vector<float> w(3 * 4 * 64);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.3f * static_cast<float>(i));
  const auto q = famx::quant::quantize(famx::tensor_view::contiguous(w.data(), famx::dtype::f32, {3, 4, 64}),
                                       {4, 64}, famx::dtype::bf16).value();
  CHECK(q.packed.dims() == famx::shape{3, 4, 8});
  CHECK(q.scales.dims() == famx::shape{3, 4, 1});
  const auto e1 = famx::quant::quantize(view_of(std::vector<float>(w.begin() + 256, w.begin() + 512), 4, 64),
                                        {4, 64}, famx::dtype::bf16).value();
  const auto v = q.view(1), want = e1.view();
  for (std::size_t r = 0; r < 4; ++r) {
    CHECK(v.scale(r, 0) == want.scale(r, 0));
    for (std::size_t k = 0; k < 8; ++k) CHECK(v.row(r)[k] == want.row(r)[k]);
  }
}
