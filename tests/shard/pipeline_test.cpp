// Pipeline layer assignment (Exo's rule and byte weighting), stage ownership and memory checks,
// KV-cache bytes, and Exo's placement checks on the bundled cards. Expected numbers are worked out
// by hand from the spec (../shared/spec/exo-sharding.md sections 2.1, 3.3) and the real configs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "famx/io/storage.hpp"
#include "famx/shard/exo_rules.hpp"
#include "famx/shard/kv_cache.hpp"
#include "famx/shard/pipeline.hpp"
#include "../families/shared_configs.hpp"

namespace sh = famx::shard;
using v64 = std::vector<std::int64_t>;

namespace {
std::vector<double> fractions_of(const std::vector<double>& mem) {
  double t = 0;
  for (double m : mem) t += m;
  std::vector<double> f;
  for (double m : mem) f.push_back(m / t);
  return f;
}
v64 alloc(std::int64_t layers, const std::vector<double>& mem) {
  auto r = sh::allocate_layers_proportionally(layers, fractions_of(mem));
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? "" : r.err().message()));
  return *r;
}
std::vector<sh::device> devs(const char* text) {
  auto r = sh::parse_devices(text);
  REQUIRE(r.has_value());
  return *r;
}
// Bytes of each decoder layer, summed from the storage table.
v64 layer_bytes_of(const famx::families::model_description& d, const std::vector<famx::io::stored_tensor>& st) {
  v64 b(d.layers.size(), 0);
  for (const auto& s : st)
    if (s.tensor->layer >= 0) b[static_cast<std::size_t>(s.tensor->layer)] += s.bytes;
  return b;
}
}  // namespace

TEST_CASE("pipeline allocate_layers_proportionally: Exo's cases (spec 2.1)") {
  // PR #1179: 97.5, 1.25, 1.25 GB with 20 layers. raw 19.5, 0.25, 0.25 -> floor 19, 0, 0; the one
  // remaining layer goes to the largest remainder (0.5, device 0) -> 20, 0, 0; devices 1 and 2 each
  // take one layer from the first max -> 18, 1, 1 (the old algorithm gave 20, 1, -1).
  CHECK(alloc(20, {97.5, 1.25, 1.25}) == v64{18, 1, 1});
  // Equal memories: 10 over 3 -> 3.33 each, the one remainder to the lowest index.
  CHECK(alloc(10, {64, 64, 64}) == v64{4, 3, 3});
  // Ties: 10 over 4 -> 2.5 each, two remainders to devices 0 and 1.
  CHECK(alloc(10, {1, 1, 1, 1}) == v64{3, 3, 2, 2});
  // DeepSeek's 61 layers over 2 equal devices: 30.5 each -> 31, 30.
  CHECK(alloc(61, {128, 128}) == v64{31, 30});
  // 64, 64, 128 GB with 48 layers: exactly 12, 12, 24.
  CHECK(alloc(48, {64, 64, 128}) == v64{12, 12, 24});
  // 24 and 64 GB with 48 layers: raw 13.09, 34.91 -> 13, 34, the remainder to device 1 (0.91).
  CHECK(alloc(48, {24, 64}) == v64{13, 35});
  // One device takes all; as many layers as devices gives one each.
  CHECK(alloc(61, {512}) == v64{61});
  CHECK(alloc(3, {100, 1, 1}) == v64{1, 1, 1});
  // Almost no memory: 64G, 64G, 1M with 32 layers -> 15.99988, 15.99988, 0.00025 -> 15, 15, 0 +
  // remainders to 0 and 1 -> 16, 16, 0 -> device 2 takes one from the first max (device 0) -> 15, 16, 1.
  CHECK(alloc(32, {64e9, 64e9, 1e6}) == v64{15, 16, 1});
}

TEST_CASE("pipeline allocate_layers_proportionally: errors with Exo's messages") {
  auto none = sh::allocate_layers_proportionally(10, std::vector<double>{});
  REQUIRE(!none.has_value());
  CHECK(none.err().found() == "Cannot allocate layers to an empty node list");
  auto few = sh::allocate_layers_proportionally(2, fractions_of({1, 1, 1}));
  REQUIRE(!few.has_value());
  CHECK(few.err().found() == "Cannot distribute 2 layers across 3 nodes (need at least 1 layer per node)");
  auto zero = sh::allocate_layers_proportionally(0, fractions_of({1}));
  REQUIRE(!zero.has_value());
  CHECK(zero.err().found() == "Cannot distribute 0 layers across 1 nodes (need at least 1 layer per node)");
  auto bad = sh::allocate_layers_proportionally(10, std::vector<double>{0.5, -0.1});
  REQUIRE(!bad.has_value());
  CHECK(bad.err().path() == "memory_fractions.1");
  auto unnormalized = sh::allocate_layers_proportionally(10, std::vector<double>{0.1, 0.1});
  REQUIRE(!unnormalized.has_value());
  CHECK(unnormalized.err().expected() == "fractions that sum to 1");
}

TEST_CASE("pipeline allocate_layers_by_bytes: rule on small cases") {
  // Equal bytes behave like equal counts when the shares fall on boundaries.
  CHECK(*sh::allocate_layers_by_bytes(v64{5, 5, 5, 5}, std::vector<double>{0.5, 0.5}) == v64{2, 2});
  // Two light layers (1) then heavy ones (10): half of 42 is 21 -> prefix 1, 2, 12, 22, 32, 42; 22 is nearest.
  CHECK(*sh::allocate_layers_by_bytes(v64{1, 1, 10, 10, 10, 10}, std::vector<double>{0.5, 0.5}) == v64{4, 2});
  // A tie (prefix 2 and 4 both 1 away from 3) goes to the lower boundary.
  CHECK(*sh::allocate_layers_by_bytes(v64{2, 2, 2}, std::vector<double>{0.5, 0.5}) == v64{1, 2});
  // At least one layer each even when a share is tiny or the bytes are all in one layer.
  CHECK(*sh::allocate_layers_by_bytes(v64{100, 1, 1}, std::vector<double>{0.999, 0.0005, 0.0005}) == v64{1, 1, 1});
  CHECK(*sh::allocate_layers_by_bytes(v64{1, 1, 1, 100}, std::vector<double>{0.9, 0.1}) == v64{3, 1});
  auto few = sh::allocate_layers_by_bytes(v64{1, 1}, std::vector<double>{0.3, 0.3, 0.4});
  REQUIRE(!few.has_value());
  CHECK(few.err().found() == "Cannot distribute 2 layers across 3 nodes (need at least 1 layer per node)");
  auto neg = sh::allocate_layers_by_bytes(v64{1, -1}, std::vector<double>{1.0});
  REQUIRE(!neg.has_value());
  CHECK(neg.err().path() == "layer_bytes.1");
}

TEST_CASE("pipeline kv_cache_bytes: Llama-3.1-8B, DeepSeek-V3, V3.2, Qwen3-Next by hand") {
  auto llama = famx_test::load_shared("meta-llama--Llama-3.1-8B-Instruct");
  if (llama) {
    const auto& d = llama->description;
    // GQA: 2 (K, V) * 8 kv heads * 128 head_dim * 2 bytes = 4096 bytes per token.
    CHECK(*sh::kv_cache_bytes(d, 0, 8192) == 8192LL * 4096);
    CHECK(*sh::kv_cache_bytes(d, 31, 1) == 4096);
    CHECK(*sh::kv_cache_bytes(d, 5, 8192, 2) == 8192LL * 2048);   // 4 heads per rank
    CHECK(*sh::kv_cache_bytes(d, 5, 8192, 8) == 8192LL * 512);    // 1 head per rank
    CHECK(*sh::kv_cache_bytes(d, 5, 8192, 16) == 8192LL * 512);   // still 1 head (replicated)
    CHECK(*sh::kv_cache_bytes(d, 5, 0) == 0);
    auto out = sh::kv_cache_bytes(d, 32, 10);
    REQUIRE(!out.has_value());
    CHECK(out.err().path() == "layers.32");
    CHECK(!sh::kv_cache_bytes(d, 0, -1).has_value());
    CHECK(!sh::kv_cache_bytes(d, 0, 1, 0).has_value());
  }
  auto ds = famx_test::load_shared("deepseek-ai--DeepSeek-V3");
  if (ds) {
    // MLA: (kv_lora_rank 512 + qk_rope_head_dim 64) * 2 bytes = 1152 per token, not split by TP.
    CHECK(*sh::kv_cache_bytes(ds->description, 0, 4096) == 4096LL * 1152);
    CHECK(*sh::kv_cache_bytes(ds->description, 60, 4096, 8) == 4096LL * 1152);
  }
  // V3.2 (built-in config): + indexer key 128 * 2 bytes = 1408 per token.
  auto v32 = famx::io::parse_model_config(famx::io::find_builtin("DeepSeek-V3.2")->config_json, "v32");
  REQUIRE(v32.has_value());
  CHECK(*sh::kv_cache_bytes(v32->description, 10, 1000) == 1000LL * 1408);
  auto next = famx_test::load_shared("Qwen--Qwen3-Next-80B-A3B-Instruct");
  if (next) {
    const auto& d = next->description;
    // Linear layer (0): fp32 recurrent [32, 128, 128] = 2097152 bytes + bf16 conv [3, 2*16*128 + 32*128 = 8192]
    // = 49152 bytes: 2146304, whatever the context.
    CHECK(d.layers[0].attention == "linear_attention");
    CHECK(*sh::kv_cache_bytes(d, 0, 0) == 2146304);
    CHECK(*sh::kv_cache_bytes(d, 0, 100000) == 2146304);
    // TP 2: [16, 128, 128] fp32 = 1048576 + [3, 4096] bf16 = 24576.
    CHECK(*sh::kv_cache_bytes(d, 0, 100000, 2) == 1073152);
    // Full attention layer (3): 2 * 2 kv heads * 256 * 2 bytes = 2048 per token.
    CHECK(d.layers[3].attention == "full_attention");
    CHECK(*sh::kv_cache_bytes(d, 3, 4096) == 4096LL * 2048);
  }
}

TEST_CASE("pipeline plan: Llama-3.1-8B bf16 on 2 devices, ownership, bytes and text") {
  auto m = famx_test::load_shared("meta-llama--Llama-3.1-8B-Instruct");
  if (!m) return;
  const auto& d = m->description;
  const auto st = famx::io::storage_table(d, std::nullopt);
  const auto dv = devs("64G,64G");
  auto p = sh::plan_pipeline(d, st, dv, sh::layer_weighting::equal, 8192);
  REQUIRE_MESSAGE(p.has_value(), (p.has_value() ? "" : p.err().message()));
  REQUIRE(p->size() == 2);
  const auto& s0 = (*p)[0];
  const auto& s1 = (*p)[1];
  CHECK(s0.layers == sh::layer_range{0, 16});
  CHECK(s1.layers == sh::layer_range{16, 32});
  CHECK(s0.owns_embedding);
  CHECK(!s0.owns_head);
  CHECK(!s1.owns_embedding);
  CHECK(s1.owns_head);
  CHECK(!s1.tied_head);
  // One layer: q, o 4096x4096, k, v 1024x4096, gate/up/down 14336x4096, two norms of 4096:
  // 218112000 params, 436224000 bytes. embed_tokens and lm_head 128256x4096 bf16: 1050673152 bytes each.
  CHECK(s0.weight_bytes == 16LL * 436224000 + 1050673152);
  CHECK(s1.weight_bytes == 16LL * 436224000 + 1050673152 + 8192);
  CHECK(s0.kv_cache_bytes == 16LL * 8192 * 4096);
  CHECK(s0.total_bytes() == s0.weight_bytes + s0.kv_cache_bytes);
  // Exo's estimate: storage * 16 // 32, storage = 32 layers + embed + head + norm.
  const std::int64_t storage = 32LL * 436224000 + 2 * 1050673152 + 8192;
  CHECK(s0.exo_required_bytes == storage * 16 / 32);
  CHECK(sh::to_string(s0) == "rank 0 device0 layers [0, 16) embed_tokens  weights 8.0 GB  kv 0.5 GB");
  CHECK(sh::to_string(s1) == "rank 1 device1 layers [16, 32) norm lm_head  weights 8.0 GB  kv 0.5 GB");
  // One device owns everything.
  auto one = sh::plan_pipeline(d, st, devs("solo=64G"), sh::layer_weighting::equal, 0);
  REQUIRE(one.has_value());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].weight_bytes == storage);
  CHECK(sh::to_string((*one)[0]) == "rank 0 solo layers [0, 32) embed_tokens norm lm_head  weights 16.1 GB  kv 0.0 GB");
  // More devices than layers.
  std::vector<sh::device> many(33, sh::device{"d", 64'000'000'000, std::nullopt});
  auto too_many = sh::plan_pipeline(d, st, many, sh::layer_weighting::equal, 0);
  REQUIRE(!too_many.has_value());
  CHECK(too_many.err().found() == "Cannot distribute 32 layers across 33 nodes (need at least 1 layer per node)");
  // A storage table of another model is refused.
  std::vector<famx::io::stored_tensor> short_table(st.begin(), st.end() - 1);
  CHECK(!sh::plan_pipeline(d, short_table, dv, sh::layer_weighting::equal, 0).has_value());
}

TEST_CASE("pipeline plan: a device with almost no memory gets one layer and fails, named") {
  auto m = famx_test::load_shared("meta-llama--Llama-3.1-8B-Instruct");
  if (!m) return;
  const auto& d = m->description;
  const auto st = famx::io::storage_table(d, std::nullopt);
  const auto dv = devs("64G,64G,tiny=1M");
  const std::int64_t storage = 32LL * 436224000 + 2 * 1050673152 + 8192;
  // Layers 15, 16, 1 (see the allocation case); Exo requires storage * 1 // 32 = 501891328 bytes.
  auto exo = sh::plan_pipeline(d, st, dv, sh::layer_weighting::equal, 0, sh::pipeline_memory_check::exo);
  REQUIRE(!exo.has_value());
  CHECK(exo.err().path() == "devices.2");
  CHECK(storage / 32 == 501891328);
  CHECK(exo.err().found() == "Node 2 (tiny) has insufficient memory: requires 0.50 GB for 1 layers");
  CHECK(exo.err().expected() == "at most the 0.00 GB available (Exo: storage_size * layers // n_layers)");
  // famx's exact check: the last layer (436224000) + norm (8192) + lm_head (1050673152).
  auto exact = sh::plan_pipeline(d, st, dv, sh::layer_weighting::equal, 0, sh::pipeline_memory_check::exact);
  REQUIRE(!exact.has_value());
  CHECK(exact.err().path() == "devices.2");
  CHECK(exact.err().found().rfind("device 2 (tiny) needs 1.49 GB for 1 layers [31, 32)", 0) == 0);
  // both: Exo's check runs first on every device.
  auto both = sh::plan_pipeline(d, st, dv, sh::layer_weighting::equal, 0, sh::pipeline_memory_check::both);
  REQUIRE(!both.has_value());
  CHECK(both.err().found().rfind("Node 2 (tiny)", 0) == 0);
  auto none = sh::plan_pipeline(d, st, dv, sh::layer_weighting::equal, 0, sh::pipeline_memory_check::none);
  REQUIRE(none.has_value());
  CHECK((*none)[2].layers == sh::layer_range{31, 32});
  CHECK((*none)[2].weight_bytes == 436224000LL + 8192 + 1050673152);
}

TEST_CASE("pipeline plan: tied embeddings (Llama-3.2-1B): the last stage holds embed_tokens as its head") {
  auto m = famx_test::load_shared("meta-llama--Llama-3.2-1B-Instruct");
  if (!m) return;
  const auto& d = m->description;
  REQUIRE(d.tied);
  const auto st = famx::io::storage_table(d, std::nullopt);
  // A layer: q, o 2048x2048, k, v 512x2048, gate/up/down 8192x2048, two norms: 121643008 bytes.
  // embed_tokens 128256x2048 bf16 = 525336576 bytes; norm 4096 bytes. storage 2471628800 bytes.
  const std::int64_t layer = 121643008, embed = 525336576, storage = 16 * layer + embed + 4096;
  auto p = sh::plan_pipeline(d, st, devs("a=64G,b=64G"), sh::layer_weighting::equal, 0);
  REQUIRE(p.has_value());
  const auto& s1 = (*p)[1];
  CHECK(s1.owns_embedding);
  CHECK(s1.tied_head);
  CHECK(s1.weight_bytes == 8 * layer + embed + 4096);
  CHECK((*p)[0].weight_bytes == 8 * layer + embed);
  CHECK(sh::to_string(s1) == "rank 1 b layers [8, 16) norm lm_head=embed_tokens(tied)  weights 1.5 GB  kv 0.0 GB");
  // 1.3 GB each: Exo's estimate (storage * 8 // 16 = 1235814400) fits, the real stage (1.50 GB) does not.
  CHECK(storage * 8 / 16 == 1235814400);
  const auto small = devs("a=1.3G,b=1.3G");
  CHECK(sh::plan_pipeline(d, st, small, sh::layer_weighting::equal, 0, sh::pipeline_memory_check::exo).has_value());
  auto both = sh::plan_pipeline(d, st, small, sh::layer_weighting::equal, 0, sh::pipeline_memory_check::both);
  REQUIRE(!both.has_value());
  CHECK(both.err().path() == "devices.0");
  CHECK(both.err().found().rfind("device 0 (a) needs 1.50 GB for 8 layers [0, 8)", 0) == 0);
}

TEST_CASE("pipeline plan: byte weighting on DeepSeek-V3 4-bit gives the stage with the dense layers more") {
  auto m = famx_test::load_shared("deepseek-ai--DeepSeek-V3");
  if (!m) return;
  const auto& d = m->description;
  const auto st = famx::io::storage_table(d, famx::io::convert_quantization(4));
  const v64 lb = layer_bytes_of(d, st);
  REQUIRE(lb.size() == 61);
  const std::int64_t dense = lb[0], moe = lb[3];
  for (int i = 0; i < 3; ++i) CHECK(lb[static_cast<std::size_t>(i)] == dense);
  for (int i = 3; i < 61; ++i) CHECK(lb[static_cast<std::size_t>(i)] == moe);
  CHECK(dense * 3 < moe);  // first_k_dense_replace = 3 layers are much lighter
  // Two equal devices: half the bytes is 1.5 dense + 29 moe; boundary k gives 3 dense + (k - 3) moe,
  // nearest at k = round(32 - 1.5 dense / moe) = 32 since 1.5 dense / moe < 0.5. Equal counting gives 31.
  const auto dv = devs("256G,256G");
  auto eq = sh::plan_pipeline(d, st, dv, sh::layer_weighting::equal, 0);
  auto by = sh::plan_pipeline(d, st, dv, sh::layer_weighting::bytes, 0);
  REQUIRE(eq.has_value());
  REQUIRE(by.has_value());
  CHECK((*eq)[0].layers == sh::layer_range{0, 31});
  CHECK((*by)[0].layers == sh::layer_range{0, 32});
  CHECK((*by)[1].layers == sh::layer_range{32, 61});
  // The layers' bytes are closer to even than with equal counting.
  auto layer_sum = [&](const sh::pipeline_stage& s) {
    std::int64_t n = 0;
    for (auto l = s.layers.begin; l < s.layers.end; ++l) n += lb[static_cast<std::size_t>(l)];
    return n;
  };
  CHECK(std::llabs(layer_sum((*by)[0]) - layer_sum((*by)[1])) < std::llabs(layer_sum((*eq)[0]) - layer_sum((*eq)[1])));
  // Four equal devices: contiguous, at least one layer each, rank 0 (dense layers) has the most, and every
  // stage's layer bytes are within one MoE layer of a quarter.
  auto four = sh::plan_pipeline(d, st, devs("128G,128G,128G,128G"), sh::layer_weighting::bytes, 0);
  REQUIRE(four.has_value());
  std::int64_t total = 0, next = 0;
  for (auto b : lb) total += b;
  for (const auto& s : *four) {
    CHECK(s.layers.begin == next);
    CHECK(s.layers.size() >= 1);
    CHECK(s.layers.size() <= (*four)[0].layers.size());
    CHECK(std::llabs(layer_sum(s) - total / 4) <= moe);
    next = s.layers.end;
  }
  CHECK(next == 61);
}

TEST_CASE("exo_accepts: Exo's placement checks on the bundled cards (spec 3.3)") {
  using famx::io::find_card;
  using sh::strategy;
  const auto* q30 = find_card("mlx-community/Qwen3-30B-A3B-4bit");
  REQUIRE(q30);
  CHECK(sh::exo_accepts(*q30, devs("24G,24G"), strategy::pipeline).has_value());
  CHECK(sh::exo_accepts(*q30, devs("24G,24G"), strategy::tensor).has_value());
  CHECK(sh::exo_accepts(*q30, devs("24G,24G"), strategy::automatic).has_value());
  auto tp3 = sh::exo_accepts(*q30, devs("24G,24G,24G"), strategy::tensor);
  REQUIRE(!tp3.has_value());
  CHECK(tp3.err().found() ==
        "No tensor sharding found for model with hidden_size=2048, num_key_value_heads=4 across candidate cycles (3 devices)");
  auto tp8 = sh::exo_accepts(*q30, devs("24G,24G,24G,24G,24G,24G,24G,24G"), strategy::tensor);
  REQUIRE(!tp8.has_value());  // 2048 % 8 == 0 but 4 KV heads % 8 != 0
  auto small = sh::exo_accepts(*q30, devs("16G"), strategy::pipeline);
  REQUIRE(!small.has_value());
  CHECK(small.err().found().rfind("No cycles found with sufficient memory", 0) == 0);
  auto ep = sh::exo_accepts(*q30, devs("24G,24G"), strategy::expert);
  REQUIRE(!ep.has_value());
  CHECK(ep.err().expected().find("Exo has no expert parallelism") != std::string::npos);
  // Per-node pipeline check: 17.3G + 0.35G holds the 17612931072-byte card in total; 48 layers split
  // 47.05 / 0.95 -> 47, 1; node 1 needs 17612931072 // 48 = 366936064 bytes > 0.35 GB.
  auto node = sh::exo_accepts(*q30, devs("17.3G,0.35G"), strategy::pipeline);
  REQUIRE(!node.has_value());
  CHECK(node.err().found() == "Node 1 (device1) has insufficient memory: requires 0.37 GB for 1 layers");
  // Exactly the required bytes is enough (Exo fails only when required > available).
  CHECK(sh::exo_accepts(*q30, devs("17.3G,366.936064M"), strategy::pipeline).has_value());
  CHECK(!sh::exo_accepts(*q30, devs("17.3G,366.936063M"), strategy::pipeline).has_value());

  const auto* v31 = find_card("mlx-community/DeepSeek-V3.1-8bit");
  REQUIRE(v31);
  auto ban = sh::exo_accepts(*v31, devs("512G,512G"), strategy::pipeline);
  REQUIRE(!ban.has_value());
  CHECK(ban.err().found() == "Pipeline parallelism is not supported for DeepSeek V3.1 (8-bit)");
  CHECK(sh::exo_accepts(*v31, devs("512G,512G"), strategy::tensor).has_value());  // 7168 and 128 KV heads % 2
  CHECK(sh::exo_accepts(*v31, devs("512G,512G"), strategy::automatic).has_value());  // falls back to tensor
  CHECK(sh::exo_accepts(*find_card("mlx-community/DeepSeek-V3.1-4bit"), devs("512G"), strategy::pipeline).has_value());

  const auto* q06 = find_card("mlx-community/Qwen3-0.6B-4bit");
  REQUIRE(q06);
  auto no_tp = sh::exo_accepts(*q06, devs("24G,24G"), strategy::tensor);
  REQUIRE(!no_tp.has_value());
  CHECK(no_tp.err().found() ==
        "Requested Tensor sharding but this model does not support tensor parallelism: mlx-community/Qwen3-0.6B-4bit");
  // No built-in config: only hidden_size is checked (Qwen3-Coder-480B: 6144 % 2 == 0, and % 5 != 0).
  const auto* coder = find_card("mlx-community/Qwen3-Coder-480B-A35B-Instruct-4bit");
  REQUIRE(coder);
  CHECK(sh::exo_accepts(*coder, devs("256G,256G"), strategy::tensor).has_value());
  auto coder5 = sh::exo_accepts(*coder, devs("64G,64G,64G,64G,64G"), strategy::tensor);
  REQUIRE(!coder5.has_value());
  CHECK(coder5.err().found() == "No tensor sharding found for model with hidden_size=6144 across candidate cycles (5 devices)");
}

TEST_CASE("exo_accepts: every card with a real shared config, 1..8 devices of 24..512 GB") {
  // The card's built-in architecture and the real config.json that has its num_key_value_heads.
  const std::vector<std::pair<std::string, std::string>> real = {
      {"Qwen3-0.6B", "Qwen--Qwen3-0.6B"}, {"Qwen3-30B-A3B", "Qwen--Qwen3-30B-A3B"},
      {"Qwen3-235B-A22B", "Qwen--Qwen3-235B-A22B"}, {"Qwen3-Next-80B-A3B", "Qwen--Qwen3-Next-80B-A3B-Instruct"},
      {"Llama-3.2-1B", "meta-llama--Llama-3.2-1B-Instruct"}, {"Llama-3.2-3B", "meta-llama--Llama-3.2-3B-Instruct"},
      {"Llama-3.1-8B", "meta-llama--Llama-3.1-8B-Instruct"}, {"Llama-3.1-70B", "meta-llama--Llama-3.1-70B-Instruct"},
      {"DeepSeek-V3", "deepseek-ai--DeepSeek-V3"}};
  int checked = 0;
  for (const auto& [builtin, file] : real) {
    auto m = famx_test::load_shared(file);
    if (!m) continue;
    const std::int64_t kv = m->description.dim("num_key_value_heads");
    for (const auto& card : famx::io::model_cards) {
      if (card.builtin != builtin) continue;
      CHECK(card.n_layers == static_cast<std::int64_t>(m->description.layers.size()));
      CHECK(card.hidden_size == m->description.dim("hidden_size"));
      for (std::int64_t gb : {24, 64, 128, 192, 256, 512})
        for (int n = 1; n <= 8; ++n) {
          std::vector<sh::device> dv(static_cast<std::size_t>(n), sh::device{"d", gb * 1'000'000'000, std::nullopt});
          const bool fits = n * gb * 1'000'000'000 >= card.storage_size_bytes;
          const bool tp_ok = fits && card.supports_tensor && card.hidden_size % n == 0 && kv % n == 0;
          auto tp = sh::exo_accepts(card, dv, sh::strategy::tensor);
          CHECK_MESSAGE(tp.has_value() == tp_ok, card.model_id << " x" << n << " " << gb << "G");
          if (!fits) {
            auto pp = sh::exo_accepts(card, dv, sh::strategy::pipeline);
            REQUIRE(!pp.has_value());
            CHECK(pp.err().found().rfind("No cycles found with sufficient memory", 0) == 0);
          } else if (n <= card.n_layers && card.model_id != "mlx-community/DeepSeek-V3.1-8bit") {
            // Equal devices: the largest stage has ceil(L / n) layers; Exo needs storage * that // L on it.
            const std::int64_t most = (card.n_layers + n - 1) / n;
            const bool pp_ok = card.storage_size_bytes * most / card.n_layers <= gb * 1'000'000'000;
            CHECK_MESSAGE(sh::exo_accepts(card, dv, sh::strategy::pipeline).has_value() == pp_ok,
                          card.model_id << " x" << n << " " << gb << "G");
          }
          ++checked;
        }
    }
  }
  MESSAGE("placements checked: " << checked);
}
