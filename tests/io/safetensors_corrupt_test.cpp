// Every validation error of the safetensors reader, each from a hand-made corrupt file, each
// naming the file and the tensor (or "header" when no tensor is involved).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "famx/io/safetensors.hpp"
#include "test_files.hpp"

namespace {

using famx::errc;
using famx::test::safetensors_bytes;

// Writes `bytes` as a file and opens it; the error it must give.
famx::error open_error(const famx::test::temp_dir& dir, std::string_view bytes) {
  const auto path = dir / "corrupt.safetensors";
  famx::test::write_bytes(path, bytes);
  auto r = famx::io::safetensors_file::open(path);
  REQUIRE_FALSE(r.has_value());
  const famx::error e = r.err();
  CHECK(e.file() == path.string());
  CHECK(e.message().starts_with(path.string() + ": "));
  return e;
}

// The message says "<file>: <path>: found ..." with this path.
void check_names(const famx::error& e, std::string_view path) {
  CAPTURE(e.message());
  CHECK(e.path() == path);
  CHECK(e.message().find(": " + std::string(path) + ": found ") != std::string::npos);
}

const std::string good_json = R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

}  // namespace

TEST_CASE("a well-formed hand-made file opens (the baseline the corrupt ones change)") {
  famx::test::temp_dir dir;
  famx::test::write_bytes(dir / "ok.safetensors", safetensors_bytes(good_json, 24));
  CHECK(famx::io::safetensors_file::open(dir / "ok.safetensors").has_value());
}

TEST_CASE("truncated files") {
  famx::test::temp_dir dir;
  const std::string full = safetensors_bytes(good_json, 24);
  SUBCASE("inside the length") {
    const famx::error e = open_error(dir, full.substr(0, 5));
    check_names(e, "header");
    CHECK(e.code() == errc::syntax);
    CHECK(e.found() == "a file of 5 bytes");
  }
  SUBCASE("inside the JSON header") {
    const famx::error e = open_error(dir, full.substr(0, 20));
    check_names(e, "header");
    CHECK(e.code() == errc::out_of_bounds);
  }
  SUBCASE("inside the data") {
    const famx::error e = open_error(dir, full.substr(0, full.size() - 1));
    check_names(e, "a");
    CHECK(e.code() == errc::out_of_bounds);
    CHECK(e.found() == "data_offsets [0, 24]");
    CHECK(e.expected() == "a range inside the data area of 23 bytes");
  }
  SUBCASE("empty") {
    CHECK(open_error(dir, "").code() == errc::syntax);
  }
}

TEST_CASE("header length past the end of the file, or above 100 MB") {
  famx::test::temp_dir dir;
  famx::error e = open_error(dir, safetensors_bytes(good_json, 24, good_json.size() + 100));
  check_names(e, "header");
  CHECK(e.code() == errc::out_of_bounds);
  CHECK(e.found().starts_with("a header length of " + std::to_string(good_json.size() + 100) + " bytes"));
  e = open_error(dir, safetensors_bytes(good_json, 24, ~std::uint64_t{0}));
  CHECK(e.code() == errc::invalid_value);
  CHECK(e.expected() == "at most 100000000 bytes");
}

TEST_CASE("overlapping ranges name both tensors") {
  famx::test::temp_dir dir;
  const std::string json = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  const famx::error e = open_error(dir, safetensors_bytes(json, 16));
  check_names(e, "b");
  CHECK(e.code() == errc::inconsistent);
  CHECK(e.found() == "data_offsets [8, 16] overlapping \"a\" data_offsets [0, 16]");
}

TEST_CASE("gaps and trailing bytes in the data area") {
  famx::test::temp_dir dir;
  const std::string gap = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})";
  famx::error e = open_error(dir, safetensors_bytes(gap, 8));
  check_names(e, "a");
  CHECK(e.found() == "data_offsets [4, 8] leaving bytes [0, 4) unused");
  e = open_error(dir, safetensors_bytes(good_json, 30));
  check_names(e, "data area");
  CHECK(e.found() == "6 bytes after the last tensor");
}

TEST_CASE("shape and byte size disagree") {
  famx::test::temp_dir dir;
  const std::string json = R"({"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,24]}})";
  const famx::error e = open_error(dir, safetensors_bytes(json, 24));
  check_names(e, "a");
  CHECK(e.code() == errc::shape_mismatch);
  CHECK(e.found() == "24 bytes (data_offsets [0, 24])");
  CHECK(e.expected() == "12 bytes (BF16 [2, 3])");
}

TEST_CASE("shapes whose byte size overflows") {
  famx::test::temp_dir dir;
  const std::string json = R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})";
  const famx::error e = open_error(dir, safetensors_bytes(json, 0));
  check_names(e, "a");
  CHECK(e.code() == errc::invalid_value);
  CHECK(e.found() == "shape [4294967296, 4294967296, 0] whose size overflows");
  const std::string big = R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})";
  CHECK(open_error(dir, safetensors_bytes(big, 0)).found().ends_with("whose size overflows"));
}

TEST_CASE("duplicate tensor names") {
  famx::test::temp_dir dir;
  const std::string json = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                           R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  const famx::error e = open_error(dir, safetensors_bytes(json, 2));
  check_names(e, "a");
  CHECK(e.code() == errc::inconsistent);
  CHECK(e.found() == "the name twice");
}

TEST_CASE("names that are not UTF-8") {
  famx::test::temp_dir dir;
  SUBCASE("raw bytes") {
    const std::string json = "{\"lm_head.\xc3\x28weight\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    const famx::error e = open_error(dir, safetensors_bytes(json, 1));
    check_names(e, "lm_head.\\xc3(weight");
    CHECK(e.code() == errc::syntax);
    CHECK(e.found() == "text that is not valid UTF-8 at header byte 10");
  }
  SUBCASE("after valid multi-byte characters") {
    const std::string json = "{\"caf\xc3\xa9\xe2\x82\xac.\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    const famx::error e = open_error(dir, safetensors_bytes(json, 1));
    check_names(e, "caf\\xc3\\xa9\\xe2\\x82\\xac.\\xff");
    CHECK(e.found() == "text that is not valid UTF-8 at header byte 11");
  }
  SUBCASE("an escaped lone surrogate") {
    const std::string json = R"({"emb\udc80":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    const famx::error e = open_error(dir, safetensors_bytes(json, 1));
    check_names(e, "emb\\udc80");
    CHECK(e.code() == errc::syntax);
  }
}

TEST_CASE("bad JSON") {
  famx::test::temp_dir dir;
  SUBCASE("unterminated") {
    const std::string json = R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24])";
    const famx::error e = open_error(dir, safetensors_bytes(json, 24));
    CHECK(e.code() == errc::syntax);
    CHECK(e.found().starts_with("JSON error: "));
  }
  SUBCASE("not an object") {
    const famx::error e = open_error(dir, safetensors_bytes("[1, 2]  ", 0));
    check_names(e, "header");
    CHECK(e.found() == "a header that does not start with '{'");
  }
  SUBCASE("content after the object") {
    const famx::error e = open_error(dir, safetensors_bytes(good_json + " {}", 24));
    check_names(e, "header");
    CHECK(e.found() == "content after the JSON object");
  }
  SUBCASE("trailing spaces are allowed") {
    famx::test::write_bytes(dir / "ok.safetensors", safetensors_bytes(good_json + "     ", 24));
    CHECK(famx::io::safetensors_file::open(dir / "ok.safetensors").has_value());
  }
  SUBCASE("a tensor entry that is not an object") {
    const famx::error e = open_error(dir, safetensors_bytes(R"({"a":[1]})", 0));
    check_names(e, "a");
    CHECK(e.code() == errc::wrong_type);
  }
}

TEST_CASE("bad dtype strings") {
  famx::test::temp_dir dir;
  const std::string json = R"({"model.norm.weight":{"dtype":"F33","shape":[2,3],"data_offsets":[0,24]}})";
  famx::error e = open_error(dir, safetensors_bytes(json, 24));
  check_names(e, "model.norm.weight");
  CHECK(e.code() == errc::invalid_value);
  CHECK(e.found() == "dtype \"F33\"");
  CHECK(e.expected().starts_with("one of F64, F32, F16, BF16"));
  const std::string number = R"({"w":{"dtype":32,"shape":[2,3],"data_offsets":[0,24]}})";
  e = open_error(dir, safetensors_bytes(number, 24));
  check_names(e, "w");
  CHECK(e.code() == errc::wrong_type);
}

TEST_CASE("malformed tensor entries") {
  famx::test::temp_dir dir;
  struct bad {
    const char* json;
    errc code;
    const char* found;
  };
  const bad cases[] = {
      {R"({"w":{"dtype":"U8","shape":[1]}})", errc::missing, "no \"data_offsets\""},
      {R"({"w":{"shape":[1],"data_offsets":[0,1]}})", errc::missing, "no \"dtype\""},
      {R"({"w":{"dtype":"U8","data_offsets":[0,1]}})", errc::missing, "no \"shape\""},
      {R"({"w":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", errc::inconsistent, "\"dtype\" twice"},
      {R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"bits":4}})", errc::invalid_value, "the key \"bits\""},
      {R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}})", errc::invalid_value, "data_offsets [1, 0]"},
      {R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", errc::invalid_value, "more than two data_offsets"},
      {R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", errc::invalid_value, "1 data_offsets"},
      {R"({"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", errc::unsupported,
       "a shape of rank above 8"},
      {R"({"w":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,1]}})", errc::invalid_value,
       "shape dimension 9223372036854775808"},
  };
  for (const bad& c : cases) {
    CAPTURE(c.json);
    const famx::error e = open_error(dir, safetensors_bytes(c.json, 1));
    check_names(e, "w");
    CHECK(e.code() == c.code);
    CHECK(e.found() == c.found);
  }
  // JSON-level type errors: a negative dimension, a float offset, a string shape.
  for (const char* json : {R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})",
                           R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}})",
                           R"({"w":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})"}) {
    CAPTURE(json);
    const famx::error e = open_error(dir, safetensors_bytes(json, 1));
    check_names(e, "w");
    CHECK(e.found().starts_with("JSON error: "));
  }
}

TEST_CASE("bad __metadata__") {
  famx::test::temp_dir dir;
  famx::error e = open_error(dir, safetensors_bytes(R"({"__metadata__":{"format":1}})", 0));
  check_names(e, "__metadata__.format");
  CHECK(e.code() == errc::wrong_type);
  e = open_error(dir, safetensors_bytes(R"({"__metadata__":[]})", 0));
  check_names(e, "__metadata__");
  e = open_error(dir, safetensors_bytes(R"({"__metadata__":{},"__metadata__":{}})", 0));
  check_names(e, "__metadata__");
  CHECK(e.found() == "it twice");
  e = open_error(dir, safetensors_bytes(R"({"__metadata__":{"k":"a","k":"b"}})", 0));
  check_names(e, "__metadata__.k");
  famx::test::write_bytes(dir / "null.safetensors", safetensors_bytes(R"({"__metadata__":null})", 0));
  CHECK(famx::io::safetensors_file::open(dir / "null.safetensors").has_value());
}

TEST_CASE("names with control characters are printed escaped") {
  famx::test::temp_dir dir;
  const std::string json = R"({"a\nb":{"dtype":"F33","shape":[],"data_offsets":[0,4]}})";
  const famx::error e = open_error(dir, safetensors_bytes(json, 4));
  check_names(e, "a\\x0ab");
}
