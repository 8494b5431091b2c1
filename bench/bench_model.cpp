// The reference forward (famx::model): decode and prefill tokens/s of the tiny model of every
// family, and decode of one full-size Llama-3.1-8B decoder layer (4-bit, group 64) against the
// roofline time to stream that layer's weight bytes once, measured in the same run.
#include <famx/model/model.hpp>  // includes <famx/kernels.hpp> first

#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <unistd.h>

#include <famx/io/tiny_checkpoint.hpp>

#include "baselines.hpp"

namespace {

namespace fm = famx::model;

// A directory of this process's (the checkpoints it writes), removed at exit.
struct scratch_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("famx_bench_model_" + std::to_string(::getpid()));
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::filesystem::path scratch(const std::string& name) {
  static const scratch_dir root;
  return root.path / name;
}

// The model in `dir`, loaded once per process.
const fm::reference_model& loaded(const std::filesystem::path& dir) {
  static std::map<std::string, fm::reference_model> models;
  auto it = models.find(dir.string());
  if (it == models.end()) it = models.emplace(dir.string(), fm::reference_model::load(dir, fm::weight_path::quantized).value()).first;
  return it->second;
}

const fm::reference_model& tiny(const std::string& name) {
  const auto dir = scratch(name);
  if (!std::filesystem::exists(dir / "config.json")) famx::io::make_tiny_checkpoint(name, dir).value();
  return loaded(dir);
}

std::vector<std::int32_t> prompt(std::size_t n) {
  std::vector<std::int32_t> p(n);
  std::iota(p.begin(), p.end(), 1);
  return p;
}

// Decode: one token after a 16-token prompt (the prompt is re-run untimed every 8 steps).
void bm_decode(benchmark::State& st, const fm::reference_model& m) {
  const auto p = prompt(16);
  auto c = m.new_cache();
  m.forward(p, c);
  std::int32_t tok = 5;
  for (auto _ : st) {
    if (c.offset >= 24) {
      st.PauseTiming();
      c = m.new_cache();
      m.forward(p, c);
      st.ResumeTiming();
    }
    benchmark::DoNotOptimize(m.forward(std::span(&tok, 1), c));
  }
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
  st.SetLabel(famx::kernel_target());
}

// Prefill: `n` prompt tokens into a fresh cache.
void bm_prefill(benchmark::State& st, const fm::reference_model& m, std::size_t n) {
  const auto p = prompt(n);
  for (auto _ : st) {
    auto c = m.new_cache();
    benchmark::DoNotOptimize(m.forward(p, c));
  }
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(st.iterations() * n), benchmark::Counter::kIsRate);
  st.SetLabel(famx::kernel_target());
}

// Llama-3.1-8B with one decoder layer and a 512-token vocabulary (embedding and head negligible).
constexpr std::string_view llama_8b_layer = R"({"architectures":["LlamaForCausalLM"],"model_type":"llama",
  "hidden_size":4096,"num_hidden_layers":1,"intermediate_size":14336,"num_attention_heads":32,
  "num_key_value_heads":8,"head_dim":128,"rms_norm_eps":1e-05,"vocab_size":512,"rope_theta":500000.0,
  "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
  "original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":false})";

// One full-size layer's decode against streaming its 4-bit weight bytes (packed + bf16 scales and biases).
void bm_layer(benchmark::State& st) {
  const auto dir = scratch("llama_8b_layer");
  if (!std::filesystem::exists(dir / "config.json")) famx::io::make_checkpoint(llama_8b_layer, dir).value();
  const auto& m = loaded(dir);
  const double D = 4096, I = 14336, params = D * (4096 + 1024 + 1024) + 4096 * D + 3 * D * I;
  const double bytes = params * (0.5 + 4.0 / 64);  // 4-bit codes + bf16 scale and bias per 64
  std::vector<std::byte> buf(static_cast<std::size_t>(bytes));
  const famx_bench::bytes part(buf.data(), buf.size());
  const double gbps = famx_bench::stream_read_gbps(std::span(&part, 1), {});
  bm_decode(st, m);
  st.counters["layer_GB/s"] = benchmark::Counter(bytes / 1e9 * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["roofline_GB/s"] = gbps;
  st.counters["roofline_ms"] = bytes / gbps / 1e6;
}

void register_all() {
  for (const auto& t : famx::io::tiny_models) {
    const std::string name(t.key);
    benchmark::RegisterBenchmark(("decode/tiny/" + name).c_str(), [=](benchmark::State& s) { bm_decode(s, tiny(name)); })
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("prefill/tiny/" + name + "/tokens:16").c_str(),
                                 [=](benchmark::State& s) { bm_prefill(s, tiny(name), 16); })
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("decode/layer/llama_3_1_8b/bits:4", bm_layer)->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) { return famx_bench::run(argc, argv, register_all); }
