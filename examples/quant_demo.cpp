// famx quant-demo: quantize an embedded matrix the way MLX does, run qmv and qmm through runtime
// dispatch, and compare with the fp64 reference.
#include <famx/kernels.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <famx/famx.hpp>

#include <unistd.h>

#include "commands.hpp"

namespace famx_cli {

int quant_demo() {
  const std::size_t rows = 2048, cols = 768;  // one Qwen3-30B-A3B expert's down_proj, transposed
  std::vector<float> w(rows * cols), x(cols);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.02f * std::sin(0.7f * static_cast<float>(i % 9973));
  for (std::size_t j = 0; j < cols; ++j) x[j] = std::cos(0.05f * static_cast<float>(j));
  const auto wv = famx::tensor_view::contiguous(w.data(), famx::dtype::f32,
                                                {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)});
  std::printf("quantization (MLX affine, CPU rounding) of a %zux%zu matrix:\n", rows, cols);
  std::printf("  %-18s %12s %14s %14s\n", "format", "bytes", "max |w - w^|", "qmv rel. err");
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    const auto q = famx::quant::quantize(wv, {bits, 64}, famx::dtype::bf16).value();
    const auto back = famx::quant::dequantize(q.view(), famx::dtype::f32);
    float worst = 0;
    for (std::size_t i = 0; i < w.size(); ++i) worst = std::max(worst, std::fabs(w[i] - back.as<float>()[i]));
    std::vector<float> y(rows);
    std::vector<double> ref(rows), mag(rows);
    famx::quant::qmv(q.view(), x, y);
    famx::quant::reference_qmv(q.view(), x, ref, mag);
    double rel = 0;
    for (std::size_t r = 0; r < rows; ++r) rel = std::max(rel, std::fabs(y[r] - ref[r]) / mag[r]);
    std::printf("  %-18s %12zu %14.3g %14.3g\n", famx::quant::to_string(q.format).c_str(),
                q.view().weight_bytes(), static_cast<double>(worst), rel);
  }
  const auto q4 = famx::quant::quantize(wv, {4, 64}, famx::dtype::bf16).value();
  std::vector<float> y(rows);
  const int reps = 200;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) famx::quant::qmv(q4.view(), x, y);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
  std::printf("kernel target: %s; 4-bit qmv %zux%zu: %.1f us, %.2f GB/s of weights (1 thread)\n",
              famx::kernel_target(), rows, cols, s * 1e6, static_cast<double>(q4.view().weight_bytes()) / s * 1e-9);
  return 0;
}

runner add_quant_demo(CLI::App& app) {
  app.add_subcommand("quant-demo", "MLX 4-bit round trip and a qmv checked against fp64");
  return [] { return quant_demo(); };
}

runner add_demo(CLI::App& app) {
  auto pictures = std::make_shared<std::string>();
  auto* c = app.add_subcommand("demo", "run the tour on embedded data and tiny checkpoints of every family");
  c->add_option("--pictures", *pictures, "directory for the two SVG pictures (default: a new famx-demo-pictures-<pid> in the temp directory)")
      ->type_name("DIR");
  return [pictures] {
    std::error_code ec;
    const std::filesystem::path dir =
        pictures->empty() ? std::filesystem::temp_directory_path(ec) / ("famx-demo-pictures-" + std::to_string(::getpid()))
                          : std::filesystem::path(*pictures);
    std::filesystem::create_directories(dir, ec);
    const std::string hotspots = (dir / "advise-hotspots.svg").string(), plan = (dir / "plan-deepseek-v3.1.svg").string();
    std::puts("== famx demo ==\n");
    if (const int rc = quant_demo(); rc != 0) return rc;
    std::puts("\n== famx advise (embedded default model) ==");
    if (const int rc = advise_demo(hotspots); rc != 0) return rc;
    std::puts("\n== famx make-tiny + famx verify (a tiny MLX checkpoint of every family, 2 shards each) ==");
    if (const int rc = checkpoint_demo(); rc != 0) return rc;
    std::puts("\n== famx plan (automatic strategy over the devices given) ==");
    if (const int rc = plan_demo(plan); rc != 0) return rc;
    std::puts("\n== famx run (tiny model of every family, prompt 1,2,3, 8 greedy tokens) ==");
    const int rc = run_tiny_models();
    std::printf("\n== pictures ==\n  hotspot map (famx advise --svg): %s\n  shard plan (famx plan --svg):    %s\n",
                hotspots.c_str(), plan.c_str());
    return rc;
  };
}

}  // namespace famx_cli
