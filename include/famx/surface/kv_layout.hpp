#pragma once
// What one decoder layer's KV cache holds, as its attention kind states it: terms of `elements`
// values of `bytes` bytes each, per head of `heads` heads that tensor parallelism splits (0: the
// term is replicated on every rank), per token of context (at most a sliding window of them) or
// fixed. Batch size 1.

#include <cstdint>
#include <vector>

namespace famx::surface {

// One part of a layer's cache.
struct kv_term {
  std::int64_t heads = 0;     // heads it is split by under TP (ceil per rank); 0: replicated
  std::int64_t elements = 0;  // values per head (per token when per_token), or in all when heads == 0
  std::int64_t bytes = 2;     // bytes per value (bf16 caches: 2; fp32 recurrent state: 4)
  bool per_token = true;      // grows with the context, or a fixed-size state
  std::int64_t window = 0;    // per token: at most this many tokens kept (a sliding window); 0: all

  // Bytes on one of tp ranks after `context` tokens.
  std::int64_t bytes_on_rank(std::int64_t context, std::int64_t tp) const noexcept {
    const std::int64_t h = heads == 0 ? 1 : (heads + tp - 1) / tp;
    const std::int64_t tokens = window > 0 && context > window ? window : context;
    return h * elements * bytes * (per_token ? tokens : 1);
  }
};

// Every part of a layer's cache.
using kv_layout = std::vector<kv_term>;

}  // namespace famx::surface
