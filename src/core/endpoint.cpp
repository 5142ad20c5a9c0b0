#include "ximup/endpoint.hpp"

#include <arpa/inet.h>
#include <algorithm>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <utility>

#include "ximup/json_escape.hpp"
#include "ximup/response.hpp"

namespace ximup {
namespace {

const std::vector<preset> preset_table = {
    {"tagging", "tagging/generic/v2/tags", "lang, tagging_mode", "generic photo tagging"},
    {"fashion", "tagging/fashion/v2/tags", "aggregate_labels, profile", "fashion tagging"},
    {"homedecor", "tagging/homedecor/v2/tags", "", "home decor tagging"},
    {"colors", "dom_colors/generic/v2/dominantcolor", "colors, color_names", "dominant colors (generic)"},
    {"product-colors", "dom_colors/product/v2/dominantcolor", "colors, color_names",
     "dominant colors (product)"},
    {"classify", "recognition/v2/classify/", "task_id (--task-id, required), version, store_images",
     "custom image recognition", 512},
    {"detect", "detection/v2/detect/", "task_id (--task-id, required), version, keep_prob",
     "custom object detection", 1024},
    {"similarity-insert", "similarity/{type}/v2/insert",
     "header collection-id (--collection-id, required); --collection-type photos|products|fashion|custom",
     "insert into a similarity collection", 512},
};

endpoint_result fail(std::string message) {
  return {std::nullopt, std::move(message)};
}

}  // namespace

const std::vector<preset>& presets() {
  return preset_table;
}

const preset* find_preset(std::string_view endpoint) {
  for (const auto& p : preset_table) {
    if (p.name == endpoint) return &p;
  }
  return nullptr;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "localhost.") return true;
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24U) == 127U;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  return false;
}

endpoint_result resolve_endpoint(const endpoint_options& options) {
  std::string url_text;
  endpoint ep;
  const preset* chosen = find_preset(options.endpoint);
  if (chosen != nullptr) {
    std::string path(chosen->path);
    if (chosen->name == "similarity-insert") {
      const auto& t = options.collection_type;
      if (t != "photos" && t != "products" && t != "fashion" && t != "custom") {
        return fail("--collection-type must be photos, products, fashion or custom, not '" + t + "'");
      }
      path.replace(path.find("{type}"), 6, t);
      if (!options.collection_id || options.collection_id->empty()) {
        return fail("the similarity-insert preset needs --collection-id ID");
      }
      ep.headers.emplace_back("collection-id", *options.collection_id);
    }
    if ((chosen->name == "classify" || chosen->name == "detect") &&
        (!options.task_id || options.task_id->empty())) {
      return fail("the " + std::string(chosen->name) + " preset needs --task-id ID");
    }
    std::string base = options.api_base;
    if (base.empty() || base.back() != '/') base.push_back('/');
    url_text = base + path;
  } else if (options.endpoint.find("://") != std::string::npos) {
    url_text = options.endpoint;
  } else {
    std::string names;
    for (const auto& p : preset_table) names += (names.empty() ? "" : ", ") + std::string(p.name);
    return fail("unknown endpoint '" + options.endpoint + "': use a preset (" + names +
                ") or a full https:// URL");
  }

  auto parsed = boost::urls::parse_absolute_uri(url_text);
  if (!parsed) {
    // Say which input made it: the preset's base or the endpoint given as a URL.
    const bool from_base = options.endpoint.find("://") == std::string::npos;
    return fail("malformed URL '" + url_text + "' (" + parsed.error().message() + "): " +
                (from_base ? "--api-base '" + options.api_base +
                                 "' must be a base URL such as https://api.ximilar.com/"
                           : "--endpoint must be a preset or a full URL such as https://host/path"));
  }
  const auto& u = *parsed;
  const std::string scheme(u.scheme());
  if (scheme != "https" && scheme != "http") {
    return fail("unsupported URL scheme '" + scheme + "' in '" + url_text + "': use https://");
  }
  if (u.has_userinfo()) {
    return fail("the URL must not carry credentials; pass the token with XIMILAR_API_TOKEN or --token-file");
  }
  if (u.encoded_host().empty()) return fail("the URL '" + url_text + "' has no host");
  ep.tls = scheme == "https";
  ep.host = std::string(u.encoded_host());
  if (u.host_type() == boost::urls::host_type::ipv6) ep.host = u.host_ipv6_address().to_string();
  ep.port = u.has_port() ? std::string(u.port()) : (ep.tls ? "443" : "80");
  ep.target = std::string(u.encoded_path());
  if (ep.target.empty()) ep.target = "/";
  if (u.has_query()) ep.target += "?" + std::string(u.encoded_query());
  ep.loopback = is_loopback_host(ep.host);
  ep.url = url_text;
  if (!ep.tls && !ep.loopback && !options.allow_insecure_http) {
    return fail("refusing plain http:// to " + ep.host +
                ": the token would travel unencrypted; use https:// or pass --allow-insecure-http");
  }

  if (chosen != nullptr && (chosen->name == "classify" || chosen->name == "detect")) {
    ep.fields_json += ",\"task_id\":" + json_string(*options.task_id);
  }
  std::vector<std::string> keys;  // a key twice would make the body's JSON ambiguous
  if (chosen != nullptr && (chosen->name == "classify" || chosen->name == "detect"))
    keys.emplace_back("task_id");
  for (const auto& f : options.fields) {
    const auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail("--field '" + f + "' must be key=JSON, e.g. --field lang='\"en\"' or --field colors=6");
    }
    const std::string key = f.substr(0, eq);
    const std::string value = f.substr(eq + 1);
    if (key == "records") return fail("--field records=... is not allowed: ximup writes the records");
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      return fail("--field " + key + " is given twice (or also set by the preset): give each field once");
    }
    keys.push_back(key);
    if (!is_valid_json(value)) {
      std::string message = "--field ";
      message.append(key).append(": '").append(value).append("' is not valid JSON (");
      // A quoted value that still fails holds bytes that are not UTF-8 (JSON text must be UTF-8).
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        message.append("a string must be UTF-8 text with JSON escapes)");
      } else {
        message.append("strings need quotes: ").append(key).append("='\"text\"')");
      }
      return fail(std::move(message));
    }
    ep.fields_json += "," + json_string(key) + ":" + value;
  }
  return {std::move(ep), {}};
}

}  // namespace ximup
