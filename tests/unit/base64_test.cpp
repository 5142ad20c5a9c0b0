// Base64 encoders: every variant this CPU supports against OpenSSL's EVP_EncodeBlock and the
// scalar encoder, at every length up to 4096, random lengths up to 1 MiB, unaligned pointers and
// exact-size buffers (heap-allocated to the byte for AddressSanitizer, and page-guarded so an
// overrun faults even without it); XIMUP_SIMD parsing; and, for CPUs without AVX-512, a replay of
// the AVX-512 VBMI algorithm's constants with plain integers.

#include "ximup/base64.hpp"

#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

// Private constants of the AVX-512 encoder, replayed below.
#include "../../src/base64/avx512_tables.hpp"

// gtest prints parameters with this (found by ADL): "avx2" rather than "1-byte object <02>".
namespace ximup::base64 {
void PrintTo(variant v, std::ostream* os) {
  *os << variant_name(v);
}
}  // namespace ximup::base64

namespace {

namespace b64 = ximup::base64;
using b64::variant;

std::vector<unsigned char> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<unsigned char> bytes(n);
  for (auto& b : bytes) {
    b = static_cast<unsigned char>(rng());
  }
  return bytes;
}

std::string openssl_encode(const unsigned char* src, std::size_t n) {
  std::string out(b64::encoded_size(n) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), src, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// Encodes into a heap buffer of exactly encoded_size(n) bytes, so ASan reports any overrun.
std::string encode_exact(variant v, const unsigned char* src, std::size_t n) {
  const std::size_t size = b64::encoded_size(n);
  const auto out = std::make_unique<char[]>(size);
  EXPECT_EQ(b64::encode_with(v, out.get(), src, n), size);
  return {out.get(), size};
}

// Position of the first difference, so a failure on a 1 MiB string stays readable.
std::optional<std::size_t> first_difference(const std::string& a, const std::string& b) {
  const std::size_t common = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (a[i] != b[i]) {
      return i;
    }
  }
  return a.size() == b.size() ? std::nullopt : std::optional<std::size_t>{common};
}

#define EXPECT_SAME_ENCODING(actual, expected)                                                    \
  do {                                                                                            \
    const auto diff_ = first_difference((actual), (expected));                                    \
    EXPECT_FALSE(diff_.has_value()) << "sizes " << (actual).size() << " vs " << (expected).size() \
                                    << ", first difference at " << diff_.value_or(0);             \
  } while (false)

// The same text the CLI would print for XIMUP_SIMD=<v>, e.g. "... lacks AVX-512 F, BW and VBMI ...".
std::string skip_reason(variant v) {
  return b64::choose_variant(b64::variant_name(v)).error +
         (v == variant::avx512 ? " [Avx512AlgorithmReplayMatchesScalar checks its constants instead]" : "");
}

// Anonymous memory with PROT_NONE pages on both sides of `size` usable bytes; the usable bytes end
// exactly at the trailing guard page (and with size % page == 0, start exactly after the leading
// one), so any read or write outside them faults.
class guarded_buffer {
 public:
  explicit guarded_buffer(std::size_t size) : size_(size) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t body = (size + page - 1) / page * page;
    length_ = body + 2 * page;
    void* mem = mmap(nullptr, length_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      throw std::runtime_error("mmap failed");
    }
    base_ = static_cast<unsigned char*>(mem);
    if (body != 0 && mprotect(base_ + page, body, PROT_READ | PROT_WRITE) != 0) {
      throw std::runtime_error("mprotect failed");
    }
    data_ = base_ + page + body - size;
  }
  guarded_buffer(const guarded_buffer&) = delete;
  guarded_buffer& operator=(const guarded_buffer&) = delete;
  ~guarded_buffer() { munmap(base_, length_); }

  unsigned char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  unsigned char* base_ = nullptr;
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t length_ = 0;
};

class Base64Variant : public testing::TestWithParam<variant> {
 protected:
  void SetUp() override {
    if (!b64::supported(GetParam())) {
      GTEST_SKIP() << skip_reason(GetParam());
    }
  }
};

TEST_P(Base64Variant, EncodesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(encode_exact(GetParam(), reinterpret_cast<const unsigned char*>(plain.data()), plain.size()),
              encoded);
  }
}

TEST_P(Base64Variant, EncodesNothingFromNullPointers) {
  EXPECT_EQ(b64::encode_with(GetParam(), nullptr, nullptr, 0), 0U);
}

TEST_P(Base64Variant, MatchesOpenSslAndScalarForEveryLengthUpTo4096) {
  const std::vector<unsigned char> bytes = random_bytes(4096, 4096);
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    SCOPED_TRACE("length " + std::to_string(n));
    // The input too is an exact-size heap block, so an over-read past src + n is caught by ASan.
    const auto src = std::make_unique<unsigned char[]>(n);
    std::memcpy(src.get(), bytes.data(), n);
    const std::string actual = encode_exact(GetParam(), src.get(), n);
    EXPECT_SAME_ENCODING(actual, openssl_encode(src.get(), n));
    EXPECT_SAME_ENCODING(actual, encode_exact(variant::scalar, src.get(), n));
    if (testing::Test::HasFailure()) {
      return;
    }
  }
}

TEST_P(Base64Variant, MatchesOpenSslForRandomLengthsUpTo1MiB) {
  std::mt19937_64 rng(20240229);
  for (int round = 0; round < 24; ++round) {
    // Log-uniform lengths: as many short inputs as long ones.
    const auto n =
        static_cast<std::size_t>(std::exp2(std::uniform_real_distribution<double>(0.0, 20.0)(rng)));
    SCOPED_TRACE("length " + std::to_string(n));
    const std::vector<unsigned char> src = random_bytes(n, rng());
    EXPECT_SAME_ENCODING(encode_exact(GetParam(), src.data(), n), openssl_encode(src.data(), n));
  }
  const std::vector<unsigned char> mib = random_bytes(std::size_t{1} << 20U, 1);
  EXPECT_SAME_ENCODING(encode_exact(GetParam(), mib.data(), mib.size()),
                       openssl_encode(mib.data(), mib.size()));
}

TEST_P(Base64Variant, HandlesUnalignedInputAndOutput) {
  const std::vector<unsigned char> bytes = random_bytes(1024, 63);
  for (std::size_t src_offset = 0; src_offset < 64; ++src_offset) {
    for (std::size_t dst_offset = 0; dst_offset < 64; ++dst_offset) {
      const std::size_t n = (src_offset * 131 + dst_offset * 17) % 900;
      SCOPED_TRACE("src offset " + std::to_string(src_offset) + ", dst offset " + std::to_string(dst_offset) +
                   ", length " + std::to_string(n));
      // Both blocks end exactly where the data ends.
      const auto src_block = std::make_unique<unsigned char[]>(src_offset + n);
      std::memcpy(src_block.get() + src_offset, bytes.data(), n);
      const std::size_t size = b64::encoded_size(n);
      const auto dst_block = std::make_unique<char[]>(dst_offset + size);
      std::memset(dst_block.get(), '#', dst_offset);
      b64::encode_with(GetParam(), dst_block.get() + dst_offset, src_block.get() + src_offset, n);
      EXPECT_EQ(std::string(dst_block.get(), dst_offset), std::string(dst_offset, '#'));
      EXPECT_SAME_ENCODING(std::string(dst_block.get() + dst_offset, size),
                           openssl_encode(src_block.get() + src_offset, n));
      if (testing::Test::HasFailure()) {
        return;
      }
    }
  }
}

TEST_P(Base64Variant, NeverTouchesMemoryOutsideItsBuffers) {
  // Without ASan too: input and output end at a PROT_NONE page (an overrun faults), and start
  // right after one when their size is a whole number of pages (an underrun faults).
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 700; ++n) {
    lengths.push_back(n);
  }
  for (const std::size_t n : {page, 3 * page, 4 * page, 12 * page}) {
    lengths.push_back(n);
  }
  const std::vector<unsigned char> bytes = random_bytes(12 * page, 7);
  for (const std::size_t n : lengths) {
    SCOPED_TRACE("length " + std::to_string(n));
    guarded_buffer src(n);
    if (n != 0) {
      std::memcpy(src.data(), bytes.data(), n);
    }
    guarded_buffer dst(b64::encoded_size(n));
    char* out = reinterpret_cast<char*>(dst.data());
    ASSERT_EQ(b64::encode_with(GetParam(), out, src.data(), n), dst.size());
    EXPECT_SAME_ENCODING(std::string(out, dst.size()), openssl_encode(src.data(), n));
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, Base64Variant, testing::ValuesIn(b64::all_variants),
                         [](const testing::TestParamInfo<variant>& param) {
                           return std::string(b64::variant_name(param.param));
                         });

TEST(Base64, EncodedSizeCountsPadding) {
  EXPECT_EQ(b64::encoded_size(0), 0U);
  EXPECT_EQ(b64::encoded_size(1), 4U);
  EXPECT_EQ(b64::encoded_size(3), 4U);
  EXPECT_EQ(b64::encoded_size(4), 8U);
  EXPECT_EQ(b64::encoded_size(1U << 20U), 1398104U);
}

TEST(Base64, EncodeUsesTheActiveVariantAndMatchesOpenSsl) {
  const std::vector<unsigned char> src = random_bytes(100000, 3);
  std::string out(b64::encoded_size(src.size()), '\0');
  EXPECT_EQ(b64::encode(out.data(), src.data(), src.size()), out.size());
  EXPECT_SAME_ENCODING(out, openssl_encode(src.data(), src.size()));
  const b64::variant_choice active = b64::choose_variant(b64::active_variant_name());
  EXPECT_EQ(active.error, "") << "the active variant is a supported one";
}

TEST(Base64, ScalarIsAlwaysSupportedAndBestIsSupported) {
  EXPECT_TRUE(b64::supported(variant::scalar));
  EXPECT_TRUE(b64::supported(b64::best_variant()));
#if defined(__x86_64__)
  EXPECT_FALSE(b64::supported(variant::neon));
#elif defined(__aarch64__)
  EXPECT_TRUE(b64::supported(variant::neon));
  EXPECT_FALSE(b64::supported(variant::avx2));
#endif
}

// The AVX-512 VBMI encoder is vpermb(spread_index) -> vpmultishiftqb(field_shift) -> vpermb
// (alphabet). Replaying those instructions' documented semantics on integers checks its constants
// on any CPU; on CPUs with AVX-512 the Base64Variant tests run the real instructions as well.
TEST(Base64, Avx512AlgorithmReplayMatchesScalar) {
  namespace avx512 = ximup::base64::detail::avx512;
  constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::vector<unsigned char> bytes = random_bytes(std::size_t{48} * 64, 512);
  for (std::size_t block = 0; block < 64; ++block) {
    const unsigned char* in = bytes.data() + 48 * block;
    std::uint8_t lanes[64];
    for (std::size_t p = 0; p < 64; ++p) {
      lanes[p] = in[avx512::spread_index[p] & 63U];  // vpermb: index bits 5..0
    }
    std::string out(64, '\0');
    for (std::size_t q = 0; q < 8; ++q) {
      std::uint64_t word = 0;
      std::memcpy(&word, lanes + 8 * q, 8);
      for (std::size_t j = 0; j < 8; ++j) {
        // vpmultishiftqb: 8 bits from the word rotated right by the control's bits 5..0.
        const unsigned shift = avx512::field_shift[j] & 63U;
        const std::uint64_t rotated = shift == 0 ? word : (word >> shift) | (word << (64U - shift));
        out[8 * q + j] = alphabet[rotated & 63U];  // vpermb on the alphabet: index bits 5..0
      }
    }
    EXPECT_EQ(out, encode_exact(variant::scalar, in, 48)) << "block " << block;
  }
}

TEST(Base64, ChooseVariantTakesBestForEmptyOrAuto) {
  for (const std::string_view request : {"", "auto"}) {
    const b64::variant_choice choice = b64::choose_variant(request);
    EXPECT_EQ(choice.error, "");
    EXPECT_EQ(choice.chosen, b64::best_variant());
  }
}

TEST(Base64, ChooseVariantAcceptsEverySupportedName) {
  for (const variant v : b64::all_variants) {
    if (!b64::supported(v)) {
      continue;
    }
    const b64::variant_choice choice = b64::choose_variant(b64::variant_name(v));
    EXPECT_EQ(choice.error, "") << b64::variant_name(v);
    EXPECT_EQ(choice.chosen, v);
  }
}

TEST(Base64, ChooseVariantRejectsUnknownNames) {
  for (const std::string_view request : {"avx3", "AVX2", " avx2", "sse", "scalar,avx2"}) {
    const b64::variant_choice choice = b64::choose_variant(request);
    EXPECT_NE(choice.error.find("XIMUP_SIMD=" + std::string(request) + ": unknown base64 variant"),
              std::string::npos)
        << choice.error;
    EXPECT_NE(choice.error.find("auto, scalar, ssse3, avx2, avx512, neon"), std::string::npos)
        << choice.error;
  }
}

TEST(Base64, ChooseVariantRejectsUnsupportedVariants) {
  bool checked_one = false;
  for (const variant v : b64::all_variants) {
    if (b64::supported(v)) {
      continue;
    }
    checked_one = true;
    const b64::variant_choice choice = b64::choose_variant(b64::variant_name(v));
    EXPECT_NE(choice.error.find("not supported here"), std::string::npos) << choice.error;
    EXPECT_NE(choice.error.find("supported: scalar"), std::string::npos) << choice.error;
  }
  EXPECT_TRUE(checked_one) << "every build lacks another architecture's variant";
}

// Restores XIMUP_SIMD and the active variant after a test that changes them.
class env_guard {
 public:
  env_guard() {
    if (const char* old = std::getenv("XIMUP_SIMD"); old != nullptr) {
      old_ = old;
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;
  ~env_guard() {
    if (old_) {
      setenv("XIMUP_SIMD", old_->c_str(), 1);
    } else {
      unsetenv("XIMUP_SIMD");
    }
    (void)b64::select_variant();
  }

 private:
  std::optional<std::string> old_;
};

TEST(Base64, SelectVariantReadsXimupSimd) {
  const env_guard guard;
  setenv("XIMUP_SIMD", "scalar", 1);
  EXPECT_EQ(b64::select_variant(), "");
  EXPECT_EQ(b64::active_variant_name(), "scalar");

  setenv("XIMUP_SIMD", "bogus", 1);
  EXPECT_NE(b64::select_variant(), "");
  EXPECT_EQ(b64::active_variant_name(), "scalar") << "a rejected choice leaves the variant unchanged";

  unsetenv("XIMUP_SIMD");
  EXPECT_EQ(b64::select_variant(), "");
  EXPECT_EQ(b64::active_variant_name(), b64::variant_name(b64::best_variant()));

  const std::string text = "ximup";
  std::string out(b64::encoded_size(text.size()), '\0');
  b64::encode(out.data(), text.data(), text.size());
  EXPECT_EQ(out, "eGltdXA=");
}

}  // namespace
