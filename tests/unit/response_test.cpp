// Tests for response.hpp: records responses, error bodies, JSON validation.
#include "ximup/response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ximup/json_escape.hpp"

namespace {

using ximup::describe_error_body;
using ximup::is_valid_json;
using ximup::parse_records_response;

std::vector<std::string> ids(std::initializer_list<const char*> values) {
  return {values.begin(), values.end()};
}

TEST(Response, ParsesRecordsInOrderWithTheirOwnStatus) {
  const std::string body = R"({
    "records": [
      {"_id": "a.jpg", "_width": 800, "_height": 533,
       "_status": {"code": 200, "text": "OK", "request_id": "e24d"},
       "_tags": [{"name": "Dog", "prob": 0.93, "id": "x1"}]},
      {"_id": "b.jpg", "_status": {"code": 400, "text": "Image is not decodable"}}
    ],
    "status": {"code": 200, "text": "OK", "request_id": "e24d"},
    "statistics": {"processing time": 0.41}
  })";
  const auto sent = ids({"a.jpg", "b.jpg"});
  const auto out = parse_records_response(body, sent);
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.response.status_code, 200);
  EXPECT_EQ(out.response.status_text, "OK");
  ASSERT_EQ(out.response.records.size(), 2U);
  const auto& a = out.response.records[0];
  EXPECT_EQ(a.status_code, 200);
  EXPECT_EQ(a.status_text, "OK");
  EXPECT_EQ(a.fields_json, R"("_width":800,"_height":533,"_tags":[{"name":"Dog","prob":0.93,"id":"x1"}])");
  const auto& b = out.response.records[1];
  EXPECT_EQ(b.status_code, 400);
  EXPECT_EQ(b.status_text, "Image is not decodable");
  EXPECT_EQ(b.fields_json, "");
}

TEST(Response, FieldsJsonSplicesIntoAnObject) {
  const std::string body = R"({"records":[{"_status":{"code":200},"best_label":{"name":"cat","prob":1},)"
                           R"("labels":[],"note":"a \"quoted\" \u00e9 \udc80","n":null,"t":true}]})";
  const auto out = parse_records_response(body, ids({"x"}));
  ASSERT_TRUE(out.ok()) << out.error;
  const std::string& fields = out.response.records[0].fields_json;
  EXPECT_EQ(fields, R"("best_label":{"name":"cat","prob":1},"labels":[],)"
                    R"("note":"a \"quoted\" \u00e9 \udc80","n":null,"t":true)");
  EXPECT_TRUE(is_valid_json("{" + fields + "}"));
  EXPECT_TRUE(out.response.records[0].status_text.empty());
}

TEST(Response, EchoedBase64UrlIdAndStatusAreNotCopied) {
  const std::string body = R"({"records":[{"_base64":"/9j/4AAQSkZJRg==","_url":"https://x/y.jpg",)"
                           R"("_id":"p","_status":{"code":200,"text":"OK"},"_tags":[]}]})";
  const auto out = parse_records_response(body, ids({"p"}));
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.response.records[0].fields_json, R"("_tags":[])");
}

// Members named like ximup's own in the result line (outcome, error, bytes, ...) are not copied: the
// line would hold the key twice, and JSON readers keep the last one (a success read as "failed").
TEST(Response, MembersNamedLikeTheResultLinesOwnAreNotCopied) {
  const std::string body = R"({"records":[{"_status":{"code":200},"outcome":"failed","error":"x",)"
                           R"("bytes":-1,"http_status":999,"_tags":[],"label":"cat"}]})";
  const auto out = parse_records_response(body, ids({"p"}));
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.response.records[0].fields_json, R"("_tags":[],"label":"cat")");
}

TEST(Response, NestedResultsAreMinified) {
  const std::string body =
      "{\"records\": [ {\n \"_status\" : { \"code\" : 200 } ,\n"
      "  \"_dominant_colors\" : {\n    \"rgb_colors\" : [ [ 1 , 2 , 3 ] ],\n"
      "    \"color_names\" : [ \"dark blue\" , \"a  b\" ]\n  } ,\n"
      "  \"_width\" : 10   \n } ] }";
  const auto out = parse_records_response(body, ids({"a"}));
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.response.records[0].fields_json,
            R"("_dominant_colors":{"rgb_colors":[[1,2,3]],"color_names":["dark blue","a  b"]},)"
            R"("_width":10)");
}

TEST(Response, HugeNumbersAreKeptAsWritten) {
  const std::string body = R"({"records":[{"_status":{"code":200},"big":123456789012345678901234567890,)"
                           R"("huge":1e400,"tiny":-2.5E-400}]})";
  const auto out = parse_records_response(body, ids({"a"}));
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.response.records[0].fields_json,
            R"("big":123456789012345678901234567890,"huge":1e400,"tiny":-2.5E-400)");
}

TEST(Response, StatusCodeMustBeAnInteger) {
  for (const char* status : {R"({"code":"200"})", R"({"code":200.5})", R"({"code":1e99})",
                             R"({"code":99999999999})", R"({"text":"OK"})"}) {
    const std::string body = std::string(R"({"records":[{"_status":)") + status + "}]}";
    const auto out = parse_records_response(body, ids({"a"}));
    EXPECT_EQ(out.error, "record 1 _status has no integer code") << status;
  }
  const auto not_object = parse_records_response(R"({"records":[{"_status":200}]})", ids({"a"}));
  EXPECT_EQ(not_object.error, "record 1 has no _status");
}

TEST(Response, MissingStatusIsAnError) {
  const std::string body = R"({"records":[{"_status":{"code":200}},{"_tags":[]}]})";
  const auto out = parse_records_response(body, ids({"a", "b"}));
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(out.error, "record 2 has no _status");
}

TEST(Response, RecordCountMustMatchTheRequest) {
  const std::string body = R"({"records":[{"_status":{"code":200}},{"_status":{"code":200}},)"
                           R"({"_status":{"code":200}}]})";
  EXPECT_EQ(parse_records_response(body, ids({"a", "b", "c", "d"})).error,
            "response has 3 records, request had 4");
  EXPECT_EQ(parse_records_response(body, ids({"a", "b"})).error, "response has 3 records, request had 2");
  EXPECT_EQ(parse_records_response(R"({"records":[]})", ids({"a"})).error,
            "response has 0 records, request had 1");
  EXPECT_TRUE(parse_records_response(R"({"records":[]})", {}).ok());
}

TEST(Response, IdMustMatchTheSentOne) {
  const std::string body = R"({"records":[{"_id":"a","_status":{"code":200}},)"
                           R"({"_id":"WRONG","_status":{"code":200}}]})";
  EXPECT_EQ(parse_records_response(body, ids({"a", "b"})).error, "record 2 _id does not match the request");
  const std::string numeric = R"({"records":[{"_id":1,"_status":{"code":200}}]})";
  EXPECT_EQ(parse_records_response(numeric, ids({"1"})).error, "record 1 _id does not match the request");
  // A record without _id is matched by position.
  const std::string no_id = R"({"records":[{"_status":{"code":200}},{"_status":{"code":500}}]})";
  const auto out = parse_records_response(no_id, ids({"a", "b"}));
  ASSERT_TRUE(out.ok()) << out.error;
  EXPECT_EQ(out.response.records[1].status_code, 500);
}

// A server that reorders its records, or leaves some out, is matched by _id when every record has
// one: thrown away whole, the answer was resent five times (six inserts for similarity-insert) and
// then every image failed. An _id that was not sent, or one returned twice, leaves it unusable.
TEST(Response, RecordsOutOfOrderOrMissingAreMatchedById) {
  const std::string reordered =
      R"({"records":[{"_id":"c","_status":{"code":500}},)"
      R"({"_id":"a","_status":{"code":200},"_tags":[1]},{"_id":"b","_status":{"code":400}}]})";
  auto out = parse_records_response(reordered, ids({"a", "b", "c"}));
  ASSERT_TRUE(out.ok()) << out.error;
  ASSERT_EQ(out.response.records.size(), 3U);
  EXPECT_EQ(out.response.records[0].status_code, 200);
  EXPECT_EQ(out.response.records[0].fields_json, R"("_tags":[1])");
  EXPECT_EQ(out.response.records[1].status_code, 400);
  EXPECT_EQ(out.response.records[2].status_code, 500);
  for (const auto& r : out.response.records) EXPECT_FALSE(r.missing);

  const std::string short_one =
      R"({"records":[{"_id":"c","_status":{"code":200}},{"_id":"a","_status":{"code":200}}]})";
  out = parse_records_response(short_one, ids({"a", "b", "c"}));
  ASSERT_TRUE(out.ok()) << out.error;
  ASSERT_EQ(out.response.records.size(), 3U);
  EXPECT_FALSE(out.response.records[0].missing);
  EXPECT_TRUE(out.response.records[1].missing);
  EXPECT_EQ(out.response.records[1].status_code, 0);
  EXPECT_FALSE(out.response.records[2].missing);

  const std::string unknown =
      R"({"records":[{"_id":"b","_status":{"code":200}},{"_id":"x","_status":{"code":200}}]})";
  EXPECT_EQ(parse_records_response(unknown, ids({"a", "b"})).error,
            "record 1 _id does not match the request");
  const std::string twice =
      R"({"records":[{"_id":"b","_status":{"code":200}},{"_id":"b","_status":{"code":200}}]})";
  EXPECT_FALSE(parse_records_response(twice, ids({"a", "b"})).ok());
  const std::string no_status = R"({"records":[{"_id":"b","_status":{"code":200}},{"_id":"a"}]})";
  EXPECT_FALSE(parse_records_response(no_status, ids({"a", "b"})).ok());
  // Sent _ids that repeat (two roots, one relative path) can only be matched by position.
  const std::string repeated =
      R"({"records":[{"_id":"a","_status":{"code":200}},{"_id":"b","_status":{"code":200}}]})";
  EXPECT_FALSE(parse_records_response(repeated, ids({"b", "b"})).ok());
}

TEST(Response, IdIsComparedAfterUndoingSurrogateescape) {
  const std::vector<std::string> sent = {"caf\xC3\xA9/\xFF\xFE\"q\"\n.jpg", "plain"};
  std::string body = R"({"records":[{"_id":)" + ximup::json_string(sent[0]) +
                     R"(,"_status":{"code":200}},{"_id":"plain","_status":{"code":200}}]})";
  ASSERT_NE(body.find("\\udcff\\udcfe"), std::string::npos);  // simdjson 3.0.1 rejects these
  const auto out = parse_records_response(body, sent);
  EXPECT_TRUE(out.ok()) << out.error;
  // The same id as the server may write it: non-ASCII escaped, other escapes spelled otherwise.
  const std::string reescaped = R"({"records":[{"_id":"caf\u00e9\/\udcff\udcfe\"q\"\n.jpg",)"
                                R"("_status":{"code":200}},{"_id":"pl\u0061in","_status":{"code":200}}]})";
  EXPECT_TRUE(parse_records_response(reescaped, sent).ok());
  const std::vector<std::string> other = {"caf\xC3\xA9/\xFF\xFD\"q\"\n.jpg", "plain"};
  EXPECT_EQ(parse_records_response(body, other).error, "record 1 _id does not match the request");
}

TEST(Response, NonObjectRecordsAreErrors) {
  EXPECT_EQ(parse_records_response(R"({"records":[1]})", ids({"a"})).error, "record 1 is not an object");
  EXPECT_EQ(parse_records_response(R"({"records":[{"_status":{"code":200}},"x"]})", ids({"a", "b"})).error,
            "record 2 is not an object");
  EXPECT_EQ(parse_records_response(R"({"records":{"a":1}})", ids({"a"})).error,
            "response records is not an array");
  EXPECT_EQ(parse_records_response(R"({"status":{"code":200}})", ids({"a"})).error,
            "response has no records array");
  EXPECT_EQ(parse_records_response(R"([{"_status":{"code":200}}])", ids({"a"})).error,
            "response is not a JSON object");
}

TEST(Response, InvalidOrTruncatedJsonIsRejected) {
  const std::string good = R"({"records":[{"_status":{"code":200},"_tags":[{"name":"x"}]}]})";
  ASSERT_TRUE(parse_records_response(good, ids({"a"})).ok());
  // Every proper prefix of a valid response is invalid.
  for (std::size_t n = 0; n < good.size(); ++n) {
    const auto out = parse_records_response(good.substr(0, n), ids({"a"}));
    EXPECT_FALSE(out.ok()) << good.substr(0, n);
    EXPECT_EQ(out.error.rfind("invalid JSON: ", 0), 0U) << out.error;
  }
  for (const char* bad : {
           R"({"records":[{"_status":{"code":200},"x":[1,,2]}]})",  // inside a nested value
           R"({"records":[{"_status":{"code":200},"x":{"a" 1}}]})",
           R"({"records":[{"_status":{"code":200},"x":"b":{"c":[]}}]})",  // on-demand skips this
           R"({"records":[{"_status":{"code":200},"x":01}]})",            // bad number
           R"({"records":[{"_status":{"code":200},"x":tru}]})",
           R"({"records":[{"_status":{"code":200},"x":"\q"}]})",  // bad escape
           R"({"records":[{"_status":{"code":200}}]}})",          // trailing
           R"({"records":[{"_status":{"code":200}}]} x)",
           "{\"records\":[{\"_status\":{\"code\":200},\"x\":\"a\tb\"}]}",  // raw control char
           "{\"records\":[{\"_status\":{\"code\":200},\"x\":\"\xFF\"}]}",  // invalid UTF-8
           "<html><body>502 Bad Gateway</body></html>",
       }) {
    const auto out = parse_records_response(bad, ids({"a"}));
    EXPECT_EQ(out.error.rfind("invalid JSON: ", 0), 0U) << bad << " -> " << out.error;
  }
}

TEST(Response, DescribeErrorBodyPrefersDetailThenStatusTextThenMessage) {
  EXPECT_EQ(describe_error_body(R"({"detail": "Invalid token."})"), "Invalid token.");
  EXPECT_EQ(describe_error_body(R"({"status": {"code": 400, "text": "Bad records"}, "detail": "D"})"), "D");
  EXPECT_EQ(describe_error_body(R"({"status": {"code": 400, "text": "Bad records"}})"), "Bad records");
  EXPECT_EQ(describe_error_body(R"({"message": "Too many requests"})"), "Too many requests");
  EXPECT_EQ(describe_error_body(R"({"error": "quota"})"), "quota");
  EXPECT_EQ(describe_error_body(R"({"detail": ["a", "b"]})"), R"(["a","b"])");
  // JSON without any of these: the body itself.
  EXPECT_EQ(describe_error_body(R"({"records": ["This field is required."]})"),
            R"({"records": ["This field is required."]})");
  EXPECT_EQ(describe_error_body(R"({"detail": "line1\nline2\u0007"})"), "line1 line2");
}

// Proxies and load balancers answer with HTML pages: their title, or their text without tags.
TEST(Response, DescribeErrorBodyGivesTheTitleOrTheTextOfAnHtmlPage) {
  EXPECT_EQ(describe_error_body("<!DOCTYPE html>\n<HTML><HEAD><TITLE>\n 503 Service Unavailable\n</TITLE>"
                                "<style>p{}</style></HEAD><BODY><h1>503</h1></BODY></HTML>"),
            "503 Service Unavailable (an HTML page)");
  EXPECT_EQ(describe_error_body("<html><body><h1>Gateway Timeout</h1>\n<p>The upstream did not answer.</p>"
                                "</body></html>"),
            "Gateway Timeout The upstream did not answer. (an HTML page)");
  EXPECT_EQ(describe_error_body("<html><head><script>var a = 1 < 2;</script><STYLE>h1 {}</STYLE></head>"
                                "<body>Down for maintenance</body></html>"),
            "Down for maintenance (an HTML page)");
  EXPECT_EQ(describe_error_body("<html><title></title><body></body></html>"), "(no text) (an HTML page)");
  EXPECT_EQ(describe_error_body("<html><title>unclosed"), "unclosed (an HTML page)");
  // A '<' that opens no tag is text; a byte order mark, an XML declaration or a comment before
  // the page does not hide it.
  EXPECT_EQ(describe_error_body("<html><body>Queue full: 3 < 5 slots free, retry later</body></html>"),
            "Queue full: 3 < 5 slots free, retry later (an HTML page)");
  EXPECT_EQ(describe_error_body("\xEF\xBB\xBF<!DOCTYPE html><html><title>502 Bad Gateway</title></html>"),
            "502 Bad Gateway (an HTML page)");
  EXPECT_EQ(describe_error_body(
                "<?xml version=\"1.0\"?>\n<!-- proxy -->\n<html xmlns=\"http://www.w3.org/1999/xhtml\">"
                "<body><p>Service Unavailable</p></body></html>"),
            "Service Unavailable (an HTML page)");
  // Not HTML: left as it is.
  EXPECT_EQ(describe_error_body("<error>quota</error>"), "<error>quota</error>");
  EXPECT_EQ(describe_error_body("<?xml version=\"1.0\"?><error>quota</error>"),
            "<?xml version=\"1.0\"?><error>quota</error>");
  const std::string long_page = "<html><body>" + std::string(1000, 'w') + "</body></html>";
  EXPECT_EQ(describe_error_body(long_page), std::string(200, 'w') + "... (an HTML page)");
}

TEST(Response, DescribeErrorBodyMakesAnyBodyOnePrintableLine) {
  EXPECT_EQ(describe_error_body(""), "(empty body)");
  EXPECT_EQ(describe_error_body(" \r\n "), "(empty body)");
  EXPECT_EQ(describe_error_body("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>"),
            "502 Bad Gateway (an HTML page)");
  EXPECT_EQ(describe_error_body("a\x01\x7F"
                                "b\tc"),
            "a b c");
  EXPECT_EQ(describe_error_body("bad \xFF byte"), "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(describe_error_body("C1 \xC2\x85 control"), "C1 control");
  EXPECT_EQ(describe_error_body("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(describe_error_body(std::string_view("nul\0inside", 10)), "nul inside");
  const std::string long_body(1000, 'x');
  EXPECT_EQ(describe_error_body(long_body), std::string(200, 'x') + "...");
  // A cut never splits a UTF-8 character.
  const std::string accents = std::string(199, 'x') + "\xC3\xA9\xC3\xA9";
  EXPECT_EQ(describe_error_body(accents), std::string(199, 'x') + "...");
  const std::string json_detail = R"({"detail":")" + std::string(500, 'd') + R"("})";
  EXPECT_EQ(describe_error_body(json_detail), std::string(200, 'd') + "...");
  for (const std::string& out : {describe_error_body("\n\n{not json"), describe_error_body("{\"detail\":")}) {
    EXPECT_EQ(out.find('\n'), std::string::npos);
    EXPECT_TRUE(ximup::is_valid_utf8(out));
  }
}

TEST(Response, IsValidJson) {
  for (const char* good :
       {"1", "-0.5e+10", "123456789012345678901234567890", "\"text\"", "\"\\udc80\"", "true", "false", "null",
        " [ ] ", "{}", R"({"a":[1,{"b":null}],"c":"\u00e9"})", "[\"caf\xC3\xA9\"]"}) {
    EXPECT_TRUE(is_valid_json(good)) << good;
  }
  for (const char* bad : {"",
                          " ",
                          "tru",
                          "nul",
                          "01",
                          "1.",
                          ".5",
                          "+1",
                          "1e",
                          "'x'",
                          "\"abc",
                          "[1,]",
                          "[1 2]",
                          "{\"a\"}",
                          "{\"a\":1,}",
                          "{a:1}",
                          "[1]]",
                          "{} {}",
                          "1 2",
                          "{\"a\":\"b\":1}",
                          "\"a\" \"b\"",
                          "\"\\x\"",
                          "\"\t\"",
                          "[\"\xFF\"]",
                          "\xFF",
                          "{\"a\":[}]"}) {
    EXPECT_FALSE(is_valid_json(bad)) << bad;
  }
  std::string deep(600, '[');
  deep += std::string(600, ']');
  EXPECT_FALSE(is_valid_json(deep));  // deeper than the nesting limit
  std::string fine(100, '[');
  fine += std::string(100, ']');
  EXPECT_TRUE(is_valid_json(fine));
}

}  // namespace
