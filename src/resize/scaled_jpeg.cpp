// scaled_jpeg: JPEG straight to 1/2, 1/4 or 1/8 scale; see scaled_jpeg.hpp for scope and why.
//
// Stages: parse_markers (frame, tables, the scan's header) -> unstuff_scan (the entropy-coded bytes
// without 0xFF00 stuffing, restart intervals located) -> decode_scan (Huffman, one block at a time,
// each block reduced to 2x2 or 1x1 pixels into its component's plane) -> to_pixels (chroma upsampled,
// YCbCr to RGB, cropped).
#include "scaled_jpeg.hpp"

#include "avx2_switch.hpp"
#include "rgb_join.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <memory>
#include <numbers>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ximup {
namespace {

// Zigzag index -> natural (row-major) index; 16 extra entries so that a corrupt run past 63 lands on
// a harmless slot (as in libjpeg) instead of outside the block.
constexpr std::array<std::uint8_t, 80> natural_order = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33,
    40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36,
    29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63};

// Look-ahead bits of the tables: values (DC, the first AC coefficients) and skipped AC symbols.
// Measured: 13 skip bits (16 KiB per AC table) beat 12 by 5% on a 48 KiB L1d; 14 bits (a luma and a
// chroma table no longer fit) were slower, and 10 value bits gained nothing (docs/resize.md).
constexpr int value_bits = 9;
constexpr int skip_bits = 13;
// The longest symbol the value look-up gives: a code of value_bits and an 11-bit DC magnitude
// (build_table refuses longer magnitudes).
constexpr int longest_looked_up = value_bits + 11;

// One decoded symbol, packed: bits 0-4 how many bits it takes (Huffman code plus magnitude bits;
// 0 = not in the table, decode slowly), bits 5-8 the zero run before it, bit 9 end of block, bits
// 16-31 the coefficient (signed); or, with bit 10, only the code's length and the magnitude's size.
using symbol = std::uint32_t;
constexpr symbol end_of_block = 1U << 9;
constexpr symbol magnitude_follows = 1U << 10;  ///< bits 16-19 hold the magnitude's size, not a value
constexpr symbol pack(int length, int run, int value) {
  return static_cast<symbol>(length) | (static_cast<symbol>(run) << 5) |
         (static_cast<symbol>(static_cast<std::uint16_t>(static_cast<std::int16_t>(value))) << 16);
}
constexpr int symbol_length(symbol s) {
  return static_cast<int>(s & 31U);
}
constexpr int symbol_run(symbol s) {
  return static_cast<int>((s >> 5) & 15U);
}
constexpr int symbol_value(symbol s) {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(s >> 16));
}

// JPEG's sign convention for magnitude bits: `size` bits starting with 0 are a negative number.
constexpr int extend(std::uint32_t bits, int size) {
  return bits < (1U << (size - 1)) ? static_cast<int>(bits) - (1 << size) + 1 : static_cast<int>(bits);
}

// Several AC symbols read only to be skipped, packed: bits 0-5 how many bits they take (0 = none fits
// the look-up: skip_none), bit 6 the last one ends the block, bits 9-15 how far they advance in the
// block (runs plus one per coefficient; one more when the last one ends the block). Laid out so
// that each field costs the walk one instruction or none: the advance a shift, the length none
// (x86's shifts take their count modulo 64).
using skip_step = std::uint16_t;
constexpr unsigned skip_end_of_block = 1U << 6;
constexpr unsigned skip_none = 127U << 9;  ///< no whole symbol fits: length 0, advance 127
constexpr int skip_length(skip_step s) {
  return static_cast<int>(s & 63U);
}
constexpr int skip_advance(skip_step s) {
  return s >> 9;
}
constexpr bool skip_ends_block(skip_step s) {
  return (s & skip_end_of_block) != 0;
}

// Up to two AC symbols read as values at once (the 1/2 scale reads 24 per block), packed: bits 0-4
// how many bits they take (0: the first does not fit the look-up whole, read it alone), bit 5 an end
// of block follows them (its code counted in the length), bits 6 and 7 each symbol is there, bits
// 8-11 and 12-15 their zero runs, bits 16-31 and 32-47 their coefficients (signed). A symbol that is
// not there has run 0 and value 0, so that both are applied without a branch: it stores a 0 where
// the block's next value goes, which is still 0.
constexpr int pair_bits = 11;
using value_pair = std::uint64_t;
constexpr value_pair pair_end_of_block = 1U << 5;
constexpr int pair_length(value_pair p) {
  return static_cast<int>(p & 31U);
}
constexpr int pair_there(value_pair p, int i) {
  return static_cast<int>((p >> (6 + i)) & 1U);
}
constexpr int pair_run(value_pair p, int i) {
  return static_cast<int>((p >> (8 + 4 * i)) & 15U);
}
constexpr int pair_value(value_pair p, int i) {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(p >> (16 + 16 * i)));
}

struct huffman_table {
  bool defined = false;
  std::array<symbol, 1U << value_bits> fast{};
  std::array<skip_step, 1U << skip_bits> skip{};    ///< AC tables only
  std::array<value_pair, 1U << pair_bits> pairs{};  ///< AC tables only
  /// AC tables only, for progressive scans: the code's length | its symbol byte (run, size) << 8,
  /// 0 = longer than the look-up.
  std::array<std::uint16_t, 1U << value_bits> rs_fast{};
  // Canonical decoding for codes the table does not hold: per length, the largest code (-1: none)
  // and where its symbols start in `values`, offset by the first code.
  std::array<std::int32_t, 18> max_code{};
  std::array<std::int32_t, 17> value_offset{};
  std::array<std::uint8_t, 256> values{};
};

struct component {
  int id = 0;
  int h = 1;
  int v = 1;
  int quant = 0;
  int dc_table = 0;
  int ac_table = 0;
  std::size_t plane_offset = 0;
  int block_w = 1;               ///< scaled pixels per block, across (1 or 2)
  int block_h = 1;               ///< and down
  int keep = 1;                  ///< coefficients whose values are read (zigzag order)
  std::size_t plane_stride = 0;  ///< scaled pixels per plane row
  std::size_t plane_rows = 0;
  // Multi-scan files (scaled_jpeg_scratch::blocks): the component's blocks, MCU-padded, and those
  // that cover its pixels (a non-interleaved scan codes only these).
  std::size_t blocks_offset = 0;
  std::size_t blocks_w = 0;
  std::size_t blocks_h = 0;
  std::size_t used_w = 0;
  std::size_t used_h = 0;
};

// One scan's header (SOS): its components (indices into the frame's) and the part of each block it
// codes: zigzag positions ss..se, bits from al (ah: the bit position of the scan before; 0 = first).
struct scan_header {
  int count = 0;
  std::array<int, 3> components{};
  int ss = 0;
  int se = 63;
  int ah = 0;
  int al = 0;
};

struct frame {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  bool have_frame = false;
  bool progressive = false;  ///< SOF2
  bool adobe_not_ycbcr = false;
  bool layout_checked = false;  ///< at the first scan: the layout is one we decode
  int count = 0;                ///< components in the frame
  std::array<component, 3> components{};
  std::array<std::array<std::uint16_t, 64>, 4> quant{};  ///< natural order
  std::array<bool, 4> quant_defined{};
  std::array<huffman_table, 4> dc{};
  std::array<huffman_table, 4> ac{};
  std::uint32_t restart_interval = 0;
  scan_header scan;            ///< the scan parse_markers stopped at
  std::size_t scan_start = 0;  ///< offset of its entropy-coded data in the file
  int h_max = 1;
  int v_max = 1;
};

// What parse_markers fills in, with the tables kept from the last file (only `defined` is reset).
void reset(frame& f) {
  f.have_frame = f.progressive = f.adobe_not_ycbcr = f.layout_checked = false;
  f.width = f.height = 0;
  f.count = 0;
  f.components = {};
  f.quant_defined = {};
  for (auto& t : f.dc) t.defined = false;
  for (auto& t : f.ac) t.defined = false;
  f.restart_interval = 0;
  f.scan = {};
  f.scan_start = 0;
  f.h_max = f.v_max = 1;
}

std::uint32_t be16(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 8) | p[1];
}

// The symbol a Huffman code of `length` bits (code `code`, symbol `sym`) gives for each `bits`-bit
// look-ahead that starts with it: with its magnitude bits when they are in the look-ahead too.
void fill_lookup(symbol* table, int bits, std::uint32_t code, int length, int sym, bool dc) {
  const int run = dc ? 0 : sym >> 4;
  const int size = sym & 15;
  const int spare = bits - length;
  const std::uint32_t first = code << spare;
  for (std::uint32_t low = 0; low < (1U << spare); ++low) {
    symbol s = 0;
    if (size == 0) {
      // DC: a difference of 0. AC: run 15 is sixteen zeros (15 skipped, then a 0 stored);
      // any other run with size 0 ends the block, as libjpeg reads it.
      s = dc || run == 15 ? pack(length, run, 0) : (static_cast<symbol>(length) | end_of_block);
    } else if (length + size <= bits) {
      const std::uint32_t magnitude = (low >> (spare - size)) & ((1U << size) - 1);
      s = pack(length + size, run, extend(magnitude, size));
    } else {
      // The code fits, its magnitude bits do not: read them after the look-up.
      s = static_cast<symbol>(length) | (static_cast<symbol>(run) << 5) | magnitude_follows |
          (static_cast<symbol>(size) << 16);
    }
    table[first | low] = s;
  }
}

// Builds the look-up tables and the canonical decoding data; false for a table no code can be built
// from (over-full code space, magnitudes longer than 8-bit samples have).
bool build_table(huffman_table& t, const std::uint8_t* counts, const std::uint8_t* values, int n, bool dc) {
  t.fast.fill(0);
  t.rs_fast.fill(0);
  t.max_code.fill(0);
  t.value_offset.fill(0);
  std::copy(values, values + n, t.values.begin());
  std::array<symbol, 1U << skip_bits> single{};  // one symbol per skip_bits look-ahead
  std::int32_t code = 0;
  int k = 0;
  for (int length = 1; length <= 16; ++length) {
    const int count = counts[length - 1];
    t.value_offset[static_cast<std::size_t>(length)] = k - code;
    for (int i = 0; i < count; ++i, ++k, ++code) {
      if (code >= (1 << length)) return false;  // more codes than this length has
      const int sym = values[k];
      // Magnitudes of 8-bit samples: DC differences take at most 11 bits, AC coefficients 10 (the
      // bit reader counts on it: longest_symbol).
      if (dc ? sym > 11 : (sym & 15) > 10) return false;
      const auto c = static_cast<std::uint32_t>(code);
      if (length <= value_bits) fill_lookup(t.fast.data(), value_bits, c, length, sym, dc);
      if (!dc && length <= value_bits) {
        const int spare = value_bits - length;
        std::fill_n(t.rs_fast.begin() + (c << spare), 1U << spare,
                    static_cast<std::uint16_t>(length | (sym << 8)));
      }
      if (!dc && length <= skip_bits) fill_lookup(single.data(), skip_bits, c, length, sym, dc);
    }
    if (code >= (1 << length)) return false;  // all-ones codes are not allowed (libjpeg refuses them)
    t.max_code[static_cast<std::size_t>(length)] = count > 0 ? code - 1 : -1;
    code <<= 1;
  }
  t.max_code[17] = 0x7fffffff;  // sentinel: a code longer than 16 bits is corrupt
  t.defined = true;
  if (!dc) {
    constexpr std::uint32_t mask = (1U << skip_bits) - 1;
    for (std::uint32_t bits = 0; bits <= mask; ++bits) {
      int used = 0;
      int advance = 0;
      skip_step step = 0;
      for (;;) {
        const symbol next = single[(bits << used) & mask];
        const int length = symbol_length(next);
        if (length == 0 || (next & magnitude_follows) != 0 || used + length > skip_bits) break;
        used += length;
        if ((next & end_of_block) != 0) {
          // The end of block counts as a position: a step that ends a block must leave one free
          // (decode_block_in's test below), since a block whose last coefficient is its 64th has no
          // end-of-block code and the bits after it are the next block's.
          step = skip_end_of_block;
          ++advance;
          break;
        }
        advance += symbol_run(next) + 1;
        if (advance > 64) break;
      }
      // (None fits: advance 127, past any block's end, sends decode_block to its one-symbol path
      // with the same test that catches a block's end.)
      t.skip[bits] = static_cast<skip_step>(
          used == 0 ? skip_none : step | static_cast<unsigned>(used) | (static_cast<unsigned>(advance) << 9));
    }
    // Value pairs: the first pair_bits of the same look-ahead.
    for (std::uint32_t bits = 0; bits < (1U << pair_bits); ++bits) {
      const std::uint32_t ahead = bits << (skip_bits - pair_bits);
      int used = 0;
      value_pair pair = 0;
      for (int i = 0; i < 2; ++i) {
        const symbol next = single[(ahead << used) & mask];
        const int length = symbol_length(next);
        if (length == 0 || (next & magnitude_follows) != 0 || used + length > pair_bits) break;
        used += length;
        if ((next & end_of_block) != 0) {
          pair |= pair_end_of_block;
          break;
        }
        pair |= value_pair{1} << (6 + i);
        pair |= static_cast<value_pair>(symbol_run(next)) << (8 + 4 * i);
        pair |= static_cast<value_pair>(static_cast<std::uint16_t>(symbol_value(next))) << (16 + 16 * i);
      }
      t.pairs[bits] = pair | static_cast<value_pair>(used);
    }
  }
  return true;
}

// The checks of the first scan: the frame's layout is one we decode. Greyscale, or YCbCr with luma
// sampled 1 or 2 each way and chroma never more than luma.
scaled_jpeg_status check_layout(frame& f) {
  f.layout_checked = true;
  if (f.count == 3) {
    if (f.adobe_not_ycbcr ||
        (f.components[0].id == 'R' && f.components[1].id == 'G' && f.components[2].id == 'B'))
      return scaled_jpeg_status::unsupported;
    const component& y = f.components[0];
    if (y.h > 2 || y.v > 2) return scaled_jpeg_status::unsupported;
    for (int i = 1; i < 3; ++i) {
      const component& c = f.components[static_cast<std::size_t>(i)];
      if (c.h != 1 || c.v != 1) return scaled_jpeg_status::unsupported;
    }
    f.h_max = y.h;
    f.v_max = y.v;
  } else {
    // One component: scans are non-interleaved, one block per MCU whatever its sampling factors.
    f.components[0].h = f.components[0].v = 1;
  }
  return scaled_jpeg_status::decoded;
}

// Reads markers from `from` (0: the start of the file; else where a scan ended) up to the next scan,
// whose header it leaves in f.scan, or up to the end of the image (`end_of_image`, only after a
// scan). Returns `decoded` when all it read is something we decode.
scaled_jpeg_status parse_markers(std::span<const std::uint8_t> in, std::size_t from, frame& f,
                                 bool& end_of_image) {
  end_of_image = false;
  const std::uint8_t* p = in.data() + from;
  const std::uint8_t* end = in.data() + in.size();
  if (from == 0) {
    if (in.size() < 4 || p[0] != 0xFF || p[1] != 0xD8) return scaled_jpeg_status::corrupt;
    p += 2;
  }
  for (;;) {
    if (end - p < 2) return scaled_jpeg_status::corrupt;
    if (p[0] != 0xFF) return scaled_jpeg_status::corrupt;  // libjpeg would warn: extraneous bytes
    const std::uint8_t marker = p[1];
    if (marker == 0xFF) {  // fill byte
      ++p;
      continue;
    }
    if (marker == 0xD9 && f.layout_checked) {
      end_of_image = true;
      return scaled_jpeg_status::decoded;
    }
    if (end - p < 4) return scaled_jpeg_status::corrupt;
    if (marker == 0xD8 || marker == 0xD9 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01)
      return scaled_jpeg_status::corrupt;
    const std::uint32_t length = be16(p + 2);
    if (length < 2 || static_cast<std::size_t>(end - p - 2) < length) return scaled_jpeg_status::corrupt;
    const std::uint8_t* s = p + 4;
    const std::uint8_t* s_end = p + 2 + length;
    p = s_end;
    switch (marker) {
      case 0xC0:
      case 0xC1:
      case 0xC2: {
        if (f.have_frame || length < 8) return scaled_jpeg_status::corrupt;
        f.have_frame = true;
        f.progressive = marker == 0xC2;
        if (s[0] != 8) return scaled_jpeg_status::unsupported;
        f.height = be16(s + 1);
        f.width = be16(s + 3);
        f.count = s[5];
        if (f.width == 0 || f.height == 0) return scaled_jpeg_status::unsupported;  // DNL heights
        if (f.count != 1 && f.count != 3) return scaled_jpeg_status::unsupported;
        if (length != 8U + 3U * static_cast<std::uint32_t>(f.count)) return scaled_jpeg_status::corrupt;
        for (int i = 0; i < f.count; ++i) {
          component& c = f.components[static_cast<std::size_t>(i)];
          c.id = s[6 + 3 * i];
          c.h = s[7 + 3 * i] >> 4;
          c.v = s[7 + 3 * i] & 15;
          c.quant = s[8 + 3 * i];
          if (c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.quant > 3) return scaled_jpeg_status::corrupt;
        }
        break;
      }
      case 0xC4: {  // DHT: one or more tables (progressive files often send new ones between scans)
        while (s < s_end) {
          if (s_end - s < 17) return scaled_jpeg_status::corrupt;
          const int table_class = s[0] >> 4;
          const int id = s[0] & 15;
          if (table_class > 1 || id > 3) return scaled_jpeg_status::corrupt;
          int n = 0;
          for (int i = 1; i <= 16; ++i) n += s[i];
          if (n > 256 || s_end - s < 17 + n) return scaled_jpeg_status::corrupt;
          huffman_table& t =
              table_class == 0 ? f.dc[static_cast<std::size_t>(id)] : f.ac[static_cast<std::size_t>(id)];
          if (!build_table(t, s + 1, s + 17, n, table_class == 0)) return scaled_jpeg_status::corrupt;
          s += 17 + n;
        }
        break;
      }
      case 0xDB: {  // DQT
        // After the first scan libjpeg keeps the tables each component started with: not followed here.
        if (f.layout_checked) return scaled_jpeg_status::unsupported;
        while (s < s_end) {
          const int precision = s[0] >> 4;
          const int id = s[0] & 15;
          const std::ptrdiff_t need = precision == 0 ? 65 : 129;
          if (precision > 1 || id > 3 || s_end - s < need) return scaled_jpeg_status::corrupt;
          auto& q = f.quant[static_cast<std::size_t>(id)];
          for (std::size_t k = 0; k < 64; ++k) {
            q[natural_order[k]] = precision == 0 ? s[1 + k] : static_cast<std::uint16_t>(be16(s + 1 + 2 * k));
          }
          f.quant_defined[static_cast<std::size_t>(id)] = true;
          s += need;
        }
        break;
      }
      case 0xDD:  // DRI
        if (length != 4) return scaled_jpeg_status::corrupt;
        f.restart_interval = be16(s);
        break;
      case 0xEE:  // APP14 "Adobe": transform 1 is YCbCr; 0 is RGB, others libjpeg warns about
        if (length >= 14 && std::memcmp(s, "Adobe", 5) == 0 && s[11] != 1) f.adobe_not_ycbcr = true;
        break;
      case 0xE0:  // APP0 "JFIF": libjpeg warns about a major version other than 1
        if (length >= 9 && std::memcmp(s, "JFIF\0", 5) == 0 && s[5] != 1)
          return scaled_jpeg_status::unsupported;
        break;
      case 0xDA: {  // SOS
        if (!f.have_frame) return scaled_jpeg_status::corrupt;
        const int n = length >= 3 ? s[0] : 0;
        if (n < 1 || n > f.count || length != 6U + 2U * static_cast<std::uint32_t>(n))
          return scaled_jpeg_status::corrupt;
        scan_header& scan = f.scan;
        scan.count = n;
        unsigned seen = 0;
        for (int i = 0; i < n; ++i) {
          int index = 0;
          while (index < f.count && f.components[static_cast<std::size_t>(index)].id != s[1 + 2 * i]) ++index;
          if (index == f.count || (seen & (1U << index)) != 0) return scaled_jpeg_status::corrupt;
          seen |= 1U << index;
          scan.components[static_cast<std::size_t>(i)] = index;
          component& c = f.components[static_cast<std::size_t>(index)];
          c.dc_table = s[2 + 2 * i] >> 4;
          c.ac_table = s[2 + 2 * i] & 15;
          if (c.dc_table > 3 || c.ac_table > 3) return scaled_jpeg_status::corrupt;
        }
        const std::uint8_t* tail = s + 1 + 2 * static_cast<std::ptrdiff_t>(n);
        scan.ss = tail[0];
        scan.se = tail[1];
        scan.ah = tail[2] >> 4;
        scan.al = tail[2] & 15;
        f.scan_start = static_cast<std::size_t>(s_end - in.data());
        if (!f.layout_checked) return check_layout(f);
        return scaled_jpeg_status::decoded;
      }
      case 0xDC:  // DNL: a height given after the first scan
        return scaled_jpeg_status::unsupported;
      default:
        // Other frame types: lossless, arithmetic, hierarchical.
        if ((marker >= 0xC3 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) ||
            marker == 0xDE)
          return scaled_jpeg_status::unsupported;
        break;  // APPn, COM, DAC (arithmetic tables, with no arithmetic frame) and the like
    }
  }
}

// The tables a scan needs are defined (libjpeg-turbo has default Huffman tables for MJPEG; we leave
// such files to it). DC refinement scans need no table; AC scans of a progressive file no DC table.
bool scan_tables_defined(const frame& f, const scan_header& scan) {
  for (int i = 0; i < scan.count; ++i) {
    const component& c = f.components[static_cast<std::size_t>(scan.components[static_cast<std::size_t>(i)])];
    if (!f.quant_defined[static_cast<std::size_t>(c.quant)]) return false;
    const bool dc_needed = !f.progressive || (scan.ss == 0 && scan.ah == 0);
    const bool ac_needed = !f.progressive || scan.ss > 0;
    if (dc_needed && !f.dc[static_cast<std::size_t>(c.dc_table)].defined) return false;
    if (ac_needed && !f.ac[static_cast<std::size_t>(c.ac_table)].defined) return false;
  }
  return true;
}

// Copies the entropy-coded data without stuffing (0xFF00 -> 0xFF) and records where restart intervals
// start, up to the marker that ends the scan: the end of the image (`end_of_image`) or another marker,
// whose offset in the file goes to `next`. Fill bytes (0xFF 0xFF...) before a marker are dropped, as
// every decoder does.
scaled_jpeg_status unstuff_scan(std::span<const std::uint8_t> in, std::size_t start, scaled_jpeg_scratch& s,
                                std::size_t& next, bool& end_of_image) {
  s.scan.resize(in.size() - start + 16);
  s.restarts.clear();
  s.restarts.push_back(0);
  const std::uint8_t* p = in.data() + start;
  const std::uint8_t* end = in.data() + in.size();
  std::uint8_t* out = s.scan.data();
  int expected_restart = 0;
  for (;;) {
    const auto* ff =
        static_cast<const std::uint8_t*>(std::memchr(p, 0xFF, static_cast<std::size_t>(end - p)));
    if (ff == nullptr) return scaled_jpeg_status::corrupt;  // no EOI: truncated
    std::memcpy(out, p, static_cast<std::size_t>(ff - p));
    out += ff - p;
    p = ff + 1;
    while (p < end && *p == 0xFF) ++p;
    if (p == end) return scaled_jpeg_status::corrupt;
    const std::uint8_t marker = *p++;
    if (marker == 0x00) {
      *out++ = 0xFF;
    } else if (marker >= 0xD0 && marker <= 0xD7) {
      if (marker - 0xD0 != expected_restart) return scaled_jpeg_status::corrupt;
      expected_restart = (expected_restart + 1) & 7;
      s.restarts.push_back(static_cast<std::size_t>(out - s.scan.data()));
    } else {
      end_of_image = marker == 0xD9;
      next = static_cast<std::size_t>(p - 2 - in.data());
      break;
    }
  }
  const auto used = static_cast<std::size_t>(out - s.scan.data());
  s.restarts.push_back(used);
  std::fill(out, out + 16, std::uint8_t{0});  // read-ahead padding
  return scaled_jpeg_status::decoded;
}

// MSB-first bit reader over unstuffed data; reads ahead at most 8 bytes past its position (the
// scan buffer has 16 bytes of padding). Whether it read past the interval's end is checked after.
struct bit_reader {
  const std::uint8_t* p;
  const std::uint8_t* last;  ///< the last position an 8-byte read may start at
  std::uint64_t bits = 0;
  int count = 0;         ///< valid bits at the top of `bits`
  bool overrun = false;  ///< read past the data: zeros were supplied, the data is corrupt

  bit_reader(const std::uint8_t* data, const std::uint8_t* read_limit) : p(data), last(read_limit) {
    refill();
  }
  void refill() {
    if (p > last) [[unlikely]] {
      overrun = true;
      count = 64;  // the low bits of `bits` are zero
      return;
    }
    std::uint64_t next = 0;
    std::memcpy(&next, p, 8);
    next = __builtin_bswap64(next);
    bits |= next >> count;
    p += static_cast<unsigned>(63 - count) >> 3;  // (unsigned: no sign extension)
    count |= 56;
  }
  [[nodiscard]] std::uint32_t peek(int n) const { return static_cast<std::uint32_t>(bits >> (64 - n)); }
  void skip(int n) {
    bits <<= n;
    count -= n;
  }
  /// Bits consumed since `start`.
  [[nodiscard]] std::size_t consumed(const std::uint8_t* start) const {
    return static_cast<std::size_t>(p - start) * 8 - static_cast<std::size_t>(count);
  }
};

// The decoders below take the reader's bits (bit_reader::bits: the next bits at the top, at least 32
// valid) by value rather than the reader: a reader whose address is taken by a call that is not
// inlined lives in memory, and its bit count then went through a store and a load on every step of
// decode_block's loop, which is one long dependency chain.
constexpr std::uint32_t peek(std::uint64_t bits, int n) {
  return static_cast<std::uint32_t>(bits >> (64 - n));
}

// Canonical decoding of the code at the top of `bits`: its symbol byte, and its length in
// `length`; -1 for a bit pattern that is no code of the table.
int decode_canonical(const huffman_table& t, std::uint64_t bits, int& length) {
  length = 1;
  std::int32_t code = 0;
  for (;; ++length) {
    code = static_cast<std::int32_t>(peek(bits, length));
    if (code <= t.max_code[static_cast<std::size_t>(length)]) break;
  }
  if (length > 16) return -1;
  return t.values[static_cast<std::size_t>(code + t.value_offset[static_cast<std::size_t>(length)]) & 255U];
}

// A symbol whose code (or code and magnitude) is longer than the look-up: canonical decoding.
// Returns 0 for a bit pattern that is no code of the table.
[[gnu::noinline]] symbol decode_slow(const huffman_table& t, std::uint64_t bits, bool dc) {
  int length = 0;
  const int sym = decode_canonical(t, bits, length);
  if (sym < 0) return 0;
  const int run = dc ? 0 : sym >> 4;
  const int size = sym & 15;
  if (size == 0) return dc || run == 15 ? pack(length, run, 0) : (static_cast<symbol>(length) | end_of_block);
  const std::uint32_t magnitude = static_cast<std::uint32_t>(bits << length >> (64 - size));
  return pack(length + size, run, extend(magnitude, size));
}

// The next AC code of a progressive scan, undecoded: its length | its symbol byte << 8 (the run in
// the high four bits, the size or, with size 0, the end-of-band run's bit count); -1 for no code.
int decode_code(const huffman_table& t, std::uint64_t bits) {
  const std::uint16_t e = t.rs_fast[peek(bits, value_bits)];
  if (e != 0) return e;
  int length = 0;
  const int sym = decode_canonical(t, bits, length);
  return sym < 0 ? -1 : length | (sym << 8);
}

// The next symbol: the look-up, then the magnitude bits it could not hold, or canonical decoding for a
// code longer than the look-up. Returns 0 for a bit pattern that is no code of the table.
[[gnu::always_inline]] inline symbol decode_symbol(const huffman_table& t, std::uint64_t bits, bool dc);

// decode_symbol after its look-up `s` (of the same next bits as `bits`, which must hold 27 valid).
[[gnu::always_inline]] inline symbol finish_symbol(const huffman_table& t, symbol s, std::uint64_t bits,
                                                   bool dc) {
  if (symbol_length(s) == 0) return decode_slow(t, bits, dc);
  if ((s & magnitude_follows) == 0) return s;
  const int length = symbol_length(s);
  const int size = static_cast<int>((s >> 16) & 15U);
  const auto magnitude = static_cast<std::uint32_t>(bits << length >> (64 - size));
  return pack(length + size, symbol_run(s), extend(magnitude, size));
}

[[gnu::always_inline]] inline symbol decode_symbol(const huffman_table& t, std::uint64_t bits, bool dc) {
  return finish_symbol(t, t.fast[peek(bits, value_bits)], bits, dc);
}

// The bits a symbol of decode_block may take: a 16-bit code and 11 magnitude bits.
constexpr int longest_symbol = 27;
static_assert(skip_bits <= 56 - longest_symbol && value_bits <= 56 - longest_symbol);

// decode_symbol on a reader that holds at least value_bits bits, and is left refilled: the look-up
// reads the bits already there, and the refill follows it, unconditionally. The refill's load
// depends on the bit count, so refilling first put a second memory load on every symbol's
// dependency chain; a conditional refill cost a branch the bit count makes unpredictable.
[[gnu::always_inline]] inline symbol read_symbol(bit_reader& r, const huffman_table& t, bool dc) {
  assert(r.count >= value_bits);
  const symbol s = t.fast[r.peek(value_bits)];
  r.refill();
  return finish_symbol(t, s, r.bits, dc);
}

// read_symbol without the refill, on a reader that holds at least 29 bits (a read_symbol's refill
// and one symbol ago): enough for a symbol from the look-up (longest_looked_up) and the next
// look-up after it. A longer code is read after a refill.
[[gnu::always_inline]] inline symbol read_symbol_unrefilled(bit_reader& r, const huffman_table& t, bool dc) {
  static_assert(56 - longest_symbol >= longest_looked_up + value_bits);
  assert(r.count >= 56 - longest_symbol);
  const symbol s = t.fast[r.peek(value_bits)];
  if (symbol_length(s) == 0) [[unlikely]] {
    r.refill();
    return decode_slow(t, r.bits, dc);
  }
  return finish_symbol(t, s, r.bits, dc);
}

// Runs `decode(r)` on a copy of `reader` and writes the copy back: the copy's address is never
// taken, so the compiler keeps it in registers, where the caller's reader (whose address is passed
// on) would be reloaded after every store that might alias it, such as a block's 64-bit mask.
template <typename Decode>
[[gnu::always_inline]] inline bool in_registers(bit_reader& reader, Decode&& decode) {
  bit_reader r = reader;
  const bool ok = decode(r);
  reader = r;
  return ok;
}

// Decodes one block: the DC difference (applied to `dc`), the values of the first `keep` coefficients
// in zigzag order into `low` (zigzag index; those not coded are set to 0), and every other
// coefficient only as far as to know where the block ends. Returns false for an invalid code.
template <std::size_t N>
[[gnu::always_inline]] inline bool decode_block_in(bit_reader& r, const huffman_table& dc_table,
                                                   const huffman_table& ac_table, int keep, int& dc,
                                                   std::array<int, N>& low) {
  assert(static_cast<std::size_t>(keep) <= N);
  // A block follows another's skip steps or a value read without a refill, which leave at least
  // value_bits, enough for read_symbol's look-up, or is the first thing a reader reads.
  if (r.count < value_bits) [[unlikely]]
    r.refill();
  symbol s = read_symbol(r, dc_table, true);
  if (s == 0) return false;
  r.skip(symbol_length(s));
  // Kept to 16 bits as libjpeg stores it: a corrupt stream of large differences must not overflow.
  dc = static_cast<std::int16_t>(dc + symbol_value(s));
  low.fill(0);
  low[0] = dc;
  int k = 1;
  // The values, two symbols per refill: after a refill and one symbol at least 29 bits remain
  // (read_symbol_unrefilled). One value's symbol; false when the block ends with it.
  const auto value = [&](symbol v) __attribute__((always_inline)) {
    r.skip(symbol_length(v));
    if ((v & end_of_block) != 0) return false;
    k += symbol_run(v);
    if (k < keep) low[static_cast<std::size_t>(k)] = symbol_value(v);
    ++k;
    return true;
  };
  if constexpr (N == 25) {
    // The 1/2 scale: two symbols to a look-up where they fit (value_pair), each look-up followed by a
    // refill. At least 56 - pair_bits bits are left for the next look-up or the skip steps.
    static_assert(56 - pair_bits >= skip_bits && 56 - pair_bits >= value_bits);
    if (r.count < pair_bits) r.refill();
    while (k < keep) {
      const value_pair pair = ac_table.pairs[r.peek(pair_bits)];
      r.refill();
      if (pair_length(pair) == 0) {
        s = decode_symbol(ac_table, r.bits, false);
        if (s == 0) return false;
        if (!value(s)) return true;
        continue;
      }
      r.skip(pair_length(pair));
      for (int i = 0; i < 2; ++i) {
        k += pair_run(pair, i);
        if (k < keep) low[static_cast<std::size_t>(k)] = pair_value(pair, i);
        k += pair_there(pair, i);
      }
      if ((pair & pair_end_of_block) != 0) return true;
    }
  } else {
    while (k < keep) {
      s = read_symbol_unrefilled(r, ac_table, false);
      if (s == 0) return false;
      if (!value(s)) return true;
      if (k >= keep) {
        r.refill();  // the skip steps' first look-up wants more than the 9 bits left
        break;
      }
      s = read_symbol(r, ac_table, false);
      if (s == 0) return false;
      if (!value(s)) return true;
    }
  }
  // The rest is only skipped: one look-up reads as many whole symbols as the look-up's bits hold, and
  // two look-ups share a refill: the walk runs at three to four instructions a cycle, and the refill
  // was a third of a step's (a third look-up per refill saved 1% of the instructions and no time).
  while (k < 64) {
    // Looked up in the bits already there, then refilled, as read_symbol does: at least 56 bits,
    // enough for two steps and the 30 bits after them that a block ending here must leave.
    assert(r.count >= skip_bits);
    skip_step step = ac_table.skip[r.peek(skip_bits)];
    r.refill();
    // Steps up to the 64th coefficient: one that ends there finishes the block. One that ends in an
    // end of block must stop before it, which its advance counts (build_table).
    if (k + skip_advance(step) <= 64) {  // (false for skip_none)
      r.skip(skip_length(step));
      if (skip_ends_block(step)) return true;
      k += skip_advance(step);
      if (k == 64) return true;
      step = ac_table.skip[r.peek(skip_bits)];
      if (k + skip_advance(step) <= 64) {
        r.skip(skip_length(step));
        if (skip_ends_block(step)) return true;
        k += skip_advance(step);
        continue;
      }
    }
    // A long code, or steps that would run past the block's last coefficient: one symbol, after a
    // refill (the bits left after two steps may not hold it).
    r.refill();
    s = decode_symbol(ac_table, r.bits, false);
    if (s == 0) return false;
    r.skip(symbol_length(s));
    if ((s & end_of_block) != 0) return true;
    k += symbol_run(s) + 1;
  }
  return true;
}

template <std::size_t N>
[[gnu::always_inline]] inline bool decode_block(bit_reader& reader, const huffman_table& dc_table,
                                                const huffman_table& ac_table, int keep, int& dc,
                                                std::array<int, N>& low) {
  return in_registers(
      reader, [&](bit_reader & r) __attribute__((always_inline)) {
        return decode_block_in(r, dc_table, ac_table, keep, dc, low);
      });
}

std::uint8_t clamp_sample(int v) {
  return static_cast<std::uint8_t>(std::clamp(v, 0, 255));
}

// Up to 2x2 pixels per block from its four lowest frequencies: the mean of each half (or quarter) of
// the block as the 8x8 IDCT of those coefficients gives it. (libjpeg's 2x2 IDCT also adds
// coefficients 3, 5 and 7 of each row and column, the finer detail's share of each quarter; reading
// their values is what this decoder saves. Measured effect on the final image: docs/resize.md.)
// The mean of cos((2x+1) pi / 16) over x = 0..3 is m = (c1 + c3 + c5 + c7) / 4 = 0.64073, so a
// quarter's mean is F00 / 8 +- F01 m / (4 sqrt 2) +- F10 m / (4 sqrt 2) +- F11 m^2 / 4 (dequantized);
// a half's drops the terms of the direction it is not split in. Weights in 13-bit fixed point.
// 1x1 is the block's mean, rounded as libjpeg's 1x1 IDCT does.
// A component's dequantised weights for low_frequency, computed once per scan. 64-bit: coefficients
// are 16-bit and so are quantisation steps in an extended (SOF1) file.
struct block_weights {
  int w = 1;
  int h = 1;
  std::int64_t dc = 0;        ///< F00 / 8 in 13-bit fixed point (x 1024)
  std::int64_t across = 0;    ///< zigzag 1 = row 0, column 1 (0 when the block is not split across)
  std::int64_t down = 0;      ///< zigzag 2 = row 1, column 0 (0 when not split down)
  std::int64_t diagonal = 0;  ///< zigzag 4 = row 1, column 1
};
block_weights weights_of(const std::uint16_t* q, int w, int h) {
  block_weights b;
  b.w = w;
  b.h = h;
  b.dc = std::int64_t{q[0]} * 1024;
  if (w == 2) b.across = std::int64_t{q[1]} * 928;
  if (h == 2) b.down = std::int64_t{q[8]} * 928;
  if (w == 2 && h == 2) b.diagonal = std::int64_t{q[9]} * 841;
  return b;
}

inline void low_frequency(const std::array<int, 5>& low, const block_weights& b, std::uint8_t* out,
                          std::size_t stride) {
  const auto sample = [](std::int64_t v) {
    return static_cast<std::uint8_t>(std::clamp<std::int64_t>(v, 0, 255));
  };
  if (b.w == 1 && b.h == 1) {  // the block's mean, rounded as libjpeg's 1x1 IDCT does
    *out = sample(((std::int64_t{low[0]} * (b.dc >> 10) + 4) >> 3) + 128);
    return;
  }
  const std::int64_t dc = low[0] * b.dc + 4096 + (128 << 13);  // 1/8, rounding, level shift
  const std::int64_t across = low[1] * b.across;
  const std::int64_t down = low[2] * b.down;
  const std::int64_t diagonal = low[4] * b.diagonal;
  out[0] = sample((dc + across + down + diagonal) >> 13);
  if (b.w == 2) out[1] = sample((dc - across + down - diagonal) >> 13);
  if (b.h == 2) {
    out[stride] = sample((dc + across - down - diagonal) >> 13);
    if (b.w == 2) out[stride + 1] = sample((dc - across - down + diagonal) >> 13);
  }
}

// ---- The 1/4 scale's 2 x 2 pixels, a row of blocks at a time ----
// Where the CPU has AVX2 and every component of an interleaved scan gives 2 x 2 pixels per block (the
// 1/4 scale of 4:2:0 and 4:4:4 files), scan_to_planes keeps each block's four values (zigzag 0, 1, 2
// and 4) for an MCU row and makes the row's pixels after it, eight blocks at a time: about a fifth of
// low_frequency's instructions, and out of the walk's way. The sums are low_frequency's in 32 bits:
// exact when the four quantisation steps are at most 255 (8-bit tables; else low_frequency does it)
// and the DC is clamped at 2^20 / q0, beyond which both give 0 or 255 (the AC terms add at most
// 7.04e8 and the rounding 1.05e6, against (2^20 - q0) x 1024 > 1.07e9) and nothing overflows.
struct row_weights {
  std::array<std::int32_t, 4> w{};  ///< q x 1024, 928, 928, 841 for zigzag 0, 1, 2, 4 (as low_frequency)
  std::int32_t dc_limit = 0;        ///< 2^20 / q0
};
// Whether a table's four steps allow the 32-bit sums (else low_frequency does the pixels).
bool fits_row_pass(const std::uint16_t* q) {
  return q[0] != 0 && std::max({q[0], q[1], q[8], q[9]}) <= 255;
}
row_weights row_weights_of(const std::uint16_t* q) {
  row_weights r;
  r.w = {q[0] * 1024, q[1] * 928, q[8] * 928, q[9] * 841};
  r.dc_limit = (1 << 20) / q[0];
  return r;
}

#if defined(__x86_64__)
// The pixels of `blocks` blocks (values: four per block) to two plane rows, eight blocks at a time;
// returns how many it did. Two blocks per register, a 128-bit half each: the four products, then
// out00, out01, out10, out11 as low_frequency's sums and differences of them, shifted, saturated and
// put in place.
[[gnu::target("avx2")]] std::size_t pixels2x2_avx2(const std::int16_t* values, std::size_t blocks,
                                                   const row_weights& rw, std::uint8_t* top,
                                                   std::uint8_t* bottom) {
  const auto [w0, w1, w2, w3] = rw.w;
  const __m256i weights = _mm256_setr_epi32(w0, w1, w2, w3, w0, w1, w2, w3);
  const std::int32_t lim = rw.dc_limit;
  constexpr std::int32_t none = 1 << 30;  // (the AC values need no clamp: at most 1023)
  const __m256i low = _mm256_setr_epi32(-lim, -none, -none, -none, -lim, -none, -none, -none);
  const __m256i high = _mm256_setr_epi32(lim, none, none, none, lim, none, none, none);
  constexpr std::int32_t rounding = 4096 + (128 << 13);  // 1/8, rounding, level shift
  const __m256i bias = _mm256_setr_epi32(rounding, 0, 0, 0, rounding, 0, 0, 0);
  std::size_t x = 0;
  for (; x + 8 <= blocks; x += 8) {
    __m256i z[4];
    for (std::size_t j = 0; j < 4; ++j) {
      __m256i v =
          _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values + (x + 2 * j) * 4)));
      v = _mm256_min_epi32(_mm256_max_epi32(v, low), high);
      const __m256i p = _mm256_add_epi32(_mm256_mullo_epi32(v, weights), bias);  // [dc, a, d, g]
      const __m256i t = _mm256_shuffle_epi32(p, 0xB1);                           // [a, dc, g, d]
      const __m256i y = _mm256_blend_epi32(_mm256_add_epi32(p, t), _mm256_sub_epi32(t, p), 0xAA);
      const __m256i u = _mm256_shuffle_epi32(y, 0x4E);  // [d + g, d - g, dc + a, dc - a]
      z[j] = _mm256_srai_epi32(_mm256_blend_epi32(_mm256_add_epi32(y, u), _mm256_sub_epi32(u, y), 0xCC), 13);
    }
    // z[j]: blocks 2j and 2j + 1, each out00 out01 out10 out11. Top row pairs (out00, out01) of blocks
    // 0, 2, 4, 6 in the low half and 1, 3, 5, 7 in the high; the bottom's likewise; then bytes, and
    // the halves' pairs interleaved.
    const __m256i top16 =
        _mm256_packs_epi32(_mm256_unpacklo_epi64(z[0], z[1]), _mm256_unpacklo_epi64(z[2], z[3]));
    const __m256i bottom16 =
        _mm256_packs_epi32(_mm256_unpackhi_epi64(z[0], z[1]), _mm256_unpackhi_epi64(z[2], z[3]));
    const __m256i bytes = _mm256_packus_epi16(top16, bottom16);
    const __m128i even = _mm256_castsi256_si128(bytes);
    const __m128i odd = _mm256_extracti128_si256(bytes, 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(top + 2 * x), _mm_unpacklo_epi16(even, odd));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bottom + 2 * x), _mm_unpackhi_epi16(even, odd));
  }
  return x;
}
#endif

// blocks_to_pixels2x2 from block `from` on, one block at a time (low_frequency writes the bottom row
// at top + stride).
void pixels2x2_tail(const std::int16_t* values, std::size_t from, std::size_t blocks,
                    const std::uint16_t* quant, std::uint8_t* top, std::uint8_t* bottom) {
  const block_weights weights = weights_of(quant, 2, 2);
  for (std::size_t b = from; b < blocks; ++b) {
    const std::int16_t* v = values + b * 4;
    low_frequency({v[0], v[1], v[2], 0, v[3]}, weights, top + 2 * b, static_cast<std::size_t>(bottom - top));
  }
}

}  // namespace

void blocks_to_pixels2x2(const std::int16_t* values, std::size_t blocks, const std::uint16_t* quant,
                         std::uint8_t* top, std::uint8_t* bottom) {
  std::size_t b = 0;
#if defined(__x86_64__)
  if (avx2_on() && fits_row_pass(quant))
    b = pixels2x2_avx2(values, blocks, row_weights_of(quant), top, bottom);
#endif
  pixels2x2_tail(values, b, blocks, quant, top, bottom);
}

void blocks_to_pixels2x2_scalar(const std::int16_t* values, std::size_t blocks, const std::uint16_t* quant,
                                std::uint8_t* top, std::uint8_t* bottom) {
  pixels2x2_tail(values, 0, blocks, quant, top, bottom);
}

namespace {

// 4 x 4 pixels per block (the 1/2 scale) from its 16 lowest frequencies (zigzag 0-24): each pixel the
// mean of a 2 x 2 square of the 8 x 8 IDCT of those coefficients. The mean of cos((2x+1) u pi / 16)
// over x = 2i, 2i+1 is cos((2i+1) u pi / 8) cos(u pi / 16), so a pixel is sum over u, v < 4 of
// F(u, v) q(u, v) b(u, i) b(v, j), b(u, i) = c(u) cos((2i+1) u pi / 8) cos(u pi / 16) / 2 (c(0) =
// 1/sqrt 2, else 1), plus 128; in two passes of 4 x 4, in float.
struct block_weights4 {
  std::array<float, 16> q{};  ///< dequantisation of (u, v), row-major
};
block_weights4 weights4_of(const std::uint16_t* q) {
  block_weights4 b;
  for (std::size_t u = 0; u < 4; ++u)
    for (std::size_t v = 0; v < 4; ++v) b.q[u * 4 + v] = static_cast<float>(q[u * 8 + v]);
  return b;
}
// b(u, i), row u.
const std::array<float, 16> basis4 = [] {
  std::array<float, 16> b{};
  for (std::size_t u = 0; u < 4; ++u) {
    for (std::size_t i = 0; i < 4; ++i) {
      const double c = u == 0 ? 1 / std::numbers::sqrt2 : 1.0;
      const double pi = std::numbers::pi;
      b[u * 4 + i] =
          static_cast<float>(c * std::cos(static_cast<double>(2 * i + 1) * static_cast<double>(u) * pi / 8) *
                             std::cos(static_cast<double>(u) * pi / 16) / 2);
    }
  }
  return b;
}();
// Zigzag index of (u, v), u, v < 4.
constexpr std::array<std::uint8_t, 16> zigzag4 = {0, 1, 5, 6, 2, 4, 7, 13, 3, 8, 12, 17, 9, 11, 18, 24};

// The scalar version, the reference: the same operations in the same order as the SSE2 one below, and
// the file is compiled without fused multiply-adds (-ffp-contract=off), so both give the same bytes
// on every CPU.
void low_frequency4_scalar(const int* low, const block_weights4& b, std::uint8_t* out, std::size_t stride) {
  std::array<float, 16> g{};  // dequantised, (u, v) row-major
  for (std::size_t i = 0; i < 16; ++i) g[i] = static_cast<float>(low[zigzag4[i]]) * b.q[i];
  std::array<float, 16> t{};  // t(u, j) = sum over v of g(u, v) b(v, j)
  for (std::size_t u = 0; u < 4; ++u)
    for (std::size_t v = 0; v < 4; ++v)
      for (std::size_t j = 0; j < 4; ++j) t[u * 4 + j] += g[u * 4 + v] * basis4[v * 4 + j];
  std::array<float, 16> p{};  // p(i, j) = sum over u of b(u, i) t(u, j)
  for (std::size_t u = 0; u < 4; ++u)
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t j = 0; j < 4; ++j) p[i * 4 + j] += basis4[u * 4 + i] * t[u * 4 + j];
  for (std::size_t i = 0; i < 4; ++i) {
    for (std::size_t j = 0; j < 4; ++j) {
      const float v = std::clamp(p[i * 4 + j] + 128.5F, 0.0F, 255.0F);
      out[i * stride + j] = static_cast<std::uint8_t>(v);
    }
  }
}

#if defined(__SSE2__)
// A row of t and of p is one vector (j in the lanes): t(u) = g(u, 0) b(0) + ... + g(u, 3) b(3) with
// b(v) the basis's row v, p(i) = b(0, i) t(0) + ... + b(3, i) t(3); the sums in the scalar order.
// perf: the scalar loops were a fifth of the decoder's time at 1/2.
void low_frequency4(const int* low, const block_weights4& b, std::uint8_t* out, std::size_t stride) {
  const __m128 b0 = _mm_loadu_ps(basis4.data());  // basis4's rows
  const __m128 b1 = _mm_loadu_ps(basis4.data() + 4);
  const __m128 b2 = _mm_loadu_ps(basis4.data() + 8);
  const __m128 b3 = _mm_loadu_ps(basis4.data() + 12);
  const auto t_row = [&](std::size_t u) {
    const std::uint8_t* z = zigzag4.data() + u * 4;
    const __m128 g = _mm_mul_ps(_mm_cvtepi32_ps(_mm_setr_epi32(low[z[0]], low[z[1]], low[z[2]], low[z[3]])),
                                _mm_loadu_ps(b.q.data() + u * 4));
    __m128 sum = _mm_mul_ps(_mm_shuffle_ps(g, g, 0x00), b0);
    sum = _mm_add_ps(sum, _mm_mul_ps(_mm_shuffle_ps(g, g, 0x55), b1));
    sum = _mm_add_ps(sum, _mm_mul_ps(_mm_shuffle_ps(g, g, 0xAA), b2));
    return _mm_add_ps(sum, _mm_mul_ps(_mm_shuffle_ps(g, g, 0xFF), b3));
  };
  const __m128 t0 = t_row(0);
  const __m128 t1 = t_row(1);
  const __m128 t2 = t_row(2);
  const __m128 t3 = t_row(3);
  const auto p_row = [&](std::size_t i) {
    __m128 sum = _mm_mul_ps(_mm_set1_ps(basis4[i]), t0);
    sum = _mm_add_ps(sum, _mm_mul_ps(_mm_set1_ps(basis4[4 + i]), t1));
    sum = _mm_add_ps(sum, _mm_mul_ps(_mm_set1_ps(basis4[8 + i]), t2));
    sum = _mm_add_ps(sum, _mm_mul_ps(_mm_set1_ps(basis4[12 + i]), t3));
    sum = _mm_min_ps(_mm_max_ps(_mm_add_ps(sum, _mm_set1_ps(128.5F)), _mm_setzero_ps()), _mm_set1_ps(255.0F));
    return _mm_cvttps_epi32(sum);
  };
  const __m128i bytes =
      _mm_packus_epi16(_mm_packs_epi32(p_row(0), p_row(1)), _mm_packs_epi32(p_row(2), p_row(3)));
  alignas(16) std::array<std::uint8_t, 16> rows{};
  _mm_store_si128(reinterpret_cast<__m128i*>(rows.data()), bytes);
  for (std::size_t i = 0; i < 4; ++i) std::memcpy(out + i * stride, rows.data() + i * 4, 4);
}
#else
void low_frequency4(const int* low, const block_weights4& b, std::uint8_t* out, std::size_t stride) {
  low_frequency4_scalar(low, b, out, stride);
}
#endif

}  // namespace

void block_to_pixels4x4(const int* values, const std::uint16_t* quant, std::uint8_t* out,
                        std::size_t stride) {
  low_frequency4(values, weights4_of(quant), out, stride);
}

void block_to_pixels4x4_scalar(const int* values, const std::uint16_t* quant, std::uint8_t* out,
                               std::size_t stride) {
  low_frequency4_scalar(values, weights4_of(quant), out, stride);
}

namespace {

// The frame's MCU grid.
struct mcu_grid {
  std::uint32_t w = 0;  ///< MCUs across
  std::uint32_t h = 0;
  [[nodiscard]] std::size_t total() const { return std::size_t{w} * h; }
};
mcu_grid grid_of(const frame& f) {
  const std::uint32_t mcu_w = 8U * static_cast<std::uint32_t>(f.h_max);
  const std::uint32_t mcu_h = 8U * static_cast<std::uint32_t>(f.v_max);
  return {(f.width + mcu_w - 1) / mcu_w, (f.height + mcu_h - 1) / mcu_h};
}

// Each component's plane at 1/`shrink` (and its blocks, for multi-scan files); returns the planes'
// total size.
std::size_t plan_planes(const frame& f, int shrink, std::vector<component>& comps) {
  const int size = 8 / shrink;  // scaled pixels per luma block side
  const mcu_grid grid = grid_of(f);
  std::size_t plane_bytes = 0;
  std::size_t blocks = 0;
  for (component& c : comps) {
    // A subsampled component covers more pixels per block: at 1/8 it gives 2 pixels per block in
    // that direction (then needs no upsampling); at 1/4 it would need 4, and gives 2 (upsampled); at
    // 1/2 every block gives 4 x 4 (a subsampled one would need 8, and is upsampled).
    const int most = shrink == 2 ? 4 : 2;
    c.block_w = std::min(most, size * f.h_max / c.h);
    c.block_h = std::min(most, size * f.v_max / c.v);
    c.keep = shrink == 2 ? 25 : c.block_w == 2 || c.block_h == 2 ? 5 : 1;
    c.blocks_w = std::size_t{grid.w} * static_cast<std::size_t>(c.h);
    c.blocks_h = std::size_t{grid.h} * static_cast<std::size_t>(c.v);
    // The component's own samples (ceil(width * h / h_max)), in blocks.
    const std::size_t samples_w =
        (std::size_t{f.width} * static_cast<std::size_t>(c.h) + static_cast<std::size_t>(f.h_max) - 1) /
        static_cast<std::size_t>(f.h_max);
    const std::size_t samples_h =
        (std::size_t{f.height} * static_cast<std::size_t>(c.v) + static_cast<std::size_t>(f.v_max) - 1) /
        static_cast<std::size_t>(f.v_max);
    c.used_w = (samples_w + 7) / 8;
    c.used_h = (samples_h + 7) / 8;
    c.blocks_offset = blocks;
    blocks += c.blocks_w * c.blocks_h;
    c.plane_stride = c.blocks_w * static_cast<std::size_t>(c.block_w);
    c.plane_rows = c.blocks_h * static_cast<std::size_t>(c.block_h);
    c.plane_offset = plane_bytes;
    plane_bytes += c.plane_stride * c.plane_rows;
  }
  return plane_bytes;
}

// Walks a scan's restart intervals (of `restart_interval` units; 0: one interval), which must be as
// many as the scan's restart markers say: at each, a fresh bit reader and `restart()` (predictors and end-of-
// band runs start over), then `unit(reader, index)` for each of its units (MCUs, or blocks in a scan
// of one component), then the check that the interval's data ended where its last unit did: reading
// past it is truncated data, whole bytes left over are extraneous data (libjpeg warns about both).
// `corrupt` when any of that fails.
template <typename Restart, typename Unit>
[[gnu::always_inline]] inline scaled_jpeg_status walk_intervals(const scaled_jpeg_scratch& s,
                                                                std::size_t total,
                                                                std::size_t restart_interval,
                                                                Restart&& restart, Unit&& unit) {
  const std::size_t interval = restart_interval == 0 ? total : restart_interval;
  if (s.restarts.size() - 1 != (total + interval - 1) / interval) return scaled_jpeg_status::corrupt;
  std::size_t index = 0;
  for (std::size_t i = 0; i + 1 < s.restarts.size(); ++i) {
    const std::uint8_t* start = s.scan.data() + s.restarts[i];
    const std::size_t length = s.restarts[i + 1] - s.restarts[i];
    bit_reader r(start, s.scan.data() + s.restarts.back() + 8);
    restart();
    for (const std::size_t last = std::min(total, index + interval); index < last; ++index) {
      if (r.overrun) return scaled_jpeg_status::corrupt;  // the data ended: no need to decode zeros
      if (!unit(r, index)) return scaled_jpeg_status::corrupt;
    }
    const std::size_t used = r.consumed(start);
    if (r.overrun || used > length * 8 || (used + 7) / 8 != length) return scaled_jpeg_status::corrupt;
  }
  return scaled_jpeg_status::decoded;
}

// The scan loops are compiled twice more for x86-64 CPUs that have them (chosen once, when the library
// loads): for x86-64-v3 (Haswell, Zen 1 and later), whose BMI2 shifts by a register count (SHLX,
// SHRX) take one cycle and one micro-op where SHL/SHR by CL take two on Intel, and the bit reader's
// shifts are on the decoder's one long dependency chain; and for refinement scans, which count bits,
// with POPCNT alone, instead of a call to libgcc's __popcountdi2. (XIMUP_SCALED_JPEG_NO_CLONES: only
// the default code, which the tests check in a build of their own, scaled_jpeg_baseline_test.)
#if defined(__x86_64__) && !defined(XIMUP_SCALED_JPEG_NO_CLONES)
#define XIMUP_SCAN_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#define XIMUP_POPCNT_CLONES __attribute__((target_clones("arch=x86-64-v3", "popcnt", "default")))
#else
#define XIMUP_SCAN_CLONES
#define XIMUP_POPCNT_CLONES
#endif

// A baseline file's one interleaved scan, straight to the planes; N: each block's values, 5 (1/4,
// 1/8: low_frequency) or 25 (1/2: low_frequency4). Each N is compiled in a function of its own: with
// both in one, the 1/4 path took 2.5% more CPU (pairs, session 12).
template <std::size_t N>
[[gnu::always_inline]] inline scaled_jpeg_status scan_to_planes(const frame& f, int shrink,
                                                                scaled_jpeg_scratch& s,
                                                                std::vector<component>& comps) {
  const bool interleaved = f.count > 1;
  const mcu_grid grid = grid_of(f);
  const std::uint32_t mcus_x = grid.w;
  const std::size_t total = grid.total();
  // Every block takes at least two bits (a DC code and an end of block): a header that announces more
  // blocks than the data can hold is a truncated file, refused before the planes are allocated.
  std::size_t blocks_per_mcu = 0;
  for (const component& c : comps) blocks_per_mcu += interleaved ? static_cast<std::size_t>(c.h * c.v) : 1;
  if (total * blocks_per_mcu * 2 > (s.restarts.back() + 1) * 8) return scaled_jpeg_status::corrupt;
  s.planes.resize(plan_planes(f, shrink, comps));
  std::array<block_weights, 3> weights{};
  std::array<block_weights4, 3> weights4{};
  for (std::size_t ci = 0; ci < comps.size(); ++ci) {
    const component& c = comps[ci];
    if constexpr (N == 25) {
      weights4[ci] = weights4_of(f.quant[static_cast<std::size_t>(c.quant)].data());
    } else {
      weights[ci] = weights_of(f.quant[static_cast<std::size_t>(c.quant)].data(), c.block_w, c.block_h);
    }
  }

  // The 1/4 scale's common case, where the CPU has AVX2: each block's four values kept for an MCU
  // row, whose pixels are made after it (pixels2x2_avx2).
  bool rows = false;
  std::array<std::size_t, 3> row_offset{};  // each component's values in row_values
  std::vector<std::int16_t> row_values;
#if defined(__x86_64__)
  if constexpr (N == 5) {
    rows = interleaved && comps.size() == 3 && avx2_on();
    std::size_t values = 0;
    for (std::size_t ci = 0; ci < comps.size() && rows; ++ci) {
      const component& c = comps[ci];
      rows = c.block_w == 2 && c.block_h == 2 &&
             fits_row_pass(f.quant[static_cast<std::size_t>(c.quant)].data());
      row_offset[ci] = values;
      values += static_cast<std::size_t>(c.v) * c.blocks_w * 4;
    }
    if (rows) row_values.resize(values);
  }
#endif
  // The pixels of MCU row `my` from its blocks' values.
  const auto pixel_row = [&](std::size_t my) {
    for (std::size_t ci = 0; ci < comps.size(); ++ci) {
      const component& c = comps[ci];
      for (int by = 0; by < c.v; ++by) {
        const std::size_t y = (my * static_cast<std::size_t>(c.v) + static_cast<std::size_t>(by)) * 2;
        std::uint8_t* top = s.planes.data() + c.plane_offset + y * c.plane_stride;
        blocks_to_pixels2x2(
            row_values.data() + row_offset[ci] + static_cast<std::size_t>(by) * c.blocks_w * 4, c.blocks_w,
            f.quant[static_cast<std::size_t>(c.quant)].data(), top, top + c.plane_stride);
      }
    }
  };

  std::array<int, 3> dc{};
  const auto restart = [&dc]() __attribute__((always_inline)) {
    dc.fill(0);
  };
  // Each block's values: 5 (1/4, 1/8) or 25 (1/2).
  std::array<int, N> low{};
  const auto mcu = [&](bit_reader & r, std::size_t index) __attribute__((always_inline)) {
    const std::size_t mx = index % mcus_x;
    const std::size_t my = index / mcus_x;
    for (std::size_t ci = 0; ci < comps.size(); ++ci) {
      const component& c = comps[ci];
      const huffman_table& dct = f.dc[static_cast<std::size_t>(c.dc_table)];
      const huffman_table& act = f.ac[static_cast<std::size_t>(c.ac_table)];
      const int bw = interleaved ? c.h : 1;
      const int bh = interleaved ? c.v : 1;
      for (int by = 0; by < bh; ++by) {
        for (int bx = 0; bx < bw; ++bx) {
          if (!decode_block(r, dct, act, c.keep, dc[ci], low)) return false;
          if constexpr (N == 5) {
            if (rows) {
              std::int16_t* v = row_values.data() + row_offset[ci] +
                                (static_cast<std::size_t>(by) * c.blocks_w +
                                 mx * static_cast<std::size_t>(bw) + static_cast<std::size_t>(bx)) *
                                    4;
              v[0] = static_cast<std::int16_t>(low[0]);
              v[1] = static_cast<std::int16_t>(low[1]);
              v[2] = static_cast<std::int16_t>(low[2]);
              v[3] = static_cast<std::int16_t>(low[4]);
              continue;
            }
          }
          const std::size_t x = (mx * static_cast<std::size_t>(bw) + static_cast<std::size_t>(bx)) *
                                static_cast<std::size_t>(c.block_w);
          const std::size_t y = (my * static_cast<std::size_t>(bh) + static_cast<std::size_t>(by)) *
                                static_cast<std::size_t>(c.block_h);
          std::uint8_t* out = s.planes.data() + c.plane_offset + y * c.plane_stride + x;
          if constexpr (N == 25) {
            low_frequency4(low.data(), weights4[ci], out, c.plane_stride);
          } else {
            low_frequency(low, weights[ci], out, c.plane_stride);
          }
        }
      }
    }
    if (rows && mx + 1 == mcus_x) pixel_row(my);
    return true;
  };
  return walk_intervals(s, total, f.restart_interval, restart, mcu);
}

XIMUP_SCAN_CLONES scaled_jpeg_status decode_scan(const frame& f, int shrink, scaled_jpeg_scratch& s,
                                                 std::vector<component>& comps) {
  return scan_to_planes<5>(f, shrink, s, comps);
}

XIMUP_SCAN_CLONES scaled_jpeg_status decode_scan_half(const frame& f, scaled_jpeg_scratch& s,
                                                      std::vector<component>& comps) {
  return scan_to_planes<25>(f, 2, s, comps);
}

// ---- Multi-scan files: progressive (SOF2), or baseline with a scan per component ----
// Each scan adds to the blocks (scaled_jpeg_scratch::blocks: the values of zigzag positions 0-4 and
// which positions are nonzero so far); the planes are made from them after the last scan.

enum class scan_kind { sequential, dc_first, dc_refine, ac_first, ac_refine };

scan_kind kind_of(const frame& f, const scan_header& scan) {
  if (!f.progressive) return scan_kind::sequential;
  if (scan.ss == 0) return scan.ah == 0 ? scan_kind::dc_first : scan_kind::dc_refine;
  return scan.ah == 0 ? scan_kind::ac_first : scan_kind::ac_refine;
}

// What each component has had so far, per zigzag position: the bit position of the last scan that
// coded it (-1: none yet), as libjpeg tracks it (its coef_bits) to check a progression.
using progression = std::array<std::array<int, 64>, 3>;

// A scan that libjpeg refuses or warns about is `corrupt`: a progressive scan that is not DC-only or
// one component's AC, bit positions out of order, AC before DC; a sequential scan that is not the
// whole block, a component coded twice.
scaled_jpeg_status check_progression(const frame& f, const scan_header& scan, progression& bits) {
  if (!f.progressive) {
    if (scan.ss != 0 || scan.se != 63 || scan.ah != 0 || scan.al != 0) return scaled_jpeg_status::corrupt;
    for (int i = 0; i < scan.count; ++i) {
      auto& b = bits[static_cast<std::size_t>(scan.components[static_cast<std::size_t>(i)])];
      if (b[0] == 0) return scaled_jpeg_status::corrupt;
      b.fill(0);
    }
    return scaled_jpeg_status::decoded;
  }
  const bool bad = scan.ss == 0 ? scan.se != 0 : (scan.se < scan.ss || scan.se > 63 || scan.count != 1);
  if (bad || (scan.ah != 0 && scan.al != scan.ah - 1) || scan.al > 13) return scaled_jpeg_status::corrupt;
  for (int i = 0; i < scan.count; ++i) {
    auto& b = bits[static_cast<std::size_t>(scan.components[static_cast<std::size_t>(i)])];
    if (scan.ss > 0 && b[0] < 0) return scaled_jpeg_status::corrupt;
    for (int k = scan.ss; k <= scan.se; ++k) {
      if (scan.ah != std::max(b[static_cast<std::size_t>(k)], 0)) return scaled_jpeg_status::corrupt;
      b[static_cast<std::size_t>(k)] = scan.al;
    }
  }
  return scaled_jpeg_status::decoded;
}

// One block of a DC scan's first pass: the difference from the component's last DC (`dc`).
bool dc_first(bit_reader& r, const huffman_table& t, int al, int& dc, std::int16_t& value) {
  if (r.count < 32) r.refill();
  const symbol s = decode_symbol(t, r.bits, true);
  if (s == 0) return false;
  r.skip(symbol_length(s));
  if (__builtin_add_overflow(dc, symbol_value(s), &dc)) return false;  // libjpeg-turbo's error too
  value = static_cast<std::int16_t>(static_cast<std::uint32_t>(dc) << al);
  return true;
}

// Where the CPU has a fast PDEP (BMI2: Intel since Haswell, AMD since Zen 3; Zen 1 and 2 run it in
// microcode, tens to hundreds of cycles), a refinement scan finds the next zero-history coefficient
// with one instruction instead of clearing bits in a loop: 1.24x less CPU per progressive 12 MP
// image (docs/resize.md). Inline assembly, so that the rest of the file needs no BMI2 target.
#if defined(__x86_64__)
bool cpu_has_fast_pdep() {
  unsigned a = 0;
  unsigned b = 0;
  unsigned c = 0;
  unsigned d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d) == 0 || a < 7) return false;
  const bool intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;  // "GenuineIntel"
  const bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;    // "AuthenticAMD"
  __get_cpuid(1, &a, &b, &c, &d);
  const unsigned family = ((a >> 8) & 15U) == 15U ? 15U + ((a >> 20) & 255U) : (a >> 8) & 15U;
  __cpuid_count(7, 0, a, b, c, d);
  const bool bmi2 = (b & (1U << 8)) != 0;
  return bmi2 && (intel || (amd && family >= 0x19));
}
const bool fast_pdep_available = cpu_has_fast_pdep();
std::atomic<bool> use_pdep{fast_pdep_available};
std::uint64_t pdep(std::uint64_t source, std::uint64_t mask) {
  std::uint64_t out = 0;
  asm("pdepq %2, %1, %0" : "=r"(out) : "r"(source), "rm"(mask));
  return out;
}
#else
constexpr bool fast_pdep_available = false;
std::atomic<bool> use_pdep{false};
std::uint64_t pdep(std::uint64_t, std::uint64_t) {
  return 0;
}
#endif

// Zigzag positions from..to-1 as bits (to at most 64).
std::uint64_t positions(int from, int to) {
  if (from >= to) return 0;
  const std::uint64_t below_to = to >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << to) - 1;
  return below_to & ~((std::uint64_t{1} << from) - 1);
}

// The correction bits of a refinement scan for the nonzero coefficients at the zigzag positions of
// `nonzero`, one bit each in order: a kept coefficient (positions 1 to N - 1) whose bit is set gains
// bit `al` of its magnitude; the others' bits are only skipped, all at once. (Reading the kept ones'
// bits as one word and applying them after took 4-9% more CPU at 1/2, with or without a branch.)
template <std::size_t N>
[[gnu::always_inline]] inline void correct(bit_reader& r, std::uint64_t nonzero, int al,
                                           scaled_jpeg_block_of<N>& b) {
  constexpr std::uint64_t kept = ((std::uint64_t{1} << N) - 1) & ~std::uint64_t{1};
  while ((nonzero & kept) != 0) {
    const auto k = static_cast<std::size_t>(std::countr_zero(nonzero));
    nonzero &= nonzero - 1;
    if (r.count < 32) r.refill();
    const bool set = r.peek(1) != 0;
    r.skip(1);
    const int p1 = 1 << al;
    const int v = b.low[k];
    if (set && (v & p1) == 0) b.low[k] = static_cast<std::int16_t>(v >= 0 ? v + p1 : v - p1);
  }
  for (int n = std::popcount(nonzero); n > 0; n -= 32) {
    if (r.count < 32) r.refill();
    r.skip(std::min(n, 32));
  }
}

// One block of an AC scan's first pass over zigzag positions ss..se. `eob_run`: blocks left in the
// current run of blocks with nothing more in this band.
template <std::size_t N>
[[gnu::always_inline]] inline bool ac_first_in(bit_reader& r, const huffman_table& t, const scan_header& scan,
                                               int& eob_run, scaled_jpeg_block_of<N>& b) {
  if (eob_run > 0) {
    --eob_run;
    return true;
  }
  for (int k = scan.ss; k <= scan.se; ++k) {
    if (r.count < 32) r.refill();
    const int code = decode_code(t, r.bits);
    if (code < 0) return false;
    const int run = code >> 12;
    const int size = (code >> 8) & 15;
    if (size != 0) {
      k += run;
      // (libjpeg stores a coefficient that runs past the band beyond it, silently: not followed)
      if (k > scan.se) return false;
      b.nonzero |= std::uint64_t{1} << k;
      if (static_cast<std::size_t>(k) < N) {
        r.skip(code & 31);
        b.low[static_cast<std::size_t>(k)] =
            static_cast<std::int16_t>(static_cast<std::uint32_t>(extend(r.peek(size), size)) << scan.al);
        r.skip(size);
      } else {
        r.skip((code & 31) + size);  // a magnitude not kept: skipped with its code, in one shift
      }
      continue;
    }
    r.skip(code & 31);
    if (run == 15) {
      k += 15;  // sixteen zeros
    } else {
      eob_run = (1 << run) - 1;  // this block and (1 << run) - 1 + extra bits more
      if (run != 0) {
        eob_run += static_cast<int>(r.peek(run));
        r.skip(run);
      }
      break;
    }
  }
  return true;
}

template <std::size_t N>
bool ac_first(bit_reader& reader, const huffman_table& t, const scan_header& scan, int& eob_run,
              scaled_jpeg_block_of<N>& b) {
  return in_registers(
      reader, [&](bit_reader & r)
                  __attribute__((always_inline)) { return ac_first_in(r, t, scan, eob_run, b); });
}

// One block of an AC refinement scan: a correction bit for each coefficient already nonzero in the
// band, and the coefficients that become nonzero now (+-1 << al), as libjpeg's decode_mcu_AC_refine.
template <std::size_t N>
[[gnu::always_inline]] inline bool ac_refine_in(bit_reader& r, const huffman_table& t,
                                                const scan_header& scan, int& eob_run,
                                                scaled_jpeg_block_of<N>& b, bool fast_pdep) {
  const int p1 = 1 << scan.al;
  std::uint64_t ahead = positions(scan.ss, scan.se + 1);  // the band's positions not passed yet
  if (eob_run == 0) {
    while (ahead != 0) {
      if (r.count < 32) r.refill();
      const int code = decode_code(t, r.bits);
      if (code < 0) return false;
      r.skip(code & 31);
      int run = code >> 12;
      const int size = (code >> 8) & 15;
      int value = 0;
      if (size != 0) {
        if (size != 1) return false;  // libjpeg warns
        value = r.peek(1) != 0 ? p1 : -p1;
        r.skip(1);
      } else if (run != 15) {
        eob_run = 1 << run;
        if (run != 0) {
          eob_run += static_cast<int>(r.peek(run));
          r.skip(run);
        }
        break;
      }
      // Past `run` coefficients still zero (correcting the nonzero ones on the way) to the new one
      // (or, if the band has no more zeros, to its end).
      std::uint64_t zeros = ~b.nonzero & ahead;
      std::uint64_t target = 0;  // the new coefficient's position as a bit; 0: past the band
      if (fast_pdep) {
        target = pdep(std::uint64_t{1} << run, zeros);  // the (run + 1)th lowest bit of zeros
      } else {
        for (; run > 0 && zeros != 0; --run) zeros &= zeros - 1;
        target = zeros & (~zeros + 1);
      }
      correct(r, b.nonzero & ahead & (target - 1), scan.al, b);
      if (value != 0) {
        if (target == 0) return false;  // (libjpeg would store it past the band)
        b.nonzero |= target;
        const auto k = static_cast<std::size_t>(std::countr_zero(target));
        if (k < N) b.low[k] = static_cast<std::int16_t>(value);
      }
      ahead &= ~((target << 1) - 1);  // (target 0 or bit 63: nothing is left)
    }
  }
  if (eob_run > 0) {
    correct(r, b.nonzero & ahead, scan.al, b);
    --eob_run;
  }
  return true;
}

template <std::size_t N>
[[gnu::always_inline]] inline bool ac_refine(bit_reader& reader, const huffman_table& t,
                                             const scan_header& scan, int& eob_run,
                                             scaled_jpeg_block_of<N>& b, bool fast_pdep) {
  return in_registers(
      reader, [&](bit_reader & r)
                  __attribute__((always_inline)) { return ac_refine_in(r, t, scan, eob_run, b, fast_pdep); });
}

// One scan of a multi-scan file into the blocks (N values each). An interleaved scan (several
// components) goes MCU by MCU over the frame's grid; a scan of one component goes block by block over
// the blocks that cover its samples, and then a restart interval counts blocks.
template <std::size_t N>
[[gnu::always_inline]] inline scaled_jpeg_status scan_into_blocks(
    const frame& f, const scan_header& scan, const std::vector<component>& comps,
    const scaled_jpeg_scratch& s, std::vector<scaled_jpeg_block_of<N>>& blocks) {
  const scan_kind kind = kind_of(f, scan);
  const bool interleaved = scan.count > 1;
  const mcu_grid grid = grid_of(f);
  const component& first = comps[static_cast<std::size_t>(scan.components[0])];
  const std::size_t total = interleaved ? grid.total() : first.used_w * first.used_h;

  std::array<int, 3> dc{};
  std::array<int, N> low{};
  int eob_run = 0;
  const bool fast_pdep = use_pdep.load(std::memory_order_relaxed);
  const auto block = [&](int ci, scaled_jpeg_block_of<N>& b, bit_reader& r) __attribute__((always_inline)) {
    const component& c = comps[static_cast<std::size_t>(ci)];
    switch (kind) {
      case scan_kind::sequential: {
        if (!decode_block(r, f.dc[static_cast<std::size_t>(c.dc_table)],
                          f.ac[static_cast<std::size_t>(c.ac_table)], c.keep,
                          dc[static_cast<std::size_t>(ci)], low))
          return false;
        for (std::size_t k = 0; k < N; ++k) b.low[k] = static_cast<std::int16_t>(low[k]);
        return true;
      }
      case scan_kind::dc_first:
        return dc_first(r, f.dc[static_cast<std::size_t>(c.dc_table)], scan.al,
                        dc[static_cast<std::size_t>(ci)], b.low[0]);
      case scan_kind::dc_refine:
        if (r.count < 32) r.refill();
        if (r.peek(1) != 0) b.low[0] = static_cast<std::int16_t>(b.low[0] | (1 << scan.al));
        r.skip(1);
        return true;
      case scan_kind::ac_first:
        return ac_first(r, f.ac[static_cast<std::size_t>(c.ac_table)], scan, eob_run, b);
      case scan_kind::ac_refine:
        return ac_refine(r, f.ac[static_cast<std::size_t>(c.ac_table)], scan, eob_run, b, fast_pdep);
    }
    return false;
  };

  // (Inlined, as `block` is: the refinement's popcount must be compiled into each clone.)
  const auto restart = [&]() __attribute__((always_inline)) {
    dc.fill(0);
    eob_run = 0;
  };
  const auto unit = [&](bit_reader & r, std::size_t index) __attribute__((always_inline)) {
    if (!interleaved) {
      return block(
          scan.components[0],
          blocks[first.blocks_offset + (index / first.used_w) * first.blocks_w + index % first.used_w], r);
    }
    const std::size_t mx = index % grid.w;
    const std::size_t my = index / grid.w;
    for (int i_c = 0; i_c < scan.count; ++i_c) {
      const int ci = scan.components[static_cast<std::size_t>(i_c)];
      const component& c = comps[static_cast<std::size_t>(ci)];
      for (int by = 0; by < c.v; ++by) {
        for (int bx = 0; bx < c.h; ++bx) {
          const std::size_t row = my * static_cast<std::size_t>(c.v) + static_cast<std::size_t>(by);
          const std::size_t col = mx * static_cast<std::size_t>(c.h) + static_cast<std::size_t>(bx);
          if (!block(ci, blocks[c.blocks_offset + row * c.blocks_w + col], r)) return false;
        }
      }
    }
    return true;
  };
  return walk_intervals(s, total, f.restart_interval, restart, unit);
}

// At 1/4 and 1/8, and at 1/2: each compiled in a function of its own, as scan_to_planes is.
XIMUP_POPCNT_CLONES scaled_jpeg_status decode_into_blocks(const frame& f, const scan_header& scan,
                                                          const std::vector<component>& comps,
                                                          scaled_jpeg_scratch& s) {
  return scan_into_blocks(f, scan, comps, s, s.blocks);
}

XIMUP_POPCNT_CLONES scaled_jpeg_status decode_into_half_blocks(const frame& f, const scan_header& scan,
                                                               const std::vector<component>& comps,
                                                               scaled_jpeg_scratch& s) {
  return scan_into_blocks(f, scan, comps, s, s.half_blocks);
}

// The planes from the blocks; then each plane's pixels past its component's own samples (blocks that
// only pad the MCUs, which a non-interleaved scan does not code) repeat its last column and row, as
// libjpeg's upsampling repeats its edge.
template <std::size_t N>
void blocks_to_planes(const frame& f, const std::vector<component>& comps,
                      const std::vector<scaled_jpeg_block_of<N>>& blocks, scaled_jpeg_scratch& s) {
  std::array<int, N> low{};
  for (const component& c : comps) {
    const std::uint16_t* quant = f.quant[static_cast<std::size_t>(c.quant)].data();
    block_weights weights{};
    block_weights4 weights4{};
    if constexpr (N == 25) {
      weights4 = weights4_of(quant);
    } else {
      weights = weights_of(quant, c.block_w, c.block_h);
    }
    std::uint8_t* plane = s.planes.data() + c.plane_offset;
    for (std::size_t by = 0; by < c.blocks_h; ++by) {
      for (std::size_t bx = 0; bx < c.blocks_w; ++bx) {
        const scaled_jpeg_block_of<N>& b = blocks[c.blocks_offset + by * c.blocks_w + bx];
        for (std::size_t k = 0; k < N; ++k) low[k] = b.low[k];
        std::uint8_t* out = plane + by * static_cast<std::size_t>(c.block_h) * c.plane_stride +
                            bx * static_cast<std::size_t>(c.block_w);
        if constexpr (N == 25) {
          low_frequency4(low.data(), weights4, out, c.plane_stride);
        } else {
          low_frequency(low, weights, out, c.plane_stride);
        }
      }
    }
    const std::size_t width = c.used_w * static_cast<std::size_t>(c.block_w);
    const std::size_t height = c.used_h * static_cast<std::size_t>(c.block_h);
    for (std::size_t y = 0; y < height; ++y) {
      std::uint8_t* line = plane + y * c.plane_stride;
      std::fill(line + width, line + c.plane_stride, line[width - 1]);
    }
    for (std::size_t y = height; y < c.plane_rows; ++y)
      std::memcpy(plane + y * c.plane_stride, plane + (height - 1) * c.plane_stride, c.plane_stride);
  }
}

// More scans than this are refused (left to TurboJPEG): each scan walks every block, and a file
// of many tiny scans would otherwise cost far more time than its size suggests. libjpeg's progressive
// script has 10; libjpeg-turbo's TJFLAG_LIMITSCANS allows 500.
constexpr int max_scans = 100;

// A multi-scan file from its first scan (already copied to the scratch) to its end; its blocks keep N
// values: 5 at 1/4 and 1/8, 25 at 1/2 (s.blocks, s.half_blocks).
template <std::size_t N>
scaled_jpeg_status decode_scans(std::span<const std::uint8_t> in, frame& f, int shrink,
                                scaled_jpeg_scratch& s, std::vector<component>& comps, std::size_t next,
                                bool end_of_image) {
  static_assert(N == 5 || N == 25);
  auto& blocks = [&s]() -> auto& {
    if constexpr (N == 25) {
      return s.half_blocks;
    } else {
      return s.blocks;
    }
  }
  ();
  const std::size_t plane_bytes = plan_planes(f, shrink, comps);
  // Every block's DC is coded in some scan in at least one bit: a header that announces more blocks
  // than the file can hold is refused before the blocks are allocated.
  std::size_t used_blocks = 0;
  for (const component& c : comps) used_blocks += c.used_w * c.used_h;
  if (used_blocks > in.size() * 8) return scaled_jpeg_status::corrupt;
  const component& last = comps.back();
  blocks.assign(last.blocks_offset + last.blocks_w * last.blocks_h, scaled_jpeg_block_of<N>{});
  progression bits;
  for (auto& b : bits) b.fill(-1);
  for (int scans = 1;; ++scans) {
    if (scans > max_scans) return scaled_jpeg_status::unsupported;
    if (!scan_tables_defined(f, f.scan)) return scaled_jpeg_status::unsupported;
    if (auto status = check_progression(f, f.scan, bits); status != scaled_jpeg_status::decoded)
      return status;
    for (int i = 0; i < f.scan.count; ++i) {
      component& c = comps[static_cast<std::size_t>(f.scan.components[static_cast<std::size_t>(i)])];
      const component& latest =
          f.components[static_cast<std::size_t>(f.scan.components[static_cast<std::size_t>(i)])];
      c.dc_table = latest.dc_table;
      c.ac_table = latest.ac_table;
    }
    // A component of which only DC values are used (luma at 1/8): its AC scans are not decoded.
    const bool unused =
        f.progressive && f.scan.ss > 0 && comps[static_cast<std::size_t>(f.scan.components[0])].keep == 1;
    if (!unused) {
      const scaled_jpeg_status status =
          N == 25 ? decode_into_half_blocks(f, f.scan, comps, s) : decode_into_blocks(f, f.scan, comps, s);
      if (status != scaled_jpeg_status::decoded) return status;
    }
    if (end_of_image) break;
    if (auto status = parse_markers(in, next, f, end_of_image); status != scaled_jpeg_status::decoded)
      return status;
    if (end_of_image) break;
    if (auto status = unstuff_scan(in, f.scan_start, s, next, end_of_image);
        status != scaled_jpeg_status::decoded)
      return status;
  }
  // Every component complete. (libjpeg smooths the blocks of a progressive image whose lowest
  // frequencies (zigzag 1-9) were not all coded to their last bit: left to it.)
  for (std::size_t ci = 0; ci < comps.size(); ++ci) {
    for (std::size_t k = 0; k < (f.progressive ? 10U : 1U); ++k) {
      if (bits[ci][k] != 0) return scaled_jpeg_status::unsupported;
    }
  }
  s.planes.resize(plane_bytes);
  blocks_to_planes(f, comps, blocks, s);
  return scaled_jpeg_status::decoded;
}

#if defined(__SSE2__)
// (a * wa + b * wb + 32768) >> 16 for eight 16-bit lanes, in 32 bits.
__m128i weighted(__m128i a, __m128i b, std::int16_t wa, std::int16_t wb) {
  const __m128i w = _mm_set1_epi32(static_cast<std::int32_t>(
      (std::uint32_t{static_cast<std::uint16_t>(wb)} << 16) | static_cast<std::uint16_t>(wa)));
  const __m128i round = _mm_set1_epi32(32768);
  const __m128i lo = _mm_srai_epi32(_mm_add_epi32(_mm_madd_epi16(_mm_unpacklo_epi16(a, b), w), round), 16);
  const __m128i hi = _mm_srai_epi32(_mm_add_epi32(_mm_madd_epi16(_mm_unpackhi_epi16(a, b), w), round), 16);
  return _mm_packs_epi32(lo, hi);
}

// Eight pixels of ycbcr_to_rgb as 16-bit R, G, B. The coefficients that do not fit 16 bits are
// split into a multiple of 65536, which the shift turns into a whole cb or cr, and a remainder:
// 91881 = 65536 + 26345, -46802 = -65536 + 18734, 116130 = 2 x 65536 - 14942. Exact.
void ycbcr_to_rgb8(__m128i y, __m128i cb, __m128i cr, __m128i& r, __m128i& g, __m128i& b) {
  const __m128i zero = _mm_setzero_si128();
  r = _mm_add_epi16(_mm_add_epi16(y, cr), weighted(cr, zero, 26345, 0));
  g = _mm_add_epi16(_mm_sub_epi16(y, cr), weighted(cb, cr, -22554, 18734));
  b = _mm_add_epi16(_mm_add_epi16(y, _mm_add_epi16(cb, cb)), weighted(cb, zero, -14942, 0));
}
#endif

}  // namespace

namespace {

// upsample_chroma_row from chroma sample `from` on, one sample at a time (signed indices: col[-1] is
// the repeated first sample).
void upsample_chroma_tail(const std::int16_t* col, std::uint8_t* dst, std::size_t width, std::size_t from) {
  const auto pairs = static_cast<std::ptrdiff_t>(width / 2);
  for (auto x = static_cast<std::ptrdiff_t>(from); x < pairs; ++x) {
    dst[2 * x] = static_cast<std::uint8_t>((3 * col[x] + col[x - 1] + 8) >> 4);
    dst[2 * x + 1] = static_cast<std::uint8_t>((3 * col[x] + col[x + 1] + 7) >> 4);
  }
  if ((width & 1U) != 0)
    dst[width - 1] = static_cast<std::uint8_t>((3 * col[pairs] + col[pairs - 1] + 8) >> 4);
}

}  // namespace

#if defined(__SSE2__)
namespace {

// Sixteen pixels of ycbcr_to_rgb, saturated to bytes: R, G and B each in a vector.
[[gnu::always_inline]] inline void ycbcr_to_rgb16(const std::uint8_t* y, const std::uint8_t* cb,
                                                  const std::uint8_t* cr, __m128i& rv, __m128i& gv,
                                                  __m128i& bv) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i bias = _mm_set1_epi16(128);
  const __m128i yv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y));
  const __m128i cbv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cb));
  const __m128i crv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cr));
  __m128i r[2];
  __m128i g[2];
  __m128i b[2];
  ycbcr_to_rgb8(_mm_unpacklo_epi8(yv, zero), _mm_sub_epi16(_mm_unpacklo_epi8(cbv, zero), bias),
                _mm_sub_epi16(_mm_unpacklo_epi8(crv, zero), bias), r[0], g[0], b[0]);
  ycbcr_to_rgb8(_mm_unpackhi_epi8(yv, zero), _mm_sub_epi16(_mm_unpackhi_epi8(cbv, zero), bias),
                _mm_sub_epi16(_mm_unpackhi_epi8(crv, zero), bias), r[1], g[1], b[1]);
  rv = _mm_packus_epi16(r[0], r[1]);
  gv = _mm_packus_epi16(g[0], g[1]);
  bv = _mm_packus_epi16(b[0], b[1]);
}

}  // namespace
#endif

#if defined(__x86_64__)
namespace {

// ycbcr_to_rgb's loop where the CPU has AVX2 (chosen at run time: the build targets plain x86-64):
// the same arithmetic, its 48 bytes of RGB stored with byte shuffles (rgb_join) instead of 16 stores
// of four bytes. Returns how many pixels it did.
[[gnu::target("avx2")]] std::size_t ycbcr_to_rgb_avx2(const std::uint8_t* y, const std::uint8_t* cb,
                                                      const std::uint8_t* cr, std::uint8_t* out,
                                                      std::size_t n) {
  std::size_t x = 0;
  for (; x + 16 <= n; x += 16) {
    __m128i rv;
    __m128i gv;
    __m128i bv;
    ycbcr_to_rgb16(y + x, cb + x, cr + x, rv, gv, bv);
    rgb_join::store16(rv, gv, bv, out + 3 * x);
  }
  return x;
}

}  // namespace
#endif

// JFIF YCbCr -> RGB, 16 fraction bits, libjpeg's rounding: 16 pixels at a time with SSE2 (the scalar
// formulas' results exactly; AVX2's loop stores them faster), the rest one by one.
void ycbcr_to_rgb(const std::uint8_t* y, const std::uint8_t* cb, const std::uint8_t* cr, std::uint8_t* out,
                  std::size_t n) {
  std::size_t x = 0;
#if defined(__x86_64__)
  if (avx2_on()) x = ycbcr_to_rgb_avx2(y, cb, cr, out, n);
#endif
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  for (; x + 16 < n; x += 16) {  // (<: a pixel must follow, see below)
    __m128i rv;
    __m128i gv;
    __m128i bv;
    ycbcr_to_rgb16(y + x, cb + x, cr + x, rv, gv, bv);
    // Each pixel as R G B 0 in 32 bits, stored 3 bytes apart: each 4-byte store's last byte is the
    // next pixel's first, which the next store (or the tail) writes.
    const __m128i rg_lo = _mm_unpacklo_epi8(rv, gv);
    const __m128i rg_hi = _mm_unpackhi_epi8(rv, gv);
    const __m128i b_lo = _mm_unpacklo_epi8(bv, zero);
    const __m128i b_hi = _mm_unpackhi_epi8(bv, zero);
    std::uint8_t* o = out + 3 * x;
    const auto store = [&o](__m128i quad) {  // four pixels
      for (int i = 0; i < 4; ++i) {
        const std::int32_t pixel = _mm_cvtsi128_si32(quad);
        std::memcpy(o, &pixel, 4);
        o += 3;
        quad = _mm_srli_si128(quad, 4);
      }
    };
    store(_mm_unpacklo_epi16(rg_lo, b_lo));
    store(_mm_unpackhi_epi16(rg_lo, b_lo));
    store(_mm_unpacklo_epi16(rg_hi, b_hi));
    store(_mm_unpackhi_epi16(rg_hi, b_hi));
  }
#endif
  ycbcr_to_rgb_scalar(y + x, cb + x, cr + x, out + 3 * x, n - x);
}

void upsample_chroma_row(const std::int16_t* col, std::uint8_t* dst, std::size_t width) {
  const std::size_t pairs = width / 2;
  std::size_t x = 0;
#if defined(__SSE2__)
  const __m128i eight = _mm_set1_epi16(8);
  const __m128i seven = _mm_set1_epi16(7);
  for (; x + 8 <= pairs; x += 8) {
    const __m128i near = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + x));
    const __m128i left = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + x - 1));
    const __m128i right = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + x + 1));
    const __m128i near3 = _mm_add_epi16(near, _mm_add_epi16(near, near));
    const __m128i even = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(near3, left), eight), 4);
    const __m128i odd = _mm_srli_epi16(_mm_add_epi16(_mm_add_epi16(near3, right), seven), 4);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * x),
                     _mm_packus_epi16(_mm_unpacklo_epi16(even, odd), _mm_unpackhi_epi16(even, odd)));
  }
#endif
  upsample_chroma_tail(col, dst, width, x);
}

void upsample_chroma_row_scalar(const std::int16_t* col, std::uint8_t* dst, std::size_t width) {
  upsample_chroma_tail(col, dst, width, 0);
}

void ycbcr_to_rgb_scalar(const std::uint8_t* y, const std::uint8_t* cb, const std::uint8_t* cr,
                         std::uint8_t* out, std::size_t n) {
  for (std::size_t x = 0; x < n; ++x) {
    const int luma = y[x];
    const int b = cb[x] - 128;
    const int r = cr[x] - 128;
    out[3 * x] = clamp_sample(luma + ((91881 * r + 32768) >> 16));
    out[3 * x + 1] = clamp_sample(luma + ((-22554 * b - 46802 * r + 32768) >> 16));
    out[3 * x + 2] = clamp_sample(luma + ((116130 * b + 32768) >> 16));
  }
}

namespace {

// The planes to interleaved pixels: greyscale is copied; chroma planes at half the luma's resolution
// are upsampled as libjpeg's "fancy" upsampling does (each output sample is 3/4 of its nearest chroma
// sample and 1/4 of the next nearest, in each direction), then YCbCr becomes RGB.
void to_pixels(const std::vector<component>& comps, const scaled_jpeg_scratch& s, std::uint32_t width,
               std::uint32_t height, std::uint8_t* out) {
  const component& yc = comps[0];
  const std::uint8_t* y_plane = s.planes.data() + yc.plane_offset;
  if (comps.size() == 1) {
    for (std::uint32_t row = 0; row < height; ++row)
      std::memcpy(out + std::size_t{row} * width, y_plane + row * yc.plane_stride, width);
    return;
  }
  // How many output pixels each chroma pixel covers (1 or 2) after the scaled decoding.
  const int hs = (yc.h * yc.block_w) / comps[1].block_w;
  const int vs = (yc.v * yc.block_h) / comps[1].block_h;
  const std::size_t chroma_w = comps[1].plane_stride;  // both chroma planes have this layout
  // One chroma row blended vertically (4 x the value: 3 near + 1 far, or 4 near), with its first and
  // last sample repeated once outside it, so that the horizontal pass has no edge case. 16 bits
  // hold it (at most 1020) and what the horizontal pass adds to it (4088).
  std::vector<std::int16_t> blended(chroma_w + 2);
  std::vector<std::uint8_t> cb_row(width);
  std::vector<std::uint8_t> cr_row(width);
  for (std::uint32_t row = 0; row < height; ++row) {
    for (int ci = 1; ci < 3; ++ci) {
      const component& c = comps[static_cast<std::size_t>(ci)];
      const std::uint8_t* plane = s.planes.data() + c.plane_offset;
      const std::size_t cy = row / static_cast<std::uint32_t>(vs);
      const std::uint8_t* near_line = plane + cy * c.plane_stride;
      std::int16_t* col = blended.data() + 1;
      if (vs == 2) {
        const std::size_t far_y =
            (row & 1U) != 0 ? std::min(cy + 1, c.plane_rows - 1) : (cy > 0 ? cy - 1 : 0);
        const std::uint8_t* far_line = plane + far_y * c.plane_stride;
        for (std::size_t x = 0; x < chroma_w; ++x)
          col[x] = static_cast<std::int16_t>(3 * near_line[x] + far_line[x]);
      } else {
        for (std::size_t x = 0; x < chroma_w; ++x) col[x] = static_cast<std::int16_t>(4 * near_line[x]);
      }
      col[-1] = col[0];
      col[chroma_w] = col[chroma_w - 1];
      std::uint8_t* dst = ci == 1 ? cb_row.data() : cr_row.data();
      if (hs == 1) {
        for (std::size_t x = 0; x < width; ++x) dst[x] = static_cast<std::uint8_t>((col[x] * 4 + 8) >> 4);
      } else {
        upsample_chroma_row(col, dst, width);
      }
    }
    ycbcr_to_rgb(y_plane + row * yc.plane_stride, cb_row.data(), cr_row.data(),
                 out + std::size_t{row} * width * 3, width);
  }
}

}  // namespace

bool scaled_jpeg_use_pdep(bool wanted) {
  if (wanted && !fast_pdep_available) return false;
  use_pdep.store(wanted, std::memory_order_relaxed);
  return wanted;
}

struct scaled_jpeg_frame : frame {};
void scaled_jpeg_frame_deleter::operator()(scaled_jpeg_frame* f) const noexcept {
  delete f;
}

scaled_jpeg_status decode_scaled_jpeg(std::span<const std::uint8_t> jpeg, int shrink,
                                      std::vector<std::uint8_t>& pixels, scaled_jpeg_image* image,
                                      scaled_jpeg_scratch& scratch) {
  if (shrink != 2 && shrink != 4 && shrink != 8) return scaled_jpeg_status::unsupported;
  if (jpeg.size() > (std::size_t{1} << 31)) return scaled_jpeg_status::unsupported;  // offsets stay small
  if (!scratch.frame) scratch.frame.reset(new scaled_jpeg_frame);
  frame* f = scratch.frame.get();
  reset(*f);
  bool end_of_image = false;
  if (auto status = parse_markers(jpeg, 0, *f, end_of_image); status != scaled_jpeg_status::decoded)
    return status;
  std::size_t next = 0;
  if (auto status = unstuff_scan(jpeg, f->scan_start, scratch, next, end_of_image);
      status != scaled_jpeg_status::decoded)
    return status;
  std::vector<component> comps(f->components.begin(), f->components.begin() + f->count);
  // A baseline file whose one scan holds every component in frame order: straight to the planes.
  // Anything else (progressive, a scan per component) goes scan by scan through the blocks.
  bool single_scan = !f->progressive && end_of_image && f->scan.count == f->count;
  for (int i = 0; i < f->scan.count; ++i)
    single_scan = single_scan && f->scan.components[static_cast<std::size_t>(i)] == i;
  if (single_scan) {
    if (f->scan.ss != 0 || f->scan.se != 63 || f->scan.ah != 0 || f->scan.al != 0)
      return scaled_jpeg_status::unsupported;
    if (!scan_tables_defined(*f, f->scan)) return scaled_jpeg_status::unsupported;
    const scaled_jpeg_status status =
        shrink == 2 ? decode_scan_half(*f, scratch, comps) : decode_scan(*f, shrink, scratch, comps);
    if (status != scaled_jpeg_status::decoded) return status;
  } else if (auto status = shrink == 2
                               ? decode_scans<25>(jpeg, *f, shrink, scratch, comps, next, end_of_image)
                               : decode_scans<5>(jpeg, *f, shrink, scratch, comps, next, end_of_image);
             status != scaled_jpeg_status::decoded) {
    return status;
  }
  const auto s = static_cast<std::uint32_t>(shrink);
  image->width = (f->width + s - 1) / s;
  image->height = (f->height + s - 1) / s;
  image->bands = f->count == 1 ? 1 : 3;
  pixels.resize(std::size_t{image->width} * image->height * static_cast<std::size_t>(image->bands));
  to_pixels(comps, scratch, image->width, image->height, pixels.data());
  return scaled_jpeg_status::decoded;
}

}  // namespace ximup
