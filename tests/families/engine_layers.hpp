#pragma once
// Engine-side layer structs, as a downstream engine would write them, for conformance tests.

#include "famx/surface/conformance.hpp"

namespace famx_test {

struct proj {};
struct norm {};
struct gqa_attn {
  proj q_proj, k_proj, v_proj, o_proj;
  int n_heads = 0, n_kv_heads = 0;
};
struct qk_norm_attn : gqa_attn {
  norm q_norm, k_norm;
};
struct dense_mlp {
  proj gate_proj, up_proj, down_proj;
};
struct switch_glu {
  proj gate_proj, up_proj, down_proj;
};
struct qwen_moe_mlp {
  proj gate;
  switch_glu switch_mlp;
};
struct layer_norms {
  norm input_layernorm, post_attention_layernorm;
};
struct llama_layer : layer_norms {
  gqa_attn self_attn;
  dense_mlp mlp;
};
struct qwen_layer : layer_norms {
  qk_norm_attn self_attn;
  dense_mlp mlp;
};
struct qwen_moe_layer : layer_norms {
  qk_norm_attn self_attn;
  qwen_moe_mlp mlp;
};
struct mla_attn {
  int q_lora_rank = 0, num_heads = 0;
  proj q_a_proj, q_b_proj, kv_a_proj_with_mqa, embed_q, unembed_out, o_proj;
  norm q_a_layernorm, kv_a_layernorm;
};
struct indexer {
  proj wq_b, wk, weights_proj;
  norm k_norm;
};
struct mla_indexed_attn : mla_attn {
  struct indexer indexer;
};
struct moe_gate {
  float* weight = nullptr;
  float* e_score_correction_bias = nullptr;
};
struct deepseek_moe_mlp {
  moe_gate gate;
  switch_glu switch_mlp;
  dense_mlp shared_experts;
};
struct deepseek_moe_layer : layer_norms {
  mla_attn self_attn;
  deepseek_moe_mlp mlp;
};
struct deepseek_dense_layer : layer_norms {
  mla_attn self_attn;
  dense_mlp mlp;
};
struct deepseek_either_mlp : deepseek_moe_mlp, dense_mlp {};  // an engine's MLP that holds both forms
struct deepseek_v32_layer : layer_norms {
  mla_indexed_attn self_attn;
  deepseek_either_mlp mlp;
};
struct delta_net {
  proj in_proj_qkvz, in_proj_ba, out_proj;
  float *conv1d = nullptr, *A_log = nullptr, *dt_bias = nullptr;
  struct norm norm;
  int num_k_heads = 0, num_v_heads = 0;
};
struct gated_attn {
  proj q_proj, k_proj, v_proj, o_proj;
  norm q_norm, k_norm;
  int num_attention_heads = 0, num_key_value_heads = 0;
};
struct next_moe_mlp : qwen_moe_mlp, dense_mlp {  // MoE with a shared expert, or dense
  dense_mlp shared_expert;
  proj shared_expert_gate;
};
struct next_linear_layer : layer_norms {
  delta_net linear_attn;
  next_moe_mlp mlp;
};
struct next_full_layer : layer_norms {
  gated_attn self_attn;
  next_moe_mlp mlp;
};

// An engine whose attention fuses q, k and v and calls the head count num_heads.
struct fused_attn {
  proj qkv_proj, o_proj;
  int num_heads = 0, num_kv_heads = 0;
};
struct renamed_llama_layer : layer_norms {
  fused_attn self_attn;
  dense_mlp mlp;
};

}  // namespace famx_test

template <>
struct famx::surface::engine_names<famx_test::fused_attn> {
  using map = type_list<as<"q_proj", &famx_test::fused_attn::qkv_proj>, as<"k_proj", &famx_test::fused_attn::qkv_proj>,
                        as<"v_proj", &famx_test::fused_attn::qkv_proj>, as<"n_heads", &famx_test::fused_attn::num_heads>,
                        as<"n_kv_heads", &famx_test::fused_attn::num_kv_heads>>;
};
