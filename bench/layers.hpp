#pragma once
// Checkpoints the model benchmarks share: one full-size decoder layer of a built-in model, written
// once per process into a scratch directory removed at exit.

#include <filesystem>
#include <string>
#include <string_view>

#include <unistd.h>

#include <famx/io/builtin_models.hpp>
#include <famx/io/storage.hpp>
#include <famx/io/tiny_checkpoint.hpp>

namespace famx_bench {

// A directory of this process's (the checkpoints it writes), removed at exit.
struct scratch_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("famx_bench_" + std::to_string(::getpid()));
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The scratch subdirectory `name`.
inline std::filesystem::path scratch(const std::string& name) {
  static const scratch_dir root;
  return root.path / name;
}

// One full-size decoder layer of a built-in model (io/builtin_models.hpp): its config with one
// layer (the first MoE layer's kind for MoE models) and a 512-token vocabulary, so that embedding
// and head are negligible. DeepSeek-V3 / V3.2 keep 32 of their 256 routed experts (8 groups of 4,
// top-4 groups): every matrix has its real shape and a token reads the same 8 routed + 1 shared
// experts, but the layer is 0.9 GB to write instead of 6.3 GB (which would take 15 GB of fp32 values).
inline std::string one_layer_config(std::string_view key) {
  std::string json(famx::io::find_builtin(key)->config_json);
  auto set = [&](const std::string& field, const std::string& value) {
    const auto at = json.find("\"" + field + "\":");
    if (at == std::string::npos) return;
    const auto v = at + field.size() + 3;
    json.replace(v, json.find_first_of(",}", v) - v, value);
  };
  set("num_hidden_layers", "1");
  set("vocab_size", "512");
  set("first_k_dense_replace", "0");
  if (key.starts_with("DeepSeek")) set("n_routed_experts", "32");
  return json;
}

// Weight bytes one decode token streams from the layer: every layer tensor as stored (4-bit group
// 64, bf16 scales and biases), routed experts counted k of E.
inline double active_layer_bytes(const std::string& config_json) {
  const auto m = famx::io::parse_model_config(config_json, "bench").value();
  const auto q = famx::io::convert_quantization(4, 64);
  double total = 0;
  for (const auto& s : famx::io::storage_table(m.description, q))
    if (s.tensor->layer >= 0)
      total += static_cast<double>(s.bytes) * static_cast<double>(m.description.active(*s.tensor)) /
               static_cast<double>(s.tensor->numel());
  return total;
}

// Weights one token multiplies in the layer (routed experts counted k of E): 2 FLOPs each.
inline double active_layer_params(const std::string& config_json) {
  const auto m = famx::io::parse_model_config(config_json, "bench").value();
  double total = 0;
  for (const auto& t : m.description.tensors)
    if (t.layer >= 0) total += static_cast<double>(m.description.active(t));
  return total;
}

// The checkpoint of one_layer_config(key) (4-bit, group 64), written on first use.
inline std::filesystem::path one_layer_checkpoint(std::string_view key) {
  const auto dir = scratch("layer_" + std::string(key));
  if (!std::filesystem::exists(dir / "config.json")) {
    famx::io::make_checkpoint(one_layer_config(key), dir).value();
    ::sync();  // flush it now: a writeback still running would slow the reads measured next
  }
  return dir;
}

}  // namespace famx_bench
