// `ximup upload`: options -> upload_options, signal handling, summary, exit code.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "endpoint_flags.hpp"
#include "exit_codes.hpp"
#include "summary_report.hpp"
#include "ximup/pipeline.hpp"
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
  std::size_t workers = std::max(1U, std::thread::hardware_concurrency());
  std::size_t connections = 8;
  std::size_t io_threads = 1;
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
};

// The state file's default place: beside the results file.
std::string default_state_path(const std::string& results) {
  const auto slash = results.rfind('/');
  if (results == "-" || slash == std::string::npos) return "ximup-state.sqlite";
  return results.substr(0, slash + 1) + "ximup-state.sqlite";
}

struct usage_error {
  std::string message;
};

std::uint64_t size_flag(const std::string& name, const std::string& value) {
  auto v = parse_size(value);
  if (!v || *v == 0) throw usage_error{name + ": '" + value + "' is not a size (e.g. 256MiB, 10MB, 4096)"};
  return *v;
}

std::chrono::milliseconds duration_flag(const std::string& name, const std::string& value) {
  auto v = parse_duration(value);
  if (!v) throw usage_error{name + ": '" + value + "' is not a duration (e.g. 10s, 500ms, 2m)"};
  return *v;
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

upload_options build_options(const upload_flags& f) {
  upload_options o;
  o.roots = f.inputs;
  if (!f.ext.empty()) o.scan.extensions = split_list(f.ext);
  try {
    for (const auto& g : f.include) o.scan.filter.include.emplace_back(g);
    for (const auto& g : f.exclude) o.scan.filter.exclude.emplace_back(g);
  } catch (const std::invalid_argument& e) {
    throw usage_error{e.what()};
  }
  o.scan.follow_symlinks = f.follow_symlinks;
  if (f.batch_size == 0) throw usage_error{"--batch-size must be at least 1"};
  if (f.batch_size > 10) spdlog::warn("--batch-size {} is above the API's documented limit of 10 records", f.batch_size);
  o.limits.max_records = f.batch_size;
  o.limits.max_body_bytes = size_flag("--max-body-bytes", f.max_body_bytes);
  o.max_inflight = size_flag("--max-inflight", f.max_inflight);
  if (o.max_inflight < 2 * o.limits.max_body_bytes) {
    throw usage_error{"--max-inflight (" + f.max_inflight + ") must be at least twice --max-body-bytes (" +
                      f.max_body_bytes + ")"};
  }
  o.workers = std::max<std::size_t>(1, f.workers);
  o.results_path = f.results;
  o.preflight = !f.no_preflight;
  if (static_cast<int>(f.retry_failed) + static_cast<int>(f.force) + static_cast<int>(f.checksum) > 1) {
    throw usage_error{"--retry-failed, --force and --checksum exclude each other"};
  }
  if (f.no_state && (f.retry_failed || f.force || f.checksum || !f.state.empty())) {
    throw usage_error{"--no-state cannot be combined with --state, --retry-failed, --force or --checksum"};
  }
  if (!f.no_state) o.state_path = f.state.empty() ? default_state_path(f.results) : f.state;
  o.mode = f.retry_failed ? run_mode::retry_failed
           : f.force      ? run_mode::force
           : f.checksum   ? run_mode::checksum
                          : run_mode::normal;
  o.drain_timeout = duration_flag("--drain-timeout", f.drain_timeout);
  o.command_summary = "upload " + f.target.endpoint;
  for (const auto& in : f.inputs) o.command_summary += " " + in;

  auto ep = f.target.resolve();
  if (!ep.value) throw usage_error{ep.error};

  token_sources ts;
  if (!f.token.empty()) ts.flag = f.token;
  if (!f.token_file.empty()) ts.file = f.token_file;
  if (const char* env = std::getenv("XIMILAR_API_TOKEN"); env != nullptr) ts.env = std::string(env);
  auto token = load_token(ts);
  if (!token.token) throw usage_error{token.error};
  if (!token.warning.empty()) spdlog::warn("{}", token.warning);
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
  s.connect_timeout = duration_flag("--connect-timeout", f.connect_timeout);
  s.handshake_timeout = duration_flag("--handshake-timeout", f.handshake_timeout);
  s.write_timeout = duration_flag("--write-timeout", f.write_timeout);
  s.first_byte_timeout = duration_flag("--first-byte-timeout", f.first_byte_timeout);
  s.response_timeout = duration_flag("--response-timeout", f.response_timeout);
  if (f.rate < 0) throw usage_error{"--rate must be positive"};
  s.flow.max_concurrency = s.connections;
  s.flow.adaptive = !f.no_adaptive;
  if (f.rate > 0) s.flow.fixed_rate = f.rate;
  if (!f.cacert.empty()) s.cacert = f.cacert;
  s.insecure_skip_verify = f.insecure;
  s.max_response_bytes = size_flag("--max-response-bytes", f.max_response_bytes);
  if (f.insecure) spdlog::warn("--insecure-skip-tls-verify: the server's certificate is NOT checked");

  if (f.retries < 0) throw usage_error{"--retries must be 0 or more"};
  o.retry.max_retries = f.retries;
  o.retry.base = duration_flag("--retry-base", f.retry_base);
  o.retry.max = duration_flag("--retry-max", f.retry_max);
  return o;
}

// Blocks SIGINT/SIGTERM in every thread and handles them on one: the first asks the pipeline to
// stop, a second exits at once.
class signal_watch {
public:
  signal_watch() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  void watch(upload_pipeline& pipeline) {
    thread_ = std::thread([this, &pipeline] {
      int seen = 0;
      while (!done_.load()) {
        timespec wait{0, 200'000'000};
        const int sig = sigtimedwait(&set_, nullptr, &wait);
        if (sig <= 0) continue;
        if (++seen == 1) {
          spdlog::warn("received {}: finishing requests in flight, sending nothing new (signal again to quit at once)",
                       sig == SIGINT ? "SIGINT" : "SIGTERM");
          pipeline.request_stop(sig);
        } else {
          std::_Exit(128 + sig);
        }
      }
    });
  }
  ~signal_watch() {
    done_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

private:
  sigset_t set_{};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int exit_code_for(const run_summary& s) {
  switch (s.stopped) {
    case run_stop::auth: return exit_code::auth;
    case run_stop::unreachable: return exit_code::transient;
    case run_stop::tls_untrusted: return exit_code::usage;
    case run_stop::io_error:
    case run_stop::state_error: return exit_code::io_error;
    case run_stop::locked: return exit_code::locked;
    case run_stop::interrupted: return s.stop_signal == SIGINT ? exit_code::interrupted_int : exit_code::interrupted_term;
    case run_stop::none: break;
  }
  if (s.files_failed > s.files_failed_retryable) return exit_code::failed;
  if (s.files_failed_retryable > 0) return exit_code::transient;
  return exit_code::ok;
}

int run_upload(const upload_flags& flags) {
  auto level = spdlog::level::from_str(flags.log_level);
  if (level == spdlog::level::off && flags.log_level != "off") {
    spdlog::error("--log-level: '{}' is not one of trace, debug, info, warn, error, off", flags.log_level);
    return exit_code::usage;
  }
  spdlog::set_level(level);
  for (const auto& input : flags.inputs) {
    struct stat st {};
    if (::stat(input.c_str(), &st) != 0) {
      spdlog::error("input not found: '{}': {}", input, std::strerror(errno));
      return exit_code::input_not_found;
    }
  }
  upload_options options;
  try {
    options = build_options(flags);
  } catch (const usage_error& e) {
    spdlog::error("{}", e.message);
    return exit_code::usage;
  }
  spdlog::info("uploading {} to {} with {} connections, {} workers, results in {}", fmt::join(flags.inputs, ", "),
               options.sender.target.url, options.sender.connections, options.workers, options.results_path);
  signal_watch signals;
  upload_pipeline pipeline(std::move(options));
  signals.watch(pipeline);
  const run_summary summary = pipeline.run();
  print_summary(summary, flags.results);
  return exit_code_for(summary);
}

}  // namespace

std::function<int()> add_upload_command(CLI::App& app) {
  auto flags = std::make_shared<upload_flags>();
  auto& f = *flags;
  auto* cmd = app.add_subcommand("upload", "Upload image trees to a records endpoint");
  cmd->add_option("inputs", f.inputs, "Directories (or files) to upload")->required();
  f.target.add_to(*cmd);
  cmd->add_option("--token-file", f.token_file, "File holding the API token (else XIMILAR_API_TOKEN)");
  cmd->add_option("--token", f.token, "API token (visible in ps: prefer XIMILAR_API_TOKEN or --token-file)");
  cmd->add_option("--auth-scheme", f.auth_scheme, "token|jwt|auto (auto: JWT for tokens of 70+ characters)")
      ->check(CLI::IsMember({"token", "jwt", "auto"}))
      ->capture_default_str();
  cmd->add_option("-o,--results", f.results, "Results file (JSON lines, one per input); - for stdout")
      ->capture_default_str();
  cmd->add_option("-j,--workers", f.workers, "Threads that read and encode files")->capture_default_str();
  cmd->add_option("-c,--connections", f.connections, "Keep-alive connections")->capture_default_str();
  cmd->add_option("--io-threads", f.io_threads, "Threads running the connections")->capture_default_str();
  cmd->add_option("--batch-size", f.batch_size, "Records per request (API limit: 10)")->capture_default_str();
  cmd->add_option("--max-body-bytes", f.max_body_bytes, "Largest request body")->capture_default_str();
  cmd->add_option("--max-inflight", f.max_inflight, "Memory for file bytes and bodies in flight")
      ->capture_default_str();
  cmd->add_option("--max-response-bytes", f.max_response_bytes, "Largest response body accepted")
      ->capture_default_str();
  cmd->add_option("--ext", f.ext, "Comma-separated extensions to upload (default jpg,jpeg,jpe,png,gif,webp,bmp,tif,tiff)");
  cmd->add_option("--include", f.include, "Only paths matching this glob (repeatable; * ** ? [..])");
  cmd->add_option("--exclude", f.exclude, "Skip paths matching this glob (repeatable)");
  cmd->add_flag("--follow-symlinks", f.follow_symlinks, "Follow symbolic links (loops are detected)");
  cmd->add_option("--cacert", f.cacert, "PEM file of CA certificates to trust instead of the system's");
  cmd->add_flag("--insecure-skip-tls-verify", f.insecure, "Do not verify the server's TLS certificate");
  cmd->add_option("--connect-timeout", f.connect_timeout, "TCP connect timeout")
      ->capture_default_str();
  cmd->add_option("--handshake-timeout", f.handshake_timeout, "TLS handshake timeout")->capture_default_str();
  cmd->add_option("--write-timeout", f.write_timeout, "Deadline for writing a whole request")->capture_default_str();
  cmd->add_option("--first-byte-timeout", f.first_byte_timeout,
                  "Deadline from a request written to its response headers")
      ->capture_default_str();
  cmd->add_option("--response-timeout", f.response_timeout, "Deadline from the headers to the end of the response")
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
  cmd->add_option("--state", f.state, "State file for resume and incremental runs (default: ximup-state.sqlite "
                                      "beside the results file)");
  cmd->add_flag("--no-state", f.no_state, "Run without a state file: send everything, no run lock");
  cmd->add_flag("--retry-failed", f.retry_failed, "Send only inputs the state lists as failed or unfinished");
  cmd->add_flag("--force", f.force, "Send everything, even inputs the state says are done");
  cmd->add_flag("--checksum", f.checksum, "Unchanged means same size and SHA-256 (reads every file), not mtime");
  cmd->add_option("--drain-timeout", f.drain_timeout, "After SIGINT/SIGTERM, wait this long for responses in flight")
      ->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  export XIMILAR_API_TOKEN=...   # or --token-file ~/.ximilar-token\n"
      "  ximup upload photos/ --endpoint tagging\n"
      "  ximup upload a/ b/ --endpoint classify --task-id 0a8c... --results out.jsonl\n"
      "  ximup upload shop/ -e https://127.0.0.1:8443/tagging/generic/v2/tags --cacert mock.pem");
  return [flags] { return run_upload(*flags); };
}

}  // namespace ximup::cli
