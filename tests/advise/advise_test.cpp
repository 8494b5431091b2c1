// Model cards, the advisor report (hotspots, sharding options) and its JSON, parsed back.
#include <doctest/doctest.h>

#include <string>

#include <simdjson.h>

#include "famx/advise/render.hpp"
#include "famx/io/model_cards.hpp"

using famx::advise::report_for_id;

TEST_CASE("bundled cards: every seed model id, lookup by id") {
  CHECK(famx::io::model_cards.size() == 38);
  const auto* c = famx::io::find_card("mlx-community/Qwen3-0.6B-8bit");
  REQUIRE(c != nullptr);
  CHECK(c->n_layers == 28);
  CHECK(c->hidden_size == 1024);
  CHECK_FALSE(c->supports_tensor);
  CHECK(c->storage_size_bytes == 698351616);
  CHECK(famx::io::card_bits(*c) == 8);
  c = famx::io::find_card("mlx-community/DeepSeek-V3.1-mlx-DQ5_K_M");
  REQUIRE(c != nullptr);
  CHECK(c->storage_size_bytes == 472916152320);
  CHECK(famx::io::card_bits(*c) == 0);
  CHECK(famx::io::find_card("mlx-community/Nope") == nullptr);
  for (const auto& card : famx::io::model_cards) {
    CAPTURE(card.model_id);
    if (card.builtin.empty()) continue;
    auto r = report_for_id(card.model_id);
    REQUIRE(r.has_value());
    CHECK(static_cast<std::int64_t>(r->description.layers.size()) == card.n_layers);  // card and figures agree
    CHECK(r->description.dim("hidden_size") == card.hidden_size);
    CHECK(r->description.family == card.family);
  }
}

TEST_CASE("a card without architecture figures reports the card and asks for a config.json") {
  const famx::io::model_card* card = nullptr;
  auto r = report_for_id("mlx-community/Qwen3-Coder-480B-A35B-Instruct-4bit", {}, &card);
  REQUIRE_FALSE(r.has_value());
  REQUIRE(card != nullptr);
  CHECK(card->n_layers == 62);
  CHECK(r.err().message() == "mlx-community/Qwen3-Coder-480B-A35B-Instruct-4bit: found a bundled card without built-in "
                             "architecture figures, expected a config.json for it (pass its path instead of the id)");
  CHECK(report_for_id("no/such-model").err().code() == famx::errc::missing);
}

TEST_CASE("hotspots: decode reads every used weight once, k of E experts, one embedding row") {
  auto r = report_for_id("mlx-community/Meta-Llama-3.1-8B-Instruct-bf16", {1, 1});
  REQUIRE(r.has_value());
  const auto& hot = r->hot;
  const auto total = hot.total();
  // bf16, context 1: all weights except the embedding matrix (one 8 KiB row) plus 32 layers' K/V of one token.
  const double embed = 128256.0 * 4096 * 2;
  CHECK(total.decode_bytes == doctest::Approx(static_cast<double>(r->storage_bytes()) - embed + 4096 * 2 + 32 * 2 * 1024 * 2));
  // FLOPs: 2 per non-embedding weight used, plus attention 4*H*hd per layer at context 1.
  const double weights = static_cast<double>(r->description.total_params() - 128256LL * 4096 - 65 * 4096);
  CHECK(total.decode_flops == doctest::Approx(2 * weights + 32 * 4 * 32 * 128));
  CHECK(hot.rows.front().module.starts_with("mlp."));  // the MLP weights dominate decode reads

  auto moe = report_for_id("mlx-community/Qwen3-30B-A3B-4bit", {4096, 2048});
  REQUIRE(moe.has_value());
  for (const auto& row : moe->hot.rows)
    if (row.module == "mlp.switch_mlp.down_proj") {
      CHECK(row.layers == 48);
      CHECK(row.decode_flops == doctest::Approx(48.0 * 8 * 2 * 2048 * 768));
    }
}

TEST_CASE("sharding options: legal tensor-parallel degrees for 1-8 devices") {
  auto legal = [](const famx::advise::report& r) {
    std::string s;
    for (const auto& o : r.sharding)
      if (o.tensor_parallel) s += std::to_string(o.devices);
    return s;
  };
  CHECK(legal(*report_for_id("mlx-community/Qwen3-30B-A3B-4bit")) == "124");        // 4 KV heads
  CHECK(legal(*report_for_id("mlx-community/Qwen3-Next-80B-A3B-Instruct-4bit")) == "12");  // 2 KV heads
  CHECK(legal(*report_for_id("mlx-community/DeepSeek-V3-4bit")) == "1248");
  CHECK(legal(*report_for_id("mlx-community/Llama-3.2-3B-Instruct-4bit")) == "1248");  // 24 heads, 8 KV heads
  const auto r = report_for_id("mlx-community/Qwen3-30B-A3B-4bit");
  CHECK(r->sharding[2].tensor_reason ==
        "num_attention_heads = 32 over 3 ranks, expected a value divisible by the tensor-parallel degree 3");
  CHECK(r->sharding[7].tensor_reason.starts_with("num_key_value_heads = 4 over 8 ranks, expected a value divisible by"));
  CHECK(r->sharding[7].expert_parallel);
  CHECK(r->notes.empty());
  const auto small = report_for_id("mlx-community/Qwen3-0.6B-4bit");
  REQUIRE(small->notes.size() == 1);
  CHECK(small->notes[0].starts_with("Exo's card sets supports_tensor = false"));
  CHECK(report_for_id("mlx-community/DeepSeek-V3.1-8bit")->notes.at(0) == "Exo's placement blocks pipeline parallelism for this model");
  // moe_intermediate_size 768 / 8 = 96 is not a whole number of 64-groups either; 768 / 4 = 192 is.
  CHECK(r->sharding[3].tensor_parallel);
}

TEST_CASE("the JSON report parses back and carries the exact figures") {
  auto r = report_for_id("mlx-community/DeepSeek-V3.2-4bit");
  REQUIRE(r.has_value());
  const std::string json = famx::advise::render(*r, famx::advise::format::json);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(json).get(doc) == simdjson::SUCCESS);
  CHECK(std::string_view(doc["family"]) == "deepseek_v32");
  CHECK(int64_t(doc["params"]["total"]) == r->description.total_params());
  CHECK(int64_t(doc["params"]["active"]) == r->description.active_params());
  CHECK(int64_t(doc["storage_bytes"]) == 378085857792);
  CHECK(int64_t(doc["card"]["storage_size"]["in_bytes"]) == 378085857792);
  CHECK(simdjson::dom::array(doc["tensors"]).size() == r->description.tensors.size());
  CHECK(int64_t(doc["config"]["index_topk"]) == 2048);
  CHECK(simdjson::dom::array(doc["sharding"]).size() == 8);
  CHECK(bool(doc["sharding"].at(7)["tensor_parallel"]));
  CHECK(simdjson::dom::array(doc["hotspots"]["rows"]).size() == r->hot.rows.size());
  CHECK(simdjson::dom::array(doc["notes"]).size() == 0);

  const std::string md = famx::advise::render(*r, famx::advise::format::markdown);
  CHECK(md.find("# famx advisor: mlx-community/DeepSeek-V3.2-4bit") == 0);
  CHECK(md.find("| `kv_lora_rank` | 512 | MLA latent width |") != std::string::npos);
  const std::string text = famx::advise::render(*r, famx::advise::format::text);
  CHECK(text.find("legal TP degrees: 1, 2, 4, 8") != std::string::npos);
  CHECK(text.find("self_attn.indexer core (key scores)") != std::string::npos);
}
