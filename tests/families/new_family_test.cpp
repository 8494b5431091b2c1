// Adding a family is one header plus one list entry: this TU defines a family famx does not ship
// (a Qwen3 variant with its own model_type and one changed default) without editing any library
// header, appends it to the builtin list, and then parses its config, writes and verifies a tiny
// checkpoint, plans tensor parallelism of degree 2 and runs the forward, which must give the bits of
// the same weights run as a plain qwen3.
#include <famx/kernels.hpp>

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <string_view>

#include <famx/io/tiny_checkpoint.hpp>
#include <famx/io/verify.hpp>
#include <famx/model/model.hpp>
#include <famx/shard/plan.hpp>

#include "../io/test_files.hpp"

// ---- the new family: what a contributor writes (README "Adding a family") ----
namespace my_families {

// Family tag for HF model_type "qwen3_long".
struct qwen3_long {};

// Qwen3's config with rope_theta optional, defaulting to 5e6 (Qwen3 requires it).
struct qwen3_long_config : famx::families::qwen3_config {
  FAMX_CONFIG_FIELDS_EXTEND(qwen3_long_config, famx::families::qwen3_config, (default, rope_theta, 5000000.0))
};

}  // namespace my_families

template <>
struct famx::families::family_traits<my_families::qwen3_long> : famx::families::family_traits<famx::families::qwen3> {
  static constexpr std::string_view name = "qwen3_long";
  static constexpr std::array<std::string_view, 1> architectures = {"Qwen3LongForCausalLM"};
  static constexpr std::array<std::string_view, 1> model_types = {"qwen3_long"};
  using config = my_families::qwen3_long_config;
};

namespace my_families {
// The registry with the new family: the one list entry.
using all = famx::families::family_list_append<famx::families::builtin, qwen3_long>;
}  // namespace my_families
// ---- end of the new family ----

namespace {

constexpr std::string_view kConfig = R"({"architectures":["Qwen3LongForCausalLM"],"model_type":"qwen3_long",
  "hidden_size":256,"num_hidden_layers":2,"intermediate_size":512,"num_attention_heads":8,"num_key_value_heads":4,
  "head_dim":32,"rms_norm_eps":1e-06,"vocab_size":512,"max_position_embeddings":4096,"tie_word_embeddings":false})";

}  // namespace

TEST_CASE("a family defined outside the library parses, verifies, plans and runs") {
  using all = my_families::all;
  // Parses, with its changed default (rope_theta is absent from the config).
  auto m = famx::io::parse_model_config<all>(kConfig, "qwen3_long.json");
  REQUIRE_MESSAGE(m.has_value(), (m ? "" : m.err().message()));
  CHECK(m->description.family == "qwen3_long");
  const auto* c = famx::io::typed_config<my_families::qwen3_long>(*m);
  REQUIRE(c != nullptr);
  CHECK(c->rope_theta == 5000000.0);
  // The builtin registry does not know it, and says so.
  auto unknown = famx::io::parse_model_config(kConfig, "qwen3_long.json");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.err().code() == famx::errc::unknown_family);

  // A tiny checkpoint of it verifies.
  const famx::test::temp_dir dir;
  famx::io::make_checkpoint<all>(kConfig, dir / "long").value();
  const auto rep = famx::io::verify_checkpoint<all>(dir / "long");
  CAPTURE(famx::io::render_text(rep));
  CHECK(rep.ok());
  CHECK(rep.family == "qwen3_long");
  // embed_tokens and lm_head (3 tensors each: packed, scales, biases), per layer 7 quantized
  // projections and 4 norms, the final norm.
  CHECK(rep.expected == 3 + 3 + 2 * (7 * 3 + 4) + 1);

  // Tensor parallelism of degree 2 is planned.
  const std::vector<famx::shard::device> devices = {{"a", 1'000'000'000, {}}, {"b", 1'000'000'000, {}}};
  famx::shard::plan_options po;
  po.kind = famx::shard::strategy::tensor;
  auto plan = famx::shard::plan(*m, devices, po);
  REQUIRE_MESSAGE(plan.has_value(), (plan ? "" : plan.err().message()));
  CHECK(plan->ranks.size() == 2);
  CHECK(plan->ranks[0].heads == 4);
  CHECK(plan->ranks[0].kv_heads == 2);

  // The forward runs, and gives the bits of the same weights loaded as a qwen3 with that rope_theta.
  const auto model = famx::model::reference_model::load<all>(dir / "long", famx::model::weight_path::quantized).value();
  CHECK(model.info().family == "qwen3_long");
  std::string as_qwen3 = famx::test::read_bytes(dir / "long" / "config.json");
  as_qwen3.replace(as_qwen3.find("Qwen3LongForCausalLM"), 20, "Qwen3ForCausalLM");
  as_qwen3.replace(as_qwen3.find("\"qwen3_long\""), 12, "\"qwen3\",\"rope_theta\":5000000.0");
  std::filesystem::create_directories(dir / "plain");
  famx::test::write_bytes(dir / "plain" / "config.json", as_qwen3);
  std::filesystem::copy_file(dir / "long" / "model.safetensors", dir / "plain" / "model.safetensors");
  const auto plain = famx::model::reference_model::load(dir / "plain", famx::model::weight_path::quantized).value();
  CHECK(plain.info().family == "qwen3");
  const std::vector<std::int32_t> tokens = {1, 7, 42, 100, 3};
  auto c1 = model.new_cache(), c2 = plain.new_cache();
  const auto a = model.forward(tokens, c1), b = plain.forward(tokens, c2);
  CHECK(a == b);
}
