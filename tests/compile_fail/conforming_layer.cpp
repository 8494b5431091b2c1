// Must compile: the control for the compile-fail tests (same structs, nothing missing).
#include "famx/families/conforms.hpp"
#include "famx/families/deepseek_v3.hpp"
#include "famx/families/llama.hpp"

namespace {
struct proj {};
struct gqa {
  proj q_proj, k_proj, v_proj, o_proj;
  int n_heads = 0, n_kv_heads = 0;
};
struct glu {
  proj gate_proj, up_proj, down_proj;
};
struct llama_layer {
  gqa self_attn;
  glu mlp;
};
struct mla {
  int q_lora_rank = 0, num_heads = 0;
  proj q_a_proj, q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj;
};
struct moe {
  glu switch_mlp, shared_experts;
};
struct deepseek_layer {
  mla self_attn;
  moe mlp;
};
}  // namespace

static_assert(famx::check_conforms<llama_layer, famx::families::llama>());
static_assert(famx::check_conforms<deepseek_layer, famx::families::deepseek_v3>());

int main() {}
