#include "config_layers.hpp"
#include <algorithm>

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ximup::cli {
namespace {

// Whether an array value that starts `text` (at its '[') closes on its line: brackets counted outside
// strings. CLI11's reader took `connections = [1,2` as 1 without a word, and reads no array that
// goes on over several lines.
bool array_closes(const std::string& text) {
  int depth = 0;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (quote == '"' && c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      return false;  // a comment before the closing bracket
    } else if (c == '[') {
      ++depth;
    } else if (c == ']' && --depth == 0) {
      return true;
    }
  }
  return false;
}

// CLI11's TOML reader takes `results = "out.jsonl` (no closing quote) as the value `"out.jsonl`,
// quote included: a results file with a strange name and no error. A string value must close.
std::string unterminated_string(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto eq = line.find('=');
    const auto first = line.find_first_not_of(" \t");
    if (eq == std::string::npos || first == std::string::npos || line[first] == '#' || line[first] == '[') {
      continue;
    }
    const auto value = line.find_first_not_of(" \t", eq + 1);
    if (value != std::string::npos && line[value] == '[' && !array_closes(line.substr(value))) {
      std::string key = line.substr(first, eq - first);
      while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
      return fmt::format(
          "config file '{}' line {}: the array of '{}' has no closing ']' on its line (arrays "
          "are written on one line)",
          file, number, key);
    }
    if (value == std::string::npos || (line[value] != '"' && line[value] != '\'')) {
      continue;
    }
    const char quote = line[value];
    bool closed = false;
    for (std::size_t i = value + 1; i < line.size(); ++i) {
      if (quote == '"' && line[i] == '\\') {
        ++i;  // an escape: the next character is part of the string
      } else if (line[i] == quote) {
        closed = true;
        break;
      }
    }
    if (!closed) {
      std::string key = line.substr(first, eq - first);
      while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
      std::string message = "config file '";
      message.append(file).append("' line ").append(std::to_string(number)).append(": the value of '");
      message.append(key).append("' has no closing quote");
      return message;
    }
  }
  return "";
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The long name of an option without dashes ("" for options with only a short name).
std::string long_name(const CLI::Option& opt) {
  const auto& names = opt.get_lnames();
  if (!names.empty()) {
    return names.front();
  }
  return opt.get_positional() ? opt.get_name() : std::string();
}

CLI::Option* find_long(const CLI::App& cmd, const std::string& key) {
  for (const CLI::Option* opt : cmd.get_options()) {
    if (long_name(*opt) == key) return const_cast<CLI::Option*>(opt);  // NOLINT: CLI11 hands out const views
  }
  return nullptr;
}

bool given_on_command_line(const CLI::Option& opt, const std::vector<std::string>& argv) {
  if (opt.get_positional()) {
    if (opt.count() == 0) {
      return false;
    }
    if (opt.get_envname().empty() || std::getenv(opt.get_envname().c_str()) == nullptr) {
      return true;
    }
    // CLI11 takes the variable only when the command line gave no such argument: the values came
    // from the command line when every one of them is an argument there.
    for (const auto& value : opt.results()) {
      if (std::find(argv.begin(), argv.end(), value) == argv.end()) {
        return false;
      }
    }
    return true;
  }
  for (const auto& name : opt.get_lnames()) {
    const std::string flag = "--" + name;
    for (const auto& a : argv) {
      if (a == flag || a.rfind(flag + "=", 0) == 0) {
        return true;
      }
    }
  }
  for (const auto& name : opt.get_snames()) {
    const std::string flag = "-" + name;
    for (const auto& a : argv) {
      if (a.rfind(flag, 0) == 0 && (a.size() == 2 || a[2] != '-')) {
        return true;
      }
    }
  }
  return false;
}

std::string normalise_key(std::string key) {
  for (auto& c : key) {
    if (c == '_') {
      c = '-';
    }
  }
  return key;
}

// An item's values as an error message shows them: quoted, or "<redacted>" for the token, which
// must never reach a terminal or a log.
std::string shown_values(const CLI::ConfigItem& item) {
  if (normalise_key(item.name) == "token") return "<redacted>";
  std::string shown;
  for (const auto& v : item.inputs) shown += (shown.empty() ? "'" : ", '") + v + "'";
  return shown;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

config_layers& active_config_layers() {
  static config_layers layers;
  return layers;
}

std::string env_name_for(const std::string& name) {
  std::string out = "XIMUP_";
  for (const char c : name) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

void add_env_names(CLI::App& cmd) {
  for (CLI::Option* opt : cmd.get_options()) {
    const std::string name = long_name(*opt);
    if (name.empty() || name == "help" || name == "version" || !opt->get_envname().empty()) {
      continue;
    }
    opt->envname(env_name_for(name));
  }
}

std::optional<std::string> find_config_file(const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    return explicit_path;
  }
  if (is_file("ximup.toml")) {
    return std::string("ximup.toml");
  }
  std::string dir;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') {
    dir = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    dir = std::string(home) + "/.config";
  }
  if (!dir.empty() && is_file(dir + "/ximup/config.toml")) {
    return dir + "/ximup/config.toml";
  }
  return std::nullopt;
}

std::string apply_config_file(const std::string& file, CLI::App& root, CLI::App& cmd,
                              const std::vector<std::string>& argv, config_layers& out) {
  out.file = file;
  for (const CLI::Option* opt : cmd.get_options()) {
    const std::string name = long_name(*opt);
    if (name.empty()) {
      continue;
    }
    if (opt->count() == 0) {
      out.sources[name] = value_source::defaults;
    } else {
      out.sources[name] = given_on_command_line(*opt, argv) ? value_source::flag : value_source::environment;
    }
  }
  if (file.empty()) {
    return "";
  }
  if (!is_file(file)) {
    return "config file '" + file + "' cannot be read (no such file, or not a regular file)";
  }
  if (std::string error = unterminated_string(file); !error.empty()) {
    return error;
  }
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(file);
  } catch (const std::exception& e) {
    return "config file '" + file + "': " + e.what();
  }
  // Which items set `cmd`'s options, in the order they apply: its own [cmd] table, the top level,
  // then (for the other commands) the [upload] table, so that `ximup status` finds the state and
  // the endpoint a config file gives uploads. The first value an option gets wins.
  std::vector<const CLI::ConfigItem*> own;
  std::vector<const CLI::ConfigItem*> top;
  std::vector<const CLI::ConfigItem*> from_upload;
  for (const auto& item : items) {
    if (item.name == "++" || item.name == "--") {
      continue;  // table open and close marks
    }
    const std::string key = normalise_key(item.name);
    const std::string shown = item.fullname();
    if (item.parents.size() > 1) {
      return fmt::format("config file '{}': unknown table for key '{}'", file, shown);
    }
    if (item.parents.size() == 1 && item.parents[0] != cmd.get_name()) {
      // Another command's table: known there or an error.
      CLI::App* other = nullptr;
      for (CLI::App* sub : root.get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name() == item.parents[0]) {
          other = sub;
        }
      }
      if (other == nullptr) {
        return fmt::format("config file '{}': unknown table [{}]", file, item.parents[0]);
      }
      if (find_long(*other, key) == nullptr) {
        return fmt::format("config file '{}': unknown key '{}'", file, shown);
      }
      if (item.parents[0] == "upload" && find_long(cmd, key) != nullptr) {
        from_upload.push_back(&item);
      }
      continue;
    }
    if (find_long(cmd, key) == nullptr) {
      bool known_elsewhere = false;
      for (CLI::App* sub : root.get_subcommands([](CLI::App*) { return true; })) {
        if (find_long(*sub, key) != nullptr) {
          known_elsewhere = true;
        }
      }
      if (known_elsewhere || key == "config") {
        continue;  // another command's option
      }
      return fmt::format(
          "config file '{}': unknown key '{}' (see `ximup {} --help` for the options; keys are their long "
          "names)",
          file, shown, cmd.get_name());
    }
    (item.parents.empty() ? top : own).push_back(&item);
  }
  // A key given twice in one table (TOML allows it once; appending an override to the end of the
  // file is the usual way in): the first would win without a word.
  const std::string own_table = "in [" + cmd.get_name() + "]";
  for (const auto& [items_of, where] :
       {std::pair{&top, std::string("at the top level")}, std::pair{&own, own_table},
        std::pair{&from_upload, std::string("in [upload]")}}) {
    for (std::size_t i = 0; i < items_of->size(); ++i) {
      for (std::size_t j = i + 1; j < items_of->size(); ++j) {
        const CLI::ConfigItem& a = *(*items_of)[i];
        const CLI::ConfigItem& b = *(*items_of)[j];
        if (normalise_key(a.name) == normalise_key(b.name)) {
          return fmt::format("config file '{}': '{}' is set twice {} ({}, then {}): keep one", file,
                             normalise_key(a.name), where, shown_values(a), shown_values(b));
        }
      }
    }
  }
  // One option set twice, at the top level and in the command's table, is a mistake whichever wins.
  for (const CLI::ConfigItem* t : top) {
    for (const CLI::ConfigItem* o : own) {
      if (normalise_key(t->name) == normalise_key(o->name) && t->inputs != o->inputs) {
        return fmt::format(
            "config file '{}': '{}' is set twice, at the top level ({}) and in [{}] ({}): keep one", file,
            normalise_key(t->name), shown_values(*t), cmd.get_name(), shown_values(*o));
      }
    }
  }
  std::vector<const CLI::ConfigItem*> ordered = own;
  ordered.insert(ordered.end(), top.begin(), top.end());
  ordered.insert(ordered.end(), from_upload.begin(), from_upload.end());
  for (const CLI::ConfigItem* item_ptr : ordered) {
    const CLI::ConfigItem& item = *item_ptr;
    const std::string key = normalise_key(item.name);
    const std::string shown = item.fullname();
    CLI::Option* opt = find_long(cmd, key);
    if (opt->count() > 0) {
      continue;  // a flag, the environment or a more specific place in the file already set it
    }
    std::vector<std::string> inputs = item.inputs;
    if (opt->get_expected_max() == 1 && inputs.size() > 1) {
      if (key == "ext") {
        // `ext = ["jpg", "png"]`, the natural TOML for a list: the flag's comma-separated form.
        std::string list;
        for (const auto& v : inputs) list += (list.empty() ? "" : ",") + v;
        inputs = {list};
      } else {
        return fmt::format(
            "config file '{}': key '{}' takes one value, not {} ({}): set it once, and quote a string with "
            "spaces",
            file, shown, inputs.size(), shown_values(item));
      }
    }
    try {
      if (opt->get_expected_min() == 0) {
        opt->add_result(opt->get_flag_value(key, CLI::ConfigTOML().to_flag(item)));
      } else {
        opt->add_result(inputs);
      }
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return fmt::format("config file '{}': key '{}': {}", file, shown, e.what());
    }
    std::string joined;
    for (const auto& v : inputs) {
      if (!joined.empty()) joined += ", ";
      joined += v;
    }
    out.sources[key] = value_source::file;
    out.file_values[key] = joined;
  }
  return "";
}

std::string explain_env_error(const CLI::App& cmd, const std::string& message,
                              const std::vector<std::string>& argv) {
  for (const CLI::Option* opt : cmd.get_options()) {
    const std::string name = long_name(*opt);
    if (name.empty() || opt->get_envname().empty()) {
      continue;
    }
    if (message.find("--" + name) == std::string::npos && message.find(name + ":") == std::string::npos) {
      continue;
    }
    if (std::getenv(opt->get_envname().c_str()) != nullptr && !given_on_command_line(*opt, argv)) {
      return " (the value came from the environment variable " + opt->get_envname() + ")";
    }
  }
  return "";
}

std::string explain_other_commands_options(const CLI::App& root, const CLI::App& cmd,
                                           const std::vector<std::string>& argv) {
  // Each such option with the command it belongs to: `upload` when it has it (a pasted upload
  // command line is the common case), else the first command that does.
  std::vector<std::pair<std::string, std::string>> found;
  const auto subcommands = root.get_subcommands([](const CLI::App*) { return true; });
  for (const std::string& arg : argv) {
    if (arg == "--") break;
    if (!arg.starts_with("--") || arg.size() == 2) continue;
    const std::string name = arg.substr(2, arg.find('=') - 2);
    if (find_long(cmd, name) != nullptr ||
        std::any_of(found.begin(), found.end(), [&](const auto& f) { return f.first == "--" + name; })) {
      continue;
    }
    std::string owner;
    for (const CLI::App* other : subcommands) {
      if (other == &cmd || find_long(*other, name) == nullptr) continue;
      if (owner.empty() || other->get_name() == "upload") owner = other->get_name();
    }
    if (!owner.empty()) found.emplace_back("--" + name, owner);
  }
  if (found.empty()) return "";
  const bool one_owner =
      std::all_of(found.begin(), found.end(), [&](const auto& f) { return f.second == found[0].second; });
  std::string list;
  for (std::size_t i = 0; i < found.size(); ++i) {
    list += i == 0 ? "" : i + 1 == found.size() ? " and " : ", ";
    list += found[i].first + (one_owner ? "" : " (`" + found[i].second + "`)");
  }
  const bool several = found.size() > 1;
  return " (" + list + (several ? " are options of " : " is an option of ") +
         (one_owner ? "`" + found[0].second + "`" : std::string("other commands")) + ", not of `" +
         cmd.get_name() + "`: leave " + (several ? "them" : "it") + " out; `ximup " + cmd.get_name() +
         " --help` lists what it takes)";
}

std::string print_config(const CLI::App& cmd, const config_layers& layers,
                         const std::vector<std::string>& secret) {
  std::ostringstream out;
  out << "# effective options of `ximup " << cmd.get_name() << "` (flags > XIMUP_* environment > "
      << (layers.file.empty() ? std::string("config file (none read)") : "config file " + layers.file)
      << " > defaults)\n";
  for (const CLI::Option* opt : cmd.get_options()) {
    const std::string name = long_name(*opt);
    if (name.empty() || name == "help" || name == "print-config") {
      continue;
    }
    const auto it = layers.sources.find(name);
    const value_source src = it == layers.sources.end() ? value_source::defaults : it->second;
    std::string value;
    if (opt->count() > 0) {
      const auto results = opt->results();
      if (results.size() == 1) {
        value = quote(results.front());
      } else {
        value = "[";
        for (std::size_t i = 0; i < results.size(); ++i) {
          value += (i ? ", " : "") + quote(results[i]);
        }
        value += "]";
      }
    } else {
      value = quote(opt->get_expected_min() == 0 && opt->get_default_str().empty() ? std::string("false")
                                                                                   : opt->get_default_str());
    }
    for (const auto& s : secret) {
      if (s == name && opt->count() > 0) {
        value = "\"<redacted>\"";
      }
    }
    const char* from = src == value_source::flag          ? "flag"
                       : src == value_source::environment ? "environment"
                       : src == value_source::file        ? "config file"
                                                          : "default";
    out << name << " = " << value << "  # " << from;
    if (src == value_source::environment) {
      out << " " << opt->get_envname();
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace ximup::cli
