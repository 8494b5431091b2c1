#pragma once
// model::kv_cache: the state a decoder carries from one forward call to the next, so that a
// prompt followed by decode steps computes what a single pass over the whole sequence computes.
// Full attention keeps keys and values (after norm and RoPE), sliding-window attention only the
// last sliding_window of them and a few blocks more (dropped in blocks); MLA keeps the normalized latent and
// the rotated k_pe (and the V3.2 indexer its keys); the gated DeltaNet keeps the last
// linear_conv_kernel_dim - 1 conv inputs and the fp32 recurrent state.

#include <cstddef>
#include <vector>

namespace famx::model {

// One layer's cache (the fields its attention kind uses).
struct layer_cache {
  // gqa / gated, per kv head (capacity rows each, row r = position start + r): keys in transposed
  // blocks of quant::block_rows rows [capacity / 8][head_dim][8], values [capacity][head_dim].
  // mla (keys only): [S, kv_lora + rope], the latent then k_pe.
  std::vector<float> keys, values;
  std::size_t capacity = 0;         // gqa / gated: the rows each kv head has room for
  std::size_t start = 0;            // the position of the first cached key (a sliding window drops older ones)
  std::vector<float> index_keys;    // V3.2 indexer: [S, index_head_dim]
  std::vector<float> conv_state;    // delta net: [linear_conv_kernel_dim - 1, conv_dim], zeros when fresh
  std::vector<float> ssm_state;     // delta net: [nv, dk, dv] (each head's S^T), zeros when fresh
};

// The cache of a whole model: `offset` tokens seen so far (a cache may begin later than position 0:
// its layers' `start`).
struct kv_cache {
  std::size_t offset = 0;
  std::vector<layer_cache> layers;
};

}  // namespace famx::model
