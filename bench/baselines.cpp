// Same-run baselines: a streaming read (plain C++; the compiler vectorizes it) and an fp32 FMA
// peak loop (Highway, dispatched to the best target; this TU owns its foreach_target).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "baselines.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

#include "baselines.hpp"

HWY_BEFORE_NAMESPACE();
namespace famx_bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 12 independent FMA chains for `iters` steps; returns a value so nothing is optimized away.
HWY_NOINLINE float FmaChains(std::size_t iters) {
  const hn::ScalableTag<float> d;
  // Distinct starting values: identical chains would be merged by the compiler.
  auto a0 = hn::Set(d, 1.00f), a1 = hn::Set(d, 1.01f), a2 = hn::Set(d, 1.02f), a3 = hn::Set(d, 1.03f);
  auto a4 = hn::Set(d, 1.04f), a5 = hn::Set(d, 1.05f), a6 = hn::Set(d, 1.06f), a7 = hn::Set(d, 1.07f);
  auto a8 = hn::Set(d, 1.08f), a9 = hn::Set(d, 1.09f), a10 = hn::Set(d, 1.10f), a11 = hn::Set(d, 1.11f);
  const auto m = hn::Set(d, 0.999999f), c = hn::Set(d, 1e-7f);
  for (std::size_t i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c); a1 = hn::MulAdd(a1, m, c); a2 = hn::MulAdd(a2, m, c);
    a3 = hn::MulAdd(a3, m, c); a4 = hn::MulAdd(a4, m, c); a5 = hn::MulAdd(a5, m, c);
    a6 = hn::MulAdd(a6, m, c); a7 = hn::MulAdd(a7, m, c); a8 = hn::MulAdd(a8, m, c);
    a9 = hn::MulAdd(a9, m, c); a10 = hn::MulAdd(a10, m, c); a11 = hn::MulAdd(a11, m, c);
  }
  const auto s = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                         hn::Add(hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)), hn::Add(hn::Add(a8, a9), hn::Add(a10, a11))));
  return hn::GetLane(s);
}

std::size_t FloatLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

}  // namespace HWY_NAMESPACE
}  // namespace famx_bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace famx_bench {
HWY_EXPORT(FmaChains);
HWY_EXPORT(FloatLanes);

namespace {

using clock = std::chrono::steady_clock;

// Sums 64-bit words of [p, p + n) so the reads cannot be skipped.
std::uint64_t read_all(const std::byte* p, std::size_t n) {
  std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t w[4];
    std::memcpy(w, p + i, 32);
    s0 += w[0], s1 += w[1], s2 += w[2], s3 += w[3];
  }
  for (; i < n; ++i) s0 += static_cast<std::uint64_t>(p[i]);
  return s0 + s1 + s2 + s3;
}

}  // namespace

double stream_read_gbps(std::span<const bytes> parts, const famx::parallel& par, double seconds) {
  std::size_t total = 0;
  for (auto b : parts) total += b.size();
  const std::size_t chunks = std::max<std::size_t>(par.workers, 1) * 8;
  std::atomic<std::uint64_t> sink{0};
  auto one_pass = [&] {
    par.for_each(chunks, [&](std::size_t c) {
      std::uint64_t s = 0;
      for (auto b : parts) {
        const std::size_t lo = b.size() * c / chunks, hi = b.size() * (c + 1) / chunks;
        s += read_all(b.data() + lo, hi - lo);
      }
      sink.fetch_add(s, std::memory_order_relaxed);
    });
  };
  one_pass();  // warm up
  std::size_t reps = 0;
  const auto t0 = clock::now();
  double elapsed = 0;
  do {
    one_pass();
    ++reps;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  } while (elapsed < seconds);
  return static_cast<double>(total) * static_cast<double>(reps) / elapsed * 1e-9;
}

double fma_peak_gflops(const famx::parallel& par, double seconds) {
  const std::size_t iters = 1 << 20;
  const double flops_per_call = 2.0 * 12.0 * static_cast<double>(iters * HWY_DYNAMIC_DISPATCH(FloatLanes)());
  const std::size_t workers = std::max<std::size_t>(par.workers, 1);
  std::atomic<float> sink{0};
  HWY_DYNAMIC_DISPATCH(FmaChains)(iters);  // warm up (and settle the AVX-512 clock)
  std::size_t calls = 0;
  const auto t0 = clock::now();
  double elapsed = 0;
  do {
    par.for_each(workers, [&](std::size_t) { sink.store(HWY_DYNAMIC_DISPATCH(FmaChains)(iters)); });
    calls += workers;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  } while (elapsed < seconds);
  return flops_per_call * static_cast<double>(calls) / elapsed * 1e-9;
}

int run(int argc, char** argv, void (*register_cases)()) {
  register_cases();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace famx_bench
#endif  // HWY_ONCE
