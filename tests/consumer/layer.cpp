// A second translation unit that calls the kernels: header-only mode must link without
// duplicate symbols, compile-once mode must find the one implementation.
#include <famx/kernels.hpp>

#include <vector>

#include <famx/famx.hpp>

float layer_output(const std::vector<float>& weights, int rows, int cols, const std::vector<float>& x) {
  const famx::tensor_view w = famx::tensor_view::contiguous(weights.data(), famx::dtype::f32, {rows, cols});
  const auto q = famx::quant::quantize(w, {4, 64}, famx::dtype::bf16).value();
  std::vector<float> y(static_cast<std::size_t>(rows));
  famx::quant::qmv(q.view(), x, y);
  return y[0];
}
