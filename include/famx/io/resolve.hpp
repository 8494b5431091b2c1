#pragma once
// A model named the ways a person names it: a config.json path, a checkpoint directory, a bundled
// model card id (mlx-community/Qwen3-30B-A3B-4bit: its built-in architecture figures, quantized as
// the id says) or a built-in architecture key (Qwen3-30B-A3B).

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "famx/io/builtin_models.hpp"
#include "famx/io/config.hpp"
#include "famx/io/model_cards.hpp"
#include "famx/io/storage.hpp"

namespace famx::io {

// The loaded model `target` names (a family of Families); `card_out` receives its card, when it has
// one (also on errors).
template <class Families = families::builtin>
result<loaded_model> resolve_model(std::string_view target, const model_card** card_out = nullptr) {
  if (card_out) *card_out = nullptr;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(target), ec)) return load_model_config<Families>(std::filesystem::path(target));
  if (ec)  // too long, a symlink loop, no permission
    return error(errc::io, "", "a path that cannot be inspected (" + ec.message() + ")",
                 "a model id, a config.json or a checkpoint directory", std::string(target));
  const model_card* card = find_card(target);
  if (card_out) *card_out = card;
  const builtin_model* b = find_builtin(card ? card->builtin : target);
  if (!b)
    return error(errc::missing, std::string(target),
                 card ? "a bundled card without built-in architecture figures" : "no file, bundled card or built-in model",
                 card ? "a config.json for it (pass its path instead of the id)"
                      : "a model id from `famx cards`, a built-in key, a config.json or a checkpoint directory");
  auto m = parse_model_config<Families>(b->config_json, "built-in:" + std::string(b->key));
  if (!m) return m.err();
  if (!m->quantization && card && card_bits(*card)) m->quantization = convert_quantization(card_bits(*card));
  return m;
}

}  // namespace famx::io
