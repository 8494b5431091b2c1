// famx plan: how a model splits over devices (tensor, pipeline or expert parallelism).
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "famx/io/resolve.hpp"
#include "famx/shard/device.hpp"
#include "famx/shard/picture.hpp"
#include "famx/shard/render.hpp"

namespace famx_cli {

namespace {

// Largest KV-cache context a plan accepts (tokens).
constexpr std::int64_t max_context = std::int64_t{1} << 24;

struct plan_cli_options {
  std::string target, devices, strategy = "auto", experts = "linear", shared_experts = "replicate", weighting = "equal";
  famx::shard::plan_options plan;
  int bits = 0;
  bool json = false, full = false;
  std::string svg;
};

int plan(const plan_cli_options& o) {
  auto devices = famx::shard::parse_devices(o.devices);
  if (!devices) {
    std::fprintf(stderr, "famx plan: --devices: %s\n", devices.err().message().c_str());
    return exit_usage;
  }
  famx::shard::plan_options opt = o.plan;
  opt.kind = famx::shard::parse_strategy(o.strategy).value();
  opt.experts = o.experts == "round_robin" ? famx::shard::expert_placement::round_robin : famx::shard::expert_placement::linear;
  opt.shared_experts_tensor_parallel = o.shared_experts == "tensor";
  opt.weighting = o.weighting == "bytes" ? famx::shard::layer_weighting::bytes : famx::shard::layer_weighting::equal;
  const famx::io::model_card* card = nullptr;
  auto m = famx::io::resolve_model(o.target, &card);
  if (!m) {
    std::fprintf(stderr, "famx plan: %s\n", m.err().what());
    return exit_failed;
  }
  if (o.bits != 0) m->quantization = famx::io::convert_quantization(o.bits);
  if (card) opt.model_id = std::string(card->model_id);
  auto p = famx::shard::plan(*m, *devices, opt);
  if (!p) {
    std::fprintf(stderr, "famx plan: %s\n", p.err().what());
    return exit_failed;
  }
  const std::string out = o.json ? famx::shard::render_json(*p) + "\n" : famx::shard::render_text(*p, o.full);
  std::fputs(out.c_str(), stdout);
  if (!o.svg.empty() && !write_file(o.svg, famx::shard::render_svg(*p), "famx plan")) return exit_failed;
  return exit_ok;
}

}  // namespace

runner add_plan(CLI::App& app) {
  auto o = std::make_shared<plan_cli_options>();
  auto* c = app.add_subcommand(
      "plan", "how the model splits over the devices: per rank tensor slices, heads, experts, collectives, memory");
  c->add_option("model", o->target, "a bundled model id (famx cards), a built-in key, a config.json or a checkpoint directory")
      ->required();
  c->add_option("--devices", o->devices, "memory per device, [name=]size[:GB/s] comma-separated (64G,64G,128G)")
      ->required();
  add_choice(*c, "--strategy", o->strategy, {"auto", "tensor", "pipeline", "expert"}, "parallelism");
  add_integer(*c, "--context", o->plan.context_tokens, std::int64_t{0}, max_context, "tokens the KV cache holds (batch 1)");
  add_integer(*c, "--bits", o->bits, {2, 3, 4, 5, 6, 8}, "quantize as MLX B-bit, group 64 (default: as the config or id says)")
      ->default_str("");
  c->add_flag("--kv-replication", o->plan.kv_replication, "replicate KV heads when fewer than the TP degree (vLLM)");
  add_choice(*c, "--experts", o->experts, {"linear", "round_robin"}, "expert parallelism: how routed experts map to ranks");
  add_choice(*c, "--shared-experts", o->shared_experts, {"replicate", "tensor"}, "expert parallelism: shared experts");
  add_choice(*c, "--weighting", o->weighting, {"equal", "bytes"}, "pipeline: layers by memory share (Exo) or real bytes");
  c->add_flag("--json", o->json, "the whole plan as JSON");
  c->add_flag("--full", o->full, "every tensor and collective of every rank");
  c->add_option("--svg", o->svg, "also draw the plan (one column per rank: memory, weights, KV cache, layers, collectives) "
                                  "as SVG into FILE")
      ->type_name("FILE");
  return [o] { return plan(*o); };
}

int plan_demo(const std::string& svg_file) {
  struct demo_case {
    const char* model;
    const char* devices;
    bool picture;  // the one famx demo draws
  };
  for (const demo_case& c : {demo_case{"mlx-community/Qwen3-30B-A3B-4bit", "24G,24G", false},
                             demo_case{"mlx-community/DeepSeek-V3.1-4bit", "64G,64G,64G,64G,64G,64G,64G,64G", true},
                             demo_case{"mlx-community/Qwen3-Next-80B-A3B-Instruct-4bit", "64G,32G,24G", false}}) {
    auto devices = famx::shard::parse_devices(c.devices);
    const famx::io::model_card* card = nullptr;
    auto m = famx::io::resolve_model(c.model, &card);
    if (!devices || !m) return exit_failed;
    famx::shard::plan_options opt;
    opt.model_id = c.model;
    auto p = famx::shard::plan(*m, *devices, opt);
    if (!p) {
      std::fprintf(stderr, "famx demo: %s\n", p.err().what());
      return exit_failed;
    }
    // The summary: everything before the tensor table (`famx plan ... --full` shows it all).
    const std::string text = famx::shard::render_text(*p);
    std::fputs(text.substr(0, text.find("tensors of rank")).c_str(), stdout);
    std::puts("");
    if (c.picture && !svg_file.empty() && !write_file(svg_file, famx::shard::render_svg(*p), "famx demo")) return exit_failed;
  }
  return exit_ok;
}

}  // namespace famx_cli
