// The SIMD routers against the fp64 reference, on random data, real routing configurations,
// crafted ties and non-finite logits; every target and thread count must agree bitwise.
#include <famx/kernels.hpp>

#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <famx/famx.hpp>

namespace {

using famx::moe::routing_config;

// Qwen3-30B-A3B, Qwen3-Next-80B-A3B, DeepSeek-V3 and GLM-4.5 style routers.
routing_config qwen3_moe() { return {famx::moe::scoring::softmax, 128, 8, true}; }
routing_config qwen3_next() { return {famx::moe::scoring::softmax, 512, 10, true}; }
routing_config deepseek_v3() { return {famx::moe::scoring::sigmoid, 256, 8, true, 8, 4, 2.5f}; }
routing_config glm4_moe() { return {famx::moe::scoring::sigmoid, 160, 8, true, 1, 1, 2.5f}; }

// Every target gives the same routing, bit for bit; returns it.
famx::moe::routing route_everywhere(const routing_config& c, const std::vector<float>& logits,
                                    const std::vector<float>& bias, std::size_t tokens) {
  std::vector<famx::moe::routing> got;
  famx::thread_pool pool(2);
  for (std::int64_t t : famx::kernel_targets()) {
    famx::force_target guard(t);
    const std::string name = hwy::TargetName(t);
    CAPTURE(name);
    got.push_back(famx::moe::route(c, logits, bias, tokens));
    const auto threaded = famx::moe::route(c, logits, bias, tokens, pool.hook());
    REQUIRE(threaded.experts == got.back().experts);
    REQUIRE(threaded.weights == got.back().weights);
  }
  for (const auto& r : got) {
    REQUIRE(r.experts == got[0].experts);
    REQUIRE(r.weights == got[0].weights);
  }
  return got[0];
}

// The selection is the reference's wherever the reference's scores are not within `gap` of a tie,
// and weights agree to 1e-5 relative.
void check_against_reference(const routing_config& c, const std::vector<float>& logits,
                             const std::vector<float>& bias, std::size_t tokens) {
  const auto got = route_everywhere(c, logits, bias, tokens);
  const auto ref = famx::moe::reference_route(c, logits, bias, tokens);
  std::size_t differing = 0;
  for (std::size_t t = 0; t < tokens; ++t) {
    const auto ge = got.experts_of(t), re = ref.experts_of(t);
    if (!std::equal(ge.begin(), ge.end(), re.begin())) {
      ++differing;  // only allowed for near-ties in fp32 scores (sigmoid routers)
      REQUIRE(c.scoring == famx::moe::scoring::sigmoid);
      continue;
    }
    for (std::size_t i = 0; i < c.num_experts_per_tok; ++i)
      REQUIRE(got.weights_of(t)[i] == doctest::Approx(ref.weights_of(t)[i]).epsilon(1e-5));
  }
  CHECK(differing <= tokens / 100);
}

std::vector<float> random_logits(std::size_t n, std::uint32_t seed, float scale = 2.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

}  // namespace

TEST_CASE("softmax routers: 128 experts top-8 and 512 experts top-10") {
  for (auto c : {qwen3_moe(), qwen3_next()}) {
    for (bool norm : {true, false}) {
      c.norm_topk_prob = norm;
      const std::size_t tokens = 67;
      check_against_reference(c, random_logits(tokens * c.num_experts, 20), {}, tokens);
    }
  }
}

TEST_CASE("sigmoid routers: 256 experts in 8 groups top-4 groups, and ungrouped 160 experts") {
  for (auto c : {deepseek_v3(), glm4_moe()}) {
    for (auto mask : {famx::moe::group_mask::neg_inf, famx::moe::group_mask::zero}) {
      c.group_mask = mask;
      const std::size_t tokens = 67;
      auto bias = random_logits(c.num_experts, 21, 0.05f);
      check_against_reference(c, random_logits(tokens * c.num_experts, 22), bias, tokens);
    }
  }
}

TEST_CASE("group masking: zero lets a dropped expert beat a kept one with a negative biased score") {
  // 4 groups of 2 experts, keep 1 group, pick 2 experts. Group 0 wins on its top-2 sum, but its
  // second expert has a biased score below 0; with zero masking a dropped expert (0.0) beats it.
  routing_config c{famx::moe::scoring::sigmoid, 8, 2, false, 4, 1, 1.0f};
  const std::vector<float> logits = {10.0f, 10.0f, -10.0f, -10.0f, -10.0f, -10.0f, -10.0f, -10.0f};
  const std::vector<float> bias = {5.0f, -1.5f, 0, 0, 0, 0, 0, 0};  // scores ~6 and ~-0.5 in group 0
  const auto strict = famx::moe::route(c, logits, bias, 1);
  CHECK(strict.experts == std::vector<std::int32_t>{0, 1});
  c.group_mask = famx::moe::group_mask::zero;
  const auto mlx = famx::moe::route(c, logits, bias, 1);
  CHECK(mlx.experts == std::vector<std::int32_t>{0, 2});  // expert 2: masked score 0.0 > -0.5
  CHECK(mlx.experts == famx::moe::reference_route(c, logits, bias, 1).experts);
}

TEST_CASE("ties: equal scores select the lower expert index, in every target") {
  for (auto c : {qwen3_moe(), deepseek_v3()}) {
    std::vector<float> logits(3 * c.num_experts, 0.25f);  // token 0: all equal
    for (std::size_t e = 0; e < c.num_experts; ++e)     // token 1: pairs of equal values (small, so
      logits[c.num_experts + e] = 0.01f * static_cast<float>(e / 2);  // fp32 sigmoid stays distinct)
    for (std::size_t e = 0; e < c.num_experts; ++e)     // token 2: equal maxima spread out
      logits[2 * c.num_experts + e] = e % 17 == 3 ? 1.0f : 0.0f;
    const auto r = route_everywhere(c, logits, {}, 3);
    const auto k = static_cast<std::int32_t>(c.num_experts_per_tok);
    for (std::int32_t i = 0; i < k; ++i) CHECK(r.experts_of(0)[static_cast<std::size_t>(i)] == i);
    if (c.scoring == famx::moe::scoring::softmax) {
      // highest pair first, lower index of the pair first
      const auto E = static_cast<std::int32_t>(c.num_experts);
      CHECK(r.experts_of(1)[0] == E - 2);
      CHECK(r.experts_of(1)[1] == E - 1);
      CHECK(r.experts_of(1)[2] == E - 4);
    }
    CHECK(r.experts_of(2)[0] == 3);
    CHECK(r.experts_of(2)[1] == 20);
    CHECK(r.experts == famx::moe::reference_route(c, logits, {}, 3).experts);
  }
}

TEST_CASE("non-finite logits give a defined, flagged result") {
  for (auto c : {qwen3_moe(), deepseek_v3()}) {
    const std::size_t E = c.num_experts;
    std::vector<float> logits(4 * E, 0.0f);
    for (std::size_t e = 0; e < E; ++e) logits[e] = NAN;                     // token 0: all NaN
    logits[E + 5] = INFINITY;                                                // token 1: one +inf
    logits[2 * E + 7] = -INFINITY;                                           // token 2: one -inf
    for (std::size_t e = 0; e < E; ++e) logits[3 * E + e] = 0.01f * static_cast<float>(e);  // finite
    const auto r = route_everywhere(c, logits, {}, 4);
    CHECK(r.non_finite == std::vector<std::uint8_t>{1, 1, 1, 0});
    CHECK(r.non_finite_tokens == 3);
    for (std::int32_t i = 0; i < 8; ++i) CHECK(r.experts_of(0)[static_cast<std::size_t>(i)] == i);  // all equal
    CHECK(r.experts_of(1)[0] == 5);
    for (float w : r.weights) CHECK(std::isfinite(w));
    CHECK(r.experts == famx::moe::reference_route(c, logits, {}, 4).experts);
  }
}

TEST_CASE("route rejects bad configs and sizes, naming the key") {
  auto c = deepseek_v3();
  std::vector<float> logits(256);
  c.n_group = 7;
  CHECK_THROWS_WITH_AS(famx::moe::route(c, logits, {}, 1),
                       "route.n_group: found 7, expected a divisor of the 256 experts", famx::error);
  c = qwen3_moe();
  c.num_experts_per_tok = 129;
  CHECK_THROWS_WITH_AS(famx::moe::route(c, logits, {}, 2),
                       "route.num_experts_per_tok: found 129, expected between 1 and num_experts = 128", famx::error);
  c = qwen3_moe();
  CHECK_THROWS_WITH_AS(famx::moe::route(c, logits, {}, 3),
                       "route.logits: found 256 elements, expected 384 (tokens * num_experts)", famx::error);
  std::vector<float> bias(128);
  CHECK_THROWS_WITH_AS(famx::moe::route(c, std::span<const float>(logits).first(128), bias, 1),
                       "route.e_score_correction_bias: found 128 elements, expected none for a softmax router",
                       famx::error);
}
