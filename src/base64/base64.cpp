// Dispatch: one atomic function pointer, loaded relaxed on every encode() (a plain load on x86-64
// and ARM64) and called indirectly. It starts at a resolver that, on first use, picks the variant
// exactly as select_variant() does (an invalid XIMUP_SIMD falls back to the best variant there,
// since encode() cannot fail: the CLI calls select_variant() first to report it).

#include "ximup/base64.hpp"

#include <atomic>
#include <cstdlib>
#include <utility>

#include "encoders.hpp"

#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace ximup::base64 {
namespace {

using detail::encode_fn;

// Compiled in and runnable on this CPU (the OS saves the wider registers too: the compiler's
// runtime checks XCR0 before reporting AVX2 or AVX-512).
bool cpu_has(variant v) noexcept {
  switch (v) {
    case variant::scalar:
      return true;
#if defined(__x86_64__)
    case variant::ssse3:
      __builtin_cpu_init();
      return __builtin_cpu_supports("ssse3") != 0;
    case variant::avx2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") != 0;
    case variant::avx512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0 &&
             __builtin_cpu_supports("avx512vbmi") != 0;
#endif
#if defined(__aarch64__)
    case variant::neon:
      return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#endif
    default:
      return false;
  }
}

encode_fn encoder_of(variant v) noexcept {
  switch (v) {
#if defined(__x86_64__)
    case variant::ssse3:
      return &detail::encode_ssse3;
    case variant::avx2:
      return &detail::encode_avx2;
    case variant::avx512:
      return &detail::encode_avx512;
#endif
#if defined(__aarch64__)
    case variant::neon:
      return &detail::encode_neon;
#endif
    default:
      return &detail::encode_scalar;
  }
}

// Why `v` cannot run here, for the error message.
std::string_view missing_reason(variant v) noexcept {
#if defined(__x86_64__)
  switch (v) {
    case variant::ssse3:
      return "this CPU lacks SSSE3";
    case variant::avx2:
      return "this CPU or OS lacks AVX2";
    case variant::avx512:
      return "this CPU or OS lacks AVX-512 F, BW and VBMI";
    case variant::neon:
      return "neon is an ARM64 variant and this is an x86-64 build";
    default:
      return "not built in";
  }
#elif defined(__aarch64__)
  if (v == variant::neon) {
    return "this CPU lacks Advanced SIMD";
  }
  return "it is an x86-64 variant and this is an ARM64 build";
#else
  (void)v;
  return "this build has only the scalar encoder";
#endif
}

std::size_t resolve_and_encode(char* dst, const unsigned char* src, std::size_t n) noexcept;

std::atomic<encode_fn> active_encoder{&resolve_and_encode};
std::atomic<variant> active{variant::scalar};
std::atomic<bool> resolved{false};

void activate(variant v) noexcept {
  active.store(v, std::memory_order_relaxed);
  active_encoder.store(encoder_of(v), std::memory_order_relaxed);
  resolved.store(true, std::memory_order_release);
}

variant_choice choose_from_env() {
  const char* request = std::getenv("XIMUP_SIMD");  // NOLINT(concurrency-mt-unsafe): read-only use
  return choose_variant(request == nullptr ? std::string_view{} : std::string_view{request});
}

// Idempotent: concurrent first callers all compute the same choice.
variant resolve_once() noexcept {
  if (!resolved.load(std::memory_order_acquire)) {
    variant v = best_variant();
    try {
      const variant_choice choice = choose_from_env();
      if (choice.error.empty()) {
        v = choice.chosen;
      }
    } catch (...) {  // only std::bad_alloc when building the message: keep the best variant
    }
    activate(v);
  }
  return active.load(std::memory_order_relaxed);
}

std::size_t resolve_and_encode(char* dst, const unsigned char* src, std::size_t n) noexcept {
  return encoder_of(resolve_once())(dst, src, n);
}

std::string supported_list() {
  std::string list;
  for (const variant v : all_variants) {
    if (supported(v)) {
      list += list.empty() ? "" : ", ";
      list += variant_name(v);
    }
  }
  return list;
}

}  // namespace

std::size_t encode(char* dst, const void* src, std::size_t n) noexcept {
  return active_encoder.load(std::memory_order_relaxed)(dst, static_cast<const unsigned char*>(src), n);
}

std::string_view active_variant_name() noexcept {
  return variant_name(resolve_once());
}

std::string_view variant_name(variant v) noexcept {
  switch (v) {
    case variant::scalar:
      return "scalar";
    case variant::ssse3:
      return "ssse3";
    case variant::avx2:
      return "avx2";
    case variant::avx512:
      return "avx512";
    case variant::neon:
      return "neon";
  }
  return "unknown";
}

bool supported(variant v) noexcept {
  // Each answer is fixed for the life of the process; compute them once.
  static const std::array<bool, all_variants.size()> table = [] {
    std::array<bool, all_variants.size()> t{};
    for (std::size_t i = 0; i < all_variants.size(); ++i) {
      t[i] = cpu_has(all_variants[i]);
    }
    return t;
  }();
  const auto i = static_cast<std::size_t>(v);
  return i < table.size() && table[i];
}

variant best_variant() noexcept {
  for (const variant v : {variant::avx512, variant::avx2, variant::ssse3, variant::neon}) {
    if (supported(v)) {
      return v;
    }
  }
  return variant::scalar;
}

std::size_t encode_with(variant v, char* dst, const void* src, std::size_t n) noexcept {
  const encode_fn fn = supported(v) ? encoder_of(v) : &detail::encode_scalar;
  return fn(dst, static_cast<const unsigned char*>(src), n);
}

variant_choice choose_variant(std::string_view request) {
  if (request.empty() || request == "auto") {
    return {best_variant(), {}};
  }
  for (const variant v : all_variants) {
    if (request != variant_name(v)) {
      continue;
    }
    if (supported(v)) {
      return {v, {}};
    }
    return {variant::scalar, "XIMUP_SIMD=" + std::string(request) + ": base64 variant not supported here (" +
                                 std::string(missing_reason(v)) + "); supported: " + supported_list()};
  }
  return {variant::scalar,
          "XIMUP_SIMD=" + std::string(request) +
              ": unknown base64 variant; expected one of auto, scalar, ssse3, avx2, avx512, neon"};
}

std::string select_variant() {
  variant_choice choice = choose_from_env();
  if (choice.error.empty()) {
    activate(choice.chosen);
  }
  return std::move(choice.error);
}

}  // namespace ximup::base64
