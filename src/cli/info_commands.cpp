// `ximup presets` and `ximup version`.
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <boost/version.hpp>
#include <cstdio>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "ximup/base64.hpp"
#include "ximup/endpoint.hpp"
#include "ximup/resize.hpp"

namespace ximup::cli {

void print_version() {
  std::printf("ximup %s\n", XIMUP_VERSION);
  std::printf("base64: %.*s\n", static_cast<int>(base64::active_variant_name().size()),
              base64::active_variant_name().data());
  std::printf("openssl: %s\n", OpenSSL_version(OPENSSL_VERSION));
  std::printf("boost: %d.%d.%d\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100);
  std::printf("resize: %s\n", resize_library_version().c_str());
}

std::function<int()> add_presets_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("presets", "List endpoint presets with their paths and fields");
  auto base = std::make_shared<std::string>("https://api.ximilar.com/");
  cmd->add_option("--api-base", *base, "Base URL the preset paths are relative to")->capture_default_str();
  cmd->footer("Example:\n  ximup presets\n  ximup upload photos/ --endpoint tagging");
  return [base] {
    // Joined as `upload` joins them: a base without its final slash still names a directory.
    if (!base->starts_with("https://") && !base->starts_with("http://")) {
      spdlog::error("--api-base '{}' must be a base URL such as https://api.ximilar.com/", *base);
      return exit_code::usage;
    }
    if (base->back() != '/') base->push_back('/');
    for (const auto& p : presets()) {
      std::printf("%-18.*s %s%.*s\n", static_cast<int>(p.name.size()), p.name.data(), base->c_str(),
                  static_cast<int>(p.path.size()), p.path.data());
      std::printf("%-18s %.*s", "", static_cast<int>(p.description.size()), p.description.data());
      if (!p.fields_help.empty()) {
        std::printf("; fields: %.*s", static_cast<int>(p.fields_help.size()), p.fields_help.data());
      }
      std::printf("; --resize auto: %u px\n", p.suggested_resize);
    }
    return exit_code::ok;
  };
}

std::function<int()> add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print version, SIMD variant, OpenSSL and Boost versions");
  cmd->footer("Example:\n  ximup version");
  return [] {
    print_version();
    return exit_code::ok;
  };
}

}  // namespace ximup::cli
