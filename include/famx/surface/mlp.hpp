#pragma once
// MLP kinds as module surfaces (mlx-lm names): dense_glu (gate/up/down), switch_glu (routed
// experts `switch_mlp`, stacked [E, out, in]), routers (`gate`: an nn.Linear quantized at 8 bits
// for Qwen, or DeepSeek's raw MoEGate with `e_score_correction_bias`), `shared_experts`
// (DeepSeek / GLM) and `shared_expert` + `shared_expert_gate` (Qwen3-Next), and the MoE blocks
// built from them. Each names what Exo's tensor-parallel strategy touches in it.

#include <string_view>

#include "famx/surface/attention.hpp"

namespace famx::surface {

// down_proj(silu(gate_proj(x)) * up_proj(x)) with intermediate size I, as module Name.
template <fixed_string Name, class I, class Bias = never>
using glu = module<Name, linear<"gate_proj", dims::hidden, I, Bias>, linear<"up_proj", dims::hidden, I, Bias>,
                   linear<"down_proj", I, dims::hidden, Bias>>;

// The dense MLP of a decoder layer (`mlp`) with intermediate size I.
template <class I = field<"intermediate_size">, class Bias = never>
struct dense_glu : glu<"mlp", I, Bias> {
  static constexpr std::string_view kind = "dense";
  using tp_touches = type_list<path<"mlp", "gate_proj">, path<"mlp", "up_proj">, path<"mlp", "down_proj">>;
};

// SwitchGLU: E routed experts of intermediate size Im, `switch_mlp.{gate,up,down}_proj` [E, out, in].
template <class E, class Im>
using switch_glu = module<"switch_mlp", switch_linear<"gate_proj", E, dims::hidden, Im>,
                          switch_linear<"up_proj", E, dims::hidden, Im>,
                          switch_linear<"down_proj", E, Im, dims::hidden>>;

// Qwen router: nn.Linear(D, E, bias=False); mlx-lm's quant_predicate gives it 8 bits, group 64.
template <class E>
using linear_router = linear<"gate", dims::hidden, E, never, quant_rule::router_8bit>;

// DeepSeek / GLM router: MoEGate holds raw arrays (never quantized); the bias stays fp32.
template <class E>
using biased_router = module<"gate", parameter<"weight", dtype::bf16, E, dims::hidden>,
                             parameter<"e_score_correction_bias", dtype::f32, E>>;

// Qwen3-MoE sparse block: router + routed experts, no shared expert.
struct qwen_moe_block
    : module<"mlp", linear_router<field<"num_experts">>,
             switch_glu<field<"num_experts">, field<"moe_intermediate_size">>> {
  static constexpr std::string_view kind = "moe";
  using experts = field<"num_experts">;
  using tp_touches = type_list<path<"mlp", "switch_mlp", "gate_proj">, path<"mlp", "switch_mlp", "up_proj">,
                               path<"mlp", "switch_mlp", "down_proj">>;
};

// Qwen3-Next sparse block: adds `shared_expert` (size shared_expert_intermediate_size) and its
// sigmoid gate `shared_expert_gate` [1, D] (8-bit like the router).
struct qwen_next_moe_block
    : module<"mlp", linear_router<field<"num_experts">>,
             switch_glu<field<"num_experts">, field<"moe_intermediate_size">>,
             glu<"shared_expert", field<"shared_expert_intermediate_size">>,
             linear<"shared_expert_gate", dims::hidden, lit<1>, never, quant_rule::router_8bit>> {
  static constexpr std::string_view kind = "moe";
  using experts = field<"num_experts">;
  using tp_touches = type_list<path<"mlp", "switch_mlp", "gate_proj">, path<"mlp", "switch_mlp", "up_proj">,
                               path<"mlp", "switch_mlp", "down_proj">, path<"mlp", "shared_expert", "gate_proj">,
                               path<"mlp", "shared_expert", "up_proj">, path<"mlp", "shared_expert", "down_proj">>;
};

// DeepSeek-V3 / GLM-4 MoE block: biased router, routed experts, and `shared_experts` of size
// moe_intermediate_size * n_shared_experts when n_shared_experts is set.
struct deepseek_moe_block
    : module<"mlp", biased_router<field<"n_routed_experts">>,
             switch_glu<field<"n_routed_experts">, field<"moe_intermediate_size">>,
             when<negate<is_null<"n_shared_experts">>,
                  glu<"shared_experts", mul<field<"moe_intermediate_size">, field<"n_shared_experts">>>>> {
  static constexpr std::string_view kind = "moe";
  using experts = field<"n_routed_experts">;
  using tp_touches = type_list<path<"mlp", "shared_experts", "gate_proj">, path<"mlp", "shared_experts", "up_proj">,
                               path<"mlp", "shared_experts", "down_proj">, path<"mlp", "switch_mlp", "gate_proj">,
                               path<"mlp", "switch_mlp", "up_proj">, path<"mlp", "switch_mlp", "down_proj">>;
};

}  // namespace famx::surface
