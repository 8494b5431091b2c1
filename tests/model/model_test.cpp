// The reference forward: hand-computed RMSNorm, RoPE variants and one attention head (numbers
// worked out here from the published formulas, not by the code under test), then per family on
// its tiny checkpoint: prefill + decode equals full recompute bit for bit (any chunking, threads, int8
// activations or exact), MLA absorbed equals naive, the
// quantized-kernel path equals the dequantized path within kQuantTol, greedy tokens stable
// across runs and SIMD targets.
#include <famx/kernels.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <famx/famx.hpp>
#include <famx/io/tiny_checkpoint.hpp>
#include <famx/model/model.hpp>

#include "../io/test_files.hpp"

namespace {

namespace fm = famx::model;

// Quantized kernels vs dequantized fp32, on every tiny model: max |logit difference| relative to
// max |logit| (observed worst case 2.1e-6, deepseek_v3; the kernels' fp32 group sums against
// fp64-accumulated products of the same dequantized values).
constexpr double kQuantTol = 1e-5;
// MLA absorbed vs naive, relative as above: the same sums in another order (observed <= 5.2e-7).
constexpr double kMlaTol = 2e-6;
// int8 activations vs exact quantized kernels, relative as above: x rounded to int8 per group of
// the weights (a step of 1/254 of the group's largest |x|) in every quantized projection, amplified
// through the tiny models' random layers and, in MoE models, by top-k choices that flip (observed:
// dense 0.014-0.047, MoE up to 0.60; the per-product bound is asserted in the kernels' tests).
constexpr double kInt8Tol = 1.0;

// The tiny checkpoint of `name`, written once per test run.
std::filesystem::path tiny(const std::string& name) {
  static const famx::test::temp_dir root;  // removed at exit
  static std::map<std::string, std::filesystem::path> made;
  if (auto it = made.find(name); it != made.end()) return it->second;
  const auto dir = root / name;
  famx::io::make_tiny_checkpoint(name, dir).value();
  return made[name] = dir;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    m = std::max(m, std::abs(static_cast<double>(b[i])));
  }
  return d / m;
}

std::vector<std::int32_t> greedy(const std::vector<float>& logits, std::size_t vocab) {
  std::vector<std::int32_t> out;
  for (std::size_t t = 0; t * vocab < logits.size(); ++t) {
    std::size_t best = 0;
    for (std::size_t v = 1; v < vocab; ++v)
      if (logits[t * vocab + v] > logits[t * vocab + best]) best = v;
    out.push_back(static_cast<std::int32_t>(best));
  }
  return out;
}

const std::vector<std::int32_t> kSeq = {1, 7, 42, 100, 3, 511, 250, 9, 77, 12, 300, 5};  // 12 > index_topk 8

// Forward options with int8 activations or not, on one thread and on `pool`.
std::pair<fm::forward_options, fm::forward_options> one_and_threaded(bool int8, famx::thread_pool& pool) {
  fm::forward_options one;
  one.int8_activations = int8;
  fm::forward_options threaded = one;
  threaded.threads = pool.hook();
  return {one, threaded};
}

// The logits of kSeq fed to a fresh cache of m in calls of `chunk` tokens, concatenated.
std::vector<float> chunked(const fm::reference_model& m, std::size_t chunk, const fm::forward_options& o) {
  auto c = m.new_cache();
  std::vector<float> got;
  for (std::size_t i = 0; i < kSeq.size(); i += chunk) {
    const auto l = m.forward(std::span(kSeq).subspan(i, std::min(chunk, kSeq.size() - i)), c, o);
    got.insert(got.end(), l.begin(), l.end());
  }
  CHECK(c.offset == kSeq.size());
  return got;
}

}  // namespace

TEST_CASE("rms_norm matches x / sqrt(mean(x^2) + eps) * w") {
  std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> w = {1, 0.5f, 2, -1};
  fm::rms_norm(x, w, 1e-5f);
  const double r = 1 / std::sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-5);  // 0.365148...
  CHECK(x[0] == doctest::Approx(1 * r * 1).epsilon(1e-6));
  CHECK(x[1] == doctest::Approx(2 * r * 0.5).epsilon(1e-6));
  CHECK(x[2] == doctest::Approx(3 * r * 2).epsilon(1e-6));
  CHECK(x[3] == doctest::Approx(-4 * r).epsilon(1e-6));
}

TEST_CASE("rope default: rotate_half and traditional pairings, partial rotary") {
  // dims 4, base 10000: inv_freq = {1, 0.01}; position 3.
  const auto r = fm::make_rope(4, 10000, false, std::nullopt).value();
  CHECK(r.inv_freq[0] == doctest::Approx(1.0));
  CHECK(r.inv_freq[1] == doctest::Approx(0.01).epsilon(1e-6));
  std::vector<float> x = {1, 2, 3, 4, 5, 6};  // 6 features, only the first 4 rotate
  r.apply(x, r.at(3));
  const double c0 = std::cos(3.0), s0 = std::sin(3.0), c1 = std::cos(0.03), s1 = std::sin(0.03);
  CHECK(x[0] == doctest::Approx(1 * c0 - 3 * s0).epsilon(1e-5));
  CHECK(x[2] == doctest::Approx(1 * s0 + 3 * c0).epsilon(1e-5));
  CHECK(x[1] == doctest::Approx(2 * c1 - 4 * s1).epsilon(1e-5));
  CHECK(x[3] == doctest::Approx(2 * s1 + 4 * c1).epsilon(1e-5));
  CHECK(x[4] == 5);
  CHECK(x[5] == 6);
  const auto t = fm::make_rope(4, 10000, true, std::nullopt).value();
  std::vector<float> y = {1, 2, 3, 4};
  t.apply(y, t.at(3));
  CHECK(y[0] == doctest::Approx(1 * c0 - 2 * s0).epsilon(1e-5));
  CHECK(y[1] == doctest::Approx(1 * s0 + 2 * c0).epsilon(1e-5));
  CHECK(y[2] == doctest::Approx(3 * c1 - 4 * s1).epsilon(1e-5));
  CHECK(y[3] == doctest::Approx(3 * s1 + 4 * c1).epsilon(1e-5));
}

TEST_CASE("rope llama3: low band scaled by factor, medium band interpolated, high band kept") {
  // dims 8, base 1e4: periods 1, 10, 100, 1000; wavelengths 2*pi*period. old 1024, low 1, high 4:
  // wavelength > 1024 -> period * 8; 256 < wavelength < 1024 -> period / ((1 - s)/8 + s).
  famx::families::rope_scaling sc;
  sc.rope_type = "llama3";
  sc.factor = 8, sc.low_freq_factor = 1, sc.high_freq_factor = 4, sc.original_max_position_embeddings = 1024;
  const auto r = fm::make_rope(8, 10000, false, sc).value();
  CHECK(r.inv_freq[0] == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(r.inv_freq[1] == doctest::Approx(0.1).epsilon(1e-6));
  const double s = (1024 / (2 * std::numbers::pi * 100) - 1) / 3;  // 0.2099...
  CHECK(r.inv_freq[2] == doctest::Approx(((1 - s) / 8 + s) / 100).epsilon(1e-5));
  CHECK(r.inv_freq[3] == doctest::Approx(1.0 / 8000).epsilon(1e-6));
}

TEST_CASE("rope yarn: DeepSeek-V3's ramp (low 10, high 23) and Ministral 3's mscale") {
  famx::families::rope_scaling sc;
  sc.type = "yarn";
  sc.factor = 40, sc.original_max_position_embeddings = 4096, sc.beta_fast = 32, sc.beta_slow = 1;
  sc.mscale = 1, sc.mscale_all_dim = 1;
  const auto r = fm::make_rope(64, 10000, true, sc).value();
  auto extra = [](int i) { return std::pow(10000.0, -2.0 * i / 64); };
  for (int i : {0, 5, 10}) CHECK(r.inv_freq[static_cast<std::size_t>(i)] == doctest::Approx(extra(i)).epsilon(1e-5));
  for (int i : {23, 31}) CHECK(r.inv_freq[static_cast<std::size_t>(i)] == doctest::Approx(extra(i) / 40).epsilon(1e-5));
  const double ramp = (16 - 10) / 13.0;
  CHECK(r.inv_freq[16] == doctest::Approx(extra(16) / 40 * ramp + extra(16) * (1 - ramp)).epsilon(1e-5));
  CHECK(r.mscale == 1.0f);  // mscale == mscale_all_dim
  famx::families::rope_scaling m;
  m.rope_type = "yarn", m.factor = 16, m.original_max_position_embeddings = 16384, m.beta_fast = 32, m.beta_slow = 1;
  const auto mr = fm::make_rope(128, 1e6, false, m).value();
  CHECK(mr.mscale == doctest::Approx(0.1 * std::log(16.0) + 1).epsilon(1e-6));  // 1.27726, mscale_all_dim 0
  famx::families::rope_scaling bad;
  bad.type = "longrope";
  CHECK_FALSE(fm::make_rope(8, 10000, false, bad));
}

TEST_CASE("one attention head: softmax(scale q.k) v by hand") {
  // q = [1, 2]; keys [1, 0], [0, 1], [1, 1]; values [1, 10], [2, 20], [3, 30]; scale 0.5.
  const std::vector<float> q = {1, 2}, k = {1, 0, 0, 1, 1, 1}, v = {1, 10, 2, 20, 3, 30};
  std::vector<float> o(2);
  fm::attend(q, k, v, 3, 2, 0, 2, 0, 2, 0.5f, o);
  const double e0 = std::exp(0.5), e1 = std::exp(1.0), e2 = std::exp(1.5), z = e0 + e1 + e2;
  CHECK(o[0] == doctest::Approx((1 * e0 + 2 * e1 + 3 * e2) / z).epsilon(1e-6));
  CHECK(o[1] == doctest::Approx((10 * e0 + 20 * e1 + 30 * e2) / z).epsilon(1e-6));
  // Causal: with n = 1 the head sees only key 0.
  fm::attend(q, k, v, 1, 2, 0, 2, 0, 2, 0.5f, o);
  CHECK(o[0] == 1.0f);
  CHECK(o[1] == 10.0f);
}

TEST_CASE("attention parameters of the tiny models: MLA scale with mscale_all_dim, partial rotary, kinds") {
  namespace ff = famx::families;
  const auto ds = famx::io::load_model_config(tiny("deepseek_v3")).value();
  const auto a = ff::family_traits<ff::deepseek_v3>::attention(*famx::io::typed_config<ff::deepseek_v3>(ds));
  // qd = 64 + 32; yarn factor 40, mscale_all_dim 1: (0.1 ln 40 + 1)^2 = 1.87385^2.
  CHECK(a.scale == doctest::Approx(std::pow(0.1 * std::log(40.0) + 1, 2) / std::sqrt(96.0)).epsilon(1e-12));
  CHECK(a.rope.traditional);
  CHECK(ds.description.layers[0].mlp == "dense");
  CHECK(ds.description.layers[1].mlp == "moe");
  const auto qn = famx::io::load_model_config(tiny("qwen3_next")).value();
  CHECK(ff::family_traits<ff::qwen3_next>::attention(*famx::io::typed_config<ff::qwen3_next>(qn)).rope.dims == 16);  // 64 * 0.25
  CHECK(qn.description.layers[0].attention == "linear_attention");
  CHECK(qn.description.layers[1].attention == "full_attention");
  const auto glm = famx::io::load_model_config(tiny("glm4_moe")).value();
  CHECK(ff::family_traits<ff::glm4_moe>::attention(*famx::io::typed_config<ff::glm4_moe>(glm)).rope.dims == 16);  // 32 * 0.5
  const auto mi = famx::io::load_model_config(tiny("ministral3")).value();
  const auto ma = ff::family_traits<ff::ministral3>::attention(*famx::io::typed_config<ff::ministral3>(mi));
  CHECK(ma.query_scale_beta == doctest::Approx(0.1));
  CHECK(ma.query_scale_orig == 128);
  CHECK(fm::llama4_scale(ma.query_scale_beta, 128, 300) == doctest::Approx(1 + 0.1 * std::log(3.0)).epsilon(1e-6));
  const auto kimi = fm::reference_model::load(tiny("kimi_k2")).value();
  CHECK(kimi.info().family == "deepseek_v3");
  CHECK(kimi.info().model_type == "kimi_k2");
}

TEST_CASE("the model binds the tensors verify expects and the advisor lists, every family, quantized and float") {
  for (const auto& t : famx::io::tiny_models) {
    for (int bits : {4, 0}) {
      const std::string name(t.key);
      CAPTURE(name);
      CAPTURE(bits);
      const famx::test::temp_dir dir;
      famx::io::tiny_options o;
      o.bits = bits;
      famx::io::make_tiny_checkpoint(name, dir.path(), o).value();
      const auto m = fm::reference_model::load(dir.path(), fm::weight_path::quantized).value();
      const auto lm = famx::io::load_model_config(dir.path()).value();
      const auto rep = famx::io::verify_checkpoint(dir.path());
      REQUIRE(rep.ok());
      std::set<std::string> table;
      for (const auto& e : lm.description.tensors) table.insert(e.name);
      const std::set<std::string> bound(m.bound_tensors().begin(), m.bound_tensors().end());
      CHECK(m.bound_tensors().size() == table.size());  // each bound once
      CHECK(bound == table);
      const std::set<std::string> expected(rep.expected_tensors.begin(), rep.expected_tensors.end());
      const std::set<std::string> read(m.read_tensors().begin(), m.read_tensors().end());
      CHECK(read == expected);
    }
  }
}

TEST_CASE("prefill + decode equals full recompute: a prompt in one call, in chunks or token by token, on 1 or 3 threads, exact and int8") {
  famx::thread_pool pool(3);
  for (const auto& t : famx::io::tiny_models) {
    const std::string name(t.key);
    CAPTURE(name);
    for (auto path : {fm::weight_path::dequantized, fm::weight_path::quantized}) {
      CAPTURE(static_cast<int>(path));
      const auto m = fm::reference_model::load(tiny(name), path).value();
      std::vector<float> exact;
      for (bool int8 : {false, true}) {
        CAPTURE(int8);
        const auto [one, threaded] = one_and_threaded(int8, pool);
        auto c = m.new_cache();
        const auto whole = m.forward(kSeq, c, one);
        for (const auto& o : {one, threaded}) {
          for (std::size_t chunk : {std::size_t{1}, std::size_t{5}, kSeq.size()}) {
            CAPTURE(chunk);
            CAPTURE(o.threads.workers);
            CHECK(chunked(m, chunk, o) == whole);  // every token's computation is independent of how the sequence is chunked
          }
        }
        // A fresh cache after a decode is different: positions matter.
        const std::size_t V = m.info().vocab;
        auto c2 = m.new_cache();
        const auto shifted = m.forward(std::span(kSeq).subspan(5, 1), c2, one);
        CHECK(rel_diff(shifted, std::vector<float>(whole.begin() + 5 * static_cast<std::ptrdiff_t>(V),
                                                   whole.begin() + 6 * static_cast<std::ptrdiff_t>(V))) > 1e-3);
        if (!int8) {
          exact = whole;
          continue;
        }
        // int8 activations change the quantized path only, within the per-group rounding of x.
        const double d = rel_diff(whole, exact);
        CAPTURE(d);
        if (path == fm::weight_path::dequantized) CHECK(d == 0);
        else CHECK((d > 0 && d <= kInt8Tol));
      }
    }
  }
}

TEST_CASE("int8 panels built at load give the bits of the MLX views: one call, chunks, token by token, 1 or 3 threads, every family") {
  famx::thread_pool pool(3);
  for (const auto& t : famx::io::tiny_models) {
    const std::string name(t.key);
    CAPTURE(name);
    const auto plain = fm::reference_model::load(tiny(name), fm::weight_path::quantized).value();
    fm::load_options lo;
    lo.path = fm::weight_path::quantized;
    lo.int8_panels = true;
    lo.threads = pool.hook();
    const auto panels = fm::reference_model::load(tiny(name), lo).value();
    CHECK(plain.int8_panel_bytes() == 0);
    CHECK(panels.int8_panel_bytes() > 0);
    for (bool int8 : {true, false}) {  // exact calls never read the panels
      CAPTURE(int8);
      const auto [one, threaded] = one_and_threaded(int8, pool);
      auto c = plain.new_cache();
      const auto want = plain.forward(kSeq, c, one);  // 12 tokens: qmm_int8 repacking the MLX views
      for (const auto& o : {one, threaded}) {
        for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}, kSeq.size()}) {
          CAPTURE(chunk);
          CAPTURE(o.threads.workers);
          CHECK(chunked(panels, chunk, o) == want);
        }
      }
    }
  }
  fm::load_options dequantized;
  dequantized.int8_panels = true;
  const auto bad = fm::reference_model::load(tiny("llama"), dequantized);
  REQUIRE(!bad);
  CHECK(std::string(bad.err().what()) ==
        "load_options.int8_panels: found true with the dequantized weight path, expected weight_path::quantized (the "
        "panels are built from the quantized weights)");
}

TEST_CASE("a projection with int8 panels runs batched int8 calls on them, one-token and exact calls on its MLX view") {
  // Panels of another matrix of the same shape tell which one a call read.
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  const auto random_q = [&] {
    famx::tensor w(famx::dtype::f32, {64, 128});
    for (auto& v : w.as<float>()) v = nd(rng);
    return famx::quant::quantize(w.view(), {4, 64}, famx::dtype::bf16).value();
  };
  const auto a = random_q(), b = random_q();
  fm::linear l;
  l.rows = 64;
  l.cols = 128;
  l.quantized = a.view();
  CHECK(l.build_int8_panels() > 0);
  l.int8_panels = std::make_shared<const famx::quant::int8_panels>(b.view());
  std::vector<float> x(3 * 128);
  for (auto& v : x) v = nd(rng);
  fm::forward_options o;
  o.int8_activations = true;
  std::vector<float> got(3 * 64), on_a(3 * 64), on_b(3 * 64);
  famx::quant::qmm_int8(a.view(), x, 3, on_a);
  famx::quant::qmm_int8(b.view(), x, 3, on_b);
  REQUIRE(on_a != on_b);
  l.apply(x, 3, got, o);
  CHECK(got == on_b);  // batched int8: the panels
  l.apply(std::span(x).first(128), std::span(got).first(64), o);
  CHECK(std::equal(on_a.begin(), on_a.begin() + 64, got.begin()));  // one token: qmv_int8 on the view
  o.int8_activations = false;
  std::vector<float> exact(64);
  famx::quant::qmv(a.view(), std::span(x).subspan(128, 128), exact);
  l.apply(x, 3, got, o);
  CHECK(std::equal(exact.begin(), exact.end(), got.begin() + 64));  // exact: qmv on the view
  fm::linear dense;
  dense.rows = 1;
  dense.cols = 4;
  dense.dense = {1, 2, 3, 4};
  CHECK(dense.build_int8_panels() == 0);
  CHECK(!dense.int8_panels);
}

TEST_CASE("MLA absorbed equals naive (deepseek_v3, kimi_k2, deepseek_v32 with the indexer active)") {
  for (const char* name : {"deepseek_v3", "kimi_k2", "deepseek_v32"}) {
    CAPTURE(name);
    const auto m = fm::reference_model::load(tiny(name)).value();
    auto a = m.new_cache(), n = m.new_cache();
    const auto absorbed = m.forward(kSeq, a, {fm::mla_form::absorbed});
    const auto naive = m.forward(kSeq, n, {fm::mla_form::naive});
    const double d = rel_diff(absorbed, naive);
    CAPTURE(d);
    CHECK(d <= kMlaTol);
  }
}

TEST_CASE("the V3.2 indexer keeps the index_topk best keys once more are visible") {
  // One indexer head of dim 2, query [1, 0], weight 1: key j scores relu(j % 5).
  fm::layer_cache c;
  c.index_keys.resize(12 * 2);
  for (std::size_t j = 0; j < 12; ++j) c.index_keys[j * 2] = static_cast<float>(j % 5), c.index_keys[j * 2 + 1] = -1.0f;
  fm::detail::indexer_params s;
  s.index_heads = 1, s.index_dim = 2, s.index_topk = 3;
  const std::vector<float> q = {1, 0}, w = {1};
  // scores relu(j % 5): 0 1 2 3 4 0 1 2 3 4 0 1 -> top 3: positions 4, 9 (4), then 3 (3, the lower of 3 and 8).
  CHECK(fm::detail::indexer_select(s, c, q, w, 12) == std::vector<std::size_t>{3, 4, 9});
  CHECK(fm::detail::indexer_select(s, c, q, w, 3) == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("quantized kernels agree with dequantized fp32 within kQuantTol, every family") {
  for (const auto& t : famx::io::tiny_models) {
    const std::string name(t.key);
    CAPTURE(name);
    const auto dq = fm::reference_model::load(tiny(name), fm::weight_path::dequantized).value();
    const auto qk = fm::reference_model::load(tiny(name), fm::weight_path::quantized).value();
    auto a = dq.new_cache(), b = qk.new_cache();
    const auto la = dq.forward(kSeq, a), lb = qk.forward(kSeq, b);
    const double d = rel_diff(lb, la);
    CAPTURE(d);
    CHECK(d <= kQuantTol);
    CHECK(greedy(la, dq.info().vocab) == greedy(lb, qk.info().vocab));
  }
}

TEST_CASE("greedy tokens are stable across runs and SIMD targets") {
  for (const auto& t : famx::io::tiny_models) {
    const std::string name(t.key);
    CAPTURE(name);
    const auto m = fm::reference_model::load(tiny(name), fm::weight_path::quantized).value();
    std::vector<std::int32_t> first;
    for (std::int64_t target : famx::kernel_targets()) {
      famx::force_target guard(target);
      CAPTURE(std::string(famx::kernel_target()));
      for (int run = 0; run < 2; ++run) {
        auto c = m.new_cache();
        auto l = m.forward(std::span(kSeq).first(4), c);
        std::vector<std::int32_t> toks = {greedy(l, m.info().vocab).back()};
        for (int i = 0; i < 4; ++i) toks.push_back(greedy(m.forward(std::span(toks).last(1), c), m.info().vocab).back());
        if (first.empty()) first = toks;
        CHECK(toks == first);
      }
    }
  }
}

TEST_CASE("bad input: unknown token id, missing tensor, wrong shape give famx::error") {
  const auto m = fm::reference_model::load(tiny("llama")).value();
  auto c = m.new_cache();
  const std::vector<std::int32_t> bad = {1, 512};
  CHECK_THROWS_AS(m.forward(bad, c), famx::error);
  const auto dir = tiny("llama").parent_path() / "llama_broken";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(tiny("llama") / "config.json", dir / "config.json", std::filesystem::copy_options::overwrite_existing);
  std::string cfg;
  {
    std::ifstream in(dir / "config.json");
    cfg.assign(std::istreambuf_iterator<char>(in), {});
  }
  // hidden_size 256 -> 128 makes every tensor the wrong shape.
  cfg.replace(cfg.find("\"hidden_size\":256"), 17, "\"hidden_size\":128");
  std::ofstream(dir / "config.json") << cfg;
  std::filesystem::copy_file(tiny("llama") / "model.safetensors", dir / "model.safetensors", std::filesystem::copy_options::overwrite_existing);
  const auto r = fm::reference_model::load(dir);
  REQUIRE_FALSE(r);
  CHECK(r.err().code() == famx::errc::shape_mismatch);
  CHECK(r.err().path() == "model.embed_tokens.weight");
}

TEST_CASE("sliding-window layers: a prompt shorter than the window runs as full attention; longer, each query sees its window") {
  // Llama's tiny config with layer_types: both layers sliding over 16 positions.
  const std::string base(famx::io::find_tiny("llama")->config_json);
  auto with = [&](const std::string& extra, int layers) {
    std::string j = base;
    j.replace(j.find("\"num_hidden_layers\":2"), 21, "\"num_hidden_layers\":" + std::to_string(layers));
    j.insert(j.rfind('}'), extra);
    return j;
  };
  const famx::test::temp_dir dir;
  famx::io::make_checkpoint(with(R"(,"layer_types":["sliding_attention","full_attention"],"sliding_window":16)", 2), dir / "sliding").value();
  famx::io::make_checkpoint(with("", 2), dir / "full").value();
  const auto sliding = fm::reference_model::load(dir / "sliding", fm::weight_path::quantized).value();
  const auto full = fm::reference_model::load(dir / "full", fm::weight_path::quantized).value();
  auto a = sliding.new_cache(), b = full.new_cache();
  CHECK(sliding.forward(kSeq, a) == full.forward(kSeq, b));  // 12 tokens < 16: the window holds them all
  const std::vector<std::int32_t> next = {77};
  CHECK(sliding.forward(next, a) == full.forward(next, b));

  // One sliding layer with a window of 3 over 7 tokens: position p's logits are those of the same
  // weights under full attention run on tokens p-2 .. p alone (at their positions), bit for bit.
  famx::io::make_checkpoint(with(R"(,"layer_types":["sliding_attention"],"sliding_window":3)", 1), dir / "w3").value();
  famx::io::make_checkpoint(with("", 1), dir / "w3full").value();
  const auto w3 = fm::reference_model::load(dir / "w3", fm::weight_path::quantized).value();
  const auto w3full = fm::reference_model::load(dir / "w3full", fm::weight_path::quantized).value();
  const std::vector<std::int32_t> seq = {1, 7, 42, 100, 3, 511, 250};
  const std::size_t V = w3.info().vocab;
  auto c = w3.new_cache();
  const auto prefill = w3.forward(seq, c);  // prefill longer than the window, one call
  auto d = w3.new_cache();
  std::vector<float> stepped;
  for (std::int32_t tok : seq) {  // the same token by token through the rotating cache
    const auto l = w3.forward(std::span(&tok, 1), d);
    stepped.insert(stepped.end(), l.begin(), l.end());
  }
  CHECK(prefill == stepped);
  // 40 more steps through the rotating cache: each position's logits stay those of full attention
  // on its last 3 tokens, while the cache drops whole blocks of 8 positions once 8 can go. It holds
  // fewer than 3 + 8 + 8 positions between calls and keeps its first capacity (64 rows).
  std::vector<std::int32_t> hist = seq;
  for (std::size_t i = 0; i < 40; ++i) {
    const std::int32_t tok = static_cast<std::int32_t>(i * 37 % 500 + 1);
    hist.push_back(tok);
    const auto l = w3.forward(std::span(&tok, 1), d);
    auto e = w3full.new_cache();
    e.offset = e.layers[0].start = hist.size() - 3;
    const auto ref = w3full.forward(std::span(hist).last(3), e);
    CHECK(std::equal(l.begin(), l.end(), ref.end() - static_cast<std::ptrdiff_t>(V)));
    CHECK(d.offset - d.layers[0].start < 3 + 8 + 8);
  }
  CHECK(d.layers[0].start >= 32);
  CHECK(d.layers[0].capacity == 64);
  for (std::size_t p = 2; p < seq.size(); ++p) {
    CAPTURE(p);
    auto w = w3full.new_cache();
    w.offset = w.layers[0].start = p - 2;  // a cache that begins at position p - 2
    const auto l = w3full.forward(std::span(seq).subspan(p - 2, 3), w);
    CHECK(std::equal(l.end() - static_cast<std::ptrdiff_t>(V), l.end(), prefill.begin() + static_cast<std::ptrdiff_t>(p * V)));
  }
}

TEST_CASE("layer_types and sliding_window are checked, never dropped") {
  const std::string base(famx::io::find_tiny("ministral3")->config_json);
  auto bad = [&](const std::string& extra) {
    std::string j = base;
    j.insert(j.rfind('}'), extra);
    auto m = famx::io::parse_model_config(j, "config.json");
    REQUIRE_FALSE(m.has_value());
    return m.err();
  };
  CHECK(bad(R"(,"layer_types":["sliding_attention"],"sliding_window":8)").path() == "layer_types");  // 1 entry, 2 layers
  CHECK(bad(R"(,"layer_types":["sliding_attention","chunked_attention"],"sliding_window":8)").path() == "layer_types.1");
  CHECK(bad(R"(,"layer_types":["sliding_attention","full_attention"])").path() == "sliding_window");
  std::string ok = base;
  ok.insert(ok.rfind('}'), R"(,"layer_types":["sliding_attention","full_attention"],"sliding_window":8)");
  const auto m = famx::io::parse_model_config(ok, "config.json").value();
  CHECK(m.description.layers[0].attention == "sliding_attention");
  CHECK(m.description.layers[1].attention == "full_attention");
  CHECK(famx::shard::kv_cache_bytes(m.description, 0, 100).value() == 8 * 2 * 4 * 32 * 2);  // 8 tokens kept
  CHECK(famx::shard::kv_cache_bytes(m.description, 1, 100).value() == 100 * 2 * 4 * 32 * 2);
}
