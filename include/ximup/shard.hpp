#pragma once
/// Sharding: split one upload between N independent runs (pods of a Kubernetes Indexed Job,
/// or N machines), each taking the inputs whose stable hash falls in its shard. Pure.
///
/// The key is the input's relative path: the record's default `_id`, i.e. the path relative to
/// the root it was found under, as raw bytes ('/'-separated, not required to be UTF-8). The same
/// file therefore lands in the same shard on every pod whatever the mount point of the root.
///
/// The hash is fixed forever (changing it would move inputs between shards and make every
/// shard's state disagree with the inputs it is given):
///
///   shard_hash(p) = the first 8 bytes of SHA-256(p), read as a big-endian unsigned 64-bit integer
///   shard of p    = shard_hash(p) % N
///
/// so it can be reproduced anywhere, e.g. in Python:
///   int.from_bytes(hashlib.sha256(p).digest()[:8], "big") % N     (p: the path as bytes)
/// Modulo, not a consistent hash: every shard keeps its own state, so changing N re-partitions
/// the inputs anyway; modulo is what is simplest to check by hand. The bias of `% N` on a 64-bit
/// uniform value is below N / 2^64.
///
/// Every input is in exactly one of the shards 0..N-1 (disjoint, and together they cover all).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ximup {

/// Shard `index` of `count` (0 <= index < count, count >= 1). {0, 1} is "not sharded".
struct shard_spec {
  std::uint32_t index = 0;
  std::uint32_t count = 1;

  friend bool operator==(const shard_spec&, const shard_spec&) = default;
};

/// A spec, or a one-line message saying what is wrong: exactly one of them is set.
struct shard_parse_result {
  std::optional<shard_spec> spec;
  std::string error;  ///< empty on success

  [[nodiscard]] explicit operator bool() const noexcept { return spec.has_value(); }
};

/// Parses "I/N" (`--shard`): decimal digits only (no sign, spaces or suffix), N >= 1, I < N,
/// both within 32 bits. Errors quote the text and say which rule it broke.
[[nodiscard]] shard_parse_result parse_shard(std::string_view text);

/// The shard of a Kubernetes Indexed Job pod: the index from the JOB_COMPLETION_INDEX environment
/// variable (pass its value, nullopt when it is unset) and `count` from an option (the Job's
/// `completions`). Errors when the variable is unset or not a decimal number, when count is 0,
/// or when the index is not below count.
[[nodiscard]] shard_parse_result shard_from_env(std::optional<std::string> job_completion_index,
                                                std::uint32_t count);

/// "I/N", as parse_shard reads it.
[[nodiscard]] std::string to_string(shard_spec spec);

/// First 8 bytes of SHA-256(relative_path), big-endian (see above). Throws std::runtime_error
/// only if OpenSSL cannot compute SHA-256 at all (a broken installation).
[[nodiscard]] std::uint64_t shard_hash(std::string_view relative_path);

/// shard_hash(relative_path) % count; count 0 is taken as 1.
[[nodiscard]] std::uint32_t shard_of(std::string_view relative_path, std::uint32_t count);

/// Whether `relative_path` belongs to `spec`: shard_of(relative_path, spec.count) == spec.index.
/// Always true when spec.count <= 1.
[[nodiscard]] bool in_shard(std::string_view relative_path, shard_spec spec);

}  // namespace ximup
