#pragma once
// Engine-side layer structs, as a downstream engine would write them, for conformance tests.

namespace famx_test {

struct proj {};
struct gqa_attn {
  proj q_proj, k_proj, v_proj, o_proj;
  int n_heads = 0, n_kv_heads = 0;
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
struct llama_layer {
  gqa_attn self_attn;
  dense_mlp mlp;
};
struct qwen_moe_layer {
  gqa_attn self_attn;
  qwen_moe_mlp mlp;
};
struct mla_attn {
  int q_lora_rank = 0, num_heads = 0;
  proj q_a_proj, q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj;
};
struct deepseek_moe_mlp {
  switch_glu switch_mlp;
  dense_mlp shared_experts;
};
struct deepseek_layer {
  mla_attn self_attn;
  deepseek_moe_mlp mlp;
};

}  // namespace famx_test
