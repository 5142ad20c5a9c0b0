// Streaming directory walker on POSIX openat/fdopendir/readdir/fstatat.
//
// Holds a stack of open DIR handles, one per level of the current path: memory and file
// descriptors grow with the depth of the tree, never with the size of a directory. A tree deeper
// than the free descriptors (RLIMIT_NOFILE less what the process uses) makes the open of the
// deeper directories fail with EMFILE; that is reported as a scan_error for each such directory
// and the walk goes on with its siblings. Entries are opened relative to their parent's
// descriptor, so the walk neither builds nor resolves long paths, and a directory renamed while
// being walked is still walked as one.
#include "ximup/scanner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <system_error>
#include <utility>

namespace ximup {
namespace {

std::string error_text(std::string_view what, int err) {
  std::string text(what);
  text += ": ";
  text += std::generic_category().message(err);
  return text;
}

char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::int64_t mtime_ns_of(const struct stat& st) noexcept {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
         static_cast<std::int64_t>(st.st_mtim.tv_nsec);
}

// What a directory entry is, from d_type or, when that is unknown or a followed link, fstatat.
enum class kind { regular, directory, symlink, other };

kind kind_of_mode(mode_t mode) noexcept {
  if (S_ISREG(mode)) {
    return kind::regular;
  }
  if (S_ISDIR(mode)) {
    return kind::directory;
  }
  if (S_ISLNK(mode)) {
    return kind::symlink;
  }
  return kind::other;
}

}  // namespace

struct scanner::impl {
  struct frame {
    DIR* dir = nullptr;
    std::size_t rel_size = 0;  // length of rel_ up to and including this directory's '/'
    dev_t dev = 0;
    ino_t ino = 0;
  };

  std::vector<std::string> roots_;
  std::size_t next_root_ = 0;
  scan_options options_;
  scan_counters counters_;

  std::string root_;        // the root being walked, as given
  std::string root_slash_;  // root_ with a '/' appended unless it already ends in one
  std::string rel_;         // relative path of the directory on top of the stack, '/'-terminated
  std::vector<frame> stack_;

  impl(std::vector<std::string> roots, scan_options options)
      : roots_(std::move(roots)), options_(std::move(options)) {
    for (auto& ext : options_.extensions) {
      std::transform(ext.begin(), ext.end(), ext.begin(), ascii_lower);
    }
  }

  ~impl() {
    while (!stack_.empty()) {
      pop();
    }
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  void pop() noexcept {
    closedir(stack_.back().dir);
    stack_.pop_back();
    rel_.resize(stack_.empty() ? 0 : stack_.back().rel_size);
  }

  [[nodiscard]] bool extension_passes(std::string_view name) const noexcept {
    if (options_.extensions.empty()) {
      return true;
    }
    const std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos) {
      return false;
    }
    const std::string_view ext = name.substr(dot + 1);
    return std::any_of(options_.extensions.begin(), options_.extensions.end(),
                       [&](const std::string& wanted) {
                         return wanted.size() == ext.size() &&
                                std::equal(ext.begin(), ext.end(), wanted.begin(),
                                           [](char a, char b) { return ascii_lower(a) == b; });
                       });
  }

  scan_item error_item(std::string path, std::string message) {
    ++counters_.errors;
    scan_item item;
    item.error = scan_error{std::move(path), std::move(message)};
    return item;
  }

  scan_item file_item(std::string path, std::string id, const struct stat& st, bool walked = false) {
    ++counters_.files;
    scan_item item;
    item.entry = scan_entry{std::move(path),
                            std::move(id),
                            static_cast<std::uint64_t>(st.st_size),
                            mtime_ns_of(st),
                            std::nullopt,
                            {},
                            {},
                            {},
                            walked && !options_.follow_symlinks};
    return item;
  }

  // Pushes the directory open at `fd` (taking ownership) unless it is its own ancestor.
  // Returns an error item when it cannot be entered.
  std::optional<scan_item> enter(int fd, const std::string& display_path) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      const int err = errno;
      close(fd);
      return error_item(display_path, error_text("cannot stat directory", err));
    }
    const bool loop = std::any_of(stack_.begin(), stack_.end(),
                                  [&](const frame& f) { return f.dev == st.st_dev && f.ino == st.st_ino; });
    if (loop) {
      close(fd);
      return error_item(display_path, "symbolic link loop: directory is its own ancestor, not entered");
    }
    DIR* dir = fdopendir(fd);
    if (dir == nullptr) {
      const int err = errno;
      close(fd);
      return error_item(display_path, error_text("cannot open directory", err));
    }
    ++counters_.directories;
    stack_.push_back(frame{dir, rel_.size(), st.st_dev, st.st_ino});
    return std::nullopt;
  }

  // Starts the next root; returns an item when the root is a file or an error.
  std::optional<scan_item> start_root() {
    root_ = roots_[next_root_++];
    root_slash_ = root_;
    if (root_slash_.empty() || root_slash_.back() != '/') {
      root_slash_.push_back('/');
    }
    rel_.clear();
    struct stat st {};
    if (stat(root_.c_str(), &st) != 0) {  // a root is always followed, like find -H
      return error_item(root_, error_text("cannot access", errno));
    }
    if (S_ISDIR(st.st_mode)) {
      const int fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) {
        return error_item(root_, error_text("cannot open directory", errno));
      }
      return enter(fd, root_);
    }
    if (!S_ISREG(st.st_mode)) {
      return error_item(root_, "not a regular file or directory");
    }
    // A root that is a file: its id is its base name, and it passes the same filters.
    std::string_view base = root_;
    if (const std::size_t slash = base.rfind('/'); slash != std::string_view::npos) {
      base.remove_prefix(slash + 1);
    }
    if (!extension_passes(base) || !options_.filter.accepts(base)) {
      ++counters_.skipped;
      return std::nullopt;
    }
    return file_item(root_, std::string(base), st);
  }

  // Reads one entry of the directory on top of the stack; returns an item when it yields one.
  std::optional<scan_item> step() {
    frame& top = stack_.back();
    errno = 0;
    const dirent* de = readdir(top.dir);
    if (de == nullptr) {
      const int err = errno;
      std::string where = rel_.empty() ? root_ : root_slash_ + rel_.substr(0, rel_.size() - 1);
      pop();
      if (err != 0) {
        return error_item(std::move(where), error_text("cannot read directory", err));
      }
      return std::nullopt;
    }
    const std::string_view name = de->d_name;
    if (name == "." || name == "..") {
      return std::nullopt;
    }
    const int dir_fd = dirfd(top.dir);
    kind k = kind::other;
    switch (de->d_type) {
      case DT_REG:
        k = kind::regular;
        break;
      case DT_DIR:
        k = kind::directory;
        break;
      case DT_LNK:
        k = kind::symlink;
        break;
      case DT_UNKNOWN:  // the file system does not say: fstatat below does
        break;
      default:
        ++counters_.not_regular;  // fifo, socket, device: not uploadable (never opened), counted
        return std::nullopt;
    }
    struct stat st {};
    bool have_stat = false;
    if (de->d_type == DT_UNKNOWN || (k == kind::symlink && options_.follow_symlinks)) {
      const int flags = options_.follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW;
      if (fstatat(dir_fd, de->d_name, &st, flags) != 0) {
        const int err = errno;
        return error_item(
            root_slash_ + rel_ + std::string(name),
            error_text(err == ENOENT && de->d_type == DT_LNK ? "broken symbolic link" : "cannot stat", err));
      }
      have_stat = true;
      k = kind_of_mode(st.st_mode);
    }
    if (k == kind::symlink || k == kind::other) {
      // A link not followed, or something that is not a file: left out, but counted for the summary.
      ++(k == kind::symlink ? counters_.links_not_followed : counters_.not_regular);
      return std::nullopt;
    }
    if (k == kind::directory) {
      const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (options_.follow_symlinks ? 0 : O_NOFOLLOW);
      const std::size_t old_size = rel_.size();
      rel_.append(name);
      rel_.push_back('/');
      const int fd = openat(dir_fd, de->d_name, flags);
      std::optional<scan_item> failed;
      if (fd < 0) {
        failed = error_item(root_slash_ + rel_.substr(0, rel_.size() - 1),
                            error_text("cannot open directory", errno));
      } else {
        failed = enter(fd, root_slash_ + rel_.substr(0, rel_.size() - 1));
      }
      if (failed) {
        rel_.resize(old_size);
      }
      return failed;
    }
    // A regular file: filter by name first, so skipped files cost no stat.
    if (!extension_passes(name)) {
      ++counters_.skipped;
      return std::nullopt;
    }
    std::string id = rel_ + std::string(name);
    if (!options_.filter.accepts(id)) {
      ++counters_.skipped;
      return std::nullopt;
    }
    if (!have_stat) {
      if (fstatat(dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        const int err = errno;  // ENOENT: removed between readdir and stat
        return error_item(root_slash_ + id, error_text("cannot stat", err));
      }
      if (!S_ISREG(st.st_mode)) {
        // Replaced by something else since readdir: left out and counted, as if readdir had seen it.
        ++(S_ISLNK(st.st_mode) ? counters_.links_not_followed : counters_.not_regular);
        return std::nullopt;
      }
    }
    std::string path = root_slash_ + id;
    return file_item(std::move(path), std::move(id), st, true);
  }

  std::optional<scan_item> next() {
    for (;;) {
      if (stack_.empty()) {
        if (next_root_ == roots_.size()) {
          return std::nullopt;
        }
        if (auto item = start_root()) {
          return item;
        }
        continue;
      }
      if (auto item = step()) {
        return item;
      }
    }
  }
};

scanner::scanner(std::vector<std::string> roots, scan_options options)
    : impl_(std::make_unique<impl>(std::move(roots), std::move(options))) {}

scanner::~scanner() = default;

std::optional<scan_item> scanner::next() {
  return impl_->next();
}

const scan_counters& scanner::counters() const noexcept {
  return impl_->counters_;
}

}  // namespace ximup
