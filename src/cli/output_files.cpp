#include "output_files.hpp"

#include <fstream>

namespace ximup::cli {

std::filesystem::path resolved_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::path real = std::filesystem::weakly_canonical(path, ec);
  if (ec) real = std::filesystem::absolute(path, ec).lexically_normal();
  return real;
}

// (Not parsed: a path of non-UTF-8 bytes is written with \udcXX escapes, which strict JSON parsers
// such as simdjson refuse. A JSON document that merely starts with '{' (package.json,
// pretty-printed) is not a results file.)
bool is_results_head(std::string_view head, bool more) {
  if (!head.starts_with(R"({"path":)")) return false;
  const std::size_t end = head.find('\n');
  if (end == std::string_view::npos) return !more;  // a first line cut short by a stopped run
  const std::string_view line = head.substr(0, end);
  return line.ends_with('}') && line.find(R"(,"outcome":")") != std::string_view::npos;
}

file_content content_of(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) == 0 || ec) {
    return file_content::none;
  }
  std::ifstream in(path, std::ios::binary);
  std::string head(std::size_t{1} << 20, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  const bool more = !in.eof();
  if (head.starts_with(std::string_view("SQLite format 3\0", 16))) return file_content::state;
  if (is_results_head(head, more)) return file_content::results;
  const std::string_view first = std::string_view(head).substr(0, head.find('\n'));
  // export: {"path":...,"status":"..."...}; failures: "path"<TAB>status<TAB>reason
  if (first.starts_with(R"({"path":)") && first.find(R"(,"status":")") != std::string_view::npos) {
    return file_content::export_lines;
  }
  if (first.starts_with('"') && first.find('\t') != std::string_view::npos) return file_content::export_lines;
  if (head.starts_with(R"({"ximup_version":)")) return file_content::summary;
  if (head.find('\0') != std::string::npos) return file_content::binary;
  return file_content::other;
}

}  // namespace ximup::cli
