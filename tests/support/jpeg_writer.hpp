#pragma once
// JPEG files for tests and fuzz seeds, written by libjpeg's own API (not libvips, not TurboJPEG):
// every chroma subsampling, greyscale, restart markers, progressive, RGB, 16-bit quantisation tables.
// Needs libjpeg (PkgConfig::LIBJPEG in tests/CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

// jpeglib.h uses size_t and FILE without including their headers.
#include <jpeglib.h>

namespace ximup::test {

struct jpeg_layout {
  int width = 640;
  int height = 480;
  int components = 3;
  int h = 2;  ///< luma sampling factors; chroma is 1x1
  int v = 2;
  int quality = 90;
  unsigned restart_interval = 0;  ///< in MCUs
  bool progressive = false;
  bool smooth = false;   ///< gradients only: no edges or texture
  bool rgb = false;      ///< stored as RGB (Adobe transform 0), not YCbCr
  bool baseline = true;  ///< false: quantisation steps above 255 in 16-bit tables (an SOF1 file)
  /// Scans other than libjpeg's defaults (3-component files only): a sequential scan per component
  /// (`per_component`), or progressive scripts of 34 scans (`fine`: DC in three bit steps, bands of
  /// single coefficients) or of 190 (`one_per_coefficient`).
  enum class script { standard, per_component, fine, one_per_coefficient } scans = script::standard;
};

// The scan script of jpeg_layout::scans.
inline std::vector<jpeg_scan_info> jpeg_script(jpeg_layout::script which) {
  std::vector<jpeg_scan_info> scans;
  const auto add = [&](int component, int ss, int se, int ah, int al) {
    jpeg_scan_info s{};
    s.comps_in_scan = component < 0 ? 3 : 1;
    for (int i = 0; i < s.comps_in_scan; ++i) s.component_index[i] = component < 0 ? i : component;
    s.Ss = ss;
    s.Se = se;
    s.Ah = ah;
    s.Al = al;
    scans.push_back(s);
  };
  switch (which) {
    case jpeg_layout::script::standard:
      break;
    case jpeg_layout::script::per_component:
      for (int c : {2, 0, 1}) add(c, 0, 63, 0, 0);  // not even in frame order
      break;
    case jpeg_layout::script::fine:
      add(-1, 0, 0, 0, 2);
      for (int c = 0; c < 3; ++c) {
        for (int k = 1; k <= 9; ++k) add(c, k, k, 0, 1);
        add(c, 10, 63, 0, 1);
      }
      add(-1, 0, 0, 2, 1);
      add(-1, 0, 0, 1, 0);
      for (int c : {1, 0, 2}) add(c, 1, 63, 1, 0);
      break;
    case jpeg_layout::script::one_per_coefficient:
      add(-1, 0, 0, 0, 0);
      for (int c = 0; c < 3; ++c) {
        for (int k = 1; k <= 63; ++k) add(c, k, k, 0, 0);
      }
      break;
  }
  return scans;
}

// Photo-like content: smooth gradients, a few sharp edges, and some deterministic texture, so every
// block has AC coefficients and edges cross blocks.
inline std::uint8_t jpeg_test_sample(int x, int y, int c, bool smooth) {
  const double base = 128 + 90 * std::sin((x * (c + 1)) / 47.0) * std::cos(y / 31.0);
  if (smooth) return static_cast<std::uint8_t>(std::lround(base));
  const double edge = ((x / 37 + y / 23) % 3 == 0) ? 40 : -20;
  const double texture = static_cast<double>((x * 7919 + y * 104729 + c * 31) % 23) - 11;
  return static_cast<std::uint8_t>(std::clamp(base + edge + texture, 0.0, 255.0));
}

inline std::vector<std::uint8_t> write_jpeg(const jpeg_layout& e) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  jerr.emit_message = [](j_common_ptr, int) {};  // "quantization tables are too coarse" and such
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long size = 0;  // NOLINT(google-runtime-int): libjpeg's type
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = static_cast<JDIMENSION>(e.width);
  cinfo.image_height = static_cast<JDIMENSION>(e.height);
  cinfo.input_components = e.components;
  cinfo.in_color_space = e.components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, e.quality, e.baseline ? TRUE : FALSE);
  if (e.components == 3) {
    cinfo.comp_info[0].h_samp_factor = e.h;
    cinfo.comp_info[0].v_samp_factor = e.v;
  }
  if (e.rgb) jpeg_set_colorspace(&cinfo, JCS_RGB);
  cinfo.restart_interval = e.restart_interval;
  if (e.progressive) jpeg_simple_progression(&cinfo);
  const std::vector<jpeg_scan_info> script = jpeg_script(e.scans);
  if (!script.empty()) {
    cinfo.scan_info = script.data();
    cinfo.num_scans = static_cast<int>(script.size());
  }
  jpeg_start_compress(&cinfo, TRUE);
  const auto bands = static_cast<std::size_t>(e.components);
  std::vector<std::uint8_t> row(static_cast<std::size_t>(e.width) * bands);
  while (cinfo.next_scanline < cinfo.image_height) {
    const int y = static_cast<int>(cinfo.next_scanline);
    for (std::size_t i = 0; i < row.size(); ++i) {
      row[i] = jpeg_test_sample(static_cast<int>(i / bands), y, static_cast<int>(i % bands), e.smooth);
    }
    JSAMPROW rows[1] = {row.data()};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<std::uint8_t> result(out, out + size);
  std::free(out);  // NOLINT(cppcoreguidelines-no-malloc): jpeg_mem_dest's buffer
  return result;
}

}  // namespace ximup::test
