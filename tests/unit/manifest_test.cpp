// Tests for manifest.hpp: JSONL and CSV manifests, files lists, bad lines and their numbers.
#include "ximup/manifest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "ximup/response.hpp"

using namespace ximup;
using namespace std::string_literals;

namespace {

// A FILE* holding `content`, read from the start.
struct memory_file {
  std::FILE* file = std::tmpfile();
  explicit memory_file(const std::string& content) {
    EXPECT_NE(file, nullptr);
    EXPECT_EQ(std::fwrite(content.data(), 1, content.size(), file), content.size());
    std::rewind(file);
  }
  ~memory_file() { std::fclose(file); }
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;
};

std::vector<manifest_entry> read_manifest(const std::string& content, manifest_format format,
                                          manifest_limits limits = {}) {
  memory_file f(content);
  manifest_reader reader(input_stream{f.file}, format, limits);
  std::vector<manifest_entry> out;
  while (auto e = reader.next()) {
    out.push_back(std::move(*e));
  }
  EXPECT_FALSE(reader.next().has_value());  // stays at the end
  return out;
}

std::vector<manifest_entry> read_files(const std::string& content, bool nul, manifest_limits limits = {}) {
  memory_file f(content);
  files_from_reader reader(input_stream{f.file}, nul, limits);
  std::vector<manifest_entry> out;
  while (auto e = reader.next()) {
    out.push_back(std::move(*e));
  }
  return out;
}

const manifest_item& item(const manifest_entry& e) {
  static const manifest_item none;
  if (const auto* error = std::get_if<manifest_error>(&e)) {
    ADD_FAILURE() << "line " << error->line_number << ": " << error->message;
    return none;
  }
  return std::get<manifest_item>(e);
}

const manifest_error& error(const manifest_entry& e) {
  static const manifest_error none;
  if (!std::holds_alternative<manifest_error>(e)) {
    ADD_FAILURE() << "an item, not an error: " << std::get<manifest_item>(e).id;
    return none;
  }
  return std::get<manifest_error>(e);
}

// The record the pipeline would send, to check that extra fields splice into valid JSON.
std::string spliced(const manifest_item& i) {
  return R"({"_id":"x")" + i.extra_fields_json + "}";
}

}  // namespace

// ---- format detection ----

TEST(Manifest, FormatFromExtension) {
  EXPECT_EQ(manifest_format_from_path("a/list.jsonl"), manifest_format::jsonl);
  EXPECT_EQ(manifest_format_from_path("LIST.NDJSON"), manifest_format::jsonl);
  EXPECT_EQ(manifest_format_from_path("x.json"), manifest_format::jsonl);
  EXPECT_EQ(manifest_format_from_path("x.Csv"), manifest_format::csv);
  EXPECT_FALSE(manifest_format_from_path("-"));
  EXPECT_FALSE(manifest_format_from_path("x.txt"));
  EXPECT_FALSE(manifest_format_from_path("csv"));
  EXPECT_EQ(parse_manifest_format("csv"), manifest_format::csv);
  EXPECT_EQ(parse_manifest_format("jsonl"), manifest_format::jsonl);
  EXPECT_FALSE(parse_manifest_format("tsv"));
}

// ---- JSONL ----

TEST(Manifest, JsonlItemsKeepExtraFieldsReadyToSplice) {
  const auto entries =
      read_manifest(R"({"path":"cats/a.jpg", "label": "cat", "meta": {"a": [1, 2], "s": "x  y"}})"
                    "\n"
                    R"({"url":"https://example.com/b.png","_id":"b-1"})"
                    "\n"
                    R"({"_id":"c","path":"/abs/c.jpg","score":0.5,"ok":true,"none":null})"
                    "\n",
                    manifest_format::jsonl);
  ASSERT_EQ(entries.size(), 3U);
  const auto& a = item(entries[0]);
  EXPECT_EQ(a.line_number, 1U);
  EXPECT_EQ(a.path, "cats/a.jpg");
  EXPECT_EQ(a.id, "cats/a.jpg");  // the path as given
  EXPECT_FALSE(a.is_url());
  EXPECT_EQ(a.extra_fields_json, R"(,"label":"cat","meta":{"a":[1,2],"s":"x  y"})");
  EXPECT_TRUE(is_valid_json(spliced(a)));
  const auto& b = item(entries[1]);
  EXPECT_TRUE(b.is_url());
  EXPECT_EQ(b.url, "https://example.com/b.png");
  EXPECT_EQ(b.id, "b-1");
  EXPECT_EQ(b.extra_fields_json, "");
  const auto& c = item(entries[2]);
  EXPECT_EQ(c.id, "c");
  EXPECT_EQ(c.path, "/abs/c.jpg");
  EXPECT_EQ(c.extra_fields_json, R"(,"score":0.5,"ok":true,"none":null)");
  EXPECT_TRUE(is_valid_json(spliced(c)));
}

TEST(Manifest, JsonlUrlDefaultsTheId) {
  const auto entries = read_manifest(R"({"url":"http://h/x.jpg"})", manifest_format::jsonl);
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(item(entries[0]).id, "http://h/x.jpg");
}

TEST(Manifest, JsonlBadLinesAreReportedWithTheirNumbersAndReadingGoesOn) {
  const auto entries = read_manifest(
      "{\"path\":\"ok1.jpg\"}\n"                    // 1
      "{\"path\":\"broken.jpg\"\n"                  // 2 bad JSON
      "\n"                                          // 3 blank: skipped
      "{\"label\":\"x\"}\n"                         // 4 neither
      "{\"path\":\"a\",\"url\":\"https://h/a\"}\n"  // 5 both
      "{\"path\":42}\n"                             // 6 not a string
      "[\"path\",\"a.jpg\"]\n"                      // 7 not an object
      "{\"path\":\"\"}\n"                           // 8 empty
      "{\"path\":\"a\",\"_base64\":\"AAAA\"}\n"     // 9 reserved
      "{\"path\":\"a\",\"path\":\"b\"}\n"           // 10 twice
      "{\"url\":\"ftp://h/a\"}\n"                   // 11 bad scheme
      "{\"path\":\"a\\u0000b\"}\n"                  // 12 NUL
      "{\"path\":\"a\",\"_id\":7}\n"                // 13 _id not a string
      "   \t \n"                                    // 14 blank
      "{\"path\":\"a\",\"outcome\":\"ok\"}\n"       // 15 a result line's own member
      "{\"path\":\"ok2.jpg\"}",                     // 16, no final newline
      manifest_format::jsonl);
  ASSERT_EQ(entries.size(), 14U);
  EXPECT_EQ(item(entries[0]).path, "ok1.jpg");
  const std::vector<std::pair<std::uint64_t, std::string>> expected = {
      {2, "invalid JSON"},
      {4, "neither path nor url"},
      {5, "both path and url: give one"},
      {6, "path is not a string"},
      {7,
       "a JSON array: a manifest is JSON lines, one whole object per line (jq -c '.[]' writes an array that "
       "way)"},
      {8, "path is empty"},
      {9, "_base64 is set by ximup (use path)"},
      {10, "field \"path\" appears twice"},
      {11, "url must start with http:// or https://"},
      {12, "path holds a NUL byte"},
      {13, "_id is not a string"},
      {15,
       "\"outcome\" is a member of ximup's result lines: echoed back by the API, it would appear there "
       "twice (rename the field)"},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& e = error(entries[i + 1]);
    EXPECT_EQ(e.line_number, expected[i].first) << i;
    EXPECT_EQ(e.message, expected[i].second) << i;
    EXPECT_FALSE(e.fatal);
  }
  EXPECT_EQ(item(entries[13]).path, "ok2.jpg");
  EXPECT_EQ(item(entries[13]).line_number, 16U);
}

// A .json file holding an array, or one pretty-printed object, says what a manifest must be.
TEST(Manifest, JsonDocumentsSayAManifestIsJsonLines) {
  const auto entries =
      read_manifest("[\n  {\"path\": \"a.jpg\"}\n]\n{\n\"path\": \"b.jpg\"\n}\n[{\"path\":\"c.jpg\"}]\n",
                    manifest_format::jsonl);
  ASSERT_EQ(entries.size(), 7U);
  EXPECT_EQ(item(entries[1]).path, "a.jpg");  // a line that is an object on its own is one
  for (const std::size_t i : {0U, 2U, 3U, 5U, 6U}) {
    EXPECT_NE(error(entries[i]).message.find("a manifest is JSON lines, one whole object per line"),
              std::string::npos)
        << i << ": " << error(entries[i]).message;
  }
}

TEST(Manifest, JsonlCrlfAndByteOrderMark) {
  const auto entries = read_manifest(
      "\xEF\xBB\xBF{\"path\":\"a.jpg\"}\r\n{\"path\":\"b.jpg\",\"k\":\"v\"}\r\n", manifest_format::jsonl);
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(item(entries[0]).path, "a.jpg");
  EXPECT_EQ(item(entries[1]).path, "b.jpg");
  EXPECT_EQ(item(entries[1]).extra_fields_json, R"(,"k":"v")");
  EXPECT_EQ(item(entries[1]).line_number, 2U);
}

TEST(Manifest, JsonlNullLocationIsAbsent) {
  const auto entries = read_manifest(R"({"path":"a.jpg","url":null,"_id":null})", manifest_format::jsonl);
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(item(entries[0]).path, "a.jpg");
  EXPECT_EQ(item(entries[0]).id, "a.jpg");
}

TEST(Manifest, JsonlPathBytesComeFromEscapes) {
  // A non-UTF-8 name written the way ximup's results write it, and an escaped quote and newline.
  const auto entries = read_manifest(
      "{\"path\":\"dir/\\udcff\\u00e9.jpg\"}\n"
      "{\"path\":\"q\\\"uote\\nnl.jpg\",\"note\":\"caf\\u00e9 \\udcfe\"}\n"
      "{\"path\":\"raw\xFF.jpg\"}\n",
      manifest_format::jsonl);
  ASSERT_EQ(entries.size(), 3U);
  EXPECT_EQ(item(entries[0]).path, "dir/\xFF\xC3\xA9.jpg");
  EXPECT_EQ(item(entries[0]).id, "dir/\xFF\xC3\xA9.jpg");
  EXPECT_EQ(item(entries[1]).path, "q\"uote\nnl.jpg");
  EXPECT_EQ(item(entries[1]).extra_fields_json, R"(,"note":"caf\u00e9 \udcfe")");  // copied as written
  EXPECT_EQ(error(entries[2]).line_number, 3U);
  EXPECT_NE(error(entries[2]).message.find("not valid UTF-8"), std::string::npos);
}

TEST(Manifest, JsonlTooLongLineIsSkipped) {
  manifest_limits limits;
  limits.max_line_bytes = 64;
  const auto entries = read_manifest("{\"path\":\"" + std::string(200, 'a') + "\"}\n{\"path\":\"b\"}\n",
                                     manifest_format::jsonl, limits);
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(error(entries[0]).line_number, 1U);
  EXPECT_EQ(error(entries[0]).message, "line is longer than 64 bytes");
  EXPECT_EQ(item(entries[1]).path, "b");
  EXPECT_EQ(item(entries[1]).line_number, 2U);
}

TEST(Manifest, ParseJsonlLineIsPure) {
  const auto e = parse_jsonl_line(R"( { "path" : "x.jpg" , "a" : [ 1 , { "b" : "c d" } ] } )", 9);
  EXPECT_EQ(item(e).line_number, 9U);
  EXPECT_EQ(item(e).extra_fields_json, R"(,"a":[1,{"b":"c d"}])");
}

// ---- CSV ----

TEST(Manifest, CsvColumnsBecomeStringFields) {
  const auto entries = read_manifest(
      "path,label,_id,score\n"
      "cats/a.jpg,cat,id-a,0.9\n"
      "dogs/b.jpg,dog,,1\n",
      manifest_format::csv);
  ASSERT_EQ(entries.size(), 2U);
  const auto& a = item(entries[0]);
  EXPECT_EQ(a.line_number, 2U);
  EXPECT_EQ(a.path, "cats/a.jpg");
  EXPECT_EQ(a.id, "id-a");
  EXPECT_EQ(a.extra_fields_json, R"(,"label":"cat","score":"0.9")");
  EXPECT_TRUE(is_valid_json(spliced(a)));
  const auto& b = item(entries[1]);
  EXPECT_EQ(b.id, "dogs/b.jpg");  // empty _id: the path as given
  EXPECT_EQ(b.line_number, 3U);
}

TEST(Manifest, CsvQuotesCommasAndLineBreaksInFields) {
  const auto entries = read_manifest(
      "path,caption\n"
      "\"a, b.jpg\",\"she said \"\"hi\"\"\"\n"  // 2
      "c.jpg,\"two\nlines\"\n"                  // 3-4
      "\"d\"\"q.jpg\",\"crlf\r\ninside\"\r\n"   // 5-6
      "e.jpg,\"\"\n"                            // 7
      "f.jpg,5\" photo\n",                      // 8: a quote inside an unquoted field is kept
      manifest_format::csv);
  ASSERT_EQ(entries.size(), 5U);
  EXPECT_EQ(item(entries[0]).path, "a, b.jpg");
  EXPECT_EQ(item(entries[0]).extra_fields_json, R"(,"caption":"she said \"hi\"")");
  EXPECT_EQ(item(entries[1]).path, "c.jpg");
  EXPECT_EQ(item(entries[1]).line_number, 3U);
  EXPECT_EQ(item(entries[1]).extra_fields_json, R"(,"caption":"two\u000alines")");
  EXPECT_EQ(item(entries[2]).path, "d\"q.jpg");
  EXPECT_EQ(item(entries[2]).line_number, 5U);
  EXPECT_EQ(item(entries[2]).extra_fields_json, R"(,"caption":"crlf\u000d\u000ainside")");
  EXPECT_EQ(item(entries[3]).line_number, 7U);
  EXPECT_EQ(item(entries[3]).extra_fields_json, R"(,"caption":"")");
  EXPECT_EQ(item(entries[4]).extra_fields_json, R"(,"caption":"5\" photo")");
  for (const auto& e : entries) {
    EXPECT_TRUE(is_valid_json(spliced(item(e))));
  }
}

TEST(Manifest, CsvBadRowsAreReportedAndReadingGoesOn) {
  const auto entries = read_manifest(
      "path,url,label\n"           // 1
      "a.jpg,,x\n"                 // 2 ok
      "b.jpg,,x,extra\n"           // 3 four columns
      ",https://h/c.png,y\n"       // 4 ok (url)
      "d.jpg,https://h/d.png,z\n"  // 5 both
      ",,w\n"                      // 6 neither
      "\n"                         // 7 blank
      "\"e.jpg\"x,,v\n"            // 8 after closing quote
      "f.jpg\n"                    // 9 one column
      "g.jpg,,\"unterminated\n"    // 10.. to the end: skipped, then read again from 11
      "h.jpg,,u\n",
      manifest_format::csv);
  ASSERT_EQ(entries.size(), 9U);
  EXPECT_EQ(item(entries[0]).path, "a.jpg");
  EXPECT_EQ(error(entries[1]).line_number, 3U);
  EXPECT_EQ(error(entries[1]).message, "row has 4 columns, the header has 3");
  EXPECT_EQ(item(entries[2]).url, "https://h/c.png");
  EXPECT_EQ(item(entries[2]).id, "https://h/c.png");
  EXPECT_EQ(item(entries[2]).extra_fields_json, R"(,"label":"y")");
  EXPECT_EQ(error(entries[3]).line_number, 5U);
  EXPECT_EQ(error(entries[3]).message, "both path and url: give one");
  EXPECT_EQ(error(entries[4]).line_number, 6U);
  EXPECT_EQ(error(entries[4]).message, "neither path nor url");
  EXPECT_EQ(error(entries[5]).line_number, 8U);
  EXPECT_EQ(error(entries[5]).message, "unexpected character after the closing quote of column 1");
  EXPECT_EQ(error(entries[6]).line_number, 9U);
  EXPECT_EQ(error(entries[6]).message, "row has 1 columns, the header has 3");
  EXPECT_EQ(error(entries[7]).line_number, 10U);
  EXPECT_EQ(
      error(entries[7]).message,
      "unterminated quoted field (lines 10-11 were read as one record: this line is skipped and the lines "
      "after it are read as rows)");
  EXPECT_EQ(item(entries[8]).path, "h.jpg");
  EXPECT_EQ(item(entries[8]).line_number, 11U);
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (const auto* e = std::get_if<manifest_error>(&entries[i])) {
      EXPECT_FALSE(e->fatal);
    }
  }
}

// A stray quote is not closed within the record limit: its line is reported with the lines it ran
// over, and those lines are read again as rows (they were all lost, up to 1 MiB of rows, with one
// error). A quoted field with real line breaks in it still reads as one record.
TEST(Manifest, CsvAStrayQuoteCostsOneRowNotTheRowsAfterIt) {
  manifest_limits limits;
  limits.max_line_bytes = 64;
  std::string csv = "path,label\n\"a.jpg,x\n";  // line 2 opens a quote it never closes
  for (int i = 0; i < 10; ++i) csv += "img" + std::to_string(i) + ".jpg,label\n";
  csv += "\"multi\nline.jpg\",y\n";
  const auto entries = read_manifest(csv, manifest_format::csv, limits);
  ASSERT_EQ(entries.size(), 12U);
  EXPECT_EQ(error(entries[0]).line_number, 2U);
  EXPECT_EQ(error(entries[0]).message,
            "record is longer than 64 bytes (lines 2-6 were read as one record: this line is skipped and the "
            "lines after it are read as rows)");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(item(entries[static_cast<std::size_t>(i) + 1]).path, "img" + std::to_string(i) + ".jpg");
    EXPECT_EQ(item(entries[static_cast<std::size_t>(i) + 1]).line_number, static_cast<std::uint64_t>(i) + 3);
  }
  EXPECT_EQ(item(entries[11]).path, "multi\nline.jpg");
  EXPECT_EQ(item(entries[11]).line_number, 13U);

  // A quote inside the lines taken closes the stray one, and the character after it makes the record
  // bad: the lines it took are read again too, and one of them may open a quote of its own, which
  // costs its line, and nothing more.
  std::string twice = "path,label\n\"a.jpg,x\nimg0.jpg,l\n\"b.jpg,y\n";
  for (int i = 1; i < 10; ++i) twice += "img" + std::to_string(i) + ".jpg,label\n";
  const auto again = read_manifest(twice, manifest_format::csv, limits);
  ASSERT_EQ(again.size(), 12U);
  EXPECT_EQ(error(again[0]).line_number, 2U);
  EXPECT_EQ(error(again[0]).message.substr(0, 63),
            "unexpected character after the closing quote of column 1 (lines");
  EXPECT_EQ(item(again[1]).path, "img0.jpg");
  EXPECT_EQ(error(again[2]).line_number, 4U);
  EXPECT_EQ(error(again[2]).message.substr(0, 37), "record is longer than 64 bytes (lines");
  for (int i = 1; i < 10; ++i) {
    EXPECT_EQ(item(again[static_cast<std::size_t>(i) + 2]).path, "img" + std::to_string(i) + ".jpg");
    EXPECT_EQ(item(again[static_cast<std::size_t>(i) + 2]).line_number, static_cast<std::uint64_t>(i) + 4);
  }
}

TEST(Manifest, CsvCrlfAndByteOrderMark) {
  const auto entries =
      read_manifest("\xEF\xBB\xBFpath,tag\r\na.jpg,x\r\n\r\nb.jpg,\r\n", manifest_format::csv);
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(item(entries[0]).path, "a.jpg");
  EXPECT_EQ(item(entries[0]).extra_fields_json, R"(,"tag":"x")");
  EXPECT_EQ(item(entries[1]).path, "b.jpg");
  EXPECT_EQ(item(entries[1]).line_number, 4U);
  EXPECT_EQ(item(entries[1]).extra_fields_json, R"(,"tag":"")");
}

TEST(Manifest, CsvCellsAreBytes) {
  const auto entries = read_manifest("path,note\nd\xFF/\xC3\xA9.jpg,caf\xE9\n", manifest_format::csv);
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(item(entries[0]).path, "d\xFF/\xC3\xA9.jpg");
  EXPECT_EQ(item(entries[0]).extra_fields_json, R"(,"note":"caf\udce9")");
  EXPECT_TRUE(is_valid_json(spliced(item(entries[0]))));
}

TEST(Manifest, CsvUnusableHeaderIsFatal) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"file,label\na.jpg,x\n", R"(CSV header: no "path" or "url" column (columns: "file", "label"))"},
      {"path,label,label\n", R"(CSV header: column "label" appears twice)"},
      {"path,,x\n", "CSV header: column 2 has no name"},
      {"path,_url\n", "CSV header: _url is set by ximup (use url)"},
      {"path,error\n",
       "CSV header: \"error\" is a member of ximup's result lines: echoed back by the API, it would appear "
       "there twice (rename the field)"},
      {"\"path\nlabel\n", "CSV header: unterminated quoted field"},
  };
  for (const auto& [content, message] : cases) {
    const auto entries = read_manifest(content, manifest_format::csv);
    ASSERT_EQ(entries.size(), 1U) << content;
    EXPECT_EQ(error(entries[0]).message, message);
    EXPECT_EQ(error(entries[0]).line_number, 1U);
    EXPECT_TRUE(error(entries[0]).fatal);
  }
}

TEST(Manifest, EmptyInputsHaveNoEntries) {
  EXPECT_TRUE(read_manifest("", manifest_format::csv).empty());
  EXPECT_TRUE(read_manifest("\n\n", manifest_format::csv).empty());
  EXPECT_TRUE(read_manifest("path\n", manifest_format::csv).empty());
  EXPECT_TRUE(read_manifest("", manifest_format::jsonl).empty());
  EXPECT_TRUE(read_files("", false).empty());
  EXPECT_TRUE(read_files("", true).empty());
}

TEST(Manifest, ReadErrorIsFatal) {
  const int fd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // read(2) fails with EISDIR
  ASSERT_GE(fd, 0);
  manifest_reader reader(input_stream{fd}, manifest_format::jsonl);
  const auto e = reader.next();
  ASSERT_TRUE(e);
  EXPECT_TRUE(error(*e).fatal);
  EXPECT_EQ(error(*e).message, "cannot read the manifest: Is a directory");
  EXPECT_FALSE(reader.next());
  ::close(fd);
}

// ---- files lists ----

TEST(FilesFrom, OnePathPerLine) {
  const auto entries = read_files(
      "\xEF\xBB\xBF"
      "a.jpg\r\n\n./b c.jpg\n/abs/\xFF.jpg\r\nlast.jpg",
      false);
  ASSERT_EQ(entries.size(), 4U);
  EXPECT_EQ(item(entries[0]).path, "a.jpg");
  EXPECT_EQ(item(entries[0]).line_number, 1U);
  EXPECT_EQ(item(entries[1]).path, "./b c.jpg");
  EXPECT_EQ(item(entries[1]).id, "./b c.jpg");  // the path as given
  EXPECT_EQ(item(entries[1]).line_number, 3U);
  EXPECT_EQ(item(entries[2]).path, "/abs/\xFF.jpg");
  EXPECT_EQ(item(entries[3]).path, "last.jpg");
  EXPECT_EQ(item(entries[3]).line_number, 5U);
  for (const auto& e : entries) {
    EXPECT_EQ(item(e).extra_fields_json, "");
    EXPECT_FALSE(item(e).is_url());
  }
}

TEST(FilesFrom, NulSeparatedNamesMayHoldNewlines) {
  const auto entries = read_files("a\nb.jpg\0\0c\r.jpg\0 d.jpg"s, true);
  ASSERT_EQ(entries.size(), 3U);
  EXPECT_EQ(item(entries[0]).path, "a\nb.jpg");
  EXPECT_EQ(item(entries[0]).line_number, 1U);
  EXPECT_EQ(item(entries[1]).path, "c\r.jpg");  // nothing stripped
  EXPECT_EQ(item(entries[1]).line_number, 3U);
  EXPECT_EQ(item(entries[2]).path, " d.jpg");
}

TEST(FilesFrom, NulInALineAndTooLongLinesAreBadLines) {
  manifest_limits limits;
  limits.max_line_bytes = 16;
  const auto entries = read_files("a\0b.jpg\n"s + std::string(100, 'x') + "\nok.jpg\n", false, limits);
  ASSERT_EQ(entries.size(), 3U);
  EXPECT_EQ(error(entries[0]).line_number, 1U);
  EXPECT_EQ(error(entries[0]).message, "path holds a NUL byte (a NUL-separated list needs -0)");
  EXPECT_EQ(error(entries[1]).line_number, 2U);
  EXPECT_EQ(error(entries[1]).message, "line is longer than 16 bytes");
  EXPECT_EQ(item(entries[2]).path, "ok.jpg");
}

TEST(FilesFrom, StreamsFromAPipeAcrossReadChunks) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  constexpr int count = 30000;  // about 500 KB: many 64 KiB reads, lines split between them
  std::thread writer([w = fds[1]] {
    std::string all;
    for (int i = 0; i < count; ++i) {
      all += "dir/sub/image-" + std::to_string(i) + ".jpg\n";
    }
    std::size_t off = 0;
    while (off < all.size()) {
      const ssize_t n = ::write(w, all.data() + off, all.size() - off);
      if (n <= 0) {
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    ::close(w);
  });
  files_from_reader reader(input_stream{fds[0]}, false);
  int n = 0;
  while (auto e = reader.next()) {
    ASSERT_EQ(item(*e).path, "dir/sub/image-" + std::to_string(n) + ".jpg");
    ASSERT_EQ(item(*e).line_number, static_cast<std::uint64_t>(n + 1));
    ++n;
  }
  writer.join();
  ::close(fds[0]);
  EXPECT_EQ(n, count);
}
