// Nothing changes for users: the greedy tokens and a hash of every logit's bits of every tiny
// model (a 12-token prompt, then 4 decode steps), quantized and dequantized, as the forward gave them
// before the family-traits refactor (recorded on each SIMD target: the quantized kernels' group sums
// depend on the lane count; the dequantized path does not). A refactor of the forward, the
// bindings or the kernels that changes a bit fails here. The dequantized hashes were re-recorded
// once, when the dense product became a tree over 32-column blocks (model/linear.hpp, so that a
// tensor-parallel split reproduces it); Qwen3-Next's were re-recorded once, when the gated delta
// rule's sums and update moved to fp64 (quant::exact_delta_step); DeepSeek-V3's, Kimi K2's and
// DeepSeek-V3.2's once, when MLA's weighted sum of values moved from an f32 chain to fp64
// (quant::exact_vecmat, as gqa attention). The tokens did not change.
#include <famx/kernels.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <famx/io/tiny_checkpoint.hpp>
#include <famx/model/model.hpp>

#include "../io/test_files.hpp"

namespace {

namespace fm = famx::model;

struct golden {
  const char* model;
  bool quantized;
  const char* target;
  std::uint64_t hash;  // FNV-1a over the bytes of every logit, prompt then decode steps
  std::array<std::int32_t, 5> tokens;
};

constexpr golden kGolden[] = {
    {"llama", false, "AVX3", 0x84672ac77a57fe37ull, {82, 179, 195, 223, 68}},
    {"llama", false, "AVX2", 0x84672ac77a57fe37ull, {82, 179, 195, 223, 68}},
    {"llama", false, "SSE4", 0x84672ac77a57fe37ull, {82, 179, 195, 223, 68}},
    {"llama", false, "SSSE3", 0x84672ac77a57fe37ull, {82, 179, 195, 223, 68}},
    {"llama", false, "SCALAR", 0x84672ac77a57fe37ull, {82, 179, 195, 223, 68}},
    {"llama", true, "AVX3", 0x65f1ca68c1b44f5full, {82, 179, 195, 223, 68}},
    {"llama", true, "AVX2", 0x65f1ca68c1b44f5full, {82, 179, 195, 223, 68}},
    {"llama", true, "SSE4", 0xbba24b4da26ec44cull, {82, 179, 195, 223, 68}},
    {"llama", true, "SSSE3", 0xbba24b4da26ec44cull, {82, 179, 195, 223, 68}},
    {"llama", true, "SCALAR", 0xec94b70b8a5691a7ull, {82, 179, 195, 223, 68}},
    {"qwen3", false, "AVX3", 0xf658aac5e533b1a3ull, {5, 5, 5, 5, 5}},
    {"qwen3", false, "AVX2", 0xf658aac5e533b1a3ull, {5, 5, 5, 5, 5}},
    {"qwen3", false, "SSE4", 0xf658aac5e533b1a3ull, {5, 5, 5, 5, 5}},
    {"qwen3", false, "SSSE3", 0xf658aac5e533b1a3ull, {5, 5, 5, 5, 5}},
    {"qwen3", false, "SCALAR", 0xf658aac5e533b1a3ull, {5, 5, 5, 5, 5}},
    {"qwen3", true, "AVX3", 0x4de29f14259414d8ull, {5, 5, 5, 5, 5}},
    {"qwen3", true, "AVX2", 0x4de29f14259414d8ull, {5, 5, 5, 5, 5}},
    {"qwen3", true, "SSE4", 0x2702097ac361517full, {5, 5, 5, 5, 5}},
    {"qwen3", true, "SSSE3", 0x2702097ac361517full, {5, 5, 5, 5, 5}},
    {"qwen3", true, "SCALAR", 0x19bb019127781d1cull, {5, 5, 5, 5, 5}},
    {"qwen3_moe", false, "AVX3", 0xd148cd4a5d37923aull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", false, "AVX2", 0xd148cd4a5d37923aull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", false, "SSE4", 0xd148cd4a5d37923aull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", false, "SSSE3", 0xd148cd4a5d37923aull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", false, "SCALAR", 0xd148cd4a5d37923aull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", true, "AVX3", 0xc3770e97360f0969ull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", true, "AVX2", 0xc3770e97360f0969ull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", true, "SSE4", 0x9b8f206bea6225cdull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", true, "SSSE3", 0x9b8f206bea6225cdull, {380, 187, 127, 87, 453}},
    {"qwen3_moe", true, "SCALAR", 0xed5db7006d67691bull, {380, 187, 127, 87, 453}},
    {"qwen3_next", false, "AVX3", 0xf59464966ef1fd8bull, {209, 199, 419, 416, 237}},
    {"qwen3_next", false, "AVX2", 0xf59464966ef1fd8bull, {209, 199, 419, 416, 237}},
    {"qwen3_next", false, "SSE4", 0xf59464966ef1fd8bull, {209, 199, 419, 416, 237}},
    {"qwen3_next", false, "SSSE3", 0xf59464966ef1fd8bull, {209, 199, 419, 416, 237}},
    {"qwen3_next", false, "SCALAR", 0xf59464966ef1fd8bull, {209, 199, 419, 416, 237}},
    {"qwen3_next", true, "AVX3", 0x81851689b48013f0ull, {209, 199, 419, 416, 237}},
    {"qwen3_next", true, "AVX2", 0x81851689b48013f0ull, {209, 199, 419, 416, 237}},
    {"qwen3_next", true, "SSE4", 0xc67d739bc4d10bb2ull, {209, 199, 419, 416, 237}},
    {"qwen3_next", true, "SSSE3", 0xc67d739bc4d10bb2ull, {209, 199, 419, 416, 237}},
    {"qwen3_next", true, "SCALAR", 0xc2b154263a63a18eull, {209, 199, 419, 416, 237}},
    {"deepseek_v3", false, "AVX3", 0xa7a3dd62cbecf671ull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", false, "AVX2", 0xa7a3dd62cbecf671ull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", false, "SSE4", 0xa7a3dd62cbecf671ull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", false, "SSSE3", 0xa7a3dd62cbecf671ull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", false, "SCALAR", 0xa7a3dd62cbecf671ull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", true, "AVX3", 0xc5d3268c116b85e4ull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", true, "AVX2", 0x07d2d96f17862822ull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", true, "SSE4", 0x7aab44bfa3839b5cull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", true, "SSSE3", 0x7aab44bfa3839b5cull, {352, 273, 228, 337, 249}},
    {"deepseek_v3", true, "SCALAR", 0x38a54861b75cf762ull, {352, 273, 228, 337, 249}},
    {"kimi_k2", false, "AVX3", 0x7389d47e3328f226ull, {352, 273, 228, 162, 328}},
    {"kimi_k2", false, "AVX2", 0x7389d47e3328f226ull, {352, 273, 228, 162, 328}},
    {"kimi_k2", false, "SSE4", 0x7389d47e3328f226ull, {352, 273, 228, 162, 328}},
    {"kimi_k2", false, "SSSE3", 0x7389d47e3328f226ull, {352, 273, 228, 162, 328}},
    {"kimi_k2", false, "SCALAR", 0x7389d47e3328f226ull, {352, 273, 228, 162, 328}},
    {"kimi_k2", true, "AVX3", 0x5238116ee3c78d93ull, {352, 273, 228, 162, 328}},
    {"kimi_k2", true, "AVX2", 0xd9011d3885e6ca84ull, {352, 273, 228, 162, 328}},
    {"kimi_k2", true, "SSE4", 0xf52fc5057833bdfaull, {352, 273, 228, 162, 328}},
    {"kimi_k2", true, "SSSE3", 0xf52fc5057833bdfaull, {352, 273, 228, 162, 328}},
    {"kimi_k2", true, "SCALAR", 0x88b389d3cfb9fb4full, {352, 273, 228, 162, 328}},
    {"deepseek_v32", false, "AVX3", 0xb7d37932513c105eull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", false, "AVX2", 0xb7d37932513c105eull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", false, "SSE4", 0xb7d37932513c105eull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", false, "SSSE3", 0xb7d37932513c105eull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", false, "SCALAR", 0xb7d37932513c105eull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", true, "AVX3", 0x25762e23b409f215ull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", true, "AVX2", 0xcf45b2d13f671fb1ull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", true, "SSE4", 0x598f738ef641373eull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", true, "SSSE3", 0x598f738ef641373eull, {340, 343, 311, 411, 189}},
    {"deepseek_v32", true, "SCALAR", 0xda136b8cc162ffaeull, {340, 343, 311, 411, 189}},
    {"glm4_moe", false, "AVX3", 0xc61b648b7cf264fbull, {340, 495, 321, 350, 36}},
    {"glm4_moe", false, "AVX2", 0xc61b648b7cf264fbull, {340, 495, 321, 350, 36}},
    {"glm4_moe", false, "SSE4", 0xc61b648b7cf264fbull, {340, 495, 321, 350, 36}},
    {"glm4_moe", false, "SSSE3", 0xc61b648b7cf264fbull, {340, 495, 321, 350, 36}},
    {"glm4_moe", false, "SCALAR", 0xc61b648b7cf264fbull, {340, 495, 321, 350, 36}},
    {"glm4_moe", true, "AVX3", 0x37d264a0a04aa423ull, {340, 495, 321, 350, 36}},
    {"glm4_moe", true, "AVX2", 0x3ca17b7fa062ebebull, {340, 495, 321, 350, 36}},
    {"glm4_moe", true, "SSE4", 0x7c4e2e962da6e54bull, {340, 495, 321, 350, 36}},
    {"glm4_moe", true, "SSSE3", 0x7c4e2e962da6e54bull, {340, 495, 321, 350, 36}},
    {"glm4_moe", true, "SCALAR", 0x8f57da8638651605ull, {340, 495, 321, 350, 36}},
    {"ministral3", false, "AVX3", 0x77c8718ba770157bull, {5, 5, 5, 5, 5}},
    {"ministral3", false, "AVX2", 0x77c8718ba770157bull, {5, 5, 5, 5, 5}},
    {"ministral3", false, "SSE4", 0x77c8718ba770157bull, {5, 5, 5, 5, 5}},
    {"ministral3", false, "SSSE3", 0x77c8718ba770157bull, {5, 5, 5, 5, 5}},
    {"ministral3", false, "SCALAR", 0x77c8718ba770157bull, {5, 5, 5, 5, 5}},
    {"ministral3", true, "AVX3", 0xa2bad4025331cf84ull, {5, 5, 5, 5, 5}},
    {"ministral3", true, "AVX2", 0xa2bad4025331cf84ull, {5, 5, 5, 5, 5}},
    {"ministral3", true, "SSE4", 0xb40b8195b251b6b7ull, {5, 5, 5, 5, 5}},
    {"ministral3", true, "SSSE3", 0xb40b8195b251b6b7ull, {5, 5, 5, 5, 5}},
    {"ministral3", true, "SCALAR", 0x226978498ce659b5ull, {5, 5, 5, 5, 5}},
};

std::uint64_t fnv(const std::vector<float>& v, std::uint64_t h) {
  for (float f : v) {
    std::uint32_t b = 0;
    std::memcpy(&b, &f, 4);
    for (int i = 0; i < 4; ++i) h = (h ^ ((b >> (8 * i)) & 0xFF)) * 0x100000001b3ull;
  }
  return h;
}

}  // namespace

TEST_CASE("every tiny model gives the recorded tokens and logits bits on every recorded target") {
  const famx::test::temp_dir root;
  const std::vector<std::int32_t> prompt = {1, 7, 42, 100, 3, 511, 250, 9, 77, 12, 300, 5};
  std::map<std::string, std::int64_t> targets;
  for (std::int64_t t : famx::kernel_targets()) {
    famx::force_target guard(t);
    targets[famx::kernel_target()] = t;
  }
  std::size_t checked = 0;
  for (const auto& t : famx::io::tiny_models) {
    const std::string name(t.key);
    famx::io::make_tiny_checkpoint(name, root / name).value();
    for (bool quantized : {false, true}) {
      const auto m = fm::reference_model::load(root / name, quantized ? fm::weight_path::quantized : fm::weight_path::dequantized).value();
      const std::size_t V = m.info().vocab;
      for (const golden& g : kGolden) {
        if (g.model != name || g.quantized != quantized || !targets.contains(g.target)) continue;
        CAPTURE(name);
        CAPTURE(quantized);
        CAPTURE(std::string(g.target));
        famx::force_target guard(targets[g.target]);
        auto c = m.new_cache();
        auto l = m.forward(prompt, c);
        std::uint64_t h = fnv(l, 0xcbf29ce484222325ull);
        auto argmax = [&](const std::vector<float>& x, std::size_t row) {
          std::size_t b = 0;
          for (std::size_t v = 1; v < V; ++v)
            if (x[row * V + v] > x[row * V + b]) b = v;
          return static_cast<std::int32_t>(b);
        };
        std::array<std::int32_t, 5> toks{};
        toks[0] = argmax(l, prompt.size() - 1);
        for (std::size_t i = 1; i < toks.size(); ++i) {
          l = m.forward(std::span(toks).subspan(i - 1, 1), c);
          h = fnv(l, h);
          toks[i] = argmax(l, 0);
        }
        CHECK(toks == g.tokens);
        CHECK(h == g.hash);
        ++checked;
      }
    }
  }
  CHECK(checked >= 2 * 9);  // at least one target of each path of each model
}
