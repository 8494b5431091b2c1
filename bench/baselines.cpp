// Same-run baselines: a streaming read, an fp32 FMA peak loop and an int8 dot-product peak loop
// (Highway, dispatched to the best target, AVX3_DL included as in <famx/kernels.hpp>; this TU owns
// its foreach_target).
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "baselines.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
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

// 12 independent chains of u8 x s8 dot products into i32 lanes (4 products per lane and step):
// vpdpbusd with VNNI (inline assembly, as famx's int8 kernels: Highway 1.0.3's AVX3_DL target
// string lacks avx512vnni), maddubs + madd + add on other x86 targets, widening multiplies elsewhere.
HWY_NOINLINE std::int32_t Int8Chains(std::size_t iters) {
  const hn::ScalableTag<std::int32_t> d;
  auto a0 = hn::Set(d, 0), a1 = hn::Set(d, 1), a2 = hn::Set(d, 2), a3 = hn::Set(d, 3);
  auto a4 = hn::Set(d, 4), a5 = hn::Set(d, 5), a6 = hn::Set(d, 6), a7 = hn::Set(d, 7);
  auto a8 = hn::Set(d, 8), a9 = hn::Set(d, 9), a10 = hn::Set(d, 10), a11 = hn::Set(d, 11);
#if HWY_TARGET == HWY_SCALAR
  const auto u = hn::Set(d, 3), s = hn::Set(d, -2);
#else
  const hn::Repartition<std::uint8_t, decltype(d)> d8;
  const auto u = hn::Set(d8, std::uint8_t{3}), s = hn::Set(d8, std::uint8_t{0xFE});
#endif
  using V = hn::Vec<decltype(d)>;
  auto step = [&](V& acc) {
#if HWY_TARGET == HWY_AVX3_DL
    asm("vpdpbusd %[s], %[u], %[acc]" : [acc] "+v"(acc.raw) : [u] "v"(u.raw), [s] "v"(s.raw));
#elif HWY_TARGET == HWY_AVX3
    acc = hn::Add(acc, V{_mm512_madd_epi16(_mm512_maddubs_epi16(u.raw, s.raw), _mm512_set1_epi16(1))});
#elif HWY_TARGET == HWY_AVX2
    acc = hn::Add(acc, V{_mm256_madd_epi16(_mm256_maddubs_epi16(u.raw, s.raw), _mm256_set1_epi16(1))});
#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
    acc = hn::Add(acc, V{_mm_madd_epi16(_mm_maddubs_epi16(u.raw, s.raw), _mm_set1_epi16(1))});
#else
    for (int k = 0; k < 4; ++k) acc = hn::Add(acc, hn::Mul(u, s));
#endif
  };
  for (std::size_t i = 0; i < iters; ++i) {
    step(a0); step(a1); step(a2); step(a3); step(a4); step(a5);
    step(a6); step(a7); step(a8); step(a9); step(a10); step(a11);
  }
  const auto t = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                         hn::Add(hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)), hn::Add(hn::Add(a8, a9), hn::Add(a10, a11))));
  return hn::GetLane(t);
}

// The sum of the 64-bit words of [p, p + n) (a byte each past the last whole vectors), read with
// the target's widest loads: the kernels stream their weights in whole vectors, and on some
// machines a single thread reads DRAM faster that way (an Intel Xeon guest: 13 GB/s with 512-bit
// loads, 8.5 with the 64-bit loads of scalar code).
HWY_NOINLINE std::uint64_t SumWords(const std::byte* HWY_RESTRICT p, std::size_t n) {
  const auto* b = reinterpret_cast<const std::uint8_t*>(p);
  std::uint64_t s = 0;
  std::size_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<std::uint64_t> d;
  const hn::Repartition<std::uint8_t, decltype(d)> d8;
  const std::size_t B = hn::Lanes(d8);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  for (; i + 4 * B <= n; i += 4 * B) {
    a0 = hn::Add(a0, hn::BitCast(d, hn::LoadU(d8, b + i)));
    a1 = hn::Add(a1, hn::BitCast(d, hn::LoadU(d8, b + i + B)));
    a2 = hn::Add(a2, hn::BitCast(d, hn::LoadU(d8, b + i + 2 * B)));
    a3 = hn::Add(a3, hn::BitCast(d, hn::LoadU(d8, b + i + 3 * B)));
  }
  s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
#endif
  for (; i < n; ++i) s += b[i];
  return s;
}

std::size_t FloatLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

}  // namespace HWY_NAMESPACE
}  // namespace famx_bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace famx_bench {
HWY_EXPORT(FmaChains);
HWY_EXPORT(FloatLanes);
HWY_EXPORT(Int8Chains);
HWY_EXPORT(SumWords);

namespace {

using clock = std::chrono::steady_clock;

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
        s += HWY_DYNAMIC_DISPATCH(SumWords)(b.data() + lo, hi - lo);
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

double int8_peak_gops(const famx::parallel& par, double seconds) {
  const std::size_t iters = 1 << 20;
  // 4 u8 x s8 products per 32-bit lane and step (a multiply and an add each).
  const double ops_per_call = 2.0 * 4.0 * 12.0 * static_cast<double>(iters * HWY_DYNAMIC_DISPATCH(FloatLanes)());
  const std::size_t workers = std::max<std::size_t>(par.workers, 1);
  std::atomic<std::int32_t> sink{0};
  HWY_DYNAMIC_DISPATCH(Int8Chains)(iters);  // warm up
  std::size_t calls = 0;
  const auto t0 = clock::now();
  double elapsed = 0;
  do {
    par.for_each(workers, [&](std::size_t) { sink.store(HWY_DYNAMIC_DISPATCH(Int8Chains)(iters)); });
    calls += workers;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  } while (elapsed < seconds);
  return ops_per_call * static_cast<double>(calls) / elapsed * 1e-9;
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
