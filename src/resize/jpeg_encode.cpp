// jpeg_encode: libjpeg's compressor with jpegsave's settings; see jpeg_encode.hpp.
#include "jpeg_encode.hpp"

// jpeglib.h needs size_t and FILE declared before it.
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <exception>

#include <jpeglib.h>
// (after jpeglib.h: the message codes)
#include <jerror.h>

namespace ximup {
namespace {

// libjpeg reports a fatal error by calling error_exit, which must not return: it jumps back to
// encode_jpeg's setjmp with the message kept here. Warnings are not printed (libjpeg's default
// prints the first one to stderr).
struct error_manager {
  jpeg_error_mgr base{};
  std::jmp_buf jump{};
  char message[JMSG_LENGTH_MAX] = {};
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<error_manager*>(cinfo->err);  // NOLINT: base is the first member
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);  // NOLINT(cert-err52-cpp): libjpeg's error model
}
void on_message(j_common_ptr /*cinfo*/) {}

// Output straight into the caller's vector, grown as libjpeg fills it.
struct vector_destination {
  jpeg_destination_mgr base{};
  std::vector<std::uint8_t>* out = nullptr;
};
constexpr std::size_t first_chunk = std::size_t{64} << 10;

void init_destination(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<vector_destination*>(cinfo->dest);  // NOLINT: base is the first member
  // (Within the capacity an earlier call left, resizing reallocates nothing: a worker's buffer stops
  // growing. Not resized to that capacity: it may be a large PNG's, and resizing zero-fills.)
  d->out->resize(first_chunk);
  d->base.next_output_byte = d->out->data();
  d->base.free_in_buffer = d->out->size();
}
// Called when the buffer is full (all of it written): doubles it. A failed allocation becomes
// libjpeg's out-of-memory error (an exception must not cross libjpeg's C frames).
boolean empty_output_buffer(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<vector_destination*>(cinfo->dest);  // NOLINT: base is the first member
  const std::size_t used = d->out->size();
  bool grown = true;
  try {
    d->out->resize(used * 2);
  } catch (const std::exception&) {
    grown = false;
  }
  if (!grown) {
    cinfo->err->msg_code = JERR_OUT_OF_MEMORY;  // "Insufficient memory (case %d)"
    cinfo->err->msg_parm.i[0] = 0;
    (*cinfo->err->error_exit)(reinterpret_cast<j_common_ptr>(cinfo));  // NOLINT: libjpeg's cast
  }
  d->base.next_output_byte = d->out->data() + used;
  d->base.free_in_buffer = d->out->size() - used;
  return TRUE;
}
void term_destination(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<vector_destination*>(cinfo->dest);  // NOLINT: base is the first member
  d->out->resize(d->out->size() - d->base.free_in_buffer);
}

}  // namespace

std::string encode_jpeg(std::span<const std::uint8_t> pixels, std::uint32_t width, std::uint32_t height,
                        int bands, const jpeg_encode_options& options, std::vector<std::uint8_t>& out) {
  out.clear();
  const std::size_t row = std::size_t{width} * static_cast<std::size_t>(bands);
  if ((bands != 1 && bands != 3) || width == 0 || height == 0 || pixels.size() != row * height)
    return "encode_jpeg: the pixels are not width x height x 1 or 3 bands";
  // Everything setjmp's frame holds is plain data: a longjmp skips no destructor.
  jpeg_compress_struct cinfo{};
  error_manager errors;
  vector_destination destination;
  cinfo.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = on_error;
  errors.base.output_message = on_message;
  if (setjmp(errors.jump) != 0) {  // NOLINT(cert-err52-cpp)
    jpeg_destroy_compress(&cinfo);
    out.clear();
    return errors.message;
  }
  jpeg_create_compress(&cinfo);
  destination.out = &out;
  destination.base.init_destination = init_destination;
  destination.base.empty_output_buffer = empty_output_buffer;
  destination.base.term_destination = term_destination;
  cinfo.dest = &destination.base;
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = bands;
  cinfo.in_color_space = bands == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, options.quality, TRUE);
  cinfo.optimize_coding = options.optimize_coding ? TRUE : FALSE;
  // libjpeg's default for YCbCr is 2x2 luma (4:2:0); jpegsave's rule for when it keeps full chroma.
  const bool full_chroma = options.chroma == jpeg_chroma::full ||
                           (options.chroma == jpeg_chroma::automatic && options.quality >= 90);
  if (full_chroma) {
    for (int i = 0; i < bands; ++i) {
      cinfo.comp_info[i].h_samp_factor = 1;  // NOLINT: libjpeg's array of num_components
      cinfo.comp_info[i].v_samp_factor = 1;  // NOLINT
    }
  }
  cinfo.write_JFIF_header = FALSE;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    // libjpeg reads the rows without writing them; its API takes them non-const.
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast)
    auto* line = const_cast<std::uint8_t*>(pixels.data() + std::size_t{cinfo.next_scanline} * row);
    jpeg_write_scanlines(&cinfo, &line, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return {};
}

}  // namespace ximup
