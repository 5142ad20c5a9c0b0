// Tests for secret_scrub.hpp: the token is cut out however JSON escapes it, and nothing else moves.
#include "ximup/secret_scrub.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

namespace {

using ximup::scrub_secret;
using ximup::unescape_printable_json;

// Every character of `s` as a \uXXXX escape, as a server with ensure_ascii-style escaping may write it.
std::string all_escaped(const std::string& s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    out += "\\u00";
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

// What a JSON reader makes of the string literal `json` (with its quotes).
std::string decoded(const std::string& json) {
  simdjson::ondemand::parser parser;
  const simdjson::padded_string text("[" + json + "]");
  auto doc = parser.iterate(text);
  std::string out;
  for (auto v : doc.get_array()) out = std::string(std::string_view(v.get_string()));
  return out;
}

TEST(SecretScrub, UnescapingKeepsTheJsonValue) {
  for (const char* json : {R"("a\/b")", R"("\u0073\u0065c")", R"("q\"\\u0041\\")", R"("tab\tline\n")",
                           R"("\u00e9 and \u20ac")", R"("\u0022\u005c")", R"("\\")"}) {
    EXPECT_EQ(decoded(unescape_printable_json(json)), decoded(json)) << json;
  }
  EXPECT_EQ(unescape_printable_json(R"(a\/b\u0041\u0022\\u0041\)"), R"(a/bA\u0022\\u0041\)");
  EXPECT_EQ(unescape_printable_json(R"(\u00zz\u12)"), R"(\u00zz\u12)");
}

TEST(SecretScrub, TheTokenIsCutOutHoweverItIsWritten) {
  const std::string token = "s3cr/et-Token+42";
  std::string escaped_slashes;
  for (const char c : token) escaped_slashes += c == '/' ? std::string("\\/") : std::string(1, c);
  for (const std::string& form :
       {token, escaped_slashes, all_escaped(token), std::string("s3cr\\/e\\u0074-Token\\u002b42")}) {
    std::string body = R"({"detail": "bad header: Token )" + form + R"(", "n": "a\\b"})";
    EXPECT_TRUE(scrub_secret(body, token)) << form;
    EXPECT_NE(body.find("[redacted]"), std::string::npos) << body;
    EXPECT_EQ(unescape_printable_json(body).find(token), std::string::npos) << body;
    EXPECT_NE(body.find(R"("n": "a\\b")"), std::string::npos) << "other escapes are kept: " << body;
  }
  std::string twice = token + " and " + all_escaped(token);
  EXPECT_TRUE(scrub_secret(twice, token));
  EXPECT_EQ(twice, "[redacted] and [redacted]");
  std::string location = "https://other.example/login?token=" + token;
  EXPECT_TRUE(scrub_secret(location, token));
  EXPECT_EQ(location, "https://other.example/login?token=[redacted]");
}

TEST(SecretScrub, TextWithoutTheTokenIsLeftByteForByte) {
  const std::string token = "0123456789abcdef";
  for (const std::string& text :
       {std::string(R"({"records": [{"_url": "https:\/\/x\/a.jpg", "t": "\u0041"}]})"),
        std::string("<html>0123456789abcde</html>"), std::string()}) {
    std::string copy = text;
    EXPECT_FALSE(scrub_secret(copy, token)) << text;
    EXPECT_EQ(copy, text);
  }
  std::string short_secret = "the word pass";
  EXPECT_FALSE(scrub_secret(short_secret, "pass"));  // under 8 characters: never replaced
  EXPECT_EQ(short_secret, "the word pass");
}

// The cheap test that decides whether a reply is copied to be scrubbed.
TEST(SecretScrub, MayHoldSecretIsTrueWhereverScrubbingCouldChangeTheText) {
  const std::string token = "0123456789abcdef";
  EXPECT_TRUE(ximup::may_hold_secret("id " + token, token));
  EXPECT_TRUE(ximup::may_hold_secret(R"(\u0030123456789abcdef)", token));  // only escapes can hide it
  EXPECT_FALSE(ximup::may_hold_secret("<html>0123456789abcde</html>", token));
  EXPECT_FALSE(ximup::may_hold_secret("the word pass", "pass"));
}

}  // namespace
