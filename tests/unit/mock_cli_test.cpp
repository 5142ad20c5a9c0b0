// The ximup-mock executable: startup line, --port-file, --cert-out, a request, SIGTERM exit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ximup/mock/mock_server.hpp"
#include "ximup/mock/test_support.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using namespace ximup::mock;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs ximup-mock with `args`, stdout and stderr to files under `dir`.
class mock_process {
 public:
  mock_process(const std::string& dir, std::vector<std::string> args)
      : out_(dir + "/out"), err_(dir + "/err") {
    args.insert(args.begin(), XIMUP_MOCK_BIN);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, XIMUP_MOCK_BIN, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~mock_process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Sends `signal` (0: none) and returns the exit status, or -1 when it did not exit normally.
  int finish(int signal) {
    if (signal != 0) {
      kill(pid_, signal);
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  [[nodiscard]] std::string out() const { return slurp(out_); }
  [[nodiscard]] std::string err() const { return slurp(err_); }

 private:
  std::string out_;
  std::string err_;
  pid_t pid_ = -1;
};

std::string fresh_dir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "/mock_cli_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(MockCli, StartsServesAndStopsOnSigterm) {
  const std::string dir = fresh_dir("sigterm");
  mock_process mock(
      dir, {"--listen", "127.0.0.1:0", "--self-signed", "--cert-out", dir + "/cert.pem", "--port-file",
            dir + "/port", "--token", "secret", "--ledger", dir + "/ledger.jsonl", "--seed", "5"});
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (mock.out().find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const std::string port_text = slurp(dir + "/port");
  ASSERT_FALSE(port_text.empty()) << mock.err();
  const auto port = static_cast<std::uint16_t>(std::stoul(port_text));
  EXPECT_EQ(mock.out(), "ximup-mock listening on https://127.0.0.1:" + std::to_string(port) + "\n");

  test_client client(port, slurp(dir + "/cert.pem"));
  const auto r = client.post("/tagging/generic/v2/tags",
                             ximup::mock::testing::records_body({ximup::mock::testing::base64_record(
                                 "\"a\"", ximup::mock::testing::make_png(3, 4))}),
                             {{"Authorization", "Token secret"}});
  EXPECT_EQ(r.status, 200U) << r.error;
  client.close();

  EXPECT_EQ(mock.finish(SIGTERM), 0);
  EXPECT_NE(mock.err().find("\"200\":1"), std::string::npos) << mock.err();
  EXPECT_NE(slurp(dir + "/ledger.jsonl").find("\"_id\":\"a\""), std::string::npos);
}

TEST(MockCli, RejectsBadOptions) {
  const std::string dir = fresh_dir("bad");
  const std::vector<std::vector<std::string>> cases = {
      {"--self-signed"},                                    // no token
      {"--token", "t"},                                     // no transport
      {"--token", "t", "--plain", "--self-signed"},         // two transports
      {"--token", "t", "--plain", "--listen", "nonsense"},  // bad address
      {"--token", "t", "--plain", "--fail-rate", "1.5"},    // rate out of range
  };
  for (const auto& args : cases) {
    mock_process mock(dir, args);
    EXPECT_NE(mock.finish(0), 0) << args.front() << " " << mock.err();
  }
}

}  // namespace
