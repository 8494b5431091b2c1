// Must compile: the control for the compile-fail tests (the same structs with nothing missing).
#include "../families/engine_layers.hpp"
#include "famx/families/conforms.hpp"
#include "famx/families/deepseek_v3.hpp"
#include "famx/families/llama.hpp"
#include "famx/families/qwen3_next.hpp"

static_assert(famx::check_conforms<famx::families::llama, famx_test::llama_layer>());
static_assert(famx::check_conforms<famx::families::qwen3, famx_test::qwen_layer>());
static_assert(famx::check_conforms<famx::families::deepseek_v3, famx_test::deepseek_moe_layer, famx_test::deepseek_dense_layer>());
static_assert(famx::check_conforms<famx::families::qwen3_next, famx_test::next_linear_layer, famx_test::next_full_layer>());

int main() {}
