// Split decode: tokens/s of a one-layer, full-shape model (a Llama-3.1-8B layer, a Qwen3-30B-A3B
// layer; 4-bit group 64, a 512-token vocabulary) unsplit and at tensor parallelism 2 over the
// in-process backend (one thread per rank), with the share of rank 0's time spent in collectives.
// The ratio TP2 / TP1 is the speedup (same run). Under MPI: bench_split_mpi.cpp.
#include <famx/model/model.hpp>  // includes <famx/kernels.hpp> first

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <famx/comm/threads.hpp>
#include <famx/shard/plan.hpp>

#include "baselines.hpp"
#include "layers.hpp"

namespace {

namespace fm = famx::model;

constexpr int kSteps = 32;  // decode steps per benchmark run (after a 4-token prompt)

// Decode kSteps tokens on every rank of a tp-way split of the one-layer model `key` (tp 1: unsplit).
void bm_split(benchmark::State& st, const std::string& key, int tp) {
  const auto dir = famx_bench::one_layer_checkpoint(key);
  const auto cfg = famx::io::load_model_config(dir).value();
  std::vector<famx::shard::device> devices(static_cast<std::size_t>(tp), {"rank", std::int64_t{1} << 40, std::nullopt});
  famx::shard::plan_options o;
  o.kind = famx::shard::strategy::tensor;
  o.context_tokens = 64;
  const auto plan = famx::shard::plan(cfg, devices, o).value();
  const std::vector<std::int32_t> prompt = {1, 2, 3, 4};
  double collective_s = 0;
  famx::comm::run_threads(tp, [&](famx::comm::communicator& c) {
    const auto m = fm::reference_model::load_rank(dir, fm::weight_path::quantized, plan, c).value();
    auto run_steps = [&](auto&& each) {
      auto cache = m.new_cache();
      m.forward(prompt, cache);
      std::int32_t tok = 5;
      for (int i = 0; i < kSteps; ++i) {
        each();
        benchmark::DoNotOptimize(m.forward(std::span(&tok, 1), cache));
      }
    };
    if (c.rank() != 0) {  // the other ranks follow rank 0's loop step for step
      for (std::size_t i = 0; i < static_cast<std::size_t>(st.max_iterations); ++i) run_steps([] {});
      return;
    }
    const auto before = c.stats().time;
    for (auto _ : st) run_steps([] {});
    collective_s = std::chrono::duration<double>(c.stats().time - before).count();
  });
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(st.iterations() * kSteps), benchmark::Counter::kIsRate);
  st.counters["collectives_s"] = collective_s / static_cast<double>(st.iterations());
}

void register_all() {
  for (const char* key : {"Llama-3.1-8B", "Qwen3-30B-A3B"})
    for (const int tp : {1, 2})
      benchmark::RegisterBenchmark(("decode/layer/" + std::string(key) + "/tp:" + std::to_string(tp)).c_str(),
                                   [=](benchmark::State& s) { bm_split(s, key, tp); })
          ->Iterations(8)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) { return famx_bench::run(argc, argv, register_all); }
