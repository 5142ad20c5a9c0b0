#include "ximup/input_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <variant>

#include "ximup/manifest.hpp"

namespace ximup {

struct input_source::impl {
  explicit impl(input_options o) : opt(std::move(o)) {
    if (opt.kind == input_kind::directories) {
      walker = std::make_unique<scanner>(opt.roots, opt.scan);
      return;
    }
    if (opt.list_path == "-") {
      fd = STDIN_FILENO;
    } else {
      // Opening a named pipe blocks until a writer opens it; with a cancel flag it is opened
      // without waiting and the reads wait in poll(), which a stop interrupts (until a writer has
      // come, poll reports nothing, not the end of the pipe).
      struct stat st {};
      const bool fifo = ::stat(opt.list_path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
      const bool wait_in_poll = fifo && opt.cancel != nullptr;
      fd = ::open(opt.list_path.c_str(), O_RDONLY | O_CLOEXEC | (wait_in_poll ? O_NONBLOCK : 0));
      if (fd < 0) {
        error = "cannot open '" + opt.list_path + "': " + std::strerror(errno);
        return;
      }
      owns_fd = true;
      if (wait_in_poll) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    if (opt.kind == input_kind::files_from) {
      files =
          std::make_unique<files_from_reader>(input_stream(fd, opt.cancel, opt.on_idle), opt.nul_separated);
      return;
    }
    auto format = opt.manifest_format.empty() ? manifest_format_from_path(opt.list_path)
                                              : parse_manifest_format(opt.manifest_format);
    if (!format) {
      error = opt.manifest_format.empty()
                  ? "cannot tell the format of manifest '" + opt.list_path +
                        "' from its name: give --manifest-format jsonl or csv"
                  : "--manifest-format: '" + opt.manifest_format + "' is not jsonl or csv";
      return;
    }
    manifest = std::make_unique<manifest_reader>(input_stream(fd, opt.cancel, opt.on_idle), *format);
  }

  ~impl() {
    if (owns_fd) {
      ::close(fd);
    }
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  std::string where(std::uint64_t line) const {
    const std::string name = opt.list_path == "-" ? std::string("<stdin>") : opt.list_path;
    return line == 0 ? name : name + ":" + std::to_string(line);
  }

  scan_item from_entry(manifest_entry&& entry) {
    scan_item item;
    if (auto* bad = std::get_if<manifest_error>(&entry)) {
      item.error = scan_error{where(bad->line_number), "bad line: " + bad->message, bad->fatal};
      return item;
    }
    auto& m = std::get<manifest_item>(entry);
    scan_entry e;
    e.id = std::move(m.id);
    e.extra_fields = std::move(m.extra_fields_json);
    if (m.is_url()) {
      e.path = m.url;
      e.url = std::move(m.url);
      item.entry = std::move(e);
      return item;
    }
    struct stat st {};
    if (::stat(m.path.c_str(), &st) != 0) {
      item.error = scan_error{
          m.path, "cannot read file listed at " + where(m.line_number) + ": " + std::strerror(errno)};
      return item;
    }
    if (!S_ISREG(st.st_mode)) {
      item.error = scan_error{m.path, "not a regular file (listed at " + where(m.line_number) + ")"};
      return item;
    }
    e.path = std::move(m.path);
    e.size = static_cast<std::uint64_t>(st.st_size);
    e.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    item.entry = std::move(e);
    return item;
  }

  std::optional<scan_item> next() {
    if (!error.empty()) {
      return std::nullopt;
    }
    if (walker) {
      return walker->next();
    }
    std::optional<manifest_entry> entry = manifest ? manifest->next() : files->next();
    if (!entry) {
      return std::nullopt;
    }
    return from_entry(std::move(*entry));
  }

  input_options opt;
  std::string error;
  int fd = -1;
  bool owns_fd = false;
  std::unique_ptr<scanner> walker;
  std::unique_ptr<manifest_reader> manifest;
  std::unique_ptr<files_from_reader> files;
};

input_source::input_source(input_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
input_source::~input_source() = default;
const std::string& input_source::error() const noexcept {
  return impl_->error;
}
std::optional<scan_item> input_source::next() {
  return impl_->next();
}
scan_counters input_source::walk_counters() const noexcept {
  return impl_->walker ? impl_->walker->counters() : scan_counters{};
}
std::uint64_t input_source::skipped() const noexcept {
  return impl_->walker ? impl_->walker->counters().skipped : 0;
}

}  // namespace ximup
