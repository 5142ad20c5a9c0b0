#pragma once
// Test support: a real ximup-mock process on 127.0.0.1 with a certificate the test generates,
// and helpers to run ximup against it.
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace ximup::test {

inline std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

/// Makes a self-signed certificate for localhost / 127.0.0.1 with the openssl command.
inline void make_certificate(const std::filesystem::path& dir) {
  const int rc =
      run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-days", "1", "-keyout", (dir / "key.pem").string(), "-out", (dir / "cert.pem").string(), "-subj",
           "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"},
          dir / "openssl.out", dir / "openssl.err");
  if (rc != 0) throw std::runtime_error("openssl req failed: " + read_text(dir / "openssl.err"));
}

/// A ximup-mock process; extra arguments select faults, --discard, ... It listens on a free port
/// of 127.0.0.1 unless `extra` has its own --listen (to come back on the port of an earlier mock:
/// the port is part of the endpoint URL, so of the job a state file records).
class mock_server {
 public:
  mock_server(const std::filesystem::path& dir, std::string token, std::vector<std::string> extra = {},
              bool tls = true)
      : dir_(dir), token_(std::move(token)) {
    if (tls && !std::filesystem::exists(dir / "cert.pem")) make_certificate(dir);
    write_text(dir / "mock-token", token_);
    std::filesystem::remove(dir / "mock-port");
    std::vector<std::string> argv = {XIMUP_MOCK_BIN,
                                     "--token-file",
                                     (dir / "mock-token").string(),
                                     "--port-file",
                                     (dir / "mock-port").string(),
                                     "--ledger",
                                     ledger().string()};
    if (tls) {
      argv.insert(argv.end(), {"--cert", (dir / "cert.pem").string(), "--key", (dir / "key.pem").string()});
    } else {
      argv.emplace_back("--plain");
    }
    if (std::find(extra.begin(), extra.end(), "--listen") == extra.end())
      argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<process>(argv, dir / "mock.out", dir / "mock.err");
    for (int i = 0; i < 500 && read_text(dir / "mock-port").empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    port_ = read_text(dir / "mock-port");
    while (!port_.empty() && (port_.back() == '\n' || port_.back() == ' ')) port_.pop_back();
    if (port_.empty()) throw std::runtime_error("ximup-mock did not start: " + read_text(dir / "mock.err"));
    base_ = std::string(tls ? "https" : "http") + "://127.0.0.1:" + port_ + "/";
  }

  [[nodiscard]] const std::string& base() const { return base_; }
  [[nodiscard]] const std::string& port() const { return port_; }
  [[nodiscard]] std::filesystem::path ledger() const { return dir_ / "ledger.jsonl"; }
  [[nodiscard]] std::filesystem::path cert() const { return dir_ / "cert.pem"; }
  /// `upload TREE --endpoint tagging --api-base BASE --cacert CERT --results RESULTS` and `extra`:
  /// the arguments most tests start from (run_ximup adds the binary).
  [[nodiscard]] std::vector<std::string> upload_args(const std::filesystem::path& tree,
                                                     const std::filesystem::path& results,
                                                     const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"upload", tree.string(), "--endpoint",    "tagging",   "--api-base",
                                     base(),   "--cacert",    cert().string(), "--results", results.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  /// A counter of `GET /stats` (docs/mock.md), fetched by python3 over TLS trusting cert(): a
  /// top-level name or a path such as "handshakes_by_cipher/TLS_AES_128_GCM_SHA256" (0 when a
  /// member is missing); -1 when the stats cannot be read. (python3's own connection is counted:
  /// OpenSSL's default order makes it a TLS_AES_256_GCM_SHA384 handshake.)
  [[nodiscard]] long long counter(const std::string& name) const {
    const int rc =
        run({"python3", "-c",
             "import json, ssl, sys, urllib.request\n"
             "ctx = ssl.create_default_context(cafile=sys.argv[2]) if sys.argv[1].startswith('https') "
             "else None\n"
             "v = json.load(urllib.request.urlopen(sys.argv[1] + 'stats', context=ctx))\n"
             "for k in sys.argv[3].split('/'): v = v.get(k, 0)\n"
             "print(v)",
             base_, cert().string(), name},
            dir_ / "stats.out", dir_ / "stats.err", {}, std::chrono::seconds(20));
    if (rc != 0) return -1;
    try {
      return std::stoll(read_text(dir_ / "stats.out"));
    } catch (const std::exception&) {
      return -1;
    }
  }
  /// Waits up to `limit` until counter(name) >= at_least; true when it got there.
  [[nodiscard]] bool wait_for_counter(const std::string& name, long long at_least,
                                      std::chrono::milliseconds limit = std::chrono::seconds(60)) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (counter(name) >= at_least) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  void stop() {
    proc_->signal(SIGTERM);
    proc_->wait(std::chrono::seconds(20));
  }

 private:
  std::filesystem::path dir_;
  std::string token_;
  std::unique_ptr<process> proc_;
  std::string port_;
  std::string base_;
};

struct ximup_run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `ximup upload ...` with the token in the environment.
inline ximup_run run_ximup(const std::filesystem::path& dir, std::vector<std::string> args,
                           const std::string& token,
                           std::chrono::milliseconds timeout = std::chrono::minutes(5)) {
  args.insert(args.begin(), XIMUP_BIN);
  ximup_run r;
  r.exit_code = run(args, dir / "ximup.out", dir / "ximup.err", {"XIMILAR_API_TOKEN=" + token}, timeout);
  r.out = read_text(dir / "ximup.out");
  r.err = read_text(dir / "ximup.err");
  return r;
}

/// Generates an image tree with tools/gen_images.py.
inline void generate_images(const std::filesystem::path& out, std::vector<std::string> args) {
  std::vector<std::string> argv = {"python3", std::string(XIMUP_SOURCE_DIR) + "/tools/gen_images.py",
                                   out.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto log = out.parent_path() / "gen_images.log";
  if (run(argv, log, log) != 0) throw std::runtime_error("gen_images.py failed: " + read_text(log));
}

}  // namespace ximup::test
