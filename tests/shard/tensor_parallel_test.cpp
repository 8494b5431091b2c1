// Tensor- and expert-parallel slicing on every family's tiny checkpoint: the union of all ranks'
// slices covers every element of every tensor exactly once (or n times where the rule replicates),
// each rank's element equals the checkpoint's, dequantized slices equal slices of the dequantized
// tensor, and every divisibility error names the key or module, the value and the degree.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../io/test_files.hpp"
#include "famx/io/sharded_safetensors.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/shard/expert_parallel.hpp"
#include "famx/shard/slice.hpp"

namespace {

using famx::shard::block;
using famx::shard::tp_rule;

// The tiny checkpoint of a family, opened, with its config.
struct opened {
  famx::test::temp_dir dir;
  famx::io::loaded_model model;
  std::optional<famx::io::sharded_safetensors> files;
  opened(std::string_view name, int bits) {
    REQUIRE(famx::io::make_tiny_checkpoint(name, dir.path(), {bits, 64}).has_value());
    model = famx::io::load_model_config(dir.path()).value();
    files.emplace(famx::io::sharded_safetensors::open_directory(dir.path()).value());
  }
};

// Where global position p along a slice's axis lands in the local tensor, or -1.
std::int64_t local_pos(const std::vector<block>& blocks, std::int64_t p) {
  std::int64_t at = 0;
  for (const block& b : blocks) {
    if (p >= b.begin && p < b.begin + b.length) return at + p - b.begin;
    at += b.length;
  }
  return -1;
}

// For every file tensor of t, counts how many ranks hold each element (rank r holds
// per_rank[r]'s blocks) and checks, element by element, that each held element is the checkpoint's.
void check_coverage(const opened& o, const famx::surface::tensor_entry& t, const std::vector<std::vector<block>>& per_rank,
                    std::map<std::string, int>& rules_seen) {
  const auto q = famx::io::stored_format(t, o.model.quantization);
  const std::size_t n_files = famx::io::stored_entries(t, q).size();
  for (std::size_t k = 0; k < n_files; ++k) {
    const famx::io::stored_entry entry = famx::io::stored_entries(t, q)[k];
    CAPTURE(entry.name);
    const famx::tensor_view whole = o.files->tensor(entry.name).value();
    std::vector<int> count(static_cast<std::size_t>(whole.numel()), 0);
    const auto es = static_cast<std::int64_t>(famx::size_of(whole.type));
    const std::size_t rank = whole.dims.rank();
    for (std::size_t r = 0; r < per_rank.size(); ++r) {
      const auto fs = famx::shard::file_slices(t, q, whole.type, per_rank[r])[k];
      auto local = famx::shard::take(whole, fs);
      REQUIRE(local.has_value());
      CHECK(local->view.dims == fs.local);
      CHECK((fs.blocks.size() > 1) == local->owned.has_value());  // one block: a view, no copy
      const auto axis = fs.blocks.empty() ? rank : static_cast<std::size_t>(fs.blocks.front().axis);
      std::array<std::int64_t, famx::shape::max_rank> idx{};
      for (std::int64_t i = 0; i < whole.numel(); ++i) {
        std::int64_t off = 0;
        bool held = true;
        for (std::size_t d = 0; d < rank; ++d) {
          std::int64_t p = idx[d];
          if (d == axis && (p = local_pos(fs.blocks, p)) < 0) held = false;
          off += p * local->view.strides[d];
        }
        if (held) {
          ++count[static_cast<std::size_t>(i)];
          if (std::memcmp(static_cast<const std::byte*>(local->view.data) + off * es,
                          static_cast<const std::byte*>(whole.data) + i * es, static_cast<std::size_t>(es)) != 0) {
            FAIL_CHECK("rank " << r << " element " << i << " differs");
            return;
          }
        }
        for (std::size_t d = rank; d-- > 0;) {
          if (++idx[d] < whole.dims[d]) break;
          idx[d] = 0;
        }
      }
    }
    const int want = per_rank[0].empty() ? static_cast<int>(per_rank.size()) : 1;
    for (std::size_t i = 0; i < count.size(); ++i)
      if (count[i] != want) {
        FAIL_CHECK("element " << i << " held by " << count[i] << " ranks, expected " << want);
        return;
      }
  }
  ++rules_seen[std::string(famx::shard::to_string(famx::shard::rule_of(t)))];
}

std::vector<std::vector<block>> tp_of(const famx::surface::tensor_entry& t, int n, const opened& o) {
  std::vector<std::vector<block>> out;
  for (int r = 0; r < n; ++r) out.push_back(famx::shard::tp_blocks(t, famx::shard::rule_of(t), n, r, o.model.description));
  return out;
}

}  // namespace

TEST_CASE("tensor parallel over 1, 2, 4 (and 8 where legal) covers every element of every family's tensors once or replicated") {
  for (const auto& tm : famx::io::tiny_models) {
    for (int bits : {4, 0}) {
      const std::string name(tm.key);
      CAPTURE(name);
      CAPTURE(bits);
      const opened o(tm.key, bits);
      const auto& d = o.model.description;
      for (int n : {1, 2, 4, 8}) {
        CAPTURE(n);
        const auto legal = famx::shard::check_tensor_parallel(d, o.model.quantization, n);
        // The tiny models have 4 KV heads (or 64-column groups in 256-wide expert down_proj inputs).
        if (n == 8) {
          const bool mla = d.family.starts_with("deepseek");
          CHECK(legal.has_value() == (mla && bits == 0));
          if (!legal) continue;
        }
        REQUIRE_MESSAGE(legal.has_value(), (legal ? "" : legal.err().message()));
        std::map<std::string, int> seen;
        for (const auto& t : famx::io::mlx_tensors(d)) check_coverage(o, t, tp_of(t, n, o), seen);
        CHECK(seen["replicated"] > 0);
        CHECK(seen["column_parallel"] > 0);
        CHECK(seen["row_parallel"] > 0);
        if (d.family.starts_with("deepseek")) CHECK(seen["head_sliced"] == 4);
        if (d.family == "qwen3_next") {
          CHECK(seen["conv_gather"] == 1);
          CHECK(seen["head_vector"] == 2);
        }
      }
    }
  }
}

TEST_CASE("the rule of each surface element follows Exo's strategies") {
  const opened ds("deepseek_v32", 4), nx("qwen3_next", 4), gl("glm4_moe", 4);
  auto rule = [](const opened& o, std::string_view name) {
    for (const auto& t : famx::io::mlx_tensors(o.model.description))
      if (t.name == name) return famx::shard::to_string(famx::shard::rule_of(t));
    FAIL("no tensor " << name);
    return std::string_view{};
  };
  CHECK(rule(ds, "model.layers.0.self_attn.q_a_proj.weight") == "replicated");
  CHECK(rule(ds, "model.layers.0.self_attn.q_b_proj.weight") == "column_parallel");
  CHECK(rule(ds, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight") == "replicated");
  CHECK(rule(ds, "model.layers.0.self_attn.embed_q.weight") == "head_sliced");
  CHECK(rule(ds, "model.layers.0.self_attn.unembed_out.weight") == "head_sliced");
  CHECK(rule(ds, "model.layers.0.self_attn.indexer.wq_b.weight") == "replicated");
  CHECK(rule(ds, "model.layers.0.self_attn.o_proj.weight") == "row_parallel");
  CHECK(rule(ds, "model.layers.1.mlp.gate.weight") == "replicated");
  CHECK(rule(ds, "model.layers.1.mlp.gate.e_score_correction_bias") == "replicated");
  CHECK(rule(ds, "model.layers.1.mlp.switch_mlp.gate_proj.weight") == "column_parallel");
  CHECK(rule(ds, "model.layers.1.mlp.shared_experts.down_proj.weight") == "row_parallel");
  CHECK(rule(ds, "model.embed_tokens.weight") == "replicated");
  CHECK(rule(ds, "lm_head.weight") == "replicated");
  CHECK(rule(nx, "model.layers.0.linear_attn.in_proj_qkvz.weight") == "column_parallel");
  CHECK(rule(nx, "model.layers.0.linear_attn.conv1d.weight") == "conv_gather");
  CHECK(rule(nx, "model.layers.0.linear_attn.A_log") == "head_vector");
  CHECK(rule(nx, "model.layers.0.linear_attn.norm.weight") == "replicated");
  CHECK(rule(nx, "model.layers.1.self_attn.q_norm.weight") == "replicated");
  CHECK(rule(nx, "model.layers.1.mlp.shared_expert_gate.weight") == "replicated");
  CHECK(rule(gl, "model.layers.0.self_attn.q_proj.bias") == "column_parallel");
  // A column-parallel bias is split with the output; a row-parallel one stays whole (added once).
  for (const auto& t : famx::io::mlx_tensors(gl.model.description))
    if (t.name == "model.layers.0.self_attn.q_proj.bias")
      CHECK(famx::shard::tp_blocks(t, famx::shard::rule_of(t), 4, 3, gl.model.description) == std::vector<block>{{0, 192, 64}});
}

TEST_CASE("Qwen3-Next's conv1d channels gather each rank's q, k and v sections") {
  const opened o("qwen3_next", 0);
  for (const auto& t : famx::io::mlx_tensors(o.model.description))
    if (t.name == "model.layers.0.linear_attn.conv1d.weight") {
      // key_dim = 4 * 32 = 128, value_dim = 8 * 32 = 256: [q 0..128 | k 128..256 | v 256..512], rank 1 of 2.
      CHECK(famx::shard::tp_blocks(t, tp_rule::conv_gather, 2, 1, o.model.description) ==
            std::vector<block>{{0, 64, 64}, {0, 192, 64}, {0, 384, 128}});
      CHECK(famx::shard::local_shape(t, famx::shard::tp_blocks(t, tp_rule::conv_gather, 2, 1, o.model.description)) ==
            famx::shape{256, 4, 1});
    }
}

TEST_CASE("dequantized slices equal slices of the dequantized tensor (row and column parallel, stacked experts)") {
  const opened o("qwen3_moe", 4);
  for (const auto& t : famx::io::mlx_tensors(o.model.description)) {
    const tp_rule r = famx::shard::rule_of(t);
    if (!t.packs || (r != tp_rule::row_parallel && r != tp_rule::column_parallel)) continue;
    const auto f = famx::io::stored_format(t, o.model.quantization);
    REQUIRE(f.has_value());
    CAPTURE(t.name);
    const auto stack = t.dims.rank() == 3 ? t.dims[0] : 1;
    auto whole = [&](std::string_view suffix) { return o.files->tensor(t.module + std::string(suffix)).value(); };
    for (std::int64_t e = 0; e < stack; e += 3) {
      auto mat = [&](famx::tensor_view v) { return t.dims.rank() == 3 ? v[e] : v; };
      const auto full = famx::quant::make_qmatrix_view(mat(whole(".weight")), mat(whole(".scales")), mat(whole(".biases")), *f).value();
      const famx::tensor dense = famx::quant::dequantize(full, famx::dtype::f32);
      for (int rank = 0; rank < 4; ++rank) {
        const auto blocks = famx::shard::tp_blocks(t, r, 4, rank, o.model.description);
        const auto fs = famx::shard::file_slices(t, f, famx::dtype::bf16, blocks);
        const auto w = famx::shard::take(whole(".weight"), fs[0]).value();
        const auto s = famx::shard::take(whole(".scales"), fs[1]).value();
        const auto b = famx::shard::take(whole(".biases"), fs[2]).value();
        const auto part = famx::quant::make_qmatrix_view(mat(w.view), mat(s.view), mat(b.view), *f).value();
        const famx::tensor got = famx::quant::dequantize(part, famx::dtype::f32);
        const block bl = blocks.front();
        const bool rows = bl.axis == static_cast<int>(t.dims.rank()) - 2;
        for (std::size_t i = 0; i < part.rows; ++i)
          for (std::size_t j = 0; j < part.cols; ++j) {
            const std::size_t gi = rows ? i + static_cast<std::size_t>(bl.begin) : i;
            const std::size_t gj = rows ? j : j + static_cast<std::size_t>(bl.begin);
            if (got.as<float>()[i * part.cols + j] != dense.as<float>()[gi * full.cols + gj]) {
              FAIL_CHECK("rank " << rank << " [" << i << ", " << j << "] differs");
              return;
            }
          }
      }
    }
  }
}

TEST_CASE("tensor-parallel divisibility errors name the key or module, the value and the degree") {
  const opened o("llama", 4);
  const auto& d = o.model.description;
  auto kv = famx::shard::check_tensor_parallel(d, o.model.quantization, 8, false, "config.json");
  REQUIRE_FALSE(kv.has_value());
  CHECK(kv.err().message() == "config.json: num_key_value_heads: found num_key_value_heads = 4 over 8 ranks, expected a value "
                              "divisible by the tensor-parallel degree 8 (or kv_replication, when the degree is a multiple of it)");
  auto three = famx::shard::check_tensor_parallel(d, o.model.quantization, 3);
  REQUIRE_FALSE(three.has_value());
  CHECK(three.err().path() == "num_attention_heads");
  // With KV heads replicated, 8 ranks pass the head checks and stop at the group check of o_proj (256 / 8 = 32 columns).
  auto group = famx::shard::check_tensor_parallel(d, o.model.quantization, 8, true);
  REQUIRE_FALSE(group.has_value());
  CHECK(group.err().message() == "model.layers.0.self_attn.o_proj: found in = 256 over 8 ranks: 32 columns per rank, expected a "
                                 "multiple of the group size 64 (a row-parallel split must not cut a quantization group)");
  const opened f("llama", 0);
  CHECK(famx::shard::check_tensor_parallel(f.model.description, std::nullopt, 8, true).has_value());
  auto kv12 = famx::shard::check_tensor_parallel(f.model.description, std::nullopt, 12, true);
  REQUIRE_FALSE(kv12.has_value());
  CHECK(kv12.err().path() == "num_attention_heads");
}

TEST_CASE("KV-head replication: each rank holds the one KV head its query heads use") {
  const opened o("llama", 0);
  const auto& d = o.model.description;
  for (const auto& t : famx::io::mlx_tensors(d)) {
    if (t.name != "model.layers.0.self_attn.k_proj.weight") continue;
    // 4 KV heads of 32 over 8 ranks: ranks 2k and 2k+1 hold head k.
    for (int r = 0; r < 8; ++r)
      CHECK(famx::shard::tp_blocks(t, tp_rule::column_parallel, 8, r, d, true) == std::vector<block>{{0, (r / 2) * 32, 32}});
    CHECK(famx::shard::kv_heads_of(4, 8, 5, true).first == 2);
    CHECK(famx::shard::kv_heads_of(4, 2, 1, false).first == 2);
    CHECK(famx::shard::kv_heads_of(4, 2, 1, false).count == 2);
  }
}

TEST_CASE("expert maps: linear and round robin, with E not divisible by the degree") {
  using famx::shard::expert_placement;
  // 8 experts over 3 ranks, linear: the first 8 % 3 = 2 ranks hold one more.
  CHECK(famx::shard::local_experts(8, 3, 0, expert_placement::linear) == std::vector<std::int64_t>{0, 1, 2});
  CHECK(famx::shard::local_experts(8, 3, 1, expert_placement::linear) == std::vector<std::int64_t>{3, 4, 5});
  CHECK(famx::shard::local_experts(8, 3, 2, expert_placement::linear) == std::vector<std::int64_t>{6, 7});
  CHECK(famx::shard::local_experts(8, 3, 1, expert_placement::round_robin) == std::vector<std::int64_t>{1, 4, 7});
  CHECK(famx::shard::expert_blocks(8, 3, 1, expert_placement::round_robin) == std::vector<block>{{0, 1, 1}, {0, 4, 1}, {0, 7, 1}});
  CHECK(famx::shard::expert_blocks(8, 3, 1, expert_placement::linear) == std::vector<block>{{0, 3, 3}});
  const auto map = famx::shard::expert_map(8, 3, 2, expert_placement::round_robin);
  CHECK(map == std::vector<std::int64_t>{-1, -1, 0, -1, -1, 1, -1, -1});
  for (auto p : {expert_placement::linear, expert_placement::round_robin})
    for (std::int64_t e : {256, 160, 384, 512, 7})
      for (int n = 1; n <= 8; ++n) {
        std::vector<int> owners(static_cast<std::size_t>(e), 0);
        std::size_t most = 0, least = static_cast<std::size_t>(e);
        for (int r = 0; r < n; ++r) {
          const auto ids = famx::shard::local_experts(e, n, r, p);
          most = std::max(most, ids.size());
          least = std::min(least, ids.size());
          for (auto id : ids) ++owners[static_cast<std::size_t>(id)];
        }
        CHECK(std::ranges::all_of(owners, [](int c) { return c == 1; }));
        CHECK(most - least <= 1);
      }
}

TEST_CASE("expert-parallel slices of stacked experts cover every expert exactly once") {
  const opened o("deepseek_v3", 4);
  for (auto p : {famx::shard::expert_placement::linear, famx::shard::expert_placement::round_robin}) {
    std::map<std::string, int> seen;
    for (const auto& t : famx::io::mlx_tensors(o.model.description)) {
      if (t.routed_experts == 0) continue;
      std::vector<std::vector<block>> per_rank;
      for (int r = 0; r < 3; ++r) per_rank.push_back(famx::shard::expert_blocks(t.dims[0], 3, r, p));
      check_coverage(o, t, per_rank, seen);
    }
    CHECK(seen.size() == 2);  // gate/up (column-parallel under TP) and down (row-parallel), here split by experts
  }
}

TEST_CASE("placements and specs print stably; quantized slices report their byte runs in the file") {
  using famx::shard::placement;
  CHECK(famx::shard::to_string(placement::replicate()) == "R");
  CHECK(famx::shard::to_string(placement::shard(-1)) == "S(-1)");
  CHECK(famx::shard::to_string(placement::partial_sum()) == "P(sum)");
  CHECK(famx::shard::to_string(famx::shard::partition_spec{"ep", "tp", ""}) == "[ep, tp, -]");
  const opened o("llama", 4);
  for (const auto& t : famx::io::mlx_tensors(o.model.description)) {
    const auto f = famx::io::stored_format(t, o.model.quantization);
    const auto blocks = famx::shard::tp_blocks(t, famx::shard::rule_of(t), 2, 1, o.model.description);
    if (t.name == "model.layers.0.self_attn.o_proj.weight") {
      // Row-parallel [256, 256] 4-bit g64, rank 1 of 2: input columns [128, 256) = packed words [16, 32) of 32
      // and groups [2, 4) of 4, in every one of the 256 rows.
      CHECK(famx::shard::to_string(famx::shard::tp_spec(t, famx::shard::rule_of(t), "tp")) == "[-, tp]");
      const auto fs = famx::shard::file_slices(t, f, famx::dtype::bf16, blocks);
      CHECK(fs[0].runs() == std::vector<famx::shard::byte_runs>{{16 * 4, 16 * 4, 256, 32 * 4}});
      CHECK(fs[1].runs() == std::vector<famx::shard::byte_runs>{{2 * 2, 2 * 2, 256, 4 * 2}});
      CHECK(fs[0].local_bytes() == 256 * 16 * 4);
    }
    if (t.name == "model.layers.0.self_attn.q_proj.weight") {
      // Column-parallel: rows [128, 256), one contiguous run.
      const auto fs = famx::shard::file_slices(t, f, famx::dtype::bf16, blocks);
      CHECK(fs[0].runs() == std::vector<famx::shard::byte_runs>{{128 * 32 * 4, 128 * 32 * 4, 1, 0}});
      CHECK(fs[2].runs() == std::vector<famx::shard::byte_runs>{{128 * 4 * 2, 128 * 4 * 2, 1, 0}});
    }
  }
}
