#pragma once
// Deterministic fake analysis results, derived from the SHA-256 of a record's bytes (or of its
// URL): the same image always gets the same tags, colors, labels and boxes. Pure; thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ximup::mock {

using sha256_digest = std::array<unsigned char, 32>;

[[nodiscard]] sha256_digest sha256(std::string_view bytes);
[[nodiscard]] std::string to_hex(const sha256_digest& digest);

// Each appends one `"name":value` member (no leading comma).
void append_tags(std::string& out, const sha256_digest& d, std::string_view vocabulary_name);
void append_fashion_tags(std::string& out, const sha256_digest& d);
void append_dominant_colors(std::string& out, const sha256_digest& d, unsigned colors);
// Appends `"best_label":{...},"labels":[...]`.
void append_classification(std::string& out, const sha256_digest& d);
void append_objects(std::string& out, const sha256_digest& d, std::uint32_t width, std::uint32_t height);

// A UUID-shaped string from two 64-bit values.
[[nodiscard]] std::string fake_uuid(std::uint64_t a, std::uint64_t b);
// Appends `value` with `decimals` digits after the point.
void append_fixed(std::string& out, double value, int decimals);

}  // namespace ximup::mock
