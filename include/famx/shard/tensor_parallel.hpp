#pragma once
// Tensor-parallel rules, written once per surface element (a module's name inside its attention or
// MLP kind), not once per family: Exo's column-parallel (all-to-sharded: output features split)
// and row-parallel (sharded-to-all: input features split, one all_sum) projections, MLA's per-head
// embed_q / unembed_out, Qwen3-Next's conv1d channel gather and A_log / dt_bias head slices, and
// replication for everything else (norms, routers, embeddings, the MLA latent path, the V3.2
// indexer). tp_blocks gives the part of a logical tensor one rank holds.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "famx/families/describe.hpp"
#include "famx/io/mlx_surface.hpp"
#include "famx/io/storage.hpp"
#include "famx/shard/placement.hpp"

namespace famx::shard {

// What tensor parallelism does with one tensor.
enum class tp_rule : std::uint8_t {
  replicated,       // every rank holds all of it
  column_parallel,  // Exo all-to-sharded: the output dim (weight axis -2; the bias) is split
  row_parallel,     // Exo sharded-to-all: the input dim (axis -1) is split; the bias is added once after all_sum
  head_sliced,      // MultiLinear [H, out, in] (MLA embed_q / unembed_out): heads split on axis 0
  conv_gather,      // Qwen3-Next conv1d [2*key_dim + value_dim, K, 1]: the rank's rows of the q, k and v sections
  head_vector,      // A_log / dt_bias [nv]: the rank's value heads
  expert_sharded,   // expert parallelism: stacked experts [E, out, in] split on axis 0 by an expert map
};

// Stable name of a rule.
constexpr std::string_view to_string(tp_rule r) noexcept {
  switch (r) {
    case tp_rule::replicated: return "replicated";
    case tp_rule::column_parallel: return "column_parallel";
    case tp_rule::row_parallel: return "row_parallel";
    case tp_rule::head_sliced: return "head_sliced";
    case tp_rule::conv_gather: return "conv_gather";
    case tp_rule::head_vector: return "head_vector";
    case tp_rule::expert_sharded: return "expert_sharded";
  }
  return "?";
}

// One contiguous range along one axis of a tensor (all other axes whole).
struct block {
  int axis = 0;
  std::int64_t begin = 0, length = 0;
  friend constexpr bool operator==(block, block) = default;
};

namespace detail {
// The last two components of a module path: {"self_attn", "q_proj"}.
inline std::pair<std::string_view, std::string_view> parent_and_leaf(std::string_view path) {
  const auto b = path.rfind('.');
  const std::string_view leaf = b == std::string_view::npos ? path : path.substr(b + 1);
  const std::string_view head = b == std::string_view::npos ? std::string_view{} : path.substr(0, b);
  const auto a = head.rfind('.');
  return {a == std::string_view::npos ? head : head.substr(a + 1), leaf};
}

// Module leaves by their parent module: the whole rule table.
struct rule_row {
  std::string_view parent, leaf;
  tp_rule rule;
};
inline constexpr rule_row rule_table[] = {
    // GQA and Qwen3-Next gated attention ([query | gate] per head keeps a contiguous split head-aligned)
    {"self_attn", "q_proj", tp_rule::column_parallel},
    {"self_attn", "k_proj", tp_rule::column_parallel},
    {"self_attn", "v_proj", tp_rule::column_parallel},
    {"self_attn", "o_proj", tp_rule::row_parallel},
    // MLA: q_b_proj is head-major; the latent path (q_a, kv_a and their norms) stays replicated
    {"self_attn", "q_b_proj", tp_rule::column_parallel},
    {"self_attn", "embed_q", tp_rule::head_sliced},
    {"self_attn", "unembed_out", tp_rule::head_sliced},
    // Qwen3-Next gated delta net: each key-head group is [q | k | v | z], so contiguous splits hold whole groups
    {"linear_attn", "in_proj_qkvz", tp_rule::column_parallel},
    {"linear_attn", "in_proj_ba", tp_rule::column_parallel},
    {"linear_attn", "out_proj", tp_rule::row_parallel},
    {"linear_attn", "conv1d", tp_rule::conv_gather},
    {"linear_attn", "A_log", tp_rule::head_vector},
    {"linear_attn", "dt_bias", tp_rule::head_vector},
    // MLPs: dense, routed experts (per expert), shared experts; routers stay replicated
    {"mlp", "gate_proj", tp_rule::column_parallel},
    {"mlp", "up_proj", tp_rule::column_parallel},
    {"mlp", "down_proj", tp_rule::row_parallel},
    {"switch_mlp", "gate_proj", tp_rule::column_parallel},
    {"switch_mlp", "up_proj", tp_rule::column_parallel},
    {"switch_mlp", "down_proj", tp_rule::row_parallel},
    {"shared_experts", "gate_proj", tp_rule::column_parallel},
    {"shared_experts", "up_proj", tp_rule::column_parallel},
    {"shared_experts", "down_proj", tp_rule::row_parallel},
    {"shared_expert", "gate_proj", tp_rule::column_parallel},
    {"shared_expert", "up_proj", tp_rule::column_parallel},
    {"shared_expert", "down_proj", tp_rule::row_parallel},
};
}  // namespace detail

// The tensor-parallel rule of tensor t of a model's table (replicated when no row names it).
inline tp_rule rule_of(const surface::tensor_entry& t) {
  const auto [parent, leaf] =
      detail::parent_and_leaf(t.kind == surface::module_kind::parameter ? std::string_view(t.name) : std::string_view(t.module));
  for (const auto& r : detail::rule_table)
    if (r.parent == parent && r.leaf == leaf) return r.rule;
  return tp_rule::replicated;
}

// Whether t is a bias vector (".bias" of a linear module).
inline bool is_bias(const surface::tensor_entry& t) { return t.name.ends_with(".bias") && !t.packs; }

// The axis rule r splits in tensor t, or -1 when t stays whole (replicated; a row-parallel bias).
inline int split_axis(const surface::tensor_entry& t, tp_rule r) {
  const int rank = static_cast<int>(t.dims.rank());
  switch (r) {
    case tp_rule::replicated: return -1;
    case tp_rule::column_parallel: return is_bias(t) ? rank - 1 : rank - 2;
    case tp_rule::row_parallel: return is_bias(t) ? -1 : rank - 1;
    case tp_rule::head_sliced:
    case tp_rule::conv_gather:
    case tp_rule::head_vector:
    case tp_rule::expert_sharded: return 0;
  }
  return -1;
}

// The partition spec of t under rule r on mesh axis `axis` ("tp" or "ep").
inline partition_spec tp_spec(const surface::tensor_entry& t, tp_rule r, std::string_view axis) {
  partition_spec s(t.dims.rank());
  if (const int a = split_axis(t, r); a >= 0) s[static_cast<std::size_t>(a)] = std::string(axis);
  return s;
}

// KV heads one rank holds, and the first, under tensor parallelism of degree n (kv_replication:
// when num_key_value_heads < n, each rank keeps the one KV head its query heads use, as vLLM does).
struct kv_share {
  std::int64_t first = 0, count = 0;
};
inline kv_share kv_heads_of(std::int64_t kv_heads, int n, int rank, bool kv_replication) {
  if (kv_replication && kv_heads < n) return {static_cast<std::int64_t>(rank) * kv_heads / n, 1};
  return {rank * (kv_heads / n), kv_heads / n};
}

// The blocks of logical tensor t that rank `rank` of `n` holds under rule r (empty: all of it).
// Divisibility is the planner's to check; here n divides every split extent.
inline std::vector<block> tp_blocks(const surface::tensor_entry& t, tp_rule r, int n, int rank,
                                    const families::model_description& d, bool kv_replication = false) {
  const int a = split_axis(t, r);
  if (a < 0 || n == 1) return {};
  const std::int64_t extent = t.dims[static_cast<std::size_t>(a)];
  if (r == tp_rule::conv_gather) {
    const std::int64_t kd = d.dim("linear_num_key_heads") * d.dim("linear_key_head_dim");
    const std::int64_t vd = d.dim("linear_num_value_heads") * d.dim("linear_value_head_dim");
    return {{0, rank * kd / n, kd / n}, {0, kd + rank * kd / n, kd / n}, {0, 2 * kd + rank * vd / n, vd / n}};
  }
  const auto [parent, leaf] = detail::parent_and_leaf(t.module);
  if (kv_replication && parent == "self_attn" && (leaf == "k_proj" || leaf == "v_proj")) {
    const std::int64_t kv = d.dim("num_key_value_heads");
    if (kv < n) {
      const std::int64_t hd = extent / kv;
      const kv_share s = kv_heads_of(kv, n, rank, true);
      return {{a, s.first * hd, hd}};
    }
  }
  return {{a, rank * (extent / n), extent / n}};
}

// The shape of the part of a tensor of shape `whole` that `blocks` describe (all of it when empty).
inline shape blocks_shape(shape whole, const std::vector<block>& blocks) {
  if (blocks.empty()) return whole;
  std::int64_t n = 0;
  for (const block& b : blocks) n += b.length;
  whole[static_cast<std::size_t>(blocks.front().axis)] = n;
  return whole;
}

// The shape of the part of t described by `blocks` (all of t when empty).
inline shape local_shape(const surface::tensor_entry& t, const std::vector<block>& blocks) {
  return blocks_shape(t.dims, blocks);
}

// Which tensors expert parallelism keeps whole on a rank (split by experts, or replicated).
struct expert_scope {
  bool routed = false;  // routed experts are distributed whole (expert parallelism)
  bool shared = false;  // shared experts are replicated
  // Whether tensor t is outside tensor parallelism's split.
  bool whole(const surface::tensor_entry& t) const {
    return (routed && t.routed_experts > 0) || (shared && t.name.find(".shared_expert") != std::string::npos);
  }
};

// Checks that tensor parallelism of degree n is legal for model d stored under quantization q:
// n divides every value the family's strategy splits (heads, KV heads unless kv_replication
// covers them, linear-attention heads, intermediate sizes), every split extent of every tensor,
// and every row-parallel split of a quantized tensor keeps whole quantization groups. Tensors in
// `whole` (expert parallelism) are not split, so they are not checked. The error names the config
// key or the module, the value and the degree.
inline result<void> check_tensor_parallel(const families::model_description& d,
                                          const std::optional<io::quantization_config>& q, int n,
                                          bool kv_replication = false, std::string_view file = {},
                                          expert_scope whole = {}) {
  if (n < 1) return error(errc::invalid_value, "tp", std::to_string(n), "a degree >= 1");
  const std::string deg = std::to_string(n);
  for (const auto& [key, value] : d.tp_divisors) {
    if (value % n == 0) continue;
    // Expert sizes: checked per tensor below, for the expert tensors that are still split.
    if (whole.routed && key.find("intermediate_size") != std::string::npos && key != "intermediate_size") continue;
    if (key == "num_key_value_heads" && kv_replication && value < n && n % value == 0) continue;
    std::string expected = "a value divisible by the tensor-parallel degree " + deg;
    if (key == "num_key_value_heads")
      expected += kv_replication ? " (kv_replication needs the degree to be a multiple of it)"
                                 : " (or kv_replication, when the degree is a multiple of it)";
    return error(errc::not_divisible, key, key + " = " + std::to_string(value) + " over " + deg + " ranks",
                 std::move(expected), std::string(file));
  }
  for (const surface::tensor_entry& t : io::mlx_tensors(d)) {
    const tp_rule r = rule_of(t);
    const int a = split_axis(t, r);
    if (a < 0 || r == tp_rule::conv_gather || whole.whole(t)) continue;  // conv sections follow the head counts checked above
    const std::int64_t extent = t.dims[static_cast<std::size_t>(a)];
    const auto [parent, leaf] = detail::parent_and_leaf(t.module);
    const bool kv_rep = kv_replication && parent == "self_attn" && (leaf == "k_proj" || leaf == "v_proj") &&
                        d.dim("num_key_value_heads") < n;
    if (extent % n != 0 && !kv_rep)
      return error(errc::not_divisible, t.name, to_string(t.dims) + " " + t.dims_text + ": axis " + std::to_string(a) +
                   " = " + std::to_string(extent) + " over " + deg + " ranks",
                   "an extent divisible by " + deg + " (" + std::string(to_string(r)) + ")", std::string(file));
    const auto f = io::stored_format(t, q);
    if (f && a == static_cast<int>(t.dims.rank()) - 1 && (extent / n) % f->group_size != 0)
      return error(errc::not_divisible, t.module,
                   "in = " + std::to_string(extent) + " over " + deg + " ranks: " + std::to_string(extent / n) + " columns per rank",
                   "a multiple of the group size " + std::to_string(f->group_size) +
                       " (a row-parallel split must not cut a quantization group)",
                   std::string(file));
  }
  return {};
}

}  // namespace famx::shard
