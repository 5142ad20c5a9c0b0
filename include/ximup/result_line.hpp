#pragma once
/// One line of the results file (JSONL): exactly one per input. Pure; thread-safe.
///
/// Fields, in order: `path` (bytes, json_escape.hpp rules), `_id`, `outcome` ("ok" or "failed"),
/// `http_status` (0 when no HTTP response was received), `status_code` and `status_text` (the
/// record's own `_status`, omitted when absent), `attempts`, `bytes` (file size sent or seen),
/// `error` (failed only: what happened and what to do), ximup's own extra members (`resize`), then the
/// record's result fields as the API returned them (`_tags`, `_dominant_colors`, `best_label`, ...; never
/// `_base64`).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ximup {

enum class outcome { ok, failed };

struct result_record {
  std::string_view path;
  std::string_view id;
  outcome result = outcome::failed;
  int http_status = 0;
  std::optional<int> status_code;
  std::string_view status_text;
  int attempts = 0;
  std::uint64_t bytes = 0;
  std::string_view error;         ///< failed only
  std::string_view fields_json;   ///< parsed_record::fields_json
  std::string_view local_fields;  ///< ximup's own members (`"resize":{...}`), no leading comma
};

/// The JSON line for `r`, ending in '\n'.
[[nodiscard]] std::string format_result_line(const result_record& r);

/// Whether `name` is one of the members ximup itself writes in a result line before the record's
/// fields (path, outcome, error, ...): a record field of that name would make the key appear twice
/// (JSON readers keep the last one), so manifests refuse it and a response's copy is not kept.
[[nodiscard]] bool is_result_line_key(std::string_view name) noexcept;

}  // namespace ximup
