// results_writer: appending across runs (a torn last line from a killed run), sync() before the
// state commits, and write failures that must stop the state from recording inputs as done.
#include "ximup/results_writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

using ximup::results_writer;

namespace {

class ResultsWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ximup-results-writer-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  [[nodiscard]] std::string path() const { return (dir_ / "results.jsonl").string(); }
  void put(const std::string& text) const { std::ofstream(path(), std::ios::binary) << text; }
  [[nodiscard]] std::string contents() const {
    std::ifstream in(path(), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  std::filesystem::path dir_;
};

const std::string first_line = R"({"path":"a.jpg","outcome":"ok"})"
                               "\n";
const std::string next_line = R"({"path":"b.jpg","outcome":"ok"})"
                              "\n";

}  // namespace

TEST_F(ResultsWriter, AppendingAfterATornResultLineCutsItOff) {
  put(first_line + R"({"path":"half.jpg","outco)");
  results_writer w;
  ASSERT_TRUE(w.open(path(), true)) << w.error();
  EXPECT_EQ(w.cut_bytes(), std::string(R"({"path":"half.jpg","outco)").size());
  ASSERT_TRUE(w.write(next_line));
  ASSERT_TRUE(w.close()) << w.error();
  EXPECT_EQ(contents(), first_line + next_line);
}

TEST_F(ResultsWriter, ATornFirstLineIsCutToAnEmptyFile) {
  put(R"({"path":"only.jpg","ou)");
  results_writer w;
  ASSERT_TRUE(w.open(path(), true)) << w.error();
  ASSERT_TRUE(w.write(next_line));
  ASSERT_TRUE(w.close());
  EXPECT_EQ(contents(), next_line);
}

// A kill cuts a write at a page boundary, which can fall a byte into a line (the crash-loop test
// found a lone `{"` kept and ended with a newline: a torn line for good).
TEST_F(ResultsWriter, ATornLineOfOnlyAFewBytesIsCutToo) {
  for (const std::string torn : {"{", R"({"pa)", R"({"path")"}) {
    put(first_line + torn);
    results_writer w;
    ASSERT_TRUE(w.open(path(), true)) << w.error();
    EXPECT_EQ(w.cut_bytes(), torn.size()) << torn;
    ASSERT_TRUE(w.write(next_line));
    ASSERT_TRUE(w.close());
    EXPECT_EQ(contents(), first_line + next_line) << torn;
  }
}

TEST_F(ResultsWriter, ATornLineLongerThanOneReadBlockIsCutWhole) {
  const std::string torn = R"({"path":")" + std::string(10000, 'x');  // the search crosses blocks
  put(first_line + torn);
  results_writer w;
  ASSERT_TRUE(w.open(path(), true)) << w.error();
  EXPECT_EQ(w.cut_bytes(), torn.size());
  ASSERT_TRUE(w.close());
  EXPECT_EQ(contents(), first_line);
}

TEST_F(ResultsWriter, ATailThatIsNotAResultLineIsKeptAndEndedWithANewline) {
  for (const std::string other : {"x", R"({"x)"}) {  // short tails that start no result line
    put(first_line + other);
    results_writer w;
    ASSERT_TRUE(w.open(path(), true)) << w.error();
    EXPECT_EQ(w.cut_bytes(), 0U) << other;
    ASSERT_TRUE(w.close());
    EXPECT_EQ(contents(), first_line + other + "\n");
  }
  put(first_line + "someone else's notes");
  results_writer w;
  ASSERT_TRUE(w.open(path(), true)) << w.error();
  EXPECT_EQ(w.cut_bytes(), 0U);
  ASSERT_TRUE(w.write(next_line));
  ASSERT_TRUE(w.close());
  EXPECT_EQ(contents(), first_line + "someone else's notes\n" + next_line);
}

TEST_F(ResultsWriter, WholeLinesAndNewFilesAreLeftAlone) {
  put(first_line);
  {
    results_writer w;
    ASSERT_TRUE(w.open(path(), true)) << w.error();
    EXPECT_EQ(w.cut_bytes(), 0U);
    ASSERT_TRUE(w.write(next_line));
    ASSERT_TRUE(w.close());
  }
  EXPECT_EQ(contents(), first_line + next_line);
  std::filesystem::remove(path());
  results_writer fresh;
  ASSERT_TRUE(fresh.open(path(), true)) << fresh.error();
  EXPECT_EQ(fresh.cut_bytes(), 0U);
  ASSERT_TRUE(fresh.close());
}

TEST_F(ResultsWriter, TruncatingOpenDoesNotLookAtTheOldContent) {
  put(first_line + R"({"path":"half)");
  results_writer w;
  ASSERT_TRUE(w.open(path(), false)) << w.error();
  EXPECT_EQ(w.cut_bytes(), 0U);
  ASSERT_TRUE(w.write(next_line));
  ASSERT_TRUE(w.close());
  EXPECT_EQ(contents(), next_line);
}

// sync() is what the pipeline calls before the state records inputs as done: after it, another
// reader of the file sees every line written so far (the buffer is 1 MiB, so without it they wait).
TEST_F(ResultsWriter, SyncPutsBufferedLinesInTheFile) {
  results_writer w;
  ASSERT_TRUE(w.open(path(), true)) << w.error();
  ASSERT_TRUE(w.write(first_line));
  EXPECT_EQ(contents(), "") << "buffered until sync or close";
  ASSERT_TRUE(w.sync()) << w.error();
  EXPECT_EQ(contents(), first_line);
  ASSERT_TRUE(w.close());
  EXPECT_TRUE(w.sync()) << "after close everything is on disk already";
}

// /dev/full accepts the open and answers every write with ENOSPC: sync() must say so (and keep
// saying it), so that the state never records these lines' inputs as done.
TEST_F(ResultsWriter, SyncFailsWhenTheDiskIsFullAndStaysFailed) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  results_writer w;
  ASSERT_TRUE(w.open("/dev/full", true)) << w.error();
  EXPECT_TRUE(w.write(first_line)) << "buffered: the failure shows at the flush";
  EXPECT_FALSE(w.sync());
  EXPECT_NE(w.error().find("No space left on device"), std::string::npos) << w.error();
  EXPECT_NE(w.error().find("--results"), std::string::npos) << "says what the user can do: " << w.error();
  EXPECT_FALSE(w.write(next_line));
  EXPECT_FALSE(w.sync());
  EXPECT_FALSE(w.close());
}
