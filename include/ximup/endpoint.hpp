#pragma once
/// Endpoints: the presets of api.md and full URLs, checked before any work starts. Pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ximup {

struct preset {
  std::string_view name;
  std::string_view path;         ///< relative to --api-base; `{type}` is the collection type
  std::string_view fields_help;  ///< endpoint fields it takes
  std::string_view description;
  /// The --resize the official client uses for this API (`--resize auto`): 600 px shorter side,
  /// 512 for recognition and search, 1024 for detection.
  std::uint32_t suggested_resize = 600;
};

/// Every preset, in the order `ximup presets` prints them.
[[nodiscard]] const std::vector<preset>& presets();

/// The preset named `endpoint`, or nullptr (a full URL, or an unknown name).
[[nodiscard]] const preset* find_preset(std::string_view endpoint);

struct endpoint_options {
  std::string endpoint;  ///< a preset name or a full http(s) URL
  std::string api_base = "https://api.ximilar.com/";
  std::optional<std::string> task_id;        ///< classify, detect
  std::optional<std::string> collection_id;  ///< similarity-insert (header collection-id)
  std::string collection_type = "products";  ///< similarity-insert: photos|products|fashion|custom
  std::vector<std::string> fields;           ///< --field key=JSON
  bool allow_insecure_http = false;
};

struct endpoint {
  std::string url;  ///< the full URL, for messages
  bool tls = true;
  std::string host;
  std::string port;
  std::string target;  ///< path and query
  bool loopback = false;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra request headers
  std::string fields_json;  ///< endpoint fields as `,"key":value...` (empty when none)
};

struct endpoint_result {
  std::optional<endpoint> value;
  std::string error;  ///< what is wrong and how to fix it, when !value
};

[[nodiscard]] endpoint_result resolve_endpoint(const endpoint_options& options);

/// True for `localhost`, 127.0.0.0/8 and ::1.
[[nodiscard]] bool is_loopback_host(std::string_view host);

}  // namespace ximup
