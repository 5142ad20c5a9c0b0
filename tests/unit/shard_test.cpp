// Tests for shard.hpp: parsing, the pinned hash, coverage, disjointness and balance.
#include "ximup/shard.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ximup/scanner.hpp"

using namespace ximup;

namespace {

shard_spec parsed(std::string_view text) {
  const auto r = parse_shard(text);
  EXPECT_TRUE(r.spec) << text << ": " << r.error;
  EXPECT_TRUE(r.error.empty());
  return r.spec.value_or(shard_spec{});
}

std::string parse_error(std::string_view text) {
  const auto r = parse_shard(text);
  EXPECT_FALSE(r.spec) << text;
  EXPECT_FALSE(r.error.empty()) << text;
  return r.error;
}

// 100k relative paths like a photo tree: nested directories, repeated names in different
// directories, spaces, UTF-8, and bytes that are not UTF-8.
std::vector<std::string> generated_paths(std::size_t n) {
  std::mt19937_64 rng(20261129);
  std::vector<std::string> out;
  out.reserve(n);
  const std::vector<std::string> dirs = {"cats",       "dogs",       "2024/01", "2024/02",
                                         "shop/shoes", "Fotky léto", "日本",    "a b c"};
  for (std::size_t i = 0; i < n; ++i) {
    std::string p = dirs[i % dirs.size()] + "/sub" + std::to_string(i % 37) + "/";
    switch (i % 5) {
      case 0:
        p += "IMG_" + std::to_string(i) + ".jpg";
        break;
      case 1:
        p += "photo " + std::to_string(i) + ".PNG";
        break;
      case 2: {  // bytes that are not UTF-8 (Latin-1 names, lone continuation bytes, 0xFF)
        p += "caf";
        p += static_cast<char>(0xE9);
        p += std::to_string(i);
        p += static_cast<char>(0x80 + (rng() % 0x80));
        p += static_cast<char>(0xFF);
        p += ".jpeg";
        break;
      }
      case 3:
        p += std::to_string(rng()) + ".webp";
        break;
      default:
        p += "x" + std::to_string(i);  // no extension, short
        break;
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

TEST(Shard, ParsesGoodSpecs) {
  EXPECT_EQ(parsed("0/1"), (shard_spec{0, 1}));
  EXPECT_EQ(parsed("0/4"), (shard_spec{0, 4}));
  EXPECT_EQ(parsed("3/4"), (shard_spec{3, 4}));
  EXPECT_EQ(parsed("06/16"), (shard_spec{6, 16}));  // leading zeros are still decimal
  EXPECT_EQ(parsed("4294967294/4294967295"), (shard_spec{4294967294U, 4294967295U}));
  EXPECT_EQ(to_string(shard_spec{2, 7}), "2/7");
  EXPECT_EQ(parsed(to_string(shard_spec{5, 9})), (shard_spec{5, 9}));
}

TEST(Shard, RejectsBadSpecsWithClearMessages) {
  EXPECT_NE(parse_error("4/4").find("below the count (shards run from 0 to 3)"), std::string::npos);
  EXPECT_NE(parse_error("1/1").find("the only shard is 0"), std::string::npos);
  EXPECT_NE(parse_error("0/0").find("at least 1"), std::string::npos);
  EXPECT_NE(parse_error("3").find("expected INDEX/COUNT"), std::string::npos);
  EXPECT_NE(parse_error("").find("expected INDEX/COUNT"), std::string::npos);
  EXPECT_NE(parse_error("/4").find("index is missing"), std::string::npos);
  EXPECT_NE(parse_error("1/").find("count is missing"), std::string::npos);
  EXPECT_NE(parse_error("4294967296/4294967297").find("too large"), std::string::npos);
  EXPECT_NE(parse_error("1/99999999999999999999").find("count is too large"), std::string::npos);
  for (const char* junk : {"-1/4", "+1/4", " 1/4", "1/4 ", "1 /4", "1/ 4", "1/4x", "a/4", "1/4/8", "1.0/4",
                           "0x1/4", "1//4", "1/-4", "1\n/4"}) {
    EXPECT_NE(parse_error(junk).find("non-negative decimal integer"), std::string::npos) << junk;
  }
  // The text is quoted in the message, so the user sees what was read.
  EXPECT_NE(parse_error("7/3").find("'7/3'"), std::string::npos);
}

TEST(Shard, ReadsTheIndexedJobEnvironment) {
  const auto ok = shard_from_env(std::string("2"), 5);
  ASSERT_TRUE(ok.spec) << ok.error;
  EXPECT_EQ(*ok.spec, (shard_spec{2, 5}));
  EXPECT_TRUE(ok.error.empty());
  EXPECT_EQ(*shard_from_env(std::string("0"), 1).spec, (shard_spec{0, 1}));

  const auto unset = shard_from_env(std::nullopt, 5);
  EXPECT_FALSE(unset.spec);
  EXPECT_NE(unset.error.find("JOB_COMPLETION_INDEX is not set"), std::string::npos);
  EXPECT_NE(unset.error.find("--shard"), std::string::npos);

  const auto above = shard_from_env(std::string("5"), 5);
  EXPECT_FALSE(above.spec);
  EXPECT_NE(above.error.find("JOB_COMPLETION_INDEX='5' is not below the shard count 5"), std::string::npos);
  EXPECT_NE(above.error.find("completions"), std::string::npos);

  EXPECT_NE(shard_from_env(std::string("1"), 0).error.find("at least 1"), std::string::npos);
  EXPECT_NE(shard_from_env(std::string(""), 3).error.find("is empty"), std::string::npos);
  EXPECT_NE(shard_from_env(std::string("99999999999"), 3).error.find("too large"), std::string::npos);
  for (const char* junk : {"-1", " 1", "1 ", "one", "1.0", "+1"}) {
    const auto r = shard_from_env(std::string(junk), 3);
    EXPECT_FALSE(r.spec) << junk;
    EXPECT_NE(r.error.find("not a non-negative decimal integer"), std::string::npos)
        << junk << ": " << r.error;
  }
}

// Pinned: first 8 bytes of SHA-256, big-endian, computed independently with Python's hashlib
// (int.from_bytes(hashlib.sha256(p).digest()[:8], "big")). A change here moves inputs between
// shards and invalidates every sharded state file: it must never happen.
TEST(Shard, HashIsPinned) {
  EXPECT_EQ(shard_hash(""), 0xe3b0c44298fc1c14ULL);
  EXPECT_EQ(shard_hash("a"), 0xca978112ca1bbdcaULL);
  EXPECT_EQ(shard_hash("cats/a.jpg"), 0xb0c3d23028b86116ULL);
  EXPECT_EQ(shard_hash("caf\xe9/x.jpg"), 0x735241d8c9ab68e7ULL);  // Latin-1 byte, not UTF-8
  EXPECT_EQ(shard_hash("\xe6\x97\xa5\xe6\x9c\xac/\xe5\x86\x99\xe7\x9c\x9f.png"), 0x26e10893fe10b200ULL);
  EXPECT_EQ(shard_hash("dir with space/IMG_0001.JPG"), 0xee7e28efdaf1d7edULL);
  // A NUL inside the view is hashed too (string_view, not a C string).
  EXPECT_NE(shard_hash(std::string_view("a\0b", 3)), shard_hash("a"));

  EXPECT_EQ(shard_of("cats/a.jpg", 7), 5U);
  EXPECT_EQ(shard_of("cats/a.jpg", 16), 6U);
  EXPECT_EQ(shard_of("caf\xe9/x.jpg", 7), 3U);
  EXPECT_EQ(shard_of("dir with space/IMG_0001.JPG", 16), 13U);
  EXPECT_TRUE(in_shard("cats/a.jpg", {5, 7}));
  EXPECT_FALSE(in_shard("cats/a.jpg", {4, 7}));
}

TEST(Shard, OneShardTakesEverything) {
  for (const auto& p : generated_paths(1000)) {
    EXPECT_TRUE(in_shard(p, {0, 1}));
    EXPECT_EQ(shard_of(p, 1), 0U);
    EXPECT_EQ(shard_of(p, 0), 0U);  // count 0 is taken as 1
  }
}

TEST(Shard, ShardsAreDisjointCoverEverythingAndAreBalanced) {
  const auto paths = generated_paths(100'000);
  ASSERT_EQ(std::set<std::string>(paths.begin(), paths.end()).size(), paths.size());
  for (const std::uint32_t n : {1U, 2U, 3U, 7U, 16U}) {
    std::vector<std::uint64_t> sizes(n, 0);
    for (const auto& p : paths) {
      int owners = 0;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (in_shard(p, {i, n})) {
          ++owners;
          ++sizes[i];
        }
      }
      ASSERT_EQ(owners, 1) << "N=" << n << " path " << p;
    }
    std::uint64_t total = 0;
    for (const auto s : sizes) total += s;
    EXPECT_EQ(total, paths.size());
    const double expected = static_cast<double>(paths.size()) / n;
    for (std::uint32_t i = 0; i < n; ++i) {
      const double deviation = (static_cast<double>(sizes[i]) - expected) / expected;
      // 5% is about 4 standard deviations for N=16 (6250 paths a shard).
      EXPECT_LT(std::abs(deviation), 0.05) << "N=" << n << " shard " << i << " has " << sizes[i];
    }
  }
}

// The key is the path relative to the root, so the same tree mounted at two places (two pods)
// is split the same way; and a real tree with non-UTF-8 names is covered exactly once.
TEST(Shard, RealTreeSplitsTheSameWhateverTheMountPoint) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("ximup-shard-" + std::to_string(::getpid()));
  fs::remove_all(base);
  const fs::path tree = base / "mnt-a" / "tree";
  std::set<std::string> written;
  for (int d = 0; d < 6; ++d) {
    const std::string dir = d % 2 == 0 ? "d" + std::to_string(d) : "l\xe9t\xe9" + std::to_string(d);
    fs::create_directories(tree / dir / "deep");
    for (int f = 0; f < 50; ++f) {
      const std::string rel = dir + (f % 3 == 0 ? "/deep/" : "/") + "img" + std::to_string(f) +
                              (f % 4 == 0 ? "\xff" : "") + ".jpg";
      std::ofstream(tree / rel) << "x";
      written.insert(rel);
    }
  }
  fs::create_directories(base / "mnt-b");
  fs::create_directory_symlink(tree, base / "mnt-b" / "tree");

  const auto ids_by_shard = [](const fs::path& root, std::uint32_t n) {
    std::map<std::string, std::uint32_t> out;
    scan_options options;
    scanner s({root.string()}, options);
    while (auto item = s.next()) {
      if (!item->entry) continue;
      const std::string& id = item->entry->id;
      std::uint32_t owner = n;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (in_shard(id, {i, n})) {
          EXPECT_EQ(owner, n) << "two shards for " << id;
          owner = i;
        }
      }
      EXPECT_LT(owner, n) << "no shard for " << id;
      out[id] = owner;
    }
    return out;
  };
  for (const std::uint32_t n : {2U, 3U, 7U}) {
    const auto a = ids_by_shard(tree, n);
    const auto b = ids_by_shard(base / "mnt-b" / "tree", n);
    EXPECT_EQ(a, b);
    std::set<std::string> seen;
    for (const auto& [id, shard] : a) seen.insert(id);
    EXPECT_EQ(seen, written);
  }
  fs::remove_all(base);
}
