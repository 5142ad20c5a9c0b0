// Base64 encoding speed, in bytes of input per second, for every variant this CPU supports, the
// dispatched encode(), OpenSSL's EVP_EncodeBlock and memcpy of the output size (what any encoder
// writing its output once must at least spend), at 1, 16, 64 and 256 KiB, 1 and 8 MiB.
// bench/base64.sh runs it with repetitions and prints the medians as a table.

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "ximup/base64.hpp"

namespace {

namespace b64 = ximup::base64;

// The four sizes, plus 16 KiB and 256 KiB: input and output still fit in a 48 KiB L1 and in a
// 1-2 MiB L2, so those two show what an encoder computes rather than what the memory delivers.
constexpr std::size_t sizes[] = {std::size_t{1} << 10U,   std::size_t{16} << 10U, std::size_t{64} << 10U,
                                 std::size_t{256} << 10U, std::size_t{1} << 20U,  std::size_t{8} << 20U};

std::vector<unsigned char> random_input(std::size_t n) {
  std::mt19937_64 rng(n);
  std::vector<unsigned char> bytes(n);
  for (auto& b : bytes) {
    b = static_cast<unsigned char>(rng());
  }
  return bytes;
}

// Runs `step(dst, src, n)` on a fresh input of `n` bytes and an output of exactly the encoded size.
template <typename Step>
void run(benchmark::State& state, std::size_t n, Step step) {
  const std::vector<unsigned char> src = random_input(n);
  std::vector<unsigned char> dst(b64::encoded_size(n) + 1);  // + 1: EVP_EncodeBlock's NUL
  for (auto _ : state) {
    step(dst.data(), src.data(), n);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}

void register_all() {
  for (const std::size_t n : sizes) {
    std::string size = "/";  // built with += : "/" + to_string() trips GCC 12's -Wrestrict at -O3
    size += std::to_string(n);
    for (const b64::variant v : b64::all_variants) {
      if (!b64::supported(v)) {
        continue;
      }
      benchmark::RegisterBenchmark(
          (std::string(b64::variant_name(v)) + size).c_str(), [v, n](benchmark::State& s) {
            run(s, n, [v](unsigned char* d, const unsigned char* src, std::size_t len) {
              b64::encode_with(v, reinterpret_cast<char*>(d), src, len);
            });
          });
    }
    benchmark::RegisterBenchmark(("encode" + size).c_str(), [n](benchmark::State& s) {
      run(s, n, [](unsigned char* d, const unsigned char* src, std::size_t len) {
        b64::encode(reinterpret_cast<char*>(d), src, len);
      });
    });
    benchmark::RegisterBenchmark(("openssl" + size).c_str(), [n](benchmark::State& s) {
      run(s, n, [](unsigned char* d, const unsigned char* src, std::size_t len) {
        EVP_EncodeBlock(d, src, static_cast<int>(len));
      });
    });
    benchmark::RegisterBenchmark(("memcpy" + size).c_str(), [n](benchmark::State& s) {
      // Copies encoded_size(n) bytes from a buffer of that size; reported per input byte like the rest.
      const std::vector<unsigned char> out_sized = random_input(b64::encoded_size(n));
      run(s, n, [&out_sized](unsigned char* d, const unsigned char*, std::size_t) {
        std::memcpy(d, out_sized.data(), out_sized.size());
      });
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::AddCustomContext("base64_active_variant", std::string(b64::active_variant_name()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
