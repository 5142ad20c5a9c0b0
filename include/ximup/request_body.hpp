#pragma once
/// The records payload: `{"records":[{"_id":...,"_base64":"..."},...]<,endpoint fields>}`.
///
/// Records are appended one by one: the JSON around the data is written, the body grows by exactly
/// base64::encoded_size(n), and the encoder writes the data straight into that final place (no
/// intermediate copy of encoded data). Each record's place in the body is kept (record_slot) so a
/// retry or a split can reassemble a smaller body from the same fragments. Pure; thread-safe.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ximup {

/// One input inside a request.
struct record_slot {
  std::string path;         ///< path opened (bytes)
  std::string id;           ///< `_id` sent (bytes)
  std::uint64_t bytes = 0;  ///< file bytes sent
  std::size_t offset = 0;   ///< the record's JSON object is body[offset, offset + length)
  std::size_t length = 0;
  int attempts = 0;       ///< times this record was sent
  bool in_state = false;  ///< marked pending in the state store: its result must be recorded there
  std::string state_key;  ///< the input's key in the state store (absolute path or url); empty without one
  /// Members for the results line written by ximup itself (e.g. `"resize":{...}`), with no
  /// leading comma; empty when none.
  std::string local_fields;
};

/// Writes one body into a string whose memory is reused from request to request (buffer_pool):
/// the string is grown to the expected size first, which zero-fills only the bytes it did not
/// hold before (its old bytes are overwritten, not cleared), then the body is written at a cursor,
/// the encoder straight into each record's final place, and close() cuts the string to the bytes
/// written. (std::string cannot grow without filling before C++23's resize_and_overwrite; filling
/// a whole 2.7 MB body per request, or encoding into a scratch buffer and copying, each cost ~7% of
/// ximup's CPU in perf of bench/upload.sh.)
class body_writer {
 public:
  /// `expected`: the body's planned size (more is allowed: the string grows).
  explicit body_writer(std::string& body, std::size_t expected = 0);
  /// `n` bytes at the cursor for the caller to fill; the cursor moves past them.
  [[nodiscard]] char* claim(std::size_t n);
  void append(std::string_view bytes);
  void push_back(char c) { *claim(1) = c; }
  /// Bytes written so far.
  [[nodiscard]] std::size_t size() const noexcept { return at_; }
  /// Moves the cursor back to `size` (<= size()): drops what was written after it, e.g. a record
  /// whose file failed halfway through.
  void rewind(std::size_t size) noexcept { at_ = size < at_ ? size : at_; }
  /// Cuts the string to the bytes written (request_body::finish calls it).
  void close();

 private:
  std::string& body_;
  std::size_t at_ = 0;
};

class request_body {
 public:
  /// `endpoint_fields` is empty or a list of `"key":value` members with a leading comma.
  explicit request_body(std::string endpoint_fields) : fields_(std::move(endpoint_fields)) {}

  /// Bytes of the body outside the records.
  [[nodiscard]] std::size_t envelope_size() const noexcept;
  /// Bytes one record adds (its object plus a separating comma). `url`: a `_url` record (no data);
  /// `extra_fields`: members with a leading comma written after `_id`.
  [[nodiscard]] static std::size_t record_size(std::string_view id, std::uint64_t file_bytes,
                                               std::string_view url = {},
                                               std::string_view extra_fields = {}) noexcept;

  void begin(body_writer& body) const;
  /// Appends one record and fills slot.offset/length.
  void append_record(body_writer& body, std::span<const unsigned char> data, record_slot& slot,
                     std::string_view extra_fields = {}) const;
  /// append_record in steps, for data read piece by piece: open_data_record, append_data for each
  /// piece (every piece but the last a multiple of 3 bytes long, so that base64 needs no padding
  /// between them), close_data_record with the total. body.rewind(offset before open) undoes it.
  void open_data_record(body_writer& body, record_slot& slot, std::string_view extra_fields = {}) const;
  static void append_data(body_writer& body, std::span<const unsigned char> piece);
  static void close_data_record(body_writer& body, record_slot& slot, std::uint64_t bytes);
  /// Appends a `{"_id":..,"_url":..}` record (the server fetches the image) and fills the slot.
  void append_url_record(body_writer& body, std::string_view url, record_slot& slot,
                         std::string_view extra_fields = {}) const;
  /// Closes the body and the writer.
  void finish(body_writer& body) const;

  /// A new body holding the given records' fragments, copied from `old_body`; updates their offsets.
  [[nodiscard]] std::string assemble(std::string_view old_body, std::span<record_slot> records) const;

 private:
  static void open_record(body_writer& body, record_slot& slot, std::string_view extra_fields);

  std::string fields_;
};

}  // namespace ximup
