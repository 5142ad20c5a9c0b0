#include "ximup/request_body.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "ximup/base64.hpp"

using namespace ximup;

namespace {
std::string b64(const std::vector<unsigned char>& d) {
  std::string s(base64::encoded_size(d.size()), '\0');
  base64::encode(s.data(), d.data(), d.size());
  return s;
}
}  // namespace

TEST(RequestBody, BuildsValidRecordsPayloadWithFields) {
  request_body rb(R"(,"lang":"en","tagging_mode":"simple")");
  std::string body;
  body_writer w(body);
  rb.begin(w);
  std::vector<record_slot> slots(2);
  slots[0].id = "a/one.jpg";
  slots[1].id = "two \"quoted\".png";
  const std::vector<unsigned char> d0 = {0xff, 0xd8, 0xff, 0x00};
  const std::vector<unsigned char> d1 = {0x89, 'P', 'N', 'G', 1, 2, 3};
  rb.append_record(w, d0, slots[0]);
  rb.append_record(w, d1, slots[1]);
  rb.finish(w);

  simdjson::dom::parser parser;
  auto doc = parser.parse(body);
  ASSERT_FALSE(doc.error()) << body;
  auto records = doc["records"].get_array();
  ASSERT_FALSE(records.error());
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(std::string_view(records.at(0)["_id"]), "a/one.jpg");
  EXPECT_EQ(std::string_view(records.at(0)["_base64"]), b64(d0));
  EXPECT_EQ(std::string_view(records.at(1)["_id"]), "two \"quoted\".png");
  EXPECT_EQ(std::string_view(records.at(1)["_base64"]), b64(d1));
  EXPECT_EQ(std::string_view(doc["lang"]), "en");
  EXPECT_EQ(slots[1].bytes, d1.size());
  // Each slot names exactly its record object.
  EXPECT_EQ(body.substr(slots[0].offset, slots[0].length).front(), '{');
  EXPECT_EQ(body.substr(slots[0].offset, slots[0].length).back(), '}');
}

// Each record is encoded straight into its place in the body: records of many sizes (around the
// encoders' block sizes too) decode to the same base64 as a separate encode, and a body written
// into a string grown to its planned size up front never reallocates.
TEST(RequestBody, RecordsOfEverySizeEncodeInPlaceWithoutRegrowing) {
  constexpr std::size_t piece = std::size_t{3} * 16 * 1024;
  request_body rb("");
  std::vector<std::vector<unsigned char>> datas;
  std::uint32_t x = 12345;
  // Around the AVX2 encoder's bounds (a 24-byte block needs 28 bytes left, its 96-byte loop 100),
  // and around 48 KiB (the piece size of the old encode-and-copy loop).
  std::vector<std::size_t> sizes = {0, 1, 2, 3, 27, 28, 29, 47, 48, 49, 99, 100, 101};
  sizes.insert(sizes.end(), {piece - 1, piece, piece + 1, 2 * piece, 3 * piece + 2, 200 * 1024 + 7});
  for (const std::size_t n : sizes) {
    std::vector<unsigned char> d(n);
    for (auto& c : d) c = static_cast<unsigned char>((x = x * 1664525U + 1013904223U) >> 24U);
    datas.push_back(std::move(d));
  }
  std::vector<record_slot> slots(datas.size());
  std::string body;
  std::size_t planned = rb.envelope_size();
  for (std::size_t i = 0; i < datas.size(); ++i) {
    slots[i].id = "rec" + std::to_string(i);
    planned += request_body::record_size(slots[i].id, datas[i].size());
  }
  body_writer w(body, planned);
  const char* storage = body.data();
  rb.begin(w);
  for (std::size_t i = 0; i < datas.size(); ++i) rb.append_record(w, datas[i], slots[i]);
  rb.finish(w);
  EXPECT_EQ(body.data(), storage) << "the body grew past its planned size";
  EXPECT_EQ(body.size() + 1, planned);  // the plan counts one separator per record
  simdjson::dom::parser parser;
  auto doc = parser.parse(body);
  ASSERT_FALSE(doc.error());
  auto records = doc["records"].get_array();
  ASSERT_EQ(records.size(), datas.size());
  for (std::size_t i = 0; i < datas.size(); ++i) {
    EXPECT_EQ(std::string_view(records.at(i)["_base64"]), b64(datas[i])) << datas[i].size() << " bytes";
    EXPECT_EQ(slots[i].bytes, datas[i].size());
  }
}

// A record written piece by piece (pieces of a multiple of 3 bytes, then the rest) is the record
// append_record writes; one rewound after a failure leaves the body as if it had never been opened.
TEST(RequestBody, RecordInPiecesEqualsTheWholeRecordAndRewindsAway) {
  request_body rb(R"(,"lang":"en")");
  std::vector<unsigned char> data(10000);
  std::uint32_t x = 7;
  for (auto& c : data) c = static_cast<unsigned char>((x = x * 1664525U + 1013904223U) >> 24U);
  for (const std::size_t piece : {std::size_t{3}, std::size_t{48}, std::size_t{999}, std::size_t{9999}}) {
    std::string whole;
    std::string pieces;
    body_writer w1(whole);
    body_writer w2(pieces);
    rb.begin(w1);
    rb.begin(w2);
    for (int record = 0; record < 2; ++record) {
      record_slot a;
      record_slot b;
      a.id = b.id = "r" + std::to_string(record);
      rb.append_record(w1, data, a);
      rb.open_data_record(w2, b);
      for (std::size_t at = 0; at < data.size(); at += piece) {
        request_body::append_data(w2, std::span(data).subspan(at, std::min(piece, data.size() - at)));
      }
      request_body::close_data_record(w2, b, data.size());
      EXPECT_EQ(b.offset, a.offset);
      EXPECT_EQ(b.length, a.length);
      EXPECT_EQ(b.bytes, a.bytes);
      // A third record fails halfway: rewound, it leaves no trace.
      const std::size_t before = w2.size();
      record_slot failed;
      failed.id = "failed";
      rb.open_data_record(w2, failed);
      request_body::append_data(w2, std::span(data).first(piece));
      w2.rewind(before);
    }
    rb.finish(w1);
    rb.finish(w2);
    EXPECT_EQ(pieces, whole) << "pieces of " << piece;
  }
}

// A pooled string comes back holding an old body: the writer overwrites it and cuts it to the new
// body, whether the old one was longer or shorter, and grows past a plan that was too small (a
// file that grew after the scan).
TEST(RequestBody, AWriterReusesAStringThatHeldAnOldBody) {
  request_body rb(R"(,"lang":"en")");
  const std::vector<unsigned char> data(1000, 0xAB);
  const auto build = [&](std::string& s, std::size_t planned) {
    body_writer w(s, planned);
    rb.begin(w);
    record_slot slot;
    slot.id = "x.jpg";
    rb.append_record(w, data, slot);
    rb.finish(w);
  };
  std::string fresh;
  build(fresh, 0);
  for (const std::size_t old_size : {std::size_t{0}, std::size_t{10}, fresh.size() - 1, fresh.size() * 3}) {
    for (const std::size_t planned : {std::size_t{0}, fresh.size() + 1, fresh.size() * 2}) {
      std::string reused(old_size, '#');
      build(reused, planned);
      EXPECT_EQ(reused, fresh) << "old size " << old_size << ", planned " << planned;
    }
  }
}

TEST(RequestBody, AssembleKeepsOnlyTheChosenRecords) {
  request_body rb("");
  std::string body;
  body_writer w(body);
  rb.begin(w);
  std::vector<record_slot> slots(3);
  for (std::size_t i = 0; i < 3; ++i) {
    slots[i].id = "id" + std::to_string(i);
    const std::vector<unsigned char> d(i * 10 + 1, static_cast<unsigned char>(i));
    rb.append_record(w, d, slots[i]);
  }
  rb.finish(w);
  std::vector<record_slot> keep = {slots[2], slots[0]};
  const std::string smaller = rb.assemble(body, keep);
  simdjson::dom::parser parser;
  auto doc = parser.parse(smaller);
  ASSERT_FALSE(doc.error()) << smaller;
  auto records = doc["records"].get_array();
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(std::string_view(records.at(0)["_id"]), "id2");
  EXPECT_EQ(std::string_view(records.at(1)["_id"]), "id0");
  // Offsets now point into the new body.
  EXPECT_EQ(smaller.substr(keep[0].offset, keep[0].length), body.substr(slots[2].offset, slots[2].length));
}

TEST(RequestBody, EmptyFileIsAnEmptyBase64String) {
  request_body rb("");
  std::string body;
  body_writer w(body);
  rb.begin(w);
  record_slot s;
  s.id = "empty.jpg";
  rb.append_record(w, {}, s);
  rb.finish(w);
  EXPECT_EQ(body, R"({"records":[{"_id":"empty.jpg","_base64":""}]})");
}

TEST(RequestBody, UrlRecordsAndManifestFieldsAreValidJsonOfTheEstimatedSize) {
  request_body rb("");
  std::string body;
  body_writer w(body);
  rb.begin(w);
  std::vector<record_slot> slots(2);
  slots[0].id = "remote \"one\"";
  slots[1].id = "local";
  const std::string extra = R"(,"label":"cat","meta":{"n":1})";
  const std::vector<unsigned char> data = {1, 2, 3, 4, 5};
  rb.append_url_record(w, "https://example.com/a b.jpg", slots[0], extra);
  rb.append_record(w, data, slots[1], extra);
  rb.finish(w);
  EXPECT_EQ(body.size(), rb.envelope_size() - 1 +
                             request_body::record_size(slots[0].id, 0, "https://example.com/a b.jpg", extra) +
                             request_body::record_size(slots[1].id, data.size(), {}, extra));

  simdjson::dom::parser parser;
  auto doc = parser.parse(body);
  ASSERT_FALSE(doc.error()) << body;
  auto records = doc["records"].get_array();
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(std::string_view(records.at(0)["_url"]), "https://example.com/a b.jpg");
  EXPECT_TRUE(records.at(0)["_base64"].error());
  EXPECT_EQ(std::string_view(records.at(0)["label"]), "cat");
  EXPECT_EQ(int64_t(records.at(1)["meta"]["n"]), 1);
  EXPECT_EQ(std::string_view(records.at(1)["_base64"]), b64(data));
  EXPECT_EQ(slots[0].bytes, 0U);
}
