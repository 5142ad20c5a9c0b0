// ximup-mock: parse options, start the server, wait for SIGINT/SIGTERM, print the counters.
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "ximup/mock/mock_server.hpp"

namespace {

using ximup::mock::mock_options;
using ximup::mock::mock_server;
using ximup::mock::transport;

// "HOST:PORT" or "[V6]:PORT" into options; false when malformed.
bool parse_listen(const std::string& text, mock_options& o) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    return false;
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    return false;
  }
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) {
      return false;
    }
  } catch (const std::exception&) {
    return false;
  }
  if (port > 65535) {
    return false;
  }
  o.address = host;
  o.port = static_cast<std::uint16_t>(port);
  return true;
}

// Writes `text` to `path` atomically (a temporary file in the same directory, then rename).
void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      throw std::runtime_error("cannot write " + tmp);
    }
  }
  std::filesystem::rename(tmp, path);
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read token file " + path);
  }
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

int run(int argc, char** argv) {
  CLI::App app{"ximup-mock: a local fake of the Ximilar API for tests, demos and benchmarks"};
  mock_options o;
  std::string listen = "127.0.0.1:8443";
  std::string cert_out;
  std::string port_file;
  std::string token_file;
  bool self_signed = false;
  bool plain = false;

  app.add_option("--listen", listen, "Address and port to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--cert", o.cert_file, "Server certificate chain (PEM)");
  app.add_option("--key", o.key_file, "Server private key (PEM)");
  app.add_flag("--self-signed", self_signed, "Generate an EC P-256 certificate for localhost in memory");
  app.add_option("--cert-out", cert_out, "Write the server certificate (PEM) here, for clients' --cacert");
  app.add_flag("--plain", plain, "Plain HTTP instead of HTTPS");
  app.add_option("--port-file", port_file, "Write the bound port here once listening");
  app.add_option("--threads", o.threads, "I/O threads")->capture_default_str()->check(CLI::Range(1U, 256U));
  app.add_option("--token", o.token, "The accepted API token (Authorization: Token T or JWT T)");
  app.add_option("--token-file", token_file, "Read the token from this file");
  app.add_option("--max-records", o.max_records, "Most records per request (more: 400)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-body", o.max_body, "Largest request body in bytes (larger: 413)")
      ->capture_default_str();
  app.add_flag("--abrupt-413", o.abrupt_413,
               "After a 413, close at once, leaving the body unread (the client gets a reset)");
  app.add_option("--ledger", o.ledger_file, "Append one JSON line per accepted record to this file");
  app.add_flag("--discard", o.discard, "Read bodies without parsing them; canned success (benchmarks)");
  app.add_flag("--echo-base64", o.echo_base64, "Echo _base64 back in response records");
  app.add_flag("--log-requests", o.log_requests, "Print one line per request on stderr");
  app.add_option("--io-timeout-ms", o.io_timeout_ms, "Timeout of each read/write within a request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  auto& f = o.faults;
  app.add_option("--seed", f.seed, "Seed of the fault decisions")->capture_default_str();
  app.add_option("--latency-ms", f.latency_ms, "Delay before every answer")->capture_default_str();
  app.add_option("--latency-jitter-ms", f.latency_jitter_ms, "Uniform jitter of the delay (+/-)")
      ->capture_default_str();
  const auto rate = CLI::Range(0.0, 1.0);
  app.add_option("--fail-rate", f.fail_rate, "Probability of an injected 500/502/503")->check(rate);
  app.add_option("--rate-limit", o.rate_limit, "Requests per second before 429 with Retry-After (0: off)");
  app.add_option("--retry-after", o.retry_after_s, "Seconds of those 429s' Retry-After")
      ->capture_default_str();
  app.add_option("--reset-rate", f.reset_rate, "Probability of a reset mid-request or mid-response")
      ->check(rate);
  app.add_option("--hang-rate", f.hang_rate, "Probability of never answering")->check(rate);
  app.add_option("--trickle-rate", f.trickle_rate, "Probability of sending the response 1 byte/s")
      ->check(rate);
  app.add_option("--body-delay-ms", o.body_delay_ms,
                 "Wait this long after each request's header before reading its body (a slow reader)")
      ->capture_default_str();
  app.add_option("--idle-close-ms", o.idle_close_ms, "Close keep-alive connections idle this long")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--record-fail-rate", f.record_fail_rate, "Probability of a per-record _status 500")
      ->check(rate);
  app.add_option("--garbage-rate", f.garbage_rate, "Probability of a 200 with an invalid JSON body")
      ->check(rate);
  app.add_option("--interim-rate", f.interim_rate,
                 "Probability of a 100 Continue and a 103 Early Hints before the answer")
      ->check(rate);
  app.add_option("--reject-token-after", o.reject_token_after, "Requests after the Nth get 401 (0: never)");

  CLI11_PARSE(app, argc, argv);

  try {
    if (!parse_listen(listen, o)) {
      throw std::runtime_error("--listen: expected HOST:PORT, got " + listen);
    }
    if (!token_file.empty()) {
      if (!o.token.empty()) {
        throw std::runtime_error("--token and --token-file are exclusive");
      }
      o.token = read_token_file(token_file);
    }
    if (o.token.empty()) {
      throw std::runtime_error("a token is required (--token or --token-file)");
    }
    const bool files = !o.cert_file.empty() || !o.key_file.empty();
    if (int(plain) + int(self_signed) + int(files) != 1) {
      throw std::runtime_error("choose exactly one of --cert/--key, --self-signed and --plain");
    }
    o.mode = plain ? transport::plain : self_signed ? transport::tls_self_signed : transport::tls_files;
    if (plain && !cert_out.empty()) {
      throw std::runtime_error("--cert-out needs TLS");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ximup-mock: %s\n", e.what());
    return 2;
  }

  // Block the signals before any thread starts, so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    mock_server server(o);
    if (!cert_out.empty()) {
      write_file_atomically(cert_out, server.certificate_pem());
    }
    if (!port_file.empty()) {
      write_file_atomically(port_file, std::to_string(server.port()) + "\n");
    }
    std::printf("ximup-mock listening on %s\n", server.url().c_str());
    std::fflush(stdout);

    int received = 0;
    sigwait(&signals, &received);
    server.stop();
    std::fprintf(stderr, "ximup-mock: stopped by signal %d; counters %s\n", received,
                 server.counters().to_json().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ximup-mock: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // e.g. bad_alloc while setting up the options
    std::fprintf(stderr, "ximup-mock: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ximup-mock: unknown error\n");
  }
  return 1;
}
