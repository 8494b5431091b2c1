#pragma once
// The famx command-line tool's subcommands. Each add_<command> registers its subcommand, flags
// and positional arguments (with their defaults) on the CLI11 app and returns the function that
// runs it once the command line is parsed; that function prints to stdout and returns the exit
// code (options.hpp: 0 ok, 1 a check failed or the input is bad, 2 a usage error).
// Adding a flag: one add_integer / add_choice / add_flag line next to the others of its command.

#include <functional>

#include <CLI/CLI.hpp>

#include "options.hpp"

namespace famx_cli {

// Runs a parsed command; returns the exit code.
using runner = std::function<int()>;

// famx demo: the tour on embedded data and tiny checkpoints; writes two pictures.
runner add_demo(CLI::App& app);
// famx advise [model] [--format] [--context] [--prompt] [--bits] [--svg]: the advisor report.
runner add_advise(CLI::App& app);
// famx cards: the bundled model cards.
runner add_cards(CLI::App& app);
// famx make-tiny <family|all> <dir> [--bits] [--group] [--shards] [--seed]: tiny MLX checkpoints.
runner add_make_tiny(CLI::App& app);
// famx verify <dir> [--format] [--all]: a checkpoint against its family surface (exit 1 on failure).
runner add_verify(CLI::App& app);
// famx plan <model> --devices ... [...]: how a model splits over devices.
runner add_plan(CLI::App& app);
// famx run <dir> [--prompt-tokens] [--decode] [--dequantize]: greedy decoding, reference forward.
runner add_run(CLI::App& app);
// famx quant-demo: MLX quantization round trip and kernel check on an embedded matrix.
runner add_quant_demo(CLI::App& app);

// The parts of famx demo.
int quant_demo();
int advise_demo(const std::string& svg_file);
int checkpoint_demo();
int plan_demo(const std::string& svg_file);
int run_tiny_models();

}  // namespace famx_cli
