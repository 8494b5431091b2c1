// A split model reproduces the unsplit reference forward bit for bit: every family's tiny checkpoint
// (quantized and dequantized), a prompt then decode steps, under tensor parallelism of degree 2 and 4
// (8 where the planner allows it), pipeline parallelism over 2 stages (3 on a 4-layer checkpoint)
// and expert parallelism over 2 and 4 ranks, on every rank, with the in-process backend. Also: the
// errors of a world size that does not match the plan and of ranks holding different checkpoints;
// and int8 activations with threads inside every rank (TP 2, EP 2), with int8 panels or not.

#include <famx/kernels.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <famx/comm/threads.hpp>
#include <famx/io/tiny_checkpoint.hpp>
#include <famx/model/model.hpp>
#include <famx/shard/plan.hpp>

#include "../io/test_files.hpp"

namespace {

namespace fm = famx::model;
namespace fs = famx::shard;

const std::vector<std::int32_t> kPrompt = {1, 7, 42, 100, 3, 511, 250, 9, 77, 12};  // 10 > index_topk 8 after decode
constexpr int kDecode = 2;

// The tiny checkpoint `name` with `layers` decoder layers (0: 2) and quantization group `group`.
std::filesystem::path tiny(const std::string& name, int layers = 0, int group = 64) {
  static const famx::test::temp_dir root;  // removed at exit
  static std::map<std::string, std::filesystem::path> made;
  const std::string key = name + "-" + std::to_string(layers) + "-" + std::to_string(group);
  if (auto it = made.find(key); it != made.end()) return it->second;
  famx::io::tiny_options o;
  o.layers = layers;
  o.group_size = group;
  famx::io::make_tiny_checkpoint(name, root / key, o).value();
  return made[key] = root / key;
}

// The logits of the prompt then kDecode greedy steps, concatenated.
std::vector<float> run(const fm::reference_model& m, const fm::forward_options& o = {}) {
  auto cache = m.new_cache();
  std::vector<float> all = m.forward(kPrompt, cache, o);
  const std::size_t V = m.info().vocab;
  for (int i = 0; i < kDecode; ++i) {
    const float* last = all.data() + all.size() - V;
    std::int32_t best = 0;
    for (std::size_t v = 1; v < V; ++v)
      if (last[v] > last[best]) best = static_cast<std::int32_t>(v);
    const std::vector<float> step = m.forward(std::span(&best, 1), cache, o);
    all.insert(all.end(), step.begin(), step.end());
  }
  return all;
}

// The unsplit logits of a checkpoint (one thread; int8 activations or exact), computed once.
const std::vector<float>& reference(const std::filesystem::path& dir, fm::weight_path path, bool int8 = false) {
  static std::map<std::tuple<std::string, fm::weight_path, bool>, std::vector<float>> done;
  const auto key = std::tuple(dir.string(), path, int8);
  if (auto it = done.find(key); it != done.end()) return it->second;
  fm::forward_options o;
  o.int8_activations = int8;
  return done[key] = run(fm::reference_model::load(dir, path).value(), o);
}

// The plan of `n` roomy devices under strategy s, or the planner's error.
famx::result<fs::shard_plan> plan_of(const std::filesystem::path& dir, int n, fs::strategy s, bool kv_replication = false) {
  const auto m = famx::io::load_model_config(dir).value();
  std::vector<fs::device> devices;
  for (int r = 0; r < n; ++r) devices.push_back({"dev" + std::to_string(r), std::int64_t{1} << 30, std::nullopt});
  fs::plan_options o;
  o.kind = s;
  o.context_tokens = 64;
  o.kv_replication = kv_replication;
  return fs::plan(m, devices, o);
}

// Runs the split model of `plan` on its ranks (each on `threads` threads, int8 activations or
// exact, with int8 panels built at load or not); every rank's logits must equal the unsplit ones
// (one thread, no panels) bit for bit.
void check_split(const std::filesystem::path& dir, const fs::shard_plan& plan, fm::weight_path path, bool int8 = false,
                 std::size_t threads = 1, bool panels = false) {
  const std::vector<float>& want = reference(dir, path, int8);
  std::mutex mu;
  std::vector<std::vector<float>> got(static_cast<std::size_t>(plan.world));
  famx::comm::run_threads(plan.world, [&](famx::comm::communicator& c) {
    famx::thread_pool pool(threads);
    fm::load_options lo;
    lo.path = path;
    lo.int8_panels = panels;
    lo.threads = pool.hook();
    const fm::reference_model m = fm::reference_model::load_rank(dir, lo, plan, c).value();
    CHECK((m.int8_panel_bytes() > 0) == panels);
    fm::forward_options o;
    o.int8_activations = int8;
    o.threads = pool.hook();
    std::vector<float> l = run(m, o);
    const std::lock_guard lock(mu);
    got[static_cast<std::size_t>(c.rank())] = std::move(l);
  });
  for (std::size_t r = 0; r < got.size(); ++r) {
    INFO("rank " << r);
    REQUIRE(got[r].size() == want.size());
    CHECK(std::memcmp(got[r].data(), want.data(), want.size() * sizeof(float)) == 0);
  }
}

const char* path_name(fm::weight_path p) { return p == fm::weight_path::quantized ? "quantized" : "dequantized"; }

constexpr const char* kFamilies[] = {"llama", "qwen3", "qwen3_moe", "qwen3_next", "deepseek_v3",
                                     "kimi_k2", "deepseek_v32", "glm4_moe", "ministral3"};
constexpr const char* kMoe[] = {"qwen3_moe", "qwen3_next", "deepseek_v3", "kimi_k2", "deepseek_v32", "glm4_moe"};
constexpr fm::weight_path kPaths[] = {fm::weight_path::quantized, fm::weight_path::dequantized};

// check_split of every family in `families` at degrees 2 and 4 of strategy s, both weight paths; the
// plans must be exact.
template <std::size_t N>
void check_degrees(const char* const (&families)[N], fs::strategy s) {
  for (const char* f : families)
    for (const int n : {2, 4})
      for (const auto path : kPaths) {
        const std::string family = f;
        CAPTURE(family);
        CAPTURE(n);
        const std::string weights = path_name(path);
        CAPTURE(weights);
        const auto dir = tiny(f);
        const fs::shard_plan plan = plan_of(dir, n, s).value();
        CHECK(plan.exact);
        check_split(dir, plan, path);
      }
}

}  // namespace

TEST_CASE("tensor parallelism of degree 2 and 4 reproduces the unsplit logits on every rank, every family") {
  check_degrees(kFamilies, fs::strategy::tensor);
}

TEST_CASE("int8 activations, 2 threads per rank, int8 panels or not: tensor parallelism 2 and expert parallelism 2 reproduce the unsplit logits") {
  for (const char* f : kFamilies) {
    for (const bool panels : {false, true}) {
      const std::string family = f;
      CAPTURE(family);
      CAPTURE(panels);
      const auto dir = tiny(f);
      check_split(dir, plan_of(dir, 2, fs::strategy::tensor).value(), fm::weight_path::quantized, true, 2, panels);
      if (std::ranges::find(kMoe, family) != std::end(kMoe))
        check_split(dir, plan_of(dir, 2, fs::strategy::expert).value(), fm::weight_path::quantized, true, 2, panels);
    }
  }
}

TEST_CASE("tensor parallelism of degree 8 (group 32, KV heads replicated) where the planner allows it") {
  int ran = 0;
  for (const char* f : kFamilies) {
    const std::string family = f;
    CAPTURE(family);
    const auto dir = tiny(f, 0, 32);
    auto plan = plan_of(dir, 8, fs::strategy::tensor, true);
    if (!plan) {  // Qwen3-Next's 4 linear-attention key heads cannot be split 8 ways
      CHECK(std::string(f) == "qwen3_next");
      CHECK(plan.err().message().find("linear_num_key_heads") != std::string::npos);
      continue;
    }
    CHECK(plan->exact);
    check_split(dir, *plan, fm::weight_path::quantized);
    ++ran;
  }
  CHECK(ran == 8);
}

TEST_CASE("pipeline parallelism over 2 stages, and 3 stages of a 4-layer checkpoint, reproduces the unsplit logits") {
  for (const char* f : kFamilies)
    for (const auto path : kPaths) {
      const std::string family = f;
      CAPTURE(family);
      const std::string weights = path_name(path);
      CAPTURE(weights);
      const auto two = tiny(f);
      check_split(two, plan_of(two, 2, fs::strategy::pipeline).value(), path);
      const auto four = tiny(f, 4);
      const fs::shard_plan p3 = plan_of(four, 3, fs::strategy::pipeline).value();
      CHECK(p3.ranks.back().layers.end == 4);
      check_split(four, p3, path);
      if (path == fm::weight_path::quantized)  // a middle stage holds neither embed_tokens nor lm_head
        check_split(four, p3, path, true, 1, true);
    }
}

TEST_CASE("expert parallelism over 2 and 4 ranks reproduces the unsplit logits, every MoE family") {
  check_degrees(kMoe, fs::strategy::expert);
}

TEST_CASE("a rank holds only its slices: tensor-parallel ranks read about 1/n of the weights each") {
  const auto dir = tiny("qwen3_moe");
  const fs::shard_plan plan = plan_of(dir, 2, fs::strategy::tensor).value();
  std::vector<std::uint64_t> read(2);
  famx::comm::run_threads(2, [&](famx::comm::communicator& c) {
    read[static_cast<std::size_t>(c.rank())] = fm::reference_model::load_rank(dir, fm::weight_path::quantized, plan, c).value().bytes_read();
  });
  for (std::size_t r = 0; r < 2; ++r) {
    CHECK(read[r] == static_cast<std::uint64_t>(plan.ranks[r].weight_bytes));
    std::uint64_t whole = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".safetensors") whole += e.file_size();
    CHECK(read[r] < whole * 3 / 4);
  }
}

TEST_CASE("a world size that does not match the plan, and ranks pointed at different checkpoints, are errors") {
  const auto dir = tiny("llama");
  const fs::shard_plan plan = plan_of(dir, 4, fs::strategy::tensor).value();
  std::string message;
  std::mutex mu;
  famx::comm::run_threads(3, [&](famx::comm::communicator& c) {
    auto m = fm::reference_model::load_rank(dir, fm::weight_path::quantized, plan, c);
    REQUIRE(!m);
    const std::lock_guard lock(mu);
    message = m.err().message();
  });
  CHECK(message.find("world size: found 3 ranks") != std::string::npos);
  CHECK(message.find("4 ranks") != std::string::npos);

  // Rank 1 reads a checkpoint written with another seed (same config, same shapes, other weights).
  famx::io::tiny_options o;
  o.seed = 7;
  const famx::test::temp_dir other;
  famx::io::make_tiny_checkpoint("llama", other.path(), o).value();
  const fs::shard_plan p2 = plan_of(dir, 2, fs::strategy::tensor).value();
  std::vector<std::string> errors(2);
  famx::comm::run_threads(2, [&](famx::comm::communicator& c) {
    auto m = fm::reference_model::load_rank(c.rank() == 1 ? other.path() : dir, fm::weight_path::quantized, p2, c);
    REQUIRE(!m);
    errors[static_cast<std::size_t>(c.rank())] = m.err().message();
  });
  for (const std::string& e : errors) CHECK(e.find("rank 1: found a different checkpoint or plan than rank 0") != std::string::npos);
}
