#pragma once
// Where option values come from: flags > XIMUP_<OPTION> environment variables > the config file >
// defaults. CLI11 parses the flags and the environment (every long option gets an envname); the
// config file (TOML: `key = value` at the top level or under a `[command]` table) is applied
// after, only to options still unset, so it never overrides the two above: first the command's
// table, then the top level, then (for commands other than upload) the `[upload]` table's keys the
// command knows. Unknown keys, bad values and a key given two values at the top level and in the
// command's table are errors naming the key and the file.
//
// The config file: --config FILE (or XIMUP_CONFIG), else ./ximup.toml, else
// $XDG_CONFIG_HOME/ximup/config.toml (~/.config/ximup/config.toml). --no-config reads none.
#include <CLI/CLI.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ximup::cli {

/// "max-inflight" -> "XIMUP_MAX_INFLIGHT". Pure.
[[nodiscard]] std::string env_name_for(const std::string& long_name);

/// Gives every long option of `cmd` (and of the root app) its XIMUP_<OPTION> environment name.
void add_env_names(CLI::App& cmd);

/// Which layer gave an option its value.
enum class value_source { flag, environment, file, defaults };

struct config_layers {
  std::string file;                                ///< the config file read ("" when none)
  std::map<std::string, value_source> sources;     ///< long option name -> where its value came from
  std::map<std::string, std::string> file_values;  ///< long option name -> value as written in the file
};

/// The layers of this process's command line (set once by main after parsing).
[[nodiscard]] config_layers& active_config_layers();

/// The config file to read: `explicit_path` when given, else the first that exists of
/// ./ximup.toml and $XDG_CONFIG_HOME/ximup/config.toml (or $HOME/.config/ximup/config.toml).
[[nodiscard]] std::optional<std::string> find_config_file(const std::string& explicit_path);

/// Applies `file` (may be empty) to the parsed subcommand `cmd` of `root`: a key is an option's
/// long name (dashes or underscores); keys of other subcommands are ignored (except `[upload]`'s,
/// a fallback for the others), keys no command knows are errors. Fills `out`. Returns "" or an error naming
/// the file and the key.
[[nodiscard]] std::string apply_config_file(const std::string& file, CLI::App& root, CLI::App& cmd,
                                            const std::vector<std::string>& argv, config_layers& out);

/// When a CLI11 error names an option whose value came from its environment variable, says so.
[[nodiscard]] std::string explain_env_error(const CLI::App& cmd, const std::string& message,
                                            const std::vector<std::string>& argv);

/// When the command line gives `cmd` options it does not have but another command of `root` does
/// (an upload's `--cacert` pasted onto `ximup status`), names them and that command. Only option
/// names are quoted, never their values.
[[nodiscard]] std::string explain_other_commands_options(const CLI::App& root, const CLI::App& cmd,
                                                         const std::vector<std::string>& argv);

/// The effective configuration of `cmd` as TOML lines with their source (--print-config); the
/// values of options named in `secret` are shown as "<redacted>".
[[nodiscard]] std::string print_config(const CLI::App& cmd, const config_layers& layers,
                                       const std::vector<std::string>& secret);

}  // namespace ximup::cli
