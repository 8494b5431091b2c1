// Surface vocabulary: compile-time names and paths, shape expressions, conditional modules, and
// the conformance checks of engine layer types.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include <boost/hana/adapt_struct.hpp>

#include "famx/families/conforms.hpp"
#include "famx/families/registry.hpp"
#include "famx/surface/conformance.hpp"
#include "../families/engine_layers.hpp"

namespace {
struct toy_config {
  std::int64_t hidden_size = 64;
  std::int64_t num_attention_heads = 4;
  std::int64_t num_key_value_heads = 2;
  std::int64_t head_dim = 16;
  bool use_qk_norm = false;
  std::optional<std::int64_t> q_lora_rank;
};
}  // namespace
BOOST_HANA_ADAPT_STRUCT(toy_config, hidden_size, num_attention_heads, num_key_value_heads, head_dim,
                        use_qk_norm, q_lora_rank);

namespace fs = famx::surface;
using famx::families::family_traits;

TEST_CASE("fixed_string concatenates and paths print dotted") {
  constexpr auto s = fs::fixed_string("self_attn") + fs::fixed_string(".k_proj");
  static_assert(s.view() == "self_attn.k_proj");
  static_assert(fs::path<"mlp", "switch_mlp", "gate_proj">::text.view() == "mlp.switch_mlp.gate_proj");
  static_assert(fs::one_of<fs::path<"self_attn", "q_proj">, fs::path<"self_attn", "q_b_proj">>::text.view() ==
                "self_attn.q_proj or self_attn.q_b_proj");
  CHECK(boost::hana::to<const char*>(fs::hstr<"q_proj">) == std::string("q_proj"));
}

TEST_CASE("shape expressions evaluate on a config and print in HF keys") {
  using q_out = fs::mul<fs::dims::heads, fs::dims::head_dim>;
  toy_config c;
  CHECK(q_out::eval(c) == 64);
  CHECK(q_out::text() == "num_attention_heads*head_dim");
  using conv = fs::add<fs::mul<fs::lit<2>, fs::field<"hidden_size">>, fs::field<"head_dim">>;
  CHECK(conv::eval(c) == 144);
  CHECK(conv::text() == "2*hidden_size+head_dim");
  CHECK(fs::mul<fs::lit<2>, fs::add<fs::field<"hidden_size">, fs::field<"head_dim">>>::text() == "2*(hidden_size+head_dim)");
  static_assert(fs::has_field<toy_config, "head_dim">);
  static_assert(!fs::has_field<toy_config, "kv_lora_rank">);
}

TEST_CASE("conditional modules exist in the surface and appear only when the config says") {
  using attn = fs::gqa_attention<fs::never, fs::never, fs::flag<"use_qk_norm">>;
  static_assert(attn::has<"q_norm">() && attn::has<"k_proj">() && !attn::has<"kv_b_proj">());
  toy_config c;
  std::vector<std::string> names;
  auto sink = [&](const fs::tensor_entry& t) { names.push_back(t.name); };
  attn::tensors(c, fs::emit_at{"model.layers.0", 0}, sink);
  CHECK(names == std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                                          "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight"});
  c.use_qk_norm = true;
  names.clear();
  attn::tensors(c, fs::emit_at{"m", 0}, sink);
  CHECK(names.size() == 6);
  CHECK(names.back() == "m.self_attn.k_norm.weight");
}

TEST_CASE("MLA surfaces: q_proj or the q_lora path; kv_b_proj or the absorbed per-head form") {
  using mla = family_traits<famx::families::deepseek_v3>::attention;
  static_assert(mla::has<"q_proj">() && mla::has<"q_b_proj">() && mla::has<"q_a_layernorm">());
  static_assert(mla::has<"kv_a_proj_with_mqa">() && mla::has<"kv_b_proj">() && !mla::has<"embed_q">());
  static_assert(fs::mla_absorbed<>::has<"embed_q">() && fs::mla_absorbed<>::has<"unembed_out">());
  static_assert(family_traits<famx::families::deepseek_v32>::attention::has<"indexer", "wq_b">());
  static_assert(family_traits<famx::families::deepseek_v32>::attention::has<"indexer", "k_norm">());

  famx::families::deepseek_v3_config c;  // mlx-lm defaults, q_lora_rank 1536
  c.n_routed_experts = 64;
  std::vector<fs::tensor_entry> hf, mlx;
  auto to_hf = [&](const fs::tensor_entry& t) { hf.push_back(t); };
  auto to_mlx = [&](const fs::tensor_entry& t) { mlx.push_back(t); };
  mla::tensors(c, fs::emit_at{"a", 0}, to_hf);
  fs::mla_absorbed<>::tensors(c, fs::emit_at{"a", 0}, to_mlx);
  auto count = [](const std::vector<fs::tensor_entry>& v) {
    std::int64_t n = 0;
    for (const auto& t : v) n += t.numel();
    return n;
  };
  CHECK(count(hf) == count(mlx));
  CHECK(hf[0].name == "a.self_attn.q_a_proj.weight");
  CHECK(mlx[5].name == "a.self_attn.embed_q.weight");
  CHECK(mlx[5].dims == famx::shape{32, 512, 128});  // [H, kv_lora_rank, qk_nope_head_dim]
  CHECK(mlx[6].dims == famx::shape{32, 128, 512});  // [H, v_head_dim, kv_lora_rank]
  c.q_lora_rank.reset();
  hf.clear();
  mla::tensors(c, fs::emit_at{"a", 0}, to_hf);
  CHECK(hf[0].name == "a.self_attn.q_proj.weight");
  CHECK(hf[0].dims == famx::shape{32 * 192, 4096});
}

TEST_CASE("engine layer types are checked against the family surface") {
  using namespace famx_test;
  static_assert(famx::conforms_to<llama_layer, famx::families::llama>);
  static_assert(famx::conforms_to<llama_layer, famx::families::ministral3>);
  static_assert(famx::conforms_to<qwen_moe_layer, famx::families::qwen3_moe>);
  static_assert(!famx::conforms_to<llama_layer, famx::families::qwen3_moe>);  // no switch_mlp
  static_assert(famx::conforms_to<deepseek_layer, famx::families::deepseek_v3>);
  static_assert(famx::conforms_to<deepseek_layer, famx::families::kimi_k2>);
  static_assert(!famx::conforms_to<qwen_moe_layer, famx::families::deepseek_v3>);
  static_assert(famx::check_conforms<qwen_moe_layer, famx::families::qwen3_moe>());
  // The first missing path of a dense layer against Qwen3-MoE is the first expert projection.
  using required = fs::required_members<family_traits<famx::families::qwen3_moe>::primary_layer>;
  constexpr std::size_t i = fs::detail::first_missing<llama_layer, required>::value;
  static_assert(fs::detail::nth<i, required>::type::text.view() == "mlp.switch_mlp.gate_proj");
  CHECK(i == 4);
}

TEST_CASE("layer surfaces list what the tensor-parallel strategy touches") {
  using layer = family_traits<famx::families::qwen3_next>::linear_moe;
  static_assert(fs::path<"linear_attn", "in_proj_qkvz">::in<layer>);
  static_assert(fs::path<"mlp", "shared_expert_gate">::in<layer>);
  static_assert(!fs::path<"self_attn", "q_proj">::in<layer>);
  CHECK(layer::kind() == "linear_attention/moe");
  CHECK(family_traits<famx::families::deepseek_v3>::moe_layer::kind() == "mla/moe");
  static_assert(fs::required_members<layer>::size == 14);
}
