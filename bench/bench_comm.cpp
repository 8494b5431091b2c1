// Collective latency: the exact reduce comm::all_sum (all_gather, then every rank adds the ranks'
// vectors with tree_sum's tree) on the in-process backend, for the hidden sizes of decode (4096:
// Qwen3-8B / Llama-3.1-8B, 7168: DeepSeek-V3, 28672: a Llama-3.1-70B MLP width) at 2 and 4 ranks.
// Time per call is measured on rank 0 over many calls inside one run_threads; the other ranks call
// all_sum the same number of times. The MPI backend against MPI_Allreduce: bench_comm_mpi.cpp.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <famx/comm/reduce.hpp>
#include <famx/comm/threads.hpp>

#include "baselines.hpp"

namespace {

void bm_all_sum_threads(benchmark::State& st, int ranks, std::size_t floats) {
  famx::comm::run_threads(ranks, [&](famx::comm::communicator& c) {
    std::vector<float> x(floats, 1.0f + static_cast<float>(c.rank()));
    if (c.rank() != 0) {  // the other ranks follow rank 0 call for call
      for (benchmark::IterationCount i = 0; i < st.max_iterations; ++i) famx::comm::all_sum(c, x, "bench all_sum");
      return;
    }
    for (auto _ : st) {
      famx::comm::all_sum(c, x, "bench all_sum");
      benchmark::DoNotOptimize(x.data());
    }
  });
  st.counters["KB/rank"] = static_cast<double>(floats * sizeof(float)) / 1024.0;
}

void register_all() {
  for (const int ranks : {2, 4})
    for (const std::size_t floats : {4096, 7168, 28672})
      benchmark::RegisterBenchmark(("all_sum/threads/ranks:" + std::to_string(ranks) + "/floats:" + std::to_string(floats)).c_str(),
                                   [=](benchmark::State& s) { bm_all_sum_threads(s, ranks, floats); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) { return famx_bench::run(argc, argv, register_all); }
