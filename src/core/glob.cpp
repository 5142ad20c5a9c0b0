// Glob matching by simulating the pattern as an NFA whose states are byte offsets into the pattern.
//
// Each state is the offset of one pattern element: a literal byte, `\x`, `?`, a `[...]` class, a
// run of `*`, or `**/` at the start of a path segment (which also matches zero directories, like
// gitignore's; its "inside" state is kept in a second set under the same offset). Matching steps every active
// state over the path once: O(path * pattern), no allocation, no backtracking blow-up on patterns like
// `*a*a*a*b`.
#include "ximup/glob.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>

namespace ximup {
namespace {

// Longer patterns are refused so that the state set fits in a fixed array on the stack.
constexpr std::size_t max_pattern_size = 1024;

enum class element_kind : std::uint8_t {
  literal,      // one byte
  any,          // `?`: one byte except '/'
  klass,        // `[...]`: one byte in the set, never '/'
  star,         // `*`: any run of bytes except '/'
  double_star,  // `**`: any run of bytes
  dir_star,     // `**/` at a segment start: "" or any run ending in '/'; its inner state is offset+1
};

struct element {
  element_kind kind = element_kind::literal;
  std::size_t size = 1;  // pattern bytes it spans
  unsigned char byte = 0;
};

// Offset just past the `]` of the class opening at `open`, or npos when unterminated.
std::size_t class_end(std::string_view p, std::size_t open) noexcept {
  std::size_t i = open + 1;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    ++i;
  }
  if (i < p.size() && p[i] == ']') {  // a leading ']' is literal
    ++i;
  }
  while (i < p.size() && p[i] != ']') {
    i += p[i] == '\\' ? std::size_t{2} : std::size_t{1};
  }
  return i < p.size() ? i + 1 : std::string_view::npos;
}

// Whether byte `c` is in the class spanning [open, end) (end is just past its `]`).
bool class_matches(std::string_view p, std::size_t open, std::size_t end, unsigned char c) noexcept {
  std::size_t i = open + 1;
  bool negated = false;
  if (p[i] == '!' || p[i] == '^') {
    negated = true;
    ++i;
  }
  bool found = false;
  bool first = true;
  const std::size_t close = end - 1;
  while (i < close && (first || p[i] != ']')) {
    first = false;
    unsigned char lo = static_cast<unsigned char>(p[i]);
    if (lo == '\\') {
      ++i;
      lo = static_cast<unsigned char>(p[i]);
    }
    ++i;
    unsigned char hi = lo;
    if (i + 1 < close && p[i] == '-') {  // a range; a '-' just before ']' is literal
      ++i;
      if (p[i] == '\\') {
        ++i;
      }
      hi = static_cast<unsigned char>(p[i]);
      ++i;
    }
    if (c >= lo && c <= hi) {
      found = true;
    }
  }
  return c != '/' && found != negated;
}

element element_at(std::string_view p, std::size_t at) noexcept {
  element e;
  const char c = p[at];
  if (c == '\\') {
    e.byte = static_cast<unsigned char>(p[at + 1]);
    e.size = 2;
  } else if (c == '?') {
    e.kind = element_kind::any;
  } else if (c == '[') {
    e.kind = element_kind::klass;
    e.size = class_end(p, at) - at;
  } else if (c == '*') {
    std::size_t run = 1;
    while (at + run < p.size() && p[at + run] == '*') {
      ++run;
    }
    e.size = run;
    if (run == 1) {
      e.kind = element_kind::star;
    } else if (at + run < p.size() && p[at + run] == '/' && (at == 0 || p[at - 1] == '/')) {
      e.kind = element_kind::dir_star;
      e.size = run + 1;
    } else {
      e.kind = element_kind::double_star;
    }
  } else {
    e.byte = static_cast<unsigned char>(c);
  }
  return e;
}

// A set of NFA states: offsets 0..max_pattern_size (the last one is "matched"), plus the inner
// state of each dir_star, kept apart and named by the dir_star's offset.
class state_set {
 public:
  void insert(std::size_t s) noexcept { set(outer_, s); }
  void insert_inner(std::size_t s) noexcept { set(inner_, s); }
  [[nodiscard]] bool contains(std::size_t s) const noexcept { return test(outer_, s); }
  [[nodiscard]] bool contains_inner(std::size_t s) const noexcept { return test(inner_, s); }
  [[nodiscard]] bool empty() const noexcept {
    for (std::size_t i = 0; i < words; ++i) {
      if (outer_[i] != 0 || inner_[i] != 0) {
        return false;
      }
    }
    return true;
  }
  void clear() noexcept {
    outer_.fill(0);
    inner_.fill(0);
  }

 private:
  static constexpr std::size_t words = (max_pattern_size + 1 + 63) / 64;
  using bits = std::array<std::uint64_t, words>;
  static void set(bits& b, std::size_t s) noexcept { b[s / 64] |= std::uint64_t{1} << (s % 64); }
  static bool test(const bits& b, std::size_t s) noexcept { return ((b[s / 64] >> (s % 64)) & 1U) != 0; }
  bits outer_{};
  bits inner_{};
};

// Adds the states reachable from the ones in `set` without consuming a byte. Epsilon moves only
// go forward, so one ascending pass over the element offsets reaches every state.
void close_over_epsilon(std::string_view p, state_set& set) noexcept {
  for (std::size_t s = 0; s < p.size(); ++s) {
    if (!set.contains(s)) {
      continue;
    }
    const element e = element_at(p, s);
    if (e.kind == element_kind::star || e.kind == element_kind::double_star) {
      set.insert(s + e.size);
    } else if (e.kind == element_kind::dir_star) {
      set.insert_inner(s);     // consuming bytes up to a '/'
      set.insert(s + e.size);  // zero directories
    }
  }
}

}  // namespace

glob_pattern::glob_pattern(std::string pattern) : text_(std::move(pattern)) {
  if (text_.size() > max_pattern_size) {
    throw std::invalid_argument("glob pattern '" + text_.substr(0, 64) + "...' is longer than " +
                                std::to_string(max_pattern_size) + " characters");
  }
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\\') {
      if (i + 1 == text_.size()) {
        throw std::invalid_argument("glob pattern '" + text_ + "' ends with a lone '\\'");
      }
      ++i;
    } else if (text_[i] == '[') {
      const std::size_t end = class_end(text_, i);
      if (end == std::string::npos) {
        throw std::invalid_argument("glob pattern '" + text_ + "' has an unterminated '['");
      }
      i = end - 1;
    }
  }
  basename_only_ = text_.find('/') == std::string::npos;
  std::size_t skip = 0;
  while (skip < text_.size() && text_[skip] == '/') {
    ++skip;
  }
  pattern_ = text_.substr(skip);
}

bool glob_pattern::matches(std::string_view relative_path) const noexcept {
  std::string_view subject = relative_path;
  if (basename_only_) {
    const std::size_t slash = subject.rfind('/');
    if (slash != std::string_view::npos) {
      subject.remove_prefix(slash + 1);
    }
  }
  const std::string_view p = pattern_;
  state_set current;
  state_set next;
  current.insert(0);
  close_over_epsilon(p, current);
  for (const char ch : subject) {
    const auto c = static_cast<unsigned char>(ch);
    next.clear();
    for (std::size_t s = 0; s < p.size(); ++s) {
      if (!current.contains(s) && !current.contains_inner(s)) {
        continue;
      }
      const element e = element_at(p, s);
      if (current.contains_inner(s)) {  // inside a dir_star: any byte, and a '/' may end it
        next.insert_inner(s);
        if (c == '/') {
          next.insert(s + e.size);
        }
      }
      if (!current.contains(s)) {
        continue;
      }
      switch (e.kind) {
        case element_kind::literal:
          if (c == e.byte) {
            next.insert(s + e.size);
          }
          break;
        case element_kind::any:
          if (c != '/') {
            next.insert(s + e.size);
          }
          break;
        case element_kind::klass:
          if (class_matches(p, s, s + e.size, c)) {
            next.insert(s + e.size);
          }
          break;
        case element_kind::star:
          if (c != '/') {
            next.insert(s);
          }
          break;
        case element_kind::double_star:
          next.insert(s);
          break;
        case element_kind::dir_star:
          break;  // its consuming part is the inner state
      }
    }
    close_over_epsilon(p, next);
    if (next.empty()) {
      return false;
    }
    std::swap(current, next);
  }
  return current.contains(p.size());
}

bool path_filter::accepts(std::string_view relative_path) const noexcept {
  for (const auto& pattern : exclude) {
    if (pattern.matches(relative_path)) {
      return false;
    }
  }
  if (include.empty()) {
    return true;
  }
  for (const auto& pattern : include) {
    if (pattern.matches(relative_path)) {
      return true;
    }
  }
  return false;
}

}  // namespace ximup
