// resize_init(), resize_library_version() and shrink_image() for ximup: they load the resize
// module (resize_module.hpp) on first use and call into it.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "resize_module.hpp"
#include "ximup/resize.hpp"

namespace ximup {
namespace {

struct loaded_module {
  std::once_flag once;
  const detail::resize_module_api* api = nullptr;
  std::string error;  ///< why api is null
  std::string fallback;
};

loaded_module& module() {
  static loaded_module m;
  return m;
}

// $XIMUP_RESIZE_MODULE alone when set; else beside the executable, then ../lib/ximup/ from it,
// then the fallback a test or benchmark binary registered.
std::vector<std::string> candidates(const std::string& fallback) {
  if (const char* env = std::getenv("XIMUP_RESIZE_MODULE"); env != nullptr && *env != '\0') return {env};
  std::vector<std::string> out;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto dir = exe.parent_path();
    out.push_back((dir / detail::resize_module_file).string());
    out.push_back((dir.parent_path() / "lib" / "ximup" / detail::resize_module_file).string());
  }
  if (!fallback.empty()) out.push_back(fallback);
  return out;
}

void load(loaded_module& m) {
  std::string tried;
  for (const auto& path : candidates(m.fallback)) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path + " (not there)";
      continue;
    }
    // RTLD_NODELETE: the module stays loaded until the process ends (libvips is shut down by an
    // atexit handler, below, and its thread_local destructors run at thread exit).
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      tried += (tried.empty() ? "" : ", ") + path + " (" + (why != nullptr ? why : "dlopen failed") + ")";
      continue;
    }
    using entry_fn = const detail::resize_module_api* (*)();
    const auto entry = reinterpret_cast<entry_fn>(::dlsym(handle, detail::resize_module_entry));
    const detail::resize_module_api* api = entry != nullptr ? entry() : nullptr;
    if (api == nullptr || api->options_size != sizeof(resize_options) ||
        api->report_size != sizeof(resize_report)) {
      tried += (tried.empty() ? "" : ", ") + path + " (from another build of ximup)";
      continue;
    }
    m.api = api;
    std::atexit([] { module().api->shutdown(); });
    return;
  }
  m.error = "the resize module " + std::string(detail::resize_module_file) +
            " (libvips) cannot be loaded: tried " + tried +
            "; install it beside the ximup binary or set XIMUP_RESIZE_MODULE to its path";
}

const detail::resize_module_api* api(std::string* error = nullptr) {
  loaded_module& m = module();
  try {
    std::call_once(m.once, [&m] { load(m); });
  } catch (...) {
    if (error != nullptr) *error = "the resize module could not be loaded";
    return nullptr;
  }
  if (m.api == nullptr && error != nullptr) *error = m.error;
  return m.api;
}

}  // namespace

void set_resize_module_fallback(std::string path) {
  module().fallback = std::move(path);
}

std::optional<std::string> resize_init() noexcept {
  std::string error;
  try {
    if (const auto* a = api(&error)) return a->init();
  } catch (...) {
    return std::string("the resize module could not be loaded");
  }
  return error;
}

std::string resize_library_version() {
  std::string error;
  if (const auto* a = api(&error)) return a->library_version();
  return "not available: " + error;
}

resize_report shrink_image(std::span<const unsigned char> input, const resize_options& options,
                           std::vector<unsigned char>& out) noexcept {
  std::string error;
  const detail::resize_module_api* a = nullptr;
  try {
    a = api(&error);
  } catch (...) {
    error = "the resize module could not be loaded";
  }
  if (a != nullptr) return a->shrink(input, options, out);
  out.clear();
  resize_report r;  // action unchanged_error
  r.original_bytes = r.sent_bytes = input.size();
  try {
    r.note = "resize failed, sent unchanged: " + error;
  } catch (...) {
    r.note.clear();
  }
  return r;
}

}  // namespace ximup
