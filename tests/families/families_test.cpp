// Every family on a real (or built-in) config: layer kinds, tensor shapes, exact parameter counts
// against the published totals, and storage under MLX quantization against the Exo cards.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "famx/io/builtin_models.hpp"
#include "famx/io/storage.hpp"
#include "shared_configs.hpp"

using famx_test::load_shared;
using famx_test::matches_published;

namespace {
const famx::surface::tensor_entry& tensor(const famx::families::model_description& d, std::string_view name) {
  auto it = std::find_if(d.tensors.begin(), d.tensors.end(), [&](const auto& t) { return t.name == name; });
  REQUIRE_MESSAGE(it != d.tensors.end(), "no tensor " << name);
  return *it;
}
bool has_tensor(const famx::families::model_description& d, std::string_view name) {
  return std::any_of(d.tensors.begin(), d.tensors.end(), [&](const auto& t) { return t.name == name; });
}
famx::io::loaded_model builtin(std::string_view key) {
  const auto* b = famx::io::find_builtin(key);
  REQUIRE(b != nullptr);
  auto m = famx::io::parse_model_config(b->config_json, std::string(key));
  REQUIRE_MESSAGE(m.has_value(), (m.has_value() ? "" : m.err().message()));
  return std::move(*m);
}
std::int64_t stored(const famx::families::model_description& d, int bits) {
  std::optional<famx::io::quantization_config> q;
  if (bits) q = famx::io::convert_quantization(bits);
  return famx::io::total_bytes(famx::io::storage_table(d, q));
}
constexpr double B = 1e9;
}  // namespace

TEST_CASE("llama: Llama 3.2 1B / 3B (tied) and 3.1 8B / 70B") {
  if (auto m = load_shared("meta-llama--Llama-3.2-1B-Instruct")) {
    const auto& d = m->description;
    CHECK(d.family == "llama");
    CHECK(d.tied);
    CHECK_FALSE(has_tensor(d, "lm_head.weight"));
    CHECK(d.layers.size() == 16);
    CHECK(tensor(d, "model.layers.0.self_attn.q_proj.weight").dims == famx::shape{2048, 2048});
    CHECK(tensor(d, "model.layers.15.self_attn.k_proj.weight").dims == famx::shape{512, 2048});
    CHECK(tensor(d, "model.layers.15.self_attn.k_proj.weight").dims_text == "[num_key_value_heads*head_dim, hidden_size]");
    CHECK(tensor(d, "model.layers.3.mlp.down_proj.weight").dims == famx::shape{2048, 8192});
    CHECK(d.tensors.size() == 1 + 16 * 9 + 1);
    CHECK(d.total_params() == 1235814400);
    CHECK(matches_published(d.total_params(), 1.24, B, 2));
    CHECK(d.active_params() == d.total_params());
  }
  if (auto m = load_shared("meta-llama--Llama-3.2-3B-Instruct")) {
    CHECK(m->description.total_params() == 3212749824);
    CHECK(matches_published(m->description.total_params(), 3.21, B, 2));
  }
  if (auto m = load_shared("meta-llama--Llama-3.1-8B-Instruct")) {
    const auto& d = m->description;
    CHECK_FALSE(d.tied);
    CHECK(d.dim("head_dim") == 128);  // derived: hidden_size / num_attention_heads
    CHECK(tensor(d, "lm_head.weight").dims == famx::shape{128256, 4096});
    CHECK(d.total_params() == 8030261248);
    CHECK(matches_published(d.total_params(), 8.03, B, 2));
  }
  if (auto m = load_shared("meta-llama--Llama-3.1-70B-Instruct")) {
    const auto& d = m->description;
    CHECK(d.total_params() == 70553706496);
    CHECK(matches_published(d.total_params(), 70.6, B, 1));
    // Same architecture as the Llama-3.1-Nemotron-70B cards (spec exo-sharding 4.2): exact bytes.
    CHECK(stored(d, 4) == 39688355840);
    CHECK(stored(d, 8) == 74964549632);
    CHECK(stored(d, 0) == 141107412992);
  }
}

TEST_CASE("qwen3: Qwen3-0.6B with q_norm / k_norm and tied embeddings") {
  auto m = load_shared("Qwen--Qwen3-0.6B");
  if (!m) return;
  const auto& d = m->description;
  CHECK(d.family == "qwen3");
  CHECK(d.strategy == "QwenShardingStrategy");
  CHECK(tensor(d, "model.layers.0.self_attn.q_proj.weight").dims == famx::shape{2048, 1024});  // H*hd != D
  CHECK(tensor(d, "model.layers.0.self_attn.o_proj.weight").dims == famx::shape{1024, 2048});
  CHECK(tensor(d, "model.layers.27.self_attn.q_norm.weight").dims == famx::shape{128});
  CHECK(tensor(d, "model.layers.27.self_attn.k_norm.weight").kind == famx::surface::module_kind::rms_norm);
  CHECK(d.total_params() == 596049920);
  CHECK(matches_published(d.total_params(), 0.6, B, 1));
  CHECK(matches_published(d.total_params() - d.embedding_params(), 0.44, B, 2));
}

TEST_CASE("qwen3_moe: Qwen3-30B-A3B and 235B-A22B, 8-bit routers") {
  if (auto m = load_shared("Qwen--Qwen3-30B-A3B")) {
    const auto& d = m->description;
    CHECK(d.family == "qwen3_moe");
    CHECK(std::all_of(d.layers.begin(), d.layers.end(), [](const auto& l) { return l.mlp == "moe"; }));
    CHECK(tensor(d, "model.layers.0.mlp.gate.weight").dims == famx::shape{128, 2048});
    CHECK(tensor(d, "model.layers.0.mlp.gate.weight").rule == famx::surface::quant_rule::router_8bit);
    const auto& up = tensor(d, "model.layers.47.mlp.switch_mlp.up_proj.weight");
    CHECK(up.dims == famx::shape{128, 768, 2048});
    CHECK(up.routed_experts == 128);
    CHECK(tensor(d, "model.layers.47.mlp.switch_mlp.down_proj.weight").dims == famx::shape{128, 2048, 768});
    CHECK(d.total_params() == 30532122624);
    CHECK(d.active_params() == 3353032704);
    CHECK(matches_published(d.total_params(), 30.5, B, 1));
    CHECK(matches_published(d.active_params(), 3.3, B, 1));
    famx::io::quantization_config q = famx::io::convert_quantization(4);
    const auto table = famx::io::storage_table(d, q);
    auto gate = std::find_if(table.begin(), table.end(), [](auto& s) { return s.tensor->name == "model.layers.0.mlp.gate.weight"; });
    REQUIRE(gate != table.end());
    CHECK(gate->format == famx::quant::affine_format{8, 64});
    CHECK(gate->bytes == 128 * (2048 + 2 * 2 * 32));
  }
  if (auto m = load_shared("Qwen--Qwen3-235B-A22B")) {
    CHECK(matches_published(m->description.total_params(), 235, B, 0));
    CHECK(matches_published(m->description.active_params(), 22, B, 0));
  }
}

TEST_CASE("qwen3_next: hybrid linear / full attention, shared expert, exact active count") {
  auto m = load_shared("Qwen--Qwen3-Next-80B-A3B-Instruct");
  if (!m) return;
  const auto& d = m->description;
  CHECK(d.family == "qwen3_next");
  CHECK(d.layers[0].attention == "linear_attention");
  CHECK(d.layers[3].attention == "full_attention");
  CHECK(std::count_if(d.layers.begin(), d.layers.end(), [](auto& l) { return l.attention == "full_attention"; }) == 12);
  CHECK(tensor(d, "model.layers.0.linear_attn.in_proj_qkvz.weight").dims == famx::shape{12288, 2048});
  CHECK(tensor(d, "model.layers.0.linear_attn.in_proj_ba.weight").dims == famx::shape{64, 2048});
  CHECK(tensor(d, "model.layers.0.linear_attn.conv1d.weight").dims == famx::shape{8192, 4, 1});
  CHECK(tensor(d, "model.layers.0.linear_attn.A_log").dims == famx::shape{32});
  CHECK(tensor(d, "model.layers.0.linear_attn.norm.weight").dims == famx::shape{128});
  CHECK(tensor(d, "model.layers.0.linear_attn.out_proj.weight").dims == famx::shape{2048, 4096});
  CHECK(tensor(d, "model.layers.3.self_attn.q_proj.weight").dims == famx::shape{8192, 2048});  // query + gate
  CHECK_FALSE(has_tensor(d, "model.layers.3.linear_attn.A_log"));
  CHECK(tensor(d, "model.layers.3.mlp.shared_expert_gate.weight").dims == famx::shape{1, 2048});
  CHECK(tensor(d, "model.layers.3.mlp.shared_expert.down_proj.weight").dims == famx::shape{2048, 512});
  CHECK(d.total_params() == 79674391296);
  CHECK(matches_published(d.total_params(), 80, B, 0));
  CHECK(d.active_params() == 3874929408);  // the "A3B" headline is rounded; counted exactly
}

TEST_CASE("deepseek_v3: DeepSeek-V3 671B / 37B without the MTP layer; storage equals the Exo cards") {
  auto m = load_shared("deepseek-ai--DeepSeek-V3");
  if (!m) return;
  const auto& d = m->description;
  CHECK(d.family == "deepseek_v3");
  CHECK(m->source_quantization == "fp8");
  CHECK(d.layers.size() == 61);
  CHECK(d.layers[2].mlp == "dense");
  CHECK(d.layers[3].mlp == "moe");
  CHECK(tensor(d, "model.layers.0.self_attn.q_b_proj.weight").dims == famx::shape{24576, 1536});
  CHECK(tensor(d, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight").dims == famx::shape{576, 7168});
  // kv_b_proj [128 * 256, 512] as mlx-lm holds it: split per head.
  CHECK(tensor(d, "model.layers.0.self_attn.embed_q.weight").dims == famx::shape{128, 512, 128});
  CHECK(tensor(d, "model.layers.0.self_attn.unembed_out.weight").dims == famx::shape{128, 128, 512});
  CHECK(tensor(d, "model.layers.0.self_attn.o_proj.weight").dims == famx::shape{7168, 16384});
  CHECK(tensor(d, "model.layers.0.mlp.gate_proj.weight").dims == famx::shape{18432, 7168});
  const auto& bias = tensor(d, "model.layers.3.mlp.gate.e_score_correction_bias");
  CHECK(bias.float_dtype == famx::dtype::f32);
  CHECK(tensor(d, "model.layers.3.mlp.gate.weight").rule == famx::surface::quant_rule::never);
  CHECK(tensor(d, "model.layers.3.mlp.shared_experts.up_proj.weight").dims == famx::shape{2048, 7168});
  CHECK_FALSE(has_tensor(d, "model.layers.61.input_layernorm.weight"));
  CHECK(d.total_params() == 671026419200);
  CHECK(matches_published(d.total_params(), 671, B, 0));
  CHECK(d.active_params() == 37552297472);
  CHECK(matches_published(d.active_params(), 37, B, 0));
  // Exo cards: DeepSeek-V3.1-Base-4bit / Terminus-4bit, DeepSeek-V3-0324-5bit.
  CHECK(stored(d, 4) == 377606852608);
  CHECK(stored(d, 5) == 461471723520);
}

TEST_CASE("deepseek_v32, glm4_moe, ministral3 on built-in figures") {
  {
    const auto m = builtin("DeepSeek-V3.2");
    const auto& d = m.description;
    CHECK(d.family == "deepseek_v32");
    CHECK(tensor(d, "model.layers.0.self_attn.indexer.wq_b.weight").dims == famx::shape{8192, 1536});
    CHECK(tensor(d, "model.layers.0.self_attn.indexer.wk.weight").dims == famx::shape{128, 7168});
    CHECK(tensor(d, "model.layers.0.self_attn.indexer.k_norm.bias").kind == famx::surface::module_kind::layer_norm);
    CHECK(tensor(d, "model.layers.0.self_attn.indexer.weights_proj.weight").dims == famx::shape{64, 7168});
    CHECK(stored(d, 4) == 378085857792);  // Exo card DeepSeek-V3.2-4bit
  }
  {
    const auto m = builtin("GLM-4.5-Air");
    const auto& d = m.description;
    CHECK(d.family == "glm4_moe");
    CHECK(d.strategy == "Glm4MoeShardingStrategy");
    CHECK(d.layers[0].mlp == "dense");
    CHECK(d.layers[1].mlp == "moe");
    CHECK(has_tensor(d, "model.layers.1.self_attn.q_proj.bias"));
    CHECK_FALSE(has_tensor(d, "model.layers.1.self_attn.o_proj.bias"));
    CHECK_FALSE(has_tensor(d, "model.layers.1.self_attn.q_norm.weight"));  // use_qk_norm false
    CHECK(tensor(d, "model.layers.1.mlp.switch_mlp.gate_proj.weight").dims == famx::shape{128, 1408, 4096});
    CHECK(tensor(d, "model.layers.1.mlp.gate.e_score_correction_bias").dims == famx::shape{128});
    CHECK(matches_published(d.total_params(), 106, B, 0));
  }
  {
    const auto m = builtin("Ministral-3-8B");
    const auto& d = m.description;
    CHECK(d.family == "ministral3");
    CHECK(d.strategy == "LlamaShardingStrategy");
    CHECK(tensor(d, "model.layers.33.self_attn.k_proj.weight").dims == famx::shape{1024, 4096});
    CHECK(tensor(d, "lm_head.weight").dims == famx::shape{131072, 4096});
  }
}

TEST_CASE("built-in figures describe the same models as the real configs") {
  const std::pair<const char*, const char*> pairs[] = {
      {"Llama-3.2-1B", "meta-llama--Llama-3.2-1B-Instruct"}, {"Llama-3.2-3B", "meta-llama--Llama-3.2-3B-Instruct"},
      {"Llama-3.1-8B", "meta-llama--Llama-3.1-8B-Instruct"}, {"Llama-3.1-70B", "meta-llama--Llama-3.1-70B-Instruct"},
      {"Qwen3-0.6B", "Qwen--Qwen3-0.6B"}, {"Qwen3-30B-A3B", "Qwen--Qwen3-30B-A3B"},
      {"Qwen3-235B-A22B", "Qwen--Qwen3-235B-A22B"}, {"Qwen3-Next-80B-A3B", "Qwen--Qwen3-Next-80B-A3B-Instruct"},
      {"DeepSeek-V3", "deepseek-ai--DeepSeek-V3"}};
  for (const auto& pair : pairs) {
    const char* key = pair.first;  // not a structured binding: clang 14 cannot capture those
    const char* file = pair.second;
    auto real = load_shared(file);
    if (!real) continue;
    const auto b = builtin(key);
    CAPTURE(key);
    REQUIRE(b.description.tensors.size() == real->description.tensors.size());
    for (std::size_t i = 0; i < b.description.tensors.size(); ++i) {
      CHECK(b.description.tensors[i].name == real->description.tensors[i].name);
      CHECK(b.description.tensors[i].dims == real->description.tensors[i].dims);
    }
    CHECK(b.description.config == real->description.config);
  }
}

TEST_CASE("every real config in the shared folder parses and validates") {
  const auto dir = std::filesystem::path(FAMX_SHARED_DIR) / "configs";
  if (!std::filesystem::is_directory(dir)) {
    MESSAGE("skipped: " << dir.string() << " is absent");
    return;
  }
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    CAPTURE(e.path().string());
    auto m = famx::io::load_model_config(e.path());
    CHECK_MESSAGE(m.has_value(), (m.has_value() ? "" : m.err().message()));
    ++n;
  }
  CHECK(n >= 11);
}
