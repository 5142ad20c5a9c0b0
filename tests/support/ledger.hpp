#pragma once
// Test support: read ximup-mock's ledger (docs/mock.md, "Ledger"): one JSON line per record the
// mock answered 200 or 400, with the SHA-256 of the decoded bytes. `_id` keys are the original
// bytes (surrogate escapes for non-UTF-8 names undone, see json_lines.hpp).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/json_lines.hpp"
#include "support/process.hpp"

namespace ximup::test {

struct ledger_line {
  std::optional<std::string> id;  ///< the record's `_id` (bytes); nullopt when it had none or not a string
  std::optional<std::string> sha256;  ///< hex; nullopt for invalid base64 and `_url` records
  int status = 0;                     ///< the record's `_status` code: 200 or 400
  std::uint64_t request = 0;          ///< the mock's request number
};

/// Every line of the ledger, in file order. A line that is not JSON is a test failure.
inline std::vector<ledger_line> read_ledger(const std::filesystem::path& ledger) {
  std::vector<ledger_line> out;
  simdjson::dom::parser parser;
  std::istringstream in(read_text(ledger));
  for (std::string line; std::getline(in, line);) {
    simdjson::dom::element doc;
    if (parser.parse(lenient(line)).get(doc) != simdjson::SUCCESS) {
      ADD_FAILURE() << "ledger line not JSON: " << line;
      continue;
    }
    ledger_line l;
    std::string_view text;
    if (doc["_id"].get(text) == simdjson::SUCCESS) l.id = bytes(text);
    if (doc["sha256"].get(text) == simdjson::SUCCESS) l.sha256 = std::string(text);
    int64_t status = 0;
    if (doc["status"].get(status) == simdjson::SUCCESS) l.status = static_cast<int>(status);
    uint64_t request = 0;
    if (doc["request"].get(request) == simdjson::SUCCESS) l.request = request;
    out.push_back(std::move(l));
  }
  return out;
}

/// `_id` -> SHA-256 of every record the mock accepted as an image (status 200); an `_id` sent
/// several times appears several times.
inline std::multimap<std::string, std::string> accepted_hashes(const std::filesystem::path& ledger) {
  std::multimap<std::string, std::string> out;
  for (auto& l : read_ledger(ledger)) {
    if (l.status == 200 && l.id && l.sha256) out.emplace(std::move(*l.id), std::move(*l.sha256));
  }
  return out;
}

/// `_id` -> number of ledger lines (any status) with that `_id`.
inline std::map<std::string, int> ledger_counts(const std::filesystem::path& ledger) {
  std::map<std::string, int> out;
  for (auto& l : read_ledger(ledger)) {
    if (l.id) ++out[*l.id];
  }
  return out;
}

/// The sum of the counts: ledger lines with an `_id`.
inline std::size_t total(const std::map<std::string, int>& counts) {
  std::size_t n = 0;
  for (const auto& [id, c] : counts) n += static_cast<std::size_t>(c);
  return n;
}

}  // namespace ximup::test
