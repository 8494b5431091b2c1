// Must not compile: a DeepSeek-V3 MoE layer without self_attn.kv_b_proj. The error names the path.
#include "famx/families/conforms.hpp"
#include "famx/families/deepseek_v3.hpp"

namespace {
struct proj {};
struct attention {
  int q_lora_rank = 0, num_heads = 0;
  proj q_a_proj, q_b_proj, kv_a_proj_with_mqa, o_proj;  // no kv_b_proj
};
struct glu {
  proj gate_proj, up_proj, down_proj;
};
struct moe {
  glu switch_mlp, shared_experts;
};
struct layer {
  attention self_attn;
  moe mlp;
};
}  // namespace

static_assert(famx::check_conforms<layer, famx::families::deepseek_v3>());

int main() {}
