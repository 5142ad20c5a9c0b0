#pragma once
// The subcommands of the ximup CLI. Each registers its options on a CLI11 subcommand and runs
// after parsing, returning an exit code (exit_codes.hpp).
#include <CLI/CLI.hpp>
#include <functional>
#include <utility>
#include <vector>

namespace ximup::cli {

/// Adds the subcommand to `app` and returns the function that runs it once parsing succeeded.
std::function<int()> add_upload_command(CLI::App& app);
std::function<int()> add_presets_command(CLI::App& app);
std::function<int()> add_version_command(CLI::App& app);
/// Adds `status`, `failures` and `export` and appends each with its runner to `out`.
void add_state_commands(CLI::App& app, std::vector<std::pair<CLI::App*, std::function<int()>>>& out);

/// One line per fact: version, SIMD variant, OpenSSL and Boost versions.
void print_version();

}  // namespace ximup::cli
