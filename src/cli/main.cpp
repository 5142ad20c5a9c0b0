// ximup: parse the command line, run the chosen subcommand, map its outcome to an exit code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <map>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "ximup/base64.hpp"

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is for what a command prints (results with --results -, listings).
  spdlog::set_default_logger(spdlog::stderr_color_mt("ximup"));
  // XIMUP_SIMD=scalar|ssse3|avx2|avx512|neon forces an encoder; an unknown or unsupported one is an error.
  if (const std::string error = ximup::base64::select_variant(); !error.empty()) {
    spdlog::error("{}", error);
    return ximup::exit_code::usage;
  }
  CLI::App app{"ximup: bulk image uploader for the Ximilar records API"};
  app.require_subcommand(1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print version, SIMD variant, OpenSSL and Boost versions");
  app.footer(
      "Exit codes: 0 all ok; 1 some inputs failed permanently; 2 usage or configuration error;\n"
      "3 authentication failed; 4 input not found; 5 transient failures remain (run again);\n"
      "6 another run holds the state lock; 7 cannot write results or state (disk full, damaged state file);\n"
      "130/143 interrupted (SIGINT/SIGTERM).");

  std::map<CLI::App*, std::function<int()>> commands;
  for (auto add : {ximup::cli::add_upload_command, ximup::cli::add_presets_command, ximup::cli::add_version_command}) {
    auto run = add(app);
    commands.emplace(app.get_subcommands({}).back(), std::move(run));
  }
  std::vector<std::pair<CLI::App*, std::function<int()>>> state_commands;
  ximup::cli::add_state_commands(app, state_commands);
  for (auto& [sub, run] : state_commands) commands.emplace(sub, std::move(run));
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    ximup::cli::print_version();
    return ximup::exit_code::ok;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? ximup::exit_code::ok : ximup::exit_code::usage;
  }
  for (auto* sub : app.get_subcommands()) {
    if (auto it = commands.find(sub); it != commands.end()) return it->second();
  }
  return ximup::exit_code::usage;
}
