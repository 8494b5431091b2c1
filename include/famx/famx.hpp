#pragma once
// <famx/famx.hpp>: every non-SIMD public header of famx. The kernels are in <famx/kernels.hpp>
// (include it first in a translation unit, or use the compile-once mode); <famx/moe/block.hpp>
// uses them and includes it.

#include "famx/advise/render.hpp"
#include "famx/core/dtype.hpp"
#include "famx/core/error.hpp"
#include "famx/core/parallel.hpp"
#include "famx/core/tensor.hpp"
#include "famx/core/tree_sum.hpp"
#include "famx/families/conforms.hpp"
#include "famx/families/registry.hpp"
#include "famx/io/model_cards.hpp"
#include "famx/io/safetensors.hpp"
#include "famx/moe/dispatch.hpp"
#include "famx/moe/experts.hpp"
#include "famx/moe/reference.hpp"
#include "famx/moe/route.hpp"
#include "famx/moe/routing.hpp"
#include "famx/quant/format.hpp"
#include "famx/quant/matmul.hpp"
#include "famx/quant/pack.hpp"
#include "famx/quant/qmatrix.hpp"
#include "famx/quant/quantize.hpp"
#include "famx/quant/reference.hpp"
#include "famx/version.hpp"
