// Each MoE family's router, configured from the real config.json files: the routing parameters,
// and famx::moe::route<Family> against the fp64 reference.
#include <famx/model/family_moe.hpp>  // includes <famx/kernels.hpp> first

#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <famx/moe/reference.hpp>

#include "famx/families/llama.hpp"
#include "famx/io/config.hpp"

namespace {

// The typed config of Family from a shared config file, or nullopt when the folder is absent.
template <class Family>
std::optional<typename famx::families::family_traits<Family>::config> typed_config(const std::string& name) {
  const auto path = std::filesystem::path(FAMX_SHARED_DIR) / "configs" / (name + ".json");
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: " << path.string() << " is absent (the shared configs folder is not here)");
    return std::nullopt;
  }
  simdjson::padded_string json;
  REQUIRE(simdjson::padded_string::load(path.string()).get(json) == simdjson::SUCCESS);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  REQUIRE(parser.iterate(json).get(doc) == simdjson::SUCCESS);
  REQUIRE(doc.get_object().get(root) == simdjson::SUCCESS);
  auto c = famx::io::parse_config<Family>(root, path.string());
  REQUIRE_MESSAGE(c.has_value(), (c.has_value() ? "" : c.err().message()));
  return *c;
}

template <class Family>
void check_route(const typename famx::families::family_traits<Family>::config& c) {
  const auto rc = famx::families::family_traits<Family>::routing(c);
  const std::size_t tokens = 33;
  std::mt19937 rng(60);
  std::normal_distribution<float> nd;
  std::vector<float> logits(tokens * rc.num_experts), bias;
  for (auto& v : logits) v = nd(rng);
  if (rc.scoring == famx::moe::scoring::sigmoid) {
    bias.resize(rc.num_experts);
    for (auto& b : bias) b = 0.01f * nd(rng);
  }
  const auto got = famx::moe::route<Family>(c, logits, bias, tokens);
  const auto ref = famx::moe::reference_route(rc, logits, bias, tokens);
  std::size_t same = 0;
  for (std::size_t t = 0; t < tokens; ++t)
    same += std::equal(got.experts_of(t).begin(), got.experts_of(t).end(), ref.experts_of(t).begin());
  CHECK(same >= tokens - 1);  // sigmoid routers may differ on an fp32 near-tie
}

}  // namespace

static_assert(famx::families::has_router<famx::families::qwen3_moe>);
static_assert(famx::families::has_router<famx::families::deepseek_v32>);
static_assert(!famx::families::has_router<famx::families::llama>);

TEST_CASE("MoE routers from the real configs: 128 top-8, 512 top-10, 256 top-8 in 8 groups") {
  if (auto c = typed_config<famx::families::qwen3_moe>("Qwen--Qwen3-30B-A3B")) {
    const auto r = famx::families::family_traits<famx::families::qwen3_moe>::routing(*c);
    CHECK(r.scoring == famx::moe::scoring::softmax);
    CHECK(r.num_experts == 128);
    CHECK(r.num_experts_per_tok == 8);
    CHECK(r.norm_topk_prob);
    CHECK(famx::moe::validate(r).has_value());
    check_route<famx::families::qwen3_moe>(*c);
  }
  if (auto c = typed_config<famx::families::qwen3_moe>("Qwen--Qwen3-235B-A22B")) {
    const auto r = famx::families::family_traits<famx::families::qwen3_moe>::routing(*c);
    CHECK(r.num_experts == 128);
    CHECK(r.num_experts_per_tok == 8);
    check_route<famx::families::qwen3_moe>(*c);
  }
  if (auto c = typed_config<famx::families::qwen3_next>("Qwen--Qwen3-Next-80B-A3B-Instruct")) {
    const auto r = famx::families::family_traits<famx::families::qwen3_next>::routing(*c);
    CHECK(r.num_experts == 512);
    CHECK(r.num_experts_per_tok == 10);
    CHECK(r.norm_topk_prob);
    check_route<famx::families::qwen3_next>(*c);
  }
  if (auto c = typed_config<famx::families::deepseek_v3>("deepseek-ai--DeepSeek-V3")) {
    const auto r = famx::families::family_traits<famx::families::deepseek_v3>::routing(*c);
    CHECK(r.scoring == famx::moe::scoring::sigmoid);
    CHECK(r.num_experts == 256);
    CHECK(r.num_experts_per_tok == 8);
    CHECK(r.n_group == 8);
    CHECK(r.topk_group == 4);
    CHECK(r.routed_scaling_factor == 2.5f);
    CHECK(r.norm_topk_prob);
    CHECK(famx::moe::validate(r).has_value());
    check_route<famx::families::deepseek_v3>(*c);
  }
}

TEST_CASE("a DeepSeek config without routed experts has no usable router, and route says why") {
  famx::families::deepseek_v3_config c;  // mlx-lm defaults: n_routed_experts None
  std::vector<float> logits;
  CHECK_THROWS_WITH_AS(famx::moe::route<famx::families::deepseek_v3>(c, logits, {}, 0),
                       "route.num_experts: found 0, expected at least 1 expert", famx::error);
}
