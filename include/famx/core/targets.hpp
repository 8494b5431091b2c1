#pragma once
// Which SIMD targets the famx kernels were compiled for and dispatch to, and a guard that forces
// one target (for tests and benchmarks; it changes process-wide Highway state, not thread-safe).

#include <cstdint>
#include <vector>

#include <hwy/targets.h>

#include "famx/core/config.hpp"

#if defined(FAMX_EXTERN_KERNELS) || defined(FAMX_IMPLEMENT_KERNELS)
#define FAMX_KERNEL_LINKAGE
#else
#define FAMX_KERNEL_LINKAGE inline
#endif

namespace famx {
inline namespace FAMX_ABI {
// Name of the SIMD target the kernels dispatch to now ("AVX3", "AVX2", "SSE4", "SCALAR", ...).
FAMX_KERNEL_LINKAGE const char* kernel_target();
// Every target the kernels were compiled for that this CPU can run, best first.
FAMX_KERNEL_LINKAGE std::vector<std::int64_t> kernel_targets();
}  // namespace FAMX_ABI

// Makes dispatch pick `target` (one of kernel_targets()) until destroyed.
class force_target {
 public:
  explicit force_target(std::int64_t target) { hwy::SetSupportedTargetsForTest(target); }
  force_target(const force_target&) = delete;
  force_target& operator=(const force_target&) = delete;
  ~force_target() { hwy::SetSupportedTargetsForTest(0); }
};

}  // namespace famx
