#pragma once
/// Parsing of API responses (simdjson). Pure functions; thread-safe.
///
/// A records response is `{"records":[{..., "_status":{"code":200,"text":"OK"}}, ...],
/// "status":{"code":200,"text":"OK"}}`; records come back in request order (see api.md).

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ximup {

struct parsed_record {
  int status_code = 0;      ///< `_status.code`
  std::string status_text;  ///< `_status.text` (may be empty)
  /// Every other member of the record object except `_base64`, `_status`, `_id` and `_url`,
  /// minified, as a comma-separated list of `"name":value` members without braces
  /// (e.g. `"_tags":[...],"_width":800`), ready to splice into a JSON object. Empty if none.
  std::string fields_json;
  std::optional<std::string> id;  ///< `_id` as returned (raw bytes), when the record has one
  /// No record of the answer has this record's `_id` (records matched by `_id`): not judged, resend.
  bool missing = false;
};

struct parsed_response {
  std::optional<int> status_code;  ///< top-level `status.code`, when present
  std::string status_text;         ///< top-level `status.text`
  std::vector<parsed_record> records;
};

struct parse_outcome {
  parsed_response response;
  /// Empty on success; otherwise why the body cannot be trusted, e.g. "invalid JSON: ...",
  /// "response has 3 records, request had 4", "record 2 has no _status", "record 1 _id does not
  /// match the request" (records are numbered from 1). Any error means no record result may be
  /// attributed from this body.
  std::string error;
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// Parses a 2xx records response. `sent_ids` are the `_id` values sent, as raw bytes, in request
/// order. A response record whose `_id` is present must equal the sent one (compared after
/// undoing the surrogateescape of json_escape.hpp); a record without `_id` is matched by position.
/// When the records are not in request order, or some are missing or added, but there is one, every one has
/// an
/// `_id`, the sent `_id`s are distinct and each returned one was sent once, they are matched by
/// `_id` instead: `records` is then in request order, with `missing` set where none came back.
[[nodiscard]] parse_outcome parse_records_response(std::string_view body,
                                                   std::span<const std::string> sent_ids);

/// A short, single-line, printable description of an error response body for messages and results:
/// `detail`, or `status.text`, or `message`/`error` when the body is JSON; otherwise the first
/// 200 bytes with control characters and invalid UTF-8 replaced. Never throws.
/// (Control characters become spaces, runs of spaces one space, invalid UTF-8 bytes U+FFFD; text
/// from JSON is cut at 200 bytes too; a cut is marked "..."; an empty body gives "(empty body)".)
[[nodiscard]] std::string describe_error_body(std::string_view body);

/// True when `text` is a valid JSON value (used to validate `--field key=JSON`): strict RFC 8259
/// over UTF-8 (numbers of any size and lone `\uXXXX` surrogates accepted, as Python's json does),
/// nesting at most 512 deep.
[[nodiscard]] bool is_valid_json(std::string_view text);

}  // namespace ximup
