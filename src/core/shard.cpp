// Sharding by a stable hash of the relative path (see shard.hpp for the exact definition).
#include "ximup/shard.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

namespace ximup {
namespace {

enum class number_error { none, empty, not_digits, too_large };

// A decimal number of at most 32 bits: digits only, nothing else (no sign, space or suffix).
number_error parse_u32(std::string_view text, std::uint32_t& out) {
  if (text.empty()) return number_error::empty;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return number_error::not_digits;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec == std::errc::result_out_of_range) return number_error::too_large;
  if (ec != std::errc{} || end != text.data() + text.size()) return number_error::not_digits;
  return number_error::none;
}

shard_parse_result failure(std::string message) {
  shard_parse_result r;
  r.error = std::move(message);
  return r;
}

shard_parse_result success(std::uint32_t index, std::uint32_t count) {
  shard_parse_result r;
  r.spec = shard_spec{index, count};
  return r;
}

std::string range_hint(std::uint32_t count) {
  return count == 1 ? std::string("the only shard is 0")
                    : "shards run from 0 to " + std::to_string(count - 1);
}

}  // namespace

shard_parse_result parse_shard(std::string_view text) {
  const std::string quoted = "shard '" + std::string(text) + "'";
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return failure("invalid " + quoted + ": expected INDEX/COUNT, e.g. 0/4 for the first of 4 shards");
  }
  const std::string_view index_text = text.substr(0, slash);
  const std::string_view count_text = text.substr(slash + 1);
  std::uint32_t index = 0;
  std::uint32_t count = 0;
  const auto describe = [&](number_error e, std::string_view what) -> std::string {
    switch (e) {
      case number_error::empty:
        return "invalid " + quoted + ": the " + std::string(what) +
               " is missing (expected INDEX/COUNT, e.g. 0/4)";
      case number_error::too_large:
        return "invalid " + quoted + ": the " + std::string(what) + " is too large (at most 4294967295)";
      default:
        return "invalid " + quoted + ": the " + std::string(what) +
               " must be a non-negative decimal integer (expected INDEX/COUNT, e.g. 0/4)";
    }
  };
  if (const auto e = parse_u32(index_text, index); e != number_error::none)
    return failure(describe(e, "index"));
  if (const auto e = parse_u32(count_text, count); e != number_error::none)
    return failure(describe(e, "count"));
  if (count == 0) return failure("invalid " + quoted + ": the shard count must be at least 1");
  if (index >= count) {
    return failure("invalid " + quoted + ": the index must be below the count (" + range_hint(count) + ")");
  }
  return success(index, count);
}

shard_parse_result shard_from_env(std::optional<std::string> job_completion_index, std::uint32_t count) {
  if (!job_completion_index) {
    return failure(
        "JOB_COMPLETION_INDEX is not set (it is set in the pods of a Kubernetes Indexed Job); "
        "pass the shard explicitly with --shard INDEX/COUNT");
  }
  const std::string& text = *job_completion_index;
  const std::string quoted = "JOB_COMPLETION_INDEX='" + text + "'";
  if (count == 0) return failure("the shard count must be at least 1 (set it to the Job's completions)");
  std::uint32_t index = 0;
  switch (parse_u32(text, index)) {
    case number_error::none:
      break;
    case number_error::empty:
      return failure(quoted + " is empty: expected the pod's completion index, a non-negative integer");
    case number_error::too_large:
      return failure(quoted + " is too large (at most 4294967295)");
    case number_error::not_digits:
      return failure(quoted + " is not a non-negative decimal integer");
  }
  if (index >= count) {
    return failure(quoted + " is not below the shard count " + std::to_string(count) + " (" +
                   range_hint(count) + "): the shard count must equal the Job's completions");
  }
  return success(index, count);
}

std::string to_string(shard_spec spec) {
  return std::to_string(spec.index) + "/" + std::to_string(spec.count);
}

std::uint64_t shard_hash(std::string_view relative_path) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(relative_path.data(), relative_path.size(), digest.data(), &size, EVP_sha256(), nullptr) !=
          1 ||
      size < 8) {
    throw std::runtime_error("cannot compute SHA-256 (OpenSSL EVP_Digest failed)");
  }
  std::uint64_t h = 0;
  for (std::size_t i = 0; i < 8; ++i) h = (h << 8U) | digest[i];
  return h;
}

std::uint32_t shard_of(std::string_view relative_path, std::uint32_t count) {
  if (count <= 1) return 0;
  return static_cast<std::uint32_t>(shard_hash(relative_path) % count);
}

bool in_shard(std::string_view relative_path, shard_spec spec) {
  if (spec.count <= 1) return true;
  return shard_of(relative_path, spec.count) == spec.index;
}

}  // namespace ximup
