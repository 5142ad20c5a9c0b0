#include "ximup/input_source.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace ximup;
namespace fs = std::filesystem;

namespace {

class InputSource : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ximup-input.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  }
  std::vector<scan_item> all(input_options o) {
    input_source src(std::move(o));
    EXPECT_EQ(src.error(), "");
    std::vector<scan_item> out;
    while (auto item = src.next()) out.push_back(std::move(*item));
    return out;
  }
  fs::path dir;
};

}  // namespace

TEST_F(InputSource, ManifestItemsAreStatedUrlsPassAndBadLinesAreNamed) {
  const auto image = write("a.jpg", "12345");
  input_options o;
  o.kind = input_kind::manifest;
  o.list_path = write("m.jsonl", "{\"path\":\"" + image + "\",\"label\":\"x\"}\n" +
                                     "{\"url\":\"https://h/b.png\",\"_id\":\"b\"}\n" + "{\"nothing\":1}\n" +
                                     "{\"path\":\"" + (dir / "gone.jpg").string() + "\"}\n");
  const auto items = all(o);
  ASSERT_EQ(items.size(), 4U);
  ASSERT_TRUE(items[0].entry);
  EXPECT_EQ(items[0].entry->size, 5U);
  EXPECT_GT(items[0].entry->mtime_ns, 0);
  EXPECT_EQ(items[0].entry->extra_fields, R"(,"label":"x")");
  EXPECT_EQ(items[0].entry->id, image);
  ASSERT_TRUE(items[1].entry);
  EXPECT_EQ(items[1].entry->url, "https://h/b.png");
  EXPECT_EQ(items[1].entry->path, "https://h/b.png");
  EXPECT_EQ(items[1].entry->id, "b");
  ASSERT_TRUE(items[2].error);
  EXPECT_EQ(items[2].error->path, o.list_path + ":3");
  ASSERT_TRUE(items[3].error);
  EXPECT_NE(items[3].error->message.find(o.list_path + ":4"), std::string::npos) << items[3].error->message;
}

TEST_F(InputSource, FilesFromListsPathsAsGivenWithoutFilters) {
  const auto txt = write("notes.txt", "abc");  // no image extension: listed files are taken as given
  input_options o;
  o.kind = input_kind::files_from;
  o.list_path = write("list", txt + "\n\n" + txt + "\r\n");
  const auto items = all(o);
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[0].entry->path, txt);
  EXPECT_EQ(items[1].entry->size, 3U);
}

TEST_F(InputSource, UnreadableListOrUnknownFormatIsAnError) {
  input_options o;
  o.kind = input_kind::manifest;
  o.list_path = (dir / "missing.jsonl").string();
  input_source missing(o);
  EXPECT_NE(missing.error().find("missing.jsonl"), std::string::npos);
  EXPECT_FALSE(missing.next());
  o.list_path = write("m.txt", "");
  input_source unknown(o);
  EXPECT_NE(unknown.error().find("--manifest-format"), std::string::npos);
}

TEST_F(InputSource, DirectoriesGoThroughTheScanner) {
  write("x.png", "p");
  write("y.txt", "t");
  input_options o;
  o.roots = {dir.string()};
  input_source src(o);
  std::size_t files = 0;
  while (auto item = src.next()) files += item->entry ? 1U : 0U;
  EXPECT_EQ(files, 1U);
  EXPECT_EQ(src.skipped(), 1U);
}
