// Tests for result_line.hpp: one JSON object per line, fields in order, bytes kept.
#include "ximup/result_line.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "ximup/json_escape.hpp"
#include "ximup/response.hpp"

namespace {

using ximup::format_result_line;
using ximup::outcome;
using ximup::result_record;

// A line read back with simdjson: keys in order, and each value as minified raw JSON. Strings are
// decoded from their raw tokens (simdjson 3.0.1 rejects the \udcXX escapes of non-UTF-8 bytes).
struct parsed_line {
  std::vector<std::string> keys;
  std::map<std::string, std::string> raw;

  [[nodiscard]] std::string text(const std::string& key) const {
    const auto bytes = ximup::parse_json_string_token(raw.at(key));
    EXPECT_TRUE(bytes.has_value()) << raw.at(key);
    return bytes.value_or("");
  }
};

parsed_line parse_line(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "more than one line";
  EXPECT_TRUE(ximup::is_valid_json(line));
  EXPECT_TRUE(ximup::is_valid_utf8(line));
  parsed_line out;
  simdjson::ondemand::parser parser;
  const simdjson::padded_string padded(line);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  EXPECT_EQ(parser.iterate(padded).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(doc.get_object().get(object), simdjson::SUCCESS);
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    EXPECT_EQ(std::move(field_result).get(field), simdjson::SUCCESS);
    std::string_view key;
    EXPECT_EQ(field.unescaped_key().get(key), simdjson::SUCCESS);
    simdjson::ondemand::json_type type{};
    EXPECT_EQ(field.value().type().get(type), simdjson::SUCCESS);
    std::string_view raw;
    if (type == simdjson::ondemand::json_type::object) {
      simdjson::ondemand::object inner;
      EXPECT_EQ(field.value().get_object().get(inner), simdjson::SUCCESS);
      EXPECT_EQ(inner.raw_json().get(raw), simdjson::SUCCESS);
    } else if (type == simdjson::ondemand::json_type::array) {
      simdjson::ondemand::array inner;
      EXPECT_EQ(field.value().get_array().get(inner), simdjson::SUCCESS);
      EXPECT_EQ(inner.raw_json().get(raw), simdjson::SUCCESS);
    } else {
      raw = field.value().raw_json_token();
    }
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n')) {
      raw.remove_suffix(1);
    }
    out.keys.emplace_back(key);
    out.raw[std::string(key)] = std::string(raw);
  }
  return out;
}

TEST(ResultLine, OkLineHasFieldsInOrder) {
  result_record r;
  r.path = "photos/cat.jpg";
  r.id = "cat.jpg";
  r.result = outcome::ok;
  r.http_status = 200;
  r.status_code = 200;
  r.status_text = "OK";
  r.attempts = 1;
  r.bytes = 123456;
  r.fields_json = R"("_tags":[{"name":"Cat","prob":0.98}],"_width":800)";
  EXPECT_EQ(format_result_line(r),
            R"({"path":"photos/cat.jpg","_id":"cat.jpg","outcome":"ok","http_status":200,)"
            R"("status_code":200,"status_text":"OK","attempts":1,"bytes":123456,)"
            R"("_tags":[{"name":"Cat","prob":0.98}],"_width":800})"
            "\n");
  const auto parsed = parse_line(format_result_line(r));
  EXPECT_EQ(parsed.keys, (std::vector<std::string>{"path", "_id", "outcome", "http_status", "status_code",
                                                   "status_text", "attempts", "bytes", "_tags", "_width"}));
  EXPECT_EQ(parsed.raw.at("_tags"), R"([{"name":"Cat","prob":0.98}])");
}

TEST(ResultLine, FailedLineCarriesErrorAndOmitsAbsentStatus) {
  result_record r;
  r.path = "a.jpg";
  r.id = "a.jpg";
  r.result = outcome::failed;
  r.http_status = 0;
  r.attempts = 5;
  r.bytes = 10;
  r.error = "connection refused after 5 attempts; check --url and the network";
  const std::string line = format_result_line(r);
  EXPECT_EQ(line, R"({"path":"a.jpg","_id":"a.jpg","outcome":"failed","http_status":0,)"
                  R"("attempts":5,"bytes":10,)"
                  R"("error":"connection refused after 5 attempts; check --url and the network"})"
                  "\n");
  const auto parsed = parse_line(line);
  EXPECT_EQ(parsed.keys, (std::vector<std::string>{"path", "_id", "outcome", "http_status", "attempts",
                                                   "bytes", "error"}));
}

TEST(ResultLine, FailedRecordWithItsOwnStatus) {
  result_record r;
  r.path = "bad.jpg";
  r.id = "bad.jpg";
  r.result = outcome::failed;
  r.http_status = 200;
  r.status_code = 400;
  r.status_text = "";  // present but empty: still written
  r.attempts = 1;
  r.error = "the API could not decode the image; check the file";
  const auto parsed = parse_line(format_result_line(r));
  EXPECT_EQ(parsed.keys, (std::vector<std::string>{"path", "_id", "outcome", "http_status", "status_code",
                                                   "status_text", "attempts", "bytes", "error"}));
  EXPECT_EQ(parsed.raw.at("status_code"), "400");
  EXPECT_EQ(parsed.text("status_text"), "");
  EXPECT_EQ(parsed.text("outcome"), "failed");
}

TEST(ResultLine, ErrorIsWrittenOnlyForFailed) {
  result_record r;
  r.path = "a.jpg";
  r.id = "a.jpg";
  r.result = outcome::ok;
  r.error = "should not appear";
  const std::string line = format_result_line(r);
  EXPECT_EQ(line.find("error"), std::string::npos);
  EXPECT_EQ(parse_line(line).text("outcome"), "ok");
}

TEST(ResultLine, OddPathsStayOnOneLineAndRoundTrip) {
  const std::vector<std::string> paths = {"new\nline.jpg",
                                          "quote\".jpg",
                                          "back\\slash.jpg",
                                          "caf\xC3\xA9.jpg",
                                          "bad\xFF\xFE.jpg",
                                          std::string("nul\0byte.jpg", 12),
                                          "tab\tcr\r.jpg",
                                          "\xED\xA0\x80surrogate.jpg",
                                          "emoji\xF0\x9F\x98\x80.jpg"};
  for (const auto& path : paths) {
    result_record r;
    r.path = path;
    r.id = path;
    r.result = outcome::failed;
    r.error = "line1\nline2 \"quoted\" \xFF";
    r.status_code = 500;
    r.status_text = "Internal\nError";
    const std::string line = format_result_line(r);
    const auto parsed = parse_line(line);
    EXPECT_EQ(parsed.text("path"), path);
    EXPECT_EQ(parsed.text("_id"), path);
    EXPECT_EQ(parsed.text("error"), "line1\nline2 \"quoted\" \xFF");
    EXPECT_EQ(parsed.text("status_text"), "Internal\nError");
  }
}

TEST(ResultLine, ExtremeNumbers) {
  result_record r;
  r.path = "p";
  r.id = "i";
  r.result = outcome::ok;
  r.http_status = std::numeric_limits<int>::min();
  r.status_code = std::numeric_limits<int>::max();
  r.attempts = std::numeric_limits<int>::max();
  r.bytes = std::numeric_limits<std::uint64_t>::max();
  const auto parsed = parse_line(format_result_line(r));
  EXPECT_EQ(parsed.raw.at("http_status"), "-2147483648");
  EXPECT_EQ(parsed.raw.at("status_code"), "2147483647");
  EXPECT_EQ(parsed.raw.at("bytes"), "18446744073709551615");
}

TEST(ResultLine, FieldsFromAParsedResponseSpliceIn) {
  const std::string body = R"({"records":[{"_id":"x","_base64":"AAAA","_status":{"code":200,"text":"OK"},)"
                           R"( "_dominant_colors": {"rgb_hex_colors": ["#ffffff"], "percentages": [1.0]},)"
                           R"( "note": "\udc80"}]})";
  const std::vector<std::string> sent = {"x"};
  const auto response = ximup::parse_records_response(body, sent);
  ASSERT_TRUE(response.ok()) << response.error;
  const auto& rec = response.response.records[0];
  result_record r;
  r.path = "dir/x";
  r.id = "x";
  r.result = outcome::ok;
  r.http_status = 200;
  r.status_code = rec.status_code;
  r.status_text = rec.status_text;
  r.attempts = 1;
  r.fields_json = rec.fields_json;
  const std::string line = format_result_line(r);
  EXPECT_EQ(line.find("_base64"), std::string::npos);
  const auto parsed = parse_line(line);
  EXPECT_EQ(parsed.keys.back(), "note");
  EXPECT_EQ(parsed.raw.at("_dominant_colors"), R"({"rgb_hex_colors":["#ffffff"],"percentages":[1.0]})");
  EXPECT_EQ(parsed.text("note"), "\x80");
}

}  // namespace
