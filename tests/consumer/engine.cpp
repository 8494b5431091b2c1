// A downstream engine: quantizes a layer, runs qmv in another TU and checks it against the fp64
// reference; prints "ok <target>" on success.
#include <famx/kernels.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

#include <famx/famx.hpp>

float layer_output(const std::vector<float>& weights, int rows, int cols, const std::vector<float>& x);

int main() {
  const int rows = 8, cols = 128;
  std::vector<float> w(rows * cols), x(cols);
  for (int i = 0; i < rows * cols; ++i) w[i] = std::sin(0.1f * static_cast<float>(i));
  for (int i = 0; i < cols; ++i) x[i] = std::cos(0.3f * static_cast<float>(i));
  const float got = layer_output(w, rows, cols, x);
  const auto q = famx::quant::quantize(famx::tensor_view::contiguous(w.data(), famx::dtype::f32, {rows, cols}),
                                       {4, 64}, famx::dtype::bf16).value();
  std::vector<double> ref(rows), mag(rows);
  famx::quant::reference_qmv(q.view(), x, ref, mag);
  if (std::fabs(got - ref[0]) > 1e-5 * mag[0]) {
    std::printf("mismatch: %g vs %g\n", static_cast<double>(got), ref[0]);
    return 1;
  }
  std::printf("ok %s\n", famx::kernel_target());
  return 0;
}
