// `ximup upload`: options -> upload_options, signal handling, summary, exit code.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "config_layers.hpp"
#include "endpoint_flags.hpp"
#include "exit_codes.hpp"
#include "output_files.hpp"
#include "summary_report.hpp"
#include "ximup/cpu_count.hpp"
#include "ximup/json_escape.hpp"
#include "ximup/log_format.hpp"
#include "ximup/manifest.hpp"
#include "ximup/metrics.hpp"
#include "ximup/metrics_server.hpp"
#include "ximup/pipeline.hpp"
#include "ximup/progress.hpp"
#include "ximup/resize.hpp"
#include "ximup/shard.hpp"
#include "ximup/summary_json.hpp"
#include "ximup/token.hpp"
#include "ximup/units.hpp"

namespace ximup::cli {
namespace {

// Everything the upload subcommand reads from the command line, as typed.
struct upload_flags {
  std::vector<std::string> inputs;
  endpoint_flags target;
  std::string token;
  std::string token_file;
  std::string auth_scheme = "auto";
  std::string results = "results.jsonl";
  std::size_t workers = usable_cpus();
  std::size_t connections = 8;
  // Two, so that one connection's TLS work (encryption and the kernel's send path, most of a
  // run's CPU) does not wait for another's: bench/upload.sh, README "Benchmarks".
  std::size_t io_threads = std::min(2U, usable_cpus());
  std::size_t batch_size = 10;
  std::string max_body_bytes = "32MiB";
  std::string max_inflight = "256MiB";
  std::string max_response_bytes = "64MiB";
  std::string ext;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool follow_symlinks = false;
  std::string cacert;
  bool insecure = false;
  std::string tls13_ciphers = default_tls13_ciphers;
  std::string connect_timeout = "10s";
  std::string handshake_timeout = "10s";
  std::string write_timeout = "120s";
  std::string first_byte_timeout = "120s";
  std::string response_timeout = "120s";
  double rate = 0;
  bool no_adaptive = false;
  int retries = 5;
  std::string retry_base = "500ms";
  std::string retry_max = "30s";
  std::string log_level = "info";
  bool no_preflight = false;
  std::string state;  ///< default: ximup-state.sqlite beside the results file
  bool no_state = false;
  bool retry_failed = false;
  bool force = false;
  bool checksum = false;
  std::string drain_timeout = "30s";
  // inputs beyond directories
  std::string manifest;
  std::string manifest_format;
  std::string files_from;
  bool null_separated = false;
  // limits and planning
  std::uint64_t max_files = 0;
  std::string max_bytes = "0";
  std::string max_duration = "0s";
  std::string min_age = "0s";
  bool dry_run = false;
  // output
  std::string log_format = "text";
  std::string log_file;
  bool quiet = false;
  std::string progress = "auto";
  std::string stats_interval = "30s";
  std::string summary_json;
  bool print_config = false;
  // scale-out
  std::string shard;
  std::uint32_t shard_count = 0;
  std::string metrics_listen;
  std::string metrics_linger = "0s";
  // shrink before sending
  std::string resize = "0";  ///< N, or auto: the preset's suggestion
  std::string resize_side = "shorter";
  std::string resize_min_bytes = "100KiB";
  int jpeg_quality = 90;
  bool no_jpeg_optimize = false;
  std::string chroma = "auto";
};

// Before a range check, which calls "abc" out of range: a count must be written as one.
CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const std::size_t start = !value.empty() && value.front() == '-' ? 1 : 0;
        const bool digits = value.size() > start &&
                            std::all_of(value.begin() + static_cast<std::ptrdiff_t>(start), value.end(),
                                        [](unsigned char c) { return std::isdigit(c) != 0; });
        return digits ? std::string() : "'" + value + "' is not a whole number";
      },
      "");
}

// The state file's default place: beside the results file; a shard has its own.
std::string default_state_path(const std::string& results, const std::optional<shard_spec>& shard) {
  std::string name = shard ? "ximup-state.shard-" + std::to_string(shard->index) + "-of-" +
                                 std::to_string(shard->count) + ".sqlite"
                           : std::string("ximup-state.sqlite");
  const auto slash = results.rfind('/');
  if (results == "-" || slash == std::string::npos) return name;
  return results.substr(0, slash + 1) + name;
}

struct usage_error {
  std::string message;
};

// An option as a message names it: where its value came from when that was not the command line
// ("--max-inflight (XIMUP_MAX_INFLIGHT)", "--rate (key rate in the config file 'x.toml')"), so that
// a bad value is found where it was written.
std::string origin_of(const std::string& flag) {
  const std::string name = flag.starts_with("--") ? flag.substr(2) : flag;
  const auto& layers = active_config_layers();
  const auto it = layers.sources.find(name);
  if (it == layers.sources.end()) return flag;
  switch (it->second) {
    case value_source::environment:
      return flag + " (" + env_name_for(name) + ")";
    case value_source::file:
      return flag + " (key " + name + " in the config file '" + layers.file + "')";
    default:
      return flag;
  }
}

std::uint64_t size_flag(const std::string& name, const std::string& value) {
  auto v = parse_size(value);
  if (!v || *v == 0) {
    throw usage_error{origin_of(name) + ": '" + value + "' is not a size (e.g. 256MiB, 10MB, 4096)"};
  }
  return *v;
}

std::chrono::milliseconds duration_flag(const std::string& name, const std::string& value) {
  auto v = parse_duration(value);
  if (!v) throw usage_error{origin_of(name) + ": '" + value + "' is not a duration (e.g. 10s, 500ms, 2m)"};
  return *v;
}

// A duration that must be positive: a timeout of 0 would fail every request at once, a stats
// interval of 0 would print without end.
std::chrono::milliseconds timeout_flag(const std::string& name, const std::string& value) {
  const auto v = duration_flag(name, value);
  if (v.count() <= 0) throw usage_error{origin_of(name) + ": '" + value + "' must be more than 0 (e.g. 10s)"};
  return v;
}

// The files a run writes must be distinct, and the results file must not overwrite something that
// is not a results file (an image given by mistake, a document): both would lose data silently.
void check_output_paths(const upload_flags& f, const std::optional<std::string>& state_path) {
  namespace fs = std::filesystem;
  // stdout holds the results: a summary there would be one more line that is not a result, and a
  // dry run's plan goes to stdout too.
  if (f.summary_json == "-" && f.dry_run) {
    throw usage_error{
        "--summary-json - and --dry-run both write to stdout (the plan): give the summary a file"};
  }
  if (f.results == "-" && f.summary_json == "-") {
    throw usage_error{"--results - and --summary-json - both write to stdout: give one of them a file"};
  }
  std::vector<std::pair<std::string, std::string>> outputs;  // flag, path
  if (f.results != "-") outputs.emplace_back("--results", f.results);
  if (state_path) outputs.emplace_back("--state", *state_path);
  if (!f.summary_json.empty() && f.summary_json != "-")
    outputs.emplace_back("--summary-json", f.summary_json);
  if (!f.log_file.empty()) outputs.emplace_back("--log-file", f.log_file);
  // One file under two names: the same path once resolved, or (hard links, symlinks) the same inode.
  const auto same_file = [](const std::string& a, const std::string& b) {
    std::error_code ec;
    return resolved_path(a) == resolved_path(b) || fs::equivalent(a, b, ec);
  };
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    for (std::size_t j = i + 1; j < outputs.size(); ++j) {
      if (same_file(outputs[i].second, outputs[j].second)) {
        throw usage_error{outputs[i].first + " and " + outputs[j].first + " name the same file ('" +
                          outputs[i].second + "'): give each its own"};
      }
    }
  }
  // A list of inputs that is also an output is read while it is written: an earlier results file
  // given back as --manifest grew by a failed line for each line it read, without end, and with
  // --no-state it was emptied before it was read.
  for (const auto& [flag, list] :
       {std::pair{"--manifest", f.manifest}, std::pair{"--files-from", f.files_from}}) {
    if (list.empty() || list == "-") continue;
    for (const auto& [out_flag, out_path] : outputs) {
      if (same_file(list, out_path)) {
        throw usage_error{fmt::format(
            "{} and {} name the same file ('{}'): ximup would write to the list while it reads it; copy "
            "the list to another file and give the copy",
            flag, out_flag, list)};
      }
    }
  }
  // The summary is written at the end: a directory that is not there would only show after the
  // whole upload. The results file's directory is checked before the state's, which is beside it by
  // default (a missing results directory was reported as a state file that cannot be written, and
  // the advice, --no-state, only led to the next error).
  for (const auto& [flag, path] :
       {std::pair{"--results", f.results}, std::pair{"--summary-json", f.summary_json}}) {
    if (path.empty() || path == "-") continue;
    std::error_code dir_error;
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, dir_error)) {
      throw usage_error{origin_of(flag) + " '" + path + "': the directory '" + parent.string() +
                        "' does not exist (create it, or give a path in an existing directory)"};
    }
  }
  // The summary replaces what the file held: only an earlier summary may be written over.
  if (!f.summary_json.empty() && f.summary_json != "-") {
    if (const file_content held = content_of(f.summary_json);
        held != file_content::none && held != file_content::summary) {
      throw usage_error{origin_of("--summary-json") + " '" + f.summary_json +
                        "' exists and is not an earlier summary: ximup will not write over it; choose "
                        "another --summary-json path"};
    }
  }
  if (f.results == "-") return;
  const file_content held = content_of(f.results);
  if (held != file_content::none && held != file_content::results) {
    throw usage_error{"--results '" + f.results +
                      "' exists and is not a results file (JSON lines): ximup will not write over it; "
                      "choose another --results path"};
  }
}

// 0 when `path` opens for reading (a directory as one), else the errno. A FIFO is not opened: the
// open would let a writer already waiting on it in, and the close would leave that writer with no
// reader (SIGPIPE), and the run's own open later waiting forever for a writer.
int can_open(const std::string& path, bool directory) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode))
    return ::access(path.c_str(), R_OK) == 0 ? 0 : errno;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    while (!item.empty() && item.front() == '.') item.erase(0, 1);
    for (auto& c : item) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The roots to walk, each once: `t1 ./t1` would send every file twice. A root inside another
// (`photos photos/2024`) would too; that is a usage error, since which one was meant is unclear.
std::vector<std::string> distinct_roots(const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::vector<std::string> roots;
  std::vector<fs::path> resolved;
  for (const auto& input : inputs) {
    fs::path real = resolved_path(input);
    if (std::find(resolved.begin(), resolved.end(), real) != resolved.end()) {
      spdlog::warn("{} is given twice (or under two names): walked once", json_string(input));
      continue;
    }
    for (std::size_t i = 0; i < resolved.size(); ++i) {
      const auto inside = [](const fs::path& inner, const fs::path& outer) {
        const auto rel = inner.lexically_relative(outer);
        return !rel.empty() && *rel.begin() != "..";
      };
      if (inside(real, resolved[i]) || inside(resolved[i], real)) {
        throw usage_error{
            "'" + input + "' and '" + roots[i] +
            "' overlap (one is inside the other): its files would be sent twice; give one of them"};
      }
    }
    resolved.push_back(std::move(real));
    roots.push_back(input);
  }
  return roots;
}

void set_inputs(const upload_flags& f, input_options& in) {
  const int sources = static_cast<int>(!f.inputs.empty()) + static_cast<int>(!f.manifest.empty()) +
                      static_cast<int>(!f.files_from.empty());
  if (sources == 0)
    throw usage_error{"nothing to upload: give directories, --manifest FILE or --files-from FILE"};
  if (sources > 1) throw usage_error{"give directories, --manifest or --files-from, not several of them"};
  if (f.null_separated && f.files_from.empty()) throw usage_error{"-0/--null goes with --files-from"};
  if (!f.manifest_format.empty() && f.manifest.empty())
    throw usage_error{"--manifest-format goes with --manifest"};
  in.roots = distinct_roots(f.inputs);
  if (!f.manifest.empty()) {
    in.kind = input_kind::manifest;
    in.list_path = f.manifest;
    in.manifest_format = f.manifest_format;
    // Checked here, before the connection check, as the usage error it is (the reader would find it
    // only when the run starts).
    if (f.manifest_format.empty() ? !manifest_format_from_path(f.manifest)
                                  : !parse_manifest_format(f.manifest_format))
      throw usage_error{f.manifest_format.empty()
                            ? "cannot tell the format of manifest '" + f.manifest +
                                  "' from its name: give --manifest-format jsonl or csv"
                            : "--manifest-format: '" + f.manifest_format + "' is not jsonl or csv"};
  } else if (!f.files_from.empty()) {
    in.kind = input_kind::files_from;
    in.list_path = f.files_from;
    in.nul_separated = f.null_separated;
  }
  if (!f.ext.empty()) in.scan.extensions = split_list(f.ext);
  try {
    for (const auto& g : f.include) in.scan.filter.include.emplace_back(g);
    for (const auto& g : f.exclude) in.scan.filter.exclude.emplace_back(g);
  } catch (const std::invalid_argument& e) {
    throw usage_error{e.what()};
  }
  in.scan.follow_symlinks = f.follow_symlinks;
}

// --shard I/N, or --shard-count N with the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs).
std::optional<shard_spec> shard_option(const upload_flags& f) {
  if (!f.shard.empty() && f.shard_count > 0)
    throw usage_error{"give --shard I/N or --shard-count N, not both"};
  shard_parse_result r;
  if (!f.shard.empty()) {
    r = parse_shard(f.shard);
  } else if (f.shard_count > 0) {
    const char* index = std::getenv("JOB_COMPLETION_INDEX");
    r = shard_from_env(index == nullptr ? std::nullopt : std::optional<std::string>(index), f.shard_count);
  } else {
    return std::nullopt;
  }
  if (!r) throw usage_error{(f.shard.empty() ? "--shard-count: " : "--shard: ") + r.error};
  return r.spec->count > 1 ? r.spec : std::nullopt;
}

// --resize N, or auto: what the official client uses for the preset (600 px; 512 for recognition
// and search; 1024 for detection). A full URL has no preset to ask, so auto is an error there.
std::uint32_t resize_target(const std::string& value, const std::string& endpoint) {
  if (value == "auto") {
    if (const preset* p = find_preset(endpoint); p != nullptr) return p->suggested_resize;
    throw usage_error{
        "--resize auto takes its size from a preset (see `ximup presets`); with a URL endpoint "
        "give a size, e.g. --resize 600"};
  }
  std::uint32_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc{} || end != value.data() + value.size() || n > 65535) {
    throw usage_error{origin_of("--resize") +
                      " must be a size in pixels (0 for off, at most 65535) or auto, not '" + value + "'"};
  }
  return n;
}

// The API token from its sources, which follow the layers' order, flag > environment > config file,
// as every other option does; within a layer --token before --token-file, and XIMILAR_API_TOKEN
// after XIMUP_TOKEN and XIMUP_TOKEN_FILE. (Not load_token's fixed order of kinds: a token key in an
// old config file must not beat the --token-file the user typed.) Its warning is the caller's to log.
token_result effective_token(const upload_flags& f) {
  const auto& layers = active_config_layers();
  const auto layer_of = [&layers](const char* option) {  // (set but not recorded: given by the caller)
    const auto it = layers.sources.find(option);
    return it == layers.sources.end() ? value_source::flag : it->second;
  };
  const value_source token_layer = f.token.empty() ? value_source::defaults : layer_of("token");
  const value_source file_layer = f.token_file.empty() ? value_source::defaults : layer_of("token-file");
  const char* env_token = std::getenv("XIMILAR_API_TOKEN");
  token_sources ts;
  for (const value_source layer : {value_source::flag, value_source::environment, value_source::file}) {
    if (token_layer == layer) {
      ts.flag = f.token;
    } else if (file_layer == layer) {
      ts.file = f.token_file;
    } else if (layer == value_source::environment && env_token != nullptr) {
      ts.env = std::string(env_token);
    } else {
      continue;
    }
    break;
  }
  auto token = load_token(ts);
  if (ts.flag && token_layer != value_source::flag) token.warning.clear();  // not on the command line
  if (token_layer == value_source::file) {  // warned about whether or not another source beats it
    if (ts.flag) token.origin = "the config file '" + layers.file + "' (key token)";
    struct stat st {};
    if (::stat(layers.file.c_str(), &st) == 0 && (st.st_mode & 077U) != 0) {
      token.warning = "the config file '" + layers.file +
                      "' holds the API token and other users may read it: chmod 600 it, or use "
                      "--token-file or XIMILAR_API_TOKEN";
    }
  } else if (ts.flag && token_layer == value_source::environment) {
    token.origin = "XIMUP_TOKEN";
  }
  if (ts.file && file_layer != value_source::flag && !token.token) {
    token.error += file_layer == value_source::file
                       ? " (key token-file in the config file '" + layers.file + "')"
                       : std::string(" (from XIMUP_TOKEN_FILE)");
  }
  return token;
}

// The state file the flags name (nullopt: --no-state); a usage error for flags that contradict.
std::optional<std::string> state_path_of(const upload_flags& f) {
  if (static_cast<int>(f.retry_failed) + static_cast<int>(f.force) + static_cast<int>(f.checksum) > 1) {
    throw usage_error{"--retry-failed, --force and --checksum exclude each other"};
  }
  if (f.no_state && (f.retry_failed || f.force || f.checksum || !f.state.empty())) {
    throw usage_error{origin_of("--no-state") +
                      " cannot be combined with --state, --retry-failed, --force or "
                      "--checksum"};
  }
  if (f.no_state) return std::nullopt;
  return f.state.empty() ? default_state_path(f.results, shard_option(f)) : f.state;
}

// The log file must be none of the run's other outputs, and is appended to: never to a state file or
// a run's results (a log line there breaks every later run, or every reader of the JSON lines).
void check_log_file(const upload_flags& f) {
  if (f.log_file.empty()) return;
  std::optional<std::string> state;
  try {
    state = state_path_of(f);
  } catch (const usage_error&) {
    // (contradicting flags: reported once the log file is open)
  }
  const auto log = resolved_path(f.log_file);
  for (const auto& [flag, path] :
       {std::pair{"--results", f.results}, std::pair{"--summary-json", f.summary_json},
        std::pair{"--state", state.value_or("")}}) {
    if (!path.empty() && path != "-" && resolved_path(path) == log) {
      throw usage_error{std::string(flag) + " and --log-file name the same file ('" + path +
                        "'): give each its own"};
    }
  }
  const file_content held = content_of(f.log_file);
  if (held == file_content::state || held == file_content::results || held == file_content::summary ||
      held == file_content::binary) {
    const char* what = held == file_content::state     ? "a state file (SQLite)"
                       : held == file_content::results ? "a results file"
                       : held == file_content::summary ? "a run's summary (JSON)"
                                                       : "not a text file (an image?)";
    throw usage_error{origin_of("--log-file") + " '" + f.log_file + "' is " + what +
                      ": ximup will not append log lines to it; choose another --log-file path"};
  }
}

upload_options build_options(const upload_flags& f) {
  upload_options o;
  set_inputs(f, o.input);
  o.shard = shard_option(f);
  o.limits_run.max_files = f.max_files;
  if (f.max_bytes != "0") o.limits_run.max_bytes = size_flag("--max-bytes", f.max_bytes);
  o.limits_run.max_duration = duration_flag("--max-duration", f.max_duration);
  o.min_age = duration_flag("--min-age", f.min_age);
  o.dry_run = f.dry_run;
  if (std::string bad; !f.metrics_listen.empty() && !parse_listen_address(f.metrics_listen, bad)) {
    // Only the spelling: the address is bound when the real run starts.
    throw usage_error{origin_of("--metrics-listen") + ": " + bad};
  }
  o.resize.target = resize_target(f.resize, f.target.endpoint);
  o.resize.side = f.resize_side == "longer" ? resize_side::longer : resize_side::shorter;
  o.resize.min_bytes = f.resize_min_bytes == "0" ? 0 : size_flag("--resize-min-bytes", f.resize_min_bytes);
  if (f.jpeg_quality < 1 || f.jpeg_quality > 100)
    throw usage_error{origin_of("--jpeg-quality") + " must be 1..100"};
  o.resize.jpeg_quality = f.jpeg_quality;
  o.resize.optimize_coding = !f.no_jpeg_optimize;
  o.resize.chroma = f.chroma == "444"   ? jpeg_chroma::full
                    : f.chroma == "420" ? jpeg_chroma::half
                                        : jpeg_chroma::automatic;
  if (o.resize.target > 0) {
    if (auto error = resize_init()) throw usage_error{"--resize: " + *error};
  }
  if (f.batch_size == 0) throw usage_error{"--batch-size must be at least 1"};
  if (f.batch_size > 10)
    spdlog::warn("--batch-size {} is above the API's documented limit of 10 records", f.batch_size);
  o.limits.max_records = f.batch_size;
  o.limits.max_body_bytes = size_flag("--max-body-bytes", f.max_body_bytes);
  o.max_inflight = size_flag("--max-inflight", f.max_inflight);
  if (o.max_inflight < 2 * o.limits.max_body_bytes) {
    throw usage_error{origin_of("--max-inflight") + " '" + f.max_inflight + "' must be at least twice " +
                      origin_of("--max-body-bytes") + " '" + f.max_body_bytes + "'"};
  }
  o.workers = std::max<std::size_t>(1, f.workers);
  o.results_path = f.results;
  o.preflight = !f.no_preflight;
  o.state_path = state_path_of(f);
  check_output_paths(f, o.state_path);
  o.mode = f.retry_failed ? run_mode::retry_failed
           : f.force      ? run_mode::force
           : f.checksum   ? run_mode::checksum
                          : run_mode::normal;
  o.drain_timeout = duration_flag("--drain-timeout", f.drain_timeout);
  o.command_summary = "upload " + f.target.endpoint;
  for (const auto& in : f.inputs) o.command_summary += " " + in;
  if (!f.manifest.empty()) o.command_summary += " --manifest " + f.manifest;
  if (!f.files_from.empty()) o.command_summary += " --files-from " + f.files_from;

  auto ep = f.target.resolve();
  if (!ep.value) throw usage_error{ep.error};

  auto token = effective_token(f);
  if (!token.token && f.dry_run) {
    // Nothing is sent, but a dry run of a cron job's command should show what the real run would meet.
    spdlog::warn("{} (a dry run sends nothing; the real run would stop here, exit 2)", token.error);
    token.token = std::string("dry-run");
  }
  if (!token.token) throw usage_error{token.error};
  if (!token.warning.empty()) spdlog::warn("{}", token.warning);
  o.token_origin = token.origin;
  const auth_scheme scheme = f.auth_scheme == "token" ? auth_scheme::token
                             : f.auth_scheme == "jwt" ? auth_scheme::jwt
                                                      : auth_scheme::auto_detect;

  auto& s = o.sender;
  s.target = std::move(*ep.value);
  s.authorization = authorization_value(*token.token, scheme);
  s.user_agent = std::string("ximup/") + XIMUP_VERSION;
  s.connections = std::max<std::size_t>(1, f.connections);
  s.io_threads = std::max<std::size_t>(1, f.io_threads);
  // One request waiting per connection keeps them busy; more would only hold memory (peak RSS).
  s.queue_capacity = std::max<std::size_t>(2, s.connections);
  s.connect_timeout = timeout_flag("--connect-timeout", f.connect_timeout);
  s.handshake_timeout = timeout_flag("--handshake-timeout", f.handshake_timeout);
  s.write_timeout = timeout_flag("--write-timeout", f.write_timeout);
  s.first_byte_timeout = timeout_flag("--first-byte-timeout", f.first_byte_timeout);
  s.response_timeout = timeout_flag("--response-timeout", f.response_timeout);
  if (!std::isfinite(f.rate) || f.rate < 0)
    throw usage_error{origin_of("--rate") + " must be a number of requests per second, 0 or more"};
  s.flow.max_concurrency = s.connections;
  s.flow.adaptive = !f.no_adaptive;
  if (f.rate > 0) s.flow.fixed_rate = f.rate;
  if (!f.cacert.empty()) s.cacert = f.cacert;
  s.insecure_skip_verify = f.insecure;
  if (auto bad = check_tls13_ciphers(f.tls13_ciphers); !bad.empty())
    throw usage_error{origin_of("--tls13-ciphers") + ": " + bad};
  s.tls13_ciphers = f.tls13_ciphers;
  s.max_response_bytes = size_flag("--max-response-bytes", f.max_response_bytes);
  if (f.insecure) spdlog::warn("--insecure-skip-tls-verify: the server's certificate is NOT checked");

  if (f.retries < 0) throw usage_error{origin_of("--retries") + " must be 0 or more"};
  o.retry.max_retries = f.retries;
  o.retry.base = duration_flag("--retry-base", f.retry_base);
  o.retry.max = duration_flag("--retry-max", f.retry_max);
  if (o.retry.base.count() <= 0 || o.retry.base > o.retry.max) {
    throw usage_error{origin_of("--retry-base") + " '" + f.retry_base + "' must be more than 0 and at most " +
                      origin_of("--retry-max") + " '" + f.retry_max + "'"};
  }
  o.sender.flow.longest_hold = std::min(o.sender.flow.longest_hold, o.retry.max * 10);
  return o;
}

const char* signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM";
}

// Blocks SIGINT/SIGTERM/SIGHUP in every thread and handles them on one: the first asks the pipeline
// to stop, a second exits at once. (SIGHUP, from a terminal or SSH session that closed under a run,
// drains like the others instead of killing the run without its summary.) The watcher waits without a
// timeout; the destructor wakes it with SIGRTMIN sent to that thread alone (also blocked everywhere; one from
// outside is ignored).
class signal_watch {
 public:
  signal_watch() {
    sigemptyset(&set_);
    // A signal the process was started with ignored (`nohup` ignores SIGHUP, a shell's `cmd &`
    // SIGINT) stays ignored: blocked and waited for, it would be taken anyway (Linux queues a blocked
    // signal whatever its disposition), and `nohup ximup upload ... &` would stop at logout.
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction current {};
      if (::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
      sigaddset(&set_, sig);
    }
    sigaddset(&set_, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  /// `with_state`: the run keeps a state file (what a second signal's message can promise).
  void watch(upload_pipeline& pipeline, bool with_state) {
    with_state_ = with_state;
    thread_ = std::thread([this, &pipeline] {
      int seen = 0;
      for (;;) {
        const int sig = sigwaitinfo(&set_, nullptr);
        if (done_.load()) break;  // woken by the destructor
        if (sig <= 0 || sig == SIGRTMIN) continue;
        std::unique_lock stop_lock(stop_mutex_);  // run_over() waits for a stop in progress
        if (++seen == 1 && run_over_.load()) {
          signalled_.store(true);  // the run is over: only the metrics linger is cut short
        } else if (seen == 1) {
          signalled_.store(true);
          spdlog::warn(
              "received {}: finishing requests in flight, sending nothing new (signal again to quit at once)",
              signal_name(sig));
          pipeline.request_stop(sig);
        } else {
          spdlog::error(
              "received {} again: quitting at once; requests still in flight get no result line{}, and there "
              "is no summary",
              signal_name(sig),
              with_state_ ? " (the state keeps their inputs pending: the next run sends them again)" : "");
          pipeline.flush_results_for_exit();  // whole lines only, so the file stays readable
          std::_Exit(128 + sig);
        }
      }
    });
  }
  [[nodiscard]] bool signalled() const noexcept { return signalled_.load(); }
  /// After run() returned, a signal no longer asks the pipeline to stop; returns once a stop that
  /// was being requested has been (so nothing touches the run's state after this).
  void run_over() noexcept {
    std::lock_guard lock(stop_mutex_);
    run_over_.store(true);
  }
  ~signal_watch() {
    // (The watcher used to poll every 200 ms, which added up to 0.2 s to every run's exit.)
    done_.store(true);
    if (thread_.joinable()) {
      pthread_kill(thread_.native_handle(), SIGRTMIN);
      thread_.join();
    }
  }
  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

 private:
  sigset_t set_{};
  bool with_state_ = false;  // set before the watcher starts
  std::atomic<bool> done_{false};
  std::atomic<bool> signalled_{false};
  std::atomic<bool> run_over_{false};
  std::mutex stop_mutex_;
  std::thread thread_;
};

int exit_code_for(const run_summary& s) {
  switch (s.stopped) {
    case run_stop::auth:
      return exit_code::auth;
    case run_stop::unreachable:
      return exit_code::transient;
    case run_stop::tls_untrusted:
    case run_stop::endpoint:
      return exit_code::usage;
    case run_stop::io_error:
    case run_stop::state_error:
      return exit_code::io_error;
    case run_stop::locked:
      return exit_code::locked;
    case run_stop::input_error:
      return exit_code::input_not_found;
    case run_stop::interrupted:
      return s.stop_signal == SIGINT   ? exit_code::interrupted_int
             : s.stop_signal == SIGHUP ? exit_code::interrupted_hup
                                       : exit_code::interrupted_term;
    case run_stop::none:
      break;
  }
  if (s.files_failed > s.files_failed_retryable) return exit_code::failed;
  if (s.files_failed_retryable > 0) return exit_code::transient;
  return exit_code::ok;
}

// What a dry run found, on stdout (it is the command's output, not a log).
void print_plan(const run_summary& s) {
  std::printf("dry run: nothing was sent\n");
  if (s.stopped != run_stop::none) std::printf("stopped:      %s\n", s.stop_message.c_str());
  std::printf("would send:   %llu inputs, %s, in %llu requests\n",
              static_cast<unsigned long long>(s.planned_files), format_size(s.planned_bytes).c_str(),
              static_cast<unsigned long long>(s.planned_requests));
  std::printf(
      "would skip:   %llu unchanged since they succeeded, %llu failed before and unchanged, %llu left alone "
      "by --retry-failed\n",
      static_cast<unsigned long long>(s.skipped_unchanged), static_cast<unsigned long long>(s.skipped_failed),
      static_cast<unsigned long long>(s.skipped_other));
  if (s.skipped_duplicate > 0) {
    std::printf("listed again: %llu inputs the list names more than once (sent once)\n",
                static_cast<unsigned long long>(s.skipped_duplicate));
  }
  if (s.skipped_too_new > 0) {
    std::printf("too new:      %llu files modified within --min-age, left for a later run\n",
                static_cast<unsigned long long>(s.skipped_too_new));
  }
  std::printf(
      "filtered out: %llu files (extension or glob), %llu symbolic links not followed, %llu not "
      "regular files\n",
      static_cast<unsigned long long>(s.scan_skipped), static_cast<unsigned long long>(s.links_not_followed),
      static_cast<unsigned long long>(s.not_regular));
  if (s.shard_skipped > 0) {
    std::printf("other shards: %llu inputs\n", static_cast<unsigned long long>(s.shard_skipped));
  }
  std::printf("errors:       %llu inputs that cannot be read or listed\n",
              static_cast<unsigned long long>(s.scan_errors));
  if (!s.limit_reached.empty())
    std::printf("limit:        %s reached: later inputs not planned\n", s.limit_reached.c_str());
  std::fflush(stdout);
}

progress_snapshot snapshot_of(const upload_pipeline& pipeline,
                              std::chrono::steady_clock::time_point started) {
  const live_stats l = pipeline.live();
  progress_snapshot p;
  p.files_done = l.files_done;
  p.files_failed = l.files_failed;
  if (l.scan_done) p.files_total = l.files_planned;
  p.files_seen_so_far = l.files_planned;
  p.bytes_done = l.bytes_done;
  p.requests_in_flight = l.requests_in_flight;
  p.retries = l.retries;
  p.elapsed = std::chrono::steady_clock::now() - started;
  return p;
}

// /healthz and ximup_run_healthy: not stopped on an error. A signal's drain (a pod eviction, a node
// drain) is the shutdown working as meant: a probe or alert must not count it as a failure.
bool is_healthy(const run_summary& s) {
  return s.stopped == run_stop::none || s.stopped == run_stop::interrupted;
}

// What /metrics shows: the run's counters now.
metrics_snapshot metrics_of(const upload_pipeline& pipeline, const std::optional<shard_spec>& shard) {
  const run_summary s = pipeline.summary_so_far();
  const live_stats l = pipeline.live();
  metrics_snapshot m;
  m.running = true;
  m.healthy = is_healthy(s);
  m.elapsed_seconds = s.elapsed_seconds;
  m.shard = shard;
  m.images_ok = s.files_ok;
  m.images_failed = s.files_failed;
  m.image_bytes_ok = s.bytes_ok;
  m.image_bytes_failed = s.bytes_failed;
  m.skipped_by_reason = {{"filtered", s.scan_skipped},        {"unchanged", s.skipped_unchanged},
                         {"failed_before", s.skipped_failed}, {"not_selected", s.skipped_other},
                         {"too_new", s.skipped_too_new},      {"listed_again", s.skipped_duplicate},
                         {"other_shard", s.shard_skipped}};
  m.requests_by_status = s.responses_by_status;
  std::uint64_t answered = 0;
  for (const auto& [status, n] : s.responses_by_status) answered += n;
  if (l.sends > answered + l.requests_in_flight)
    m.requests_by_status[0] = l.sends - answered - l.requests_in_flight;
  m.retries_by_reason = s.retries_by_reason;
  m.request_bytes = l.bytes_sent;
  m.connections_opened = l.connections_opened;
  m.throttles = l.flow.throttles;
  m.requests_in_flight = l.requests_in_flight;
  m.concurrency_limit = l.concurrency_limit;
  m.pacing_rate = l.flow.rate;
  m.plans_queued = l.plans_queued;
  m.requests_queued = l.requests_queued;
  m.request_duration = l.request_latency;
  return m;
}

std::string bad_log_level(const std::string& value) {
  return "--log-level: '" + value + "' is not one of trace, debug, info, warn, error, off";
}

std::string bad_log_format(const std::string& value) {
  return "--log-format: '" + value + "' is not text or json";
}

// The first value a run would refuse (a bad duration, a negative count, colliding outputs...), or
// "": the checks of build_options and run_upload, as for a dry run (no token needed), their
// warnings left out. Inputs are not opened: that is the run's check, not the configuration's.
std::string first_bad_value(upload_flags f) {
  f.dry_run = true;
  // What is missing is not a bad value: a configuration may leave the endpoint and the inputs to the
  // command line, and --print-config shows them as unset.
  if (f.target.endpoint.empty()) f.target.endpoint = "tagging";
  if (f.inputs.empty() && f.manifest.empty() && f.files_from.empty()) f.inputs = {"."};
  if (f.summary_json == "-") f.summary_json.clear();  // stdout is the plan's in a dry run only
  if (!parse_log_level(f.log_level)) return bad_log_level(f.log_level);
  if (!parse_log_format(f.log_format)) return bad_log_format(f.log_format);
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::off);
  std::string bad;
  try {
    check_log_file(f);
    (void)duration_flag("--metrics-linger", f.metrics_linger);
    (void)timeout_flag("--stats-interval", f.stats_interval);
    (void)build_options(f);
  } catch (const usage_error& e) {
    bad = e.message;
  }
  spdlog::set_level(level);
  return bad;
}

int run_upload(const upload_flags& flags, const CLI::App& cmd) {
  if (flags.print_config) {
    std::fputs(print_config(cmd, active_config_layers(), {"token"}).c_str(), stdout);
    // The option lines show each layer's value; which token a run would use takes XIMILAR_API_TOKEN
    // and the layers' order into account (a config file's token line is not the one in effect when
    // the environment holds one).
    const token_result token = effective_token(flags);
    std::printf("# API token in effect: %s\n",
                token.token ? ("from " + token.origin).c_str() : ("none (" + token.error + ")").c_str());
    // The values are also checked as a run would check them: --print-config is how a user checks a
    // configuration, and showing `retries = "-3"` as if it were in effect said it was fine.
    if (const std::string bad = first_bad_value(flags); !bad.empty()) {
      std::printf("# this configuration does not run: %s\n", bad.c_str());
      spdlog::error("{}", bad);
      return exit_code::usage;
    }
    return exit_code::ok;
  }
  log_options logs;
  auto level = parse_log_level(flags.log_level);
  if (!level) {
    spdlog::error("{}", bad_log_level(flags.log_level));
    return exit_code::usage;
  }
  logs.level = flags.quiet && flags.log_level == "info" ? spdlog::level::warn : *level;
  auto format = parse_log_format(flags.log_format);
  if (!format) {
    spdlog::error("{}", bad_log_format(flags.log_format));
    return exit_code::usage;
  }
  logs.format = *format;
  // The log file is checked before it is opened: one that names the state or the results would
  // otherwise get the very error that refuses it. (The other outputs are checked once it is open,
  // so that their errors reach it.)
  try {
    check_log_file(flags);
  } catch (const usage_error& e) {
    spdlog::error("{}", e.message);
    return exit_code::usage;
  }
  if (!flags.log_file.empty()) logs.file = flags.log_file;
  if (const std::string error = configure_logging(logs); !error.empty()) {
    spdlog::error("{}", error);
    return exit_code::usage;
  }
  // Inputs named on the command line that are not there, or cannot be opened at all, end the run
  // before it starts (exit 4): nothing under them could be sent. (Files found by the scan that
  // cannot be read are failed inputs, exit 1.)
  for (const auto& input : flags.inputs) {
    struct stat st {};
    if (::stat(input.c_str(), &st) != 0) {
      spdlog::error("input not found: {}: {}", json_string(input), std::strerror(errno));
      return exit_code::input_not_found;
    }
    if (const int err = can_open(input, S_ISDIR(st.st_mode)); err != 0) {
      spdlog::error("input cannot be opened: {}: {} (check its permissions)", json_string(input),
                    std::strerror(err));
      return exit_code::input_not_found;
    }
  }
  for (const auto* list : {&flags.manifest, &flags.files_from}) {
    struct stat st {};
    if (list->empty() || *list == "-") continue;
    if (::stat(list->c_str(), &st) != 0) {
      spdlog::error("input not found: {}: {}", json_string(*list), std::strerror(errno));
      return exit_code::input_not_found;
    }
    if (S_ISDIR(st.st_mode)) {
      spdlog::error("{} is a directory: {} takes a file that lists the inputs (give a directory without it)",
                    json_string(*list), list == &flags.manifest ? "--manifest" : "--files-from");
      return exit_code::input_not_found;
    }
    if (const int err = can_open(*list, false); err != 0) {
      spdlog::error("input cannot be opened: {}: {} (check its permissions)", json_string(*list),
                    std::strerror(err));
      return exit_code::input_not_found;
    }
  }
  upload_options options;
  progress_options progress;
  std::chrono::milliseconds metrics_linger{0};
  try {
    metrics_linger = duration_flag("--metrics-linger", flags.metrics_linger);
    options = build_options(flags);
    progress.quiet = flags.quiet;
    progress.mode = flags.progress == "always"  ? progress_mode::always
                    : flags.progress == "never" ? progress_mode::never
                                                : progress_mode::automatic;
    progress.stats_interval = timeout_flag("--stats-interval", flags.stats_interval);
    if (logs.format == log_format::json) {
      // Every line on stderr stays a JSON record: stats lines go through the logger.
      progress.mode = progress_mode::never;
      progress.line_sink = [](const std::string& line) { spdlog::info("progress: {}", line); };
    }
  } catch (const usage_error& e) {
    spdlog::error("{}", e.message);
    return exit_code::usage;
  }
  if (options.dry_run) {
    spdlog::info("dry run: scanning and planning {}; nothing is sent", options.sender.target.url);
  } else {
    spdlog::info("uploading to {} with {} connections, {} workers, results in {}{}",
                 options.sender.target.url, options.sender.connections, options.workers, options.results_path,
                 options.shard ? ", shard " + to_string(*options.shard) : std::string());
  }
  const bool dry = options.dry_run;
  const auto shard = options.shard;
  // The pipeline first, so that it outlives the signal thread (destroyed in reverse order). Its
  // constructor starts no thread, so every thread still starts with the signals blocked.
  upload_pipeline pipeline(std::move(options));
  signal_watch signals;
  signals.watch(pipeline, !flags.no_state);
  std::unique_ptr<metrics_server> metrics;
  std::atomic<bool> finished{false};
  if (!flags.metrics_listen.empty() && !dry) {
    auto started_metrics = metrics_server::start(
        flags.metrics_listen,
        [&pipeline, &finished, shard] {
          auto m = metrics_of(pipeline, shard);
          m.running = !finished.load();
          return render_prometheus(m);
        },
        [&pipeline] { return is_healthy(pipeline.summary_so_far()); });
    if (!started_metrics.server) {
      spdlog::error("--metrics-listen: {}", started_metrics.error);
      return exit_code::usage;
    }
    metrics = std::move(started_metrics.server);
    spdlog::info("metrics on http://{}/metrics (health: /healthz)", metrics->local_address());
  }
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<progress_reporter> reporter;
  if (!dry) {
    reporter = std::make_unique<progress_reporter>(
        [&pipeline, started] { return snapshot_of(pipeline, started); }, progress);
    reporter->start();
  }
  const run_summary summary = pipeline.run();
  signals.run_over();
  finished.store(true);  // /metrics: ximup_run_up 0 from now on
  // Refused at the run lock, nothing ran: the error says it all (a cron job that found the last
  // run still going printed a progress line and a summary of zeros after it).
  const bool never_ran = summary.stopped == run_stop::locked;
  if (reporter) reporter->stop(!never_ran);
  // A stop the pipeline did not log itself (the connection check, the run lock): an error record
  // whatever the verbosity and format, for the log collectors and --log-file (the summary's
  // "stopped:" line is on stderr only, and not at all with -q or --log-level warn).
  if (summary.stopped != run_stop::none && summary.stopped != run_stop::interrupted && !summary.stop_logged) {
    spdlog::error("{}", summary.stop_message);
  }
  if (dry) {
    print_plan(summary);
  } else if (!flags.quiet && logs.format == log_format::json) {
    spdlog::info("summary: {}", summary_to_json(summary));
  } else if (logs.format == log_format::text && !never_ran) {
    if (!flags.quiet) print_summary(summary, flags.results);
    // A text log file gets it too, also with -q (a JSON one has the summary record): a cron job that
    // keeps only --log-file, and wants a quiet stderr, must still see how the run ended.
    if (!flags.log_file.empty()) {
      if (std::FILE* log = std::fopen(flags.log_file.c_str(), "ae"); log != nullptr) {
        print_summary(summary, flags.results, log);
        std::fclose(log);
      }
    }
  }
  int code = exit_code_for(summary);
  if (!flags.summary_json.empty()) {
    if (const std::string error = write_summary_json(flags.summary_json, summary); !error.empty()) {
      spdlog::error("{}", error);
      if (summary.stopped == run_stop::none) code = exit_code::io_error;
    }
  }
  if (metrics) {
    // The final counters stay up for --metrics-linger so a scraper sees them (ximup_run_up 0).
    const auto until = std::chrono::steady_clock::now() + metrics_linger;
    while (std::chrono::steady_clock::now() < until && !signals.signalled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    metrics->stop();
  }
  return code;
}

}  // namespace

std::function<int()> add_upload_command(CLI::App& app) {
  auto flags = std::make_shared<upload_flags>();
  auto& f = *flags;
  auto* cmd = app.add_subcommand("upload", "Upload image trees to a records endpoint");
  cmd->add_option("inputs", f.inputs, "Directories (or files) to upload");
  f.target.add_to(*cmd);
  cmd->add_option("--token-file", f.token_file, "File holding the API token (else XIMILAR_API_TOKEN)");
  cmd->add_option("--token", f.token, "API token (visible in ps: prefer XIMILAR_API_TOKEN or --token-file)");
  cmd->add_option("--auth-scheme", f.auth_scheme, "token|jwt|auto (auto: JWT for tokens of 70+ characters)")
      ->check(CLI::IsMember({"token", "jwt", "auto"}))
      ->capture_default_str();
  cmd->add_option("-o,--results", f.results, "Results file (JSON lines, one per input); - for stdout")
      ->capture_default_str();
  // Ranges: a negative count would wrap to 2^64 in a size_t (and start that many threads).
  cmd->add_option("-j,--workers", f.workers, "Threads that read and encode files (1-1024)")
      ->check(whole_number())
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("-c,--connections", f.connections, "Keep-alive connections (1-1024)")
      ->check(whole_number())
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--io-threads", f.io_threads, "Threads running the connections (1-64)")
      ->check(whole_number())
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--batch-size", f.batch_size, "Records per request (1-10000; API limit: 10)")
      ->check(whole_number())
      ->check(CLI::Range(1LL, 10000LL))  // (a signed range: an unsigned one takes -1 as 2^64 - 1)
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", f.max_body_bytes, "Largest request body")->capture_default_str();
  cmd->add_option("--max-inflight", f.max_inflight, "Memory for file bytes and bodies in flight")
      ->capture_default_str();
  cmd->add_option("--max-response-bytes", f.max_response_bytes, "Largest response body accepted")
      ->capture_default_str();
  cmd->add_option("--ext", f.ext,
                  "Comma-separated extensions to upload (default jpg,jpeg,jpe,png,gif,webp,bmp,tif,tiff)");
  cmd->add_option("--include", f.include, "Only paths matching this glob (repeatable; * ** ? [..])");
  cmd->add_option("--exclude", f.exclude, "Skip paths matching this glob (repeatable)");
  cmd->add_flag("--follow-symlinks", f.follow_symlinks, "Follow symbolic links (loops are detected)");
  cmd->add_option("--cacert", f.cacert, "PEM file of CA certificates to trust instead of the system's");
  cmd->add_flag("--insecure-skip-tls-verify", f.insecure, "Do not verify the server's TLS certificate");
  cmd->add_option("--tls13-ciphers", f.tls13_ciphers,
                  "TLS 1.3 cipher suites in order of preference (as curl)")
      ->capture_default_str();
  cmd->add_option("--connect-timeout", f.connect_timeout, "TCP connect timeout")->capture_default_str();
  cmd->add_option("--handshake-timeout", f.handshake_timeout, "TLS handshake timeout")->capture_default_str();
  cmd->add_option("--write-timeout", f.write_timeout, "Deadline for writing a whole request")
      ->capture_default_str();
  cmd->add_option("--first-byte-timeout", f.first_byte_timeout,
                  "Deadline from a request written to its response headers")
      ->capture_default_str();
  cmd->add_option("--response-timeout", f.response_timeout,
                  "Deadline from the headers to the end of the response")
      ->capture_default_str();
  cmd->add_option("--rate", f.rate, "Most requests per second (token bucket; 0: no fixed limit)")
      ->capture_default_str();
  cmd->add_flag("--no-adaptive", f.no_adaptive,
                "Do not adapt concurrency and pace to 429/503 throttling (on by default)");
  cmd->add_option("--retries", f.retries, "Resends of a failed request")->capture_default_str();
  cmd->add_option("--retry-base", f.retry_base, "First backoff ceiling (exponential, full jitter)")
      ->capture_default_str();
  cmd->add_option("--retry-max", f.retry_max, "Largest backoff")->capture_default_str();
  cmd->add_option("--log-level", f.log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  cmd->add_flag("--no-preflight", f.no_preflight, "Skip the connection check before the run");
  cmd->add_option("--state", f.state,
                  "State file for resume and incremental runs (default: ximup-state.sqlite "
                  "beside the results file)");
  cmd->add_flag("--no-state", f.no_state, "Run without a state file: send everything, no run lock");
  cmd->add_flag("--retry-failed", f.retry_failed, "Send only inputs the state lists as failed or unfinished");
  cmd->add_flag("--force", f.force, "Send everything, even inputs the state says are done");
  cmd->add_flag("--checksum", f.checksum,
                "Unchanged means same size and SHA-256 (reads every file), not mtime");
  cmd->add_option("--drain-timeout", f.drain_timeout,
                  "After SIGINT/SIGTERM/SIGHUP, wait this long for responses in flight")
      ->capture_default_str();
  auto* in = "Inputs beyond directories";
  cmd->add_option("--manifest", f.manifest,
                  "JSONL or CSV manifest (- for stdin): path or url per line, extra fields "
                  "copied into the record")
      ->group(in);
  cmd->add_option("--manifest-format", f.manifest_format, "jsonl|csv (default: from the file name)")
      ->check(CLI::IsMember({"jsonl", "ndjson", "json", "csv"}))
      ->group(in);
  cmd->add_option("--files-from", f.files_from, "File listing paths to upload, one a line (- for stdin)")
      ->group(in);
  cmd->add_flag("-0,--null", f.null_separated, "--files-from entries end with NUL (find -print0)")->group(in);
  auto* lim = "Limits and planning";
  cmd->add_option("--max-files", f.max_files, "Take at most this many inputs, then finish (0: no limit)")
      ->check(whole_number())
      ->check(CLI::Range(0LL, std::numeric_limits<long long>::max()))
      ->capture_default_str()
      ->group(lim);
  cmd->add_option("--max-bytes", f.max_bytes, "Take inputs up to this many bytes, then finish (0: no limit)")
      ->capture_default_str()
      ->group(lim);
  cmd->add_option("--max-duration", f.max_duration,
                  "Take no new inputs after this long, then finish (0s: no limit)")
      ->capture_default_str()
      ->group(lim);
  cmd->add_option("--min-age", f.min_age,
                  "Leave files modified less than this long ago for a later run (still being written?) "
                  "(0s: off)")
      ->capture_default_str()
      ->group(lim);
  cmd->add_flag("--dry-run", f.dry_run,
                "Scan and plan only: print what would be sent and skipped, send nothing")
      ->group(lim);
  auto* scale = "Scale-out";
  cmd->add_option("--shard", f.shard,
                  "Take only shard I of N (I/N, 0-based) by a stable hash of each input's _id")
      ->group(scale);
  cmd->add_option("--shard-count", f.shard_count,
                  "Shard count in a Kubernetes Indexed Job: the shard index is JOB_COMPLETION_INDEX")
      ->group(scale);
  cmd->add_option("--metrics-listen", f.metrics_listen,
                  "Serve Prometheus metrics on HOST:PORT (/metrics, /healthz) during the run")
      ->group(scale);
  cmd->add_option("--metrics-linger", f.metrics_linger,
                  "After the run, keep serving the final metrics this long (for the last scrape)")
      ->capture_default_str()
      ->group(scale);
  auto* shrink = "Shrink before sending";
  cmd->add_option("--resize", f.resize,
                  "Scale images whose both sides exceed N so the shorter side is N (0: off; auto: the "
                  "preset's size as the official client uses it: 600, 512 for recognition and search, "
                  "1024 for detection; see `ximup presets`)")
      ->capture_default_str()
      ->group(shrink);
  cmd->add_option("--resize-side", f.resize_side, "shorter|longer: which side --resize sets")
      ->check(CLI::IsMember({"shorter", "longer"}))
      ->capture_default_str()
      ->group(shrink);
  cmd->add_option("--resize-min-bytes", f.resize_min_bytes, "Files smaller than this are sent untouched")
      ->capture_default_str()
      ->group(shrink);
  cmd->add_option("--jpeg-quality", f.jpeg_quality, "JPEG quality of resized images (1-100)")
      ->capture_default_str()
      ->group(shrink);
  cmd->add_flag("--no-jpeg-optimize", f.no_jpeg_optimize,
                "Standard Huffman tables for resized JPEGs: ~13% less CPU, ~7% more bytes")
      ->group(shrink);
  cmd->add_option("--jpeg-chroma", f.chroma,
                  "auto|444|420: chroma of resized JPEGs (auto: 444 at quality 90 and above, else 420; "
                  "420 as the official client writes: fewer bytes, less CPU)")
      ->check(CLI::IsMember({"auto", "444", "420"}))
      ->capture_default_str()
      ->group(shrink);
  auto* outg = "Output";
  cmd->add_option("--log-format", f.log_format, "text|json (JSON lines for log collectors)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str()
      ->group(outg);
  cmd->add_option("--log-file", f.log_file, "Also append logs to this file")->group(outg);
  cmd->add_flag("-q,--quiet", f.quiet, "No progress and no summary; only warnings and errors")->group(outg);
  cmd->add_option("--progress", f.progress,
                  "auto|always|never: live line on a terminal, else plain stats lines")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str()
      ->group(outg);
  cmd->add_option("--stats-interval", f.stats_interval, "Plain stats line this often when not on a terminal")
      ->capture_default_str()
      ->group(outg);
  cmd->add_option("--summary-json", f.summary_json,
                  "Also write the summary as JSON to this file (- for stdout)")
      ->group(outg);
  cmd->add_flag(
         "--print-config", f.print_config,
         "Print the effective options and where each came from (flag, environment, config file, default)")
      ->group(outg);
  cmd->footer(
      "Configuration: flags > XIMUP_<OPTION> environment variables (e.g. XIMUP_CONNECTIONS=16) > the config\n"
      "file (--config FILE, ./ximup.toml or $XDG_CONFIG_HOME/ximup/config.toml; keys are the long option\n"
      "names, see config/ximup.example.toml) > defaults.\n\n"
      "Examples:\n"
      "  export XIMILAR_API_TOKEN=...   # or --token-file ~/.ximilar-token\n"
      "  ximup upload photos/ --endpoint tagging\n"
      "  ximup upload a/ b/ --endpoint classify --task-id 0a8c... --results out.jsonl\n"
      "  ximup upload shop/ -e https://127.0.0.1:8443/tagging/generic/v2/tags --cacert mock.pem\n"
      "  ximup upload --manifest batch.csv -e tagging --summary-json summary.json\n"
      "  find new/ -name '*.jpg' -print0 | ximup upload --files-from - -0 -e tagging\n"
      "  ximup upload photos/ -e tagging --dry-run        # what would be sent and skipped\n"
      "  ximup upload photos/ -e tagging --max-duration 50m --log-format json   # cron");
  return [flags, cmd] { return run_upload(*flags, *cmd); };
}

}  // namespace ximup::cli
