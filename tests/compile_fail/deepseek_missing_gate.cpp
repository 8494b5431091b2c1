// Must not compile: a DeepSeek MoE layer without its router mlp.gate (the dense layer type covers
// the dense layers). The error names mlp.gate.
#include "../families/engine_layers.hpp"
#include "famx/families/conforms.hpp"
#include "famx/families/deepseek_v3.hpp"

namespace {
struct moe_without_router {
  famx_test::switch_glu switch_mlp;
  famx_test::dense_mlp shared_experts;
};
struct moe_layer : famx_test::layer_norms {
  famx_test::mla_attn self_attn;
  moe_without_router mlp;
};
}  // namespace

static_assert(famx::check_conforms<famx::families::deepseek_v3, moe_layer, famx_test::deepseek_dense_layer>());

int main() {}
