#include "ximup/token.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

namespace ximup {
namespace {

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

bool printable_token(std::string_view t) {
  for (const char c : t) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

}  // namespace

token_result load_token(const token_sources& sources) {
  token_result out;
  std::string token;
  std::string origin;
  if (sources.flag) {
    token = trim(*sources.flag);
    origin = "--token";
    out.warning =
        "--token puts the API token on the command line, where other users can see it in `ps`; "
        "prefer XIMILAR_API_TOKEN or --token-file";
  } else if (sources.file) {
    std::error_code kind_error;
    if (std::filesystem::is_directory(*sources.file, kind_error)) {
      out.error = "--token-file '" + *sources.file + "' is a directory: give the file that holds the token";
      return out;
    }
    std::ifstream in(*sources.file, std::ios::binary);
    if (!in) {
      out.error = "cannot read --token-file '" + *sources.file + "': " + std::strerror(errno);
      return out;
    }
    std::ostringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    // A file saved by an editor that starts it with a UTF-8 byte order mark (Notepad): not the token's.
    if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
    token = trim(text);
    origin = "--token-file '" + *sources.file + "'";
  } else if (sources.env) {
    token = trim(*sources.env);
    origin = "XIMILAR_API_TOKEN";
  } else {
    out.error = "no API token: set XIMILAR_API_TOKEN or pass --token-file FILE";
    return out;
  }
  if (token.empty()) {
    out.error = origin + " is empty";
    return out;
  }
  if (!printable_token(token)) {
    out.error = origin + " holds spaces or control characters inside the token";
    return out;
  }
  out.token = std::move(token);
  out.origin = std::move(origin);
  return out;
}

std::string authorization_value(std::string_view token, auth_scheme scheme) {
  const bool jwt = scheme == auth_scheme::jwt || (scheme == auth_scheme::auto_detect && token.size() >= 70);
  std::string value = jwt ? "JWT " : "Token ";
  value.append(token);
  return value;
}

}  // namespace ximup
