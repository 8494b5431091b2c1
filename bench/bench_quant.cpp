// Quantized matmul benchmarks (qmv exact with f32 or bf16 activations, qmv_int8, qmm, qmm_fast,
// qmm_int8). Every case
// reports, from the same run:
//   qmv: GB/s of weight bytes (packed + scales + biases), the GB/s of a plain streaming read of
//        those same bytes (the roofline), and their ratio; for 2048x768 also the speedup over the
//        scalar fp64 reference; 16384x8192 also as 4 copies run in turn (copies:4, 300 MB).
//   qmm, qmm_fast: GFLOP/s, the fp32 FMA peak measured on the same threads, and their ratio.
//   qmm_int8: GFLOP/s, the int8 dot-product peak (vpdpbusd / maddubs loop) measured on the same
//        threads, and their ratio; on the MLX view (repacked per call) and on load-time panels
//        (x_quantized_once: the speedup when x comes quantized beforehand).
// Run with --benchmark_repetitions=5 --benchmark_report_aggregates_only=true for medians.
#include <famx/kernels.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <famx/famx.hpp>
#include <famx/quant/int8_activations.hpp>
#include <famx/quant/int8_panels.hpp>

#include "baselines.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// Random MLX-layout weights (the kernels' speed does not depend on the values).
struct weights {
  std::vector<std::uint32_t> packed;
  std::vector<famx::bf16> scales, biases;
  famx::quant::qmatrix_view view;

  weights(std::size_t rows, std::size_t cols, famx::quant::affine_format fmt) {
    std::mt19937 rng(42);
    packed.resize(rows * fmt.packed_words(cols));
    for (auto& w : packed) w = static_cast<std::uint32_t>(rng());
    std::uniform_real_distribution<float> u(-0.01f, 0.01f);
    scales.resize(rows * fmt.groups(cols));
    biases.resize(scales.size());
    for (auto& s : scales) s = famx::bf16::from_float(u(rng));
    for (auto& b : biases) b = famx::bf16::from_float(u(rng));
    view = {packed.data(), scales.data(), biases.data(), famx::dtype::bf16, fmt, rows, cols,
            fmt.packed_words(cols), fmt.groups(cols)};
  }
  std::vector<famx_bench::bytes> parts() const {
    return {std::as_bytes(std::span(packed)), std::as_bytes(std::span(scales)), std::as_bytes(std::span(biases))};
  }
};

famx::parallel hook_for(std::size_t threads) {
  static famx::thread_pool two(2);
  return threads == 2 ? two.hook() : famx::parallel{};
}

// kInt8: the opt-in qmv_int8 path (f32 activations quantized to int8 per group). With `copies`
// above 1, each iteration runs that many distinct matrices of the shape in turn (bytes and the
// read count all of them): a working set past a large L3, where one matrix would stay in it.
template <class Act, bool kInt8 = false>
void bm_qmv(benchmark::State& state, std::size_t rows, std::size_t cols, famx::quant::affine_format fmt,
            std::size_t threads, std::size_t copies = 1) {
  std::vector<std::unique_ptr<weights>> ws;
  std::vector<famx_bench::bytes> parts;
  for (std::size_t i = 0; i < copies; ++i) {
    ws.push_back(std::make_unique<weights>(rows, cols, fmt));
    for (const auto& p : ws.back()->parts()) parts.push_back(p);
  }
  const weights& w = *ws.front();
  std::vector<Act> x(cols);
  for (std::size_t j = 0; j < cols; ++j) {
    const float v = 0.01f * static_cast<float>(j % 17);
    if constexpr (std::is_same_v<Act, float>) x[j] = v; else x[j] = famx::bf16::from_float(v);
  }
  std::vector<float> y(rows);
  const famx::parallel par = hook_for(threads);
  const double roof = famx_bench::stream_read_gbps(parts, par);
  auto run = [&] {
    for (const auto& wi : ws) {
      if constexpr (kInt8) {
        famx::quant::qmv_int8(wi->view, std::span<const Act>(x), y, par);
      } else {
        famx::quant::qmv(wi->view, std::span<const Act>(x), y, par);
      }
    }
  };
  run();  // warm up
  const auto t0 = clock_type::now();
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(y.data());
  }
  const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  const double bytes = static_cast<double>(w.view.weight_bytes() * copies);
  const double gbps = bytes * static_cast<double>(state.iterations()) / secs * 1e-9;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["GB/s"] = gbps;
  state.counters["roof_GB/s"] = roof;
  state.counters["of_roof"] = gbps / roof;
  if (rows == 2048 && cols == 768 && threads == 1) {
    std::vector<float> xf(cols);
    for (std::size_t j = 0; j < cols; ++j) xf[j] = 0.01f * static_cast<float>(j % 17);
    std::vector<double> ref(rows);
    const auto r0 = clock_type::now();
    famx::quant::reference_qmv(w.view, xf, ref);
    const double ref_secs = std::chrono::duration<double>(clock_type::now() - r0).count();
    state.counters["x_scalar"] = ref_secs / (secs / static_cast<double>(state.iterations()));
  }
  state.SetLabel(famx::kernel_target());
}

// kFast: qmm_fast (not batch-invariant) instead of qmm.
template <bool kFast = false>
void bm_qmm(benchmark::State& state, std::size_t rows, std::size_t cols, famx::quant::affine_format fmt,
            std::size_t m, std::size_t threads) {
  const weights w(rows, cols, fmt);
  std::vector<float> x(m * cols), y(m * rows);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i % 23);
  const famx::parallel par = hook_for(threads);
  const double peak = famx_bench::fma_peak_gflops(par);
  const auto t0 = clock_type::now();
  for (auto _ : state) {
    if constexpr (kFast) {
      famx::quant::qmm_fast(w.view, x, m, y, par);
    } else {
      famx::quant::qmm(w.view, x, m, y, par);
    }
    benchmark::DoNotOptimize(y.data());
  }
  const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  const double gflops = 2.0 * static_cast<double>(m * rows * cols) * static_cast<double>(state.iterations()) / secs * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["peak_GFLOP/s"] = peak;
  state.counters["of_peak"] = gflops / peak;
  state.SetLabel(famx::kernel_target());
}

// qmm_int8 on the MLX view (repacked per call) or, with `panels`, on the load-time panel layout;
// with panels, x_quantized_once is its speedup when x comes quantized beforehand
// (quant::int8_activations, as an MoE block's experts or q/k/v can share it), same iterations.
void bm_qmm_int8(benchmark::State& state, std::size_t rows, std::size_t cols, famx::quant::affine_format fmt,
                 std::size_t m, std::size_t threads, bool panels) {
  const weights w(rows, cols, fmt);
  std::vector<float> x(m * cols), y(m * rows);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i % 23) - 0.1f;
  const famx::parallel par = hook_for(threads);
  const double peak = famx_bench::int8_peak_gops(par);
  const std::optional<famx::quant::int8_panels> p = panels ? std::optional(famx::quant::int8_panels(w.view)) : std::nullopt;
  const auto run = [&] { p ? famx::quant::qmm_int8(p->view(), x, m, y, par) : famx::quant::qmm_int8(w.view, x, m, y, par); };
  run();  // warm up
  const auto t0 = clock_type::now();
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(y.data());
  }
  const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (p) {
    famx::quant::int8_activations act;
    const auto& xq = act.quantize(fmt, cols, x, m, par);
    const auto tq = clock_type::now();
    for (benchmark::IterationCount i = 0; i < state.iterations(); ++i) {
      famx::quant::qmm_int8(p->view(), xq, y, par);
      benchmark::DoNotOptimize(y.data());
    }
    state.counters["x_quantized_once"] = secs / std::chrono::duration<double>(clock_type::now() - tq).count();
  }
  const double gflops = 2.0 * static_cast<double>(m * rows * cols) * static_cast<double>(state.iterations()) / secs * 1e-9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["int8_peak_GOP/s"] = peak;
  state.counters["of_int8_peak"] = gflops / peak;
  state.SetLabel(famx::kernel_target());
}

struct shape {
  std::size_t rows, cols;
  const char* note;
};

void register_all() {
  const shape shapes[] = {{4096, 4096, "square"}, {2048, 768, "Qwen3-30B-A3B expert down_proj"},
                          {7168, 2048, "DeepSeek-V3 expert down_proj"}};
  for (int bits : {4, 8}) {
    for (int gs : {64, 32}) {
      for (const auto& s : shapes) {
        for (std::size_t threads : {1u, 2u}) {
          const std::string base = "qmv/bits:" + std::to_string(bits) + "/group:" + std::to_string(gs) + "/" +
                                   std::to_string(s.rows) + "x" + std::to_string(s.cols);
          const famx::quant::affine_format fmt{bits, gs};
          benchmark::RegisterBenchmark((base + "/f32/threads:" + std::to_string(threads)).c_str(),
                                       [=](benchmark::State& st) { bm_qmv<float>(st, s.rows, s.cols, fmt, threads); })
              ->UseRealTime()->Unit(benchmark::kMicrosecond);
          benchmark::RegisterBenchmark((base + "/int8/threads:" + std::to_string(threads)).c_str(),
                                       [=](benchmark::State& st) { bm_qmv<float, true>(st, s.rows, s.cols, fmt, threads); })
              ->UseRealTime()->Unit(benchmark::kMicrosecond);
          benchmark::RegisterBenchmark((base + "/bf16/threads:" + std::to_string(threads)).c_str(),
                                       [=](benchmark::State& st) { bm_qmv<famx::bf16>(st, s.rows, s.cols, fmt, threads); })
              ->UseRealTime()->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  // Larger than the L3 cache of the machine the issue was measured on (75 MB): where two threads
  // must double one thread's bandwidth; and 4 copies of it (300 MB), past a larger L3.
  for (std::size_t copies : {1u, 4u}) {
    for (std::size_t threads : {1u, 2u}) {
      const std::string base = "qmv/bits:4/group:64/16384x8192" + (copies > 1 ? "/copies:" + std::to_string(copies) : "");
      benchmark::RegisterBenchmark((base + "/f32/threads:" + std::to_string(threads)).c_str(),
                                   [=](benchmark::State& st) { bm_qmv<float>(st, 16384, 8192, {4, 64}, threads, copies); })
          ->UseRealTime()->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark((base + "/int8/threads:" + std::to_string(threads)).c_str(),
                                   [=](benchmark::State& st) { bm_qmv<float, true>(st, 16384, 8192, {4, 64}, threads, copies); })
          ->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  }
  for (int bits : {4, 8}) {
    for (const auto& s : shapes) {
      for (std::size_t threads : {1u, 2u}) {
        const std::string name = "qmm/bits:" + std::to_string(bits) + "/group:64/" + std::to_string(s.rows) + "x" +
                                 std::to_string(s.cols) + "/m:512/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
          bm_qmm(st, s.rows, s.cols, {bits, 64}, 512, threads);
        })->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("qmm_fast" + name.substr(3)).c_str(), [=](benchmark::State& st) {
          bm_qmm<true>(st, s.rows, s.cols, {bits, 64}, 512, threads);
        })->UseRealTime()->Unit(benchmark::kMillisecond);
      }
    }
  }
  // m:32 is a Qwen3-30B-A3B expert's share of a 512-token prompt (8 of 128 experts per token).
  for (const auto& s : {shapes[0], shapes[1]}) {
    for (std::size_t m : {512u, 32u}) {
      for (bool panels : {false, true}) {
        for (std::size_t threads : {1u, 2u}) {
          const std::string name = "qmm_int8/bits:4/group:64/" + std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                                   "/m:" + std::to_string(m) + (panels ? "/panels" : "") + "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
            bm_qmm_int8(st, s.rows, s.cols, {4, 64}, m, threads, panels);
          })->UseRealTime()->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return famx_bench::run(argc, argv, register_all); }
