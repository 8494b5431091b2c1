// MoE benchmarks, each with a baseline measured in the same run:
//  - routers: tokens/s against the fp64 scalar reference router (x_scalar);
//  - one decode token through a whole block: time against the roofline time to stream the selected
//    experts' weight bytes (and the shared expert's and router's) once, measured by a plain read of
//    those same bytes (x_roof = block time / roofline time); fused vs unfused experts, with exact
//    and with int8 activations;
//  - prefill: tokens/s and GFLOP/s with sorted, batched dispatch (int8 also on the experts' load-time
//    panel layout) on 1 and 2 threads, and the speedups over one pair at a time (x_one_by_one) and
//    over unsorted dispatch (x_unsorted).
#include <famx/moe/block.hpp>  // includes <famx/kernels.hpp> first

#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <famx/famx.hpp>

#include "baselines.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using famx::moe::routing_config;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Fast fill of random words (the kernels' speed does not depend on the values).
void fill_random(std::vector<std::uint32_t>& v, std::uint64_t seed) {
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& w : v) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    w = static_cast<std::uint32_t>(s);
  }
}

// MLX-layout stacked weights [E, rows, cols], 4-bit group 64, bf16 scales.
struct stack {
  std::vector<std::uint32_t> packed;
  std::vector<famx::bf16> scales, biases;
  famx::moe::stacked_qmatrix view;
  famx::quant::qmatrix_view one;

  stack(std::size_t E, std::size_t rows, std::size_t cols, std::uint64_t seed) {
    const famx::quant::affine_format fmt{4, 64};
    packed.resize(E * rows * fmt.packed_words(cols));
    fill_random(packed, seed);
    scales.assign(E * rows * fmt.groups(cols), famx::bf16::from_float(0.002f));
    biases.assign(scales.size(), famx::bf16::from_float(-0.01f));
    one = {packed.data(), scales.data(), biases.data(), famx::dtype::bf16, fmt, rows, cols,
           fmt.packed_words(cols), fmt.groups(cols)};
    view = {one, E, rows * fmt.packed_words(cols), rows * fmt.groups(cols)};
  }
  // The bytes of expert e.
  std::vector<famx_bench::bytes> parts(std::size_t e) const {
    const auto v = view[e];
    const std::size_t words = v.rows * v.packed_stride, n = v.rows * v.scale_stride;
    return {std::as_bytes(std::span(v.packed, words)),
            std::as_bytes(std::span(static_cast<const famx::bf16*>(v.scales), n)),
            std::as_bytes(std::span(static_cast<const famx::bf16*>(v.biases), n))};
  }
};

// A full-size MoE block: Qwen3-30B-A3B (quantized 8-bit router, no shared expert) or DeepSeek-V3
// (bf16 router with correction bias, one shared expert of the routed size).
struct block {
  routing_config config;
  std::size_t D, I;
  stack gate_proj, up_proj, down_proj;
  std::vector<std::uint32_t> router_packed;
  std::vector<famx::bf16> router_scales, router_biases, router_dense;
  std::vector<float> bias;
  std::optional<stack> shared_gate, shared_up, shared_down;
  famx::moe::moe_block_weights w;
  std::optional<famx::moe::expert_int8_panels> panels;  // built on first use

  // w with the routed experts' panels (built on the first call).
  famx::moe::moe_block_weights with_panels() {
    if (!panels) panels = famx::moe::expert_int8_panels::of(w);
    famx::moe::moe_block_weights p = w;
    p.int8_panels = &*panels;
    return p;
  }

  block(routing_config c, std::size_t d, std::size_t i, bool deepseek)
      : config(c), D(d), I(i), gate_proj(c.num_experts, i, d, 1), up_proj(c.num_experts, i, d, 2),
        down_proj(c.num_experts, d, i, 3) {
    const std::size_t E = c.num_experts;
    w.gate_proj = gate_proj.view;
    w.up_proj = up_proj.view;
    w.down_proj = down_proj.view;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    if (deepseek) {
      router_dense.resize(E * D);
      for (auto& v : router_dense) v = famx::bf16::from_float(nd(rng));
      w.gate.dense = famx::tensor_view::contiguous(router_dense.data(), famx::dtype::bf16,
                                                   {static_cast<std::int64_t>(E), static_cast<std::int64_t>(D)});
      bias.resize(E);
      for (auto& b : bias) b = nd(rng);
      w.e_score_correction_bias = bias;
      shared_gate.emplace(1, i, d, 4);
      shared_up.emplace(1, i, d, 5);
      shared_down.emplace(1, d, i, 6);
      w.shared = famx::moe::glu_view{shared_gate->one, shared_up->one, shared_down->one};
    } else {
      const famx::quant::affine_format f8{8, 64};
      router_packed.resize(E * f8.packed_words(D));
      fill_random(router_packed, 8);
      router_scales.assign(E * f8.groups(D), famx::bf16::from_float(0.001f));
      router_biases.assign(router_scales.size(), famx::bf16::from_float(-0.1f));
      w.gate.quantized = famx::quant::qmatrix_view{router_packed.data(), router_scales.data(), router_biases.data(),
                                                   famx::dtype::bf16, f8, E, D, f8.packed_words(D), f8.groups(D)};
    }
  }

  // The bytes one token reads: its k experts, the shared expert and the router.
  std::vector<famx_bench::bytes> token_bytes(const famx::moe::routing& r) const {
    std::vector<famx_bench::bytes> parts;
    for (std::int32_t e : r.experts_of(0))
      for (const stack* s : {&gate_proj, &up_proj, &down_proj})
        for (auto b : s->parts(static_cast<std::size_t>(e))) parts.push_back(b);
    if (shared_gate)
      for (const auto* s : {&*shared_gate, &*shared_up, &*shared_down})
        for (auto b : s->parts(0)) parts.push_back(b);
    if (w.gate.quantized) {
      parts.push_back(std::as_bytes(std::span(router_packed)));
      parts.push_back(std::as_bytes(std::span(router_scales)));
      parts.push_back(std::as_bytes(std::span(router_biases)));
    } else {
      parts.push_back(std::as_bytes(std::span(router_dense)));
    }
    return parts;
  }
};

routing_config qwen3_30b() { return {famx::moe::scoring::softmax, 128, 8, true}; }
routing_config deepseek_v3() { return {famx::moe::scoring::sigmoid, 256, 8, true, 8, 4, 2.5f}; }
routing_config qwen3_next() { return {famx::moe::scoring::softmax, 512, 10, true}; }

block& qwen_block() {
  static block b(qwen3_30b(), 2048, 768, false);
  return b;
}
block& deepseek_block() {
  static block b(deepseek_v3(), 7168, 2048, true);
  return b;
}

std::vector<float> activations(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  return x;
}

void bm_router(benchmark::State& state, routing_config c, std::size_t tokens) {
  const auto logits = activations(tokens * c.num_experts, 1);
  std::vector<float> bias(c.scoring == famx::moe::scoring::sigmoid ? c.num_experts : 0, 0.01f);
  auto t0 = clock_type::now();
  famx::moe::reference_route(c, logits, bias, tokens);
  const double ref_secs = seconds_since(t0);
  t0 = clock_type::now();
  for (auto _ : state) benchmark::DoNotOptimize(famx::moe::route(c, logits, bias, tokens).experts.data());
  const double secs = seconds_since(t0) / static_cast<double>(state.iterations());
  state.counters["tokens/s"] = static_cast<double>(tokens) / secs;
  state.counters["x_scalar"] = ref_secs / secs;
  state.SetLabel(famx::kernel_target());
}

void bm_decode(benchmark::State& state, block& b, famx::moe::moe_options opt) {
  const auto x = activations(b.D, 2);
  std::vector<float> out(b.D);
  const auto stats = famx::moe::moe_block(b.config, b.w, x, 1, out, opt);
  const auto parts = b.token_bytes(stats.routing);
  std::size_t bytes = 0;
  for (auto p : parts) bytes += p.size();
  const double roof_gbps = famx_bench::stream_read_gbps(parts, {});
  const auto t0 = clock_type::now();
  for (auto _ : state) famx::moe::moe_block(b.config, b.w, x, 1, out, opt);
  const double secs = seconds_since(t0) / static_cast<double>(state.iterations());
  const double roof_secs = static_cast<double>(bytes) * 1e-9 / roof_gbps;
  state.counters["tokens/s"] = 1.0 / secs;
  state.counters["MB"] = static_cast<double>(bytes) * 1e-6;
  state.counters["roof_ms"] = roof_secs * 1e3;
  state.counters["x_roof"] = secs / roof_secs;  // target: <= 1.3
  state.SetLabel(famx::kernel_target());
}

// Prefill: `tokens` tokens through the block with sorted dispatch, each expert's tokens batched
// through qmm / qmm_int8 (with `panels`, int8 on the experts' load-time panel layout) on `threads`
// threads, against the same block run one (token, expert) pair at a time in the same run
// (x_one_by_one: same bits, the path before batching) and unsorted (x_unsorted). GFLOP/s counts
// 2 multiply-adds per active weight (k routed experts and the shared one, 3 matrices each).
void bm_prefill(benchmark::State& state, block& b, std::size_t tokens, bool int8, bool panels, std::size_t threads) {
  const auto x = activations(tokens * b.D, 3);
  std::vector<float> out(tokens * b.D);
  const famx::moe::moe_block_weights w = panels ? b.with_panels() : b.w;
  famx::thread_pool pool(threads);
  const famx::parallel par = threads > 1 ? pool.hook() : famx::parallel{};
  famx::moe::moe_options batched;
  batched.int8_activations = int8;
  famx::moe::moe_options one_by_one = batched, unsorted = batched;
  one_by_one.batched = false;
  unsorted.sorted = false;
  auto once = [&](const famx::moe::moe_options& o) {
    const auto t0 = clock_type::now();
    famx::moe::moe_block(b.config, w, x, tokens, out, o, par);
    return seconds_since(t0);
  };
  const double one = once(one_by_one), uns = once(unsorted);
  const auto t0 = clock_type::now();
  for (auto _ : state) famx::moe::moe_block(b.config, w, x, tokens, out, batched, par);
  const double secs = seconds_since(t0) / static_cast<double>(state.iterations());
  const double experts = static_cast<double>(b.config.num_experts_per_tok) + (b.w.shared ? 1.0 : 0.0);
  const double flops = 2.0 * 3.0 * static_cast<double>(b.D * b.I) * experts * static_cast<double>(tokens);
  state.counters["tokens/s"] = static_cast<double>(tokens) / secs;
  state.counters["GFLOP/s"] = flops / secs * 1e-9;
  state.counters["x_one_by_one"] = one / secs;
  state.counters["x_unsorted"] = uns / secs;
  state.SetLabel(famx::kernel_target());
}

void register_all() {
  for (std::size_t tokens : {1u, 4096u}) {
    const std::string t = "/tokens:" + std::to_string(tokens);
    benchmark::RegisterBenchmark(("router/softmax/E:128/k:8" + t).c_str(),
                                 [=](benchmark::State& s) { bm_router(s, qwen3_30b(), tokens); });
    benchmark::RegisterBenchmark(("router/sigmoid/E:256/k:8/n_group:8/topk_group:4" + t).c_str(),
                                 [=](benchmark::State& s) { bm_router(s, deepseek_v3(), tokens); });
    benchmark::RegisterBenchmark(("router/softmax/E:512/k:10" + t).c_str(),
                                 [=](benchmark::State& s) { bm_router(s, qwen3_next(), tokens); });
  }
  const std::pair<const char*, famx::moe::moe_options> variants[] = {
      {"/fused", {}},
      {"/unfused", {.fused = false}},
      {"/fused_int8", {.int8_activations = true}},
      {"/unfused_int8", {.fused = false, .int8_activations = true}}};
  for (const auto& [suffix, opt] : variants) {
    benchmark::RegisterBenchmark((std::string("decode/qwen3_30b_a3b") + suffix).c_str(),
                                 [=](benchmark::State& s) { bm_decode(s, qwen_block(), opt); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("decode/deepseek_v3") + suffix).c_str(),
                                 [=](benchmark::State& s) { bm_decode(s, deepseek_block(), opt); })
        ->Unit(benchmark::kMillisecond);
  }
  const std::pair<const char*, block& (*)()> blocks[] = {{"qwen3_30b_a3b", qwen_block}, {"deepseek_v3", deepseek_block}};
  for (const auto& [name, make] : blocks) {
    for (const char* mode : {"/exact", "/int8", "/int8/panels"}) {
      for (std::size_t threads : {1u, 2u}) {
        const bool int8 = mode != std::string("/exact"), panels = mode == std::string("/int8/panels");
        const std::string label = std::string("prefill/") + name + "/tokens:512" + mode + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(label.c_str(), [=, make = make](benchmark::State& s) {
          bm_prefill(s, make(), 512, int8, panels, threads);
        })->Unit(benchmark::kMillisecond)->Iterations(2);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return famx_bench::run(argc, argv, register_all); }
