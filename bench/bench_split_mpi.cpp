// Split decode under MPI: tokens/s of a one-layer, full-shape model (bench/layers.hpp: a
// Llama-3.1-8B or Qwen3-30B-A3B layer, 4-bit group 64) unsplit on rank 0 and at tensor parallelism
// over all ranks, in the same run, with rank 0's time in collectives. Run under mpiexec (README: the
// Open MPI environment of a root container):
//   mpiexec --bind-to none -n 2 build/test/bench/bench_split_mpi [Llama-3.1-8B|Qwen3-30B-A3B] [rounds]
// Each round decodes 32 tokens after a 4-token prompt, unsplit then split; prints the medians over the
// rounds (5 by default) and the speedup split / unsplit.
#include <famx/model/model.hpp>  // includes <famx/kernels.hpp> first

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <famx/comm/mpi.hpp>
#include <famx/shard/plan.hpp>

#include "layers.hpp"

namespace {

namespace fm = famx::model;

constexpr int kSteps = 32;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds to decode kSteps tokens after a 4-token prompt.
double decode_seconds(const fm::reference_model& m) {
  const std::vector<std::int32_t> prompt = {1, 2, 3, 4};
  auto cache = m.new_cache();
  m.forward(prompt, cache);
  std::int32_t tok = 5;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kSteps; ++i) m.forward(std::span(&tok, 1), cache);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  famx::comm::mpi_session session(argc, argv);
  const std::string key = argc > 1 ? argv[1] : "Llama-3.1-8B";
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  famx::comm::mpi_communicator c(std::chrono::milliseconds(600000));
  // Rank 0 writes the checkpoint; every rank reads rank 0's directory (one machine).
  std::string mine = c.rank() == 0 ? famx_bench::one_layer_checkpoint(key).string() : std::string();
  std::vector<std::byte> paths;
  std::vector<std::size_t> counts;
  c.all_gather_v(std::as_bytes(std::span(mine)), paths, counts, "bench checkpoint path");
  const std::filesystem::path dir(std::string(reinterpret_cast<const char*>(paths.data()), counts[0]));
  const auto cfg = famx::io::load_model_config(dir).value();
  std::vector<famx::shard::device> devices(static_cast<std::size_t>(c.size()), {"rank", std::int64_t{1} << 40, std::nullopt});
  famx::shard::plan_options o;
  o.kind = famx::shard::strategy::tensor;
  o.context_tokens = 64;
  const auto plan = famx::shard::plan(cfg, devices, o).value();
  const auto split = fm::reference_model::load_rank(dir, fm::weight_path::quantized, plan, c).value();
  const auto whole = c.rank() == 0 ? fm::reference_model::load(dir, fm::weight_path::quantized).value() : split;
  std::vector<double> one, tp, in_collectives;
  for (int r = 0; r < rounds; ++r) {
    c.barrier("bench round");
    if (c.rank() == 0) one.push_back(decode_seconds(whole));  // the other ranks wait at the barrier
    c.barrier("bench unsplit done");
    const auto before = c.stats().time;
    tp.push_back(decode_seconds(split));
    in_collectives.push_back(std::chrono::duration<double>(c.stats().time - before).count());
  }
  if (c.rank() == 0)
    std::printf("%s, 1 layer, 4-bit g64: unsplit %.1f tokens/s, TP %d over MPI %.1f tokens/s (%.2fx), rank 0 in collectives "
                "%.1f ms of %.1f ms per %d tokens\n",
                key.c_str(), kSteps / median(one), c.size(), kSteps / median(tp), median(one) / median(tp),
                median(in_collectives) * 1e3, median(tp) * 1e3, kSteps);
  return 0;
}
