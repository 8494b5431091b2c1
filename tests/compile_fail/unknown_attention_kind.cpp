// Must not compile: a layer whose attention kind has no forward (no attention_impl): the error
// names the kind, there is no fallback to another attention.
#include <famx/model/layer.hpp>

namespace fs = famx::surface;

struct sliding_attention
    : fs::module<"self_attn", fs::linear<"q_proj", fs::dims::hidden, fs::dims::hidden>,
                 fs::linear<"o_proj", fs::dims::hidden, fs::dims::hidden>> {
  static constexpr std::string_view kind = "sliding_attention";
  static constexpr std::string_view output = "self_attn.o_proj";
  using tp_touches = fs::type_list<fs::path<"self_attn", "q_proj">, fs::path<"self_attn", "o_proj">>;
  using tp_attributes = fs::type_list<>;
};

using layer = famx::model::layer_impl<fs::decoder_layer<sliding_attention, fs::dense_glu<>>>;
static_assert(sizeof(layer::params) > 0);

int main() {}
