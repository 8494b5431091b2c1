// Shapes, views and owning tensors.
#include <doctest/doctest.h>

#include <cstdint>

#include "famx/core/tensor.hpp"

TEST_CASE("shape basics and printing") {
  famx::shape s{128, 768, 2048};
  CHECK(s.rank() == 3);
  CHECK(s.numel() == 128 * 768 * 2048);
  CHECK(s.dim(-1) == 2048);
  CHECK(famx::to_string(s) == "[128, 768, 2048]");
  CHECK(famx::contiguous_strides(s) == famx::shape{768 * 2048, 2048, 1});
  CHECK(famx::shape{}.numel() == 1);
}

TEST_CASE("views index and slice without copying") {
  famx::tensor t(famx::dtype::f32, {4, 6});
  auto data = t.as<float>();
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  const famx::tensor_view v = t.view();
  CHECK(v.is_contiguous());
  CHECK(v.nbytes() == 96);
  const famx::tensor_view row2 = v[2];
  CHECK(row2.dims == famx::shape{6});
  CHECK(row2.as<float>()[0] == 12.0f);
  const famx::tensor_view cols = v.slice(1, 2, 3);  // columns 2..4 of every row
  CHECK(cols.dims == famx::shape{4, 3});
  CHECK_FALSE(cols.is_contiguous());
  CHECK(cols[1].as<float>()[0] == 8.0f);
  CHECK(cols.data >= t.data());
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
}
