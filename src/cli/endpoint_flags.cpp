#include "endpoint_flags.hpp"

namespace ximup::cli {

void endpoint_flags::add_to(CLI::App& cmd) {
  cmd.add_option("-e,--endpoint", endpoint,
                 "A preset (see `ximup presets`) or a full https:// URL (required)");
  cmd.add_option("--api-base", api_base, "Base URL for presets")->capture_default_str();
  cmd.add_option("--task-id", task_id, "Task id for the classify and detect presets");
  cmd.add_option("--collection-id", collection_id, "Collection id for similarity-insert");
  cmd.add_option("--collection-type", collection_type, "photos|products|fashion|custom for similarity-insert")
      ->capture_default_str();
  cmd.add_option("--field", fields,
                 "Endpoint field beside records, key=JSON (repeatable), e.g. lang='\"en\"'");
  cmd.add_flag("--allow-insecure-http", allow_insecure_http,
               "Allow plain http:// to hosts other than loopback");
}

endpoint_result endpoint_flags::resolve() const {
  if (endpoint.empty()) {
    endpoint_result missing;
    missing.error =
        "--endpoint is required: a preset (see `ximup presets`) or a URL, as a flag, XIMUP_ENDPOINT or "
        "`endpoint` in the config file";
    return missing;
  }
  endpoint_options eo;
  eo.endpoint = endpoint;
  eo.api_base = api_base;
  if (!task_id.empty()) eo.task_id = task_id;
  if (!collection_id.empty()) eo.collection_id = collection_id;
  eo.collection_type = collection_type;
  eo.fields = fields;
  eo.allow_insecure_http = allow_insecure_http;
  return resolve_endpoint(eo);
}

}  // namespace ximup::cli
