// Must not compile: a Llama layer checked as Qwen3 (Qwen3's attention has per-head q_norm and
// k_norm). The error names self_attn.q_norm.
#include "../families/engine_layers.hpp"
#include "famx/families/conforms.hpp"
#include "famx/families/qwen3.hpp"

static_assert(famx::check_conforms<famx::families::qwen3, famx_test::llama_layer>());

int main() {}
