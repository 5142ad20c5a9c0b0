// Pure parts of ximup-mock, without sockets: base64, image sniffing, JSON text, fault decisions,
// the token bucket and routing.
#include <gtest/gtest.h>

#include <set>

#include "ximup/mock/api_handler.hpp"
#include "ximup/mock/faults.hpp"
#include "ximup/mock/image_info.hpp"
#include "ximup/mock/json_text.hpp"
#include "ximup/mock/strict_base64.hpp"
#include "ximup/mock/test_support.hpp"

namespace {

using namespace ximup::mock;
using ximup::mock::testing::encode_base64;

TEST(MockBase64, DecodesRfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                   {"Zg==", "f"},
                                                                   {"Zm8=", "fo"},
                                                                   {"Zm9v", "foo"},
                                                                   {"Zm9vYg==", "foob"},
                                                                   {"Zm9vYmE=", "fooba"},
                                                                   {"Zm9vYmFy", "foobar"}};
  std::string out;
  for (const auto& [text, bytes] : vectors) {
    ASSERT_TRUE(decode_base64_strict(text, out)) << text;
    EXPECT_EQ(out, bytes) << text;
  }
}

TEST(MockBase64, RoundTripsEveryByteValueAndLength) {
  std::string bytes;
  for (int i = 0; i < 600; ++i) {
    bytes.push_back(static_cast<char>(i * 7 + 3));
  }
  std::string out;
  for (std::size_t n = 0; n <= bytes.size(); n += 1 + n / 16) {
    const std::string_view prefix(bytes.data(), n);
    ASSERT_TRUE(decode_base64_strict(encode_base64(prefix), out)) << n;
    EXPECT_EQ(out, prefix) << n;
  }
}

TEST(MockBase64, RejectsAnythingNotStrict) {
  std::string out;
  for (const std::string_view bad : {"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm9v\n", "Zm 9v",
                                     "Zm9v===", "Zm-v", "Zm_v", "Zh==", "Zm9=", "=m9v", "Zm=v"}) {
    EXPECT_FALSE(decode_base64_strict(bad, out)) << bad;
  }
}

TEST(MockBase64, StripsDataUrlPrefix) {
  EXPECT_EQ(strip_data_url_prefix("data:image/jpeg;base64,Zm9v"), "Zm9v");
  EXPECT_EQ(strip_data_url_prefix("data:image/png;base64,"), "");
  EXPECT_EQ(strip_data_url_prefix("Zm9v"), "Zm9v");
  EXPECT_EQ(strip_data_url_prefix("data:text/plain,Zm9v"), "data:text/plain,Zm9v");  // not base64
}

struct image_case {
  std::string name;
  std::string bytes;
  image_format format;
  std::uint32_t width;
  std::uint32_t height;
};

TEST(MockImageInfo, ReadsSizeOfEveryFormat) {
  using namespace ximup::mock::testing;
  const image_case cases[] = {
      {"jpeg baseline", make_jpeg(800, 533, 0xC0), image_format::jpeg, 800, 533},
      {"jpeg extended", make_jpeg(17, 9, 0xC1), image_format::jpeg, 17, 9},
      {"jpeg progressive", make_jpeg(4000, 3000, 0xC2), image_format::jpeg, 4000, 3000},
      {"jpeg after 200 kB of APP1", make_jpeg(640, 480, 0xC2, 200000), image_format::jpeg, 640, 480},
      {"png", make_png(1920, 1080), image_format::png, 1920, 1080},
      {"gif", make_gif(320, 200), image_format::gif, 320, 200},
      {"webp lossy", make_webp(550, 368, "VP8 "), image_format::webp, 550, 368},
      {"webp lossless", make_webp(386, 395, "VP8L"), image_format::webp, 386, 395},
      {"webp extended", make_webp(70000, 2, "VP8X"), image_format::webp, 70000, 2},
      {"bmp", make_bmp(31, 17), image_format::bmp, 31, 17},
      {"bmp top-down", make_bmp(31, -17), image_format::bmp, 31, 17},
      {"bmp core header", make_bmp(12, 34, true), image_format::bmp, 12, 34},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(sniff_format(c.bytes), c.format) << c.name;
    const auto info = read_image_info(c.bytes);
    ASSERT_TRUE(info) << c.name;
    EXPECT_EQ(info->format, c.format) << c.name;
    EXPECT_EQ(info->width, c.width) << c.name;
    EXPECT_EQ(info->height, c.height) << c.name;
  }
}

TEST(MockImageInfo, RejectsNonImagesAndTruncatedHeaders) {
  using namespace ximup::mock::testing;
  EXPECT_FALSE(read_image_info(""));
  EXPECT_FALSE(read_image_info("hello, world"));
  EXPECT_FALSE(read_image_info("%PDF-1.7 ..."));
  EXPECT_EQ(sniff_format(std::string_view("II*\0", 4)), image_format::unknown);  // TIFF is not accepted
  for (const std::string& image : {make_jpeg(10, 10), make_png(10, 10), make_gif(10, 10), make_webp(10, 10),
                                   make_webp(10, 10, "VP8L"), make_webp(10, 10, "VP8X"), make_bmp(10, 10)}) {
    const image_format format = sniff_format(image);
    const std::size_t header = format == image_format::jpeg ? 40 : format == image_format::gif ? 9 : 16;
    EXPECT_FALSE(read_image_info(image.substr(0, header))) << format_name(sniff_format(image));
  }
  EXPECT_FALSE(read_image_info(make_png(0, 10)));                             // zero size
  EXPECT_FALSE(read_image_info(std::string("\xFF\xD8\xFF\xDA\x00\x02", 6)));  // scan before any frame header
}

TEST(MockJsonText, ValidatesLikePython) {
  for (const std::string_view good :
       {R"({"a":[1,-2.5e3,true,false,null,"x"]})", R"("\udc80")", R"("\ud800")", R"("\ud83d\ude00")", " 12 ",
        R"({})", R"([])", R"("\/\b\f\n\r\t\"\\")"}) {
    EXPECT_TRUE(is_valid_json_value(good)) << good;
  }
  for (const std::string_view bad : {R"({"a":[1,}})", R"({"a" 1})", "01", "1.", "-", "+1", "NaN", R"("\x")",
                                     R"("\u12")", "\"a\tb\"", R"({"a":1} x)", "", "[1,]", "tru"}) {
    EXPECT_FALSE(is_valid_json_value(bad)) << bad;
  }
}

TEST(MockJsonText, UnescapesLoneSurrogatesAsGeneralizedUtf8) {
  std::string out;
  ASSERT_TRUE(unescape_json_string(R"(a\udc80b\u00e9\ud83d\ude00\/)", out));
  EXPECT_EQ(out,
            "a\xED\xB2\x80"
            "b\xC3\xA9\xF0\x9F\x98\x80/");
  EXPECT_FALSE(unescape_json_string(R"(\q)", out));
  EXPECT_FALSE(unescape_json_string("tab\there", out));
  EXPECT_EQ(json_string_literal_size(R"("a\"b" tail)"), 6U);
  EXPECT_EQ(json_string_literal_size(R"("unterminated)"), 0U);
}

TEST(MockFaults, SameSeedSameDecisions) {
  fault_config config;
  config.seed = 42;
  config.fail_rate = 0.2;
  config.reset_rate = 0.1;
  config.hang_rate = 0.05;
  config.garbage_rate = 0.1;
  config.trickle_rate = 0.05;
  config.latency_ms = 100;
  config.latency_jitter_ms = 50;
  fault_config other = config;
  other.seed = 43;
  int differences = 0;
  for (std::uint64_t n = 1; n <= 200; ++n) {
    const fault_decision a = decide_faults(config, n);
    const fault_decision b = decide_faults(config, n);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.fail_status, b.fail_status);
    EXPECT_EQ(a.latency, b.latency);
    EXPECT_GE(a.latency.count(), 50);
    EXPECT_LE(a.latency.count(), 150);
    const fault_decision c = decide_faults(other, n);
    differences += a.kind != c.kind || a.latency != c.latency;
  }
  EXPECT_GT(differences, 50);
}

TEST(MockFaults, InterimResponsesComeOnTopOfTheOtherFaultsWithoutMovingThem) {
  fault_config config;
  config.seed = 11;
  config.fail_rate = 0.2;
  config.reset_rate = 0.1;
  config.latency_jitter_ms = 50;
  fault_config with_interim = config;
  with_interim.interim_rate = 0.5;
  int interim = 0;
  for (std::uint64_t n = 1; n <= 2000; ++n) {
    const fault_decision a = decide_faults(config, n);
    const fault_decision b = decide_faults(with_interim, n);
    EXPECT_FALSE(a.interim);
    EXPECT_EQ(a.kind, b.kind) << n;
    EXPECT_EQ(a.latency, b.latency) << n;
    interim += b.interim ? 1 : 0;
  }
  EXPECT_GT(interim, 850);
  EXPECT_LT(interim, 1150);
}

TEST(MockFaults, RatesAreRoughlyHonoured) {
  fault_config config;
  config.seed = 7;
  config.fail_rate = 0.3;
  int fails = 0;
  std::set<unsigned> statuses;
  const int n = 10000;
  for (int i = 1; i <= n; ++i) {
    const fault_decision d = decide_faults(config, static_cast<std::uint64_t>(i));
    if (d.kind == fault_kind::fail) {
      ++fails;
      statuses.insert(d.fail_status);
    } else {
      EXPECT_EQ(d.kind, fault_kind::none);
    }
  }
  EXPECT_NEAR(fails / double(n), 0.3, 0.03);
  EXPECT_EQ(statuses, (std::set<unsigned>{500, 502, 503}));
}

TEST(MockFaults, DisabledMeansNone) {
  const fault_config config;
  EXPECT_FALSE(config.any());
  for (std::uint64_t i = 1; i < 100; ++i) {
    const fault_decision d = decide_faults(config, i);
    EXPECT_EQ(d.kind, fault_kind::none);
    EXPECT_EQ(d.latency.count(), 0);
    EXPECT_FALSE(record_fault(config, i, 0));
  }
}

TEST(MockFaults, ResetSplitsBetweenRequestAndResponse) {
  fault_config config;
  config.reset_rate = 1.0;
  config.fail_rate = 1.0;  // lower precedence: never wins over reset
  int mid_request = 0;
  int mid_response = 0;
  for (std::uint64_t i = 1; i <= 400; ++i) {
    const fault_decision d = decide_faults(config, i);
    mid_request += d.kind == fault_kind::reset_mid_request;
    mid_response += d.kind == fault_kind::reset_mid_response;
    EXPECT_GT(d.cut, 0.0);
    EXPECT_LT(d.cut, 1.0);
  }
  EXPECT_EQ(mid_request + mid_response, 400);
  EXPECT_GT(mid_request, 100);
  EXPECT_GT(mid_response, 100);
}

TEST(MockFaults, RecordFaultsAreReproducible) {
  fault_config config;
  config.seed = 1;
  config.record_fail_rate = 0.5;
  int failed = 0;
  for (std::uint64_t request = 1; request <= 50; ++request) {
    for (std::size_t record = 0; record < 10; ++record) {
      const bool f = record_fault(config, request, record);
      EXPECT_EQ(f, record_fault(config, request, record));
      failed += f;
    }
  }
  EXPECT_NEAR(failed / 500.0, 0.5, 0.1);
}

TEST(MockTokenBucket, AllowsBurstThenRefills) {
  using clock = token_bucket::clock;
  const auto t0 = clock::time_point{} + std::chrono::hours(1);
  token_bucket bucket(5, 5, t0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(bucket.try_acquire(t0));
  }
  EXPECT_FALSE(bucket.try_acquire(t0));
  EXPECT_FALSE(bucket.try_acquire(t0 + std::chrono::milliseconds(100)));
  EXPECT_TRUE(bucket.try_acquire(t0 + std::chrono::milliseconds(250)));  // 1.25 tokens refilled
  EXPECT_FALSE(bucket.try_acquire(t0 + std::chrono::milliseconds(250)));
  const auto later = t0 + std::chrono::seconds(10);  // refill caps at the burst
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(bucket.try_acquire(later));
  }
  EXPECT_FALSE(bucket.try_acquire(later));
}

TEST(MockRoute, KnowsEveryEndpointWithAndWithoutTrailingSlash) {
  const std::pair<std::string_view, endpoint_kind> cases[] = {
      {"/tagging/generic/v2/tags", endpoint_kind::tagging_generic},
      {"/photo/tags/v2/tags/", endpoint_kind::tagging_generic},
      {"/tagging/fashion/v2/tags", endpoint_kind::tagging_fashion},
      {"/tagging/fashion/v2/meta/", endpoint_kind::tagging_fashion},
      {"/tagging/fashion/v2/detect_tags", endpoint_kind::tagging_fashion},
      {"/tagging/homedecor/v2/tags/", endpoint_kind::tagging_homedecor},
      {"/dom_colors/generic/v2/dominantcolor", endpoint_kind::colors_generic},
      {"/dom_colors/product/v2/dominantcolor/", endpoint_kind::colors_product},
      {"/recognition/v2/classify/", endpoint_kind::classify},
      {"/recognition/v2/classify", endpoint_kind::classify},
      {"/detection/v2/detect/?x=1", endpoint_kind::detect},
      {"/similarity/photos/v2/insert", endpoint_kind::similarity_insert},
      {"/similarity/products/v2/insert/", endpoint_kind::similarity_insert},
      {"/similarity/fashion/v2/insert", endpoint_kind::similarity_insert},
      {"/similarity/custom/v2/insert", endpoint_kind::similarity_insert},
      {"/authorization/v2/authorize", endpoint_kind::authorize},
  };
  for (const auto& [target, kind] : cases) {
    const auto ep = route(target);
    ASSERT_TRUE(ep) << target;
    EXPECT_EQ(ep->kind, kind) << target;
  }
  for (const std::string_view unknown :
       {"/", "", "/tagging/generic/v2/tags//", "/api/tagging/generic/v2/tags", "tagging/generic/v2/tags",
        "/stats", "/similarity/other/v2/insert"}) {
    EXPECT_FALSE(route(unknown)) << unknown;
  }
}

TEST(MockRequestId, IsDeterministicAndDistinct) {
  EXPECT_EQ(make_request_id(1, 5), make_request_id(1, 5));
  EXPECT_NE(make_request_id(1, 5), make_request_id(1, 6));
  EXPECT_NE(make_request_id(1, 5), make_request_id(2, 5));
  EXPECT_EQ(make_request_id(1, 5).size(), 32U);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
