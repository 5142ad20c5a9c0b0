// libFuzzer target for the scaled JPEG decoder (src/resize/scaled_jpeg.hpp): any bytes, decoded at
// 1/4 and at 1/8 with one reused scratch (as a worker thread does). Out-of-bounds reads and writes
// are AddressSanitizer reports; a decoded image whose pixels are not width x height x bands aborts.
//
// Seeds: with XIMUP_FUZZ_SEEDS=DIR, LLVMFuzzerInitialize first writes small JPEGs that libjpeg
// encodes (4:2:0, 4:4:4, 4:2:2, greyscale, restart markers, progressive) into DIR; pass DIR as the
// corpus (scripts/fuzz-scaled-jpeg.sh does both).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

// jpeglib.h uses size_t and FILE without including their headers.
#include <jpeglib.h>

#include "scaled_jpeg.hpp"

namespace {

struct seed {
  const char* name;
  int width;
  int height;
  int components;
  int h;
  int v;
  unsigned restart_interval;
  bool progressive;
};

void write_seed(const std::string& dir, const seed& s) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long size = 0;  // NOLINT(google-runtime-int): libjpeg's type
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = static_cast<JDIMENSION>(s.width);
  cinfo.image_height = static_cast<JDIMENSION>(s.height);
  cinfo.input_components = s.components;
  cinfo.in_color_space = s.components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 85, TRUE);
  if (s.components == 3) {
    cinfo.comp_info[0].h_samp_factor = s.h;
    cinfo.comp_info[0].v_samp_factor = s.v;
  }
  cinfo.restart_interval = s.restart_interval;
  if (s.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<unsigned char> row(static_cast<std::size_t>(s.width) * static_cast<std::size_t>(s.components));
  while (cinfo.next_scanline < cinfo.image_height) {
    for (std::size_t i = 0; i < row.size(); ++i)
      row[i] = static_cast<unsigned char>(
          (i * 7 + cinfo.next_scanline * 13 + (i * cinfo.next_scanline) % 29) & 255U);
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::ofstream(dir + "/" + s.name + ".jpg", std::ios::binary)
      .write(reinterpret_cast<const char*>(out), static_cast<std::streamsize>(size));
  std::free(out);  // NOLINT(cppcoreguidelines-no-malloc): jpeg_mem_dest's buffer
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("XIMUP_FUZZ_SEEDS")) {
    for (const seed& s :
         {seed{"yuv420", 48, 32, 3, 2, 2, 0, false}, seed{"yuv444", 40, 24, 3, 1, 1, 0, false},
          seed{"yuv422", 33, 17, 3, 2, 1, 0, false}, seed{"yuv440", 32, 33, 3, 1, 2, 0, false},
          seed{"grey", 41, 23, 1, 1, 1, 0, false}, seed{"restarts", 64, 48, 3, 2, 2, 1, false},
          seed{"restarts3", 80, 40, 3, 1, 1, 3, false}, seed{"progressive", 32, 32, 3, 2, 2, 0, true}})
      write_seed(dir, s);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ximup::scaled_jpeg_scratch scratch;
  std::vector<std::uint8_t> pixels;
  for (int shrink : {4, 8}) {
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
