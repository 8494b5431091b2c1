// Per-target: the name of the Highway target this copy of the kernels was compiled for.
// Re-included once per target by <famx/kernels.hpp>.

#include "famx/core/config.hpp"

#include <hwy/highway.h>

#if defined(FAMX_CORE_TARGET_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef FAMX_CORE_TARGET_INL_H_
#undef FAMX_CORE_TARGET_INL_H_
#else
#define FAMX_CORE_TARGET_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace famx {
inline namespace FAMX_ABI {
namespace HWY_NAMESPACE {

inline const char* KernelTarget() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace FAMX_ABI
}  // namespace famx
HWY_AFTER_NAMESPACE();

#endif  // FAMX_CORE_TARGET_INL_H_
