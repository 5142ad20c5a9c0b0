#include "ximup/endpoint.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "ximup/token.hpp"
#include "ximup/units.hpp"

using namespace ximup;

TEST(Endpoint, PresetResolvesAgainstTheApiBase) {
  endpoint_options o;
  o.endpoint = "tagging";
  auto r = resolve_endpoint(o);
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->host, "api.ximilar.com");
  EXPECT_EQ(r.value->port, "443");
  EXPECT_EQ(r.value->target, "/tagging/generic/v2/tags");
  EXPECT_TRUE(r.value->tls);
  EXPECT_FALSE(r.value->loopback);
}

// The sizes `--resize auto` takes: the official client's 600 px, 512 for recognition and search,
// 1024 for detection. A URL or an unknown name is no preset.
TEST(Endpoint, PresetsSuggestTheOfficialClientsResize) {
  const auto suggested = [](std::string_view name) {
    const preset* p = find_preset(name);
    return p == nullptr ? 0U : p->suggested_resize;
  };
  EXPECT_EQ(suggested("tagging"), 600U);
  EXPECT_EQ(suggested("fashion"), 600U);
  EXPECT_EQ(suggested("colors"), 600U);
  EXPECT_EQ(suggested("classify"), 512U);
  EXPECT_EQ(suggested("similarity-insert"), 512U);
  EXPECT_EQ(suggested("detect"), 1024U);
  EXPECT_EQ(find_preset("https://api.ximilar.com/tagging/generic/v2/tags"), nullptr);
  EXPECT_EQ(find_preset("tag"), nullptr);
  for (const auto& p : presets()) EXPECT_EQ(find_preset(p.name), &p);
}

TEST(Endpoint, ClassifyNeedsTaskIdAndSendsIt) {
  endpoint_options o;
  o.endpoint = "classify";
  EXPECT_FALSE(resolve_endpoint(o).value);
  o.task_id = "abc";
  o.fields = {"version=2"};
  auto r = resolve_endpoint(o);
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->target, "/recognition/v2/classify/");
  EXPECT_EQ(r.value->fields_json, R"(,"task_id":"abc","version":2)");
}

TEST(Endpoint, SimilarityInsertSetsTheCollectionHeader) {
  endpoint_options o;
  o.endpoint = "similarity-insert";
  o.collection_id = "c-1";
  o.collection_type = "fashion";
  auto r = resolve_endpoint(o);
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->target, "/similarity/fashion/v2/insert");
  ASSERT_EQ(r.value->headers.size(), 1U);
  EXPECT_EQ(r.value->headers[0].first, "collection-id");
  o.collection_type = "cars";
  EXPECT_FALSE(resolve_endpoint(o).value);
}

TEST(Endpoint, FullUrlWithPortAndQuery) {
  endpoint_options o;
  o.endpoint = "https://127.0.0.1:8443/tagging/generic/v2/tags?x=1";
  auto r = resolve_endpoint(o);
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_EQ(r.value->port, "8443");
  EXPECT_EQ(r.value->target, "/tagging/generic/v2/tags?x=1");
  EXPECT_TRUE(r.value->loopback);
}

TEST(Endpoint, PlainHttpOnlyToLoopbackUnlessAllowed) {
  endpoint_options o;
  o.endpoint = "http://example.com/x";
  auto r = resolve_endpoint(o);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("--allow-insecure-http"), std::string::npos);
  o.allow_insecure_http = true;
  EXPECT_TRUE(resolve_endpoint(o).value);
  o.allow_insecure_http = false;
  o.endpoint = "http://localhost:8080/x";
  EXPECT_TRUE(resolve_endpoint(o).value);
  o.endpoint = "http://[::1]:8080/x";
  auto v6 = resolve_endpoint(o);
  ASSERT_TRUE(v6.value) << v6.error;
  EXPECT_EQ(v6.value->host, "::1");
}

TEST(Endpoint, RejectsBadUrlsAndFields) {
  endpoint_options o;
  for (const char* bad :
       {"https://", "ftp://host/x", "https://user:pw@host/x", "tagginggg", "https://ho st/x"}) {
    o.endpoint = bad;
    EXPECT_FALSE(resolve_endpoint(o).value) << bad;
  }
  o.endpoint = "tagging";
  o.fields = {"lang=en"};  // not JSON: needs quotes
  auto r = resolve_endpoint(o);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("not valid JSON"), std::string::npos);
  o.fields = {"noequals"};
  EXPECT_FALSE(resolve_endpoint(o).value);
  // A key twice (or one the preset sets) would make the body's JSON ambiguous.
  o.fields = {"lang=\"en\"", "lang=\"de\""};
  r = resolve_endpoint(o);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("given twice"), std::string::npos) << r.error;
  o.endpoint = "classify";
  o.task_id = "t";
  o.fields = {"task_id=\"other\""};
  EXPECT_FALSE(resolve_endpoint(o).value);
  // Quoted but not UTF-8: the message says so instead of asking for quotes.
  o.fields = {"lang=\"\xFF\""};
  r = resolve_endpoint(o);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.error.find("UTF-8"), std::string::npos) << r.error;
}

TEST(Endpoint, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.9.9.9"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1"));
  EXPECT_FALSE(is_loopback_host("api.ximilar.com"));
}

TEST(Token, PrecedenceAndValidation) {
  token_sources s;
  EXPECT_FALSE(load_token(s).token);
  s.env = "envtoken\n";
  EXPECT_EQ(load_token(s).token, "envtoken");
  EXPECT_EQ(load_token(s).origin, "XIMILAR_API_TOKEN");
  s.flag = "flagtoken";
  auto r = load_token(s);
  EXPECT_EQ(r.token, "flagtoken");
  EXPECT_EQ(r.origin, "--token");
  EXPECT_FALSE(r.warning.empty());
  s.flag = "bad token";
  EXPECT_FALSE(load_token(s).token);
  EXPECT_EQ(load_token(s).error.find("bad"), std::string::npos);  // the token is never echoed
  s.flag.reset();
  s.file = "/nonexistent/token";
  EXPECT_FALSE(load_token(s).token);
  s.file = "/tmp";  // a directory reads as empty through a stream: say what it is
  EXPECT_NE(load_token(s).error.find("is a directory"), std::string::npos) << load_token(s).error;
  // A byte order mark (a file saved by Notepad) and Windows line ends are not part of the token.
  const std::string bom_file = testing::TempDir() + "/bom-token";
  {
    std::ofstream out(bom_file, std::ios::binary);
    out << "\xEF\xBB\xBF"
        << "filetoken\r\n";
  }
  s.file = bom_file;
  EXPECT_EQ(load_token(s).token, "filetoken") << load_token(s).error;
  std::remove(bom_file.c_str());
}

TEST(Token, AuthorizationScheme) {
  EXPECT_EQ(authorization_value("abc", auth_scheme::auto_detect), "Token abc");
  EXPECT_EQ(authorization_value(std::string(70, 'x'), auth_scheme::auto_detect),
            "JWT " + std::string(70, 'x'));
  EXPECT_EQ(authorization_value("abc", auth_scheme::jwt), "JWT abc");
}

TEST(Units, SizesAndDurations) {
  EXPECT_EQ(parse_size("256MiB"), 256ULL << 20U);
  EXPECT_EQ(parse_size("10MB"), 10'000'000ULL);
  EXPECT_EQ(parse_size("4096"), 4096ULL);
  EXPECT_EQ(parse_size("1.5KiB"), 1536ULL);
  EXPECT_EQ(parse_size("12 parsecs"), std::nullopt);
  EXPECT_EQ(parse_size("-1"), std::nullopt);
  EXPECT_EQ(parse_duration("10s"), std::chrono::milliseconds(10000));
  EXPECT_EQ(parse_duration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("2m"), std::chrono::milliseconds(120000));
  EXPECT_EQ(parse_duration("3"), std::chrono::milliseconds(3000));
  EXPECT_EQ(parse_duration("soon"), std::nullopt);
  EXPECT_EQ(format_size(1536), "1.5 KiB");
}
