#pragma once
// The famx command-line tool's subcommands: each takes its arguments (after the command name),
// prints to stdout, and returns the process exit code.

#include <span>
#include <string_view>

namespace famx_cli {

using args = std::span<const std::string_view>;

// famx demo: the tour on embedded data (quantization round trip, kernel dispatch, ...).
int demo(args a);
// famx advise [model-id | config.json | checkpoint-dir] [--format text|md|json] [--context N]
// [--prompt N] [--bits B]: the advisor report; no model runs on the embedded default.
int advise(args a);
// famx cards: the bundled model cards.
int cards(args a);
// famx make-tiny <family|all> <dir> [--bits B] [--group G] [--shards N] [--seed S]: tiny MLX checkpoints.
int make_tiny(args a);
// famx verify <dir> [--format text|json] [--all]: checks a checkpoint against its family surface;
// exit code 1 when it fails.
int verify(args a);
// The demo's checkpoint part: a tiny checkpoint of every family written and verified (temp dir).
int checkpoint_demo();
// famx plan <model> --devices 64G,64G [--strategy auto|tensor|pipeline|expert] [...]: a shard plan.
int plan(args a);
// The demo's plan part: three models planned automatically over the devices given.
int plan_demo();
// famx run <dir> [--prompt-tokens 1,2,3] [--decode 8] [--dequantize]: greedy decoding with the
// reference forward; prints the next tokens and a logits checksum.
int run(args a);
// The demo's part of famx run: a tiny checkpoint of every family, written to a temp dir and run.
int run_tiny_models();
// famx quant-demo: MLX quantization round trip and kernel check on an embedded matrix.
int quant_demo(args a);

}  // namespace famx_cli
