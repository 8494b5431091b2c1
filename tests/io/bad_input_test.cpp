// Odd files given where famx expects a config.json, an index, a safetensors file or the serving
// files: FIFOs are refused without blocking, symlink loops and over-long paths are errors naming
// the path; and the serving files (generation_config.json, tokenizer_config.json) parsed.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "famx/io/config.hpp"
#include "famx/io/mapped_file.hpp"
#include "famx/io/read_file.hpp"
#include "famx/io/resolve.hpp"
#include "famx/io/serving_config.hpp"
#include "famx/io/sharded_safetensors.hpp"
#include "test_files.hpp"

namespace fs = std::filesystem;

namespace {
void make_fifo(const fs::path& p) { REQUIRE(::mkfifo(p.c_str(), 0600) == 0); }
}  // namespace

TEST_CASE("a FIFO as config.json, safetensors file or index is an error naming it, never a wait for a writer") {
  famx::test::temp_dir dir;
  make_fifo(dir / "config.json");
  auto m = famx::io::load_model_config(dir.path());  // the directory's config.json
  REQUIRE(!m);
  CHECK(m.err().code() == famx::errc::io);
  CHECK(m.err().file() == (dir / "config.json").string());
  CHECK(m.err().found() == "something that is not a regular file (a FIFO, socket or device)");
  CHECK(!famx::io::load_model_config(dir / "config.json"));  // the FIFO itself
  CHECK(!famx::io::resolve_model((dir / "config.json").string()));

  make_fifo(dir / "model.safetensors");
  auto f = famx::io::mapped_file::open(dir / "model.safetensors");
  REQUIRE(!f);
  CHECK(f.err().found() == "something that is not a regular file");
  auto c = famx::io::sharded_safetensors::open_directory(dir.path());
  REQUIRE(!c);
  CHECK(c.err().file() == (dir / "model.safetensors").string());

  make_fifo(dir / "model.safetensors.index.json");
  auto i = famx::io::sharded_safetensors::open_directory(dir.path());
  REQUIRE(!i);
  CHECK(i.err().file() == (dir / "model.safetensors.index.json").string());
  CHECK(i.err().expected() == "a readable index file");
}

TEST_CASE("read_regular_file: directories and files over the limit are errors naming them") {
  famx::test::temp_dir dir;
  auto d = famx::io::read_regular_file(dir.path());
  REQUIRE(!d);
  CHECK(d.err().found() == "a directory");
  famx::test::write_bytes(dir / "big.json", std::string(100, ' '));
  auto big = famx::io::read_regular_file(dir / "big.json", "a small file", 99);
  REQUIRE(!big);
  CHECK(big.err().found() == "a file of 100 bytes (at most 99 are read)");
  auto ok = famx::io::read_regular_file(dir / "big.json", "a small file", 100);
  REQUIRE(ok.has_value());
  CHECK(ok->size() == 100);
}

TEST_CASE("symlink loops and over-long paths are errors naming the path, not exceptions") {
  famx::test::temp_dir dir;
  fs::create_symlink(dir / "b", dir / "a");
  fs::create_symlink(dir / "a", dir / "b");
  auto loop = famx::io::load_model_config(dir / "a");
  REQUIRE(!loop);
  CHECK(loop.err().found().find("Too many levels of symbolic links") != std::string::npos);
  auto r = famx::io::resolve_model((dir / "a").string());
  REQUIRE(!r);
  CHECK(r.err().found() == "a path that cannot be inspected (Too many levels of symbolic links)");
  CHECK(!famx::io::sharded_safetensors::open_directory(dir / "a"));

  const fs::path long_path = dir / std::string(5000, 'a');
  auto l = famx::io::load_model_config(long_path);
  REQUIRE(!l);
  CHECK(l.err().found().find("File name too long") != std::string::npos);
  auto lr = famx::io::resolve_model(long_path.string());
  REQUIRE(!lr);
  CHECK(lr.err().found() == "a path that cannot be inspected (File name too long)");
}

TEST_CASE("serving files: EOS ids (one or a list), BOS, chat template (inline, named list, .jinja), thinking tags") {
  famx::test::temp_dir dir;
  auto none = famx::io::read_serving_config(dir.path());
  CHECK(!none.generation_config);
  CHECK(!none.tokenizer_config);
  CHECK(!none.chat_template);
  CHECK(none.problems.empty());

  famx::test::write_bytes(dir / "generation_config.json", R"({"bos_token_id": 0, "eos_token_id": 151645, "top_p": 0.8})");
  famx::test::write_bytes(dir / "tokenizer_config.json",
                          R"({"eos_token": {"content": "<|im_end|>"}, "chat_template": [{"name": "default", "template": "{{ m }}"}]})");
  auto one = famx::io::read_serving_config(dir.path());
  CHECK(one.eos_token_ids == std::vector<std::int64_t>{151645});
  CHECK(one.bos_token_id == 0);
  CHECK(one.eos_token == "<|im_end|>");
  CHECK(one.chat_template);
  CHECK(!one.thinking_tags);

  famx::test::write_bytes(dir / "generation_config.json", R"({"eos_token_id": [1, 106], "bos_token_id": null})");
  famx::test::write_bytes(dir / "tokenizer_config.json", R"({"added_tokens_decoder": {"7": {"content": "<think>"}}})");
  auto list = famx::io::read_serving_config(dir.path());
  CHECK(list.eos_token_ids == std::vector<std::int64_t>{1, 106});
  CHECK(!list.bos_token_id);
  CHECK(!list.chat_template);
  CHECK(list.thinking_tags);  // from the added tokens

  famx::test::write_bytes(dir / "chat_template.jinja", "{{ '<think>' }}");
  auto jinja = famx::io::read_serving_config(dir.path());
  CHECK(jinja.chat_template);
  CHECK(jinja.thinking_tags);

  famx::test::write_bytes(dir / "generation_config.json", R"({"eos_token_id": [1, "x", -2]})");
  auto bad_ids = famx::io::read_serving_config(dir.path());
  CHECK(bad_ids.eos_token_ids == std::vector<std::int64_t>{1});
  REQUIRE(bad_ids.problems.size() == 2);
  CHECK(bad_ids.problems[0].message() ==
        (dir / "generation_config.json").string() + ": eos_token_id.1: found \"x\", expected a non-negative token id");

  famx::test::write_bytes(dir / "generation_config.json", R"({"eos_token_id": [1,)");
  fs::remove(dir / "tokenizer_config.json");
  make_fifo(dir / "tokenizer_config.json");
  auto broken = famx::io::read_serving_config(dir.path());
  CHECK(!broken.generation_config);
  REQUIRE(broken.problems.size() == 2);
  CHECK(broken.problems[0].file() == (dir / "generation_config.json").string());
  CHECK(broken.problems[0].found().starts_with("JSON error"));
  CHECK(broken.problems[1].found() == "something that is not a regular file (a FIFO, socket or device)");
}
