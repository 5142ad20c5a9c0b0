// --resize through the real binaries: the server receives the smaller image, small files go
// untouched, and the results record original and sent sizes.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <vips/vips.h>
#include <algorithm>

#include <filesystem>
#include <sstream>
#include <string>

#include "support/json_lines.hpp"
#include "support/ledger.hpp"
#include "support/mock_fixture.hpp"
#include "support/process.hpp"
#include "ximup/resize.hpp"

namespace fs = std::filesystem;
using namespace ximup::test;

namespace {

const std::string token = "resize-token-55e1";

// A noisy RGB JPEG of width x height (noise keeps it large, like a photo).
std::string noisy_jpeg(int width, int height, bool progressive = false) {
  VipsImage* noise = nullptr;
  VipsImage* rgb = nullptr;
  VipsImage* bytes = nullptr;
  VipsImage* bands[3] = {nullptr, nullptr, nullptr};
  void* buf = nullptr;
  size_t len = 0;
  for (int b = 0; b < 3; ++b) {
    if (vips_gaussnoise(&bands[b], width, height, "mean", 128.0, "sigma", 60.0, nullptr) != 0) return {};
  }
  if (vips_bandjoin(bands, &noise, 3, nullptr) == 0 && vips_cast_uchar(noise, &bytes, nullptr) == 0 &&
      vips_copy(bytes, &rgb, "interpretation", VIPS_INTERPRETATION_sRGB, nullptr) == 0) {
    vips_jpegsave_buffer(rgb, &buf, &len, "Q", 90, "interlace", progressive ? TRUE : FALSE, nullptr);
  }
  for (auto* p : {noise, rgb, bytes, bands[0], bands[1], bands[2]}) {
    if (p != nullptr) g_object_unref(p);
  }
  std::string out(static_cast<const char*>(buf), len);
  g_free(buf);
  return out;
}

}  // namespace

TEST(ResizeUpload, TheServerReceivesTheResizedImageAndResultsSaySo) {
  ximup::set_resize_module_fallback(XIMUP_RESIZE_MODULE_PATH);
  ASSERT_FALSE(ximup::resize_init().has_value());
  temp_dir dir;
  fs::create_directories(dir / "img");
  const std::string big = noisy_jpeg(1600, 1200);
  ASSERT_GT(big.size(), 200U * 1024);
  write_text(dir / "img" / "big.jpg", big);
  const std::string small = noisy_jpeg(64, 48);
  write_text(dir / "img" / "small.jpg", small);
  // 12 MP: decoded at 1/4 by scaled_jpeg and reduced by our Lanczos-3 (1600 x 1200 above is decoded at
  // 1/2 by TurboJPEG): both JPEG paths through the real binary.
  const std::string camera = noisy_jpeg(4000, 3000);
  write_text(dir / "img" / "camera.jpg", camera);
  // Progressive, 3200 x 2400: scaled_jpeg's scan-by-scan path at 1/4.
  const std::string progressive = noisy_jpeg(3200, 2400, true);
  write_text(dir / "img" / "progressive.jpg", progressive);

  mock_server mock(dir.path(), token);
  const int rc = run({XIMUP_BIN, "upload", (dir / "img").string(), "--endpoint", "tagging", "--api-base",
                      mock.base(), "--cacert", mock.cert().string(), "--no-state", "--results",
                      (dir / "r.jsonl").string(), "--resize", "600"},
                     dir / "x.out", dir / "x.err",
                     {"XIMILAR_API_TOKEN=" + token, "XDG_CONFIG_HOME=" + (dir / "xdg").string()});
  mock.stop();
  ASSERT_EQ(rc, 0) << read_text(dir / "x.err");

  const auto hashes = accepted_hashes(mock.ledger());
  ASSERT_EQ(hashes.count("big.jpg"), 1U);
  ASSERT_EQ(hashes.count("small.jpg"), 1U);
  ASSERT_EQ(hashes.count("camera.jpg"), 1U);
  ASSERT_EQ(hashes.count("progressive.jpg"), 1U);
  EXPECT_NE(hashes.find("big.jpg")->second, sha256_hex(big));  // the resized bytes arrived
  EXPECT_NE(hashes.find("camera.jpg")->second, sha256_hex(camera));
  EXPECT_NE(hashes.find("progressive.jpg")->second, sha256_hex(progressive));
  EXPECT_EQ(hashes.find("small.jpg")->second, sha256_hex(small));  // untouched, byte for byte

  simdjson::dom::parser parser;
  std::istringstream in(read_text(dir / "r.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(lenient(line)).get(doc), simdjson::SUCCESS) << line;
    const std::string_view id = doc["_id"];
    const auto resize = doc["resize"];
    ASSERT_FALSE(resize.error()) << line;
    if (id == "big.jpg" || id == "camera.jpg" || id == "progressive.jpg") {
      EXPECT_EQ(std::string_view(resize["action"]), "resized");
      EXPECT_EQ(uint64_t(resize["original_width"]), id == "big.jpg"      ? 1600U
                                                    : id == "camera.jpg" ? 4000U
                                                                         : 3200U);
      EXPECT_EQ(uint64_t(resize["sent_width"]), 800U);
      EXPECT_EQ(uint64_t(resize["sent_height"]), 600U);
      EXPECT_LT(uint64_t(resize["sent_bytes"]), uint64_t(resize["original_bytes"]));
      // The server measured the image it received.
      EXPECT_EQ(int64_t(doc["_width"]), 800);
      EXPECT_EQ(int64_t(doc["_height"]), 600);
    } else {
      EXPECT_EQ(std::string_view(resize["action"]), "unchanged_small_file") << line;
    }
  }
  EXPECT_EQ(lines, 4);
}

// --resize auto takes the preset's size (512 px for recognition); with a URL endpoint it is a
// usage error that says what to pass instead.
TEST(ResizeUpload, AutoTakesThePresetsSizeAndNeedsAPreset) {
  ximup::set_resize_module_fallback(XIMUP_RESIZE_MODULE_PATH);
  ASSERT_FALSE(ximup::resize_init().has_value());
  temp_dir dir;
  fs::create_directories(dir / "img");
  write_text(dir / "img" / "big.jpg", noisy_jpeg(1600, 1200));

  mock_server mock(dir.path(), token);
  const std::vector<std::string> env = {"XIMILAR_API_TOKEN=" + token,
                                        "XDG_CONFIG_HOME=" + (dir / "xdg").string()};
  const int rc = run({XIMUP_BIN, "upload", (dir / "img").string(), "--endpoint", "classify", "--task-id",
                      "t-1", "--api-base", mock.base(), "--cacert", mock.cert().string(), "--no-state",
                      "--results", (dir / "r.jsonl").string(), "--resize", "auto"},
                     dir / "x.out", dir / "x.err", env);
  ASSERT_EQ(rc, 0) << read_text(dir / "x.err");
  simdjson::dom::parser parser;
  const std::string line = read_text(dir / "r.jsonl");
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(lenient(line)).get(doc), simdjson::SUCCESS) << line;
  EXPECT_EQ(std::string_view(doc["resize"]["action"]), "resized") << line;
  EXPECT_EQ(uint64_t(doc["resize"]["sent_height"]), 512U) << line;
  EXPECT_EQ(uint64_t(doc["resize"]["sent_width"]), 683U) << line;
  const std::uint64_t full_chroma_bytes = uint64_t(doc["resize"]["sent_bytes"]);

  // --jpeg-chroma 420 reaches the encoder: the same image, 4:2:0 instead of 4:4:4 at quality 90, in
  // fewer bytes.
  const int half_rc =
      run({XIMUP_BIN, "upload", (dir / "img").string(), "--endpoint", "classify", "--task-id", "t-1",
           "--api-base", mock.base(), "--cacert", mock.cert().string(), "--no-state", "--results",
           (dir / "h.jsonl").string(), "--resize", "auto", "--jpeg-chroma", "420"},
          dir / "h.out", dir / "h.err", env);
  ASSERT_EQ(half_rc, 0) << read_text(dir / "h.err");
  const std::string half_line = read_text(dir / "h.jsonl");
  simdjson::dom::element half;
  ASSERT_EQ(parser.parse(lenient(half_line)).get(half), simdjson::SUCCESS) << half_line;
  EXPECT_EQ(uint64_t(half["resize"]["sent_height"]), 512U) << half_line;
  EXPECT_LT(uint64_t(half["resize"]["sent_bytes"]), full_chroma_bytes) << half_line;

  const int url_rc = run({XIMUP_BIN, "upload", (dir / "img").string(), "--endpoint",
                          mock.base() + "tagging/generic/v2/tags", "--cacert", mock.cert().string(),
                          "--no-state", "--results", (dir / "u.jsonl").string(), "--resize", "auto"},
                         dir / "u.out", dir / "u.err", env);
  mock.stop();
  EXPECT_EQ(url_rc, 2);
  EXPECT_NE(read_text(dir / "u.err").find("--resize auto takes its size from a preset"), std::string::npos)
      << read_text(dir / "u.err");

  const int bad_rc =
      run({XIMUP_BIN, "upload", (dir / "img").string(), "--endpoint", "tagging", "--resize", "big"},
          dir / "b.out", dir / "b.err", env);
  EXPECT_EQ(bad_rc, 2);
  EXPECT_NE(read_text(dir / "b.err").find("--resize must be a size in pixels"), std::string::npos)
      << read_text(dir / "b.err");

  const int chroma_rc = run({XIMUP_BIN, "upload", (dir / "img").string(), "--endpoint", "tagging", "--resize",
                             "600", "--jpeg-chroma", "422"},
                            dir / "c.out", dir / "c.err", env);
  EXPECT_EQ(chroma_rc, 2);
  EXPECT_NE(read_text(dir / "c.err").find("--jpeg-chroma"), std::string::npos) << read_text(dir / "c.err");
}

// libvips and its ~100 libraries live in the resize module, loaded only when --resize needs it:
// the ximup binary does not link libvips, a run without --resize never looks for the module, and a
// missing module is a usage error that names it and what to do.
TEST(ResizeUpload, TheResizeModuleIsLoadedOnlyForResizeAndItsAbsenceIsExplained) {
  temp_dir dir;
  ASSERT_EQ(run({"ldd", XIMUP_BIN}, dir / "ldd.out", dir / "ldd.err"), 0) << read_text(dir / "ldd.err");
  const std::string libs = read_text(dir / "ldd.out");
  EXPECT_NE(libs.find("libssl"), std::string::npos) << libs;
  EXPECT_EQ(libs.find("libvips"), std::string::npos) << libs;

  ximup::set_resize_module_fallback(XIMUP_RESIZE_MODULE_PATH);
  ASSERT_FALSE(ximup::resize_init().has_value());  // libvips for noisy_jpeg()
  fs::create_directories(dir / "img");
  write_text(dir / "img" / "big.jpg", noisy_jpeg(800, 600));
  mock_server mock(dir.path(), token);
  const std::vector<std::string> env = {"XIMILAR_API_TOKEN=" + token,
                                        "XDG_CONFIG_HOME=" + (dir / "xdg").string(),
                                        "XIMUP_RESIZE_MODULE=" + (dir / "no-such-module.so").string()};
  auto args = mock.upload_args(dir / "img", dir / "r.jsonl", {"--no-state"});
  args.insert(args.begin(), XIMUP_BIN);
  EXPECT_EQ(run(args, dir / "a.out", dir / "a.err", env), 0) << read_text(dir / "a.err");

  args.insert(args.end(), {"--resize", "300", "--resize-min-bytes", "0"});
  EXPECT_EQ(run(args, dir / "b.out", dir / "b.err", env), 2);
  const std::string err = read_text(dir / "b.err");
  EXPECT_NE(err.find("ximup-resize.so"), std::string::npos) << err;
  EXPECT_NE(err.find("no-such-module.so (not there)"), std::string::npos) << err;
  EXPECT_NE(err.find("XIMUP_RESIZE_MODULE"), std::string::npos) << err;

  // Found beside the binary when nothing overrides it: the same run resizes.
  const std::vector<std::string> plain_env = {"XIMILAR_API_TOKEN=" + token,
                                              "XDG_CONFIG_HOME=" + (dir / "xdg").string()};
  *(std::find(args.begin(), args.end(), "--results") + 1) = (dir / "r2.jsonl").string();
  ASSERT_EQ(run(args, dir / "c.out", dir / "c.err", plain_env), 0) << read_text(dir / "c.err");
  EXPECT_NE(read_text(dir / "r2.jsonl").find(R"("action":"resized")"), std::string::npos)
      << read_text(dir / "r2.jsonl");
}

// A file too large for a request body as it is: with --resize it is read whole and shrunk (what
// --resize is for), then sent if it fits; one that resizing cannot shrink, or that the memory budget
// cannot hold, fails with a reason that says which.
TEST(ResizeUpload, AFileTooLargeToSendAsItIsIsResizedToFit) {
  temp_dir dir;
  fs::create_directories(dir / "img");
  const std::string big = noisy_jpeg(1600, 1200);
  ASSERT_GT(big.size(), 700U * 1024);  // its base64 record is over the 1 MiB limit below
  write_text(dir / "img" / "big.jpg", big);
  write_text(dir / "img" / "notes.jpg", std::string(big.size(), 'x'));  // not an image: never smaller
  mock_server mock(dir.path(), token);
  const auto upload = [&](const std::string& results, const std::string& inflight) {
    return run(
        {XIMUP_BIN, "upload", (dir / "img").string(), "--endpoint", "tagging", "--api-base", mock.base(),
         "--cacert", mock.cert().string(), "--no-state", "--results", (dir / results).string(), "--resize",
         "600", "--max-body-bytes", "1MiB", "--max-inflight", inflight},
        dir / "x.out", dir / "x.err",
        {"XIMILAR_API_TOKEN=" + token, "XDG_CONFIG_HOME=" + (dir / "xdg").string()});
  };
  EXPECT_EQ(upload("r.jsonl", "64MiB"), 1) << read_text(dir / "x.err");
  const auto hashes = accepted_hashes(mock.ledger());
  ASSERT_EQ(hashes.count("big.jpg"), 1U) << read_text(dir / "r.jsonl");
  EXPECT_NE(hashes.find("big.jpg")->second, sha256_hex(big));  // the resized bytes
  EXPECT_EQ(hashes.count("notes.jpg"), 0U);
  const std::string results = read_text(dir / "r.jsonl");
  EXPECT_NE(results.find("--resize left it as it is"), std::string::npos) << results;

  // A budget with no room to read it whole (2 MiB, of which a body may take 1): too large, and the
  // reason names --max-inflight.
  const std::string huge = noisy_jpeg(2400, 1800);
  ASSERT_GT(huge.size(), 1024U * 1024);
  fs::remove(dir / "img" / "notes.jpg");
  write_text(dir / "img" / "big.jpg", huge);
  EXPECT_EQ(upload("r2.jsonl", "2MiB"), 1) << read_text(dir / "x.err");
  const std::string tight = read_text(dir / "r2.jsonl");
  EXPECT_NE(tight.find("nor --max-inflight's room to resize it"), std::string::npos) << tight;
  mock.stop();
}
