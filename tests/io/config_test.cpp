// config.json parsing: family identification, mlx-lm defaults, and every error path with its message.
#include <doctest/doctest.h>

#include <string>

#include "famx/io/config.hpp"
#include "famx/io/storage.hpp"

using famx::errc;
using famx::io::parse_model_config;

namespace {
// A valid Llama config with `extra` spliced in before the closing brace.
std::string llama_json(const std::string& extra = "") {
  return R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":256,"num_hidden_layers":2,
    "intermediate_size":512,"num_attention_heads":8,"rms_norm_eps":1e-5,"vocab_size":1000)" + extra + "}";
}
std::string moe_json(const std::string& experts, const std::string& k) {
  return R"({"model_type":"qwen3_moe","hidden_size":256,"num_hidden_layers":2,"intermediate_size":512,
    "num_attention_heads":8,"num_key_value_heads":4,"head_dim":32,"num_experts":)" + experts +
         R"(,"num_experts_per_tok":)" + k + R"(,"decoder_sparse_step":1,"mlp_only_layers":[],
    "moe_intermediate_size":128,"rms_norm_eps":1e-6,"vocab_size":1000,"rope_theta":1e6,"tie_word_embeddings":false,
    "max_position_embeddings":4096,"norm_topk_prob":true})";
}
std::string deepseek_json(const std::string& extra) {
  return R"({"architectures":["DeepseekV3ForCausalLM"],"model_type":"deepseek_v3","hidden_size":512,
    "num_hidden_layers":3,"n_routed_experts":16,"n_shared_experts":1,"num_experts_per_tok":4,
    "first_k_dense_replace":1,"q_lora_rank":null)" + extra + "}";
}
famx::error err(const std::string& json, std::string file = "config.json") {
  auto m = parse_model_config(json, std::move(file));
  REQUIRE_FALSE(m.has_value());
  return m.err();
}
}  // namespace

TEST_CASE("mlx-lm defaults fill absent keys") {
  auto m = parse_model_config(llama_json(), "config.json");
  REQUIRE(m.has_value());
  const auto& d = m->description;
  CHECK(d.family == "llama");
  CHECK(d.dim("num_key_value_heads") == 8);  // None -> num_attention_heads
  CHECK(d.dim("head_dim") == 32);            // None -> hidden_size / num_attention_heads
  CHECK(d.tied);                             // tie_word_embeddings defaults to true in mlx-lm's llama
  CHECK(*d.number("rope_theta") == 10000);
  CHECK_FALSE(m->quantization.has_value());

  auto ds = parse_model_config(deepseek_json(""), "ds.json");
  REQUIRE(ds.has_value());
  CHECK(ds->description.dim("kv_lora_rank") == 512);   // defaults of deepseek_v3.ModelArgs
  CHECK(ds->description.dim("qk_rope_head_dim") == 64);
  CHECK(ds->description.dim("moe_intermediate_size") == 1407);
  CHECK(ds->description.tensors[1].name == "model.layers.0.input_layernorm.weight");
  CHECK(ds->description.tensors[2].name == "model.layers.0.self_attn.q_proj.weight");  // q_lora_rank null
}

TEST_CASE("the registry: architectures[0] first, then model_type with mlx-lm's aliases") {
  using famx::families::builtin;
  auto family = [](std::string_view arch, std::string_view type) { return builtin::name(builtin::find(arch, type).value()); };
  CHECK(family("DeepseekV3ForCausalLM", "kimi_k2") == "deepseek_v3");
  CHECK(family("", "kimi_k2") == "deepseek_v3");
  CHECK(family("", "mistral") == "llama");
  CHECK(family("MistralForCausalLM", "") == "llama");
  CHECK(family("Qwen3NextForCausalLM", "qwen3_next") == "qwen3_next");
  CHECK(family("SomethingNew", "glm4_moe") == "glm4_moe");
  CHECK(builtin::name(builtin::index_of("deepseek_v32")) == "deepseek_v32");
  CHECK(builtin::index_of("gpt2") == builtin::size);
  auto kimi = parse_model_config(
      R"({"architectures":["DeepseekV3ForCausalLM"],"model_type":"kimi_k2","num_attention_heads":64,"n_routed_experts":384,
          "num_experts_per_tok":8,"num_hidden_layers":2})",
      "kimi.json");
  REQUIRE(kimi.has_value());
  CHECK(kimi->description.family == "deepseek_v3");
  CHECK(kimi->description.model_type == "kimi_k2");
}

TEST_CASE("the family is the one model_type names (as mlx-lm selects it); unknown ones list the supported ones") {
  const auto e = err(R"({"architectures":["GPT2LMHeadModel"],"model_type":"gpt2"})", "gpt2.json");
  CHECK(e.code() == errc::unknown_family);
  CHECK(e.message().starts_with(
      "gpt2.json: model_type: found \"gpt2\" (architectures.0 \"GPT2LMHeadModel\"), expected an "
      "architecture in {LlamaForCausalLM, MistralForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, "
      "Qwen3NextForCausalLM, DeepseekV3ForCausalLM, DeepseekV32ForCausalLM, Glm4MoeForCausalLM, "
      "Ministral3ForCausalLM} or a model_type in {llama, mistral, qwen3, qwen3_moe, qwen3_next, deepseek_v3, "
      "kimi_k2, joyai_llm_flash, deepseek_v32, glm4_moe, ministral3}"));
  CHECK(err(R"({"hidden_size":1})").message() ==
        "config.json: model_type: found no such key, expected a model_type string naming the family (mlx-lm selects the model by it)");
  // A known architecture does not rescue an unknown or empty model_type.
  CHECK(err(R"({"architectures":["LlamaForCausalLM"],"model_type":"llama2"})").code() == errc::unknown_family);
  CHECK(err(R"({"architectures":["LlamaForCausalLM"],"model_type":""})").code() == errc::unknown_family);
  CHECK(err(R"({"architectures":["LlamaForCausalLM"]})").message().find("model_type: found no such key (architectures.0 is") !=
        std::string::npos);
  // An architecture of another family contradicts model_type.
  const auto c = err(R"({"architectures":["Qwen3ForCausalLM"],"model_type":"llama"})");
  CHECK(c.code() == errc::inconsistent);
  CHECK(c.path() == "architectures.0");
}

TEST_CASE("hostile configs: trailing JSON, duplicate keys, out-of-range and non-positive values, incomplete RoPE") {
  // Two objects back to back: the second is not ignored.
  CHECK(err(llama_json() + R"({"model_type":"qwen3"})").message() ==
        "config.json: found more JSON after the root object, expected one JSON object (config.json holds one)");
  // A key given twice takes its last value, as Python's json (and so mlx-lm) does, in either order.
  for (const auto& twice : {std::string(R"(,"rope_theta":1.0,"rope_theta":500000.0)"), std::string(R"(,"rope_theta":500000.0)")}) {
    auto m = parse_model_config(R"({"rope_theta":7.0,)" + llama_json(twice).substr(1), "config.json");
    REQUIRE(m.has_value());
    CHECK(*m->description.number("rope_theta") == 500000.0);
  }
  // Sizes famx would overflow or spin on, and the -1 that used to mean "absent".
  CHECK(err(llama_json(R"(,"head_dim":-1)")).message().starts_with("config.json: head_dim: found -1, expected an integer in [0, "));
  CHECK(err(R"({"model_type":"llama","hidden_size":256,"num_hidden_layers":100000,"intermediate_size":512,
    "num_attention_heads":8,"rms_norm_eps":1e-5,"vocab_size":1000})").path() == "num_hidden_layers");
  CHECK(err(R"({"model_type":"llama","hidden_size":256,"num_hidden_layers":2147483648,"intermediate_size":512,
    "num_attention_heads":8,"rms_norm_eps":1e-5,"vocab_size":1000})").path() == "num_hidden_layers");
  CHECK(err(moe_json("2147483648", "2")).path() == "num_experts");
  CHECK(err(deepseek_json(R"(,"n_routed_experts":2147483648)")).path() == "n_routed_experts");
  // Values that make the forward NaN.
  CHECK(err(llama_json(R"(,"rope_theta":-1)")).message() == "config.json: rope_theta: found -1, expected a positive number");
  CHECK(err(R"({"model_type":"llama","hidden_size":256,"num_hidden_layers":2,"intermediate_size":512,
    "num_attention_heads":8,"rms_norm_eps":-1,"vocab_size":1000})").path() == "rms_norm_eps");
  // A RoPE variant without the key mlx-lm reads for it.
  const auto y = err(llama_json(R"(,"rope_scaling":{"rope_type":"yarn"})"));
  CHECK(y.code() == errc::missing);
  CHECK(y.path() == "rope_scaling.factor");
  CHECK(err(llama_json(R"(,"rope_scaling":{"rope_type":"longrope","factor":4})")).path() == "rope_scaling.rope_type");
  CHECK(err(llama_json(R"(,"rope_scaling":{"rope_type":"linear","factor":0})")).path() == "rope_scaling.factor");
  // Llama 3's frequency bands must not be empty or reversed (the smoothing would divide by zero).
  CHECK(err(llama_json(R"(,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":4})"))
            .path() == "rope_scaling.high_freq_factor");
}

TEST_CASE("phase 1 errors: missing required key, wrong type, malformed JSON, unreadable file") {
  auto e = err(R"({"model_type":"llama","hidden_size":256,"num_hidden_layers":2,"intermediate_size":512,
                   "num_attention_heads":8,"vocab_size":1000})");
  CHECK(e.code() == errc::missing);
  CHECK(e.message() == "config.json: rms_norm_eps: found no such key, expected a required key holding a number "
                       "(mlx-lm's ModelArgs has no default for it)");
  e = err(llama_json(R"(,"num_key_value_heads":"eight")"));
  CHECK(e.code() == errc::wrong_type);
  CHECK(e.message() == "config.json: num_key_value_heads: found \"eight\", expected an integer or null");
  e = err(llama_json(R"(,"rope_scaling":{"factor":"big"})"));
  CHECK(e.message() == "config.json: rope_scaling.factor: found \"big\", expected a number or null");
  e = err(llama_json(R"(,"layer_types":["full_attention",3])"));
  CHECK(e.message() == "config.json: layer_types.1: found 3, expected a string");
  e = err(R"({"model_type":"llama","hidden_size":)");
  CHECK(e.code() == errc::syntax);
  CHECK(e.message().starts_with("config.json: found JSON error: "));
  auto missing = famx::io::load_model_config("/nonexistent/famx/config.json");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.err().code() == errc::io);
  CHECK(missing.err().message() == "/nonexistent/famx/config.json: found a file that cannot be opened (No such file or directory), "
                                    "expected a readable config.json");
}

TEST_CASE("phase 2 errors: inconsistent values name the key and the expectation") {
  auto e = err(R"({"model_type":"llama","hidden_size":250,"num_hidden_layers":2,"intermediate_size":512,
             "num_attention_heads":8,"rms_norm_eps":1e-5,"vocab_size":1000})");
  CHECK(e.code() == errc::inconsistent);
  CHECK(e.message() == "config.json: num_attention_heads: found 8, expected a divisor of hidden_size = 250 "
                       "(head_dim is absent, so head_dim = hidden_size / num_attention_heads)");
  e = err(llama_json(R"(,"num_key_value_heads":3)"));
  CHECK(e.message() == "config.json: num_key_value_heads: found 3, expected a divisor of num_attention_heads = 8");
  e = err(moe_json("8", "10"), "moe.json");
  CHECK(e.message() == "moe.json: num_experts_per_tok: found 10, expected at most num_experts = 8");
  e = err(deepseek_json(R"(,"n_group":3)"), "ds.json");
  CHECK(e.code() == errc::inconsistent);
  CHECK(e.message() == "ds.json: n_routed_experts: found 16, expected a multiple of n_group = 3");
  CHECK(parse_model_config(deepseek_json(R"(,"n_group":4,"topk_group":1)"), "ds.json").has_value());  // 4 <= 1*16/4
  e = err(deepseek_json(R"(,"n_group":4,"topk_group":1,"num_experts_per_tok":6)"), "ds.json");
  CHECK(e.message() == "ds.json: num_experts_per_tok: found 6, expected at most topk_group * n_routed_experts / n_group = 4");
  e = err(deepseek_json(R"(,"n_group":4,"topk_group":5)"), "ds.json");
  CHECK(e.message() == "ds.json: topk_group: found 5, expected at most n_group = 4");
  e = err(deepseek_json(R"(,"num_experts_per_tok":20)"), "ds.json");
  CHECK(e.message() == "ds.json: num_experts_per_tok: found 20, expected at most n_routed_experts = 16");
  e = err(deepseek_json(R"(,"topk_method":"greedy")"), "ds.json");
  CHECK(e.code() == errc::unsupported);
  e = err(moe_json("8", "2").replace(moe_json("8", "2").find("\"mlp_only_layers\":[]"), 20, "\"mlp_only_layers\":[5]"));
  CHECK(e.message() == "config.json: mlp_only_layers.0: found 5, expected a layer index in [0, num_hidden_layers = 2)");
  e = err(R"({"model_type":"deepseek_v32","q_lora_rank":null})");
  CHECK(e.message() == "config.json: q_lora_rank: found null, expected an integer (deepseek_v32 has no q_proj path)");
}

TEST_CASE("the MLX quantization dict: global format, per-module overrides, false") {
  auto m = parse_model_config(llama_json(R"(,"quantization":{"group_size":64,"bits":4,
      "model.layers.0.mlp.down_proj":{"group_size":32,"bits":8},"lm_head":false,"model.embed_tokens":{"bits":6}},
      "quantization_config":{"group_size":64,"bits":4})"),
                              "q.json");
  REQUIRE(m.has_value());
  REQUIRE(m->quantization.has_value());
  const auto& q = *m->quantization;
  CHECK(q.global == famx::quant::affine_format{4, 64});
  REQUIRE(q.overrides.size() == 3);
  CHECK(q.find("model.layers.0.mlp.down_proj")->format == famx::quant::affine_format{8, 32});
  CHECK_FALSE(q.find("lm_head")->format.has_value());
  CHECK(q.find("model.embed_tokens")->format == famx::quant::affine_format{6, 64});  // group from the global
  const auto table = famx::io::storage_table(m->description, q);
  for (const auto& s : table) {
    if (s.tensor->name == "model.layers.0.mlp.down_proj.weight") CHECK(s.format == famx::quant::affine_format{8, 32});
    if (s.tensor->name == "model.layers.1.mlp.down_proj.weight") CHECK(s.format == famx::quant::affine_format{4, 64});
    if (s.tensor->name == "model.layers.1.input_layernorm.weight") CHECK_FALSE(s.format.has_value());
  }

  auto e = err(llama_json(R"(,"quantization":{"group_size":64,"bits":7})"));
  CHECK(e.code() == errc::invalid_value);
  CHECK(e.message() == "config.json: quantization.bits: found 7, expected one of 2, 3, 4, 5, 6, 8");
  e = err(llama_json(R"(,"quantization":{"group_size":64,"bits":4,"model.layers.0.mlp.up_proj":{"group_size":48}})"));
  CHECK(e.message() == "config.json: quantization.model.layers.0.mlp.up_proj.group_size: found 48, expected one of 32, 64, 128");
  e = err(llama_json(R"(,"quantization":{"group_size":32,"bits":4,"mode":"mxfp4"})"));
  CHECK(e.code() == errc::unsupported);
  e = err(llama_json(R"(,"quantization":{"group_size":64})"));
  CHECK(e.message() == "config.json: quantization.bits: found no such key, expected both group_size and bits in the MLX quantization dict");
  e = err(llama_json(R"(,"quantization":{"group_size":64,"bits":4,"lm_head":true})"));
  CHECK(e.message() == "config.json: quantization.lm_head: found true, expected false or a {group_size, bits} object");
  // Bits that do not fit an int are not truncated (4294967300 would be 4); -1 is not "the global value".
  e = err(llama_json(R"(,"quantization":{"group_size":64,"bits":4294967300})"));
  CHECK(e.message() == "config.json: quantization.bits: found 4294967300, expected an integer in [-2147483648, 2147483647]");
  e = err(llama_json(R"(,"quantization":{"group_size":64,"bits":4,"model.layers.0.mlp.up_proj":{"bits":-1,"group_size":-1}})"));
  CHECK(e.message() == "config.json: quantization.model.layers.0.mlp.up_proj.bits: found -1, expected one of 2, 3, 4, 5, 6, 8");
  // A module given twice takes its last entry.
  auto twice = parse_model_config(llama_json(R"(,"quantization":{"group_size":64,"bits":4,
      "model.layers.0.mlp.up_proj":{"bits":8},"model.layers.0.mlp.up_proj":false})"), "q.json");
  REQUIRE(twice.has_value());
  REQUIRE(twice->quantization->overrides.size() == 1);
  CHECK_FALSE(twice->quantization->find("model.layers.0.mlp.up_proj")->format.has_value());
}

TEST_CASE("mistral3 wraps a ministral3 (or llama) text model in text_config") {
  const std::string text = R"("hidden_size":256,"num_hidden_layers":2,"intermediate_size":512,"num_attention_heads":8,
      "rms_norm_eps":1e-5,"vocab_size":1000,"rope_parameters":{"rope_type":"yarn","rope_theta":1e6,"factor":16})";
  auto wrapped = [&](const std::string& inner) {
    return R"({"architectures":["Mistral3ForConditionalGeneration"],"model_type":"mistral3","vision_config":{"hidden_size":1024},
      "text_config":{)" + inner + "}}";
  };
  auto m = parse_model_config(wrapped(R"("model_type":"ministral3",)" + text), "m3.json");
  REQUIRE_MESSAGE(m.has_value(), (m.has_value() ? "" : m.err().message()));
  CHECK(m->description.family == "ministral3");
  CHECK(m->wrapper == "mistral3");
  CHECK_FALSE(m->description.tied);  // the wrapper defaults tie_word_embeddings to false
  CHECK(m->description.tensors.back().name == "lm_head.weight");
  auto l = parse_model_config(wrapped(R"("model_type":"mistral",)" + text), "m3.json");
  REQUIRE(l.has_value());
  CHECK(l->description.family == "llama");

  auto e = err(wrapped(R"("model_type":"ministral3","num_key_value_heads":3,)" + text), "m3.json");
  CHECK(e.message() == "m3.json: text_config.num_key_value_heads: found 3, expected a divisor of num_attention_heads = 8");
  e = err(wrapped(R"("model_type":"ministral3","hidden_size":"wide")"), "m3.json");
  CHECK(e.message() == "m3.json: text_config.hidden_size: found \"wide\", expected an integer");
  e = err(R"({"model_type":"mistral3"})", "m3.json");
  CHECK(e.message() == "m3.json: text_config: found no such key, expected the text model's config (mistral3 wraps it)");
}
