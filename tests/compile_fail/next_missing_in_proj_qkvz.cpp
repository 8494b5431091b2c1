// Must not compile: a Qwen3-Next linear-attention layer type without linear_attn.in_proj_qkvz (the
// full-attention layer type is complete). The error names linear_attn.in_proj_qkvz.
#include "../families/engine_layers.hpp"
#include "famx/families/conforms.hpp"
#include "famx/families/qwen3_next.hpp"

namespace {
struct delta_net_without_qkvz {
  famx_test::proj in_proj_ba, out_proj;
  float *conv1d = nullptr, *A_log = nullptr, *dt_bias = nullptr;
  famx_test::norm norm;
  int num_k_heads = 0, num_v_heads = 0;
};
struct linear_layer : famx_test::layer_norms {
  delta_net_without_qkvz linear_attn;
  famx_test::next_moe_mlp mlp;
};
}  // namespace

static_assert(famx::check_conforms<famx::families::qwen3_next, linear_layer, famx_test::next_full_layer>());

int main() {}
