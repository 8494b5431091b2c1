// The famx command: asks the library questions from a shell. `famx help` lists the commands.
#include <cstdio>
#include <string_view>
#include <vector>

#include "commands.hpp"

namespace {

struct command {
  std::string_view name, usage, summary;
  int (*run)(famx_cli::args);
};

constexpr command commands[] = {
    {"demo", "famx demo", "run the tour on embedded data", famx_cli::demo},
    {"advise", "famx advise [model-id|config.json|dir] [--format text|md|json] [--context N] [--prompt N] [--bits B]",
     "architecture summary, shapes, storage, hotspots and sharding options", famx_cli::advise},
    {"cards", "famx cards", "list the bundled model cards", famx_cli::cards},
    {"make-tiny", "famx make-tiny <family|all> <dir> [--bits 4] [--group 64] [--shards N] [--seed S]",
     "write a tiny, format-faithful MLX checkpoint of a family (all: every family into <dir>/<family>)",
     famx_cli::make_tiny},
    {"verify", "famx verify <checkpoint-dir> [--format text|json] [--all]",
     "check config.json and the safetensors files against the family surface (exit 1 on failure)",
     famx_cli::verify},
    {"plan", "famx plan <model-id|config.json|dir> --devices 64G,64G,128G [--strategy auto|tensor|pipeline|expert] "
             "[--context N] [--bits B] [--kv-replication] [--experts linear|round_robin] "
             "[--shared-experts replicate|tensor] [--weighting equal|bytes] [--json] [--full]",
     "how the model splits over the devices: per rank tensor slices, heads, experts, collectives, memory",
     famx_cli::plan},
    {"run", "famx run <checkpoint-dir> [--prompt-tokens 1,2,3] [--decode 8] [--dequantize]",
     "greedy decoding with the fp32 reference forward (quantized kernels unless --dequantize); next tokens and logits checksum",
     famx_cli::run},
    {"quant-demo", "famx quant-demo", "MLX 4-bit round trip and a qmv checked against fp64",
     famx_cli::quant_demo},
};

int help() {
  std::puts("famx: LLM model families, sharding and quantized kernels.\n\nCommands:");
  for (const auto& c : commands) std::printf("  %s\n      %s\n", c.usage.data(), c.summary.data());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") return help();
  for (const auto& c : commands)
    if (c.name == args[0]) return c.run(famx_cli::args(args).subspan(1));
  std::fprintf(stderr, "famx: unknown command '%s' (expected one of:", args[0].data());
  for (const auto& c : commands) std::fprintf(stderr, " %s", c.name.data());
  std::fprintf(stderr, ")\n");
  return 2;
}
