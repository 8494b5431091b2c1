// The reference forward (famx::model): decode and prefill tokens/s of the tiny model of every
// family; decode of one full-size decoder layer per family (4-bit, group 64) against the roofline
// time to stream the weight bytes a token reads, measured in the same run, exact and with int8
// activations, on 1 and 2 threads, and of Qwen3-0.6B's at a 2048-token context against the
// weights and the cache it reads; prefill of 512 tokens through full-size layers (in one call or
// chunks of 64; int8 on the MLX views or on panels built at load), tokens/s and GFLOP/s against the
// int8 dot-product peak of the same run.
#include <famx/model/model.hpp>  // includes <famx/kernels.hpp> first

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <famx/io/tiny_checkpoint.hpp>

#include "baselines.hpp"
#include "layers.hpp"

namespace {

namespace fm = famx::model;

// The model in `dir` (quantized; with int8 panels built at load or not), loaded once per process.
const fm::reference_model& loaded(const std::filesystem::path& dir, bool panels = false) {
  static std::map<std::pair<std::string, bool>, fm::reference_model> models;
  const auto key = std::pair(dir.string(), panels);
  auto it = models.find(key);
  if (it == models.end()) {
    fm::load_options lo;
    lo.path = fm::weight_path::quantized;
    lo.int8_panels = panels;
    it = models.emplace(key, fm::reference_model::load(dir, lo).value()).first;
  }
  return it->second;
}

const fm::reference_model& tiny(const std::string& name) {
  const auto dir = famx_bench::scratch(name);
  if (!std::filesystem::exists(dir / "config.json")) famx::io::make_tiny_checkpoint(name, dir).value();
  return loaded(dir);
}

// n prompt tokens 1, 2, ..., cycling below 500 (every model here has a vocabulary of at least 512).
std::vector<std::int32_t> prompt(std::size_t n) {
  std::vector<std::int32_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::int32_t>(i % 499 + 1);
  return p;
}

// How a benchmark runs the forward: int8 activations or exact, on `threads` threads, with the
// model's int8 panels built at load or not.
struct run_mode {
  bool int8 = false;
  std::size_t threads = 1;
  bool panels = false;
  std::string name() const {
    return std::string(int8 ? "/int8" : "/exact") + (panels ? "/panels" : "") + "/threads:" + std::to_string(threads);
  }
};

// The forward options of mode `r` on `pool`.
fm::forward_options options(const run_mode& r, famx::thread_pool& pool) {
  fm::forward_options o;
  o.int8_activations = r.int8;
  o.threads = pool.hook();
  return o;
}

// Decode: one token after a 16-token prompt. Every 8 positions the prompt is re-run untimed, and
// so is the token after it: a prompt reads far more weight bytes than a token (every expert of a
// MoE block) and would leave the first token a cache a decode loop never has.
void bm_decode(benchmark::State& st, const fm::reference_model& m, const run_mode& r = {}) {
  famx::thread_pool pool(r.threads);
  const fm::forward_options o = options(r, pool);
  const auto p = prompt(16);
  std::int32_t tok = 5;
  auto restart = [&] {
    auto c = m.new_cache();
    m.forward(p, c, o);
    m.forward(std::span(&tok, 1), c, o);
    return c;
  };
  auto c = restart();
  for (auto _ : st) {
    if (c.offset >= 24) {
      st.PauseTiming();
      c = restart();
      st.ResumeTiming();
    }
    benchmark::DoNotOptimize(m.forward(std::span(&tok, 1), c, o));
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

// Runs `decode` (a benchmark's timed loop) between two reads of `bytes` and reports its time per
// token against the read's (x_roof). The faster read is kept: on this kind of VM a read right after
// a checkpoint was written can run at a fraction of the machine's rate, which would flatter the ratio.
template <class Decode>
void against_read(benchmark::State& st, double bytes, const Decode& decode) {
  static std::vector<std::byte> buf;  // one buffer for every layer: fresh pages read slower at first
  if (buf.size() < static_cast<std::size_t>(bytes)) buf.assign(static_cast<std::size_t>(bytes), std::byte{1});
  const famx_bench::bytes part(buf.data(), static_cast<std::size_t>(bytes));
  const double before = famx_bench::stream_read_gbps(std::span(&part, 1), {});
  decode();
  const double gbps = std::max(before, famx_bench::stream_read_gbps(std::span(&part, 1), {}));
  // The framework turns iterations x roofline seconds into a rate over the timed seconds, inverted:
  // the timed seconds per token over the roofline's.
  st.counters["x_roof"] = benchmark::Counter(static_cast<double>(st.iterations()) * bytes / gbps / 1e9,
                                             benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  st.counters["layer_GB/s"] = benchmark::Counter(bytes / 1e9 * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["roofline_GB/s"] = gbps;
  st.counters["roofline_ms"] = bytes / gbps / 1e6;
}

// One full-size layer's decode (bm_decode) against streaming its active 4-bit weight bytes once.
void bm_layer(benchmark::State& st, const std::string& key, const run_mode& r) {
  const auto& m = loaded(famx_bench::one_layer_checkpoint(key));
  against_read(st, famx_bench::active_layer_bytes(famx_bench::one_layer_config(key)), [&] { bm_decode(st, m, r); });
}

// One full-size layer's decode at long context: the tokens after a `context`-token prompt and one
// more (one per iteration, a fixed count), against streaming the weight bytes and the keys and values the
// middle token reads (kv_MB; gqa caches, whose rows are `capacity` per kv head).
void bm_layer_context(benchmark::State& st, const std::string& key, std::size_t context, const run_mode& r) {
  const auto& m = loaded(famx_bench::one_layer_checkpoint(key));
  famx::thread_pool pool(r.threads);
  const fm::forward_options o = options(r, pool);
  auto c = m.new_cache();
  std::int32_t tok = 5;
  m.forward(prompt(context), c, o);
  m.forward(std::span(&tok, 1), c, o);  // untimed: it also grows the cache past the prompt's rows
  const auto& lc = c.layers.at(0);
  const double kv = static_cast<double>((lc.keys.size() + lc.values.size()) * sizeof(float)) /
                    static_cast<double>(lc.capacity) * static_cast<double>(context + 1 + st.max_iterations / 2);
  against_read(st, famx_bench::active_layer_bytes(famx_bench::one_layer_config(key)) + kv, [&] {
    for (auto _ : st) benchmark::DoNotOptimize(m.forward(std::span(&tok, 1), c, o));
  });
  st.counters["kv_MB"] = kv / 1e6;
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
  st.SetLabel(famx::kernel_target());
}

// Prefill: `n` tokens through one full-size layer, in forward calls of `chunk` tokens; GFLOP/s
// counts 2 per active layer weight per token (attention scores not counted), x_int8_peak is that
// over the same run's int8 dot-product peak on the same threads.
void bm_layer_prefill(benchmark::State& st, const std::string& key, std::size_t n, std::size_t chunk, const run_mode& r) {
  const auto& m = loaded(famx_bench::one_layer_checkpoint(key), r.panels);
  famx::thread_pool pool(r.threads);
  const double peak = famx_bench::int8_peak_gops(pool.hook());
  const fm::forward_options o = options(r, pool);
  const auto p = prompt(n);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    auto c = m.new_cache();
    for (std::size_t i = 0; i < n; i += chunk)
      benchmark::DoNotOptimize(m.forward(std::span(p).subspan(i, std::min(chunk, n - i)), c, o));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(st.iterations());
  const double gflops = 2.0 * famx_bench::active_layer_params(famx_bench::one_layer_config(key)) *
                        static_cast<double>(n) / secs * 1e-9;
  st.counters["tokens/s"] = static_cast<double>(n) / secs;
  st.counters["GFLOP/s"] = gflops;
  st.counters["x_int8_peak"] = gflops / peak;
  st.SetLabel(famx::kernel_target());
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
  for (const char* key : {"Llama-3.1-8B", "Qwen3-0.6B", "Qwen3-30B-A3B", "Qwen3-Next-80B-A3B", "GLM-4.5-Air", "Ministral-3-8B",
                          "DeepSeek-V3", "DeepSeek-V3.2"}) {
    for (const run_mode r : {run_mode{false, 1}, run_mode{true, 1}, run_mode{false, 2}, run_mode{true, 2}}) {
      if (r.threads > 1 && std::string(key) != "Llama-3.1-8B") continue;
      benchmark::RegisterBenchmark(("decode/layer/" + std::string(key) + "/bits:4" + r.name()).c_str(),
                                   [=](benchmark::State& s) { bm_layer(s, key, r); })
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const run_mode r : {run_mode{false, 1}, run_mode{true, 1}})
    benchmark::RegisterBenchmark(("decode/layer/Qwen3-0.6B/bits:4/context:2048" + r.name()).c_str(),
                                 [=](benchmark::State& s) { bm_layer_context(s, "Qwen3-0.6B", 2048, r); })
        ->Unit(benchmark::kMillisecond)->Iterations(64);
  for (const char* key : {"Llama-3.1-8B", "Qwen3-30B-A3B"})
    for (const std::size_t chunk : {512, 64})
      for (const run_mode r : {run_mode{false, 1}, run_mode{true, 1}, run_mode{true, 2}, run_mode{true, 1, true}, run_mode{true, 2, true}}) {
        if (chunk < 512 && (!r.int8 || r.threads > 1)) continue;
        const std::string chunks = chunk < 512 ? "/chunk:" + std::to_string(chunk) : "";
        benchmark::RegisterBenchmark(("prefill/layer/" + std::string(key) + "/bits:4/tokens:512" + chunks + r.name()).c_str(),
                                     [=](benchmark::State& s) { bm_layer_prefill(s, key, 512, chunk, r); })
            ->Unit(benchmark::kMillisecond)->Iterations(2);
      }
}

}  // namespace

int main(int argc, char** argv) { return famx_bench::run(argc, argv, register_all); }
