#pragma once
// KV-cache bytes of one decoder layer for a context length, per rank of a tensor-parallel group,
// from the layer's kv_layout (what its attention kind caches, surface/kv_layout.hpp): GQA keys and
// values of ceil(num_key_value_heads / tp) heads per rank (KV heads are replicated when tp exceeds
// them); MLA's latent and rope key (and the V3.2 indexer's keys) replicated on every rank; the
// gated DeltaNet's fixed-size recurrent and conv state split by heads. Batch size 1.

#include <cstdint>
#include <string>

#include "famx/core/error.hpp"
#include "famx/families/describe.hpp"

namespace famx::shard {

// Bytes the cache of decoder layer `layer` holds after context_tokens tokens on one of tp_degree ranks.
inline result<std::int64_t> kv_cache_bytes(const families::model_description& d, std::int64_t layer,
                                           std::int64_t context_tokens, std::int64_t tp_degree = 1) {
  const std::string path = "layers." + std::to_string(layer);
  if (layer < 0 || layer >= static_cast<std::int64_t>(d.layers.size()))
    return error(errc::out_of_bounds, path, "layer " + std::to_string(layer),
                 "a layer in [0, " + std::to_string(d.layers.size()) + ")");
  if (context_tokens < 0)
    return error(errc::invalid_value, "context_tokens", std::to_string(context_tokens), "a count >= 0");
  if (tp_degree < 1) return error(errc::invalid_value, "tp_degree", std::to_string(tp_degree), "a degree >= 1");
  std::int64_t bytes = 0;
  for (const surface::kv_term& t : d.layers[static_cast<std::size_t>(layer)].kv)
    bytes += t.bytes_on_rank(context_tokens, tp_degree);
  return bytes;
}

}  // namespace famx::shard
