// Tiny checkpoints of every family, verification against the family surface (every problem kind
// from a hand-altered checkpoint), and mlx-lm's sanitize renames from Hugging Face layouts.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "famx/io/tiny_checkpoint.hpp"
#include "famx/io/verify.hpp"
#include "famx/quant/pack.hpp"
#include "test_files.hpp"

namespace {

using famx::dtype;
using famx::shape;
using famx::tensor;
using famx::io::named_view;
using famx::io::severity;
using famx::io::verification_report;
namespace fs = std::filesystem;

// A tiny checkpoint of `name` in a fresh directory.
struct tiny {
  famx::test::temp_dir dir;
  explicit tiny(std::string_view name, famx::io::tiny_options opt = {}) {
    auto r = famx::io::make_tiny_checkpoint(name, dir.path(), opt);
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? "" : r.err().message()));
  }
};

// The checkpoint of `src` rewritten as one file into `dst` (config.json copied), after `edit`
// changes its tensor list; tensors `edit` creates go into `owned`.
void rewrite(const fs::path& src, const fs::path& dst, const std::function<void(std::vector<named_view>&, std::vector<tensor>&)>& edit) {
  auto c = famx::io::sharded_safetensors::open_directory(src);
  REQUIRE(c.has_value());
  std::vector<named_view> views;
  for (const auto& l : c->tensors()) views.push_back({c->entry(l).name, c->tensor(c->entry(l).name).value()});
  std::vector<tensor> owned;
  owned.reserve(4096);
  edit(views, owned);
  fs::create_directories(dst);
  fs::copy_file(src / "config.json", dst / "config.json", fs::copy_options::overwrite_existing);
  REQUIRE(famx::io::write_safetensors(dst / "model.safetensors", views).has_value());
}

// Removes the tensor called `name` from a list (it must be there).
void remove(std::vector<named_view>& v, std::string_view name) {
  const auto before = v.size();
  std::erase_if(v, [&](const named_view& t) { return t.name == name; });
  REQUIRE(v.size() + 1 == before);
}

const named_view& get(const std::vector<named_view>& v, std::string_view name) {
  for (const auto& t : v)
    if (t.name == name) return t;
  FAIL("no tensor " << name);
  return v.front();
}

// The error findings of a report.
std::vector<famx::io::finding> errors_of(const verification_report& r) {
  std::vector<famx::io::finding> out;
  for (const auto& f : r.findings)
    if (f.level == severity::error) out.push_back(f);
  return out;
}

std::size_t notes_of(const verification_report& r, std::string_view kind) {
  std::size_t n = 0;
  for (const auto& f : r.findings) n += f.level == severity::note && f.kind == kind;
  return n;
}

bool same_bytes(const famx::tensor_view& a, const famx::tensor_view& b) {
  return a.type == b.type && a.dims == b.dims && a.nbytes() == b.nbytes() && std::memcmp(a.data, b.data, a.nbytes()) == 0;
}

// An owned copy of a contiguous view.
tensor copy(const famx::tensor_view& v) {
  tensor t(v.type, v.dims);
  std::memcpy(t.data(), v.data, v.nbytes());
  return t;
}

}  // namespace

TEST_CASE("every family's tiny checkpoint verifies, in one file and sharded with an index") {
  for (const auto& tm : famx::io::tiny_models) {
    for (int shards : {1, 3}) {
      const std::string name(tm.key);
      CAPTURE(name);
      CAPTURE(shards);
      famx::io::tiny_options opt;
      opt.shards = shards;
      tiny t(tm.key, opt);
      const auto rep = famx::io::verify_checkpoint(t.dir.path());
      CAPTURE(famx::io::render_text(rep, true));
      CHECK(rep.ok());
      CHECK(rep.findings.empty());
      CHECK(rep.layout == "mlx");
      CHECK(rep.files == static_cast<std::size_t>(shards));
      CHECK(rep.expected == rep.tensors);
      CHECK(fs::exists(t.dir / "model.safetensors.index.json") == (shards > 1));
      std::uintmax_t bytes = 0;
      for (const auto& e : fs::directory_iterator(t.dir.path())) bytes += fs::file_size(e.path());
      CHECK(bytes < 4'000'000);  // small enough for tests
    }
  }
}

TEST_CASE("tiny checkpoints verify in every MLX bit width and group size, and in float") {
  for (int bits : {0, 2, 3, 4, 5, 6, 8})
    for (int group : {32, 64, 128}) {
      CAPTURE(bits);
      CAPTURE(group);
      tiny t("qwen3_next", {bits, group});
      const auto rep = famx::io::verify_checkpoint(t.dir.path());
      CAPTURE(famx::io::render_text(rep, true));
      CHECK(rep.ok());
      auto m = famx::io::load_model_config(t.dir.path());
      REQUIRE(m.has_value());
      CHECK(m->quantization.has_value() == (bits != 0));
      if (bits != 0) {
        CHECK(m->quantization->global == famx::quant::affine_format{bits, group});
        // mlx_lm.convert's Qwen predicate: routers and the shared-expert gate at 8 bits, group 64.
        const auto* o = m->quantization->find("model.layers.1.mlp.shared_expert_gate");
        REQUIRE(o != nullptr);
        CHECK(o->format == famx::quant::affine_format{8, 64});
      }
    }
}

TEST_CASE("tiny checkpoints are deterministic in the seed and their tensor shapes divide TP degrees 2 and 4") {
  tiny a("deepseek_v3"), b("deepseek_v3"), c("deepseek_v3", {4, 64, 1, 7});
  CHECK(famx::test::read_bytes(a.dir / "model.safetensors") == famx::test::read_bytes(b.dir / "model.safetensors"));
  CHECK(famx::test::read_bytes(a.dir / "model.safetensors") != famx::test::read_bytes(c.dir / "model.safetensors"));
  for (const auto& tm : famx::io::tiny_models) {
    auto m = famx::io::parse_model_config(tm.config_json, std::string(tm.key));
    REQUIRE(m.has_value());
    for (const auto& d : m->description.tp_divisors) {
      CAPTURE(d.key);
      CHECK(d.value % 4 == 0);
    }
    for (const char* key : {"num_key_value_heads", "linear_num_key_heads", "n_routed_experts", "num_experts"})
      if (const auto v = m->description.number(key); v && *v > 0) CHECK(static_cast<std::int64_t>(*v) % 4 == 0);
  }
}

TEST_CASE("tiny weights are real MLX affine quantizations of the float weights") {
  tiny f("llama", {0, 64}), q("llama", {4, 64});
  auto cf = famx::io::sharded_safetensors::open_directory(f.dir.path()).value();
  auto cq = famx::io::sharded_safetensors::open_directory(q.dir.path()).value();
  const std::string m = "model.layers.1.mlp.down_proj";
  const auto w = cf.tensor(m + ".weight").value();
  REQUIRE(w.type == dtype::bf16);
  const auto packed = cq.tensor(m + ".weight").value(), scales = cq.tensor(m + ".scales").value(),
             biases = cq.tensor(m + ".biases").value();
  CHECK(packed.type == dtype::u32);
  CHECK(scales.type == dtype::bf16);
  const auto rows = static_cast<std::size_t>(w.dims[0]), cols = static_cast<std::size_t>(w.dims[1]);
  std::size_t checked = 0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) {
      const std::size_t g = r * (cols / 64) + j / 64;
      const float s = famx::load_float(scales.data, dtype::bf16, g), b = famx::load_float(biases.data, dtype::bf16, g);
      const auto code = famx::quant::unpack_code(packed.as<std::uint32_t>() + r * cols / 8, 4, j);
      const double deq = static_cast<double>(code) * s + b;
      const double x = famx::load_float(w.data, dtype::bf16, r * cols + j);
      // The code is the nearest of the 16 (MLX's zero-point rescaling can clip the far edge of a
      // group), up to the bf16 rounding of the stored scale and bias.
      double best = 1e30;
      for (int c = 0; c < 16; ++c) best = std::min(best, std::fabs(c * static_cast<double>(s) + b - x));
      CHECK(std::fabs(deq - x) <= best + 16 * std::fabs(s) / 256 + std::fabs(b) / 256);
      ++checked;
    }
  CHECK(checked == rows * cols);
}

TEST_CASE("make_tiny_checkpoint rejects an unknown family and bad formats, naming them") {
  famx::test::temp_dir d;
  auto r = famx::io::make_tiny_checkpoint("gpt2", d.path());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.err().code() == famx::errc::unknown_family);
  CHECK(r.err().message() == "family: found \"gpt2\", expected one of llama, qwen3, qwen3_moe, qwen3_next, deepseek_v3, "
                             "kimi_k2, deepseek_v32, glm4_moe, ministral3");
  auto b = famx::io::make_tiny_checkpoint("llama", d.path(), {7, 64});
  REQUIRE_FALSE(b.has_value());
  CHECK(b.err().path().starts_with("quantization"));
  CHECK(b.err().message().find("7") != std::string::npos);
}

TEST_CASE("a tiny checkpoint with one tensor removed fails with that tensor's name") {
  tiny t("qwen3_moe");
  famx::test::temp_dir out;
  const std::string gone = "model.layers.1.self_attn.k_proj.scales";
  rewrite(t.dir.path(), out.path(), [&](auto& v, auto&) { remove(v, gone); });
  const auto rep = famx::io::verify_checkpoint(out.path());
  CHECK_FALSE(rep.ok());
  const auto e = errors_of(rep);
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == "missing");
  CHECK(e[0].tensor == gone);
  CHECK(e[0].text() == "error missing " + gone + ": found no such tensor, expected [128, 4] for 4-bit group 64 from the "
                       "global quantization");
  CHECK(famx::io::render_text(rep).find("verified: FAILED, 1 error(s)") != std::string::npos);
}

TEST_CASE("verification lists every problem: missing, unexpected, shape, dtype, quantization") {
  tiny t("glm4_moe");
  famx::test::temp_dir out;
  rewrite(t.dir.path(), out.path(), [&](std::vector<named_view>& v, std::vector<tensor>& owned) {
    remove(v, "model.layers.0.mlp.up_proj.biases");
    remove(v, "lm_head.weight");
    // scales of q_proj with twice the groups.
    const auto& sc = get(v, "model.layers.1.self_attn.q_proj.scales");
    owned.emplace_back(sc.view.type, shape{sc.view.dims[0], sc.view.dims[1] * 2});
    remove(v, "model.layers.1.self_attn.q_proj.scales");
    v.push_back({"model.layers.1.self_attn.q_proj.scales", owned.back().view()});
    // a norm stored as int32
    owned.emplace_back(dtype::i32, shape{256});
    remove(v, "model.norm.weight");
    v.push_back({"model.norm.weight", owned.back().view()});
    // a float tensor stored as packed codes without scales (the module is float: a raw parameter)
    owned.emplace_back(dtype::u32, shape{8});
    remove(v, "model.layers.1.mlp.gate.e_score_correction_bias");
    v.push_back({"model.layers.1.mlp.gate.e_score_correction_bias", owned.back().view()});
    owned.emplace_back(dtype::bf16, shape{4, 4});
    v.push_back({"model.layers.0.self_attn.extra_proj.weight", owned.back().view()});
  });
  const auto rep = famx::io::verify_checkpoint(out.path());
  CAPTURE(famx::io::render_text(rep));
  const auto e = errors_of(rep);
  auto has = [&](std::string_view kind, std::string_view tensor, std::string_view needle) {
    for (const auto& f : e)
      if (f.kind == kind && f.tensor == tensor && f.text().find(needle) != std::string::npos) return true;
    return false;
  };
  CHECK(e.size() == 6);
  CHECK(has("missing", "model.layers.0.mlp.up_proj.biases", "expected [512, 4] for 4-bit group 64"));
  CHECK(has("missing", "lm_head.weight", "expected [512, 32] for 4-bit group 64"));
  CHECK(has("shape", "model.layers.1.self_attn.q_proj.scales", "found [256, 8], expected [256, 4] for 4-bit group 64"));
  CHECK(has("dtype", "model.norm.weight", "found i32 [256], expected a float dtype (f32, f16 or bf16) [hidden_size]"));
  CHECK(has("quantization", "model.layers.1.mlp.gate.e_score_correction_bias", "found u32 [8], expected a float tensor"));
  CHECK(has("unexpected", "model.layers.0.self_attn.extra_proj.weight", "found bf16 [4, 4], expected only the glm4_moe surface"));
}

TEST_CASE("a wrong bit width in a per-layer override is a shape error naming the override") {
  tiny t("qwen3_moe");
  std::string cfg = famx::test::read_bytes(t.dir / "config.json");
  const std::string from = "\"model.layers.1.mlp.gate\":{\"group_size\":64,\"bits\":8}";
  for (std::size_t at; (at = cfg.find(from)) != std::string::npos;)
    cfg.replace(at, from.size(), "\"model.layers.1.mlp.gate\":{\"group_size\":64,\"bits\":4}");
  famx::test::write_bytes(t.dir / "config.json", cfg);
  const auto rep = famx::io::verify_checkpoint(t.dir.path());
  const auto e = errors_of(rep);
  REQUIRE(e.size() == 1);
  CHECK(e[0].text() == "error shape model.layers.1.mlp.gate.weight: found [8, 64] (the packed width of 8-bit codes), "
                       "expected [8, 32] for 4-bit group 64 from the override quantization.model.layers.1.mlp.gate");
}

TEST_CASE("an override of false makes the module float: its stored triplet is a quantization error") {
  tiny t("llama");
  std::string cfg = famx::test::read_bytes(t.dir / "config.json");
  const std::string from = "\"mode\":\"affine\"";
  for (std::size_t at = 0; (at = cfg.find(from, at)) != std::string::npos; at += from.size())
    cfg.insert(at + from.size(), ",\"model.layers.0.self_attn.q_proj\":false");
  famx::test::write_bytes(t.dir / "config.json", cfg);
  const auto rep = famx::io::verify_checkpoint(t.dir.path());
  const auto e = errors_of(rep);
  REQUIRE(e.size() == 3);
  CHECK(e[0].text() == "error quantization model.layers.0.self_attn.q_proj.weight: found u32 [256, 32], expected a float tensor: "
                       "the module is not quantized (quantization.model.layers.0.self_attn.q_proj is false)");
  CHECK(e[1].kind == "unexpected");
  CHECK(e[2].kind == "unexpected");
}

TEST_CASE("names mlx-lm's sanitize drops are notes, not errors") {
  tiny t("deepseek_v3");
  famx::test::temp_dir out;
  rewrite(t.dir.path(), out.path(), [&](std::vector<named_view>& v, std::vector<tensor>& owned) {
    owned.emplace_back(dtype::f32, shape{16});
    v.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", owned.back().view()});
    v.push_back({"model.layers.61.mlp.gate.weight", owned.back().view()});
    v.push_back({"model.layers.5.mlp.gate.weight", owned.back().view()});
  });
  const auto rep = famx::io::verify_checkpoint(out.path());
  CAPTURE(famx::io::render_text(rep, true));
  CHECK(notes_of(rep, "dropped") == 2);
  const auto e = errors_of(rep);
  REQUIRE(e.size() == 1);  // deepseek_v3's sanitize drops model.layers.61 only
  CHECK(e[0].kind == "unexpected");
  CHECK(e[0].tensor == "model.layers.5.mlp.gate.weight");
}

TEST_CASE("an unreadable checkpoint or config is one finding naming the file") {
  tiny t("llama");
  std::string bytes = famx::test::read_bytes(t.dir / "model.safetensors");
  famx::test::write_bytes(t.dir / "model.safetensors", bytes.substr(0, bytes.size() - 10));
  auto rep = famx::io::verify_checkpoint(t.dir.path());
  REQUIRE(rep.findings.size() == 1);
  CHECK(rep.findings[0].kind == "unreadable");
  CHECK(rep.findings[0].file == (t.dir / "model.safetensors").string());
  famx::test::write_bytes(t.dir / "config.json", "{\"model_type\": \"llama\", \"hidden_size\": \"big\"}");
  rep = famx::io::verify_checkpoint(t.dir.path());
  REQUIRE(rep.findings.size() == 1);
  CHECK(rep.findings[0].kind == "config");
  CHECK(rep.findings[0].file == (t.dir / "config.json").string());
  CHECK_FALSE(rep.ok());
  CHECK(famx::io::render_json(rep).find("\"ok\":false,\"errors\":1") != std::string::npos);
}

namespace {

// Splits every stacked `switch_mlp.X` tensor of v into HF's `experts.N.X`.
void unstack_experts(std::vector<named_view>& v, std::vector<tensor>& owned) {
  std::vector<named_view> out;
  for (const auto& t : v) {
    const auto at = t.name.find(".switch_mlp.");
    if (at == std::string::npos) {
      out.push_back(t);
      continue;
    }
    for (std::int64_t e = 0; e < t.view.dims[0]; ++e) {
      const famx::tensor_view one = t.view[e];
      owned.push_back(copy(one));
      out.push_back({t.name.substr(0, at) + ".experts." + std::to_string(e) + "." + t.name.substr(at + 12), owned.back().view()});
    }
  }
  v = std::move(out);
}

// kv_b_proj [H*(nope+v), lora] rebuilt from float embed_q [H, lora, nope] and unembed_out [H, v, lora].
tensor merge_kv_b(const famx::tensor_view& eq, const famx::tensor_view& uo) {
  const std::int64_t h = eq.dims[0], lora = eq.dims[1], nope = eq.dims[2], v = uo.dims[1];
  tensor kv(eq.type, {h * (nope + v), lora});
  for (std::int64_t k = 0; k < h; ++k)
    for (std::int64_t r = 0; r < lora; ++r) {
      for (std::int64_t c = 0; c < nope; ++c)
        famx::store_float(kv.data(), kv.type(), static_cast<std::size_t>((k * (nope + v) + c) * lora + r),
                          famx::load_float(eq.data, eq.type, static_cast<std::size_t>((k * lora + r) * nope + c)));
      for (std::int64_t i = 0; i < v; ++i)
        famx::store_float(kv.data(), kv.type(), static_cast<std::size_t>((k * (nope + v) + nope + i) * lora + r),
                          famx::load_float(uo.data, uo.type, static_cast<std::size_t>((k * v + i) * lora + r)));
    }
  return kv;
}

// The sanitized checkpoint of directory `dir`, with its plan.
struct sanitized {
  famx::io::sharded_safetensors files;
  famx::io::loaded_model model;
  famx::io::sanitize_plan plan;
  famx::io::sanitized_checkpoint out;
};
sanitized sanitize_dir(const fs::path& dir) {
  auto files = famx::io::sharded_safetensors::open_directory(dir).value();
  auto model = famx::io::load_model_config(dir).value();
  std::vector<famx::io::tensor_entry> entries;
  for (const auto& l : files.tensors()) entries.push_back(files.entry(l));
  auto plan = famx::io::plan_sanitize(entries, model.description, model.wrapper);
  auto out = famx::io::apply_sanitize(files, plan, model.description);
  REQUIRE_MESSAGE(out.has_value(), (out.has_value() ? "" : out.err().message()));
  return {std::move(files), std::move(model), std::move(plan), std::move(*out)};
}

// Every tensor of the MLX checkpoint in `mlx` equals, bit for bit, the sanitized HF one.
void check_same_as(const fs::path& mlx, const famx::io::sanitized_checkpoint& s) {
  auto ref = famx::io::sharded_safetensors::open_directory(mlx).value();
  CHECK(s.tensors.size() == ref.tensors().size());
  for (const auto& l : ref.tensors()) {
    const std::string& name = ref.entry(l).name;
    CAPTURE(name);
    const auto* got = s.find(name);
    REQUIRE(got != nullptr);
    CHECK(same_bytes(got->view, ref.tensor(name).value()));
  }
}

}  // namespace

TEST_CASE("a Hugging Face layout (experts.N, kv_b_proj, MTP layer) verifies as needing renames, and the renames restore the MLX tensors") {
  for (std::string_view family : {"qwen3_moe", "deepseek_v3", "deepseek_v32", "glm4_moe"}) {
    CAPTURE(family);
    tiny t(family, {0, 64});
    famx::test::temp_dir hf;
    const bool mla = family.starts_with("deepseek");
    rewrite(t.dir.path(), hf.path(), [&](std::vector<named_view>& v, std::vector<tensor>& owned) {
      unstack_experts(v, owned);
      if (mla)
        for (int layer : {0, 1}) {
          const std::string a = "model.layers." + std::to_string(layer) + ".self_attn.";
          owned.push_back(merge_kv_b(get(v, a + "embed_q.weight").view, get(v, a + "unembed_out.weight").view));
          remove(v, a + "embed_q.weight");
          remove(v, a + "unembed_out.weight");
          v.push_back({a + "kv_b_proj.weight", owned.back().view()});
        }
      if (family != "qwen3_moe") {  // an MTP layer, which these families' sanitize drops
        owned.emplace_back(dtype::bf16, shape{8, 256});
        v.push_back({family == "deepseek_v3" ? "model.layers.61.embed_tokens.weight" : "model.layers.2.embed_tokens.weight",
                     owned.back().view()});
      }
    });
    const auto rep = famx::io::verify_checkpoint(hf.path());
    CAPTURE(famx::io::render_text(rep));
    CHECK(rep.ok());
    CHECK(rep.layout == "hugging face");
    CHECK(notes_of(rep, "dropped") == (family == "qwen3_moe" ? 0u : 1u));
    CHECK(notes_of(rep, "rename") == 3 + (mla ? 4 : 0));  // tiny configs: layer 1 is the one MoE layer
    check_same_as(t.dir.path(), sanitize_dir(hf.path()).out);
  }
}

TEST_CASE("a quantized kv_b_proj is dequantized, split per head and requantized as mlx-lm does") {
  tiny t("deepseek_v3", {4, 64});
  famx::test::temp_dir hf;
  famx::quant::quantized kvq;
  rewrite(t.dir.path(), hf.path(), [&](std::vector<named_view>& v, std::vector<tensor>&) {
    const std::string a = "model.layers.0.self_attn.";
    // A bf16 kv_b from the dequantized per-head weights, then quantized like an MLX conversion of it.
    auto deq = [&](const std::string& m) {  // a stacked [H, out, in] triplet as one [H*out, in] matrix
      const auto& w = get(v, a + m + ".weight").view;
      const auto& sc = get(v, a + m + ".scales").view;
      const std::int64_t rows = w.dims[0] * w.dims[1];
      const auto view = famx::quant::make_qmatrix_view(
          famx::tensor_view::contiguous(w.data, dtype::u32, {rows, w.dims[2]}),
          famx::tensor_view::contiguous(sc.data, dtype::bf16, {rows, sc.dims[2]}),
          famx::tensor_view::contiguous(get(v, a + m + ".biases").view.data, dtype::bf16, {rows, sc.dims[2]}), {4, 64}, m);
      REQUIRE(view.has_value());
      return famx::quant::dequantize(*view, dtype::bf16);
    };
    const tensor eq = deq("embed_q"), uo = deq("unembed_out");
    const tensor kv = merge_kv_b(famx::tensor_view::contiguous(eq.data(), dtype::bf16, {8, 128, 64}),
                                 famx::tensor_view::contiguous(uo.data(), dtype::bf16, {8, 64, 128}));
    kvq = famx::quant::quantize(kv.view(), {4, 64}, dtype::bf16, famx::quant::rounding::gpu).value();
    for (const char* m : {"embed_q", "unembed_out"})
      for (const char* p : {".weight", ".scales", ".biases"}) remove(v, a + m + p);
    v.push_back({a + "kv_b_proj.weight", kvq.packed.view()});
    v.push_back({a + "kv_b_proj.scales", kvq.scales.view()});
    v.push_back({a + "kv_b_proj.biases", kvq.biases.view()});
  });
  const auto rep = famx::io::verify_checkpoint(hf.path());
  CAPTURE(famx::io::render_text(rep, true));
  CHECK(rep.ok());
  CHECK(notes_of(rep, "rename") == 6);
  const auto s = sanitize_dir(hf.path());

  // Independently: dequantize kv_b elementwise as MLX's CPU does (bf16(bf16(q*s) + b)), split by
  // index, quantize each half with the same format and rounding.
  const std::int64_t h = 8, lora = 128, nope = 64, vd = 64;
  tensor eq(dtype::bf16, {h, lora, nope}), uo(dtype::bf16, {h, vd, lora});
  auto deq = [&](std::int64_t row, std::int64_t col) {
    const auto g = static_cast<std::size_t>(row * (lora / 64) + col / 64);
    const float sc = famx::load_float(kvq.scales.data(), dtype::bf16, g), bi = famx::load_float(kvq.biases.data(), dtype::bf16, g);
    const auto code = famx::quant::unpack_code(kvq.packed.as<std::uint32_t>().data() + row * (lora / 8), 4, static_cast<std::size_t>(col));
    return famx::round_to(dtype::bf16, famx::round_to(dtype::bf16, static_cast<float>(code) * sc) + bi);
  };
  for (std::int64_t k = 0; k < h; ++k)
    for (std::int64_t r = 0; r < lora; ++r) {
      for (std::int64_t c = 0; c < nope; ++c)
        famx::store_float(eq.data(), dtype::bf16, static_cast<std::size_t>((k * lora + r) * nope + c), deq(k * (nope + vd) + c, r));
      for (std::int64_t i = 0; i < vd; ++i)
        famx::store_float(uo.data(), dtype::bf16, static_cast<std::size_t>((k * vd + i) * lora + r), deq(k * (nope + vd) + nope + i, r));
    }
  for (const auto& [m, w] : {std::pair{"embed_q", &eq}, std::pair{"unembed_out", &uo}}) {
    CAPTURE(m);
    const auto want = famx::quant::quantize(w->view(), {4, 64}, dtype::bf16, famx::quant::rounding::gpu).value();
    const std::string a = std::string("model.layers.0.self_attn.") + m;
    CHECK(std::memcmp(s.out.find(a + ".weight")->view.data, want.packed.data(), want.packed.nbytes()) == 0);
    CHECK(std::memcmp(s.out.find(a + ".scales")->view.data, want.scales.data(), want.scales.nbytes()) == 0);
    CHECK(std::memcmp(s.out.find(a + ".biases")->view.data, want.biases.data(), want.biases.nbytes()) == 0);
    CHECK(s.out.find(a + ".weight")->view.dims == want.packed.dims());
  }
}

TEST_CASE("Qwen3-Next's HF conventions: experts stacked, conv1d axes moved, zero-centred norms shifted by +1") {
  tiny t("qwen3_next", {0, 64});
  famx::test::temp_dir hf;
  rewrite(t.dir.path(), hf.path(), [&](std::vector<named_view>& v, std::vector<tensor>& owned) {
    unstack_experts(v, owned);
    for (auto& x : v) {
      const bool norm = x.view.dims.rank() == 1 && (x.name.ends_with("layernorm.weight") || x.name == "model.norm.weight" ||
                                                    x.name.ends_with("q_norm.weight") || x.name.ends_with("k_norm.weight"));
      if (norm) {
        owned.emplace_back(x.view.type, x.view.dims);
        for (std::int64_t i = 0; i < x.view.numel(); ++i)
          famx::store_float(owned.back().data(), x.view.type, static_cast<std::size_t>(i),
                            famx::load_float(x.view.data, x.view.type, static_cast<std::size_t>(i)) - 1.0f);
        x.view = owned.back().view();
      } else if (x.name.ends_with("conv1d.weight")) {
        x.view = famx::tensor_view::contiguous(x.view.data, x.view.type, {x.view.dims[0], 1, x.view.dims[1]});
      }
    }
    owned.emplace_back(dtype::bf16, shape{4});
    v.push_back({"mtp.fc.weight", owned.back().view()});
  });
  const auto rep = famx::io::verify_checkpoint(hf.path());
  CAPTURE(famx::io::render_text(rep, true));
  CHECK(rep.ok());
  CHECK(notes_of(rep, "dropped") == 1);
  std::map<std::string_view, int> kinds;
  for (const auto& s : rep.renames) ++kinds[s.kind];
  CHECK(kinds["stack_experts"] == 6);
  CHECK(kinds["conv_moveaxis"] == 1);
  CHECK(kinds["norm_shift"] == 2 * 2 + 1 + 2);
  check_same_as(t.dir.path(), sanitize_dir(hf.path()).out);
}

TEST_CASE("a missing or odd expert in a Hugging Face layout is one rename error naming it") {
  tiny t("qwen3_moe", {0, 64});
  famx::test::temp_dir hf;
  rewrite(t.dir.path(), hf.path(), [&](std::vector<named_view>& v, std::vector<tensor>& owned) {
    unstack_experts(v, owned);
    remove(v, "model.layers.1.mlp.experts.5.up_proj.weight");
    owned.emplace_back(dtype::bf16, shape{4, 4});
    remove(v, "model.layers.1.mlp.experts.3.gate_proj.weight");
    v.push_back({"model.layers.1.mlp.experts.3.gate_proj.weight", owned.back().view()});
  });
  const auto rep = famx::io::verify_checkpoint(hf.path());
  CAPTURE(famx::io::render_text(rep));
  const auto e = errors_of(rep);
  REQUIRE(e.size() == 2);
  CHECK(e[0].text() == "error rename model.layers.1.mlp.experts.3.gate_proj.weight: found bf16 [4, 4], expected bf16 [256, 256] "
                       "like model.layers.1.mlp.experts.0.gate_proj.weight (stacked experts share dtype and shape)");
  CHECK(e[1].text() == "error rename model.layers.1.mlp.experts.5.up_proj.weight: found no such tensor, expected experts 0..7 "
                       "to stack into model.layers.1.mlp.switch_mlp.up_proj.weight");
  auto files = famx::io::sharded_safetensors::open_directory(hf.path()).value();
  std::vector<famx::io::tensor_entry> entries;
  for (const auto& l : files.tensors()) entries.push_back(files.entry(l));
  auto d = famx::io::load_model_config(hf.path()).value().description;
  const auto plan = famx::io::plan_sanitize(entries, d);
  const auto applied = famx::io::apply_sanitize(files, plan, d);
  REQUIRE_FALSE(applied.has_value());
  CHECK(applied.err().path() == "model.layers.1.mlp.experts.3.gate_proj.weight");
}

TEST_CASE("FP8 weights with weight_scale_inv are dequantized per 128x128 block to bf16") {
  tiny t("deepseek_v3", {0, 64});
  famx::test::temp_dir hf;
  const std::string w = "model.layers.0.mlp.down_proj.weight";  // [256, 512]
  tensor f8(dtype::f8_e4m3, {256, 512}), inv(dtype::f32, {2, 4});
  for (std::size_t i = 0; i < 256 * 512; ++i)  // every sign and exponent; even mantissas, so never NaN
    static_cast<std::uint8_t*>(f8.data())[i] = static_cast<std::uint8_t>((i * 37) & 0xfe);
  for (std::size_t i = 0; i < 8; ++i) inv.as<float>()[i] = 0.25f * static_cast<float>(i + 1);
  rewrite(t.dir.path(), hf.path(), [&](std::vector<named_view>& v, std::vector<tensor>&) {
    remove(v, w);
    v.push_back({w, f8.view()});
    v.push_back({w + "_scale_inv", inv.view()});
  });
  const auto rep = famx::io::verify_checkpoint(hf.path());
  CAPTURE(famx::io::render_text(rep, true));
  CHECK(rep.ok());
  const auto s = sanitize_dir(hf.path());
  const auto* out = s.out.find(w);
  REQUIRE(out != nullptr);
  CHECK(out->view.type == dtype::bf16);
  CHECK(s.out.find(w + "_scale_inv") == nullptr);
  for (std::size_t r : {0u, 127u, 128u, 255u})
    for (std::size_t j : {0u, 129u, 300u, 511u}) {
      const auto b = static_cast<const std::uint8_t*>(f8.data())[r * 512 + j];
      // E4M3: (-1)^s 2^(e-7) (1 + m/8), subnormals 2^-6 m/8.
      const int e = (b >> 3) & 15, m = b & 7;
      const double val = (b & 0x80 ? -1 : 1) * (e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1 + m / 8.0, e - 7));
      const double want = famx::round_to(dtype::bf16, static_cast<float>(val * inv.as<float>()[r / 128 * 4 + j / 128]));
      CHECK(famx::load_float(out->view.data, dtype::bf16, r * 512 + j) == want);
    }
}
