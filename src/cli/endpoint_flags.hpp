#pragma once
// The flags that name an endpoint (preset or URL, its fields and headers); shared by `upload` and
// by the state commands, which find their job in the state file by the same endpoint.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "ximup/endpoint.hpp"

namespace ximup::cli {

struct endpoint_flags {
  std::string endpoint;
  std::string api_base = "https://api.ximilar.com/";
  std::string task_id;
  std::string collection_id;
  std::string collection_type = "products";
  std::vector<std::string> fields;
  bool allow_insecure_http = false;

  void add_to(CLI::App& cmd);
  [[nodiscard]] endpoint_result resolve() const;
};

}  // namespace ximup::cli
