// The planner: tensor, expert and pipeline plans for every family's tiny model (slices that take
// from the real checkpoint, bytes, heads, experts, collectives in order), automatic choice and its
// reasons, card restrictions, memory errors, JSON, and plans for the real configs on 1-8 devices of
// 24-512 GB compared with what Exo's rules accept.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <string>
#include <vector>

#include "../families/shared_configs.hpp"
#include "../io/test_files.hpp"
#include "famx/io/sharded_safetensors.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/shard/load.hpp"
#include "famx/shard/render.hpp"

namespace {

using famx::shard::strategy;

std::vector<famx::shard::device> devices(int n, double gb) {
  std::vector<famx::shard::device> d;
  for (int i = 0; i < n; ++i) d.push_back({"device" + std::to_string(i), static_cast<std::int64_t>(gb * 1e9), std::nullopt});
  return d;
}

famx::shard::plan_options with(strategy s) {
  famx::shard::plan_options o;
  o.kind = s;
  o.context_tokens = 1024;
  return o;
}

std::vector<std::string> ops(const famx::shard::rank_plan& r) {
  std::vector<std::string> out;
  for (const auto& c : r.collectives) out.push_back(c.op + " " + c.after);
  return out;
}

}  // namespace

TEST_CASE("tensor and expert plans of every tiny model take their slices from the real checkpoint") {
  for (const auto& tm : famx::io::tiny_models) {
    const std::string name(tm.key);
    CAPTURE(name);
    famx::test::temp_dir dir;
    REQUIRE(famx::io::make_tiny_checkpoint(tm.key, dir.path()).has_value());
    const auto m = famx::io::load_model_config(dir.path()).value();
    const auto files = famx::io::sharded_safetensors::open_directory(dir.path()).value();
    const auto& d = m.description;
    for (strategy s : {strategy::tensor, strategy::expert, strategy::pipeline}) {
      if (s == strategy::expert && d.experts == 0) continue;
      for (int n : {1, 2, 4}) {
        if (s == strategy::pipeline && n > 2) continue;  // two layers
        CAPTURE(n);
        CAPTURE(famx::shard::to_string(s));
        auto p = famx::shard::plan(m, devices(n, 1.0), with(s));
        REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.err().message()));
        REQUIRE(p->ranks.size() == static_cast<std::size_t>(n));
        std::int64_t layers = 0;
        for (const auto& r : p->ranks) {
          auto local = famx::shard::load_rank(files, r);
          REQUIRE_MESSAGE(local.has_value(), (local ? "" : local.err().message()));
          std::int64_t bytes = 0;
          std::size_t i = 0;
          for (const auto& t : r.tensors)
            for (const auto& f : t.files) {
              CHECK((*local)[i].name == f.name);
              CHECK((*local)[i].view.dims == f.local);
              bytes += static_cast<std::int64_t>((*local)[i++].view.nbytes());
            }
          CHECK(i == local->size());
          CHECK(bytes == r.weight_bytes);
          CHECK(r.total_bytes() == r.weight_bytes + r.kv_cache_bytes);
          layers += r.layers.end - r.layers.begin;
          if (s != strategy::pipeline) {
            CHECK(r.heads == d.dim("num_attention_heads") / n);
            CHECK(r.layers.end - r.layers.begin == static_cast<std::int64_t>(d.layers.size()));
          }
        }
        CHECK(layers == (s == strategy::pipeline ? 1 : n) * static_cast<std::int64_t>(d.layers.size()));
      }
    }
  }
}

TEST_CASE("collectives come in execution order, as the split forward runs them") {
  famx::test::temp_dir dir;
  REQUIRE(famx::io::make_tiny_checkpoint("deepseek_v3", dir.path()).has_value());
  const auto m = famx::io::load_model_config(dir.path()).value();
  const auto tp = famx::shard::plan(m, devices(2, 1.0), with(strategy::tensor)).value();
  CHECK(ops(tp.ranks[1]) == std::vector<std::string>{
                                "all_sum model.layers.0.self_attn.o_proj", "all_sum model.layers.0.mlp.down_proj",
                                "all_sum model.layers.1.self_attn.o_proj", "all_sum model.layers.1.mlp.switch_mlp",
                                "all_sum model.layers.1.mlp.shared_experts"});
  CHECK(tp.ranks[0].collectives[0].bytes_per_token == 256 * 4);
  CHECK(tp.ranks[0].collectives[3].bytes_per_token == 256 * 4 * 2);  // k = 2 slots per token
  CHECK(tp.ranks[0].expert_share == "all 8, 1/2 of moe_intermediate_size each");
  // Expert parallelism: attention tensor-parallel; each slot's expert output gathered from its expert's rank.
  const auto ep = famx::shard::plan(m, devices(2, 1.0), with(strategy::expert)).value();
  CHECK(ops(ep.ranks[0]) == std::vector<std::string>{
                                "all_sum model.layers.0.self_attn.o_proj", "all_sum model.layers.0.mlp.down_proj",
                                "all_sum model.layers.1.self_attn.o_proj", "all_gather model.layers.1.mlp.switch_mlp"});
  CHECK(ep.ranks[1].experts == std::vector<std::int64_t>{4, 5, 6, 7});
  CHECK(ep.ranks[1].collectives[3].bytes_per_token == 256 * 4 * 2);  // k = 2 slots per token
  auto o = with(strategy::expert);
  o.shared_experts_tensor_parallel = true;
  o.experts = famx::shard::expert_placement::round_robin;
  const auto ep_tp = famx::shard::plan(m, devices(2, 1.0), o).value();
  CHECK(ep_tp.ranks[1].experts == std::vector<std::int64_t>{1, 3, 5, 7});
  CHECK(ops(ep_tp.ranks[0])[4] == "all_sum model.layers.1.mlp.shared_experts");
  // Replicated shared experts cost memory on every rank: the tensor-parallel policy holds less.
  CHECK(ep_tp.ranks[0].weight_bytes < ep.ranks[0].weight_bytes);
  // Pipeline: rank 0 sends its last layer's output to rank 1.
  const auto pp = famx::shard::plan(m, devices(2, 1.0), with(strategy::pipeline)).value();
  CHECK(ops(pp.ranks[0]) == std::vector<std::string>{"send model.layers.0", "broadcast lm_head"});
  CHECK(ops(pp.ranks[1]) == std::vector<std::string>{"recv model.layers.0", "broadcast lm_head"});
}

TEST_CASE("expert parallelism is legal where tensor parallelism would cut the experts' quantization groups") {
  famx::test::temp_dir dir;
  REQUIRE(famx::io::make_tiny_checkpoint("deepseek_v3", dir.path()).has_value());
  const auto m = famx::io::load_model_config(dir.path()).value();
  // moe_intermediate_size 256 over 8 ranks is 32 columns of a 64-group: no tensor parallelism...
  auto tp = famx::shard::plan(m, devices(8, 1.0), with(strategy::tensor));
  REQUIRE_FALSE(tp.has_value());
  CHECK(tp.err().path() == "model.layers.1.mlp.switch_mlp.down_proj");
  // ...but experts move whole (one per rank) and the replicated shared expert is not split.
  auto ep = famx::shard::plan(m, devices(8, 1.0), with(strategy::expert));
  REQUIRE_MESSAGE(ep.has_value(), (ep ? "" : ep.err().message()));
  CHECK(ep->ranks[5].experts == std::vector<std::int64_t>{5});
  // A tensor-parallel shared expert is split again, and its 32-column down_proj slices are refused.
  auto o = with(strategy::expert);
  o.shared_experts_tensor_parallel = true;
  auto shared = famx::shard::plan(m, devices(8, 1.0), o);
  REQUIRE_FALSE(shared.has_value());
  CHECK(shared.err().path() == "model.layers.1.mlp.shared_experts.down_proj");
  const auto automatic = famx::shard::plan(m, devices(8, 1.0), with(strategy::automatic)).value();
  CHECK(automatic.kind == strategy::expert);
}

TEST_CASE("pipeline stages own the embeddings and the head; a tied head is held by the last stage too") {
  for (std::string_view family : {"llama", "qwen3"}) {
    CAPTURE(family);
    famx::test::temp_dir dir;
    REQUIRE(famx::io::make_tiny_checkpoint(family, dir.path()).has_value());
    const auto m = famx::io::load_model_config(dir.path()).value();
    const auto p = famx::shard::plan(m, devices(2, 1.0), with(strategy::pipeline)).value();
    auto holds = [&](int r, std::string_view name) {
      for (const auto& t : p.ranks[static_cast<std::size_t>(r)].tensors)
        if (t.name == name) return true;
      return false;
    };
    CHECK(holds(0, "model.embed_tokens.weight"));
    CHECK(holds(1, "model.norm.weight"));
    CHECK_FALSE(holds(0, "model.norm.weight"));
    CHECK(holds(1, "model.embed_tokens.weight") == (family == "qwen3"));  // qwen3's tiny model is tied
    CHECK(holds(1, "lm_head.weight") == (family == "llama"));
    CHECK(holds(0, "model.layers.0.self_attn.q_proj.weight"));
    CHECK_FALSE(holds(1, "model.layers.0.self_attn.q_proj.weight"));
  }
}

TEST_CASE("automatic planning explains itself; impossible requests are errors that say why") {
  famx::test::temp_dir dir;
  REQUIRE(famx::io::make_tiny_checkpoint("llama", dir.path()).has_value());
  const auto m = famx::io::load_model_config(dir.path()).value();
  const auto one = famx::shard::plan(m, devices(1, 1.0), with(strategy::automatic)).value();
  CHECK(one.notes == std::vector<std::string>{"automatic: one device holds the whole model"});
  const auto two = famx::shard::plan(m, devices(2, 1.0), with(strategy::automatic)).value();
  CHECK(two.kind == strategy::tensor);
  // 8 ranks: 4 KV heads do not split 8 ways, and 2 layers do not fill 8 stages.
  auto eight = famx::shard::plan(m, devices(8, 1.0), with(strategy::automatic));
  REQUIRE_FALSE(eight.has_value());
  CAPTURE(eight.err().message());
  CHECK(eight.err().path() == "strategy");
  CHECK(eight.err().found().find("tensor parallelism rejected: ") != std::string::npos);
  CHECK(eight.err().found().find("num_key_value_heads = 4 over 8 ranks") != std::string::npos);
  CHECK(eight.err().found().find("pipeline parallelism rejected: ") != std::string::npos);
  auto tp8 = famx::shard::plan(m, devices(8, 1.0), with(strategy::tensor));
  REQUIRE_FALSE(tp8.has_value());
  CHECK(tp8.err().code() == famx::errc::not_divisible);
  CHECK(tp8.err().file() == (dir / "config.json").string());
  auto dense_ep = famx::shard::plan(m, devices(2, 1.0), with(strategy::expert));
  REQUIRE_FALSE(dense_ep.has_value());
  CHECK(dense_ep.err().found() == "expert parallelism for llama, a dense model");
  // Memory: 0.3 MB devices cannot hold half of an 0.8 MB model plus its replicated embedding.
  auto small = famx::shard::plan(m, devices(2, 0.0003), with(strategy::tensor));
  REQUIRE_FALSE(small.has_value());
  CHECK(small.err().path() == "devices.0");
  CHECK(small.err().found().starts_with("device0 needs "));
  CHECK(famx::shard::plan(m, {}, with(strategy::tensor)).err().path() == "devices");
}

TEST_CASE("model cards' placement restrictions apply (Exo)") {
  auto m = famx_test::load_shared("deepseek-ai--DeepSeek-V3");
  if (!m) return;
  m->quantization = famx::io::convert_quantization(8);
  auto o = with(strategy::pipeline);
  o.model_id = "mlx-community/DeepSeek-V3.1-8bit";
  auto p = famx::shard::plan(*m, devices(8, 512), o);
  REQUIRE_FALSE(p.has_value());
  CHECK(p.err().found() == "Pipeline parallelism is not supported for DeepSeek V3.1 (8-bit)");
  o.kind = strategy::automatic;
  auto a = famx::shard::plan(*m, devices(8, 512), o);
  REQUIRE(a.has_value());
  CHECK(a->kind == strategy::tensor);
  auto q = famx_test::load_shared("Qwen--Qwen3-0.6B");
  REQUIRE(q.has_value());
  auto qo = with(strategy::tensor);
  qo.model_id = "mlx-community/Qwen3-0.6B-4bit";
  auto t = famx::shard::plan(*q, devices(2, 24), qo);
  REQUIRE_FALSE(t.has_value());
  CHECK(t.err().found() == "Requested Tensor sharding but this model does not support tensor parallelism: mlx-community/Qwen3-0.6B-4bit");
  qo.kind = strategy::automatic;
  CHECK(famx::shard::plan(*q, devices(1, 24), qo).has_value());  // one device is no tensor split
  auto qa = famx::shard::plan(*q, devices(2, 24), qo).value();
  CHECK(qa.kind == strategy::pipeline);
  CHECK(qa.notes.front().find("does not support tensor parallelism") != std::string::npos);
}

TEST_CASE("plans of the real configs on 1-8 devices of 24-512 GB, against Exo's rules") {
  struct expectation {
    const char* config;
    int devices;
    double gb;
    strategy chosen;  // automatic's choice for the 4-bit model
  };
  // Worked out by hand from the configs: Qwen3-30B-A3B 4-bit is 17.6 GB; 32 heads / 4 KV heads split 2 and 4
  // ways, not 3; DeepSeek-V3 4-bit is 377.6 GB (47 GB + replicated parts per rank over 8); Llama-3.1-70B has
  // 8 KV heads; Qwen3-Next has 2 KV heads, so 4 ranks fall back to experts... which split attention the same
  // way, so to pipeline.
  const expectation cases[] = {
      {"Qwen--Qwen3-30B-A3B", 1, 24, strategy::tensor},
      {"Qwen--Qwen3-30B-A3B", 2, 24, strategy::tensor},
      {"Qwen--Qwen3-30B-A3B", 3, 24, strategy::pipeline},
      {"Qwen--Qwen3-30B-A3B", 4, 24, strategy::tensor},
      {"deepseek-ai--DeepSeek-V3", 8, 64, strategy::tensor},
      {"deepseek-ai--DeepSeek-V3", 6, 128, strategy::pipeline},
      {"meta-llama--Llama-3.1-70B-Instruct", 8, 24, strategy::tensor},
      {"Qwen--Qwen3-Next-80B-A3B-Instruct", 2, 64, strategy::tensor},
      {"Qwen--Qwen3-Next-80B-A3B-Instruct", 4, 24, strategy::pipeline},
  };
  for (const auto& c : cases) {
    CAPTURE(c.config);
    CAPTURE(c.devices);
    auto m = famx_test::load_shared(c.config);
    if (!m) return;
    m->quantization = famx::io::convert_quantization(4);
    auto p = famx::shard::plan(*m, devices(c.devices, c.gb), with(strategy::automatic));
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.err().message()));
    CHECK(famx::shard::to_string(p->kind) == famx::shard::to_string(c.chosen));
  }
  // Every config, 1..8 devices, 24..512 GB: a famx tensor plan implies Exo's total-memory rule accepts
  // the device set; whenever famx plans tensor parallelism Exo's head rule holds too.
  for (const char* name : {"Qwen--Qwen3-0.6B", "Qwen--Qwen3-30B-A3B", "Qwen--Qwen3-235B-A22B", "Qwen--Qwen3-Next-80B-A3B-Instruct",
                           "deepseek-ai--DeepSeek-V3", "meta-llama--Llama-3.1-8B-Instruct", "meta-llama--Llama-3.1-70B-Instruct",
                           "meta-llama--Llama-3.2-1B-Instruct", "meta-llama--Llama-3.2-3B-Instruct"}) {
    auto m = famx_test::load_shared(name);
    if (!m) return;
    m->quantization = famx::io::convert_quantization(4);
    const auto& d = m->description;
    const std::int64_t storage = famx::io::total_bytes(famx::io::storage_table(d, m->quantization));
    for (int n = 1; n <= 8; ++n)
      for (double gb : {24.0, 64.0, 128.0, 192.0, 512.0}) {
        CAPTURE(name);
        CAPTURE(n);
        CAPTURE(gb);
        auto p = famx::shard::plan(*m, devices(n, gb), with(strategy::tensor));
        if (!p) continue;
        CHECK(static_cast<double>(storage) <= n * gb * 1e9);  // Exo's "sufficient memory" rule
        if (d.dim("num_key_value_heads") > 0 && d.family != "deepseek_v3") CHECK(d.dim("num_key_value_heads") % n == 0);
        std::int64_t sum = 0;
        for (const auto& r : p->ranks) sum += r.weight_bytes;
        CHECK(sum >= storage);  // replicated tensors are counted on every rank
      }
  }
}

TEST_CASE("the JSON plan parses back and the text names each rule") {
  famx::test::temp_dir dir;
  REQUIRE(famx::io::make_tiny_checkpoint("qwen3_next", dir.path()).has_value());
  const auto m = famx::io::load_model_config(dir.path()).value();
  const auto p = famx::shard::plan(m, devices(2, 1.0), with(strategy::tensor)).value();
  const std::string json = famx::shard::render_json(p);
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  auto doc = parser.iterate(padded);
  CHECK(std::string_view(doc["strategy"].get_string().value()) == "tensor");
  auto ranks = doc["ranks"].get_array();
  std::size_t n = 0;
  for (auto r : ranks) {
    CHECK(r["kv_heads"].get_int64().value() == 2);
    ++n;
  }
  CHECK(n == 2);
  const std::string text = famx::shard::render_text(p);
  CHECK(text.find("model.layers.0.linear_attn.conv1d.weight") != std::string::npos);
  CHECK(text.find("conv_gather") != std::string::npos);
  CHECK(text.find("famx plan: " + m.file + " (qwen3_next), tensor parallelism over 2 ranks") == 0);
  CHECK(text.find("linear k/v heads 2/4") != std::string::npos);
}
