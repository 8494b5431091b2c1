// Sharded checkpoints: the index parser, the sharded writer and cross-file validation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "famx/io/safetensors.hpp"
#include "test_files.hpp"

namespace {

using famx::errc;
using famx::io::named_view;
using famx::io::sharded_safetensors;

// Eight f32 tensors of 64 bytes each, "t0".."t7", with distinct contents.
struct eight_tensors {
  std::vector<famx::tensor> owned;
  std::vector<named_view> views;
  eight_tensors() {
    for (int i = 0; i < 8; ++i) {
      owned.emplace_back(famx::dtype::f32, famx::shape{4, 4});
      for (std::size_t j = 0; j < 16; ++j) owned.back().as<float>()[j] = static_cast<float>(i * 100 + static_cast<int>(j));
    }
    for (int i = 0; i < 8; ++i) views.push_back({"t" + std::to_string(i), owned[static_cast<std::size_t>(i)].view()});
  }
};

famx::io::safetensors_index read_index(const famx::test::temp_dir& dir) {
  const std::string text = famx::test::read_bytes(dir / "model.safetensors.index.json");
  return famx::io::parse_safetensors_index(text, "model.safetensors.index.json").value();
}

void rewrite_index(const famx::test::temp_dir& dir, const famx::io::safetensors_index& index) {
  REQUIRE(famx::io::write_safetensors_index(dir / "model.safetensors.index.json", index).has_value());
}

famx::error open_error(const famx::test::temp_dir& dir) {
  auto r = sharded_safetensors::open_directory(dir.path());
  REQUIRE_FALSE(r.has_value());
  return r.err();
}

}  // namespace

TEST_CASE("a sharded checkpoint round-trips: shards, index, every tensor bit for bit") {
  famx::test::temp_dir dir;
  const eight_tensors t;
  auto written = famx::io::write_sharded_safetensors(dir.path(), t.views, 200, {{"format", "mlx"}});
  REQUIRE(written.has_value());
  REQUIRE(written->size() == 4);  // three tensors fit in 200 bytes: 3 + 3 + 2, and the index
  CHECK(written->at(0).filename() == "model-00001-of-00003.safetensors");
  CHECK(written->at(3).filename() == "model.safetensors.index.json");

  const auto index = read_index(dir);
  CHECK(index.total_size == 8 * 64);
  CHECK(index.weight_map.size() == 8);
  CHECK(*index.file_of("t7") == "model-00003-of-00003.safetensors");
  CHECK(index.files().size() == 3);

  auto ckpt = sharded_safetensors::open_directory(dir.path());
  REQUIRE(ckpt.has_value());
  CHECK(ckpt->index().has_value());
  CHECK(ckpt->files().size() == 3);
  REQUIRE(ckpt->tensors().size() == 8);
  for (std::size_t i = 0; i < 8; ++i) {
    const famx::tensor_view v = ckpt->tensor(t.views[i].name).value();
    CHECK(v.dims == famx::shape{4, 4});
    CHECK(std::memcmp(v.data, t.owned[i].data(), 64) == 0);
  }
  CHECK(ckpt->files()[0].metadata().at("format") == "mlx");
  auto missing = ckpt->tensor("t8");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.err().code() == errc::missing);
  CHECK(missing.err().path() == "t8");
}

TEST_CASE("one shard is written as model.safetensors without an index, and read without one") {
  famx::test::temp_dir dir;
  const eight_tensors t;
  auto written = famx::io::write_sharded_safetensors(dir.path(), t.views, 1 << 20);
  REQUIRE(written.has_value());
  REQUIRE(written->size() == 1);
  CHECK(written->at(0).filename() == "model.safetensors");
  auto ckpt = sharded_safetensors::open_directory(dir.path());
  REQUIRE(ckpt.has_value());
  CHECK_FALSE(ckpt->index().has_value());
  CHECK(ckpt->tensors().size() == 8);
}

TEST_CASE("the index writer's output parses back to the same index") {
  famx::test::temp_dir dir;
  famx::io::safetensors_index index;
  index.total_size = 1234;
  index.weight_map = {{"a\"b", "model-00001-of-00002.safetensors"}, {"z", "model-00002-of-00002.safetensors"}};
  rewrite_index(dir, index);
  const auto back = read_index(dir);
  CHECK(back.total_size == index.total_size);
  CHECK(back.weight_map == index.weight_map);
  CHECK(famx::test::read_bytes(dir / "model.safetensors.index.json") ==
        "{\n  \"metadata\": {\n    \"total_size\": 1234\n  },\n  \"weight_map\": {\n"
        "    \"a\\\"b\": \"model-00001-of-00002.safetensors\",\n"
        "    \"z\": \"model-00002-of-00002.safetensors\"\n  }\n}\n");
}

TEST_CASE("a tensor the index lists but its file lacks") {
  famx::test::temp_dir dir;
  const eight_tensors t;
  REQUIRE(famx::io::write_sharded_safetensors(dir.path(), t.views, 200).has_value());
  auto index = read_index(dir);
  index.weight_map.emplace_back("model.layers.9.mlp.gate.weight", "model-00002-of-00003.safetensors");
  std::ranges::sort(index.weight_map);
  rewrite_index(dir, index);
  const famx::error e = open_error(dir);
  CHECK(e.code() == errc::missing);
  CHECK(e.message() == (dir / "model-00002-of-00003.safetensors").string() +
                           ": model.layers.9.mlp.gate.weight: found no such tensor in this file, expected the "
                           "tensor model.safetensors.index.json lists here");
}

TEST_CASE("a tensor present in two files") {
  famx::test::temp_dir dir;
  const eight_tensors t;
  const named_view first[] = {t.views[0], t.views[1]};
  const named_view second[] = {t.views[2], t.views[1]};
  REQUIRE(famx::io::write_safetensors(dir / "model-00001-of-00002.safetensors", first).has_value());
  REQUIRE(famx::io::write_safetensors(dir / "model-00002-of-00002.safetensors", second).has_value());
  SUBCASE("without an index") {
    const famx::error e = open_error(dir);
    CHECK(e.code() == errc::inconsistent);
    CHECK(e.message() == (dir / "model-00002-of-00002.safetensors").string() + ": t1: found the tensor also in " +
                             (dir / "model-00001-of-00002.safetensors").string() +
                             ", expected each tensor in exactly one file");
  }
  SUBCASE("with an index naming one of them") {
    famx::io::safetensors_index index;
    index.weight_map = {{"t0", "model-00001-of-00002.safetensors"},
                        {"t1", "model-00001-of-00002.safetensors"},
                        {"t2", "model-00002-of-00002.safetensors"}};
    rewrite_index(dir, index);
    const famx::error e = open_error(dir);
    CHECK(e.code() == errc::inconsistent);
    CHECK(e.path() == "t1");
    CHECK(e.found().starts_with("the tensor also in "));
  }
}

TEST_CASE("index and files disagree") {
  famx::test::temp_dir dir;
  const eight_tensors t;
  REQUIRE(famx::io::write_sharded_safetensors(dir.path(), t.views, 200).has_value());
  auto index = read_index(dir);
  SUBCASE("a shard file the index names is missing") {
    std::filesystem::remove(dir / "model-00003-of-00003.safetensors");
    const famx::error e = open_error(dir);
    CHECK(e.code() == errc::missing);
    CHECK(e.file() == (dir / "model.safetensors.index.json").string());
    CHECK(e.path() == "weight_map.t6");
    CHECK(e.found().starts_with("shard \"model-00003-of-00003.safetensors\" that cannot be opened"));
  }
  SUBCASE("a tensor in a file the index does not list") {
    std::erase_if(index.weight_map, [](const auto& e) { return e.first == "t4"; });
    index.total_size = 7 * 64;
    rewrite_index(dir, index);
    const famx::error e = open_error(dir);
    CHECK(e.code() == errc::inconsistent);
    CHECK(e.file() == (dir / "model-00002-of-00003.safetensors").string());
    CHECK(e.path() == "t4");
    CHECK(e.found() == "a tensor the index does not list");
  }
  SUBCASE("a tensor the index places in another file") {
    for (auto& [name, file] : index.weight_map)
      if (name == "t0") file = "model-00002-of-00003.safetensors";
    rewrite_index(dir, index);
    const famx::error e = open_error(dir);
    CHECK(e.file() == (dir / "model-00001-of-00003.safetensors").string());
    CHECK(e.path() == "t0");
    CHECK(e.expected() == "it in model-00002-of-00003.safetensors, as the index says");
  }
  SUBCASE("total_size wrong") {
    index.total_size = 8 * 64 + 1;
    rewrite_index(dir, index);
    const famx::error e = open_error(dir);
    CHECK(e.message() == (dir / "model.safetensors.index.json").string() +
                             ": metadata.total_size: found 513, expected 512, the bytes of all tensors");
  }
  SUBCASE("a corrupt shard is reported with the shard's name") {
    famx::test::write_bytes(dir / "model-00002-of-00003.safetensors", "garbage");
    const famx::error e = open_error(dir);
    CHECK(e.file() == (dir / "model-00002-of-00003.safetensors").string());
    CHECK(e.code() == errc::syntax);
  }
}

TEST_CASE("an empty directory is not a checkpoint") {
  famx::test::temp_dir dir;
  const famx::error e = open_error(dir);
  CHECK(e.code() == errc::missing);
  CHECK(e.file() == dir.path().string());
}

TEST_CASE("index parser errors name the index file and the key") {
  auto parse = [](std::string_view json) {
    auto r = famx::io::parse_safetensors_index(json, "idx.json");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.err().file() == "idx.json");
    return r.err();
  };
  CHECK(famx::io::parse_safetensors_index(R"({"weight_map":{}})", "idx.json").has_value());
  CHECK(famx::io::parse_safetensors_index(R"({"metadata":{"total_size":12.0,"format":{"x":[1]}},"weight_map":{}})",
                                          "idx.json")->total_size == 12);
  CHECK(parse(R"({"weight_map":{"a":"b.safetensors"})").code() == errc::syntax);
  CHECK(parse(R"({"metadata":{}})").path() == "weight_map");
  famx::error e = parse(R"({"weight_map":{"layers.0.w":"../../etc/passwd"}})");
  CHECK(e.message() == "idx.json: weight_map.layers.0.w: found the file name \"../../etc/passwd\", expected a file "
                       "name in the index's directory");
  e = parse(R"({"weight_map":{"w":"a.safetensors","w":"b.safetensors"}})");
  CHECK(e.path() == "weight_map.w");
  CHECK(e.found() == "the tensor twice");
  e = parse(R"({"weight_map":{"w":3}})");
  CHECK(e.path() == "weight_map.w");
  CHECK(e.code() == errc::wrong_type);
  e = parse(R"({"metadata":{"total_size":-5},"weight_map":{}})");
  CHECK(e.path() == "metadata.total_size");
  e = parse(R"({"metadata":{"total_size":1.5},"weight_map":{}})");
  CHECK(e.code() == errc::invalid_value);
  CHECK(parse(R"({"weight_map":{}} x)").code() == errc::syntax);
  CHECK(parse(R"({"weight_map":{}} {})").found() == "content after the JSON object");
  e = parse(R"({"weights":{}})");
  CHECK(e.path() == "weights");
  e = parse("{\"weight_map\":{\"w\xff\":\"a\"}}");
  CHECK(e.code() == errc::syntax);
  e = parse(R"({"weight_map":{},"weight_map":{}})");
  CHECK(e.found() == "the key twice");
}
