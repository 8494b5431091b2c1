// famx plan: how a model splits over devices (tensor, pipeline or expert parallelism).
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "famx/io/resolve.hpp"
#include "famx/shard/device.hpp"
#include "famx/shard/render.hpp"

namespace famx_cli {

namespace {

int plan_usage(const std::string& why) {
  std::fprintf(stderr,
               "famx plan: %s\nusage: famx plan <model-id|config.json|dir> --devices 64G,64G,128G "
               "[--strategy auto|tensor|pipeline|expert] [--context N] [--bits B] [--kv-replication] "
               "[--experts linear|round_robin] [--shared-experts replicate|tensor] [--weighting equal|bytes] [--json] [--full]\n",
               why.c_str());
  return 2;
}

}  // namespace

int plan(args a) {
  std::string_view target, devices_text;
  famx::shard::plan_options opt;
  bool json = false, full = false;
  int bits = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string_view s = a[i];
    const bool has_value = i + 1 < a.size();
    if (s == "--devices" && has_value) {
      devices_text = a[++i];
    } else if (s == "--strategy" && has_value) {
      auto st = famx::shard::parse_strategy(a[++i]);
      if (!st) return plan_usage(st.err().message());
      opt.kind = *st;
    } else if (s == "--context" && has_value) {
      const std::string_view v = a[++i];
      if (std::from_chars(v.data(), v.data() + v.size(), opt.context_tokens).ptr != v.data() + v.size() || opt.context_tokens < 0)
        return plan_usage("--context takes a token count");
    } else if (s == "--bits" && has_value) {
      const std::string_view v = a[++i];
      if (std::from_chars(v.data(), v.data() + v.size(), bits).ptr != v.data() + v.size()) return plan_usage("--bits takes 2, 3, 4, 5, 6 or 8");
    } else if (s == "--kv-replication") {
      opt.kv_replication = true;
    } else if (s == "--experts" && has_value) {
      const std::string_view v = a[++i];
      if (v == "linear") opt.experts = famx::shard::expert_placement::linear;
      else if (v == "round_robin") opt.experts = famx::shard::expert_placement::round_robin;
      else return plan_usage("--experts takes linear or round_robin");
    } else if (s == "--shared-experts" && has_value) {
      const std::string_view v = a[++i];
      if (v != "replicate" && v != "tensor") return plan_usage("--shared-experts takes replicate or tensor");
      opt.shared_experts_tensor_parallel = v == "tensor";
    } else if (s == "--weighting" && has_value) {
      const std::string_view v = a[++i];
      if (v != "equal" && v != "bytes") return plan_usage("--weighting takes equal or bytes");
      opt.weighting = v == "bytes" ? famx::shard::layer_weighting::bytes : famx::shard::layer_weighting::equal;
    } else if (s == "--json") {
      json = true;
    } else if (s == "--full") {
      full = true;
    } else if (s.starts_with("--")) {
      return plan_usage("unknown option or missing value: '" + std::string(s) + "'");
    } else if (target.empty()) {
      target = s;
    } else {
      return plan_usage("one model, not '" + std::string(s) + "' too");
    }
  }
  if (target.empty()) return plan_usage("which model?");
  if (devices_text.empty()) return plan_usage("--devices is required");
  auto devices = famx::shard::parse_devices(devices_text);
  if (!devices) return plan_usage(devices.err().message());
  const famx::io::model_card* card = nullptr;
  auto m = famx::io::resolve_model(target, &card);
  if (!m) {
    std::fprintf(stderr, "famx plan: %s\n", m.err().what());
    return 1;
  }
  if (bits != 0) {
    m->quantization = famx::io::convert_quantization(bits);
    if (auto v = famx::quant::validate(m->quantization->global, "--bits"); !v) return plan_usage(v.err().message());
  }
  if (card) opt.model_id = std::string(card->model_id);
  auto p = famx::shard::plan(*m, *devices, opt);
  if (!p) {
    std::fprintf(stderr, "famx plan: %s\n", p.err().what());
    return 1;
  }
  const std::string out = json ? famx::shard::render_json(*p) + "\n" : famx::shard::render_text(*p, full);
  std::fputs(out.c_str(), stdout);
  return 0;
}

int plan_demo() {
  struct demo_case {
    const char* model;
    const char* devices;
  };
  for (const demo_case& c : {demo_case{"mlx-community/Qwen3-30B-A3B-4bit", "24G,24G"},
                             demo_case{"mlx-community/DeepSeek-V3.1-4bit", "64G,64G,64G,64G,64G,64G,64G,64G"},
                             demo_case{"mlx-community/Qwen3-Next-80B-A3B-Instruct-4bit", "64G,32G,24G"}}) {
    auto devices = famx::shard::parse_devices(c.devices);
    const famx::io::model_card* card = nullptr;
    auto m = famx::io::resolve_model(c.model, &card);
    if (!devices || !m) return 1;
    famx::shard::plan_options opt;
    opt.model_id = c.model;
    auto p = famx::shard::plan(*m, *devices, opt);
    if (!p) {
      std::fprintf(stderr, "famx demo: %s\n", p.err().what());
      return 1;
    }
    // The summary: everything before the tensor table (`famx plan ... --full` shows it all).
    const std::string text = famx::shard::render_text(*p);
    std::fputs(text.substr(0, text.find("tensors of rank")).c_str(), stdout);
    std::puts("");
  }
  return 0;
}

}  // namespace famx_cli
