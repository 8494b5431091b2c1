// Must not compile: a Llama layer whose attention lacks k_proj. The error names the path.
#include "famx/families/conforms.hpp"
#include "famx/families/llama.hpp"

namespace {
struct proj {};
struct attention {
  proj q_proj, v_proj, o_proj;  // no k_proj
  int n_heads = 0, n_kv_heads = 0;
};
struct mlp {
  proj gate_proj, up_proj, down_proj;
};
struct layer {
  attention self_attn;
  struct mlp mlp;
};
}  // namespace

static_assert(famx::check_conforms<layer, famx::families::llama>());

int main() {}
