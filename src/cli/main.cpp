// ximup: parse the command line, run the chosen subcommand, map its outcome to an exit code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "commands.hpp"
#include "config_layers.hpp"
#include "exit_codes.hpp"
#include "ximup/base64.hpp"
#include "ximup/log_format.hpp"

namespace {

// The value of `--name VALUE` or `--name=VALUE` in the arguments, the last one given; nullptr if none.
const char* flag_value(int argc, char** argv, std::string_view name) {
  const char* value = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == name && i + 1 < argc) {
      value = argv[i + 1];
    } else if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
      value = argv[i] + name.size() + 1;
    }
  }
  return value;
}

// `text` with every --token value typed on the command line replaced: CLI11 quotes arguments it did
// not expect (`ximup status --token T`), and errors go to logs.
std::string without_tokens(std::string text, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string_view secret;
    if (arg == "--token" && i + 1 < argc) secret = argv[i + 1];
    if (arg.starts_with("--token=")) secret = arg.substr(std::string_view("--token=").size());
    if (secret.empty()) continue;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
      at += std::string_view("[redacted]").size();
    }
  }
  return text;
}

int run_cli(int argc, char** argv) {
  // Allocations of 1 MiB and more (file buffers, TLS record pieces, bodies beyond the pool) are
  // mapped and unmapped, not carved from glibc's arenas: with the default, whose threshold rises
  // after each free of a mapped block, bench/upload.sh measured a peak RSS of 80-100 MiB for the
  // same 47 MiB in flight, against a steady 81 MiB (and no more CPU) with this fixed threshold.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Logs go to stderr; stdout is for what a command prints (results with --results -, listings).
  // In the format XIMUP_LOG_FORMAT asks for from the start (the container default is json): a bad
  // flag or config file, found before --log-format is applied, is then a JSON record too.
  // --log-format on the command line too (it beats the variable, as it will once parsed).
  ximup::log_options early;
  const char* format = flag_value(argc, argv, "--log-format");
  if (format == nullptr) format = std::getenv("XIMUP_LOG_FORMAT");
  if (format != nullptr) early.format = ximup::parse_log_format(format).value_or(ximup::log_format::text);
  (void)ximup::configure_logging(early);  // (no file: cannot fail)
  // XIMUP_SIMD=scalar|ssse3|avx2|avx512|neon forces an encoder; an unknown or unsupported one is an error.
  if (const std::string error = ximup::base64::select_variant(); !error.empty()) {
    spdlog::error("{}", error);
    return ximup::exit_code::usage;
  }
  CLI::App app{"ximup: bulk image uploader for the Ximilar records API"};
  app.require_subcommand(1);
  app.fallthrough();  // --config may come after the subcommand
  bool show_version = false;
  std::string config_file;
  bool no_config = false;
  app.add_flag("--version", show_version, "Print version, SIMD variant, OpenSSL and Boost versions");
  app.add_option("--config", config_file,
                 "TOML config file (default: ./ximup.toml, then $XDG_CONFIG_HOME/ximup/config.toml)")
      ->envname("XIMUP_CONFIG");
  app.add_flag("--no-config", no_config, "Read no config file");
  app.footer(
      "Exit codes: 0 all ok; 1 some inputs failed permanently; 2 usage or configuration error;\n"
      "3 authentication failed; 4 input not found; 5 transient failures remain (run again);\n"
      "6 another run holds the state lock; 7 cannot write results or state (disk full, damaged state file);\n"
      "70 internal error (a bug: please report it); 129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM).");

  std::map<CLI::App*, std::function<int()>> commands;
  for (auto add :
       {ximup::cli::add_upload_command, ximup::cli::add_presets_command, ximup::cli::add_version_command}) {
    auto run = add(app);
    commands.emplace(app.get_subcommands({}).back(), std::move(run));
  }
  std::vector<std::pair<CLI::App*, std::function<int()>>> state_commands;
  ximup::cli::add_state_commands(app, state_commands);
  for (auto& [sub, run] : state_commands) commands.emplace(sub, std::move(run));
  for (auto& [sub, run] : commands) ximup::cli::add_env_names(*sub);
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    ximup::cli::print_version();
    return ximup::exit_code::ok;
  }
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string hint;
    for (auto* sub : app.get_subcommands()) {
      hint += ximup::cli::explain_env_error(*sub, e.what(), args);
      if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
        hint += ximup::cli::explain_other_commands_options(app, *sub, args);
      }
    }
    // `ximup uplaod ...`: CLI11 says only that a subcommand is required.
    if (app.get_subcommands().empty() && !args.empty() && !args.front().starts_with("-")) {
      std::string names;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      spdlog::error("unknown command '{}': the commands are {}", without_tokens(args.front(), argc, argv),
                    names);
      return ximup::exit_code::usage;
    }
    spdlog::error("{}{} (run with --help for more information)", without_tokens(e.what(), argc, argv), hint);
    return ximup::exit_code::usage;
  }
  for (auto* sub : app.get_subcommands()) {
    auto it = commands.find(sub);
    if (it == commands.end()) continue;
    // `version` takes no option a config file could set, and `presets` only --api-base: a broken
    // ./ximup.toml meant for uploads must not stop either (it is reported, not fatal, for presets).
    if (sub->get_name() == "version") return it->second();
    const auto file = no_config ? std::nullopt : ximup::cli::find_config_file(config_file);
    if (const std::string error = ximup::cli::apply_config_file(file.value_or(""), app, *sub, args,
                                                                ximup::cli::active_config_layers());
        !error.empty()) {
      if (sub->get_name() != "presets") {
        spdlog::error("{}", error);
        return ximup::exit_code::usage;
      }
      spdlog::warn("{} (`presets` goes on)", error);
    }
    return it->second();
  }
  return ximup::exit_code::usage;
}

}  // namespace

int main(int argc, char** argv) {
  // A reader that goes away (`ximup upload ... -o - | head -1`) must give EPIPE, reported as a write
  // error with exit 7, not a silent death by SIGPIPE. (Sockets never raise it: Asio sends with
  // MSG_NOSIGNAL.)
  std::signal(SIGPIPE, SIG_IGN);
  // Every expected failure is reported where it happens, with its own exit code; this is the net
  // for the unexpected (out of memory, a bug) so that it ends as a message instead of an abort.
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ximup: internal error: %s (please report it with the command line)\n", e.what());
  } catch (...) {
    std::fprintf(stderr,
                 "ximup: internal error: unknown exception (please report it with the command line)\n");
  }
  return ximup::exit_code::internal;
}
