// Model cards, the advisor report (hotspots, sharding options) and its JSON, parsed back.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "../io/test_files.hpp"
#include "famx/advise/picture.hpp"
#include "famx/advise/render.hpp"
#include "famx/io/model_cards.hpp"
#include "famx/io/tiny_checkpoint.hpp"

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

TEST_CASE("the optimization plan: experiments computed from the hotspot map, each with effect, criterion and guard") {
  auto moe = report_for_id("mlx-community/Qwen3-30B-A3B-4bit", {4096, 2048});
  REQUIRE(moe.has_value());
  const auto& plan = moe->plan;
  REQUIRE(plan.size() >= 3);
  CHECK(plan.size() <= 5);
  for (const auto& e : plan) {
    CAPTURE(e.title);
    CHECK(!e.change.empty());
    CHECK(!e.success.empty());
    CHECK(!e.fidelity.empty());
    CHECK(e.after != e.before);
  }
  // Routed experts dominate decode bytes: int8 activations for them; 48 layers x 8 experts x 3
  // projections x 2 FLOPs x 2048 x 768 weights move to int8 products.
  CHECK(plan[0].title == "int8 activations for the routed experts");
  CHECK(plan[0].before == doctest::Approx(48.0 * 8 * 3 * 2 * 2048 * 768));
  CHECK(plan[0].fidelity.find("tolerance") != std::string::npos);
  // Fused SwiGLU: 48 layers x 8 routed experts, each preparing its input once instead of twice.
  CHECK(plan[1].title.starts_with("fused SwiGLU"));
  CHECK(plan[1].before == 2 * 384);
  CHECK(plan[1].after == 384);
  CHECK(plan[1].fidelity.starts_with("bit-exact"));
  // The smallest legal tensor-parallel degree: 2; every split tensor halves, so per-rank bytes lie
  // between half and all of the total.
  CHECK(plan[2].title == "tensor parallelism over 2 ranks");
  CHECK(plan[2].after < plan[2].before);
  CHECK(plan[2].after > plan[2].before / 2);
  CHECK(plan[2].fidelity.find("bit for bit") != std::string::npos);

  // A bf16 dense model: nothing for qmv_int8 to run, a fused SwiGLU per layer (32 of them).
  auto dense = report_for_id("mlx-community/Meta-Llama-3.1-8B-Instruct-bf16");
  REQUIRE(dense.has_value());
  REQUIRE(!dense->plan.empty());
  CHECK(dense->plan[0].title.starts_with("fused SwiGLU"));
  CHECK(dense->plan[0].after == 32);

  // MLA: the absorbed form's attention FLOPs per token against the naive form's, hand-computed for
  // DeepSeek-V3.2 (61 MLA layers, H 128, kv_lora 512, nope 128, rope 64, v 128) at context 4096.
  auto mla = report_for_id("mlx-community/DeepSeek-V3.2-4bit");
  REQUIRE(mla.has_value());
  const auto it = std::find_if(mla->plan.begin(), mla->plan.end(), [](const auto& e) { return e.title == "MLA in the absorbed form"; });
  REQUIRE(it != mla->plan.end());
  const double H = 128, lora = 512, nope = 128, rope = 64, v = 128, C = 4096;
  CHECK(it->before == doctest::Approx(61 * C * (2 * lora * H * (nope + v) + 2 * H * (nope + rope) + 2 * H * v)));
  CHECK(it->after == doctest::Approx(61 * C * (2 * H * (lora + rope) + 2 * H * lora)));

  const std::string json = famx::advise::render(*moe, famx::advise::format::json);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(json).get(doc) == simdjson::SUCCESS);
  CHECK(simdjson::dom::array(doc["optimization_plan"]).size() == plan.size());
  CHECK(std::string_view(doc["optimization_plan"].at(0)["title"]) == plan[0].title);
  CHECK(simdjson::dom::array(doc["integration_notes"]).size() == moe->integration.size());
  CHECK(doc["checkpoint"].is_null());
  const std::string text = famx::advise::render(*moe, famx::advise::format::text);
  CHECK(text.find("== Optimization plan (") != std::string::npos);
  CHECK(text.find("== Integration notes ==") != std::string::npos);
  const std::string md = famx::advise::render(*moe, famx::advise::format::markdown);
  CHECK(md.find("### 1. int8 activations for the routed experts") != std::string::npos);
}

namespace {
// The notes of report r on `topic` that contain `text`.
bool has_note(const famx::advise::report& r, std::string_view topic, std::string_view text) {
  return std::any_of(r.integration.begin(), r.integration.end(),
                     [&](const auto& n) { return n.topic == topic && n.text.find(text) != std::string::npos; });
}
}  // namespace

TEST_CASE("integration notes: serving files of the checkpoint, placement limits, loading, the family's own pitfalls") {
  famx::test::temp_dir dir;
  REQUIRE(famx::io::make_tiny_checkpoint("qwen3_next", dir.path()).has_value());
  auto r = report_for_id(dir.path().string());
  REQUIRE(r.has_value());
  CHECK(has_note(*r, "tokens", "pass the checkpoint directory"));
  r->add_checkpoint(dir.path());
  CHECK(has_note(*r, "tokens", "EOS token ids 2, 3 (generation_config.json): stop on any of them"));
  CHECK(has_note(*r, "tokens", "BOS token id 1"));
  CHECK(has_note(*r, "tokens", "a chat template is present"));
  CHECK(has_note(*r, "tokens", "thinking tags (<think>) are in the template"));
  CHECK(has_note(*r, "loading", "layout: mlx"));
  CHECK(has_note(*r, "placement", "legal tensor-parallel degrees up to 8: 1, 2, 4"));
  // Pitfalls come from the family's data: its summary (the +1 norm shift) and its keys' notes (conv layout).
  CHECK(has_note(*r, "pitfalls", "+1 on load"));
  CHECK(has_note(*r, "pitfalls", "linear_conv_kernel_dim: HF stores conv1d as [C, 1, K]"));
  const std::string json = famx::advise::render(*r, famx::advise::format::json);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(json).get(doc) == simdjson::SUCCESS);
  CHECK(simdjson::dom::array(doc["checkpoint"]["eos_token_ids"]).size() == 2);
  CHECK(bool(doc["checkpoint"]["thinking_tags"]));

  // KV heads that limit the tensor-parallel degree; Exo's card restrictions.
  auto qwen = report_for_id("mlx-community/Qwen3-30B-A3B-4bit");
  REQUIRE(qwen.has_value());
  CHECK(has_note(*qwen, "placement", "num_key_value_heads = 4 limits tensor parallelism"));
  auto v31 = report_for_id("mlx-community/DeepSeek-V3.1-8bit");
  REQUIRE(v31.has_value());
  CHECK(has_note(*v31, "placement", "blocks pipeline parallelism"));
}

TEST_CASE("the hotspot picture: one group per module, balanced groups, escaped text") {
  auto r = report_for_id("mlx-community/Qwen3-30B-A3B-4bit");
  REQUIRE(r.has_value());
  const std::string svg = famx::advise::render_hotspot_svg(*r);
  auto count = [&](std::string_view s) {
    std::size_t n = 0;
    for (auto at = svg.find(s); at != std::string::npos; at = svg.find(s, at + 1)) ++n;
    return n;
  };
  CHECK(svg.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(svg.ends_with("</svg>\n"));
  CHECK(count("<g class=\"module\"") == r->hot.rows.size());
  CHECK(count("<g ") == count("</g>"));
  CHECK(count("<rect ") == 1 + 4 * r->hot.rows.size());  // the background and four bars per module
  CHECK(famx::svg::escape("a<b & \"c\"\x01") == "a&lt;b &amp; &quot;c&quot;");
}
