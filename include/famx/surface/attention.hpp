#pragma once
// Attention kinds as module surfaces (names verbatim from mlx-lm): gqa_attention (Llama / Qwen3 /
// GLM-4 MoE, optional q/k norm and biases), gated_attention (Qwen3-Next full attention: q_proj
// doubled for the output gate), gated_delta_net (Qwen3-Next linear_attn), mla_attention
// (DeepSeek-V3 as mlx-lm holds it: the HF checkpoint's kv_b_proj split per head into embed_q /
// unembed_out by sanitize) and the DeepSeek-V3.2 lightning indexer. Each kind names the modules
// and attributes Exo's tensor-parallel strategy touches in it (tp_touches, tp_attributes), its
// row-parallel output projection (`output`) and what its KV cache holds (kv(c), a kv_layout).

#include <string_view>

#include "famx/surface/kv_layout.hpp"

#include "famx/surface/norm.hpp"
#include "famx/surface/parameter.hpp"

namespace famx::surface {

// Config fields shared by the attention kinds (HF keys).
namespace dims {
using hidden = field<"hidden_size">;
using heads = field<"num_attention_heads">;
using kv_heads = field<"num_key_value_heads">;
using head_dim = field<"head_dim">;
using q_lora = field<"q_lora_rank">;
using kv_lora = field<"kv_lora_rank">;
using qk_nope = field<"qk_nope_head_dim">;
using qk_rope = field<"qk_rope_head_dim">;
using v_head = field<"v_head_dim">;
using qk_head = add<qk_nope, qk_rope>;
using nk = field<"linear_num_key_heads">;
using nv = field<"linear_num_value_heads">;
using dk = field<"linear_key_head_dim">;
using dv = field<"linear_value_head_dim">;
using key_dim = mul<nk, dk>;
using value_dim = mul<nv, dv>;
using conv_dim = add<mul<lit<2>, key_dim>, value_dim>;
}  // namespace dims

// Grouped-query attention: q/k/v/o projections, optional per-head q_norm/k_norm (RMSNorm(head_dim)).
template <class QkvBias = never, class OBias = QkvBias, class QkNorm = never>
struct gqa_attention
    : module<"self_attn",
             linear<"q_proj", dims::hidden, mul<dims::heads, dims::head_dim>, QkvBias>,
             linear<"k_proj", dims::hidden, mul<dims::kv_heads, dims::head_dim>, QkvBias>,
             linear<"v_proj", dims::hidden, mul<dims::kv_heads, dims::head_dim>, QkvBias>,
             linear<"o_proj", mul<dims::heads, dims::head_dim>, dims::hidden, OBias>,
             when<QkNorm, rms_norm<"q_norm", dims::head_dim>, rms_norm<"k_norm", dims::head_dim>>> {
  static constexpr std::string_view kind = "full_attention";
  static constexpr std::string_view output = "self_attn.o_proj";
  using tp_touches = type_list<path<"self_attn", "q_proj">, path<"self_attn", "k_proj">,
                               path<"self_attn", "v_proj">, path<"self_attn", "o_proj">>;
  using tp_attributes = type_list<path<"self_attn", "n_heads">, path<"self_attn", "n_kv_heads">>;
  // Keys and values of every KV head, per token, in bf16.
  template <class Cfg>
  static kv_layout kv(const Cfg& c) {
    return {{dims::kv_heads::eval(c), 2 * dims::head_dim::eval(c), 2, true}};
  }
};

// Grouped-query attention over the last sliding_window positions (mlx-lm's "sliding_attention"
// layers of Llama and Ministral 3): gqa_attention's tensors, a windowed causal mask and a cache of
// at most sliding_window tokens.
template <class QkvBias = never, class OBias = QkvBias, class QkNorm = never>
struct sliding_attention : gqa_attention<QkvBias, OBias, QkNorm> {
  static constexpr std::string_view kind = "sliding_attention";
  // Keys and values of every KV head, per token, for at most sliding_window tokens, in bf16.
  template <class Cfg>
  static kv_layout kv(const Cfg& c) {
    return {{dims::kv_heads::eval(c), 2 * dims::head_dim::eval(c), 2, true, field<"sliding_window">::eval(c)}};
  }
};

// Qwen3-Next gated full attention: q_proj emits [query | gate] per head (2*H*head_dim rows).
struct gated_attention
    : module<"self_attn",
             linear<"q_proj", dims::hidden, mul<lit<2>, mul<dims::heads, dims::head_dim>>,
                    flag<"attention_bias">>,
             linear<"k_proj", dims::hidden, mul<dims::kv_heads, dims::head_dim>, flag<"attention_bias">>,
             linear<"v_proj", dims::hidden, mul<dims::kv_heads, dims::head_dim>, flag<"attention_bias">>,
             linear<"o_proj", mul<dims::heads, dims::head_dim>, dims::hidden>,
             rms_norm<"q_norm", dims::head_dim>, rms_norm<"k_norm", dims::head_dim>> {
  static constexpr std::string_view kind = "full_attention";
  static constexpr std::string_view output = "self_attn.o_proj";
  using tp_touches = type_list<path<"self_attn", "q_proj">, path<"self_attn", "k_proj">,
                               path<"self_attn", "v_proj">, path<"self_attn", "o_proj">>;
  using tp_attributes = type_list<path<"self_attn", "num_attention_heads">,
                                  path<"self_attn", "num_key_value_heads">>;
  // Keys and values of every KV head, per token, in bf16.
  template <class Cfg>
  static kv_layout kv(const Cfg& c) {
    return {{dims::kv_heads::eval(c), 2 * dims::head_dim::eval(c), 2, true}};
  }
};

// Qwen3-Next gated DeltaNet (linear attention), head-grouped in_proj_qkvz / in_proj_ba layout.
struct gated_delta_net
    : module<"linear_attn",
             linear<"in_proj_qkvz", dims::hidden, add<mul<lit<2>, dims::key_dim>, mul<lit<2>, dims::value_dim>>>,
             linear<"in_proj_ba", dims::hidden, mul<lit<2>, dims::nv>>,
             conv1d<"conv1d", dims::conv_dim, field<"linear_conv_kernel_dim">>,
             parameter<"dt_bias", dtype::bf16, dims::nv>, parameter<"A_log", dtype::bf16, dims::nv>,
             rms_norm<"norm", dims::dv>,
             linear<"out_proj", dims::value_dim, dims::hidden>> {
  static constexpr std::string_view kind = "linear_attention";
  static constexpr std::string_view output = "linear_attn.out_proj";
  using tp_touches = type_list<path<"linear_attn", "in_proj_qkvz">, path<"linear_attn", "in_proj_ba">,
                               path<"linear_attn", "conv1d">, path<"linear_attn", "out_proj">,
                               path<"linear_attn", "A_log">, path<"linear_attn", "dt_bias">>;
  using tp_attributes = type_list<path<"linear_attn", "num_k_heads">, path<"linear_attn", "num_v_heads">>;
  // A state independent of the context: the fp32 recurrent state [nv, dv, dk] and the bf16 conv
  // state [kernel - 1, 2*nk*dk + nv*dv], both split by heads.
  template <class Cfg>
  static kv_layout kv(const Cfg& c) {
    const std::int64_t k1 = field<"linear_conv_kernel_dim">::eval(c) - 1, dk = dims::dk::eval(c), dv = dims::dv::eval(c);
    return {{dims::nv::eval(c), dv * dk, 4, false}, {dims::nk::eval(c), k1 * 2 * dk, 2, false},
            {dims::nv::eval(c), k1 * dv, 2, false}};
  }
};

// The MLA query path: q_proj when q_lora_rank is null, else q_a_proj -> q_a_layernorm -> q_b_proj.
using mla_query =
    choice<is_null<"q_lora_rank">,
           linear<"q_proj", dims::hidden, mul<dims::heads, dims::qk_head>, flag<"attention_bias">>,
           group<linear<"q_a_proj", dims::hidden, dims::q_lora, flag<"attention_bias">>,
                 rms_norm<"q_a_layernorm", dims::q_lora>,
                 linear<"q_b_proj", dims::q_lora, mul<dims::heads, dims::qk_head>>>>;

// The MLA latent KV path shared by both forms: kv_a_proj_with_mqa -> [kv_lora | rope], kv_a_layernorm.
using mla_kv_a = group<linear<"kv_a_proj_with_mqa", dims::hidden, add<dims::kv_lora, dims::qk_rope>,
                              flag<"attention_bias">>,
                       rms_norm<"kv_a_layernorm", dims::kv_lora>>;

// Multi-head latent attention as mlx-lm holds it: the HF checkpoint's kv_b_proj
// [H*(nope+v), kv_lora] split per head into embed_q [H, kv_lora, nope] and unembed_out
// [H, v_head, kv_lora] (MultiLinear; same parameter count). Extra: modules added by a variant.
template <class... Extra>
struct mla_attention
    : module<"self_attn", mla_query, mla_kv_a,
             multi_linear<"embed_q", dims::heads, dims::qk_nope, dims::kv_lora>,
             multi_linear<"unembed_out", dims::heads, dims::kv_lora, dims::v_head>,
             linear<"o_proj", mul<dims::heads, dims::v_head>, dims::hidden, flag<"attention_bias">>,
             Extra...> {
  static constexpr std::string_view kind = "mla";
  static constexpr std::string_view output = "self_attn.o_proj";
  using tp_touches = type_list<one_of<path<"self_attn", "q_proj">, path<"self_attn", "q_b_proj">>,
                               path<"self_attn", "embed_q">, path<"self_attn", "unembed_out">,
                               path<"self_attn", "o_proj">>;
  using tp_attributes = type_list<path<"self_attn", "num_heads">, path<"self_attn", "q_lora_rank">>;
  // The normalized latent and the rotated k_pe per token in bf16, replicated on every rank (the
  // latent path is not split), plus what the Extra modules cache.
  template <class Cfg>
  static kv_layout kv(const Cfg& c) {
    kv_layout l{{0, dims::kv_lora::eval(c) + dims::qk_rope::eval(c), 2, true}};
    (append_kv<Extra>(l, c), ...);
    return l;
  }

 private:
  template <class E, class Cfg>
  static void append_kv(kv_layout& l, const Cfg& c) {
    if constexpr (requires { E::kv(c); })
      for (const kv_term& t : E::kv(c)) l.push_back(t);
  }
};

// The DeepSeek-V3.2 lightning indexer (self_attn.indexer), replicated under tensor parallelism; it
// caches one index_head_dim key per token (bf16, replicated).
struct dsa_indexer
    : module<"indexer",
             linear<"wq_b", dims::q_lora, mul<field<"index_n_heads">, field<"index_head_dim">>>,
             linear<"wk", dims::hidden, field<"index_head_dim">>,
             layer_norm<"k_norm", field<"index_head_dim">>,
             linear<"weights_proj", dims::hidden, field<"index_n_heads">>> {
  template <class Cfg>
  static kv_layout kv(const Cfg& c) {
    return {{0, field<"index_head_dim">::eval(c), 2, true}};
  }
};

}  // namespace famx::surface
