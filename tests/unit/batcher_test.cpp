#include "ximup/batcher.hpp"

#include <gtest/gtest.h>

#include "ximup/request_body.hpp"

using namespace ximup;

namespace {
scan_entry file(std::string id, std::uint64_t size) {
  scan_entry e;
  e.path = "/data/" + id;
  e.id = std::move(id);
  e.size = size;
  return e;
}
}  // namespace

TEST(Batcher, ClosesABatchAtTheRecordLimit) {
  batcher b({.max_records = 3, .max_body_bytes = 1U << 20U, .envelope_bytes = 20});
  EXPECT_FALSE(b.add(file("a", 10)));
  EXPECT_FALSE(b.add(file("b", 10)));
  auto full = b.add(file("c", 10));
  ASSERT_TRUE(full);
  ASSERT_EQ(full->entries.size(), 3U);
  EXPECT_EQ(full->entries[2].id, "c");
  EXPECT_FALSE(b.flush());
}

TEST(Batcher, BodyEstimateIsExactAndWithinLimit) {
  request_body rb(R"(,"lang":"en")");
  const std::size_t record = request_body::record_size("x", 300);
  const std::size_t limit = rb.envelope_size() + 2 * record;  // room for exactly two records
  batcher b({.max_records = 10, .max_body_bytes = limit, .envelope_bytes = rb.envelope_size()});
  EXPECT_FALSE(b.add(file("x", 300)));
  EXPECT_FALSE(b.add(file("x", 300)));
  auto done = b.add(file("x", 300));  // does not fit: the first two are returned
  ASSERT_TRUE(done);
  EXPECT_EQ(done->entries.size(), 2U);
  EXPECT_EQ(done->body_bytes, limit);
  EXPECT_LE(done->body_bytes, limit);
  auto rest = b.flush();
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->entries.size(), 1U);
}

TEST(Batcher, EstimateMatchesTheBuiltBody) {
  request_body rb(R"(,"colors":6)");
  batcher b({.max_records = 10, .max_body_bytes = 1U << 20U, .envelope_bytes = rb.envelope_size()});
  std::vector<std::vector<unsigned char>> data = {
      std::vector<unsigned char>(0), std::vector<unsigned char>(1, 7), std::vector<unsigned char>(1000, 9)};
  const std::vector<std::string> ids = {"empty.jpg", "q\"uote\n.png", "n\xffon-utf8.jpg"};
  for (std::size_t i = 0; i < data.size(); ++i) b.add(file(ids[i], data[i].size()));
  auto plan = b.flush();
  ASSERT_TRUE(plan);
  std::string body;
  body_writer w(body);
  rb.begin(w);
  for (std::size_t i = 0; i < data.size(); ++i) {
    record_slot s;
    s.id = ids[i];
    rb.append_record(w, data[i], s);
  }
  rb.finish(w);
  // The estimate counts a separator per record; the built body has one fewer.
  EXPECT_EQ(plan->body_bytes, body.size() + 1);
  EXPECT_EQ(plan->largest_file, 1000U);
}

TEST(Batcher, RefusesAFileThatCannotFitAlone) {
  batcher b({.max_records = 10, .max_body_bytes = 1000, .envelope_bytes = 20});
  EXPECT_TRUE(b.fits_alone(file("small", 100)));
  EXPECT_FALSE(b.fits_alone(file("big", 1000)));
}

TEST(Batcher, LargestFileIsTracked) {
  batcher b({.max_records = 2, .max_body_bytes = 1U << 20U, .envelope_bytes = 20});
  b.add(file("a", 5));
  auto p = b.add(file("b", 50));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->largest_file, 50U);
}

// After a 413 the pipeline caps later batches: files that shared a body before now go in smaller
// ones, the lowest cap wins, and a file over the cap alone still goes (only its own send tells
// whether the server takes it), while one over max_body_bytes is still refused.
TEST(Batcher, ACapFromATooLargeAnswerKeepsLaterBatchesSmaller) {
  const std::size_t record = request_body::record_size("x", 300);
  batcher b({.max_records = 10, .max_body_bytes = 1U << 20U, .envelope_bytes = 20});
  b.cap_body_bytes(20 + 2 * record);  // room for two records
  b.cap_body_bytes(20 + 3 * record);  // a higher cap does not raise it
  EXPECT_FALSE(b.add(file("x", 300)));
  EXPECT_FALSE(b.add(file("x", 300)));
  auto two = b.add(file("x", 300));
  ASSERT_TRUE(two);
  EXPECT_EQ(two->entries.size(), 2U);
  EXPECT_LE(two->body_bytes, 20 + 2 * record);
  auto big = b.add(file("big", 5000));  // over the cap alone: ends the open batch, then goes alone
  ASSERT_TRUE(big);
  EXPECT_EQ(big->entries.size(), 1U);
  EXPECT_TRUE(b.fits_alone(file("big", 5000)));
  auto alone = b.add(file("x", 300));
  ASSERT_TRUE(alone);
  ASSERT_EQ(alone->entries.size(), 1U);
  EXPECT_EQ(alone->entries[0].id, "big");
  EXPECT_FALSE(b.fits_alone(file("huge", 1U << 20U)));
}
