#pragma once
// The steps of mlx-lm's sanitize() a family's checkpoints may need, named here so that a family
// trait can list them (`using sanitize = surface::type_list<...>`, applied in list order after the
// drops every family shares: rotary inverse frequencies, a tied lm_head, a wrapper's vision model).
// Each step's plan, apply and origin live together in io/sanitize_steps.hpp
// (io::sanitize_step<Step>); a new family's new step specializes it there.

#include <cstdint>

namespace famx::families::sanitize {

// Hugging Face per-expert `mlp.experts.N.*` stacked into `mlp.switch_mlp.*` (any MoE family).
struct stack_experts {};
// DeepSeek's `kv_b_proj` [H*(nope+v), kv_lora] split per head into `embed_q` and `unembed_out`.
struct split_kv_b {};
// FP8 `weight` + `weight_scale_inv` (128x128 blocks or one scalar) dequantized to bf16.
struct fp8_dequant {};
// Qwen3-Next (HF layout): conv1d weight [C, 1, K] -> [C, K, 1].
struct conv_moveaxis {};
// Qwen3-Next (HF layout): zero-centred norms stored as w - 1, shifted back by +1.
struct norm_shift {};
// Drops decoder layer Layer (DeepSeek-V3's multi-token-prediction layer 61).
template <std::int64_t Layer>
struct drop_layer {};
// Drops every `model.layers.j` with j >= num_hidden_layers (MTP layers of V3.2 and GLM-4 MoE).
struct drop_layers_past_end {};
// Drops keys containing "mtp." in a Hugging Face layout (Qwen3-Next's MTP module).
struct drop_mtp_keys {};
// Drops FP8 `.activation_scale` tensors (Ministral 3).
struct drop_activation_scale {};

}  // namespace famx::families::sanitize
