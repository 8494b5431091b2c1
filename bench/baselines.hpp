#pragma once
// Same-run baselines for the benchmarks: how fast this machine streams bytes and does fp32 FMAs,
// measured in the process that measures the kernels.

#include <cstddef>
#include <span>

#include <famx/core/parallel.hpp>

namespace famx_bench {

// A byte range to stream through.
using bytes = std::span<const std::byte>;

// GB/s of a plain streaming read of all `parts` in the best SIMD target's widest loads (the
// roofline of a kernel reading them once), split over the pool's threads; repeated for at least
// `seconds`.
double stream_read_gbps(std::span<const bytes> parts, const famx::parallel& par, double seconds = 0.05);

// fp32 FMA peak in GFLOP/s with the best SIMD target, on every thread of `par`.
double fma_peak_gflops(const famx::parallel& par, double seconds = 0.05);

// int8 dot-product peak in GOP/s (a u8 x s8 multiply-add counts 2): vpdpbusd with VNNI, maddubs
// elsewhere, best SIMD target, on every thread of `par`.
double int8_peak_gops(const famx::parallel& par, double seconds = 0.05);

// A benchmark program's main: registers the cases, then runs Google Benchmark with the arguments.
int run(int argc, char** argv, void (*register_cases)());

}  // namespace famx_bench
