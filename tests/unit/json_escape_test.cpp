// Tests for json_escape.hpp: escaping, surrogateescape for invalid UTF-8, and round trips.
#include "ximup/json_escape.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using ximup::append_json_string;
using ximup::decode_surrogateescape;
using ximup::is_valid_utf8;
using ximup::json_string;
using ximup::json_string_size;
using ximup::parse_json_string_token;

std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (const int v : values) {
    s.push_back(static_cast<char>(v));
  }
  return s;
}

std::string in_quotes(std::string_view inner) {
  return "\"" + std::string(inner) + "\"";
}

// The bytes that simdjson's get_string() gives for `json`, or nullopt when it rejects the string.
std::optional<std::string> simdjson_string(const std::string& json) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded("[" + json + "]");
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::string_view value;
  if (doc.get_array().at(0).get_string().get(value) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return std::string(value);
}

std::string random_bytes(std::mt19937& rng, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len_dist(0, max_len);
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> ascii(0x20, 0x7E);
  const std::size_t len = len_dist(rng);
  std::string s;
  while (s.size() < len) {
    switch (kind(rng)) {
      case 0:
        s += "\xC3\xA9";
        break;  // valid 2-byte
      case 1:
        s += "\xE2\x82\xAC";
        break;  // valid 3-byte
      case 2:
        s += "\xF0\x9F\x98\x80";
        break;  // valid 4-byte
      case 3:
      case 4:
        s.push_back(static_cast<char>(byte(rng)));
        break;
      default:
        s.push_back(static_cast<char>(ascii(rng)));
        break;
    }
  }
  return s;
}

TEST(JsonEscape, PlainAsciiIsCopiedUnchanged) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("photos/2024/cat.jpg"), "\"photos/2024/cat.jpg\"");
  const std::string long_name(1000, 'x');
  EXPECT_EQ(json_string(long_name), in_quotes(long_name));
  EXPECT_EQ(json_string("a ~!@#$%^&*()_+{}|:<>?/'`"), "\"a ~!@#$%^&*()_+{}|:<>?/'`\"");
}

TEST(JsonEscape, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(json_string("\""), R"("\"")");
  EXPECT_EQ(json_string("\\"), R"("\\")");
  EXPECT_EQ(json_string(R"(say "hi" \o/)"), R"("say \"hi\" \\o/")");
}

TEST(JsonEscape, EveryControlCharacterBecomesUnicodeEscape) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int c = 0; c < 0x20; ++c) {
    const std::string expected = std::string("\"\\u00") + hex[c >> 4] + hex[c & 15] + "\"";
    EXPECT_EQ(json_string(std::string(1, static_cast<char>(c))), expected) << "byte " << c;
  }
  EXPECT_EQ(json_string("\x7F"), R"("\u007f")");
  EXPECT_EQ(json_string("a\nb\tc"), R"("a\u000ab\u0009c")");
  EXPECT_EQ(json_string(std::string_view("\0x", 2)), R"("\u0000x")");
}

TEST(JsonEscape, ValidMultiByteUtf8PassesThrough) {
  const std::vector<std::string> valid = {
      bytes({0xC2, 0x80}),              // U+0080, smallest 2-byte
      bytes({0xC3, 0xA9}),              // é
      bytes({0xDF, 0xBF}),              // U+07FF
      bytes({0xE0, 0xA0, 0x80}),        // U+0800, smallest 3-byte
      bytes({0xE2, 0x82, 0xAC}),        // €
      bytes({0xED, 0x9F, 0xBF}),        // U+D7FF, just below the surrogates
      bytes({0xEE, 0x80, 0x80}),        // U+E000, just above them
      bytes({0xEF, 0xBF, 0xBF}),        // U+FFFF
      bytes({0xF0, 0x90, 0x80, 0x80}),  // U+10000, smallest 4-byte
      bytes({0xF0, 0x9F, 0x98, 0x80}),  // 😀
      bytes({0xF4, 0x8F, 0xBF, 0xBF}),  // U+10FFFF, the largest code point
  };
  for (const auto& s : valid) {
    EXPECT_TRUE(is_valid_utf8(s));
    EXPECT_EQ(json_string(s), in_quotes(s));
    EXPECT_EQ(json_string("ab" + s + "cd"), in_quotes("ab" + s + "cd"));
  }
  EXPECT_EQ(json_string("Žluťoučký kůň.jpg"), "\"Žluťoučký kůň.jpg\"");
}

TEST(JsonEscape, InvalidUtf8BytesBecomeLoneSurrogateEscapes) {
  struct vector_case {
    std::string input;
    std::string expected_inner;
  };
  const std::vector<vector_case> cases = {
      {bytes({0x80}), R"(\udc80)"},  // stray continuation
      {bytes({0xBF}), R"(\udcbf)"},
      {"a" + bytes({0x80, 0x80}) + "b", R"(a\udc80\udc80b)"},
      {bytes({0xC0, 0x80}), R"(\udcc0\udc80)"},              // overlong NUL
      {bytes({0xC1, 0xBF}), R"(\udcc1\udcbf)"},              // overlong 2-byte
      {bytes({0xE0, 0x80, 0x80}), R"(\udce0\udc80\udc80)"},  // overlong 3-byte
      {bytes({0xE0, 0x9F, 0xBF}), R"(\udce0\udc9f\udcbf)"},
      {bytes({0xF0, 0x80, 0x80, 0x80}), R"(\udcf0\udc80\udc80\udc80)"},  // overlong 4-byte
      {bytes({0xF0, 0x8F, 0xBF, 0xBF}), R"(\udcf0\udc8f\udcbf\udcbf)"},
      {bytes({0xED, 0xA0, 0x80}), R"(\udced\udca0\udc80)"},              // encoded surrogate D800
      {bytes({0xED, 0xB2, 0x80}), R"(\udced\udcb2\udc80)"},              // encoded surrogate DC80
      {bytes({0xF4, 0x90, 0x80, 0x80}), R"(\udcf4\udc90\udc80\udc80)"},  // U+110000
      {bytes({0xC3}), R"(\udcc3)"},                                      // truncated at end
      {bytes({0xE2, 0x82}), R"(\udce2\udc82)"},
      {bytes({0xF0, 0x9F, 0x98}), R"(\udcf0\udc9f\udc98)"},
      {bytes({0xE2, 0x82, 0x41}), R"(\udce2\udc82A)"},  // truncated before ASCII
      {bytes({0xC3, 0xC3, 0xA9}), "\\udcc3\xC3\xA9"},   // bad lead, then valid é
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(is_valid_utf8(c.input));
    EXPECT_EQ(json_string(c.input), in_quotes(c.expected_inner));
  }
  for (int lead = 0xF5; lead <= 0xFF; ++lead) {  // bytes that never occur in UTF-8
    static constexpr char hex[] = "0123456789abcdef";
    const std::string input = bytes({lead, 0x80, 0x80, 0x80});
    const std::string expected =
        std::string("\\udc") + hex[lead >> 4] + hex[lead & 15] + R"(\udc80\udc80\udc80)";
    EXPECT_EQ(json_string(input), in_quotes(expected)) << "lead " << lead;
  }
}

TEST(JsonEscape, EscapesAtEveryOffsetOfTheBulkCopy) {
  // The ASCII fast path copies 8 bytes at a time: put each kind of special byte at every offset.
  const std::vector<std::pair<std::string, std::string>> specials = {
      {"\"", R"(\")"},
      {"\\", R"(\\)"},
      {"\x1F", R"(\u001f)"},
      {"\x7F", R"(\u007f)"},
      {bytes({0xFF}), R"(\udcff)"},
      {bytes({0xC3, 0xA9}), bytes({0xC3, 0xA9})}};
  for (const auto& [special, escaped] : specials) {
    for (std::size_t at = 0; at < 20; ++at) {
      const std::string input = std::string(at, 'a') + special + std::string(19 - at, 'b');
      const std::string expected = std::string(at, 'a') + escaped + std::string(19 - at, 'b');
      EXPECT_EQ(json_string(input), in_quotes(expected)) << "offset " << at;
    }
  }
}

TEST(JsonEscape, AppendKeepsWhatIsAlreadyThere) {
  std::string out = R"({"path":)";
  append_json_string(out, "a\"b");
  out += "}";
  EXPECT_EQ(out, R"({"path":"a\"b"})");
}

TEST(JsonEscape, SizeEqualsAppendedSize) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 2000; ++i) {
    const std::string s = random_bytes(rng, 64);
    std::string out = "prefix";
    append_json_string(out, s);
    ASSERT_EQ(json_string_size(s), out.size() - 6);
  }
  EXPECT_EQ(json_string_size(""), 2U);
  EXPECT_EQ(json_string_size("\x01"), 8U);
  EXPECT_EQ(json_string_size(bytes({0xF0, 0x9F, 0x98, 0x80})), 6U);
}

TEST(JsonEscape, DecodeSurrogateescapeMapsLowSurrogatesBackToBytes) {
  // U+DC80 and U+DCFF as a lenient parser (or Python) encodes them, with other text around.
  const std::string utf8ish = "a" + bytes({0xED, 0xB2, 0x80}) + "b" + bytes({0xED, 0xB3, 0xBF});
  EXPECT_EQ(decode_surrogateescape(utf8ish), "a" + bytes({0x80}) + "b" + bytes({0xFF}));
  // Valid UTF-8 (including ED 9F BF) and surrogates outside DC80..DCFF stay as they are.
  for (const std::string& s :
       {bytes({0xED, 0x9F, 0xBF}), bytes({0xED, 0xB0, 0x80}), bytes({0xED, 0xA0, 0x80}), bytes({0xED}),
        bytes({0xED, 0xB2}), std::string("plain")}) {
    EXPECT_EQ(decode_surrogateescape(s), s);
  }
}

TEST(JsonEscape, ParseTokenUndoesEveryEscape) {
  EXPECT_EQ(parse_json_string_token(R"("")"), "");
  EXPECT_EQ(parse_json_string_token(R"("a\"b\\c\/d\be\ff\ng\rh\ti")"), "a\"b\\c/d\be\ff\ng\rh\ti");
  EXPECT_EQ(parse_json_string_token(R"("\u0041\u00e9\u20AC")"), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(parse_json_string_token(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_json_string_token(R"("\udc80\udcff")"), bytes({0x80, 0xFF}));
  // A lone surrogate that is not a surrogateescape keeps its generalized UTF-8 form.
  EXPECT_EQ(parse_json_string_token(R"("\ud800x")"), bytes({0xED, 0xA0, 0x80}) + "x");
  EXPECT_EQ(parse_json_string_token(R"("\udc00")"), bytes({0xED, 0xB0, 0x80}));
  EXPECT_EQ(parse_json_string_token("\"\xC3\xA9\""), "\xC3\xA9");
}

TEST(JsonEscape, ParseTokenRejectsMalformedTokens) {
  for (const std::string_view bad :
       {"", "\"", "abc", "\"abc", "abc\"", R"("\")", R"("a"b")", R"("\x")", R"("\u12")", R"("\u12G4")",
        "\"a\nb\"", "\"\x01\"", R"("\ud800\u12")", " \"a\""}) {
    EXPECT_FALSE(parse_json_string_token(bad).has_value()) << bad;
  }
}

TEST(JsonEscape, RandomBytesRoundTripThroughJson) {
  std::mt19937 rng(20240601);
  int accepted_by_simdjson = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string original = random_bytes(rng, 40);
    const std::string json = json_string(original);
    ASSERT_TRUE(is_valid_utf8(json));  // the escaped form is always plain UTF-8
    // Our token parser is the exact inverse.
    const auto back = parse_json_string_token(json);
    ASSERT_TRUE(back.has_value()) << json;
    ASSERT_EQ(*back, original) << json;
    // simdjson 3.0.1 rejects lone surrogates (\udcXX); where it accepts the string,
    // get_string() + decode_surrogateescape must also give the original bytes back.
    const auto parsed = simdjson_string(json);
    if (parsed) {
      ++accepted_by_simdjson;
      ASSERT_EQ(decode_surrogateescape(*parsed), original) << json;
    } else {
      ASSERT_FALSE(is_valid_utf8(original)) << json;
    }
  }
  EXPECT_GT(accepted_by_simdjson, 0);
}

TEST(JsonEscape, SimdjsonRejectsLoneLowSurrogates) {
  // Documents why parse_json_string_token exists; if a newer simdjson accepts lone surrogates,
  // its output must then decode back to the byte.
  const auto parsed = simdjson_string(R"("\udc80")");
  if (parsed) {
    EXPECT_EQ(decode_surrogateescape(*parsed), bytes({0x80}));
  } else {
    SUCCEED() << "simdjson rejects \\udc80: decode raw tokens with parse_json_string_token";
  }
}

TEST(JsonEscape, IsValidUtf8) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("ascii"));
  EXPECT_TRUE(is_valid_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8(bytes({0xFF})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xA0, 0x80})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xC3})));
}

}  // namespace
