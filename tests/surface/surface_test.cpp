// Surface vocabulary: compile-time names and paths, shape expressions, conditional modules, and
// the conformance checks of engine layer types.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "famx/families/conforms.hpp"
#include "famx/families/registry.hpp"
#include "famx/surface/conformance.hpp"
#include "../families/engine_layers.hpp"

namespace {
struct toy_config {
  FAMX_CONFIG_FIELDS(toy_config,
                     (optional, std::int64_t, hidden_size, 64),
                     (optional, std::int64_t, num_attention_heads, 4),
                     (optional, std::int64_t, num_key_value_heads, 2),
                     (optional, std::int64_t, head_dim, 16),
                     (optional, bool, use_qk_norm, false),
                     (optional, std::optional<std::int64_t>, q_lora_rank, std::nullopt))
};
// A variant: toy_config's fields plus one, with a changed default.
struct toy_variant : toy_config {
  FAMX_CONFIG_FIELDS_EXTEND(toy_variant, toy_config,
                            (required, std::int64_t, vocab_size),
                            (default, head_dim, 32))
};
}  // namespace

namespace fs = famx::surface;
using famx::families::family_traits;

TEST_CASE("fixed_string concatenates and paths print dotted") {
  constexpr auto s = fs::fixed_string("self_attn") + fs::fixed_string(".k_proj");
  static_assert(s.view() == "self_attn.k_proj");
  static_assert(fs::path<"mlp", "switch_mlp", "gate_proj">::text.view() == "mlp.switch_mlp.gate_proj");
  static_assert(fs::one_of<fs::path<"self_attn", "q_proj">, fs::path<"self_attn", "q_b_proj">>::text.view() ==
                "self_attn.q_proj or self_attn.q_b_proj");
}

TEST_CASE("config fields are written once; a variant inherits them and changes a default") {
  static_assert(fs::has_field<toy_variant, "hidden_size"> && fs::has_field<toy_variant, "vocab_size">);
  static_assert(!fs::has_field<toy_config, "vocab_size">);
  static_assert(fs::field_descriptor<toy_variant, "vocab_size">::required);
  static_assert(!fs::field_descriptor<toy_variant, "head_dim">::required);
  CHECK(toy_config{}.head_dim == 16);
  CHECK(toy_variant{}.head_dim == 32);
  CHECK(fs::field<"head_dim">::eval(toy_variant{}) == 32);
  std::vector<std::string> keys;
  fs::for_each_field<toy_variant>([&](auto f) { keys.emplace_back(decltype(f)::key.view()); });
  CHECK(keys == std::vector<std::string>{"hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
                                         "use_qk_norm", "q_lora_rank", "vocab_size"});
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

TEST_CASE("MLA surface: q_proj or the q_lora path; kv_b_proj held split per head (embed_q, unembed_out)") {
  using mla = family_traits<famx::families::deepseek_v3>::attention_kind;
  static_assert(mla::has<"q_proj">() && mla::has<"q_b_proj">() && mla::has<"q_a_layernorm">());
  static_assert(mla::has<"kv_a_proj_with_mqa">() && !mla::has<"kv_b_proj">() && mla::has<"embed_q">() &&
                mla::has<"unembed_out">());
  static_assert(family_traits<famx::families::deepseek_v32>::attention_kind::has<"indexer", "wq_b">());
  static_assert(family_traits<famx::families::deepseek_v32>::attention_kind::has<"indexer", "k_norm">());

  famx::families::deepseek_v3_config c;  // mlx-lm defaults, q_lora_rank 1536
  c.n_routed_experts = 64;
  std::vector<fs::tensor_entry> t;
  auto sink = [&](const fs::tensor_entry& e) { t.push_back(e); };
  mla::tensors(c, fs::emit_at{"a", 0}, sink);
  CHECK(t[0].name == "a.self_attn.q_a_proj.weight");
  CHECK(t[5].name == "a.self_attn.embed_q.weight");
  CHECK(t[5].dims == famx::shape{32, 512, 128});  // [H, kv_lora_rank, qk_nope_head_dim]
  CHECK(t[6].dims == famx::shape{32, 128, 512});  // [H, v_head_dim, kv_lora_rank]
  // Together they hold HF's kv_b_proj [H * (qk_nope_head_dim + v_head_dim), kv_lora_rank].
  CHECK(t[5].numel() + t[6].numel() == 32 * (128 + 128) * 512);
  c.q_lora_rank.reset();
  t.clear();
  mla::tensors(c, fs::emit_at{"a", 0}, sink);
  CHECK(t[0].name == "a.self_attn.q_proj.weight");
  CHECK(t[0].dims == famx::shape{32 * 192, 4096});
}

TEST_CASE("engine layer types are checked against every layer kind of the family surface") {
  using namespace famx_test;
  static_assert(famx::conforms_to<famx::families::llama, llama_layer>);
  static_assert(famx::conforms_to<famx::families::ministral3, llama_layer>);
  static_assert(famx::conforms_to<famx::families::qwen3, qwen_layer>);
  static_assert(!famx::conforms_to<famx::families::qwen3, llama_layer>);  // no q_norm / k_norm
  static_assert(famx::conforms_to<famx::families::qwen3_moe, qwen_moe_layer, qwen_layer>);
  static_assert(!famx::conforms_to<famx::families::qwen3_moe, qwen_moe_layer>);  // its dense layers (mlp_only_layers)
  static_assert(!famx::conforms_to<famx::families::qwen3_moe, llama_layer>);     // no switch_mlp
  static_assert(famx::conforms_to<famx::families::deepseek_v3, deepseek_moe_layer, deepseek_dense_layer>);
  static_assert(famx::conforms_to<famx::families::kimi_k2, deepseek_moe_layer, deepseek_dense_layer>);
  static_assert(famx::conforms_to<famx::families::deepseek_v32, deepseek_v32_layer>);  // one type holding both MLPs
  static_assert(!famx::conforms_to<famx::families::deepseek_v32, deepseek_moe_layer, deepseek_dense_layer>);  // no indexer
  static_assert(!famx::conforms_to<famx::families::deepseek_v3, qwen_moe_layer, qwen_layer>);
  static_assert(famx::conforms_to<famx::families::qwen3_next, next_linear_layer, next_full_layer>);
  static_assert(!famx::conforms_to<famx::families::qwen3_next, next_full_layer>);  // no linear-attention layer type
  static_assert(famx::check_conforms<famx::families::qwen3_moe, qwen_moe_layer, qwen_layer>());
  // The first missing path of a dense layer against Qwen3-MoE's MoE layer is the router.
  using required = fs::required_members<family_traits<famx::families::qwen3_moe>::moe_layer>;
  constexpr std::size_t i = fs::detail::first_missing<qwen_layer, required>::value;
  static_assert(fs::detail::nth<i, required>::type::text.view() == "mlp.gate");
  // An engine with other names states its mapping once (a fused qkv_proj, num_heads for n_heads).
  static_assert(famx::conforms_to<famx::families::llama, renamed_llama_layer>);
}

TEST_CASE("layer surfaces list what the tensor-parallel strategy touches") {
  using layer = family_traits<famx::families::qwen3_next>::linear_moe;
  static_assert(fs::path<"linear_attn", "in_proj_qkvz">::in<layer>);
  static_assert(fs::path<"mlp", "shared_expert_gate">::in<layer>);
  static_assert(!fs::path<"self_attn", "q_proj">::in<layer>);
  CHECK(layer::kind() == "linear_attention/moe");
  CHECK(family_traits<famx::families::deepseek_v3>::moe_layer::kind() == "mla/moe");
  // Every module of the layer (norms, projections, conv, raw arrays, router, experts, shared expert)
  // plus the two head-count attributes the strategy rewrites.
  static_assert(fs::required_members<layer>::size == 23);
}
