// libFuzzer target for the base64 encoders: every variant this CPU supports encodes the input,
// at an input and an output offset taken from its length, into a heap buffer of exactly
// encoded_size(n) bytes, and must match a bit-at-a-time reference. Overruns are AddressSanitizer
// reports (the input copy and the output end exactly where the data ends); mismatches abort.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "ximup/base64.hpp"

namespace {

namespace b64 = ximup::base64;

// The definition, one 6-bit field at a time; nothing shared with the encoders under test.
std::string reference(const unsigned char* src, std::size_t n) {
  constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < n; i += 3) {
    const std::size_t have = n - i < 3 ? n - i : 3;
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      group = (group << 8U) | (k < have ? src[i + k] : 0U);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out += k <= have ? alphabet[(group >> (18 - 6 * k)) & 63U] : '=';
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string expected = reference(data, size);
  const std::size_t src_offset = size % 61;
  const std::size_t dst_offset = size % 37;
  const auto src_block = std::make_unique<unsigned char[]>(src_offset + size);
  if (size != 0) {
    std::memcpy(src_block.get() + src_offset, data, size);
  }
  const unsigned char* src = src_block.get() + src_offset;
  for (const b64::variant v : b64::all_variants) {
    if (!b64::supported(v)) {
      continue;
    }
    const auto dst_block = std::make_unique<char[]>(dst_offset + expected.size());
    char* dst = dst_block.get() + dst_offset;
    const std::size_t written = b64::encode_with(v, dst, src, size);
    // The input as libFuzzer hands it over (its own exact-size heap copy), at offset zero.
    const auto aligned = std::make_unique<char[]>(expected.size());
    b64::encode_with(v, aligned.get(), data, size);
    if (written != expected.size() || std::memcmp(dst, expected.data(), expected.size()) != 0 ||
        std::memcmp(aligned.get(), expected.data(), expected.size()) != 0) {
      std::fprintf(stderr, "base64 variant %s differs from the reference for %zu bytes\n",
                   std::string(b64::variant_name(v)).c_str(), size);
      std::abort();
    }
  }
  return 0;
}
