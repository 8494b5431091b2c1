// The famx command: asks the library questions from a shell. `famx --help` lists the commands,
// `famx <command> --help` a command's flags with their defaults.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace {

// "famx <command>: <what CLI11 found>" and where the flags are listed.
std::string failure_message(const CLI::App* app, const CLI::Error& e) {
  std::string who = "famx";
  for (const CLI::App* sub : app->get_subcommands()) who += " " + sub->get_name();
  return who + ": " + e.what() + "\nRun `" + who + " --help` for the flags and their defaults.\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"famx: LLM model families, sharding and quantized kernels.\n"
               "Exit codes: 0 ok, 1 a check failed or the input is bad, 2 a usage error.",
               "famx"};
  app.failure_message(failure_message);
  app.require_subcommand(0, 1);
  app.footer("`famx <command> --help` lists a command's flags with their defaults.");
  struct command {
    CLI::App* app;
    famx_cli::runner run;
  };
  std::vector<command> commands;
  auto add = [&](famx_cli::runner (*registrar)(CLI::App&)) {
    famx_cli::runner run = registrar(app);
    commands.push_back({app.get_subcommands({}).back(), std::move(run)});
  };
  add(famx_cli::add_demo);
  add(famx_cli::add_advise);
  add(famx_cli::add_cards);
  add(famx_cli::add_make_tiny);
  add(famx_cli::add_verify);
  add(famx_cli::add_plan);
  add(famx_cli::add_run);
  add(famx_cli::add_quant_demo);
  app.add_subcommand("help", "print this list of commands")->silent();

  if (argc > 1 && argv[1][0] != '-') {  // a word that is no command: say which ones there are
    bool known = std::string_view(argv[1]) == "help";
    for (const auto& c : commands) known |= c.app->get_name() == argv[1];
    if (!known) {
      std::fprintf(stderr, "famx: unknown command '%s' (expected one of:", argv[1]);
      for (const auto& c : commands) std::fprintf(stderr, " %s", c.app->get_name().c_str());
      std::fprintf(stderr, ")\n");
      return famx_cli::exit_usage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints the help (rc 0) or the error
    return rc == 0 ? famx_cli::exit_ok : famx_cli::exit_usage;
  }
  for (const auto& c : commands) {
    if (!c.app->parsed()) continue;
    try {
      return c.run();
    } catch (const std::exception& e) {  // a library error that escaped: report it, never abort
      std::fprintf(stderr, "famx %s: %s\n", c.app->get_name().c_str(), e.what());
      return famx_cli::exit_failed;
    }
  }
  std::fputs(app.help().c_str(), stdout);  // `famx` alone or `famx help`
  return famx_cli::exit_ok;
}
