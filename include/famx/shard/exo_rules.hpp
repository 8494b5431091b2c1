#pragma once
// What Exo's placement (spec 3.3) would accept for a model card on a device set used as one cycle,
// in rank order, with Exo's messages. The checks, in Exo's order:
//  1. Cycle memory: sum of available memory >= card storage_size, else "No cycles found with
//     sufficient memory". A cycle-total test only: no per-node test for tensor parallelism, though
//     every TP rank holds 1/N of the weights plus replicated embeddings, norms and (for MLA) the latent
//     path, so a small node in a big cycle passes and then runs out of memory.
//  2. Tensor: supports_tensor (the architecture whitelist), then hidden_size % N == 0 and
//     num_key_value_heads % N == 0 (kv skipped when the card has none). Exo's own comment: "the
//     condition here for tensor parallel is not correct, but it works good enough for now": the split
//     dimensions are heads, KV heads, intermediate sizes and experts' widths, not hidden_size, and
//     MLA has no KV heads to divide. famx takes kv from the built-in config the card names
//     (io/builtin_models.hpp) and skips the kv check when there is none, as Exo does when kv is None.
//     Known gap: famx's bundled cards carry no num_key_value_heads, so a card without a built-in
//     config (Qwen3-Coder-480B: Exo's card has kv 8) passes TP over 3 or 6 here where Exo refuses it.
//  3. Pipeline: mlx-community/DeepSeek-V3.1-8bit is refused by exact model id (no technical reason
//     recorded; the commit message speaks of tensor parallelism yet the code blocks pipeline), then
//     the layers are shared with allocate_layers_proportionally and each node must hold
//     storage_size * layers_i // n_layers. That estimate counts embed_tokens / lm_head once, spread
//     over the layers, while every Exo rank really loads both (spec 2.3).
//  A one-device Tensor request passes the tensor checks and becomes a one-node pipeline (step 11);
//  its memory check is then implied by step 1. Exo has no expert parallelism.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/io/builtin_models.hpp"
#include "famx/io/config.hpp"
#include "famx/io/model_cards.hpp"
#include "famx/shard/device.hpp"
#include "famx/shard/pipeline.hpp"

namespace famx::shard {

// A sharding strategy; stable names "tensor", "pipeline", "expert", "auto".
enum class strategy { tensor, pipeline, expert, automatic };

// Stable name of a strategy.
constexpr std::string_view to_string(strategy s) noexcept {
  switch (s) {
    case strategy::tensor: return "tensor";
    case strategy::pipeline: return "pipeline";
    case strategy::expert: return "expert";
    case strategy::automatic: return "auto";
  }
  return "unknown";
}

// The strategy named by text ("tensor", "pipeline", "expert", "auto").
inline result<strategy> parse_strategy(std::string_view text) {
  for (auto s : {strategy::tensor, strategy::pipeline, strategy::expert, strategy::automatic})
    if (text == to_string(s)) return s;
  return error(errc::invalid_value, "strategy", "\"" + std::string(text) + "\"", "tensor, pipeline, expert or auto");
}

// num_key_value_heads of the built-in config a card names, nullopt when it names none.
inline std::optional<std::int64_t> card_kv_heads(const io::model_card& card) {
  const auto* b = io::find_builtin(card.builtin);
  if (!b) return std::nullopt;
  auto m = io::parse_model_config(b->config_json, "builtin:" + std::string(b->key));
  if (!m) return std::nullopt;
  const auto kv = m->description.number("num_key_value_heads");
  if (!kv) return std::nullopt;
  return static_cast<std::int64_t>(*kv);
}

// Success when Exo's placement would place `card` with strategy s on `devices` as one cycle; else
// Exo's reason. automatic: pipeline or tensor, whichever Exo accepts first (pipeline, Exo's default).
inline result<void> exo_accepts(const io::model_card& card, std::span<const device> devices, strategy s) {
  const std::string id(card.model_id);
  const auto n = static_cast<std::int64_t>(devices.size());
  if (n == 0) return error(errc::invalid_value, "devices", "no devices", "at least one device");
  std::int64_t total = 0;
  for (const auto& d : devices) total += d.memory_bytes;
  if (total < card.storage_size_bytes)
    return error(errc::invalid_value, "devices", "No cycles found with sufficient memory (" +
                 detail::gb_text(total, 2) + " in " + std::to_string(n) + " devices)",
                 "at least the card's storage_size " + detail::gb_text(card.storage_size_bytes, 2) + " for " + id);
  switch (s) {
    case strategy::expert:
      return error(errc::unsupported, "strategy", "expert (" + id + ")",
                   "tensor or pipeline: Exo has no expert parallelism");
    case strategy::automatic: {
      auto p = exo_accepts(card, devices, strategy::pipeline);
      if (p) return p;
      auto t = exo_accepts(card, devices, strategy::tensor);
      return t ? t : p;
    }
    case strategy::tensor: {
      if (!card.supports_tensor)
        return error(errc::unsupported, "strategy",
                     "Requested Tensor sharding but this model does not support tensor parallelism: " + id,
                     "a model on Exo's tensor-parallel whitelist");
      const auto kv = card_kv_heads(card);
      if (card.hidden_size % n != 0 || (kv && *kv % n != 0))
        return error(errc::not_divisible, "devices",
                     "No tensor sharding found for model with hidden_size=" + std::to_string(card.hidden_size) +
                         (kv ? ", num_key_value_heads=" + std::to_string(*kv) : std::string()) +
                         " across candidate cycles (" + std::to_string(n) + " devices)",
                     "a device count dividing hidden_size" + std::string(kv ? " and num_key_value_heads" : ""));
      return {};
    }
    case strategy::pipeline: {
      if (id == "mlx-community/DeepSeek-V3.1-8bit")
        return error(errc::unsupported, "strategy", "Pipeline parallelism is not supported for DeepSeek V3.1 (8-bit)",
                     "another strategy or model (Exo refuses this model id)");
      std::vector<double> fractions;
      for (const auto& d : devices) fractions.push_back(static_cast<double>(d.memory_bytes) / static_cast<double>(total));
      auto layers = allocate_layers_proportionally(card.n_layers, fractions);
      if (!layers) return layers.err();
      return exo_pipeline_memory_check(card.storage_size_bytes, card.n_layers, *layers, devices);
    }
  }
  return {};
}

}  // namespace famx::shard
