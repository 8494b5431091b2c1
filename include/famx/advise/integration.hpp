#pragma once
// The advisor's integration notes: what an engine must get right for this model and checkpoint,
// by topic: tokens (EOS ids, BOS, chat template and thinking tags from generation_config.json and
// tokenizer_config.json), placement (Exo's card restrictions, the legal tensor-parallel degrees
// and what limits them), loading (mlx-lm's renames and dropped tensors, read from the checkpoint
// when one is given) and pitfalls (the family's own description and its config keys' known
// failure modes). Family-specific text comes only from the family's data (model_description,
// its config keys' notes); nothing here names a family.

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "famx/advise/sharding.hpp"
#include "famx/io/serving_config.hpp"
#include "famx/io/verify.hpp"

namespace famx::advise {

// One note: its topic ("tokens", "placement", "loading", "pitfalls") and text.
struct integration_note {
  std::string topic, text;
};

// What a checkpoint directory says beyond its config.json: serving files and mlx-lm's load plan.
struct checkpoint_facts {
  std::string directory;
  io::serving_config serving;
  std::string layout;                                       // "mlx" or "hugging face"
  std::map<std::string, std::size_t> renames;               // rename kind -> tensors it produces
  std::map<std::string, std::size_t> dropped;               // reason -> tensors dropped for it
  std::size_t errors = 0;                                   // verification errors
};

// Reads the facts of checkpoint directory `dir` (verification reads headers only, never weights).
inline checkpoint_facts read_checkpoint_facts(const std::filesystem::path& dir) {
  checkpoint_facts f;
  f.directory = dir.string();
  f.serving = io::read_serving_config(dir);
  const io::verification_report v = io::verify_checkpoint(dir);
  f.layout = v.layout;
  f.errors = v.errors();
  for (const io::rename_step& s : v.renames) f.renames[std::string(s.kind)] += s.targets.size();
  for (const io::finding& x : v.findings)
    if (x.kind == "dropped") ++f.dropped[x.found];
  return f;
}

// The configuration facts integration_notes reads (all from the report being built).
struct integration_inputs {
  const families::model_description* description = nullptr;
  const std::optional<io::quantization_config>* quantization = nullptr;
  const std::vector<sharding_option>* sharding = nullptr;
  const std::vector<std::pair<std::string, std::string>>* key_failures = nullptr;  // config key -> failure modes
  const std::vector<std::string>* card_notes = nullptr;  // Exo card and source-format notes
  const checkpoint_facts* checkpoint = nullptr;          // when the model came from a checkpoint directory
};

// The notes for one model.
inline std::vector<integration_note> integration_notes(const integration_inputs& in) {
  const auto& d = *in.description;
  std::vector<integration_note> out;
  auto add = [&](const char* topic, std::string text) { out.push_back({topic, std::move(text)}); };

  // Tokens.
  if (const checkpoint_facts* c = in.checkpoint) {
    const io::serving_config& s = c->serving;
    if (s.generation_config && !s.eos_token_ids.empty()) {
      std::string ids;
      for (auto id : s.eos_token_ids) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
      add("tokens", "EOS token ids " + ids + " (generation_config.json)" +
                        (s.eos_token_ids.size() > 1 ? ": stop on any of them, not only the tokenizer's eos_token" : ""));
    } else {
      add("tokens", std::string(s.generation_config ? "generation_config.json has no eos_token_id"
                                                    : "no generation_config.json") +
                        ": the engine takes the stop token from the tokenizer" +
                        (s.eos_token.empty() ? " (tokenizer_config.json names none either)" : " (eos_token \"" + s.eos_token + "\")"));
    }
    if (s.bos_token_id) add("tokens", "BOS token id " + std::to_string(*s.bos_token_id) + " (generation_config.json)");
    if (s.tokenizer_config || s.chat_template)
      add("tokens", s.chat_template ? "a chat template is present: format conversations with it, never by hand"
                                    : "no chat template: the checkpoint is a base model or expects raw prompts");
    add("tokens", s.thinking_tags ? "thinking tags (<think>) are in the template or the added tokens: the engine must keep or "
                                    "strip the reasoning span consistently and not stop inside it"
                                  : "no thinking tags in the template or the added tokens");
    for (const error& e : s.problems) add("tokens", "unreadable serving file: " + e.message());
  } else {
    add("tokens", "EOS ids, chat template and thinking tags come from the checkpoint's generation_config.json and "
                  "tokenizer_config.json: pass the checkpoint directory to see them");
  }

  // Placement.
  if (in.card_notes)
    for (const auto& n : *in.card_notes) add("placement", n);
  std::string legal, first_reason;
  for (const auto& o : *in.sharding) {
    if (o.tensor_parallel) legal += (legal.empty() ? "" : ", ") + std::to_string(o.devices);
    else if (first_reason.empty()) first_reason = std::to_string(o.devices) + " ranks: " + o.tensor_reason;
  }
  add("placement", "legal tensor-parallel degrees up to 8: " + (legal.empty() ? std::string("none") : legal) +
                       (first_reason.empty() ? "" : "; the first refused is " + first_reason));
  if (const auto kv = d.dim("num_key_value_heads"); kv > 0 && kv < 8 && d.dim("kv_lora_rank") == 0)
    add("placement", "num_key_value_heads = " + std::to_string(kv) + " limits tensor parallelism to degrees dividing it; "
                     "more ranks need KV heads replicated (famx plan --kv-replication, as vLLM does) and each rank then "
                     "caches whole KV heads");
  if (d.experts > 0)
    add("placement", std::to_string(d.experts) + " routed experts, " + std::to_string(d.experts_per_token) +
                         " per token: expert parallelism needs a degree dividing " + std::to_string(d.experts) +
                         " for equal shares (famx plan --strategy expert)");

  // Loading.
  if (const checkpoint_facts* c = in.checkpoint) {
    add("loading", "layout: " + c->layout + (c->layout == "mlx" ? " (loads as stored)" : " (mlx-lm renames on load)"));
    for (const auto& [kind, n] : c->renames) add("loading", "mlx-lm " + kind + ": " + std::to_string(n) + " tensors");
    for (const auto& [why, n] : c->dropped) add("loading", "dropped by mlx-lm: " + why + " (" + std::to_string(n) + " tensors)");
    if (c->errors) add("loading", std::to_string(c->errors) + " verification errors: run famx verify " + c->directory);
  }
  if (in.quantization && *in.quantization && !(*in.quantization)->overrides.empty())
    add("loading", std::to_string((*in.quantization)->overrides.size()) +
                       " per-module quantization overrides: a module's override wins over the global format, and "
                       "`false` keeps it in float");
  if (d.tied) add("loading", "tied embeddings: lm_head is embed_tokens; a stored lm_head.weight is dropped");

  // Pitfalls: the family's own description and its config keys' failure modes.
  if (!d.summary.empty()) add("pitfalls", d.summary);
  if (in.key_failures)
    for (const auto& [key, failure] : *in.key_failures)
      if (!failure.empty()) add("pitfalls", key + ": " + failure);
  return out;
}

}  // namespace famx::advise
