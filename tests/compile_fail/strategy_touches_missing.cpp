// Must not compile: a layer kind whose tensor-parallel touch list names a module (k_proj) that its
// surface does not have; decoder_layer's self-check rejects it.
#include "famx/surface/layer.hpp"

namespace fs = famx::surface;

struct broken_attention
    : fs::module<"self_attn", fs::linear<"q_proj", fs::dims::hidden, fs::dims::hidden>,
                 fs::linear<"o_proj", fs::dims::hidden, fs::dims::hidden>> {
  static constexpr std::string_view kind = "full_attention";
  using tp_touches = fs::type_list<fs::path<"self_attn", "q_proj">, fs::path<"self_attn", "k_proj">>;
  using tp_attributes = fs::type_list<>;
};

using layer = fs::decoder_layer<broken_attention, fs::dense_glu<>>;
static_assert(sizeof(layer) > 0);

int main() {}
