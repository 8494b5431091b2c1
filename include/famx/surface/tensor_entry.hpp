#pragma once
// tensor_entry: one checkpoint tensor as a surface describes it for a given config (full name,
// logical shape, the shape as config expressions, module kind, and how mlx-lm quantizes it).

#include <cstdint>
#include <string>
#include <string_view>

#include "famx/core/dtype.hpp"
#include "famx/core/tensor.hpp"

namespace famx::surface {

// What kind of mlx.nn module owns a tensor (decides whether mlx-lm can quantize it).
enum class module_kind : std::uint8_t {
  linear,         // nn.Linear: weight [out, in], optional bias [out]
  embedding,      // nn.Embedding: weight [V, D]
  switch_linear,  // SwitchLinear: stacked experts, weight [E, out, in]
  multi_linear,   // MultiLinear (MLA embed_q / unembed_out): weight [heads, out, in]
  rms_norm,       // nn.RMSNorm: weight [dims]
  layer_norm,     // nn.LayerNorm: weight and bias [dims]
  conv1d,         // nn.Conv1d (depthwise): weight [C, K, 1]
  parameter,      // a raw mx.array attribute (A_log, dt_bias, MoEGate.weight, correction bias)
};

// Stable name of a module kind.
constexpr std::string_view to_string(module_kind k) noexcept {
  switch (k) {
    case module_kind::linear: return "linear";
    case module_kind::embedding: return "embedding";
    case module_kind::switch_linear: return "switch_linear";
    case module_kind::multi_linear: return "multi_linear";
    case module_kind::rms_norm: return "rms_norm";
    case module_kind::layer_norm: return "layer_norm";
    case module_kind::conv1d: return "conv1d";
    case module_kind::parameter: return "parameter";
  }
  return "?";
}

// How `mlx_lm.convert -q` treats a module (spec 5.5): the default bits, 8-bit/group-64 (the
// model's quant_predicate for Qwen routers), or never (no to_quantized: norms, raw arrays, conv).
enum class quant_rule : std::uint8_t { affine_default, router_8bit, never };

// One tensor of a checkpoint.
struct tensor_entry {
  std::string name;         // "model.layers.3.self_attn.q_proj.weight"
  std::string module;       // "model.layers.3.self_attn.q_proj" (the key of quantization overrides)
  shape dims;               // logical (unquantized) shape
  std::string dims_text;    // the shape as config expressions: "[num_attention_heads*head_dim, hidden_size]"
  module_kind kind = module_kind::linear;
  quant_rule rule = quant_rule::never;
  dtype float_dtype = dtype::bf16;  // dtype when stored unquantized
  bool packs = false;                // the tensor a quantized module packs (its .weight)
  std::int64_t routed_experts = 0;   // E for stacked routed experts (one token uses k of them), else 0
  int layer = -1;                    // decoder layer index, -1 for model-level tensors

  std::int64_t numel() const noexcept { return dims.numel(); }
};

}  // namespace famx::surface
