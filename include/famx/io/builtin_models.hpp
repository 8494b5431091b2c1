#pragma once
// Built-in architecture figures: a minimal config.json (only the keys mlx-lm reads) for at least one
// model of every family, so the advisor works offline from a model id. They go through the same
// parser and validation as a real config.json. Values are those of the models' published configs.

#include <array>
#include <string_view>

namespace famx::io {

// One built-in architecture: a short key ("Qwen3-30B-A3B") and its config.json text.
struct builtin_model {
  std::string_view key;
  std::string_view config_json;
};

inline constexpr std::array<builtin_model, 12> builtin_models = {{
    {"Llama-3.2-1B", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":2048,
      "num_hidden_layers":16,"intermediate_size":8192,"num_attention_heads":32,"num_key_value_heads":8,
      "head_dim":64,"rms_norm_eps":1e-05,"vocab_size":128256,"max_position_embeddings":131072,
      "rope_theta":500000.0,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
      "original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":true})"},
    {"Llama-3.2-3B", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":3072,
      "num_hidden_layers":28,"intermediate_size":8192,"num_attention_heads":24,"num_key_value_heads":8,
      "head_dim":128,"rms_norm_eps":1e-05,"vocab_size":128256,"max_position_embeddings":131072,
      "rope_theta":500000.0,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
      "original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":true})"},
    {"Llama-3.1-8B", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4096,
      "num_hidden_layers":32,"intermediate_size":14336,"num_attention_heads":32,"num_key_value_heads":8,
      "rms_norm_eps":1e-05,"vocab_size":128256,"max_position_embeddings":131072,"rope_theta":500000.0,
      "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
      "original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":false})"},
    {"Llama-3.1-70B", R"({"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8192,
      "num_hidden_layers":80,"intermediate_size":28672,"num_attention_heads":64,"num_key_value_heads":8,
      "rms_norm_eps":1e-05,"vocab_size":128256,"max_position_embeddings":131072,"rope_theta":500000.0,
      "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
      "original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":false})"},
    {"Qwen3-0.6B", R"({"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","hidden_size":1024,
      "num_hidden_layers":28,"intermediate_size":3072,"num_attention_heads":16,"num_key_value_heads":8,
      "head_dim":128,"rms_norm_eps":1e-06,"vocab_size":151936,"max_position_embeddings":40960,
      "rope_theta":1000000,"rope_scaling":null,"tie_word_embeddings":true})"},
    {"Qwen3-30B-A3B", R"({"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3_moe",
      "hidden_size":2048,"num_hidden_layers":48,"intermediate_size":6144,"num_attention_heads":32,
      "num_key_value_heads":4,"head_dim":128,"num_experts":128,"num_experts_per_tok":8,
      "decoder_sparse_step":1,"mlp_only_layers":[],"moe_intermediate_size":768,"norm_topk_prob":true,
      "rms_norm_eps":1e-06,"vocab_size":151936,"max_position_embeddings":40960,"rope_theta":1000000.0,
      "rope_scaling":null,"tie_word_embeddings":false})"},
    {"Qwen3-235B-A22B", R"({"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3_moe",
      "hidden_size":4096,"num_hidden_layers":94,"intermediate_size":12288,"num_attention_heads":64,
      "num_key_value_heads":4,"head_dim":128,"num_experts":128,"num_experts_per_tok":8,
      "decoder_sparse_step":1,"mlp_only_layers":[],"moe_intermediate_size":1536,"norm_topk_prob":true,
      "rms_norm_eps":1e-06,"vocab_size":151936,"max_position_embeddings":40960,"rope_theta":1000000.0,
      "rope_scaling":null,"tie_word_embeddings":false})"},
    {"Qwen3-Next-80B-A3B", R"({"architectures":["Qwen3NextForCausalLM"],"model_type":"qwen3_next",
      "hidden_size":2048,"num_hidden_layers":48,"intermediate_size":5120,"num_attention_heads":16,
      "num_key_value_heads":2,"head_dim":256,"linear_num_key_heads":16,"linear_num_value_heads":32,
      "linear_key_head_dim":128,"linear_value_head_dim":128,"linear_conv_kernel_dim":4,
      "num_experts":512,"num_experts_per_tok":10,"decoder_sparse_step":1,"mlp_only_layers":[],
      "moe_intermediate_size":512,"shared_expert_intermediate_size":512,"norm_topk_prob":true,
      "full_attention_interval":4,"partial_rotary_factor":0.25,"rms_norm_eps":1e-06,"vocab_size":151936,
      "max_position_embeddings":262144,"rope_theta":10000000,"rope_scaling":null,
      "tie_word_embeddings":false})"},
    {"DeepSeek-V3", R"({"architectures":["DeepseekV3ForCausalLM"],"model_type":"deepseek_v3",
      "hidden_size":7168,"num_hidden_layers":61,"intermediate_size":18432,"moe_intermediate_size":2048,
      "num_attention_heads":128,"num_key_value_heads":128,"n_shared_experts":1,"n_routed_experts":256,
      "routed_scaling_factor":2.5,"kv_lora_rank":512,"q_lora_rank":1536,"qk_rope_head_dim":64,
      "v_head_dim":128,"qk_nope_head_dim":128,"topk_method":"noaux_tc","scoring_func":"sigmoid",
      "norm_topk_prob":true,"n_group":8,"topk_group":4,"num_experts_per_tok":8,"moe_layer_freq":1,
      "first_k_dense_replace":3,"max_position_embeddings":163840,"rms_norm_eps":1e-06,"rope_theta":10000,
      "rope_scaling":{"beta_fast":32,"beta_slow":1,"factor":40,"mscale":1.0,"mscale_all_dim":1.0,
      "original_max_position_embeddings":4096,"type":"yarn"},"vocab_size":129280,"attention_bias":false})"},
    {"DeepSeek-V3.2", R"({"architectures":["DeepseekV32ForCausalLM"],"model_type":"deepseek_v32",
      "hidden_size":7168,"num_hidden_layers":61,"intermediate_size":18432,"moe_intermediate_size":2048,
      "num_attention_heads":128,"num_key_value_heads":128,"n_shared_experts":1,"n_routed_experts":256,
      "routed_scaling_factor":2.5,"kv_lora_rank":512,"q_lora_rank":1536,"qk_rope_head_dim":64,
      "v_head_dim":128,"qk_nope_head_dim":128,"topk_method":"noaux_tc","scoring_func":"sigmoid",
      "norm_topk_prob":true,"n_group":8,"topk_group":4,"num_experts_per_tok":8,"moe_layer_freq":1,
      "first_k_dense_replace":3,"max_position_embeddings":163840,"rms_norm_eps":1e-06,"rope_theta":10000,
      "rope_scaling":{"beta_fast":32,"beta_slow":1,"factor":40,"mscale":1.0,"mscale_all_dim":1.0,
      "original_max_position_embeddings":4096,"type":"yarn"},"vocab_size":129280,"attention_bias":false,
      "index_head_dim":128,"index_n_heads":64,"index_topk":2048})"},
    {"GLM-4.5-Air", R"({"architectures":["Glm4MoeForCausalLM"],"model_type":"glm4_moe","vocab_size":151552,
      "hidden_size":4096,"intermediate_size":10944,"max_position_embeddings":131072,
      "moe_intermediate_size":1408,"norm_topk_prob":true,"num_attention_heads":96,"n_group":1,
      "head_dim":128,"topk_group":1,"n_shared_experts":1,"n_routed_experts":128,
      "routed_scaling_factor":1.0,"num_experts_per_tok":8,"first_k_dense_replace":1,
      "num_hidden_layers":46,"num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_theta":1000000,
      "rope_scaling":null,"use_qk_norm":false,"tie_word_embeddings":false,"attention_bias":true,
      "partial_rotary_factor":0.5})"},
    {"Ministral-3-8B", R"({"model_type":"ministral3","hidden_size":4096,"num_hidden_layers":34,
      "intermediate_size":14336,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":128,
      "rms_norm_eps":1e-05,"vocab_size":131072,"tie_word_embeddings":false,
      "rope_parameters":{"rope_type":"yarn","rope_theta":1000000.0,"factor":16.0,
      "original_max_position_embeddings":16384,"beta_fast":32.0,"beta_slow":1.0,
      "llama_4_scaling_beta":0.1}})"},
}};

// The built-in architecture with this key, or nullptr.
constexpr const builtin_model* find_builtin(std::string_view key) noexcept {
  for (const auto& b : builtin_models)
    if (b.key == key) return &b;
  return nullptr;
}

}  // namespace famx::io
