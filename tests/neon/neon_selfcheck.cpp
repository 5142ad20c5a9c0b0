// Self-check of the ARM64 build of ximup_base64, run under qemu-aarch64 by scripts/test-neon.sh
// (no gtest or OpenSSL in the cross environment). Checks the NEON encoder, the dispatch and
// XIMUP_SIMD parsing against a bit-at-a-time reference: every length 0..4096, random lengths up
// to 1 MiB, unaligned pointers, and page-guarded exact-size buffers (an overrun faults).
// Prints "N passed, M failed" and exits non-zero on any failure.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ximup/base64.hpp"

namespace {

namespace b64 = ximup::base64;

int passed = 0;
int failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAILED: %s\n", what.c_str());
  }
}

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

std::vector<unsigned char> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<unsigned char> bytes(n);
  for (auto& b : bytes) {
    b = static_cast<unsigned char>(rng());
  }
  return bytes;
}

// `size` usable bytes that end exactly at a PROT_NONE page; a page before them is PROT_NONE too.
struct guarded {
  explicit guarded(std::size_t size) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t body = (size + page - 1) / page * page;
    length = body + 2 * page;
    base = static_cast<unsigned char*>(mmap(nullptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base == MAP_FAILED || (body != 0 && mprotect(base + page, body, PROT_READ | PROT_WRITE) != 0)) {
      std::perror("mmap");
      std::exit(2);
    }
    data = base + page + body - size;
  }
  guarded(const guarded&) = delete;
  guarded& operator=(const guarded&) = delete;
  ~guarded() { munmap(base, length); }

  unsigned char* base = nullptr;
  unsigned char* data = nullptr;
  std::size_t length = 0;
};

std::string encode_guarded(b64::variant v, const unsigned char* bytes, std::size_t n) {
  guarded src(n);
  if (n != 0) {
    std::memcpy(src.data, bytes, n);
  }
  guarded dst(b64::encoded_size(n));
  char* out = reinterpret_cast<char*>(dst.data);
  const std::size_t written = b64::encode_with(v, out, src.data, n);
  return {out, written};
}

void check_selection() {
  check(b64::supported(b64::variant::neon), "neon is supported on ARM64");
  check(b64::best_variant() == b64::variant::neon, "neon is the best variant on ARM64");
  for (const b64::variant v : {b64::variant::ssse3, b64::variant::avx2, b64::variant::avx512}) {
    const b64::variant_choice choice = b64::choose_variant(b64::variant_name(v));
    check(!b64::supported(v), std::string(b64::variant_name(v)) + " is unsupported on ARM64");
    check(choice.error.find("x86-64 variant") != std::string::npos, "error for " + choice.error);
  }
  check(b64::choose_variant("neon").error.empty(), "XIMUP_SIMD=neon is accepted");
  check(b64::choose_variant("NEON").error.find("unknown base64 variant") != std::string::npos,
        "XIMUP_SIMD=NEON is unknown");
  const char* forced = std::getenv("XIMUP_SIMD");
  const std::string_view expected = forced != nullptr && *forced != '\0' ? forced : "neon";
  check(b64::active_variant_name() == expected, "active variant is " + std::string(expected));
  std::printf("active variant: %s\n", std::string(b64::active_variant_name()).c_str());
}

void check_variant(b64::variant v) {
  const std::string name(b64::variant_name(v));
  const std::vector<unsigned char> bytes = random_bytes(1U << 20U, 42);
  for (std::size_t n = 0; n <= 4096; ++n) {
    check(encode_guarded(v, bytes.data(), n) == reference(bytes.data(), n),
          name + " length " + std::to_string(n));
  }
  std::mt19937_64 rng(7);
  for (int round = 0; round < 12; ++round) {
    const auto n = static_cast<std::size_t>(rng() % bytes.size());
    check(encode_guarded(v, bytes.data(), n) == reference(bytes.data(), n),
          name + " length " + std::to_string(n));
  }
  for (std::size_t src_offset = 0; src_offset < 64; ++src_offset) {
    for (std::size_t dst_offset = 0; dst_offset < 64; dst_offset += 7) {
      const std::size_t n = (src_offset * 131 + dst_offset * 17) % 900;
      std::vector<unsigned char> src(src_offset + n);
      std::memcpy(src.data() + src_offset, bytes.data(), n);
      std::string dst(dst_offset + b64::encoded_size(n), '#');
      b64::encode_with(v, dst.data() + dst_offset, src.data() + src_offset, n);
      check(dst.substr(0, dst_offset) == std::string(dst_offset, '#') &&
                dst.substr(dst_offset) == reference(bytes.data(), n),
            name + " offsets " + std::to_string(src_offset) + "/" + std::to_string(dst_offset));
    }
  }
  std::string via_encode(b64::encoded_size(bytes.size()), '\0');
  b64::encode(via_encode.data(), bytes.data(), bytes.size());
  check(via_encode == reference(bytes.data(), bytes.size()), "encode() on 1 MiB");
}

}  // namespace

int main() {
  check_selection();
  check_variant(b64::variant::neon);
  check_variant(b64::variant::scalar);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
