// jpeg_encode: libjpeg's compressor with jpegsave's settings; see jpeg_encode.hpp.
#include "jpeg_encode.hpp"

// jpeglib.h needs size_t and FILE declared before it.
#include <array>
#include <bit>
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>

// XIMUP_JPEG_ENCODE_PORTABLE: the code CPUs without SSE2 run, for its test on x86-64
// (jpeg_encode_portable_test).
#if defined(__SSE2__) && !defined(XIMUP_JPEG_ENCODE_PORTABLE)
#define XIMUP_JPEG_ENCODE_SSE2 1
#include <emmintrin.h>
#endif

#include <jpeglib.h>
// (after jpeglib.h: the message codes, and the entropy coder's methods, which the optimize pass replaces)
#include <jerror.h>
#include <jpegint.h>

// libjpeg's table maker (jchuff.c), which its optimize pass calls; exported by libjpeg-turbo (every
// function of its LIBJPEG_6.2 version is) but declared in no installed header.
extern "C" void jpeg_gen_optimal_table(j_compress_ptr cinfo, JHUFF_TBL* htbl, long freq[]);

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

// ---- The optimize pass's statistics ----
// With optimize_coding, libjpeg makes a first pass that only counts, per Huffman table, how often each
// symbol would be coded (its encode_mcu_gather and htest_one_block), makes the tables from the counts,
// then codes the image in a second pass. Its counting visits the 63 AC coefficients one by one, with a
// branch on each and a loop for each magnitude's bit length: perf put it at 7.6% of a resized photo's
// CPU, more than all the rest of libjpeg's encode (docs/resize.md, session 12). The pass's encode_mcu and
// finish_pass are replaced with the same counts made from a block's nonzero mask, and the tables made
// exactly as finish_pass_gather makes them (jpeg_gen_optimal_table), so the bytes are libjpeg's
// (Resize.DirectEncodeIsByteForByteLibvips, JpegEncode.OwnStatisticsGiveLibjpegsBytes).

// Natural (row-major) index -> zigzag index: the inverse of libjpeg's jpeg_natural_order.
const std::array<std::uint8_t, 64> zigzag_of = [] {
  std::array<std::uint8_t, 64> z{};
  for (std::size_t k = 0; k < 64; ++k)
    z[static_cast<std::size_t>(jpeg_natural_order[k])] = static_cast<std::uint8_t>(k);
  return z;
}();

// A block's nonzero mask in zigzag order, from its natural-order mask a byte (a row) at a time: entry
// [row][byte] has the zigzag bits of that row's nonzero columns. Eight look-ups, where moving each
// nonzero coefficient's bit by itself was five instructions per coefficient (at quality 90 most
// blocks have 20 to 40).
const auto zigzag_of_row = [] {
  std::array<std::array<std::uint64_t, 256>, 8> table{};
  for (std::size_t row = 0; row < 8; ++row) {
    for (std::size_t byte = 0; byte < 256; ++byte) {
      for (std::size_t column = 0; column < 8; ++column) {
        if ((byte >> column & 1U) != 0) table[row][byte] |= std::uint64_t{1} << zigzag_of[8 * row + column];
      }
    }
  }
  return table;
}();

std::uint64_t zigzag_mask(std::uint64_t natural) {
  std::uint64_t zigzag = 0;
  for (std::size_t row = 0; row < 8; ++row) zigzag |= zigzag_of_row[row][(natural >> (8 * row)) & 255U];
  return zigzag;
}

// libjpeg's limits for 8-bit samples (jchuff.c: MAX_COEF_BITS): a larger magnitude is its
// JERR_BAD_DCT_COEF.
constexpr int max_ac_bits = 10;
constexpr int max_dc_bits = 11;  // a difference of two DC values

int bit_length(int magnitude) {
  return static_cast<int>(std::bit_width(static_cast<unsigned>(magnitude)));
}

// Bit i set when natural coefficient i is nonzero.
std::uint64_t nonzero_mask(const JCOEF* block) {
  std::uint64_t mask = 0;
#if defined(XIMUP_JPEG_ENCODE_SSE2)
  static_assert(sizeof(JCOEF) == 2);
  const __m128i zero = _mm_setzero_si128();
  for (std::size_t i = 0; i < 8; ++i) {
    const __m128i row = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 8 * i));
    const __m128i is_zero = _mm_cmpeq_epi16(row, zero);
    const auto zeros = static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(is_zero, zero))) & 0xFFU;
    mask |= std::uint64_t{~zeros & 0xFFU} << (8 * i);
  }
#else
  for (std::size_t i = 0; i < 64; ++i) mask |= std::uint64_t{block[i] != 0} << i;
#endif
  return mask;
}

struct symbol_counts {
  // Per table number, as libjpeg's dc_count_ptrs/ac_count_ptrs: 257 entries, which
  // jpeg_gen_optimal_table needs (it marks the 257th).
  std::array<std::array<long, 257>, NUM_HUFF_TBLS> dc{};
  std::array<std::array<long, 257>, NUM_HUFF_TBLS> ac{};
  std::array<int, MAX_COMPS_IN_SCAN> last_dc{};
};

// htest_one_block's counts for one block: the DC difference's size, each nonzero AC coefficient's
// run and size (a run of 16 or more first takes ZRL symbols, 0xF0), an end of block after the last
// nonzero one unless it is the 64th. False for a magnitude libjpeg refuses.
bool count_block(const JCOEF* block, int last_dc, long* dc, long* ac) {
  const int dc_bits = bit_length(std::abs(block[0] - last_dc));
  if (dc_bits > max_dc_bits) return false;
  ++dc[dc_bits];
  std::uint64_t zigzag = zigzag_mask(nonzero_mask(block)) & ~std::uint64_t{1};
  int last = 0;  // the zigzag index of the previous coded coefficient
  for (; zigzag != 0; zigzag &= zigzag - 1) {
    const int k = std::countr_zero(zigzag);
    const int run = k - last - 1;
    last = k;
    ac[0xF0] += run >> 4;
    const int bits = bit_length(std::abs(block[jpeg_natural_order[k]]));
    if (bits > max_ac_bits) return false;
    ++ac[((run & 15) << 4) + bits];
  }
  if (last < 63) ++ac[0];
  return true;
}

// The optimize pass's encode_mcu: counts each block of the MCU against its component's tables.
boolean count_mcu(j_compress_ptr cinfo, JBLOCKROW* mcu) {
  auto* counts = static_cast<symbol_counts*>(cinfo->client_data);
  for (int b = 0; b < cinfo->blocks_in_MCU; ++b) {
    const int ci = cinfo->MCU_membership[b];
    const jpeg_component_info* comp = cinfo->cur_comp_info[ci];
    const JCOEF* block = mcu[b][0];
    auto& last_dc = counts->last_dc[static_cast<std::size_t>(ci)];
    if (!count_block(block, last_dc, counts->dc[static_cast<std::size_t>(comp->dc_tbl_no)].data(),
                     counts->ac[static_cast<std::size_t>(comp->ac_tbl_no)].data())) {
      cinfo->err->msg_code = JERR_BAD_DCT_COEF;
      (*cinfo->err->error_exit)(reinterpret_cast<j_common_ptr>(cinfo));
    }
    last_dc = block[0];
  }
  return TRUE;
}

// The optimize pass's finish_pass: finish_pass_gather's tables, each made once (the function
// consumes its counts).
void make_tables(j_compress_ptr cinfo) {
  auto* counts = static_cast<symbol_counts*>(cinfo->client_data);
  std::array<bool, NUM_HUFF_TBLS> did_dc{};
  std::array<bool, NUM_HUFF_TBLS> did_ac{};
  const auto make = [cinfo](JHUFF_TBL*& table, long* freq, bool& done) {  // (libjpeg's type)
    if (done) return;
    if (table == nullptr) table = jpeg_alloc_huff_table(reinterpret_cast<j_common_ptr>(cinfo));
    jpeg_gen_optimal_table(cinfo, table, freq);
    done = true;
  };
  for (int ci = 0; ci < cinfo->comps_in_scan; ++ci) {
    const jpeg_component_info* comp = cinfo->cur_comp_info[ci];
    const auto dc = static_cast<std::size_t>(comp->dc_tbl_no);
    const auto ac = static_cast<std::size_t>(comp->ac_tbl_no);
    make(cinfo->dc_huff_tbl_ptrs[dc], counts->dc[dc].data(), did_dc[dc]);
    make(cinfo->ac_huff_tbl_ptrs[ac], counts->ac[ac].data(), did_ac[ac]);
  }
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
  // jpeg_start_compress began the counting pass (entropy->start_pass(TRUE)); the coding pass's
  // start_pass(FALSE) installs libjpeg's own methods again. One scan, no restarts: jpegsave's case.
  symbol_counts counts;
  if (cinfo.optimize_coding != FALSE && options.own_statistics && cinfo.restart_interval == 0 &&
      cinfo.progressive_mode == FALSE && cinfo.arith_code == FALSE) {
    cinfo.client_data = &counts;
    cinfo.entropy->encode_mcu = count_mcu;
    cinfo.entropy->finish_pass = make_tables;
  }
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
