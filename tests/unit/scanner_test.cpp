// Tests for scanner.hpp on real temporary directory trees.
#include "ximup/scanner.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using ximup::scan_counters;
using ximup::scan_entry;
using ximup::scan_error;
using ximup::scan_options;
using ximup::scanner;

// A directory from mkdtemp, removed with everything in it (permissions restored first).
class temp_dir {
 public:
  explicit temp_dir(const fs::path& base = fs::temp_directory_path()) {
    std::string tmpl = (base / "ximup-scan-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
      }
    }
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  // Writes `content` to the relative path, creating parent directories.
  void file(const std::string& rel, const std::string& content = "x") const {
    const std::string full = *this / rel;
    fs::create_directories(fs::path(full).parent_path());
    const int fd = open(full.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
      throw std::runtime_error("cannot write " + full);
    }
    close(fd);
  }
  void dir(const std::string& rel) const { fs::create_directories(*this / rel); }
  void symlink(const std::string& target, const std::string& rel) const {
    if (::symlink(target.c_str(), (*this / rel).c_str()) != 0) {
      throw std::runtime_error("symlink failed");
    }
  }

 private:
  std::string path_;
};

struct scan_result {
  std::vector<scan_entry> entries;
  std::vector<scan_error> errors;
  scan_counters counters;

  [[nodiscard]] std::vector<std::string> ids() const {
    std::vector<std::string> out;
    for (const auto& e : entries) {
      out.push_back(e.id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

scan_result scan_all(std::vector<std::string> roots, scan_options options = {}) {
  scanner s(std::move(roots), std::move(options));
  scan_result r;
  while (auto item = s.next()) {
    EXPECT_NE(item->entry.has_value(), item->error.has_value());
    if (item->entry) {
      r.entries.push_back(*item->entry);
    } else {
      r.errors.push_back(*item->error);
    }
  }
  EXPECT_FALSE(s.next().has_value());  // stays done
  r.counters = s.counters();
  return r;
}

std::size_t open_descriptor_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Scanner, WalksNestedDirectoriesAndReportsEveryImage) {
  temp_dir t;
  t.file("a.jpg", "12345");
  t.file("b.PNG");
  t.file("notes.txt");
  t.file("sub/c.jpeg");
  t.file("sub/deeper/d.gif");
  t.file("sub/deeper/deepest/e.webp", std::string(1000, 'z'));
  t.dir("empty");
  const auto r = scan_all({t.path()});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.ids(), (std::vector<std::string>{"a.jpg", "b.PNG", "sub/c.jpeg", "sub/deeper/d.gif",
                                               "sub/deeper/deepest/e.webp"}));
  for (const auto& e : r.entries) {
    EXPECT_EQ(e.path, t / e.id);
    struct stat st {};
    ASSERT_EQ(stat(e.path.c_str(), &st), 0);
    EXPECT_EQ(e.size, static_cast<std::uint64_t>(st.st_size));
    EXPECT_EQ(e.mtime_ns, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec);
  }
  const auto a =
      std::find_if(r.entries.begin(), r.entries.end(), [](const scan_entry& e) { return e.id == "a.jpg"; });
  EXPECT_EQ(a->size, 5U);
  EXPECT_EQ(r.counters.files, 5U);
  EXPECT_EQ(r.counters.skipped, 1U);
  EXPECT_EQ(r.counters.errors, 0U);
  EXPECT_EQ(r.counters.directories, 5U);  // root, sub, deeper, deepest, empty
}

TEST(Scanner, ExtensionFilterIsCaseInsensitive) {
  temp_dir t;
  for (const char* name : {"A.JPG", "b.JpEg", "c.jpg.txt", "noext", ".jpg", "d.", "e.tiff"}) {
    t.file(name);
  }
  EXPECT_EQ(scan_all({t.path()}).ids(), (std::vector<std::string>{".jpg", "A.JPG", "b.JpEg", "e.tiff"}));

  scan_options only_jpg;
  only_jpg.extensions = {"JPG"};  // the list is lower-cased too
  EXPECT_EQ(scan_all({t.path()}, only_jpg).ids(), (std::vector<std::string>{".jpg", "A.JPG"}));

  scan_options everything;
  everything.extensions.clear();
  const auto all = scan_all({t.path()}, everything);
  EXPECT_EQ(all.entries.size(), 7U);
  EXPECT_EQ(all.counters.skipped, 0U);
}

TEST(Scanner, PathFilterSeesTheRelativePath) {
  temp_dir t;
  t.file("keep/a.jpg");
  t.file("keep/thumbs/b.jpg");
  t.file("keep/c.png");
  t.file("other/d.jpg");
  scan_options o;
  o.filter.include.emplace_back("/keep/**");
  o.filter.exclude.emplace_back("**/thumbs/**");
  o.filter.exclude.emplace_back("*.png");
  const auto r = scan_all({t.path()}, o);
  EXPECT_EQ(r.ids(), (std::vector<std::string>{"keep/a.jpg"}));
  EXPECT_EQ(r.counters.skipped, 3U);
}

TEST(Scanner, SymlinksAreSkippedUnlessFollowed) {
  temp_dir t;
  t.file("real/a.jpg");
  t.file("outside/b.jpg");
  t.symlink("real/a.jpg", "link.jpg");
  t.symlink("outside", "linkdir");
  const auto r = scan_all({t / "real", t / "link.jpg", t / "linkdir"});
  // Roots are always followed; links found inside a tree are not.
  EXPECT_EQ(r.ids(), (std::vector<std::string>{"a.jpg", "b.jpg", "link.jpg"}));

  ASSERT_EQ(::mkfifo((t / "real/pipe.jpg").c_str(), 0600), 0);
  const auto inside = scan_all({t.path()});
  EXPECT_EQ(inside.ids(), (std::vector<std::string>{"outside/b.jpg", "real/a.jpg"}));
  EXPECT_TRUE(inside.errors.empty());
  EXPECT_EQ(inside.counters.skipped, 0U);
  // Left out, but counted for the summary: the two links and the FIFO (never opened: no hang).
  EXPECT_EQ(inside.counters.links_not_followed, 2U);
  EXPECT_EQ(inside.counters.not_regular, 1U);
}

TEST(Scanner, FollowSymlinksEntersLinkedDirectoriesAndReportsLoops) {
  temp_dir t;
  t.file("root/a.jpg", "aaa");
  t.file("elsewhere/b.jpg");
  t.symlink("../elsewhere", "root/linked");
  t.symlink("a.jpg", "root/alias.jpg");
  t.dir("root/sub");
  t.symlink("..", "root/sub/up");      // root/sub/up -> root: a loop
  t.symlink(".", "root/linked-self");  // the directory itself: a loop
  t.symlink("missing.jpg", "root/broken.jpg");
  t.symlink("spin", "root/spin");  // a link to itself: ELOOP
  scan_options o;
  o.follow_symlinks = true;
  const auto r = scan_all({t / "root"}, o);
  EXPECT_EQ(r.ids(), (std::vector<std::string>{"a.jpg", "alias.jpg", "linked/b.jpg"}));
  const auto alias = std::find_if(r.entries.begin(), r.entries.end(),
                                  [](const scan_entry& e) { return e.id == "alias.jpg"; });
  EXPECT_EQ(alias->size, 3U);  // the target's size

  std::map<std::string, std::string> errors;
  for (const auto& e : r.errors) {
    errors[e.path] = e.message;
  }
  ASSERT_EQ(errors.size(), 4U);
  EXPECT_TRUE(contains(errors[t / "root/sub/up"], "loop")) << errors[t / "root/sub/up"];
  EXPECT_TRUE(contains(errors[t / "root/linked-self"], "loop"));
  EXPECT_TRUE(contains(errors[t / "root/broken.jpg"], "No such file or directory"));
  EXPECT_TRUE(contains(errors[t / "root/spin"], "Too many levels of symbolic links"));
  EXPECT_EQ(r.counters.errors, 4U);
  EXPECT_EQ(r.counters.directories, 3U);  // root, sub and linked
}

// Scans a tree with an unreadable directory; returns what was wrong, or "" when all is as expected.
std::string check_unreadable_directory(const temp_dir& t) {
  const auto r = scan_all({t.path()});
  if (r.ids() != std::vector<std::string>{"a.jpg", "open/b.jpg"}) {
    return "unexpected files, " + std::to_string(r.entries.size()) + " found";
  }
  if (r.errors.size() != 1 || r.errors[0].path != t / "locked" ||
      r.errors[0].message != "cannot open directory: Permission denied") {
    return "unexpected errors: " + (r.errors.empty() ? std::string("none") : r.errors[0].message);
  }
  return "";
}

void make_tree_with_locked_directory(const temp_dir& t) {
  t.file("a.jpg");
  t.file("locked/secret.jpg");
  t.file("open/b.jpg");
  ASSERT_EQ(chmod((t / "locked").c_str(), 0), 0);
}

TEST(Scanner, UnreadableDirectoryIsAnErrorAndTheWalkGoesOn) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "running as root: chmod 000 does not stop root from reading "
                    "(UnreadableDirectoryAsAnotherUser covers it)";
  }
  temp_dir t;
  make_tree_with_locked_directory(t);
  EXPECT_EQ(check_unreadable_directory(t), "");
}

TEST(Scanner, UnreadableDirectoryAsAnotherUser) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to an unprivileged user";
  }
  temp_dir t;
  ASSERT_EQ(chmod(t.path().c_str(), 0755), 0);  // mkdtemp makes it 0700
  make_tree_with_locked_directory(t);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // drop to nobody, for whom the 000 directory is unreadable
    if (setgid(65534) != 0 || setuid(65534) != 0) {
      _exit(3);
    }
    const std::string problem = check_unreadable_directory(t);
    if (!problem.empty()) {
      std::fprintf(stderr, "%s\n", problem.c_str());
    }
    _exit(problem.empty() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's message above (3: setuid failed)";
}

TEST(Scanner, EntriesThatVanishAfterReaddirAreErrors) {
  temp_dir t;
  for (int i = 0; i < 10; ++i) {
    t.file("f" + std::to_string(i) + ".jpg");
    t.dir("d" + std::to_string(i));
  }
  scanner s({t.path()}, {});
  auto first = s.next();
  ASSERT_TRUE(first.has_value() && first->entry.has_value());
  // readdir has buffered the whole small directory; remove everything it has not returned yet.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(t.path())) {
    if (e.path().filename() != first->entry->id) {
      fs::remove_all(e.path(), ec);
    }
  }
  std::size_t vanished_files = 0;
  std::size_t vanished_dirs = 0;
  while (auto item = s.next()) {
    ASSERT_TRUE(item->error.has_value()) << item->entry->id;
    if (contains(item->error->path, "/f")) {
      EXPECT_EQ(item->error->message, "cannot stat: No such file or directory");
      ++vanished_files;
    } else {
      EXPECT_EQ(item->error->message, "cannot open directory: No such file or directory");
      ++vanished_dirs;
    }
  }
  // Directories met before the first file were entered before anything was removed.
  const std::uint64_t entered_subdirs = s.counters().directories - 1;
  EXPECT_EQ(vanished_files + 1, 10U);
  EXPECT_EQ(vanished_dirs + entered_subdirs, 10U);
  EXPECT_EQ(s.counters().errors, vanished_files + vanished_dirs);
}

// An entry readdir saw as a file that is something else by the time it is stat'ed (a symbolic link,
// a FIFO) is left out and counted as such, not dropped without a trace; a walk that does not follow
// links marks its files to be opened without following one either.
TEST(Scanner, EntriesReplacedAfterReaddirAreCountedAsWhatTheyAreNow) {
  temp_dir t;
  for (int i = 0; i < 10; ++i) t.file("f" + std::to_string(i) + ".jpg");
  scanner s({t.path()}, {});
  auto first = s.next();
  ASSERT_TRUE(first.has_value() && first->entry.has_value());
  EXPECT_TRUE(first->entry->no_follow);
  // readdir has buffered the whole small directory: replace two entries it has not returned yet.
  std::vector<fs::path> others;
  for (const auto& e : fs::directory_iterator(t.path())) {
    if (e.path().filename() != first->entry->id) others.push_back(e.path());
  }
  ASSERT_GE(others.size(), 2U);
  fs::remove(others[0]);
  fs::create_symlink(fs::path(t.path()) / first->entry->id, others[0]);
  fs::remove(others[1]);
  ASSERT_EQ(::mkfifo(others[1].c_str(), 0600), 0);
  std::size_t files = 1;
  while (auto item = s.next()) {
    ASSERT_TRUE(item->entry.has_value());
    ++files;
  }
  EXPECT_EQ(files, 8U);
  EXPECT_EQ(s.counters().links_not_followed, 1U);
  EXPECT_EQ(s.counters().not_regular, 1U);
}

TEST(Scanner, OddNamesAreKeptAsBytes) {
  temp_dir t;
  const std::vector<std::string> names = {"with space.jpg", "quote\".jpg",     "back\\slash.jpg",
                                          "new\nline.jpg",  "caf\xC3\xA9.jpg", "bad\xFF\xFE.jpg",
                                          "tab\t.jpg",      "'single'.jpg"};
  for (const auto& n : names) {
    t.file("d\xE9r/" + n);  // the directory name is not UTF-8 either
  }
  const auto r = scan_all({t.path()});
  std::vector<std::string> expected;
  for (const auto& n : names) {
    expected.push_back("d\xE9r/" + n);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(r.ids(), expected);
  for (const auto& e : r.entries) {
    EXPECT_EQ(access(e.path.c_str(), R_OK), 0);  // the path opens as given
  }
}

TEST(Scanner, RootThatIsAFile) {
  temp_dir t;
  t.file("dir/photo.JPG", "abc");
  t.file("dir/readme.txt");
  const auto r = scan_all({t / "dir/photo.JPG", t / "dir/readme.txt"});
  ASSERT_EQ(r.entries.size(), 1U);
  EXPECT_EQ(r.entries[0].path, t / "dir/photo.JPG");
  EXPECT_EQ(r.entries[0].id, "photo.JPG");
  EXPECT_EQ(r.entries[0].size, 3U);
  EXPECT_EQ(r.counters.skipped, 1U);  // a file root passes the same filters
  EXPECT_EQ(r.counters.directories, 0U);
}

TEST(Scanner, RootWithTrailingSlashOrDot) {
  temp_dir t;
  t.file("a.jpg");
  t.file("sub/b.jpg");
  const auto slash = scan_all({t.path() + "/"});
  for (const auto& e : slash.entries) {
    EXPECT_EQ(e.path, t.path() + "/" + e.id);  // no doubled '/'
  }
  EXPECT_EQ(slash.ids(), (std::vector<std::string>{"a.jpg", "sub/b.jpg"}));

  const auto old_cwd = fs::current_path();
  fs::current_path(t.path());
  const auto dot = scan_all({"."});
  fs::current_path(old_cwd);
  EXPECT_EQ(dot.ids(), (std::vector<std::string>{"a.jpg", "sub/b.jpg"}));
  for (const auto& e : dot.entries) {
    EXPECT_EQ(e.path, "./" + e.id);
  }
}

TEST(Scanner, MissingRootIsAnErrorAndLaterRootsAreScanned) {
  temp_dir t;
  t.file("a.jpg");
  ASSERT_EQ(mkfifo((t / "fifo.jpg").c_str(), 0644), 0);
  const auto r = scan_all({t / "missing", t / "fifo.jpg", t.path()});
  ASSERT_EQ(r.errors.size(), 2U);
  EXPECT_EQ(r.errors[0].path, t / "missing");
  EXPECT_EQ(r.errors[0].message, "cannot access: No such file or directory");
  EXPECT_EQ(r.errors[1].message, "not a regular file or directory");
  EXPECT_EQ(r.ids(), (std::vector<std::string>{"a.jpg"}));  // a fifo inside a tree is ignored
  EXPECT_EQ(r.counters.skipped, 0U);
}

TEST(Scanner, NoRootsMeansNothing) {
  scanner s({}, {});
  EXPECT_FALSE(s.next().has_value());
  EXPECT_EQ(s.counters().files, 0U);
}

TEST(Scanner, LargeFlatDirectoryIsStreamedNotListed) {
  // tmpfs when there is one: creating 20k files on a busy disk can take many seconds.
  std::error_code ec;
  const bool shm = fs::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0;
  temp_dir t(shm ? fs::path("/dev/shm") : fs::temp_directory_path());
  constexpr int count = 20000;
  const std::string padding(150, 'p');  // ~3 MB of names in all
  for (int i = 0; i < count; ++i) {
    const std::string path = t / (std::to_string(i) + padding + ".jpg");
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  scanner s({t.path()}, {});
  const auto heap_in_use = [] { return mallinfo2().uordblks; };
  const std::size_t before = heap_in_use();
  std::size_t peak = before;
  int seen = 0;
  while (auto item = s.next()) {
    ASSERT_TRUE(item->entry.has_value());
    ++seen;
    peak = std::max(peak, heap_in_use());
  }
  EXPECT_EQ(seen, count);
  EXPECT_EQ(s.counters().files, static_cast<std::uint64_t>(count));
  // Holding the names would take > 3 MB; the walker holds one readdir buffer (32 KiB in glibc).
  EXPECT_LT(peak - before, 256U * 1024U) << "heap grew by " << (peak - before) << " bytes";
}

TEST(Scanner, OneDescriptorPerLevelAndNoneLeaked) {
  temp_dir t;
  std::string rel;
  for (int depth = 0; depth < 40; ++depth) {
    rel += "d" + std::to_string(depth) + "/";
    t.file(rel + "f.jpg");
  }
  const std::size_t before = open_descriptor_count();
  {
    scanner s({t.path()}, {});
    std::size_t max_open = 0;
    int files = 0;
    while (auto item = s.next()) {
      ASSERT_TRUE(item->entry.has_value());
      ++files;
      max_open = std::max(max_open, open_descriptor_count() - before);
    }
    EXPECT_EQ(files, 40);
    EXPECT_LE(max_open, 41U);  // root + 40 levels, at most
  }
  {
    scanner abandoned({t.path()}, {});  // destroyed mid-walk
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(abandoned.next().has_value());
    }
  }
  EXPECT_EQ(open_descriptor_count(), before);
}

TEST(Scanner, TreeDeeperThanTheDescriptorLimitReportsErrorsAndFinishes) {
  temp_dir t;
  std::string rel;
  for (int depth = 0; depth < 60; ++depth) {
    rel += "d/";
    t.file(rel + "f.jpg");
  }
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  const std::size_t in_use = open_descriptor_count();
  rlimit low = old_limit;
  low.rlim_cur = static_cast<rlim_t>(in_use + 20);  // room for about 20 levels
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  scan_result r;
  {
    scanner s({t.path()}, {});
    while (auto item = s.next()) {
      if (item->entry) {
        r.entries.push_back(*item->entry);
      } else {
        r.errors.push_back(*item->error);
      }
    }
  }
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old_limit), 0);
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].message, "cannot open directory: Too many open files");
  EXPECT_GE(r.entries.size(), 10U);
  EXPECT_LT(r.entries.size(), 60U);
}

}  // namespace
