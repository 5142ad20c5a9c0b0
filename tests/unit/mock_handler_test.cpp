// ximup-mock's API logic without sockets: handle_api_request on request values.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "ximup/mock/api_handler.hpp"
#include "ximup/mock/json_text.hpp"
#include "ximup/mock/test_support.hpp"

namespace {

using namespace ximup::mock;
using namespace ximup::mock::testing;

class MockHandler : public ::testing::Test {
 protected:
  MockHandler() { config_.token = "secret"; }

  api_response post(std::string_view target, std::string body, std::string_view auth = "Token secret",
                    std::optional<std::string_view> collection_id = std::nullopt) {
    body_ = std::move(body);
    api_request rq;
    rq.method = "POST";
    rq.target = target;
    rq.authorization = auth;
    rq.collection_id = collection_id;
    rq.body = &body_;
    rq.request_number = ++number_;
    return handle_api_request(rq, config_);
  }

  // The parsed response (a DOM is fine here: the mock's output is strict JSON).
  simdjson::dom::element parse(const api_response& r) {
    simdjson::dom::element root;
    EXPECT_EQ(parser_.parse(r.body).get(root), simdjson::SUCCESS) << r.body;
    return root;
  }

  handler_config config_;
  std::string body_;
  std::uint64_t number_ = 0;
  simdjson::dom::parser parser_;
};

TEST_F(MockHandler, RejectsMissingOrWrongToken) {
  const std::string body = records_body({base64_record("\"a\"", make_png(2, 2))});
  for (const std::string_view auth :
       {"", "Token wrong", "Token", "Bearer secret", "secret", "Token secret2"}) {
    const api_response r = post("/tagging/generic/v2/tags", body, auth);
    EXPECT_EQ(r.status, 401U) << auth;
    EXPECT_EQ(r.body, R"({"detail":"Invalid token."})");
    EXPECT_TRUE(r.ledger.empty());
  }
  EXPECT_EQ(post("/tagging/generic/v2/tags", body, "Token secret").status, 200U);
  EXPECT_EQ(post("/tagging/generic/v2/tags", body, "JWT secret").status, 200U);
  EXPECT_EQ(post("/tagging/generic/v2/tags", body, "token  secret ").status, 200U);
}

TEST_F(MockHandler, UnknownPathIs404AndOtherMethods405) {
  EXPECT_EQ(post("/nope", "{}").status, 404U);
  EXPECT_EQ(post("/nope", "{}").body, R"({"detail":"Not found."})");
  body_ = "";
  api_request rq;
  rq.method = "GET";
  rq.target = "/tagging/generic/v2/tags";
  rq.authorization = "Token secret";
  rq.body = &body_;
  const api_response r = handle_api_request(rq, config_);
  EXPECT_EQ(r.status, 405U);
}

TEST_F(MockHandler, MixesRecordStatusesInOne200) {
  const std::string png = make_png(800, 533);
  const api_response r =
      post("/tagging/generic/v2/tags/",
           records_body({base64_record("\"img-1\"", png), base64_record("\"notes.txt\"", "hello")},
                        R"(,"lang":"en")"));
  ASSERT_EQ(r.status, 200U) << r.body;
  EXPECT_EQ(r.records_ok, 1U);
  EXPECT_EQ(r.records_failed, 1U);
  const auto root = parse(r);
  const auto records = root["records"].get_array();
  ASSERT_EQ(records.size(), 2U);
  const auto first = records.at(0);
  EXPECT_EQ(std::string_view(first["_id"]), "img-1");
  EXPECT_EQ(int64_t(first["_width"]), 800);
  EXPECT_EQ(int64_t(first["_height"]), 533);
  EXPECT_EQ(int64_t(first["_status"]["code"]), 200);
  EXPECT_GE(first["_tags"].get_array().size(), 3U);
  EXPECT_TRUE(first["_base64"].error() == simdjson::NO_SUCH_FIELD);  // never echoed by default
  const auto second = records.at(1);
  EXPECT_EQ(int64_t(second["_status"]["code"]), 400);
  EXPECT_EQ(std::string_view(second["_status"]["text"]), "Bad Request: not a decodable image");
  EXPECT_EQ(int64_t(root["status"]["code"]), 200);
  EXPECT_EQ(std::string_view(root["status"]["request_id"]), std::string_view(first["_status"]["request_id"]));
  EXPECT_TRUE(root["statistics"]["processing time"].is_double());
}

TEST_F(MockHandler, ReadsSizeOfEveryFormat) {
  const std::vector<std::string> images = {
      make_jpeg(640, 480, 0xC2, 70000), make_png(1, 2),           make_gif(3, 4),   make_webp(5, 6),
      make_webp(7, 8, "VP8L"),          make_webp(9, 10, "VP8X"), make_bmp(11, -12)};
  const std::pair<int, int> sizes[] = {{640, 480}, {1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}, {11, 12}};
  std::vector<std::string> records;
  for (std::size_t i = 0; i < images.size(); ++i) {
    records.push_back(base64_record(std::to_string(i), images[i]));
  }
  const api_response r = post("/tagging/generic/v2/tags", records_body(records));
  ASSERT_EQ(r.status, 200U) << r.body;
  const auto list = parse(r)["records"].get_array();
  ASSERT_EQ(list.size(), images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    EXPECT_EQ(int64_t(list.at(i)["_width"]), sizes[i].first) << i;
    EXPECT_EQ(int64_t(list.at(i)["_height"]), sizes[i].second) << i;
  }
}

TEST_F(MockHandler, EchoesExtraFieldsVerbatimIncludingLoneSurrogates) {
  const std::string png = make_png(2, 2);
  const std::string body = R"({"records":[{"meta" : {"k":[1, 2.5e1, "\u00e9"]}, "_id":"caf\udce9.jpg",)"
                           R"("_base64":")" +
                           encode_base64(png) + R"(", "n":null, "_width": 1}]})";
  const api_response r = post("/tagging/generic/v2/tags", body);
  ASSERT_EQ(r.status, 200U) << r.body;
  EXPECT_NE(r.body.find(R"("meta":{"k":[1, 2.5e1, "\u00e9"]})"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("_id":"caf\udce9.jpg")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("n":null)"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(R"("_width":1)"), std::string::npos) << "the server's _width replaces the client's";
  EXPECT_TRUE(is_valid_json_value(r.body));
  EXPECT_NE(r.ledger.find(R"("_id":"caf\udce9.jpg")"), std::string::npos) << r.ledger;
}

TEST_F(MockHandler, EchoBase64OnlyWhenAsked) {
  const std::string record = base64_record("1", make_gif(1, 1));
  EXPECT_EQ(post("/tagging/generic/v2/tags", records_body({record})).body.find("_base64"), std::string::npos);
  config_.echo_base64 = true;
  const api_response r = post("/tagging/generic/v2/tags", records_body({record}));
  EXPECT_NE(r.body.find("\"_base64\":\"" + encode_base64(make_gif(1, 1)) + "\""), std::string::npos)
      << r.body;
}

TEST_F(MockHandler, LedgerHasSha256OfDecodedBytes) {
  const std::string png = make_png(10, 20);
  const api_response r =
      post("/tagging/generic/v2/tags",
           records_body({base64_record("\"a\"", png), base64_record("\"b\"", "xyz"),
                         R"({"_id":"c","_base64":"not base64!"})", R"({"_url":"https://x/y.jpg"})"}));
  ASSERT_EQ(r.status, 200U);
  const std::string expected =
      "{\"sha256\":\"" + sha256_hex(png) + R"(","_id":"a","bytes":)" + std::to_string(png.size()) +
      R"(,"status":200,"endpoint":"tagging/generic/v2/tags","request":1})"
      "\n"
      "{\"sha256\":\"" +
      sha256_hex("xyz") +
      R"(","_id":"b","bytes":3,"status":400,"endpoint":"tagging/generic/v2/tags","request":1})"
      "\n"
      R"({"sha256":null,"_id":"c","bytes":0,"status":400,"endpoint":"tagging/generic/v2/tags","request":1})"
      "\n"
      R"({"sha256":null,"_id":null,"bytes":0,"status":200,"endpoint":"tagging/generic/v2/tags","request":1,"url":"https://x/y.jpg"})"
      "\n";
  EXPECT_EQ(r.ledger, expected);
}

TEST_F(MockHandler, DataUrlPrefixAccepted) {
  const std::string record = R"({"_base64":"data:image/png;base64,)" + encode_base64(make_png(3, 3)) + "\"}";
  const api_response r = post("/tagging/generic/v2/tags", records_body({record}));
  EXPECT_EQ(r.records_ok, 1U) << r.body;
}

TEST_F(MockHandler, RecordNeedsExactlyOneSource) {
  const std::string both = R"({"_url":"https://x","_base64":")" + encode_base64(make_png(3, 3)) + "\"}";
  const api_response r = post("/tagging/generic/v2/tags", records_body({both, R"({"_id":"none"})"}));
  ASSERT_EQ(r.status, 200U);
  EXPECT_EQ(r.records_failed, 2U);
  EXPECT_NE(r.body.find("exactly one of _url and _base64"), std::string::npos);
}

TEST_F(MockHandler, RequestLevelErrorsAre400) {
  const std::string ok = base64_record("1", make_png(1, 1));
  EXPECT_EQ(post("/tagging/generic/v2/tags", records_body(std::vector<std::string>(11, ok))).status, 400U);
  EXPECT_EQ(post("/tagging/generic/v2/tags", records_body(std::vector<std::string>(10, ok))).status, 200U);
  for (const std::string_view bad :
       {"", "{", "[]", R"({"records":{}})", R"({"records":[1]})", R"({"lang":"en"})",
        R"({"records":[]} trailing)", R"({"records":[{"_id":}]})", R"({"records":[], "x": {"y": [1,}})",
        R"({"records":[{"_id":"\q"}]})"}) {
    const api_response r = post("/tagging/generic/v2/tags", std::string(bad));
    EXPECT_EQ(r.status, 400U) << bad;
    EXPECT_TRUE(r.ledger.empty());
  }
  config_.max_records = 2;
  EXPECT_EQ(post("/tagging/generic/v2/tags", records_body({ok, ok, ok})).status, 400U);
}

TEST_F(MockHandler, EndpointRequirements) {
  const std::string ok = base64_record("\"1\"", make_png(100, 50));
  EXPECT_EQ(post("/recognition/v2/classify/", records_body({ok})).status, 400U);
  EXPECT_EQ(post("/detection/v2/detect/", records_body({ok})).status, 400U);
  const api_response classify = post("/recognition/v2/classify/", records_body({ok}, R"(,"task_id":"t-1")"));
  ASSERT_EQ(classify.status, 200U);
  EXPECT_TRUE(parse(classify)["records"].at(0)["best_label"]["name"].is_string());
  const api_response detect = post("/detection/v2/detect", records_body({ok}, R"(,"task_id":"t-1")"));
  ASSERT_EQ(detect.status, 200U);
  for (const auto object : parse(detect)["records"].at(0)["_objects"].get_array()) {
    const auto box = object["bound_box"].get_array();
    ASSERT_EQ(box.size(), 4U);
    EXPECT_LE(int64_t(box.at(2)), 100);
    EXPECT_LE(int64_t(box.at(3)), 50);
  }

  EXPECT_EQ(post("/similarity/photos/v2/insert", records_body({ok})).status, 400U);  // no collection-id
  const api_response insert =
      post("/similarity/photos/v2/insert", records_body({ok, R"({"_url":"https://x/y.jpg"})"}),
           "Token secret", "c-1");
  ASSERT_EQ(insert.status, 200U);
  EXPECT_EQ(insert.records_ok, 1U);
  EXPECT_NE(insert.body.find("_id is required"), std::string::npos);

  const api_response colors = post("/dom_colors/product/v2/dominantcolor", records_body({ok}));
  ASSERT_EQ(colors.status, 200U);
  EXPECT_EQ(parse(colors)["records"].at(0)["_dominant_colors"]["rgb_hex_colors"].get_array().size(), 3U);
  const api_response five =
      post("/dom_colors/generic/v2/dominantcolor", records_body({ok}, R"(,"colors":5)"));
  EXPECT_EQ(parse(five)["records"].at(0)["_dominant_colors"]["percentages"].get_array().size(), 5U);

  const api_response fashion = post("/tagging/fashion/v2/tags", records_body({ok}));
  EXPECT_TRUE(parse(fashion)["records"].at(0)["_tags"]["Category"].is_array());

  const api_response auth =
      post("/authorization/v2/authorize", R"({"service":"tagging","call_type":"authenticate"})");
  ASSERT_EQ(auth.status, 200U);
  EXPECT_TRUE(parse(auth)["user_id"].is_string());
}

TEST_F(MockHandler, ResultsAreDeterministicPerImage) {
  const std::string body = records_body({base64_record("\"x\"", make_jpeg(5, 5))});
  const api_response a = post("/tagging/generic/v2/tags", body);
  const api_response b = post("/tagging/generic/v2/tags", body);
  const auto tags = [](const std::string& s) {
    return s.substr(s.find("\"_tags\""), s.find("\"_status\"") - s.find("\"_tags\""));
  };
  EXPECT_EQ(tags(a.body), tags(b.body));
}

TEST_F(MockHandler, RecordFaultsLeaveTheLedger) {
  config_.faults.record_fail_rate = 0.5;
  config_.faults.seed = 3;
  std::vector<std::string> records;
  records.reserve(10);
  for (int i = 0; i < 10; ++i) {
    records.push_back(base64_record(std::to_string(i), make_png(1, 1 + static_cast<std::uint32_t>(i))));
  }
  std::size_t faults = 0;
  for (int round = 0; round < 5; ++round) {
    const api_response r = post("/tagging/generic/v2/tags", records_body(records));
    ASSERT_EQ(r.status, 200U);
    EXPECT_EQ(r.records_ok + r.records_fault_failed, 10U);
    EXPECT_EQ(static_cast<std::size_t>(std::count(r.ledger.begin(), r.ledger.end(), '\n')), r.records_ok);
    EXPECT_EQ(r.ledger.find("\"status\":500"), std::string::npos);
    faults += r.records_fault_failed;
  }
  EXPECT_GT(faults, 5U);
  EXPECT_LT(faults, 45U);
}

TEST_F(MockHandler, RejectTokenAfterN) {
  config_.reject_token_after = 2;
  const std::string body = records_body({base64_record("1", make_png(1, 1))});
  EXPECT_EQ(post("/tagging/generic/v2/tags", body).status, 200U);
  EXPECT_EQ(post("/tagging/generic/v2/tags", body).status, 200U);
  const api_response third = post("/tagging/generic/v2/tags", body);
  EXPECT_EQ(third.status, 401U);
  EXPECT_TRUE(third.token_rejected_by_fault);
}

TEST_F(MockHandler, DiscardAnswersWithoutParsing) {
  config_.discard = true;
  const std::string body = records_body({base64_record("1", "not an image"), R"({"_url":"u"})"}) + "garbage";
  const api_response r = post("/tagging/generic/v2/tags", body);
  ASSERT_EQ(r.status, 200U);
  EXPECT_EQ(r.records_ok, 2U);
  EXPECT_TRUE(r.ledger.empty());
  EXPECT_EQ(parse(r)["records"].get_array().size(), 2U);
}

TEST_F(MockHandler, DiscardUsesTheRecordCountOfABodyAlreadyDropped) {
  config_.discard = true;
  body_.clear();
  api_request rq;
  rq.method = "POST";
  rq.target = "/tagging/generic/v2/tags";
  rq.authorization = "Token secret";
  rq.body = &body_;
  rq.discarded_records = 7;
  const api_response r = handle_api_request(rq, config_);
  ASSERT_EQ(r.status, 200U);
  EXPECT_EQ(r.records_ok, 7U);
  EXPECT_EQ(parse(r)["records"].get_array().size(), 7U);
  rq.authorization = "Token wrong";
  EXPECT_EQ(handle_api_request(rq, config_).status, 401U) << "authentication still applies";
}

TEST(RecordKeyCounter, CountsKeysSplitAcrossPiecesAtEveryPosition) {
  const std::string body = R"({"records":[{"_id":"a","_base64":"QUJD"},{"_url":"u"},{"_base64":"")"
                           R"(},{"x":"_base64","_base64":"x"},{"_url":"_url"}]})";
  // A substring search: the string values "_base64" and "_url" count too (ximup never sends them).
  const std::size_t expected = 7;
  record_key_counter whole;
  whole.feed(body);
  ASSERT_EQ(whole.count(), expected);
  // Every split into two pieces, and into three pieces.
  for (std::size_t a = 0; a <= body.size(); ++a) {
    record_key_counter two;
    two.feed(std::string_view(body).substr(0, a));
    two.feed(std::string_view(body).substr(a));
    ASSERT_EQ(two.count(), expected) << "split at " << a;
    for (std::size_t b = a; b <= body.size(); ++b) {
      record_key_counter three;
      three.feed(std::string_view(body).substr(0, a));
      three.feed(std::string_view(body).substr(a, b - a));
      three.feed(std::string_view(body).substr(b));
      ASSERT_EQ(three.count(), expected) << "split at " << a << " and " << b;
    }
  }
  // One byte at a time.
  record_key_counter bytes;
  for (const char c : body) {
    bytes.feed(std::string_view(&c, 1));
  }
  EXPECT_EQ(bytes.count(), expected);
  record_key_counter none;
  none.feed(std::string(100000, 'A'));
  none.feed("\"_base6");
  none.feed("5\"");
  EXPECT_EQ(none.count(), 0U);
}

TEST_F(MockHandler, ParsesBodiesWithoutSparePadding) {
  std::string body = records_body({base64_record("1", make_png(4, 4))});
  body.shrink_to_fit();  // capacity == size: the handler must copy into a padded buffer
  const api_response r = post("/tagging/generic/v2/tags", body);
  EXPECT_EQ(r.records_ok, 1U);
}

}  // namespace
