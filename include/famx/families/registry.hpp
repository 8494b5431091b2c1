#pragma once
// The family registry: architectures[0] (checked first) or model_type, with mlx-lm's
// MODEL_REMAPPING aliases (mistral -> llama, kimi_k2 / joyai_llm_flash -> deepseek_v3), to a family;
// visit_family calls a generic callable with the family's tag type.

#include <array>
#include <string>
#include <string_view>

#include "famx/families/deepseek_v32.hpp"
#include "famx/families/glm4_moe.hpp"
#include "famx/families/ministral3.hpp"
#include "famx/families/qwen3_next.hpp"

namespace famx::families {

// The families famx implements, one per HF model_type.
enum class family_id { llama, qwen3, qwen3_moe, qwen3_next, deepseek_v3, deepseek_v32, glm4_moe, ministral3 };

// One registry row: the family, its HF architectures and the model_type strings that select it.
struct registry_entry {
  family_id id;
  std::string_view name;
  std::array<std::string_view, 2> architectures;  // empty slots are ""
  std::array<std::string_view, 3> model_types;    // the family's own first, then mlx-lm aliases
};

// Every supported family.
inline constexpr std::array<registry_entry, 8> registry = {{
    {family_id::llama, "llama", {"LlamaForCausalLM", "MistralForCausalLM"}, {"llama", "mistral", ""}},
    {family_id::qwen3, "qwen3", {"Qwen3ForCausalLM", ""}, {"qwen3", "", ""}},
    {family_id::qwen3_moe, "qwen3_moe", {"Qwen3MoeForCausalLM", ""}, {"qwen3_moe", "", ""}},
    {family_id::qwen3_next, "qwen3_next", {"Qwen3NextForCausalLM", ""}, {"qwen3_next", "", ""}},
    {family_id::deepseek_v3, "deepseek_v3", {"DeepseekV3ForCausalLM", ""},
     {"deepseek_v3", "kimi_k2", "joyai_llm_flash"}},
    {family_id::deepseek_v32, "deepseek_v32", {"DeepseekV32ForCausalLM", ""}, {"deepseek_v32", "", ""}},
    {family_id::glm4_moe, "glm4_moe", {"Glm4MoeForCausalLM", ""}, {"glm4_moe", "", ""}},
    {family_id::ministral3, "ministral3", {"Ministral3ForCausalLM", ""}, {"ministral3", "", ""}},
}};

// The family's name (its HF model_type).
constexpr std::string_view to_string(family_id f) noexcept {
  return registry[static_cast<std::size_t>(f)].name;
}

// "LlamaForCausalLM, MistralForCausalLM, ..." and "llama, mistral, ...".
inline std::string supported_families() {
  std::string a, m;
  for (const auto& e : registry) {
    for (auto s : e.architectures)
      if (!s.empty()) a += (a.empty() ? "" : ", ") + std::string(s);
    for (auto s : e.model_types)
      if (!s.empty()) m += (m.empty() ? "" : ", ") + std::string(s);
  }
  return "an architecture in {" + a + "} or a model_type in {" + m +
         "} (or a mistral3 wrapper holding one in text_config)";
}

// The family of a config: architectures[0] first, then model_type (after aliases).
inline result<family_id> find_family(std::string_view architecture, std::string_view model_type,
                                     std::string_view file = {}) {
  for (const auto& e : registry)
    for (auto s : e.architectures)
      if (!s.empty() && s == architecture) return e.id;
  for (const auto& e : registry)
    for (auto s : e.model_types)
      if (!s.empty() && s == model_type) return e.id;
  return error(errc::unknown_family, architecture.empty() ? "model_type" : "architectures.0",
               "architecture \"" + std::string(architecture) + "\", model_type \"" + std::string(model_type) + "\"",
               supported_families(), std::string(file));
}

// Calls f.template operator()<Family>() with the tag type of family id; returns its result.
template <class F>
decltype(auto) visit_family(family_id id, F&& f) {
  switch (id) {
    case family_id::llama: return f.template operator()<llama>();
    case family_id::qwen3: return f.template operator()<qwen3>();
    case family_id::qwen3_moe: return f.template operator()<qwen3_moe>();
    case family_id::qwen3_next: return f.template operator()<qwen3_next>();
    case family_id::deepseek_v3: return f.template operator()<deepseek_v3>();
    case family_id::deepseek_v32: return f.template operator()<deepseek_v32>();
    case family_id::glm4_moe: return f.template operator()<glm4_moe>();
    case family_id::ministral3: break;
  }
  return f.template operator()<ministral3>();
}

}  // namespace famx::families
