#pragma once
// Tiny, format-faithful MLX checkpoints of every family, for tests and demos: a config.json of the
// family's real shape at toy size (with the MLX `quantization` key written as mlx_lm.convert writes
// it, duplicated as `quantization_config`), and safetensors files holding every tensor of the
// family surface with deterministic random values, quantized as real MLX affine triplets
// (uint32 codes, bf16 scales and biases) where mlx-lm would quantize them, optionally sharded with
// a model.safetensors.index.json. Every size is chosen so that tensor-parallel degrees 2 and 4
// divide heads, KV heads, experts and intermediate sizes, and row-parallel splits over 4 ranks
// cut 64-wide groups on their boundaries.

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "famx/io/builtin_models.hpp"
#include "famx/io/config.hpp"
#include "famx/io/mlx_surface.hpp"
#include "famx/io/safetensors_writer.hpp"
#include "famx/io/storage.hpp"
#include "famx/quant/quantize.hpp"

namespace famx::io {

// A tiny config for every family (and kimi_k2, which is a deepseek_v3 by model_type), keyed by the
// name `famx make-tiny` takes; no quantization key (make_tiny_checkpoint adds it).
inline constexpr std::array<builtin_model, 9> tiny_models = {{
    {"llama", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"num_attention_heads":8,"num_key_value_heads":4,
      "head_dim":32,"rms_norm_eps":1e-05,"vocab_size":512,"max_position_embeddings":2048,
      "rope_theta":500000.0,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
      "original_max_position_embeddings":256,"rope_type":"llama3"},"tie_word_embeddings":false})"},
    {"qwen3", R"({"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"num_attention_heads":8,"num_key_value_heads":4,
      "head_dim":32,"rms_norm_eps":1e-06,"vocab_size":512,"max_position_embeddings":4096,
      "rope_theta":1000000,"rope_scaling":null,"tie_word_embeddings":true})"},
    {"qwen3_moe", R"({"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3_moe","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"num_attention_heads":8,"num_key_value_heads":4,
      "head_dim":32,"num_experts":8,"num_experts_per_tok":2,"decoder_sparse_step":1,"mlp_only_layers":[0],
      "moe_intermediate_size":256,"norm_topk_prob":true,"rms_norm_eps":1e-06,"vocab_size":512,
      "max_position_embeddings":4096,"rope_theta":1000000.0,"rope_scaling":null,"tie_word_embeddings":false})"},
    {"qwen3_next", R"({"architectures":["Qwen3NextForCausalLM"],"model_type":"qwen3_next","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"num_attention_heads":8,"num_key_value_heads":4,
      "head_dim":64,"linear_num_key_heads":4,"linear_num_value_heads":8,"linear_key_head_dim":32,
      "linear_value_head_dim":32,"linear_conv_kernel_dim":4,"num_experts":8,"num_experts_per_tok":2,
      "decoder_sparse_step":1,"mlp_only_layers":[],"moe_intermediate_size":256,
      "shared_expert_intermediate_size":256,"norm_topk_prob":true,"full_attention_interval":2,
      "partial_rotary_factor":0.25,"rms_norm_eps":1e-06,"vocab_size":512,"max_position_embeddings":4096,
      "rope_theta":10000000,"rope_scaling":null,"tie_word_embeddings":false})"},
    {"deepseek_v3", R"({"architectures":["DeepseekV3ForCausalLM"],"model_type":"deepseek_v3","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"moe_intermediate_size":256,"num_attention_heads":8,
      "num_key_value_heads":8,"n_shared_experts":1,"n_routed_experts":8,"routed_scaling_factor":2.5,
      "kv_lora_rank":128,"q_lora_rank":128,"qk_rope_head_dim":32,"v_head_dim":64,"qk_nope_head_dim":64,
      "topk_method":"noaux_tc","scoring_func":"sigmoid","norm_topk_prob":true,"n_group":4,"topk_group":2,
      "num_experts_per_tok":2,"moe_layer_freq":1,"first_k_dense_replace":1,"max_position_embeddings":4096,
      "rms_norm_eps":1e-06,"rope_theta":10000,"rope_scaling":{"beta_fast":32,"beta_slow":1,"factor":40,
      "mscale":1.0,"mscale_all_dim":1.0,"original_max_position_embeddings":128,"type":"yarn"},
      "vocab_size":512,"attention_bias":false})"},
    {"kimi_k2", R"({"architectures":["DeepseekV3ForCausalLM"],"model_type":"kimi_k2","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"moe_intermediate_size":256,"num_attention_heads":8,
      "num_key_value_heads":8,"n_shared_experts":1,"n_routed_experts":16,"routed_scaling_factor":2.827,
      "kv_lora_rank":128,"q_lora_rank":128,"qk_rope_head_dim":32,"v_head_dim":64,"qk_nope_head_dim":64,
      "topk_method":"noaux_tc","scoring_func":"sigmoid","norm_topk_prob":true,"n_group":1,"topk_group":1,
      "num_experts_per_tok":4,"moe_layer_freq":1,"first_k_dense_replace":1,"max_position_embeddings":4096,
      "rms_norm_eps":1e-06,"rope_theta":50000,"rope_scaling":{"beta_fast":1,"beta_slow":1,"factor":32,
      "mscale":1.0,"mscale_all_dim":1.0,"original_max_position_embeddings":128,"type":"yarn"},
      "vocab_size":512,"attention_bias":false})"},
    {"deepseek_v32", R"({"architectures":["DeepseekV32ForCausalLM"],"model_type":"deepseek_v32","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"moe_intermediate_size":256,"num_attention_heads":8,
      "num_key_value_heads":8,"n_shared_experts":1,"n_routed_experts":8,"routed_scaling_factor":2.5,
      "kv_lora_rank":128,"q_lora_rank":128,"qk_rope_head_dim":32,"v_head_dim":64,"qk_nope_head_dim":64,
      "topk_method":"noaux_tc","scoring_func":"sigmoid","norm_topk_prob":true,"n_group":4,"topk_group":2,
      "num_experts_per_tok":2,"moe_layer_freq":1,"first_k_dense_replace":1,"max_position_embeddings":4096,
      "rms_norm_eps":1e-06,"rope_theta":10000,"rope_scaling":{"beta_fast":32,"beta_slow":1,"factor":40,
      "mscale":1.0,"mscale_all_dim":1.0,"original_max_position_embeddings":128,"type":"yarn"},
      "vocab_size":512,"attention_bias":false,"index_head_dim":64,"index_n_heads":4,"index_topk":8})"},
    {"glm4_moe", R"({"architectures":["Glm4MoeForCausalLM"],"model_type":"glm4_moe","vocab_size":512,
      "hidden_size":256,"intermediate_size":512,"max_position_embeddings":4096,"moe_intermediate_size":256,
      "norm_topk_prob":true,"num_attention_heads":8,"n_group":1,"head_dim":32,"topk_group":1,
      "n_shared_experts":1,"n_routed_experts":8,"routed_scaling_factor":1.0,"num_experts_per_tok":2,
      "first_k_dense_replace":1,"num_hidden_layers":2,"num_key_value_heads":4,"rms_norm_eps":1e-05,
      "rope_theta":1000000,"rope_scaling":null,"use_qk_norm":true,"tie_word_embeddings":false,
      "attention_bias":true,"partial_rotary_factor":0.5})"},
    {"ministral3", R"({"architectures":["Ministral3ForCausalLM"],"model_type":"ministral3","hidden_size":256,
      "num_hidden_layers":2,"intermediate_size":512,"num_attention_heads":8,"num_key_value_heads":4,
      "head_dim":32,"rms_norm_eps":1e-05,"vocab_size":512,"tie_word_embeddings":true,
      "rope_parameters":{"rope_type":"yarn","rope_theta":1000000.0,"factor":16.0,
      "original_max_position_embeddings":128,"beta_fast":32.0,"beta_slow":1.0,"llama_4_scaling_beta":0.1}})"},
}};

// The tiny model called `name`, or nullptr.
constexpr const builtin_model* find_tiny(std::string_view name) noexcept {
  for (const auto& t : tiny_models)
    if (t.key == name) return &t;
  return nullptr;
}

// How make_tiny_checkpoint writes: bits 0 writes every tensor in float (no quantization key).
struct tiny_options {
  int bits = 4;
  int group_size = 64;
  int shards = 1;          // files to split the weights into (an index is written when > 1)
  std::uint64_t seed = 0;  // the same seed writes the same bytes
  int layers = 0;          // make_tiny_checkpoint: decoder layers (0: the tiny config's 2); the layer-kind pattern is kept
  quant::rounding rounding = quant::rounding::gpu;  // how mlx-community checkpoints were quantized
};

namespace detail {

// splitmix64: a small, well-mixed deterministic generator.
inline std::uint64_t splitmix(std::uint64_t& s) noexcept {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// FNV-1a of a name, so each tensor's values depend on its name and the seed, not on order.
inline std::uint64_t name_hash(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

// Deterministic values for tensor t: what a trained model's tensor of this kind looks like in range.
inline std::vector<float> tiny_values(const surface::tensor_entry& t, std::uint64_t seed) {
  std::uint64_t s = name_hash(t.name) ^ (seed * 0x2545f4914f6cdd1dull);
  auto uniform = [&](float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(static_cast<double>(splitmix(s) >> 11) * 0x1p-53);
  };
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<float> v(n);
  const float in = static_cast<float>(t.dims.dim(-1));
  for (float& x : v) {
    if (t.name.ends_with("A_log")) x = std::log(uniform(1.0f, 16.0f));
    else if (t.kind == surface::module_kind::rms_norm || (t.kind == surface::module_kind::layer_norm && t.name.ends_with(".weight")))
      x = uniform(0.9f, 1.1f);
    else if (t.kind == surface::module_kind::embedding) x = uniform(-1.0f, 1.0f);
    else if (t.kind == surface::module_kind::conv1d) x = uniform(-0.5f, 0.5f);
    else if (t.packs || t.name.ends_with("gate.weight")) x = uniform(-1.0f, 1.0f) * std::sqrt(3.0f / in);
    else x = uniform(-0.1f, 0.1f);  // biases, dt_bias, e_score_correction_bias, layer-norm bias
  }
  return v;
}

// The `quantization` dict mlx_lm.convert writes: global format, 8-bit entries for Qwen routers.
inline std::string quantization_json(const families::model_description& d, quant::affine_format f) {
  std::string s = "{\"group_size\":" + std::to_string(f.group_size) + ",\"bits\":" + std::to_string(f.bits) + ",\"mode\":\"affine\"";
  for (const auto& t : d.tensors)
    if (t.packs && t.rule == surface::quant_rule::router_8bit) s += ",\"" + t.module + "\":{\"group_size\":64,\"bits\":8}";
  return s + "}";
}

// The smallest per-file byte limit that puts `sizes` (in name order) into at most `n` files.
inline std::uint64_t shard_limit(const std::vector<std::uint64_t>& sizes, int n) {
  auto files = [&](std::uint64_t cap) {
    int k = 1;
    std::uint64_t in = 0;
    for (std::uint64_t b : sizes) {
      if (in > 0 && in + b > cap) ++k, in = 0;
      in += b;
    }
    return k;
  };
  std::uint64_t lo = 1, hi = 0;
  for (std::uint64_t b : sizes) hi += b;
  hi = std::max<std::uint64_t>(hi, 1);
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (files(mid) <= n) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

}  // namespace detail

// The serving files of every tiny checkpoint, as Hugging Face writes them: two EOS ids, a BOS id,
// and a small chat template that opens a thinking span (so the advisor's integration notes have
// something to read). Token ids are inside every tiny vocabulary.
inline constexpr std::string_view tiny_generation_config = R"({"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": false})";
inline constexpr std::string_view tiny_tokenizer_config =
    R"({"bos_token": "<s>", "eos_token": "</s>", "added_tokens_decoder": {"1": {"content": "<s>"}, "2": {"content": "</s>"},)"
    R"( "3": {"content": "<|im_end|>"}, "4": {"content": "<think>"}, "5": {"content": "</think>"}}, "chat_template": )"
    R"("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n<think>\n"})";

// Writes a checkpoint of the model `config_json` describes (a config.json without quantization
// key, of a family of Families) into `dir`, with the tiny checkpoints' deterministic values:
// config.json, generation_config.json, tokenizer_config.json and model.safetensors, or
// model-0000k-of-0000n.safetensors + index. Returns the files written.
template <class Families = families::builtin>
result<std::vector<std::filesystem::path>> make_checkpoint(std::string_view config_json, const std::filesystem::path& dir,
                                                           const tiny_options& opt = {}) {
  if (opt.shards < 1) return error(errc::invalid_value, "shards", std::to_string(opt.shards), "at least 1");
  std::optional<quant::affine_format> fmt;
  if (opt.bits != 0) {
    fmt = quant::affine_format{opt.bits, opt.group_size};
    if (auto r = quant::validate(*fmt, "quantization"); !r) return r.err();
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return error(errc::io, "", "a directory that cannot be created (" + ec.message() + ")", "a writable directory", dir.string());

  auto parsed = parse_model_config<Families>(config_json, "config_json");
  if (!parsed) return parsed.err();
  const families::model_description& d = parsed->description;
  std::string json(config_json);
  std::optional<quantization_config> q;
  if (fmt) {
    const std::string qj = detail::quantization_json(d, *fmt);
    json.insert(json.rfind('}'), ",\"quantization\":" + qj + ",\"quantization_config\":" + qj);
    q = parse_model_config<Families>(json, "tiny").value().quantization;
  }
  for (const auto& [name, text] : {std::pair<const char*, std::string_view>{"config.json", json},
                                   {"generation_config.json", tiny_generation_config},
                                   {"tokenizer_config.json", tiny_tokenizer_config}}) {
    std::ofstream out(dir / name, std::ios::binary);
    out << text << "\n";
    if (!out.flush())
      return error(errc::io, "", "a file that cannot be written", std::string("a writable ") + name, (dir / name).string());
  }

  std::vector<tensor> owned;
  std::vector<named_view> views;
  for (const surface::tensor_entry& t : mlx_tensors(d)) {
    const std::vector<float> v = detail::tiny_values(t, opt.seed);
    const auto f = stored_format(t, q);
    tensor dense(f ? dtype::bf16 : t.float_dtype, t.dims);
    for (std::size_t i = 0; i < v.size(); ++i) store_float(dense.data(), dense.type(), i, v[i]);
    if (!f) {
      owned.push_back(std::move(dense));
      views.push_back({t.name, owned.back().view()});
      continue;
    }
    auto qt = quant::quantize(dense.view(), *f, dtype::bf16, opt.rounding, t.name);
    if (!qt) return qt.err();
    for (auto [suffix, part] : {std::pair{".weight", &qt->packed}, {".scales", &qt->scales}, {".biases", &qt->biases}}) {
      owned.push_back(std::move(*part));
      views.push_back({t.module + suffix, owned.back().view()});
    }
  }
  std::ranges::sort(views, std::less<>{}, &named_view::name);
  std::vector<std::uint64_t> sizes;
  for (const auto& v : views) sizes.push_back(v.view.nbytes());
  auto files = write_sharded_safetensors(dir, views, detail::shard_limit(sizes, opt.shards), {{"format", "mlx"}});
  if (!files) return files.err();
  files->insert(files->begin(), {dir / "config.json", dir / "generation_config.json", dir / "tokenizer_config.json"});
  return files;
}

// Writes the tiny checkpoint of `name` (a tiny_models entry) into directory `dir` (created if
// needed); see make_checkpoint. Returns the files written.
inline result<std::vector<std::filesystem::path>> make_tiny_checkpoint(std::string_view name,
                                                                       const std::filesystem::path& dir,
                                                                       const tiny_options& opt = {}) {
  const builtin_model* tm = find_tiny(name);
  if (tm == nullptr) {
    std::string names;
    for (const auto& t : tiny_models) names += (names.empty() ? "" : ", ") + std::string(t.key);
    return error(errc::unknown_family, "family", "\"" + std::string(name) + "\"", "one of " + names);
  }
  if (opt.layers == 0) return make_checkpoint(tm->config_json, dir, opt);
  if (opt.layers < 1 || opt.layers > 64) return error(errc::invalid_value, "layers", std::to_string(opt.layers), "1 to 64");
  std::string json(tm->config_json);
  constexpr std::string_view key = "\"num_hidden_layers\":2,";
  json.replace(json.find(key), key.size(), "\"num_hidden_layers\":" + std::to_string(opt.layers) + ",");
  return make_checkpoint(json, dir, opt);
}

}  // namespace famx::io
