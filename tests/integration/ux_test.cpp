// Issue 6 through the real binaries: configuration layers, dry runs, manifests and files lists,
// limits, progress and JSON logs, the summary file, exit codes and the token's secrecy.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/json_lines.hpp"
#include "support/ledger.hpp"
#include "support/mock_fixture.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using namespace ximup::test;

namespace {

const std::string token = "ux-test-token-7f3a9c1e5b";

struct result_row {
  std::string path;
  std::string id;
  std::string outcome;
  std::string error;
  std::string line;
};

std::vector<result_row> read_results(const fs::path& file) {
  std::vector<result_row> out;
  simdjson::dom::parser parser;
  std::istringstream in(read_text(file));
  for (std::string line; std::getline(in, line);) {
    simdjson::dom::element doc;
    if (parser.parse(lenient(line)).get(doc) != simdjson::SUCCESS) {
      ADD_FAILURE() << "results line not JSON: " << line;
      continue;
    }
    result_row r;
    std::string_view text;
    if (doc["path"].get(text) == simdjson::SUCCESS) r.path = bytes(text);
    if (doc["_id"].get(text) == simdjson::SUCCESS) r.id = bytes(text);
    if (doc["outcome"].get(text) == simdjson::SUCCESS) r.outcome = std::string(text);
    if (doc["error"].get(text) == simdjson::SUCCESS) r.error = std::string(text);
    r.line = line;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Every line of `err` is a JSON log record of level error, and there is one at least.
void expect_json_errors_only(const std::string& err) {
  simdjson::dom::parser parser;
  for (const auto& line : lines_of(err)) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << "not JSON: " << line;
    EXPECT_EQ(std::string_view(doc["level"]), "error") << line;
  }
  EXPECT_FALSE(err.empty());
}

class Ux : public ::testing::Test {
 protected:
  temp_dir dir;

  // ximup with no config file but the ones a test writes, and the token in the environment.
  ximup_run ximup(std::vector<std::string> args, std::vector<std::string> env = {},
                  std::chrono::milliseconds timeout = std::chrono::minutes(3)) {
    args.insert(args.begin(), XIMUP_BIN);
    env.push_back("XIMILAR_API_TOKEN=" + token);
    env.push_back("XDG_CONFIG_HOME=" + (dir / "xdg").string());
    ximup_run r;
    r.exit_code = run(args, dir / "ximup.out", dir / "ximup.err", env, timeout);
    r.out = read_text(dir / "ximup.out");
    r.err = read_text(dir / "ximup.err");
    return r;
  }

  std::vector<std::string> endpoint(const mock_server& mock) {
    return {"--endpoint", "tagging", "--api-base", mock.base(), "--cacert", mock.cert().string()};
  }
};

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

// --- configuration ------------------------------------------------------------------------------

TEST_F(Ux, FlagBeatsEnvironmentBeatsConfigFileBeatsDefault) {
  write_text(dir / "cfg.toml", "connections = 3\nretries = 4\nbatch-size = 7\n[upload]\nrate = 2.5\n");
  const auto r =
      ximup({"upload", "--config", (dir / "cfg.toml").string(), "--connections", "9", "--print-config"},
            {"XIMUP_CONNECTIONS=5", "XIMUP_RETRIES=6"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("connections = \"9\"  # flag"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("retries = \"6\"  # environment XIMUP_RETRIES"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("batch-size = \"7\"  # config file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rate = \"2.5\"  # config file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("retry-max = \"30s\"  # default"), std::string::npos) << r.out;
}

// Inputs typed on the command line beat XIMUP_INPUTS, and --print-config says so (it labelled them
// "environment" whenever the variable was set).
TEST_F(Ux, PrintConfigTellsTypedInputsFromXimupInputs) {
  auto r = ximup({"upload", "typed-tree", "--print-config"}, {"XIMUP_INPUTS=env-tree"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("inputs = \"typed-tree\"  # flag"), std::string::npos) << r.out;
  r = ximup({"upload", "--print-config"}, {"XIMUP_INPUTS=env-tree"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("inputs = \"env-tree\"  # environment XIMUP_INPUTS"), std::string::npos) << r.out;
}

// --print-config checks the values as a run would: a value the run refuses is shown, then named as
// the reason the configuration does not run (exit 2); one that runs exits 0 without a token.
TEST_F(Ux, PrintConfigSaysWhichValueARunWouldRefuse) {
  const std::string cfg = (dir / "check.toml").string();
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {"retries = -3\n", "--retries"},
           {"drain-timeout = \"-5s\"\n", "--drain-timeout"},
           {"log-level = \"loud\"\n", "--log-level"},
           {"results = \"" + (dir / "no-such-dir" / "r.jsonl").string() + "\"\n", "--results"}}) {
    write_text(cfg, text);
    const auto r = ximup({"upload", "tree", "--config", cfg, "--print-config"});
    EXPECT_EQ(r.exit_code, 2) << text << r.out;
    EXPECT_NE(r.out.find("# this configuration does not run: " + needle), std::string::npos) << r.out;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
  write_text(cfg, "retries = 3\nsummary-json = \"-\"\n");
  const auto r = ximup({"upload", "tree", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("does not run"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("dry run"), std::string::npos) << "the check's own warnings stay out: " << r.err;
}

// --print-config says which token a run would use: a config file's token line is not the one in
// effect when XIMILAR_API_TOKEN is set (the environment beats the config file).
TEST_F(Ux, PrintConfigNamesTheTokenInEffect) {
  write_text(dir / "cfg.toml", "token = \"from-config-5c1e\"\n");
  fs::permissions(dir / "cfg.toml", fs::perms::owner_read | fs::perms::owner_write);
  auto r = ximup({"upload", "--config", (dir / "cfg.toml").string(), "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("# API token in effect: from XIMILAR_API_TOKEN"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("from-config-5c1e"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(token), std::string::npos) << r.out;
  r = ximup({"upload", "--config", (dir / "cfg.toml").string(), "--token-file", (dir / "none").string(),
             "--print-config"});
  EXPECT_NE(r.out.find("# API token in effect: none ("), std::string::npos) << r.out;
}

TEST_F(Ux, ConfigFileIsFoundInXdgConfigHome) {
  fs::create_directories(dir / "xdg" / "ximup");
  write_text(dir / "xdg" / "ximup" / "config.toml", "workers = 3\nlog_format = \"json\"\n");
  const auto r = ximup({"upload", "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("workers = \"3\"  # config file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("log-format = \"json\"  # config file"), std::string::npos) << r.out;
  const auto none = ximup({"upload", "--no-config", "--print-config"});
  EXPECT_NE(none.out.find("log-format = \"text\"  # default"), std::string::npos) << none.out;
}

// A token in the config file is not on the command line: no `ps` warning, but one when others can
// read the file.
TEST_F(Ux, ATokenInTheConfigFileIsWarnedAboutOnlyWhenOthersCanReadIt) {
  fs::create_directories(dir / "xdg" / "ximup");
  fs::create_directories(dir / "in");
  const fs::path config = dir / "xdg" / "ximup" / "config.toml";
  write_text(config, "token = \"config-file-token-123\"\n");
  fs::permissions(config, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
  auto r = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--dry-run", "--no-state"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("holds the API token and other users may read it: chmod 600"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("command line"), std::string::npos) << r.err;
  fs::permissions(config, fs::perms::owner_read | fs::perms::owner_write);
  r = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--dry-run", "--no-state"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("API token"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("config-file-token-123"), std::string::npos) << r.err;
}

// The token's sources follow the same layers as every option: a --token-file typed on the command
// line beats a token in the config file or XIMUP_TOKEN, and the environment beats the config file.
// The mock takes only `token`; the wrong one is exit 3.
TEST_F(Ux, TheTokenFollowsTheLayersWhateverItsKind) {
  generate_images(dir / "in", {"--count", "1", "--size-kib", "1", "--seed", "3"});
  mock_server mock(dir.path(), token);
  write_text(dir / "good.tok", token + "\n");
  write_text(dir / "bad.tok", "wrong-token\n");
  const std::string cfg = (dir / "cfg.toml").string();
  int runs = 0;
  const auto upload = [&](const std::vector<std::string>& more, std::vector<std::string> env = {}) {
    const std::string results = (dir / ("r" + std::to_string(++runs) + ".jsonl")).string();
    return ximup(std::vector<std::string>{"upload", (dir / "in").string(), "--no-state", "--results", results,
                                          "--config", cfg} +
                     endpoint(mock) + more,
                 std::move(env));
  };
  write_text(cfg, "token = \"wrong-token\"\n");
  auto r = upload({"--token-file", (dir / "good.tok").string()});
  EXPECT_EQ(r.exit_code, 0) << "a flag's token file loses to the config file's token: " << r.err;
  r = upload({});  // XIMILAR_API_TOKEN (the environment) beats the config file
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = upload({}, {"XIMUP_TOKEN=wrong-token"});
  EXPECT_EQ(r.exit_code, 3) << "XIMUP_TOKEN comes before XIMILAR_API_TOKEN: " << r.err;
  r = upload({"--token-file", (dir / "good.tok").string()}, {"XIMUP_TOKEN=wrong-token"});
  EXPECT_EQ(r.exit_code, 0) << "the flag loses to XIMUP_TOKEN: " << r.err;
  write_text(cfg, "token-file = \"" + (dir / "bad.tok").string() + "\"\n");
  r = upload({});
  EXPECT_EQ(r.exit_code, 0) << "the config file's token-file beats XIMILAR_API_TOKEN: " << r.err;
  write_text(cfg, "token-file = \"" + (dir / "missing.tok").string() + "\"\n");
  r = upload({"--token", "wrong-token"});
  EXPECT_EQ(r.exit_code, 3) << r.err;  // the flag is used, the config file's missing file never read
  r = upload({}, {"XIMUP_TOKEN_FILE=" + (dir / "missing.tok").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("from XIMUP_TOKEN_FILE"), std::string::npos) << r.err;
  mock.stop();
}

// A config file with an error in it (meant for uploads) does not stop `version`, and `presets` only
// warns about it; `upload` still refuses it.
TEST_F(Ux, ABrokenConfigFileStopsOnlyTheCommandsItConfigures) {
  fs::create_directories(dir / "xdg" / "ximup");
  write_text(dir / "xdg" / "ximup" / "config.toml", "bogus = 1\n");
  auto r = ximup({"version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ximup "), std::string::npos) << r.out;
  r = ximup({"presets"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tagging"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
  r = ximup({"upload", (dir / "xdg").string(), "--endpoint", "tagging", "--dry-run", "--no-state"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

// A config file written for uploads (`[upload]` with the state and the endpoint) serves `ximup
// status` too: it looked for ./ximup-state.sqlite. A [status] table beats [upload] there; one key
// set at the top level and in the command's table with two values is an error, not a silent pick.
TEST_F(Ux, TheUploadTableConfiguresTheStateCommandsAndAKeySetTwiceIsAnError) {
  const std::string cfg = (dir / "cfg.toml").string();
  const std::string upload_state = (dir / "jobs" / "upload.sqlite").string();
  const std::string status_state = (dir / "jobs" / "status.sqlite").string();
  write_text(cfg, "[upload]\nendpoint = \"tagging\"\nstate = \"" + upload_state + "\"\n");
  auto r = ximup({"status", "--config", cfg});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find(upload_state), std::string::npos) << r.err;
  write_text(cfg, "[upload]\nendpoint = \"tagging\"\nstate = \"" + upload_state + "\"\n[status]\nstate = \"" +
                      status_state + "\"\n");
  r = ximup({"status", "--config", cfg});
  EXPECT_NE(r.err.find(status_state), std::string::npos) << r.err;
  r = ximup({"failures", "--config", cfg});  // [status] is not the failures command's table
  EXPECT_NE(r.err.find(upload_state), std::string::npos) << r.err;

  write_text(cfg, "connections = 3\n[upload]\nconnections = 4\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("'connections' is set twice, at the top level ('3') and in [upload] ('4')"),
            std::string::npos)
      << r.err;
  // The token's two values are not shown: rotating a token, the old one is easily left at the top.
  write_text(cfg, "token = \"old-secret-1\"\n[upload]\ntoken = \"new-secret-2\"\n");
  fs::permissions(cfg, fs::perms::owner_read | fs::perms::owner_write);
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'token' is set twice, at the top level (<redacted>)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("secret"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("secret"), std::string::npos) << r.out;
  write_text(cfg, "token = [\"old-secret-1\", \"new-secret-2\"]\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.find("secret"), std::string::npos) << r.err;
  // Twice in one table, even spelled with a dash and an underscore: TOML allows a key once.
  write_text(cfg, "connections = 16\nmax-duration = \"50m\"\nconnections = 8\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("'connections' is set twice at the top level ('16', then '8')"), std::string::npos)
      << r.err;
  write_text(cfg, "[upload]\nmax-duration = \"50m\"\nmax_duration = \"10m\"\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("'max-duration' is set twice in [upload] ('50m', then '10m')"), std::string::npos)
      << r.err;
  write_text(cfg, "connections = 3\n[upload]\nconnections = 3\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("connections = \"3\"  # config file"), std::string::npos) << r.out;
}

// With XIMUP_LOG_FORMAT=json (the container default) even the errors found before --log-format is
// applied (a bad flag, a bad config file) are JSON records, one a line.
TEST_F(Ux, EarlyErrorsAreJsonWhenTheEnvironmentAsksForJson) {
  write_text(dir / "bad.toml", "conections = 3\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"upload", (dir / "xdg").string(), "--endpoint", "tagging", "--connections", "0"},
           {"upload", "--config", (dir / "bad.toml").string(), "--print-config"}}) {
    const auto r = ximup(args, {"XIMUP_LOG_FORMAT=json"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    expect_json_errors_only(r.err);
  }
}

// --log-format json typed on the command line makes the errors found while parsing it JSON too (the
// cron example in the README passes it as a flag).
TEST_F(Ux, EarlyErrorsAreJsonWhenTheFlagAsksForJson) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"upload", "x", "--endpoint", "tagging", "--log-format", "json", "--bogus"},
           {"upload", "x", "--endpoint", "tagging", "--log-format=json", "--connections", "0"}}) {
    const auto r = ximup(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    expect_json_errors_only(r.err);
  }
}

// A token typed after a command that takes none (`ximup status ... --token T`, the upload command
// line reused) is quoted by the parser's error: it is redacted there.
TEST_F(Ux, ATokenTheParserDidNotExpectIsNotLogged) {
  const std::string secret = "typed-secret-4d2b91";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"status", "-e", "tagging", "--token", secret}, {"presets", "--token=" + secret}}) {
    const auto r = ximup(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("[redacted]"), std::string::npos) << r.err;
  }
}

// A CSV manifest whose header names no path or url column can give no input: the run stops as for
// a manifest that cannot be read (exit 4), not as one failed image (exit 1).
TEST_F(Ux, AManifestWithAnUnusableHeaderStopsTheRun) {
  write_text(dir / "m.csv", "PATH,Label\na.jpg,cat\n");
  const auto r = ximup(
      {"upload", "--manifest", (dir / "m.csv").string(), "--endpoint", "tagging", "--no-state", "--dry-run"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find(R"(no "path" or "url" column)"), std::string::npos) << r.err;
}

// An empty list is named as such: the directory filters it does not use are not blamed.
TEST_F(Ux, AnEmptyListSaysItListsNothing) {
  write_text(dir / "empty.txt", "");
  const auto r = ximup({"upload", "--files-from", (dir / "empty.txt").string(), "--endpoint", "tagging",
                        "--no-state", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("found no inputs: " + (dir / "empty.txt").string() + " lists none"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("--ext"), std::string::npos) << r.err;
}

// A count that is not a number is called that, not "out of range", from a flag or the environment.
TEST_F(Ux, ACountThatIsNotANumberIsCalledThat) {
  auto r = ximup({"upload", "x", "--endpoint", "tagging", "--connections", "abc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--connections: 'abc' is not a whole number"), std::string::npos) << r.err;
  r = ximup({"upload", "x", "--endpoint", "tagging"}, {"XIMUP_WORKERS=2.5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'2.5' is not a whole number"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("XIMUP_WORKERS"), std::string::npos) << r.err;
}

// Results on stdout leave no room for the summary there: it would be one more line in the results.
TEST_F(Ux, ResultsAndSummaryCannotBothGoToStdout) {
  fs::create_directories(dir / "in");
  const auto r = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--no-state", "--results",
                        "-", "--summary-json", "-"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("both write to stdout"), std::string::npos) << r.err;
  // A dry run's plan is on stdout too.
  const auto dry = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--no-state", "--dry-run",
                          "--summary-json", "-"});
  EXPECT_EQ(dry.exit_code, 2) << dry.err;
  EXPECT_NE(dry.err.find("both write to stdout"), std::string::npos) << dry.err;
}

// A usage error found once the log file is open reaches it (a cron job that keeps only the log).
TEST_F(Ux, UsageErrorsReachTheLogFile) {
  fs::create_directories(dir / "in");
  const auto r = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--force", "--checksum",
                        "--log-file", (dir / "run.log").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(read_text(dir / "run.log").find("exclude each other"), std::string::npos)
      << read_text(dir / "run.log");
}

// `presets --api-base` joins base and path as `upload` does (a base without its final slash printed
// https://api.example.comtagging/...), and refuses what is not an http(s) base.
TEST_F(Ux, PresetsJoinABaseWithoutItsSlashAsUploadDoes) {
  auto r = ximup({"presets", "--api-base", "https://api.example.com/v1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("https://api.example.com/v1/tagging/generic/v2/tags"), std::string::npos) << r.out;
  r = ximup({"presets", "--api-base", "ftp://example.com/"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
}

// Values checked after parsing (sizes, durations, ranges) name where they were written: the
// variable or the config file's key, not only a flag the user never typed.
TEST_F(Ux, BadValuesFromTheEnvironmentOrTheConfigFileSayWhereTheyCameFrom) {
  fs::create_directories(dir / "in");
  const std::vector<std::string> upload = {"upload",  (dir / "in").string(), "--endpoint",
                                           "tagging", "--dry-run",           "--no-state"};
  auto r = ximup(upload + std::vector<std::string>{"--no-config"}, {"XIMUP_MAX_INFLIGHT=5XB"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--max-inflight (XIMUP_MAX_INFLIGHT): '5XB' is not a size"), std::string::npos)
      << r.err;
  const std::string cfg = (dir / "c.toml").string();
  write_text(cfg, "rate = -2\n");
  r = ximup(upload + std::vector<std::string>{"--config", cfg});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--rate (key rate in the config file '" + cfg + "')"), std::string::npos) << r.err;
  r = ximup(upload + std::vector<std::string>{"--no-config", "--retry-base", "10s", "--retry-max", "1s"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--retry-base '10s' must be more than 0 and at most --retry-max '1s'"),
            std::string::npos)
      << r.err;
}

// TOML the config reader would have taken wrongly: an array never closed (read as its first value),
// two words where one value goes (a string without quotes); and a list of extensions written as a TOML
// array, taken as the flag's comma-separated list.
TEST_F(Ux, ArraysAndUnquotedWordsInTheConfigFile) {
  const std::string cfg = (dir / "c.toml").string();
  const auto with = [&](const std::string& text) {
    write_text(cfg, text);
    return ximup({"upload", "--config", cfg, "--print-config"});
  };
  auto r = with("connections = [1,2\n");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("line 1: the array of 'connections' has no closing ']'"), std::string::npos) << r.err;
  r = with("# retries\nretries = 2 trailing\n");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("key 'retries' takes one value, not 2"), std::string::npos) << r.err;
  r = with("ext = [\"jpg\", \"png\"]  # both\nresults = \"a[1].jsonl\"\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ext = \"jpg,png\"  # config file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("results = \"a[1].jsonl\"  # config file"), std::string::npos) << r.out;
}

// A mistyped command is named with the list of commands; a base URL that is no URL says which flag
// and what it must look like.
TEST_F(Ux, AMistypedCommandOrBaseUrlSaysWhatIsExpected) {
  auto r = ximup({"uplaod", "photos"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown command 'uplaod': the commands are upload,"), std::string::npos) << r.err;
  fs::create_directories(dir / "in");
  r = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base", "notaurl", "--dry-run",
             "--no-state"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--api-base 'notaurl' must be a base URL such as https://"), std::string::npos)
      << r.err;
}

TEST_F(Ux, AnUploadOptionPastedOntoAStateCommandIsNamedAsUploads) {
  auto r = ximup({"status", "--endpoint", "tagging", "--cacert", "ca.pem", "--workers=3", "--state",
                  (dir / "state.sqlite").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("(--cacert and --workers are options of `upload`, not of `status`: leave them out; "
                       "`ximup status --help` lists what it takes)"),
            std::string::npos)
      << r.err;
  // Options of different commands are each named with theirs; `upload` first when several have one.
  r = ximup({"status", "--endpoint", "tagging", "--all", "--cacert", "ca.pem"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(
      r.err.find("(--all (`prune`) and --cacert (`upload`) are options of other commands, not of `status`"),
      std::string::npos)
      << r.err;
  // An option no command has gets CLI11's message alone.
  r = ximup({"status", "--endpoint", "tagging", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.find("is an option of"), std::string::npos) << r.err;
}

TEST_F(Ux, UnknownKeysAndBadValuesNameTheKeyAndTheFile) {
  const std::string cfg = (dir / "bad.toml").string();
  write_text(cfg, "conections = 3\n");
  auto r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("conections"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(cfg), std::string::npos) << r.err;

  write_text(cfg, "log-format = \"xml\"\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("log-format"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(cfg), std::string::npos) << r.err;

  r = ximup({"upload", "--print-config"}, {"XIMUP_CONNECTIONS=many"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("XIMUP_CONNECTIONS"), std::string::npos) << r.err;

  // An unclosed string would otherwise become a value with a quote in it (a results file named
  // `"out.jsonl`); so would a negative count, wrapped to 2^64 threads.
  write_text(cfg, "# results\nresults = \"out.jsonl\nworkers = 2\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'results' has no closing quote"), std::string::npos) << r.err;
  write_text(cfg, "results = 'a \"quoted\" name.jsonl'  # a comment\nfield = [\"lang=\\\"en\\\"\"]\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  write_text(cfg, "connections = -1\n");
  r = ximup({"upload", "--config", cfg, "--print-config"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("connections"), std::string::npos) << r.err;

  r = ximup({"upload", "--config", (dir / "missing.toml").string(), "--print-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.toml"), std::string::npos) << r.err;
}

TEST_F(Ux, ExampleConfigDocumentsEveryOptionAndParses) {
  const std::string example = std::string(XIMUP_SOURCE_DIR) + "/config/ximup.example.toml";
  const auto r = ximup({"upload", "--config", example, "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = read_text(example);
  std::size_t options = 0;
  for (const auto& line : lines_of(r.out)) {
    if (line.empty() || line[0] == '#') continue;
    const std::string key = line.substr(0, line.find(' '));
    ++options;
    const bool documented = text.find("\n" + key + " = ") != std::string::npos ||
                            text.find("\n# " + key + " = ") != std::string::npos;
    EXPECT_TRUE(documented) << key << " is not in config/ximup.example.toml";
    if (line.find("# config file") == std::string::npos) {
      EXPECT_NE(text.find("\n# " + key + " = "), std::string::npos)
          << key << " should be set by the example: " << line;
    }
  }
  EXPECT_GT(options, 40U);
}

// --- dry run ------------------------------------------------------------------------------------

// A dry run writes no results, so what the real run would fail on is named in the log: inputs that
// cannot be read or are too large, and a token file it could not read.
TEST_F(Ux, ADryRunNamesWhatTheRealRunWouldFailOn) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "big.jpg", std::string(700 * 1024, 'x'));
  fs::create_symlink(dir / "nowhere.jpg", dir / "in" / "broken.jpg");
  const auto r = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--dry-run", "--no-state",
                        "--follow-symlinks", "--max-body-bytes", "512KiB", "--max-inflight", "1MiB",
                        "--token-file", (dir / "missing.tok").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("would fail: \"" + (dir / "in" / "broken.jpg").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("would fail: \"" + (dir / "in" / "big.jpg").string() + "\": file too large"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cannot read --token-file"), std::string::npos) << r.err;
  // A metrics address the real run could not even parse is a usage error in the dry run too.
  const auto metrics = ximup({"upload", (dir / "in").string(), "--endpoint", "tagging", "--dry-run",
                              "--no-state", "--metrics-listen", "127.0.0.1"});
  EXPECT_EQ(metrics.exit_code, 2) << metrics.err;
  EXPECT_NE(metrics.err.find("--metrics-listen: invalid listen address '127.0.0.1': no port"),
            std::string::npos)
      << metrics.err;
}

TEST_F(Ux, DryRunSendsNothingAndKnowsWhatTheStateWouldSkip) {
  generate_images(dir / "tree", {"--count", "30", "--size-kib", "2", "--seed", "3"});
  mock_server mock(dir.path(), token);
  const auto results = (dir / "results.jsonl").string();
  auto r =
      ximup(std::vector<std::string>{"upload", (dir / "tree").string(), "--results", results, "--dry-run"} +
            endpoint(mock));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("would send:   30 inputs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("in 3 requests"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(results));
  EXPECT_FALSE(fs::exists(dir / "ximup-state.sqlite"));
  EXPECT_TRUE(read_ledger(mock.ledger()).empty());

  r = ximup(std::vector<std::string>{"upload", (dir / "tree").string(), "--results", results} +
            endpoint(mock));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto sent = read_ledger(mock.ledger()).size();
  EXPECT_EQ(sent, 30U);

  r = ximup(std::vector<std::string>{"upload", (dir / "tree").string(), "--results", results, "--dry-run"} +
            endpoint(mock));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("would send:   0 inputs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would skip:   30 unchanged"), std::string::npos) << r.out;
  mock.stop();
  EXPECT_EQ(read_ledger(mock.ledger()).size(), sent);
}

// Two roots with the same relative path: both go up with the same default _id, which an API that keys
// records by _id may collapse; each is named in a warning. Different names are not.
TEST_F(Ux, ARepeatedDefaultIdAcrossRootsIsWarnedAbout) {
  fs::create_directories(dir / "photos");
  fs::create_directories(dir / "scans");
  write_text(dir / "photos" / "x.jpg", "\xFF\xD8\xFF one");
  write_text(dir / "scans" / "x.jpg", "\xFF\xD8\xFF two");
  write_text(dir / "scans" / "y.jpg", "\xFF\xD8\xFF three");
  const auto r = ximup({"upload", (dir / "photos").string(), (dir / "scans").string(), "--endpoint",
                        "tagging", "--dry-run", "--no-state"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("_id \"x.jpg\" of \"" + (dir / "photos" / "x.jpg").string()), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("under another root"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("\"y.jpg\""), std::string::npos) << r.err;
}

// --- manifests and files lists ------------------------------------------------------------------

// A manifest whose format its name does not tell is a usage error found before the connection
// check: with a server that is not there the run says so, not "cannot connect" (exit 5).
TEST_F(Ux, AManifestOfUnknownFormatIsAUsageErrorBeforeAnyConnection) {
  write_text(dir / "batch.txt", "{\"path\":\"a.jpg\"}\n");
  const auto r =
      ximup({"upload", "--manifest", (dir / "batch.txt").string(), "--endpoint", "tagging", "--api-base",
             "https://127.0.0.1:1/", "--no-state", "--results", (dir / "r.jsonl").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("give --manifest-format jsonl or csv"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "r.jsonl"));
}

// A directory given as the manifest, and an input whose name holds control characters: exit 4 before
// anything starts, with the path shown escaped (a newline or an escape sequence would break the line
// or the terminal).
TEST_F(Ux, InputsThatCannotBeOpenedEndTheRunBeforeItStarts) {
  fs::create_directories(dir / "lists");
  auto r = ximup({"upload", "--manifest", (dir / "lists").string(), "--manifest-format", "jsonl",
                  "--endpoint", "tagging", "--no-state", "--results", (dir / "r.jsonl").string()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("is a directory: --manifest takes a file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "r.jsonl"));
  r = ximup({"upload", (dir / "no\nsuch\x1b[31m").string(), "--endpoint", "tagging", "--no-state"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("no\\u000asuch\\u001b[31m"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}

TEST_F(Ux, ManifestCarriesPathsUrlsAndFieldsAndReportsBadLines) {
  generate_images(dir / "img", {"--count", "3", "--size-kib", "2", "--seed", "5"});
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "img")) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 3U);
  const std::string manifest = (dir / "batch.jsonl").string();
  write_text(manifest, "{\"path\":\"" + files[0] + "\",\"label\":\"cat\"}\n" +         //
                           "{\"path\":\"" + files[1] + "\",\"_id\":\"custom-1\"}\n" +  //
                           "{\"url\":\"https://example.com/a.jpg\",\"meta\":{\"n\":1}}\n" +
                           "{\"label\":\"neither path nor url\"}\n" +  //
                           "not json at all\n" +                       //
                           "{\"path\":\"" + files[2] + "\"}\n");
  mock_server mock(dir.path(), token);
  const auto results = (dir / "results.jsonl").string();
  const auto r = ximup(std::vector<std::string>{"upload", "--manifest", manifest, "--results", results} +
                       endpoint(mock));
  mock.stop();
  EXPECT_EQ(r.exit_code, 1) << r.err;  // two bad lines failed
  const auto rows = read_results(results);
  ASSERT_EQ(rows.size(), 6U) << r.err;
  std::map<std::string, result_row> by_path;
  for (const auto& row : rows) by_path[row.path] = row;
  EXPECT_EQ(by_path[files[0]].outcome, "ok");
  EXPECT_NE(by_path[files[0]].line.find("\"label\":\"cat\""), std::string::npos) << by_path[files[0]].line;
  EXPECT_EQ(by_path[files[1]].id, "custom-1");
  EXPECT_EQ(by_path["https://example.com/a.jpg"].outcome, "ok") << by_path["https://example.com/a.jpg"].line;
  EXPECT_EQ(by_path[manifest + ":4"].outcome, "failed");
  EXPECT_NE(by_path[manifest + ":4"].error.find("bad line"), std::string::npos);
  EXPECT_EQ(by_path[manifest + ":5"].outcome, "failed");
  EXPECT_EQ(by_path[files[2]].outcome, "ok");
  // The file bytes arrived intact; the url record was passed on, not downloaded.
  const auto hashes = accepted_hashes(mock.ledger());
  EXPECT_EQ(hashes.count(files[0]), 1U);
  EXPECT_EQ(hashes.find(files[0])->second, sha256_hex(read_text(files[0])));
  EXPECT_EQ(hashes.count("custom-1"), 1U);
}

// A path a list names twice, however spelled (./, an absolute path), and a manifest url given
// twice are sent once, each repeat named in a warning and counted in the summary.
TEST_F(Ux, InputsListedTwiceAreSentOnce) {
  generate_images(dir / "img", {"--count", "2", "--size-kib", "1", "--seed", "9"});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir / "img")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  write_text(dir / "list.txt", "img/" + names[0] + "\n./img/" + names[0] + "\n" +
                                   (dir / "img" / names[0]).string() + "\nimg/" + names[1] + "\nimg/" +
                                   names[0] + "\n");
  mock_server mock(dir.path(), token);
  auto args = std::vector<std::string>{"upload",         "--files-from",
                                       "list.txt",       "--no-state",
                                       "--results",      (dir / "r.jsonl").string(),
                                       "--summary-json", (dir / "s.json").string()} +
              endpoint(mock);
  args.insert(args.begin(), XIMUP_BIN);
  const int rc = run(args, dir / "out", dir / "err",
                     {"XIMILAR_API_TOKEN=" + token, "XDG_CONFIG_HOME=" + (dir / "xdg").string()},
                     std::chrono::minutes(2), dir.path());
  const std::string err = read_text(dir / "err");
  EXPECT_EQ(rc, 0) << err;
  EXPECT_EQ(read_results(dir / "r.jsonl").size(), 2U);
  EXPECT_EQ(mock.counter("records_ok"), 2);
  EXPECT_NE(err.find("\"./img/" + names[0] + "\" is listed again"), std::string::npos) << err;
  simdjson::dom::parser parser;
  simdjson::dom::element summary;
  ASSERT_EQ(parser.parse(read_text(dir / "s.json")).get(summary), simdjson::SUCCESS);
  EXPECT_EQ(std::uint64_t(summary["skipped_duplicate"]), 3U);

  // A manifest: one image under two `_id`s is two records (two products of a collection); the
  // same line twice is one.
  const std::string line1 = R"({"path":"img/)" + names[0] + R"(","_id":"p1"})" + "\n";
  const std::string line2 = R"({"path":"img/)" + names[0] + R"(","_id":"p2"})" + "\n";
  write_text(dir / "m.jsonl", line1 + line2 + line1);
  args = std::vector<std::string>{"upload",     "--manifest", "m.jsonl",
                                  "--no-state", "--results",  (dir / "r2.jsonl").string()} +
         endpoint(mock);
  args.insert(args.begin(), XIMUP_BIN);
  EXPECT_EQ(run(args, dir / "out", dir / "err", {"XIMILAR_API_TOKEN=" + token}, std::chrono::minutes(2),
                dir.path()),
            0)
      << read_text(dir / "err");
  EXPECT_EQ(read_results(dir / "r2.jsonl").size(), 2U);
  EXPECT_EQ(mock.counter("records_ok"), 4);
}

TEST_F(Ux, FilesFromTakesNulSeparatedNamesAndStandardInput) {
  generate_images(dir / "img", {"--count", "4", "--size-kib", "1", "--seed", "8"});
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "img")) files.push_back(e.path().string());
  const std::string odd = (dir / "img" / "line\nbreak \"q\".jpg").string();
  fs::copy_file(files[0], odd);
  files.push_back(odd);
  std::string list;
  for (const auto& f : files) list += f + '\0';
  write_text(dir / "list0", list);
  mock_server mock(dir.path(), token);
  auto r = ximup(std::vector<std::string>{"upload", "--files-from", (dir / "list0").string(), "-0",
                                          "--no-state", "--results", (dir / "r1.jsonl").string()} +
                 endpoint(mock));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_results(dir / "r1.jsonl").size(), files.size());
  const auto hashes = accepted_hashes(mock.ledger());
  EXPECT_EQ(hashes.count(odd), 1U);

  // One name a line from standard input.
  std::string lines;
  for (std::size_t i = 0; i + 1 < files.size(); ++i) lines += files[i] + "\n";
  write_text(dir / "list", lines);
  // An empty list (standard input is /dev/null here) is a run with nothing to send.
  r = ximup(std::vector<std::string>{"upload", "--files-from", "-", "--no-state", "--results",
                                     (dir / "r2.jsonl").string()} +
            endpoint(mock));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(read_results(dir / "r2.jsonl").empty());
  EXPECT_NE(r.err.find("found no inputs"), std::string::npos) << "an empty run says so: " << r.err;
  const int rc = ::ximup::test::run(
      {"sh", "-c", std::string("\"$0\" \"$@\" < '") + (dir / "list").string() + "'", XIMUP_BIN, "upload",
       "--files-from", "-", "--no-state", "--results", (dir / "r3.jsonl").string(), "--endpoint", "tagging",
       "--api-base", mock.base(), "--cacert", mock.cert().string()},
      dir / "sh.out", dir / "sh.err",
      {"XIMILAR_API_TOKEN=" + token, "XDG_CONFIG_HOME=" + (dir / "xdg").string()});
  mock.stop();
  EXPECT_EQ(rc, 0) << read_text(dir / "sh.err");
  EXPECT_EQ(read_results(dir / "r3.jsonl").size(), files.size() - 1);
}

// A named pipe as the list, its writer started first (`find ... > fifo &`, then ximup): the writer
// is read to its end. (The start-up check opened and closed the FIFO: the writer died of SIGPIPE and
// the run waited for another writer forever, holding the state's lock.)
TEST_F(Ux, AListFromANamedPipeWhoseWriterCameFirstIsRead) {
  generate_images(dir / "img", {"--count", "3", "--size-kib", "1", "--seed", "41"});
  std::string names;
  std::string manifest;
  for (const auto& e : fs::directory_iterator(dir / "img")) {
    names += e.path().string() + "\n";
    manifest += R"({"path":")" + e.path().string() + "\"}\n";
  }
  for (const std::string flag : {"--files-from", "--manifest"}) {
    const fs::path fifo = dir / ("list-" + flag.substr(2) + ".jsonl");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    process writer(
        {"sh", "-c", "printf '%s' \"$0\" > \"$1\"", flag == "--manifest" ? manifest : names, fifo.string()},
        dir / "w.out", dir / "w.err");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the writer waits in its open
    mock_server mock(dir.path(), token);
    const auto r = ximup(std::vector<std::string>{"upload", flag, fifo.string(), "--no-state", "--results",
                                                  (dir / ("r-" + flag.substr(2) + ".jsonl")).string()} +
                             endpoint(mock),
                         {}, std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << flag << ": " << r.err;
    EXPECT_EQ(writer.wait(std::chrono::seconds(10)), 0) << flag << ": the writer was cut off";
    EXPECT_EQ(read_results(dir / ("r-" + flag.substr(2) + ".jsonl")).size(), 3U) << flag;
  }
}

// A list fed slowly through a pipe (a watcher that prints each new file): what was read goes after
// 200 ms of silence, not when the tenth name or the end of the list comes.
TEST_F(Ux, AFilesListFedSlowlyIsSentAsItComes) {
  generate_images(dir / "img", {"--count", "2", "--size-kib", "1", "--seed", "19"});
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "img")) files.push_back(e.path().string());
  ASSERT_EQ(files.size(), 2U);
  mock_server mock(dir.path(), token);
  write_text(dir / "feed.sh",
             "printf '%s\\n' '" + files[0] + "'; sleep 8; printf '%s\\n' '" + files[1] + "'\n");
  std::vector<std::string> upload = {"upload",     "--files-from", "-",
                                     "--no-state", "--results",    (dir / "r.jsonl").string()};
  upload = upload + endpoint(mock);
  std::string command = "sh '" + (dir / "feed.sh").string() + "' | '" + std::string(XIMUP_BIN) + "'";
  for (const auto& a : upload) command += " '" + a + "'";
  process p({"sh", "-c", command}, dir / "p.out", dir / "p.err",
            {"XIMILAR_API_TOKEN=" + token, "XDG_CONFIG_HOME=" + (dir / "xdg").string()});
  const auto start = std::chrono::steady_clock::now();
  while (read_ledger(mock.ledger()).empty() &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(6)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(read_ledger(mock.ledger()).size(), 1U) << "the first name waited for the second";
  EXPECT_EQ(p.wait(std::chrono::seconds(60)), 0) << read_text(dir / "p.err");
  mock.stop();
  EXPECT_EQ(read_ledger(mock.ledger()).size(), 2U);
}

// Names that fail before they are planned (missing, a directory) count in the progress total.
TEST_F(Ux, ProgressCountsInputsThatFailBeforeTheyAreSent) {
  generate_images(dir / "img", {"--count", "1", "--size-kib", "1", "--seed", "18"});
  std::string list;
  for (const auto& e : fs::directory_iterator(dir / "img")) list += e.path().string() + "\n";
  list += (dir / "img").string() + "\n" + (dir / "missing.jpg").string() + "\n";
  write_text(dir / "list", list);
  mock_server mock(dir.path(), token);
  const auto r = ximup(std::vector<std::string>{"upload", "--files-from", (dir / "list").string(),
                                                "--no-state", "--results", (dir / "r.jsonl").string()} +
                       endpoint(mock));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto rows = read_results(dir / "r.jsonl");
  EXPECT_EQ(rows.size(), 3U);
  // Every line has an _id to join on, those that failed before planning too (their path as given).
  for (const auto& row : rows) EXPECT_FALSE(row.id.empty()) << row.line;
  EXPECT_NE(r.err.find("3/3 files (100.0%)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("found no inputs"), std::string::npos) << r.err;
}

// A tree whose files the filters leave out is not a silent "0 ok, 0 failed".
TEST_F(Ux, ATreeWithNothingToSendSaysWhy) {
  fs::create_directories(dir / "docs");
  write_text(dir / "docs" / "a.txt", "text");
  write_text(dir / "docs" / "b.pdf", "%PDF");
  const auto r =
      ximup({"upload", (dir / "docs").string(), "--endpoint", "tagging", "--dry-run", "--no-state"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("found no inputs (2 files left out by --ext/--include/--exclude"), std::string::npos)
      << r.err;
}

// --- limits -------------------------------------------------------------------------------------

TEST_F(Ux, MaxFilesEndsTheRunGracefullyAndTheNextRunGoesOn) {
  generate_images(dir / "tree", {"--count", "25", "--size-kib", "1", "--seed", "9"});
  mock_server mock(dir.path(), token);
  const auto results = (dir / "results.jsonl").string();
  const auto args = std::vector<std::string>{"upload",         (dir / "tree").string(),
                                             "--results",      results,
                                             "--max-files",    "10",
                                             "--summary-json", (dir / "s.json").string()} +
                    endpoint(mock);
  auto r = ximup(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("limit:        --max-files 10 reached"), std::string::npos) << r.err;
  EXPECT_EQ(read_results(results).size(), 10U);
  EXPECT_NE(read_text(dir / "s.json").find("\"limit_reached\":\"--max-files 10\""), std::string::npos);
  r = ximup(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = ximup(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  mock.stop();
  std::set<std::string> ids;
  for (const auto& row : read_results(results)) ids.insert(row.id);
  EXPECT_EQ(ids.size(), 25U);
  EXPECT_EQ(read_ledger(mock.ledger()).size(), 25U);  // nothing sent twice

  // --max-bytes: at most that many image bytes are taken.
  temp_dir other;
  generate_images(other / "tree", {"--count", "10", "--size-kib", "4", "--seed", "2"});
  mock_server mock2(other.path(), token);
  r = ximup(std::vector<std::string>{"upload", (other / "tree").string(), "--no-state", "--results",
                                     (other / "r.jsonl").string(), "--max-bytes", "10KiB"} +
            endpoint(mock2));
  mock2.stop();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--max-bytes 10240 reached"), std::string::npos) << r.err;
  EXPECT_LT(read_results(other / "r.jsonl").size(), 10U);

  // A file larger than --max-bytes goes alone as the first input of a run: it stopped every run
  // before it, forever ("run again to go on"), and nothing after it in a list was ever sent.
  temp_dir third;
  generate_images(third / "tree", {"--count", "3", "--size-kib", "4", "--seed", "5"});
  generate_images(third / "tree" / "big", {"--count", "1", "--size-kib", "40", "--seed", "6"});
  mock_server mock3(third.path(), token);
  const auto capped = std::vector<std::string>{"upload",      (third / "tree").string(),
                                               "--state",     (third / "s.db").string(),
                                               "--results",   (third / "r.jsonl").string(),
                                               "--max-bytes", "10KiB"} +
                      endpoint(mock3);
  for (int run = 0; run < 4; ++run) {
    r = ximup(capped);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  mock3.stop();
  EXPECT_EQ(read_ledger(mock3.ledger()).size(), 4U) << "the file over --max-bytes was never sent";
}

// --- progress, logs, summary --------------------------------------------------------------------

TEST_F(Ux, ProgressThroughAPipeIsPlainLinesAtTheInterval) {
  generate_images(dir / "tree", {"--count", "40", "--size-kib", "1", "--seed", "4"});
  mock_server mock(dir.path(), token, {"--latency-ms", "300"});
  const auto r = ximup(std::vector<std::string>{"upload", (dir / "tree").string(), "--no-state", "--results",
                                                (dir / "r.jsonl").string(), "--batch-size", "2",
                                                "--connections", "2", "--stats-interval", "1s"} +
                       endpoint(mock));
  mock.stop();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t stats = 0;
  for (const auto& line : lines_of(r.err)) {
    if (line.rfind("progress: ", 0) == 0) ++stats;
  }
  EXPECT_GE(stats, 2U) << r.err;  // 20 requests of 300 ms over 2 connections: about 3 s
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
  EXPECT_NE(r.err.find("== ximup summary =="), std::string::npos);

  const auto quiet = ximup(std::vector<std::string>{"upload", (dir / "tree").string(), "--no-state",
                                                    "--results", (dir / "r.jsonl").string(), "--quiet"} +
                           endpoint(mock));
  EXPECT_EQ(quiet.err.find("progress: "), std::string::npos) << quiet.err;
  EXPECT_EQ(quiet.err.find("summary"), std::string::npos) << quiet.err;
}

TEST_F(Ux, JsonLogsAreOneJsonObjectPerLineEverywhere) {
  generate_images(dir / "tree", {"--count", "12", "--size-kib", "1", "--seed", "6", "--non-images", "2"});
  mock_server mock(dir.path(), token);
  const auto log = dir / "ximup.log";
  const auto r =
      ximup(std::vector<std::string>{"upload", (dir / "tree").string(), "--no-state", "--results",
                                     (dir / "r.jsonl").string(), "--log-format", "json", "--log-file",
                                     log.string(), "--stats-interval", "1s", "--log-level", "debug"} +
            endpoint(mock));
  mock.stop();
  EXPECT_EQ(r.exit_code, 1) << r.err;  // the non-images are rejected
  simdjson::dom::parser parser;
  std::size_t records = 0;
  bool saw_summary = false;
  const std::string file_text = read_text(log);
  EXPECT_FALSE(file_text.empty());
  for (const auto* text : {&r.err, &file_text}) {
    for (const auto& line : lines_of(*text)) {
      simdjson::dom::element doc;
      ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << "not JSON: " << line;
      std::string_view message;
      ASSERT_EQ(doc["message"].get(message), simdjson::SUCCESS) << line;
      std::string_view level;
      ASSERT_EQ(doc["level"].get(level), simdjson::SUCCESS) << line;
      if (message.rfind("summary: ", 0) == 0) saw_summary = true;
      ++records;
    }
  }
  EXPECT_GT(records, 4U);
  EXPECT_TRUE(saw_summary) << r.err;
}

TEST_F(Ux, SummaryJsonMatchesTheResults) {
  generate_images(dir / "tree", {"--count", "15", "--size-kib", "1", "--seed", "12", "--non-images", "3"});
  mock_server mock(dir.path(), token);
  const auto r = ximup(std::vector<std::string>{"upload", (dir / "tree").string(), "--no-state", "--results",
                                                (dir / "r.jsonl").string(), "--summary-json",
                                                (dir / "summary.json").string()} +
                       endpoint(mock));
  mock.stop();
  EXPECT_EQ(r.exit_code, 1);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(read_text(dir / "summary.json")).get(doc), simdjson::SUCCESS);
  std::size_t ok = 0;
  std::size_t failed = 0;
  for (const auto& row : read_results(dir / "r.jsonl")) (row.outcome == "ok" ? ok : failed)++;
  EXPECT_EQ(uint64_t(doc["files_ok"]), ok);
  EXPECT_EQ(uint64_t(doc["files_failed"]), failed);
  EXPECT_EQ(std::string_view(doc["stopped"]), "none");
}

// --- exit codes and secrets ---------------------------------------------------------------------

TEST_F(Ux, SigintDrainsAndExits130) {
  generate_images(dir / "tree", {"--count", "200", "--size-kib", "1", "--seed", "13"});
  mock_server mock(dir.path(), token, {"--latency-ms", "400"});
  std::vector<std::string> args =
      std::vector<std::string>{
          XIMUP_BIN,       "upload", (dir / "tree").string(), "--results", (dir / "r.jsonl").string(),
          "--connections", "2",      "--batch-size",          "2"} +
      endpoint(mock);
  process p(args, dir / "p.out", dir / "p.err",
            {"XIMILAR_API_TOKEN=" + token, "XDG_CONFIG_HOME=" + (dir / "xdg").string()});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  p.signal(SIGINT);
  EXPECT_EQ(p.wait(std::chrono::seconds(60)), 130) << read_text(dir / "p.err");
  mock.stop();
  // Every input the run took has its line; none is lost to the interruption.
  EXPECT_FALSE(read_results(dir / "r.jsonl").empty());
}

TEST_F(Ux, TheTokenNeverAppearsInAnyOutput) {
  generate_images(dir / "tree", {"--count", "12", "--size-kib", "1", "--seed", "14", "--non-images", "1"});
  mock_server mock(dir.path(), token);
  write_text(dir / "token-file", token + "\n");
  std::vector<std::string> outputs;
  auto keep = [&](const ximup_run& r) {
    outputs.push_back(r.out);
    outputs.push_back(r.err);
  };
  const auto common = std::vector<std::string>{"upload",           (dir / "tree").string(),
                                               "--results",        (dir / "r.jsonl").string(),
                                               "--log-level",      "trace",
                                               "--log-file",       (dir / "log.txt").string(),
                                               "--summary-json",   (dir / "s.json").string(),
                                               "--stats-interval", "1s"} +
                      endpoint(mock);
  keep(ximup(common + std::vector<std::string>{"--token-file", (dir / "token-file").string()}));
  keep(ximup(common + std::vector<std::string>{"--log-format", "json", "--force"}));
  keep(ximup(common + std::vector<std::string>{"--token", token, "--print-config"}));
  keep(ximup(common + std::vector<std::string>{"--print-config"}, {"XIMUP_TOKEN=" + token}));
  // A wrong token: the error must not echo either token.
  const auto wrong = run(
      {XIMUP_BIN, "upload", (dir / "tree").string(), "--no-state", "--results", (dir / "w.jsonl").string(),
       "--endpoint", "tagging", "--api-base", mock.base(), "--cacert", mock.cert().string()},
      dir / "w.out", dir / "w.err", {"XIMILAR_API_TOKEN=wrong-" + token});
  EXPECT_EQ(wrong, 3);
  outputs.push_back(read_text(dir / "w.out"));
  outputs.push_back(read_text(dir / "w.err"));
  mock.stop();
  for (const char* f : {"r.jsonl", "log.txt", "s.json", "ximup-state.sqlite", "w.jsonl"}) {
    ASSERT_TRUE(fs::exists(dir / f)) << f;
    outputs.push_back(read_text(dir / f));
  }
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    EXPECT_EQ(outputs[i].find(token), std::string::npos) << "output " << i << " holds the token:\n"
                                                         << outputs[i];
  }
}
