#pragma once
// Build configuration shared by the kernel headers: the ABI namespace that keeps inline kernel
// wrappers compiled under different baseline flags apart (an -march=native TU and a baseline TU
// never share a COMDAT copy).

#include <hwy/detect_targets.h>

#if defined(FAMX_EXTERN_KERNELS) || defined(FAMX_IMPLEMENT_KERNELS)
#define FAMX_ABI abi_extern
#elif HWY_STATIC_TARGET == HWY_SCALAR || HWY_STATIC_TARGET == HWY_EMU128
#define FAMX_ABI abi_scalar
#elif HWY_STATIC_TARGET == HWY_SSSE3
#define FAMX_ABI abi_ssse3
#elif HWY_STATIC_TARGET == HWY_SSE4
#define FAMX_ABI abi_sse4
#elif HWY_STATIC_TARGET == HWY_AVX2
#define FAMX_ABI abi_avx2
#elif HWY_STATIC_TARGET == HWY_AVX3
#define FAMX_ABI abi_avx3
#elif HWY_STATIC_TARGET == HWY_AVX3_DL
#define FAMX_ABI abi_avx3_dl
#else
#define FAMX_ABI abi_other
#endif
