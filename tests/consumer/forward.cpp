// The reference forward in a downstream build: the tiny checkpoints of four families, dequantized
// (whose bits are the same on every SIMD target), a 12-token prompt then 4 greedy steps; prints one
// "<model> <FNV-1a of every logit's bits>" line each. run.cmake runs it built with the project's
// flags and built with -march=native, and requires the same lines: famx's bits do not depend on
// the user's flags (famx::famx pins -ffp-contract=off).
#include <famx/model/model.hpp>  // includes <famx/kernels.hpp> first

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <vector>

#include <famx/io/tiny_checkpoint.hpp>

namespace {

// FNV-1a over the bytes of v, continuing h.
std::uint64_t fnv1a(std::uint64_t h, const std::vector<float>& v) {
  for (float f : v) {
    unsigned char b[sizeof f];
    std::memcpy(b, &f, sizeof f);
    for (unsigned char c : b) h = (h ^ c) * 0x100000001b3ull;
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: forward <scratch dir>\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const std::vector<std::int32_t> prompt = {1, 7, 42, 100, 3, 511, 250, 9, 77, 12, 300, 5};
  for (const char* name : {"llama", "qwen3_moe", "qwen3_next", "deepseek_v3"}) {
    try {
      famx::io::make_tiny_checkpoint(name, root / name).value();
      const auto m = famx::model::reference_model::load(root / name, famx::model::weight_path::dequantized).value();
      auto cache = m.new_cache();
      std::vector<float> logits = m.forward(prompt, cache);
      std::uint64_t h = fnv1a(0xcbf29ce484222325ull, logits);
      const std::size_t V = m.info().vocab;
      for (int step = 0; step < 4; ++step) {
        const float* last = logits.data() + logits.size() - V;
        std::int32_t best = 0;
        for (std::size_t v = 1; v < V; ++v)
          if (last[v] > last[best]) best = static_cast<std::int32_t>(v);
        logits = m.forward(std::span(&best, 1), cache);
        h = fnv1a(h, logits);
      }
      std::printf("%s %016llx\n", name, static_cast<unsigned long long>(h));
    } catch (const famx::error& e) {
      std::fprintf(stderr, "%s: %s\n", name, e.what());
      return 1;
    }
  }
  return 0;
}
