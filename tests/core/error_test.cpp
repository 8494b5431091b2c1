// famx::error messages and result<T> behaviour.
#include <doctest/doctest.h>

#include <string>

#include "famx/core/error.hpp"

TEST_CASE("error says file, path, found and expected") {
  famx::error e(famx::errc::shape_mismatch, "up_proj.scales", "[768, 16]", "[768, 32]");
  e.in("switch_mlp").in("mlp").in("layers.3").at_file("model.safetensors");
  CHECK(e.message() ==
        "model.safetensors: layers.3.mlp.switch_mlp.up_proj.scales: found [768, 16], expected [768, 32]");
  CHECK(std::string(e.what()) == e.message());
  CHECK(e.code() == famx::errc::shape_mismatch);
  CHECK(famx::to_string(e.code()) == "shape_mismatch");
  CHECK(famx::to_string(famx::errc::collective) == "collective");
}

TEST_CASE("result holds a value or an error and throws the error on value()") {
  famx::result<int> ok = 3;
  CHECK(ok.has_value());
  CHECK(*ok == 3);
  famx::result<int> bad = famx::error(famx::errc::invalid_value, "bits", "7", "one of 2, 3, 4, 5, 6, 8");
  CHECK_FALSE(bad.has_value());
  CHECK(bad.err().path() == "bits");
  CHECK_THROWS_WITH_AS(bad.value(), "bits: found 7, expected one of 2, 3, 4, 5, 6, 8", famx::error);
  famx::result<void> v;
  CHECK(v.has_value());
  famx::result<void> verr = famx::error(famx::errc::io, "", "no such file", "a readable file", "x.json");
  CHECK_THROWS_WITH_AS(verr.value(), "x.json: found no such file, expected a readable file", famx::error);
}
