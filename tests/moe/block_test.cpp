// Expert dispatch, static capacity, fused SwiGLU experts and whole MoE blocks, against an fp64
// reference built from the dequantized weights.
#include <famx/moe/block.hpp>  // includes <famx/kernels.hpp> first

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <famx/famx.hpp>
#include <famx/moe/dispatch.hpp>

namespace {

using famx::moe::routing_config;

famx::quant::quantized random_quantized(famx::shape s, std::mt19937& rng, float scale, int bits = 4, int gs = 32) {
  std::normal_distribution<float> nd(0.0f, scale);
  famx::tensor w(famx::dtype::f32, s);
  for (auto& v : w.as<float>()) v = nd(rng);
  return famx::quant::quantize(w.view(), {bits, gs}, famx::dtype::bf16).value();
}

// A small MoE block with every optional part, and the dequantized copies the reference uses.
struct test_block {
  std::size_t D, I, E;
  famx::quant::quantized gate_q, gate_proj, up_proj, down_proj, sg, su, sd, shared_gate;
  famx::tensor gate_dense;
  std::vector<float> bias;
  famx::moe::moe_block_weights w;

  test_block(std::size_t d, std::size_t i, std::size_t e, bool dense_router, bool shared, bool gated, std::uint32_t seed)
      : D(d), I(i), E(e) {
    std::mt19937 rng(seed);
    const auto sd_ = static_cast<std::int64_t>(D), si = static_cast<std::int64_t>(I), se = static_cast<std::int64_t>(E);
    gate_proj = random_quantized({se, si, sd_}, rng, 0.1f);
    up_proj = random_quantized({se, si, sd_}, rng, 0.1f);
    down_proj = random_quantized({se, sd_, si}, rng, 0.1f);
    w.gate_proj = famx::moe::stacked_qmatrix::of(gate_proj);
    w.up_proj = famx::moe::stacked_qmatrix::of(up_proj);
    w.down_proj = famx::moe::stacked_qmatrix::of(down_proj);
    if (dense_router) {
      gate_dense = famx::tensor(famx::dtype::bf16, {se, sd_});
      std::normal_distribution<float> nd(0.0f, 0.2f);
      for (std::size_t j = 0; j < E * D; ++j) famx::store_float(gate_dense.data(), famx::dtype::bf16, j, nd(rng));
      w.gate.dense = gate_dense.view();
      bias.resize(E);
      for (auto& b : bias) b = 0.01f * nd(rng);
      w.e_score_correction_bias = bias;
    } else {
      gate_q = random_quantized({se, sd_}, rng, 0.2f, 8, 64);
      w.gate.quantized = gate_q.view();
    }
    if (shared) {
      sg = random_quantized({si, sd_}, rng, 0.1f);
      su = random_quantized({si, sd_}, rng, 0.1f);
      sd = random_quantized({sd_, si}, rng, 0.1f);
      w.shared = famx::moe::glu_view{sg.view(), su.view(), sd.view()};
    }
    if (gated) {
      shared_gate = random_quantized({1, sd_}, rng, 0.2f, 8, 64);
      w.shared_expert_gate = famx::moe::linear_view{shared_gate.view(), {}};
    }
  }
};

std::vector<double> dequant(const famx::quant::qmatrix_view& v) {
  const auto t = famx::quant::dequantize(v, famx::dtype::f32);
  return {t.as<float>().begin(), t.as<float>().end()};
}

// fp64: down(silu(gate x) * up x) from dequantized weights.
std::vector<double> reference_glu(const famx::quant::qmatrix_view& g, const famx::quant::qmatrix_view& u,
                                  const famx::quant::qmatrix_view& d, const float* x) {
  const auto G = dequant(g), U = dequant(u), Dn = dequant(d);
  std::vector<double> h(g.rows), y(d.rows);
  for (std::size_t i = 0; i < g.rows; ++i) {
    double a = 0, b = 0;
    for (std::size_t j = 0; j < g.cols; ++j) a += G[i * g.cols + j] * x[j], b += U[i * g.cols + j] * x[j];
    h[i] = a / (1 + std::exp(-a)) * b;
  }
  for (std::size_t i = 0; i < d.rows; ++i) {
    double a = 0;
    for (std::size_t j = 0; j < d.cols; ++j) a += Dn[i * d.cols + j] * h[j];
    y[i] = a;
  }
  return y;
}

// The block in fp64 for the routing the kernels chose (dropped pairs excluded).
std::vector<double> reference_block(const test_block& b, const std::vector<float>& x, std::size_t tokens,
                                    const famx::moe::routing& r, const std::vector<std::uint8_t>& dropped) {
  std::vector<double> out(tokens * b.D, 0.0);
  for (std::size_t t = 0; t < tokens; ++t) {
    const float* xt = x.data() + t * b.D;
    for (std::size_t i = 0; i < r.k; ++i) {
      if (!dropped.empty() && dropped[t * r.k + i]) continue;
      const auto e = static_cast<std::size_t>(r.experts_of(t)[i]);
      const auto y = reference_glu(b.w.gate_proj[e], b.w.up_proj[e], b.w.down_proj[e], xt);
      for (std::size_t j = 0; j < b.D; ++j) out[t * b.D + j] += r.weights_of(t)[i] * y[j];
    }
    if (b.w.shared) {
      const auto y = reference_glu(b.w.shared->gate_proj, b.w.shared->up_proj, b.w.shared->down_proj, xt);
      double scale = 1.0;
      if (b.w.shared_expert_gate) {
        const auto G = dequant(*b.w.shared_expert_gate->quantized);
        double a = 0;
        for (std::size_t j = 0; j < b.D; ++j) a += G[j] * xt[j];
        scale = 1.0 / (1.0 + std::exp(-a));
      }
      for (std::size_t j = 0; j < b.D; ++j) out[t * b.D + j] += scale * y[j];
    }
  }
  return out;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want) {
  double mag = 1e-6;
  for (double v : want) mag = std::max(mag, std::fabs(v));
  for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(std::fabs(got[i] - want[i]) <= 1e-4 * mag);
}

std::vector<float> random_x(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  return x;
}

}  // namespace

TEST_CASE("dispatch groups pairs by expert, stably, with an exact inverse") {
  famx::moe::routing r(5, 2);
  r.experts = {3, 1, 1, 0, 3, 2, 1, 3, 0, 1};
  const auto d = famx::moe::dispatch(r, 4);
  CHECK(d.offsets == std::vector<std::size_t>{0, 2, 6, 7, 10});
  CHECK(d.order == std::vector<std::int32_t>{3, 8, 1, 2, 6, 9, 5, 0, 4, 7});
  for (std::size_t p = 0; p < 10; ++p) CHECK(d.order[static_cast<std::size_t>(d.inverse[p])] == static_cast<std::int32_t>(p));
  CHECK(d.count(1) == 4);
}

TEST_CASE("capacity fills first choices before second choices and counts what it drops") {
  famx::moe::routing r(4, 2);
  r.experts = {0, 1, 0, 1, 0, 2, 1, 0};  // expert 0: pairs 0, 2, 4 (first choices) and 7 (second)
  const auto d = famx::moe::dispatch_with_capacity(r, 3, 2);
  CHECK(d.slots == std::vector<std::int32_t>{0, 2, 6, 1, 5, -1});
  CHECK(d.dropped == std::vector<std::uint8_t>{0, 0, 0, 1, 1, 0, 0, 1});
  CHECK(d.dropped_pairs == 3);
  CHECK(d.dropped_tokens == 3);
  CHECK(famx::moe::expert_capacity(1.25, 4, 2, 3) == 4);
  const auto roomy = famx::moe::dispatch_with_capacity(r, 3, 8);
  CHECK(roomy.dropped_pairs == 0);
}

TEST_CASE("fused swiglu (exact and int8) equals two qmv calls and silu_mul, on every target") {
  std::mt19937 rng(30);
  const auto g = random_quantized({96, 256}, rng, 0.1f), u = random_quantized({96, 256}, rng, 0.1f);
  const auto x = random_x(256, 31);
  std::vector<float> h(96), gv(96), uv(96), h2(96);
  for (std::int64_t t : famx::kernel_targets()) {
    famx::force_target guard(t);
    famx::moe::swiglu_int8(g.view(), u.view(), x, h);
    famx::quant::qmv_int8(g.view(), x, gv);
    famx::quant::qmv_int8(u.view(), x, uv);
    famx::moe::silu_mul(gv, uv, h2);
    REQUIRE(h == h2);
    famx::moe::swiglu(g.view(), u.view(), x, h);
    famx::quant::qmv(g.view(), x, gv);
    famx::quant::qmv(u.view(), x, uv);
    famx::moe::silu_mul(gv, uv, h2);
    REQUIRE(h == h2);
    for (std::size_t i = 0; i < 96; ++i) {
      const double a = gv[i];
      REQUIRE(h[i] == doctest::Approx(a / (1 + std::exp(-a)) * uv[i]).epsilon(1e-6));
    }
  }
}

TEST_CASE("MoE blocks match the fp64 reference; fused, sorted and capacity variants agree bitwise") {
  struct variant {
    const char* name;
    routing_config c;
    bool dense_router, shared, gated;
  };
  const variant variants[] = {
      {"qwen3_moe-like", {famx::moe::scoring::softmax, 8, 2, true}, false, false, false},
      {"qwen3_next-like", {famx::moe::scoring::softmax, 8, 3, false}, false, true, true},
      {"deepseek_v3-like", {famx::moe::scoring::sigmoid, 16, 4, true, 4, 2, 2.5f}, true, true, false},
  };
  for (const auto& v : variants) {
    CAPTURE(std::string(v.name));
    const test_block b(128, 64, v.c.num_experts, v.dense_router, v.shared, v.gated, 40);
    const std::size_t tokens = 9;
    const auto x = random_x(tokens * b.D, 41);
    famx::thread_pool pool(2);
    for (std::int64_t t : famx::kernel_targets()) {
      famx::force_target guard(t);
      const std::string target = hwy::TargetName(t);
      CAPTURE(target);
      std::vector<float> out(tokens * b.D), other(tokens * b.D);
      const auto stats = famx::moe::moe_block(v.c, b.w, x, tokens, out);
      check_close(out, reference_block(b, x, tokens, stats.routing, {}));
      famx::moe::moe_block(v.c, b.w, x, tokens, other, {.fused = false});
      REQUIRE(other == out);
      famx::moe::moe_block(v.c, b.w, x, tokens, other, {.sorted = false});
      REQUIRE(other == out);
      famx::moe::moe_block(v.c, b.w, x, tokens, other, {}, pool.hook());
      REQUIRE(other == out);
      const auto roomy = famx::moe::moe_block(v.c, b.w, x, tokens, other, {.capacity_factor = 8.0});
      CHECK(roomy.dropped_pairs == 0);
      REQUIRE(other == out);
      // int8 activations: close to the exact block (per-group activation rounding, ~1/254)
      const auto fast = famx::moe::moe_block(v.c, b.w, x, tokens, other, {.int8_activations = true});
      REQUIRE(fast.routing.experts == stats.routing.experts);
      double mag = 0, worst = 0;
      for (std::size_t i = 0; i < out.size(); ++i)
        mag = std::max(mag, std::fabs(static_cast<double>(out[i]))), worst = std::max(worst, std::fabs(static_cast<double>(other[i] - out[i])));
      CHECK(worst <= 0.03 * mag);
      CHECK(worst > 0.0);  // it really took the other path
      const auto tight = famx::moe::moe_block(v.c, b.w, x, tokens, other, {.capacity_factor = 0.5});
      CHECK(tight.dropped_pairs > 0);
      const auto cd = famx::moe::dispatch_with_capacity(tight.routing, v.c.num_experts, tight.capacity);
      CHECK(cd.dropped_pairs == tight.dropped_pairs);
      check_close(other, reference_block(b, x, tokens, tight.routing, cd.dropped));
    }
  }
}

TEST_CASE("batched experts give every token the bits of the one-token path, exact and int8, any threads") {
  // With panels and int8 activations a prompt's x is quantized once for every expert's gate_proj
  // and up_proj; `mixed` has 8-bit up_proj stacks, so up's inputs are quantized apart (unfused).
  const routing_config c{famx::moe::scoring::softmax, 8, 2, true};
  const test_block same(128, 64, c.num_experts, false, true, true, 42);
  test_block mixed(128, 64, c.num_experts, false, true, true, 42);
  std::mt19937 rng(44);
  mixed.up_proj = random_quantized({8, 64, 128}, rng, 0.1f, 8, 32);
  mixed.w.up_proj = famx::moe::stacked_qmatrix::of(mixed.up_proj);
  famx::thread_pool pool(3);
  for (const test_block* blk : {&same, static_cast<const test_block*>(&mixed)}) {
    const test_block& b = *blk;
    CAPTURE(b.w.up_proj.first.format.bits);
    const auto panels = famx::moe::expert_int8_panels::of(b.w, pool.hook());
    const famx::quant::int8_panels sg(b.w.shared->gate_proj), su(b.w.shared->up_proj), sd(b.w.shared->down_proj);
    famx::moe::moe_block_weights with_panels = b.w;
    with_panels.int8_panels = &panels;
    with_panels.shared->int8_panels = {&sg.view(), &su.view(), &sd.view()};
    for (std::int64_t t : famx::kernel_targets()) {
      famx::force_target guard(t);
      CAPTURE(std::string(hwy::TargetName(t)));
      for (std::size_t tokens : {1, 9, 40, 80}) {
        CAPTURE(tokens);
        const auto x = random_x(tokens * b.D, 43);
        for (bool int8 : {false, true}) {
          CAPTURE(int8);
          famx::moe::moe_options one_by_one;
          one_by_one.int8_activations = int8;
          one_by_one.batched = false;
          one_by_one.fused = blk == &same;  // fused swiglu takes one format for gate and up
          famx::moe::moe_options batched = one_by_one;
          batched.batched = true;
          std::vector<float> want(tokens * b.D), got(tokens * b.D);
          famx::moe::moe_block(c, b.w, x, tokens, want, one_by_one);
          famx::moe::moe_block(c, b.w, x, tokens, got, batched);
          REQUIRE(got == want);
          famx::moe::moe_block(c, b.w, x, tokens, got, batched, pool.hook());
          REQUIRE(got == want);
          // The routed and shared experts' load-time panels (read by int8 batches) change nothing.
          famx::moe::moe_block(c, with_panels, x, tokens, got, batched);
          REQUIRE(got == want);
          famx::moe::moe_block(c, with_panels, x, tokens, got, batched, pool.hook());
          REQUIRE(got == want);
          // Each token alone gives its row of the batch.
          for (std::size_t i = 0; i < tokens; i += 7) {
            std::vector<float> row(b.D);
            famx::moe::moe_block(c, b.w, std::span(x).subspan(i * b.D, b.D), 1, row, batched);
            REQUIRE(std::equal(row.begin(), row.end(), want.begin() + static_cast<std::ptrdiff_t>(i * b.D)));
          }
        }
      }
    }
  }
}

TEST_CASE("moe_block rejects weights and panels that do not fit the config") {
  const test_block b(128, 64, 8, false, false, false, 50);
  const auto x = random_x(128, 51);
  std::vector<float> out(128);
  routing_config c{famx::moe::scoring::softmax, 16, 2, true};
  CHECK_THROWS_WITH_AS(famx::moe::moe_block(c, b.w, x, 1, out), "mlp.gate: found 8 rows, expected 16 (num_experts)",
                       famx::error);
  c.num_experts = 8;
  CHECK_THROWS_WITH_AS(famx::moe::moe_block(c, b.w, x, 2, out),
                       "moe_block.x: found 128 / 128 elements, expected 256 (tokens * hidden_size) for x and out",
                       famx::error);
  // Panels of another block's experts.
  const test_block other(128, 32, 8, false, false, false, 52);
  const auto wrong = famx::moe::expert_int8_panels::of(other.w);
  auto w = b.w;
  w.int8_panels = &wrong;
  CHECK_THROWS_WITH_AS(famx::moe::moe_block(c, w, x, 1, out),
                       "moe_block_weights.int8_panels.gate_proj: found 32x128 4-bit group 32, expected 64x128 4-bit "
                       "group 32 (the stack's experts)",
                       famx::error);
  auto fewer = famx::moe::expert_int8_panels::of(b.w);
  fewer.down_proj.pop_back();
  w.int8_panels = &fewer;
  CHECK_THROWS_WITH_AS(famx::moe::moe_block(c, w, x, 1, out),
                       "moe_block_weights.int8_panels.down_proj: found 7 experts, expected 8 (the stack's experts)",
                       famx::error);
  // Shared-expert panels of another matrix (up_proj's panels given for down_proj).
  const test_block sh(128, 64, 8, false, true, false, 53);
  auto ws = sh.w;
  const famx::quant::int8_panels up(ws.shared->up_proj);
  ws.shared->int8_panels.down = &up.view();
  CHECK_THROWS_WITH_AS(famx::moe::moe_block(c, ws, x, 1, out),
                       "moe_block_weights.shared.int8_panels.down_proj: found 64x128 4-bit group 32, expected 128x64 4-bit "
                       "group 32 (the shared expert's matrix)",
                       famx::error);
}
