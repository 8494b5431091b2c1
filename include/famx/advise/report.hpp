#pragma once
// The advisor report for one model, computed from the family traits: architecture summary,
// config-to-shapes table, tensor and storage table, parameter counts, hotspot map (decode and
// prefill), sharding options for 1..8 devices, the optimization plan and the integration notes.
// make_report builds it from a loaded config (add_checkpoint adds what a checkpoint directory
// says); render.hpp prints it as text, Markdown or JSON, picture.hpp draws the hotspot map.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "famx/advise/hotspots.hpp"
#include "famx/advise/integration.hpp"
#include "famx/advise/optimize.hpp"
#include "famx/advise/sharding.hpp"
#include "famx/io/builtin_models.hpp"
#include "famx/io/config.hpp"
#include "famx/io/model_cards.hpp"
#include "famx/io/resolve.hpp"

namespace famx::advise {

// One row of the config-to-shapes table: a config key, its value, what it means, which tensors
// its value shapes, and what goes wrong with it.
struct config_shape_row {
  std::string key, value, meaning, failure;
  std::vector<std::string> tensors;  // generic tensor names ("self_attn.q_proj.weight")
};

namespace detail {
// Config keys every family has: their failure modes are shown with the shapes, not as pitfalls.
inline constexpr std::string_view common_keys[] = {"hidden_size", "num_attention_heads", "intermediate_size", "vocab_size",
                                                   "num_hidden_layers", "head_dim"};
}  // namespace detail

// Parameters of the report.
struct report_options {
  std::int64_t context = 4096;  // decode context length (tokens attended)
  std::int64_t prompt = 2048;   // prefill prompt length
};

// Everything the advisor says about one model. Move-only: storage rows point into description.
struct report {
  families::model_description description;
  std::optional<io::quantization_config> quantization;
  std::string source;                    // where the figures come from (a file, or a built-in)
  std::string source_quantization;       // an HF quantization method of the source weights ("fp8")
  std::string wrapper;                   // "mistral3" when the text model is wrapped
  const io::model_card* card = nullptr;  // the bundled card, when the model id has one
  std::vector<io::stored_tensor> storage;
  std::vector<config_shape_row> config_shapes;
  hotspot_map hot;
  std::vector<sharding_option> sharding;
  std::vector<std::string> notes;  // placement restrictions and loading caveats from Exo / mlx-lm
  std::vector<experiment> plan;    // the optimization plan
  std::optional<checkpoint_facts> checkpoint;  // when the model came from a checkpoint directory
  std::vector<integration_note> integration;

  // Recomputes `notes` from the card and the source format, and the integration notes.
  void annotate() {
    notes.clear();
    if (card && !card->supports_tensor)
      notes.push_back("Exo's card sets supports_tensor = false: Exo does not place this model with tensor parallelism");
    if (card && card->model_id == "mlx-community/DeepSeek-V3.1-8bit")
      notes.push_back("Exo's placement blocks pipeline parallelism for this model");
    if (wrapper == "mistral3")
      notes.push_back("mistral3 wrapper: text weights live under language_model.; mlx-lm drops vision_tower.* and "
                      "multi_modal_projector.*");
    if (source_quantization == "fp8")
      notes.push_back("source weights are FP8 with 128x128 block scales; mlx-lm dequantizes them to bf16 in sanitize");
    std::vector<std::pair<std::string, std::string>> key_failures;
    for (const auto& c : config_shapes)
      if (std::ranges::find(detail::common_keys, c.key) == std::end(detail::common_keys)) key_failures.emplace_back(c.key, c.failure);
    integration = integration_notes({&description, &quantization, &sharding, &key_failures, &notes, checkpoint ? &*checkpoint : nullptr});
  }

  // Adds what checkpoint directory `dir` says (serving files, mlx-lm's renames and drops).
  void add_checkpoint(const std::filesystem::path& dir) {
    checkpoint = read_checkpoint_facts(dir);
    annotate();
  }

  report() = default;
  report(report&&) = default;
  report& operator=(report&&) = default;
  report(const report&) = delete;
  report& operator=(const report&) = delete;

  std::int64_t storage_bytes() const { return io::total_bytes(storage); }
};

namespace detail {
struct key_note {
  std::string_view key, meaning, failure;
};
// What each config key means and how it usually goes wrong.
inline constexpr key_note key_notes[] = {
    {"hidden_size", "model width D", "every projection's in or out dim; TP needs D % N == 0 in Exo's placement"},
    {"num_attention_heads", "query heads H", "must be divisible by the TP degree and by num_key_value_heads"},
    {"num_key_value_heads", "KV heads (GQA groups)", "must divide num_attention_heads; TP degree must divide it (Exo PR #1604: forgetting n_kv_heads //= N)"},
    {"head_dim", "per-head width", "absent in Llama 3.1 (derived as D/H); Qwen3 sets it so H*head_dim != D"},
    {"intermediate_size", "dense MLP width I", "TP splits it; with quantization I/N must stay a multiple of the group size"},
    {"moe_intermediate_size", "routed expert width Im", "TP splits every expert along Im; Im/N must stay a multiple of the group size"},
    {"shared_expert_intermediate_size", "Qwen3-Next shared expert width", "sharded like a dense MLP"},
    {"num_experts", "routed experts E", "stacked on axis 0 of switch_mlp; EP degree should divide it"},
    {"n_routed_experts", "routed experts E", "stacked on axis 0 of switch_mlp; n_group must divide it"},
    {"num_experts_per_tok", "experts per token k", "must be <= E; sets active parameters and decode bytes"},
    {"n_shared_experts", "always-on shared experts", "shared_experts width is moe_intermediate_size * n_shared_experts"},
    {"vocab_size", "vocabulary V", "embed_tokens and lm_head rows; a tied head reads the embedding matrix"},
    {"num_hidden_layers", "decoder layers", "pipeline stages split them; the MTP layer is extra and dropped"},
    {"kv_lora_rank", "MLA latent width", "the KV cache holds kv_lora_rank + qk_rope_head_dim per token, replicated under TP"},
    {"q_lora_rank", "MLA query bottleneck", "null selects q_proj instead of q_a_proj/q_b_proj (Exo shards either)"},
    {"qk_nope_head_dim", "MLA non-rotary query/key width", "sizes kv_b_proj / embed_q"},
    {"qk_rope_head_dim", "MLA decoupled RoPE key width", "shared by all heads; part of the cache"},
    {"v_head_dim", "MLA value width", "sizes kv_b_proj / unembed_out and o_proj"},
    {"linear_num_key_heads", "gated DeltaNet key heads nk", "TP degree must divide it (each rank takes whole head groups)"},
    {"linear_num_value_heads", "gated DeltaNet value heads nv", "must be a multiple of nk; TP degree must divide it"},
    {"linear_key_head_dim", "gated DeltaNet key width dk", "sizes in_proj_qkvz and the state [nv, dv, dk]"},
    {"linear_value_head_dim", "gated DeltaNet value width dv", "sizes in_proj_qkvz, out_proj and the gated norm"},
    {"linear_conv_kernel_dim", "depthwise conv width", "HF stores conv1d as [C, 1, K]; mlx-lm moves it to [C, K, 1]"},
    {"index_n_heads", "V3.2 indexer heads", "indexer is replicated under TP"},
    {"index_head_dim", "V3.2 indexer width", "its LayerNorm uses eps 1e-5 in mlx-lm (1e-6 in the reference)"},
};
}  // namespace detail

// The config-to-shapes table: every config key that appears in a tensor shape.
inline std::vector<config_shape_row> config_shapes(const families::model_description& d) {
  std::vector<config_shape_row> rows;
  for (const auto& [key, value] : d.config) {
    config_shape_row r{key, value, "", "", {}};
    for (const auto& t : d.tensors) {
      const auto& s = t.dims_text;
      std::size_t at = 0;
      bool hit = false;
      while ((at = s.find(key, at)) != std::string::npos) {
        const bool left = at == 0 || !(std::isalnum(static_cast<unsigned char>(s[at - 1])) || s[at - 1] == '_');
        const std::size_t end = at + key.size();
        const bool right = end >= s.size() || !(std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_');
        if (left && right) {
          hit = true;
          break;
        }
        at = end;
      }
      if (!hit) continue;
      const std::string g = detail::generic_module(t.name);
      if (std::find(r.tensors.begin(), r.tensors.end(), g) == r.tensors.end()) r.tensors.push_back(g);
    }
    if (r.tensors.empty()) continue;
    for (const auto& n : detail::key_notes)
      if (n.key == key) r.meaning = n.meaning, r.failure = n.failure;
    rows.push_back(std::move(r));
  }
  return rows;
}

// The report for a loaded config, quantized as q (default: the config's own `quantization`).
inline report make_report(io::loaded_model m, const report_options& opt = {},
                          std::optional<io::quantization_config> q = std::nullopt) {
  report r;
  r.description = std::move(m.description);
  r.quantization = q ? std::move(q) : std::move(m.quantization);
  r.source = m.file;
  r.source_quantization = m.source_quantization;
  r.wrapper = m.wrapper;
  r.storage = io::storage_table(r.description, r.quantization);
  r.config_shapes = config_shapes(r.description);
  r.hot = hotspots(r.description, r.storage, opt.context, opt.prompt);
  r.sharding = sharding_options(r.description, r.quantization);
  r.plan = optimization_plan(r.description, r.storage, r.hot, r.sharding);
  r.annotate();
  return r;
}

// The report for a bundled model id or a built-in architecture key: built-in figures quantized as
// q, or as the card's id says. Errors when famx has no architecture figures for it (the card, if
// any, is still returned through `card_out` so the caller can show what it knows).
inline result<report> report_for_id(std::string_view id, const report_options& opt = {},
                                    const io::model_card** card_out = nullptr,
                                    std::optional<io::quantization_config> q = std::nullopt) {
  const io::model_card* card = nullptr;
  auto m = io::resolve_model(id, &card);
  if (card_out) *card_out = card;
  if (!m) return m.err();
  const io::builtin_model* b = io::find_builtin(card ? card->builtin : id);
  if (q) m->quantization = std::move(q);
  auto r = make_report(std::move(*m), opt);
  r.card = card;
  r.annotate();
  if (b) r.source = card ? "built-in " + std::string(b->key) + " figures for card " + std::string(card->model_id)
                         : "built-in " + std::string(b->key) + " figures";
  return r;
}

}  // namespace famx::advise
