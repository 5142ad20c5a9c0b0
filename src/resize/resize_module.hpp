#pragma once
// The boundary between ximup and its resize module (ximup-resize.so: shrink_image.cpp with libvips
// and TurboJPEG). libvips pulls in about 100 shared libraries whose loading and relocation cost
// ximup ~50 ms of CPU at every start; the module is loaded with dlopen only when --resize (or
// `ximup version`) needs it (resize_loader.cpp). Both sides are built from the same tree: the
// sizes below catch a module left over from another build.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ximup/resize.hpp"

namespace ximup::detail {

struct resize_module_api {
  std::uint32_t options_size;  ///< sizeof(resize_options) where the module was built
  std::uint32_t report_size;   ///< sizeof(resize_report)
  std::optional<std::string> (*init)() noexcept;
  std::string (*library_version)();
  resize_report (*shrink)(std::span<const unsigned char> input, const resize_options& options,
                          std::vector<unsigned char>& out) noexcept;
  /// At process exit (the loader registers it with atexit): stops libvips's worker threads if it
  /// was initialised. Nothing may resize after it.
  void (*shutdown)() noexcept;
};

/// The module's one exported symbol: `extern "C" const resize_module_api* ximup_resize_module_v1()`.
inline constexpr const char* resize_module_entry = "ximup_resize_module_v1";
/// Its file name, looked for beside the executable and in ../lib/ximup/ from it.
inline constexpr const char* resize_module_file = "ximup-resize.so";

}  // namespace ximup::detail
