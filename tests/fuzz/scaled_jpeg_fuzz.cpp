// libFuzzer target for the scaled JPEG decoder (src/resize/scaled_jpeg.hpp): any bytes, decoded at
// 1/4 and at 1/8 with one reused scratch (as a worker thread does). Out-of-bounds reads and writes
// are AddressSanitizer reports; a decoded image whose pixels are not width x height x bands aborts.
//
// Seeds: with XIMUP_FUZZ_SEEDS=DIR, LLVMFuzzerInitialize first writes small JPEGs that libjpeg
// encodes (tests/support/jpeg_writer.hpp: 4:2:0, 4:4:4, 4:2:2, 4:4:0, greyscale, restart markers,
// progressive (libjpeg's script, restarts, a fine script of 34 scans), a sequential scan per
// component, 16-bit tables) into DIR; pass DIR as the corpus (scripts/fuzz-scaled-jpeg.sh does
// both).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "scaled_jpeg.hpp"
#include "support/jpeg_writer.hpp"

namespace {

struct seed {
  const char* name;
  ximup::test::jpeg_layout layout;
};

void write_seed(const std::string& dir, const seed& s) {
  const std::vector<std::uint8_t> jpeg = ximup::test::write_jpeg(s.layout);
  std::ofstream(dir + "/" + s.name + ".jpg", std::ios::binary)
      .write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("XIMUP_FUZZ_SEEDS")) {
    for (const seed& s :
         {seed{"yuv420", {.width = 48, .height = 32}},
          seed{"yuv444", {.width = 40, .height = 24, .h = 1, .v = 1}},
          seed{"yuv422", {.width = 33, .height = 17, .v = 1}},
          seed{"yuv440", {.width = 32, .height = 33, .h = 1}},
          seed{"grey", {.width = 41, .height = 23, .components = 1}},
          seed{"restarts", {.width = 64, .height = 48, .restart_interval = 1}},
          seed{"restarts3", {.width = 80, .height = 40, .h = 1, .v = 1, .restart_interval = 3}},
          seed{"progressive", {.width = 32, .height = 32, .progressive = true}},
          seed{"progressive_restarts",
               {.width = 48, .height = 32, .restart_interval = 2, .progressive = true}},
          seed{"progressive_grey", {.width = 41, .height = 23, .components = 1, .progressive = true}},
          seed{"progressive_fine",
               {.width = 40, .height = 24, .scans = ximup::test::jpeg_layout::script::fine}},
          seed{"scan_per_component",
               {.width = 40, .height = 24, .scans = ximup::test::jpeg_layout::script::per_component}},
          seed{"extended", {.width = 32, .height = 16, .quality = 1, .baseline = false}}})
      write_seed(dir, s);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ximup::scaled_jpeg_scratch scratch;
  std::vector<std::uint8_t> pixels;
  for (int shrink : {2, 4, 8}) {
    ximup::scaled_jpeg_image image;
    if (ximup::decode_scaled_jpeg({data, size}, shrink, pixels, &image, scratch) ==
            ximup::scaled_jpeg_status::decoded &&
        pixels.size() != std::size_t{image.width} * image.height * static_cast<std::size_t>(image.bands)) {
      std::fprintf(stderr, "decoded %ux%ux%d but %zu bytes of pixels\n", image.width, image.height,
                   image.bands, pixels.size());
      std::abort();
    }
  }
  return 0;
}
