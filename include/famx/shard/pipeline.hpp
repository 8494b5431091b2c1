#pragma once
// Pipeline parallelism: contiguous decoder-layer ranges per device, sized by each device's share
// of the total memory (Exo's largest-remainder rule, or by the layers' real bytes), which stage owns
// the embeddings, final norm and LM head, and the per-device memory checks (Exo's estimate and
// famx's exact stage bytes). Rank 0 runs the first layers, as in Exo; mlx-lm's own PipelineMixin
// does the reverse (the highest rank runs the first layers), and Exo does not use it.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "famx/core/error.hpp"
#include "famx/families/describe.hpp"
#include "famx/io/storage.hpp"
#include "famx/shard/device.hpp"
#include "famx/shard/kv_cache.hpp"

namespace famx::shard {

// A half-open range of decoder layers [begin, end).
struct layer_range {
  std::int64_t begin = 0, end = 0;
  // Number of layers in the range.
  std::int64_t size() const noexcept { return end - begin; }
  // Same bounds.
  friend bool operator==(const layer_range&, const layer_range&) = default;
};

namespace detail {
// Bytes as "12.3 GB" (GB = 1e9 bytes) with `decimals` decimals.
inline std::string gb_text(std::int64_t bytes, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f GB", decimals, static_cast<double>(bytes) / 1e9);
  return buf;
}
// Checks shared by both allocators: n > 0, at least one layer per device, sane fractions.
inline result<void> check_allocation(std::int64_t total_layers, std::span<const double> fractions) {
  const auto n = static_cast<std::int64_t>(fractions.size());
  if (n == 0)
    return error(errc::invalid_value, "devices", "Cannot allocate layers to an empty node list", "at least one device");
  if (total_layers < n)
    return error(errc::invalid_value, "layers",
                 "Cannot distribute " + std::to_string(total_layers) + " layers across " + std::to_string(n) +
                     " nodes (need at least 1 layer per node)",
                 "at least as many layers as devices");
  for (std::size_t i = 0; i < fractions.size(); ++i)
    if (!std::isfinite(fractions[i]) || fractions[i] < 0)
      return error(errc::invalid_value, "memory_fractions." + std::to_string(i), std::to_string(fractions[i]),
                   "a finite fraction >= 0");
  return {};
}
}  // namespace detail

// Layers per device, exactly Exo's allocate_layers_proportionally (spec 2.1): floor(f_i * L), the
// remaining layers one each to the largest remainders (stable: ties to the lower index), then every
// device with 0 layers takes one from the first device holding the most. Fractions sum to 1.
inline result<std::vector<std::int64_t>> allocate_layers_proportionally(std::int64_t total_layers,
                                                                        std::span<const double> memory_fractions) {
  if (auto r = detail::check_allocation(total_layers, memory_fractions); !r) return r.err();
  const std::size_t n = memory_fractions.size();
  std::vector<double> raw(n);
  std::vector<std::int64_t> res(n);
  for (std::size_t i = 0; i < n; ++i) {
    raw[i] = memory_fractions[i] * static_cast<double>(total_layers);
    res[i] = static_cast<std::int64_t>(raw[i]);  // Python int(): truncation, raw >= 0
  }
  const std::int64_t remainder = total_layers - std::accumulate(res.begin(), res.end(), std::int64_t{0});
  if (remainder < 0 || remainder > static_cast<std::int64_t>(n))
    return error(errc::invalid_value, "memory_fractions", "fractions leaving " + std::to_string(remainder) +
                 " layers after flooring", "fractions that sum to 1");
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return raw[a] - static_cast<double>(res[a]) > raw[b] - static_cast<double>(res[b]); });
  for (std::int64_t k = 0; k < remainder; ++k) ++res[order[static_cast<std::size_t>(k)]];
  for (std::size_t i = 0; i < n; ++i) {
    if (res[i] != 0) continue;
    const auto max_it = std::max_element(res.begin(), res.end());  // first max, like Python's max()
    if (*max_it <= 1)
      return error(errc::inconsistent, "layers", "no device with 2 or more layers to give one away",
                   "Exo's assertion that the largest allocation is > 1");
    --*max_it;
    res[i] = 1;
  }
  return res;
}

// Layers per device from each layer's bytes: contiguous ranges, device i's range ending at the
// boundary b_i whose prefix bytes P(b_i) (bytes of layers [0, b_i)) is nearest to
// T * (f_0 + ... + f_i), T = all layers' bytes, chosen in rank order among the boundaries leaving at
// least one layer to this and every later device (b_i in [b_{i-1} + 1, L - (n - 1 - i)]; ties to the
// lower boundary); the last device ends at L. Errors as allocate_layers_proportionally.
inline result<std::vector<std::int64_t>> allocate_layers_by_bytes(std::span<const std::int64_t> layer_bytes,
                                                                  std::span<const double> fractions) {
  const auto total_layers = static_cast<std::int64_t>(layer_bytes.size());
  if (auto r = detail::check_allocation(total_layers, fractions); !r) return r.err();
  for (std::size_t i = 0; i < layer_bytes.size(); ++i)
    if (layer_bytes[i] < 0)
      return error(errc::invalid_value, "layer_bytes." + std::to_string(i), std::to_string(layer_bytes[i]),
                   "bytes >= 0");
  const auto n = static_cast<std::int64_t>(fractions.size());
  std::vector<double> prefix(static_cast<std::size_t>(total_layers) + 1, 0.0);
  for (std::int64_t k = 0; k < total_layers; ++k)
    prefix[static_cast<std::size_t>(k) + 1] = prefix[static_cast<std::size_t>(k)] + static_cast<double>(layer_bytes[static_cast<std::size_t>(k)]);
  const double total = prefix.back();
  std::vector<std::int64_t> res(static_cast<std::size_t>(n));
  std::int64_t begin = 0;
  double share = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    share += fractions[static_cast<std::size_t>(i)];
    std::int64_t end = total_layers;
    if (i + 1 < n) {
      const double target = total * share;
      end = begin + 1;
      for (std::int64_t k = begin + 2; k <= total_layers - (n - 1 - i); ++k)
        if (std::abs(prefix[static_cast<std::size_t>(k)] - target) < std::abs(prefix[static_cast<std::size_t>(end)] - target)) end = k;
    }
    res[static_cast<std::size_t>(i)] = end - begin;
    begin = end;
  }
  return res;
}

// How layers are weighted when they are shared out: by count (Exo) or by their stored bytes.
enum class layer_weighting { equal, bytes };

// Which per-device memory check plan_pipeline applies.
enum class pipeline_memory_check {
  none,   // no check
  exo,    // Exo's estimate: storage_size * layers_i // n_layers <= memory_i (storage_size: the whole table)
  exact,  // famx: the stage's own tensors + embeddings/head it holds + its KV cache <= memory_i
  both,   // Exo's check on every device first, then famx's
};

// One pipeline stage: a rank, its device, its layers and what it holds.
struct pipeline_stage {
  int rank = 0;
  std::string device;
  layer_range layers;
  bool owns_embedding = false;  // holds model.embed_tokens (rank 0; also the last rank when tied)
  bool owns_head = false;       // holds model.norm and lm_head (the last rank)
  bool tied_head = false;       // the head is embed_tokens (tie_word_embeddings): the last stage holds a copy
  std::int64_t weight_bytes = 0;        // its layers' tensors + the embeddings/norm/head it owns
  std::int64_t kv_cache_bytes = 0;      // its layers' cache for the planned context length
  std::int64_t exo_required_bytes = 0;  // Exo's estimate: storage_size * layers // n_layers
  // Weights and KV cache together.
  std::int64_t total_bytes() const { return weight_bytes + kv_cache_bytes; }
};

// Exo's per-node pipeline check (spec 2.1): (storage_size * layers_i) // n_layers <= memory_i.
inline result<void> exo_pipeline_memory_check(std::int64_t storage_size, std::int64_t n_layers,
                                              std::span<const std::int64_t> layers, std::span<const device> devices) {
  for (std::size_t i = 0; i < layers.size() && i < devices.size(); ++i) {
    const std::int64_t required = storage_size * layers[i] / n_layers;
    if (required > devices[i].memory_bytes)
      return error(errc::invalid_value, "devices." + std::to_string(i),
                   "Node " + std::to_string(i) + " (" + devices[i].name + ") has insufficient memory: requires " +
                       detail::gb_text(required, 2) + " for " + std::to_string(layers[i]) + " layers",
                   "at most the " + detail::gb_text(devices[i].memory_bytes, 2) +
                       " available (Exo: storage_size * layers // n_layers)");
  }
  return {};
}

// The pipeline stages of model d stored as `storage` (io::storage_table(d, q)) on `devices` in rank
// order, the layers shared by each device's share of the total memory, the KV cache sized for
// context_tokens; errors name the device that does not fit under `check`. layer_weighting::bytes
// shares out the decoder layers' bytes only (embed_tokens / norm / lm_head are not part of the split).
inline result<std::vector<pipeline_stage>> plan_pipeline(const families::model_description& d,
                                                         const std::vector<io::stored_tensor>& storage,
                                                         std::span<const device> devices, layer_weighting w,
                                                         std::int64_t context_tokens,
                                                         pipeline_memory_check check = pipeline_memory_check::both) {
  const auto n_layers = static_cast<std::int64_t>(d.layers.size());
  if (storage.size() != d.tensors.size())
    return error(errc::inconsistent, "storage", std::to_string(storage.size()) + " rows",
                 std::to_string(d.tensors.size()) + " rows, one per tensor of the description (io::storage_table)");
  if (context_tokens < 0)
    return error(errc::invalid_value, "context_tokens", std::to_string(context_tokens), "a count >= 0");
  std::int64_t total_memory = 0;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (devices[i].memory_bytes <= 0)
      return error(errc::invalid_value, "devices." + std::to_string(i), devices[i].name + " with " +
                   std::to_string(devices[i].memory_bytes) + " bytes", "memory above 0 bytes");
    total_memory += devices[i].memory_bytes;
  }
  std::vector<double> fractions(devices.size());
  for (std::size_t i = 0; i < devices.size(); ++i)
    fractions[i] = static_cast<double>(devices[i].memory_bytes) / static_cast<double>(total_memory);

  std::vector<std::int64_t> layer_bytes(static_cast<std::size_t>(n_layers), 0);
  std::int64_t embed_bytes = 0, head_bytes = 0;
  for (const auto& s : storage) {
    const int layer = s.tensor ? s.tensor->layer : -1;
    if (layer >= 0 && layer < n_layers) layer_bytes[static_cast<std::size_t>(layer)] += s.bytes;
    else if (s.tensor && s.tensor->name.find("embed_tokens") != std::string::npos) embed_bytes += s.bytes;
    else head_bytes += s.bytes;  // model.norm, lm_head
  }
  auto counts = w == layer_weighting::equal ? allocate_layers_proportionally(n_layers, fractions)
                                            : allocate_layers_by_bytes(layer_bytes, fractions);
  if (!counts) return counts.err();
  const std::int64_t storage_size = io::total_bytes(storage);
  if (check == pipeline_memory_check::exo || check == pipeline_memory_check::both)
    if (auto r = exo_pipeline_memory_check(storage_size, n_layers, *counts, devices); !r) return r.err();

  std::vector<pipeline_stage> stages;
  std::int64_t begin = 0;
  const int n = static_cast<int>(devices.size());
  for (int r = 0; r < n; ++r) {
    pipeline_stage s;
    s.rank = r;
    s.device = devices[static_cast<std::size_t>(r)].name;
    s.layers = {begin, begin + (*counts)[static_cast<std::size_t>(r)]};
    begin = s.layers.end;
    s.owns_head = r == n - 1;
    s.tied_head = s.owns_head && d.tied;
    s.owns_embedding = r == 0 || s.tied_head;
    for (std::int64_t l = s.layers.begin; l < s.layers.end; ++l) {
      s.weight_bytes += layer_bytes[static_cast<std::size_t>(l)];
      auto kv = kv_cache_bytes(d, l, context_tokens);
      if (!kv) return kv.err();
      s.kv_cache_bytes += *kv;
    }
    if (s.owns_embedding) s.weight_bytes += embed_bytes;  // once, even when the single stage is also the head
    if (s.owns_head) s.weight_bytes += head_bytes;
    s.exo_required_bytes = storage_size * s.layers.size() / n_layers;
    stages.push_back(std::move(s));
  }
  if (check == pipeline_memory_check::exact || check == pipeline_memory_check::both)
    for (const auto& s : stages) {
      const auto& dev = devices[static_cast<std::size_t>(s.rank)];
      if (s.total_bytes() <= dev.memory_bytes) continue;
      return error(errc::invalid_value, "devices." + std::to_string(s.rank),
                   "device " + std::to_string(s.rank) + " (" + dev.name + ") needs " +
                       detail::gb_text(s.total_bytes(), 2) + " for " + std::to_string(s.layers.size()) +
                       " layers [" + std::to_string(s.layers.begin) + ", " + std::to_string(s.layers.end) +
                       ") (weights " + detail::gb_text(s.weight_bytes, 2) + " with the embeddings/head it holds, KV cache " +
                       detail::gb_text(s.kv_cache_bytes, 2) + " for " + std::to_string(context_tokens) + " tokens)",
                   "at most the " + detail::gb_text(dev.memory_bytes, 2) + " available (famx: exact stage bytes)");
    }
  return stages;
}

// One line: "rank 0 device0 layers [0, 20) embed_tokens  weights 12.3 GB  kv 1.0 GB".
inline std::string to_string(const pipeline_stage& s) {
  std::string owned;
  if (s.owns_embedding && !s.tied_head) owned += " embed_tokens";
  if (s.owns_embedding && s.tied_head && s.rank == 0) owned += " embed_tokens";
  if (s.owns_head) owned += s.tied_head ? " norm lm_head=embed_tokens(tied)" : " norm lm_head";
  return "rank " + std::to_string(s.rank) + " " + s.device + " layers [" + std::to_string(s.layers.begin) + ", " +
         std::to_string(s.layers.end) + ")" + owned + "  weights " + detail::gb_text(s.weight_bytes, 1) + "  kv " +
         detail::gb_text(s.kv_cache_bytes, 1);
}

}  // namespace famx::shard
