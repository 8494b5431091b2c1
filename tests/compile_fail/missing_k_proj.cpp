// Must not compile: a Llama layer whose attention lacks k_proj. The error names the path.
#include "../families/engine_layers.hpp"
#include "famx/families/conforms.hpp"
#include "famx/families/llama.hpp"

namespace {
struct attention {
  famx_test::proj q_proj, v_proj, o_proj;  // no k_proj
  int n_heads = 0, n_kv_heads = 0;
};
struct layer : famx_test::layer_norms {
  attention self_attn;
  famx_test::dense_mlp mlp;
};
}  // namespace

static_assert(famx::check_conforms<famx::families::llama, layer>());

int main() {}
