// Reading and writing safetensors files: round trips for every dtype, zero-copy views, layout.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "famx/io/safetensors.hpp"
#include "test_files.hpp"

namespace {

using famx::dtype;
using famx::io::named_view;
using famx::io::safetensors_file;

// A tensor of dtype t and shape s filled with random bytes.
famx::tensor random_tensor(dtype t, const famx::shape& s, std::uint32_t seed) {
  famx::tensor out(t, s);
  std::mt19937 rng(seed);
  auto* p = static_cast<unsigned char*>(out.data());
  for (std::size_t i = 0; i < out.nbytes(); ++i) p[i] = static_cast<unsigned char>(rng());
  return out;
}

bool same_bytes(const famx::tensor_view& a, const famx::tensor& b) {
  return a.type == b.type() && a.dims == b.dims() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.data, b.data(), b.nbytes()) == 0;
}

}  // namespace

TEST_CASE("safetensors dtype names map both ways for every dtype") {
  for (const auto& [name, t] : famx::io::safetensors_dtypes) {
    CHECK(famx::io::parse_safetensors_dtype(name) == t);
    CHECK(famx::io::safetensors_name(t) == name);
  }
  CHECK_FALSE(famx::io::parse_safetensors_dtype("f32").has_value());
  CHECK_FALSE(famx::io::parse_safetensors_dtype("F8_E8M0").has_value());
}

TEST_CASE("every dtype round-trips bit for bit, one file per dtype") {
  famx::test::temp_dir dir;
  std::uint32_t seed = 1;
  for (const auto& [name, t] : famx::io::safetensors_dtypes) {
    const std::string_view dtype_name = name;  // a plain variable: clang 14 cannot capture bindings
    CAPTURE(dtype_name);
    const famx::tensor x = random_tensor(t, {3, 5}, seed++);
    const named_view views[] = {{"x", x.view()}};
    const auto path = dir / (std::string(name) + ".safetensors");
    REQUIRE(famx::io::write_safetensors(path, views).has_value());
    auto file = safetensors_file::open(path);
    REQUIRE(file.has_value());
    REQUIRE(file->tensors().size() == 1);
    CHECK(file->tensors()[0].type == t);
    CHECK(same_bytes(file->tensor("x").value(), x));
  }
}

TEST_CASE("a file with every dtype, scalars and empty tensors round-trips and views point into the mapping") {
  famx::test::temp_dir dir;
  std::vector<famx::tensor> owned;
  std::vector<named_view> views;
  std::uint32_t seed = 100;
  for (const auto& [name, t] : famx::io::safetensors_dtypes) {
    owned.push_back(random_tensor(t, {2, 3, 7}, seed++));  // odd byte counts for 1-byte dtypes
    owned.push_back(random_tensor(t, {}, seed++));         // rank 0: one element
    owned.push_back(random_tensor(t, {4, 0}, seed++));     // no elements
  }
  std::size_t k = 0;
  for (const auto& [name, t] : famx::io::safetensors_dtypes) {
    views.push_back({"model.layers.0." + std::string(name) + ".weight", owned[k++].view()});
    views.push_back({"scalar." + std::string(name), owned[k++].view()});
    views.push_back({"empty." + std::string(name), owned[k++].view()});
  }
  const std::map<std::string, std::string, std::less<>> metadata{{"format", "mlx"}, {"quote\"d", "line\nbreak"}};
  const auto path = dir / "all.safetensors";
  REQUIRE(famx::io::write_safetensors(path, views, metadata).has_value());

  auto file = safetensors_file::open(path);
  REQUIRE(file.has_value());
  CHECK(file->metadata() == metadata);
  CHECK(file->header().data_offset % 8 == 0);
  REQUIRE(file->tensors().size() == views.size());
  const std::string bytes = famx::test::read_bytes(path);
  for (std::size_t i = 0; i < views.size(); ++i) {
    CAPTURE(views[i].name);
    const famx::tensor_view v = file->tensor(views[i].name).value();
    CHECK(same_bytes(v, owned[i]));
    CHECK(reinterpret_cast<std::uintptr_t>(v.data) % famx::size_of(v.type) == 0);
    CHECK(v.is_contiguous());
  }
  // Zero-copy: a view's bytes are the file's bytes at data_offset + begin.
  const auto* e = file->find("model.layers.0.F32.weight");
  REQUIRE(e != nullptr);
  CHECK(std::memcmp(file->view(*e).data, bytes.data() + file->header().data_offset + e->begin, e->nbytes()) == 0);

  // Writing what was read gives the same file, byte for byte.
  std::vector<named_view> again;
  for (const auto& t : file->tensors()) again.push_back({t.name, file->view(t)});
  const auto copy = dir / "copy.safetensors";
  REQUIRE(famx::io::write_safetensors(copy, again, file->metadata()).has_value());
  CHECK(famx::test::read_bytes(copy) == bytes);
}

TEST_CASE("the writer lays data out by decreasing element size, then name, with a padded header") {
  famx::test::temp_dir dir;
  const famx::tensor a(dtype::u8, {3}), b(dtype::f32, {2}), c(dtype::bf16, {1}), d(dtype::f32, {1});
  const named_view views[] = {{"a", a.view()}, {"d", d.view()}, {"c", c.view()}, {"b", b.view()}};
  const auto path = dir / "order.safetensors";
  REQUIRE(famx::io::write_safetensors(path, views).has_value());
  const std::string bytes = famx::test::read_bytes(path);
  const std::string json =
      R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("d":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("c":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]},)"
      R"("a":{"dtype":"U8","shape":[3],"data_offsets":[14,17]}})";
  const std::size_t padded = (json.size() + 7) / 8 * 8;
  REQUIRE(bytes.size() == 8 + padded + 17);
  CHECK(static_cast<unsigned char>(bytes[0]) == padded);
  CHECK(bytes.substr(8, json.size()) == json);
  CHECK(bytes.substr(8 + json.size(), padded - json.size()) == std::string(padded - json.size(), ' '));
}

TEST_CASE("strided views are written in row-major order") {
  famx::test::temp_dir dir;
  famx::tensor t(dtype::i32, {3, 4});
  auto e = t.as<std::int32_t>();
  for (std::size_t i = 0; i < e.size(); ++i) e[i] = static_cast<std::int32_t>(i);
  const named_view views[] = {{"cols", t.view().slice(1, 1, 2)}};  // columns 1..2
  const auto path = dir / "strided.safetensors";
  REQUIRE(famx::io::write_safetensors(path, views).has_value());
  auto file = safetensors_file::open(path);
  REQUIRE(file.has_value());
  const famx::tensor_view v = file->tensor("cols").value();
  CHECK(v.dims == famx::shape{3, 2});
  const std::int32_t* x = v.as<std::int32_t>();
  CHECK(std::vector<std::int32_t>(x, x + 6) == std::vector<std::int32_t>{1, 2, 5, 6, 9, 10});
}

TEST_CASE("a file as the reference implementation writes it reads back") {
  famx::test::temp_dir dir;
  // safetensors.numpy.save_file({"w": np.arange(2, dtype=np.float32)}) writes exactly this.
  const std::string json = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string bytes = famx::test::safetensors_bytes(json + std::string((8 - json.size() % 8) % 8, ' '), 0);
  const float w[2] = {0.0f, 1.0f};
  bytes.append(reinterpret_cast<const char*>(w), sizeof w);
  famx::test::write_bytes(dir / "ref.safetensors", bytes);
  auto file = safetensors_file::open(dir / "ref.safetensors");
  REQUIRE(file.has_value());
  const famx::tensor_view v = file->tensor("w").value();
  CHECK(v.as<float>()[1] == 1.0f);
  CHECK(file->metadata().empty());
}

TEST_CASE("the writer rejects duplicate, reserved and non-UTF-8 names, naming the file and tensor") {
  famx::test::temp_dir dir;
  const famx::tensor a(dtype::f32, {1}), b(dtype::u8, {1});
  const auto path = dir / "bad.safetensors";
  const named_view dup[] = {{"w", a.view()}, {"w", b.view()}};
  auto r = famx::io::write_safetensors(path, dup);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.err().message() == path.string() + ": w: found the name twice, expected unique tensor names");
  const named_view reserved[] = {{"__metadata__", a.view()}};
  CHECK_FALSE(famx::io::write_safetensors(path, reserved).has_value());
  const named_view bad_utf8[] = {{"w\xff", a.view()}};
  r = famx::io::write_safetensors(path, bad_utf8);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.err().path() == "w\\xff");
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(std::filesystem::is_empty(dir.path()));  // no temporary left behind
}

TEST_CASE("opening a missing file or a directory is an io error naming it") {
  famx::test::temp_dir dir;
  auto r = safetensors_file::open(dir / "nope.safetensors");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.err().code() == famx::errc::io);
  CHECK(r.err().message().find((dir / "nope.safetensors").string()) != std::string::npos);
  r = safetensors_file::open(dir.path());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.err().code() == famx::errc::io);
}
