#pragma once
// Bundled model cards: every model id of the seed documents (Exo's inference model cards) with the
// fields they give (n_layers, hidden_size, supports_tensor, storage_size.in_bytes), plus the famx
// family, the quantization its id names and the built-in architecture (io/builtin_models.hpp)
// that describes it, when famx has one. Lookup by id.

#include <array>
#include <cstdint>
#include <string_view>

namespace famx::io {

// One Exo model card.
struct model_card {
  std::string_view model_id;        // Hugging Face repo id
  std::int64_t n_layers;            // decoder layers
  std::int64_t hidden_size;
  bool supports_tensor;             // Exo allows tensor parallelism for it
  std::int64_t storage_size_bytes;  // storage_size.in_bytes
  std::string_view family;          // famx family (HF model_type)
  std::string_view quantization;    // "4bit", "8bit", "bf16", "fp16", "mixed", ...
  std::string_view builtin;         // key of the built-in architecture, "" when famx has none
};

inline constexpr std::array<model_card, 38> model_cards = {{
    {"mlx-community/Qwen3-0.6B-4bit", 28, 1024, false, 342884352, "qwen3", "4bit", "Qwen3-0.6B"},
    {"mlx-community/Qwen3-0.6B-8bit", 28, 1024, false, 698351616, "qwen3", "8bit", "Qwen3-0.6B"},
    {"mlx-community/Qwen3-30B-A3B-4bit", 48, 2048, true, 17612931072, "qwen3_moe", "4bit", "Qwen3-30B-A3B"},
    {"mlx-community/Qwen3-30B-A3B-8bit", 48, 2048, true, 33279705088, "qwen3_moe", "8bit", "Qwen3-30B-A3B"},
    {"mlx-community/Qwen3-235B-A22B-Instruct-2507-4bit", 94, 4096, true, 141733920768, "qwen3_moe", "4bit", "Qwen3-235B-A22B"},
    {"mlx-community/Qwen3-235B-A22B-Instruct-2507-8bit", 94, 4096, true, 268435456000, "qwen3_moe", "8bit", "Qwen3-235B-A22B"},
    {"mlx-community/Qwen3-Coder-480B-A35B-Instruct-4bit", 62, 6144, true, 289910292480, "qwen3_moe", "4bit", ""},
    {"mlx-community/Qwen3-Coder-480B-A35B-Instruct-8bit", 62, 6144, true, 579820584960, "qwen3_moe", "8bit", ""},
    {"mlx-community/Qwen3-Next-80B-A3B-Instruct-4bit", 48, 2048, true, 46976204800, "qwen3_next", "4bit", "Qwen3-Next-80B-A3B"},
    {"mlx-community/Qwen3-Next-80B-A3B-Instruct-8bit", 48, 2048, true, 88814387200, "qwen3_next", "8bit", "Qwen3-Next-80B-A3B"},
    {"mlx-community/Qwen3-Next-80B-A3B-Thinking-4bit", 48, 2048, true, 47080074240, "qwen3_next", "4bit", "Qwen3-Next-80B-A3B"},
    {"mlx-community/Qwen3-Next-80B-A3B-Thinking-8bit", 48, 2048, true, 88814387200, "qwen3_next", "8bit", "Qwen3-Next-80B-A3B"},
    {"mlx-community/Llama-3.2-1B-Instruct-4bit", 16, 2048, true, 729808896, "llama", "4bit", "Llama-3.2-1B"},
    {"mlx-community/Llama-3.2-3B-Instruct-4bit", 28, 3072, true, 1863319552, "llama", "4bit", "Llama-3.2-3B"},
    {"mlx-community/Llama-3.2-3B-Instruct-8bit", 28, 3072, true, 3501195264, "llama", "8bit", "Llama-3.2-3B"},
    {"mlx-community/Meta-Llama-3.1-8B-Instruct-4bit", 32, 4096, true, 4637851648, "llama", "4bit", "Llama-3.1-8B"},
    {"mlx-community/Meta-Llama-3.1-8B-Instruct-8bit", 32, 4096, true, 8954839040, "llama", "8bit", "Llama-3.1-8B"},
    {"mlx-community/Meta-Llama-3.1-8B-Instruct-bf16", 32, 4096, true, 16882073600, "llama", "bf16", "Llama-3.1-8B"},
    {"mlx-community/Meta-Llama-3.1-70B-Instruct-4bit", 80, 8192, true, 40652242944, "llama", "4bit", "Llama-3.1-70B"},
    {"mlx-community/Llama-3.3-70B-Instruct-4bit", 80, 8192, true, 40652242944, "llama", "4bit", "Llama-3.1-70B"},
    {"mlx-community/Llama-3.3-70B-Instruct-8bit", 80, 8192, true, 76799803392, "llama", "8bit", "Llama-3.1-70B"},
    {"mlx-community/llama-3.3-70b-instruct-fp16", 80, 8192, true, 144383672320, "llama", "fp16", "Llama-3.1-70B"},
    {"mlx-community/DeepSeek-V3-0324-4bit", 61, 7168, true, 377606822912, "deepseek_v3", "4bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3-0324-5bit", 61, 7168, true, 461471723520, "deepseek_v3", "5bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-v3-0324-8bit", 61, 7168, true, 754998771712, "deepseek_v3", "8bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3-3bit", 61, 7168, true, 335674387456, "deepseek_v3", "3bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3-3bit-bf16", 61, 7168, true, 335674387456, "deepseek_v3", "3bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3-4bit", 61, 7168, true, 377606822912, "deepseek_v3", "4bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3.1-4bit", 61, 7168, true, 405874409472, "deepseek_v3", "4bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3.1-8bit", 61, 7168, true, 765577920512, "deepseek_v3", "8bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3.1-Base-4bit", 61, 7168, true, 377606852608, "deepseek_v3", "4bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3.1-Terminus-4bit", 61, 7168, true, 377606852608, "deepseek_v3", "4bit", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3.1-mlx-DQ5_K_M", 61, 7168, true, 472916152320, "deepseek_v3", "mixed", "DeepSeek-V3"},
    {"mlx-community/DeepSeek-V3.2-4bit", 61, 7168, true, 378085857792, "deepseek_v32", "4bit", "DeepSeek-V3.2"},
    {"mlx-community/DeepSeek-V3.2-8bit", 61, 7168, true, 755956750848, "deepseek_v32", "8bit", "DeepSeek-V3.2"},
    {"mlx-community/DeepSeek-V3.2-Speciale-4bit", 61, 7168, true, 378085857792, "deepseek_v32", "4bit", "DeepSeek-V3.2"},
    {"mlx-community/DeepSeek-V3.2-mlx-5bit", 61, 7168, true, 462057167360, "deepseek_v32", "5bit", "DeepSeek-V3.2"},
    {"mlx-community/DeepSeek-V3.2_bf16", 61, 7168, true, 1343755917824, "deepseek_v32", "bf16", "DeepSeek-V3.2"},
}};

// The card with this model id, or nullptr.
constexpr const model_card* find_card(std::string_view model_id) noexcept {
  for (const auto& c : model_cards)
    if (c.model_id == model_id) return &c;
  return nullptr;
}

// Bits of a uniform affine quantization named by a card ("4bit" -> 4), 0 for float or mixed.
constexpr int card_bits(const model_card& c) noexcept {
  const auto q = c.quantization;
  if (q.size() == 4 && q.substr(1) == "bit" && q[0] >= '2' && q[0] <= '8') return q[0] - '0';
  return 0;
}

}  // namespace famx::io
