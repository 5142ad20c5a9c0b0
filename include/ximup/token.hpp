#pragma once
/// The API token: from XIMILAR_API_TOKEN, --token-file or (with a warning) --token.
/// The token is never logged, never written to results and never part of an error message.

#include <optional>
#include <string>
#include <string_view>

namespace ximup {

enum class auth_scheme { token, jwt, auto_detect };

struct token_sources {
  std::optional<std::string> flag;  ///< --token (visible in `ps`: discouraged)
  std::optional<std::string> file;  ///< --token-file
  std::optional<std::string> env;   ///< XIMILAR_API_TOKEN
};

struct token_result {
  std::optional<std::string> token;
  std::string error;    ///< when !token
  std::string warning;  ///< e.g. about --token
  std::string origin;   ///< where the token came from: "--token", "--token-file 'F'", "XIMILAR_API_TOKEN"
};

/// Precedence: --token, then --token-file, then the environment.
[[nodiscard]] token_result load_token(const token_sources& sources);

/// "Token <t>" or "JWT <t>"; auto picks JWT for tokens of 70 characters or more, as the official client.
[[nodiscard]] std::string authorization_value(std::string_view token, auth_scheme scheme);

}  // namespace ximup
