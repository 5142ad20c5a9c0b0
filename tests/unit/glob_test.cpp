// Tests for glob.hpp: pattern syntax, base-name vs whole-path matching, include/exclude rules.
#include "ximup/glob.hpp"

#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using ximup::glob_pattern;
using ximup::path_filter;

bool match(const std::string& pattern, std::string_view path) {
  return glob_pattern(pattern).matches(path);
}

TEST(Glob, LiteralMatchesExactly) {
  EXPECT_TRUE(match("cat.jpg", "cat.jpg"));
  EXPECT_FALSE(match("cat.jpg", "cat.jpeg"));
  EXPECT_FALSE(match("cat.jpg", "Cat.jpg"));  // case-sensitive
  EXPECT_FALSE(match("cat.jpg", "xcat.jpg"));
  EXPECT_FALSE(match("cat.jpg", "cat.jpgx"));
}

TEST(Glob, StarMatchesWithinOneSegment) {
  EXPECT_TRUE(match("*.jpg", "cat.jpg"));
  EXPECT_TRUE(match("*.jpg", ".jpg"));
  EXPECT_TRUE(match("*.jpg", ".hidden.jpg"));  // no special case for dot files
  EXPECT_FALSE(match("*.jpg", "cat.png"));
  EXPECT_TRUE(match("a*b*c", "abc"));
  EXPECT_TRUE(match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(match("a*b*c", "aXXbYY"));
  EXPECT_TRUE(match("dir/*.jpg", "dir/cat.jpg"));
  EXPECT_FALSE(match("dir/*.jpg", "dir/sub/cat.jpg"));  // '*' does not cross '/'
}

TEST(Glob, PatternWithoutSlashMatchesBaseNameAnywhere) {
  EXPECT_TRUE(match("*.jpg", "a/b/c/cat.jpg"));
  EXPECT_TRUE(match("cat.jpg", "deep/er/cat.jpg"));
  EXPECT_FALSE(match("b", "b/cat.jpg"));  // directories are not base names
  EXPECT_FALSE(match("*b*", "b/cat.jpg"));
}

TEST(Glob, PatternWithSlashMatchesWholeRelativePath) {
  EXPECT_TRUE(match("raw/*.jpg", "raw/a.jpg"));
  EXPECT_FALSE(match("raw/*.jpg", "x/raw/a.jpg"));  // anchored at the root
  EXPECT_TRUE(match("*/a.jpg", "raw/a.jpg"));
  EXPECT_FALSE(match("*/a.jpg", "a.jpg"));
}

TEST(Glob, LeadingSlashAnchorsAtTheRoot) {
  EXPECT_TRUE(match("/cat.jpg", "cat.jpg"));
  EXPECT_FALSE(match("/cat.jpg", "sub/cat.jpg"));
  EXPECT_TRUE(match("/sub/*.jpg", "sub/cat.jpg"));
  EXPECT_EQ(glob_pattern("/cat.jpg").text(), "/cat.jpg");  // text() keeps what was given
}

TEST(Glob, DoubleStarCrossesSlashes) {
  EXPECT_TRUE(match("raw/**", "raw/a.jpg"));
  EXPECT_TRUE(match("raw/**", "raw/x/y/a.jpg"));
  EXPECT_FALSE(match("raw/**", "other/a.jpg"));
  EXPECT_TRUE(match("**.jpg", "cat.jpg"));
  EXPECT_TRUE(match("x/**.jpg", "x/a/b/cat.jpg"));
  EXPECT_TRUE(match("a/**b", "a/x/yb"));
  EXPECT_TRUE(match("***", "anything"));  // a run of stars is one '**'
}

TEST(Glob, DoubleStarSlashAlsoMatchesZeroDirectories) {
  EXPECT_TRUE(match("**/*.jpg", "cat.jpg"));
  EXPECT_TRUE(match("**/*.jpg", "a/cat.jpg"));
  EXPECT_TRUE(match("**/*.jpg", "a/b/c/cat.jpg"));
  EXPECT_TRUE(match("a/**/b.jpg", "a/b.jpg"));
  EXPECT_TRUE(match("a/**/b.jpg", "a/x/b.jpg"));
  EXPECT_TRUE(match("a/**/b.jpg", "a/x/y/b.jpg"));
  EXPECT_FALSE(match("a/**/b.jpg", "a/xb.jpg"));
  EXPECT_FALSE(match("a/**/b.jpg", "ab.jpg"));
  EXPECT_TRUE(match("**/thumbs/**", "thumbs/a.jpg"));
  EXPECT_TRUE(match("**/thumbs/**", "x/y/thumbs/z/a.jpg"));
  EXPECT_FALSE(match("**/thumbs/**", "x/thumbsup/a.jpg"));
  EXPECT_TRUE(match("/**/x.jpg", "x.jpg"));
  EXPECT_TRUE(match("x**/y", "xa/b/y"));  // not at a segment start: an ordinary '**'
  EXPECT_FALSE(match("x**/y", "x/y/z"));
}

TEST(Glob, QuestionMarkMatchesOneByteButNotSlash) {
  EXPECT_TRUE(match("img?.jpg", "img1.jpg"));
  EXPECT_FALSE(match("img?.jpg", "img.jpg"));
  EXPECT_FALSE(match("img?.jpg", "img12.jpg"));
  EXPECT_FALSE(match("a?b", "a/b"));
  EXPECT_TRUE(match("?", "\xFF"));  // bytes, not characters
}

TEST(Glob, CharacterClasses) {
  EXPECT_TRUE(match("img[0-9].jpg", "img7.jpg"));
  EXPECT_FALSE(match("img[0-9].jpg", "imgx.jpg"));
  EXPECT_TRUE(match("[abc].jpg", "b.jpg"));
  EXPECT_FALSE(match("[abc].jpg", "d.jpg"));
  EXPECT_TRUE(match("[!a-c].jpg", "d.jpg"));
  EXPECT_FALSE(match("[!a-c].jpg", "b.jpg"));
  EXPECT_TRUE(match("[^a-c].jpg", "d.jpg"));
  EXPECT_TRUE(match("[]].jpg", "].jpg"));     // a leading ']' is literal
  EXPECT_TRUE(match("[a-].jpg", "-.jpg"));    // a trailing '-' is literal
  EXPECT_TRUE(match("[\\]x].jpg", "].jpg"));  // escaped ']'
  EXPECT_TRUE(match("[a-cx-z]", "y"));
  EXPECT_FALSE(match("[a-cx-z]", "m"));
  EXPECT_FALSE(match("a[!x]b", "a/b"));  // a class never matches '/'
  EXPECT_FALSE(match("[z-a]", "m"));     // a reversed range matches nothing
}

TEST(Glob, BackslashEscapesTheNextCharacter) {
  EXPECT_TRUE(match("\\*.jpg", "*.jpg"));
  EXPECT_FALSE(match("\\*.jpg", "cat.jpg"));
  EXPECT_TRUE(match("a\\?", "a?"));
  EXPECT_FALSE(match("a\\?", "ab"));
  EXPECT_TRUE(match("\\[x]", "[x]"));
  EXPECT_TRUE(match("a\\\\b", "a\\b"));
  EXPECT_TRUE(match("x\\**", "x*yz"));  // escaped '*' then a real one
  EXPECT_FALSE(match("x\\**", "xyz"));
}

TEST(Glob, MalformedPatternsThrow) {
  EXPECT_THROW(glob_pattern("img[0-9.jpg"), std::invalid_argument);
  EXPECT_THROW(glob_pattern("[!]"), std::invalid_argument);
  EXPECT_THROW(glob_pattern("abc\\"), std::invalid_argument);
  try {
    glob_pattern bad("x[");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("x["), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(glob_pattern("a\\["));
  EXPECT_NO_THROW(glob_pattern(""));
}

TEST(Glob, MatchingIsOnBytes) {
  EXPECT_TRUE(match("*.jpg", "caf\xC3\xA9.jpg"));
  EXPECT_TRUE(match("caf??.jpg", "caf\xC3\xA9.jpg"));  // é is two bytes
  EXPECT_TRUE(match("*\xFF*",
                    "a\xFF"
                    "b"));
  EXPECT_TRUE(match("a\nb", "a\nb"));
}

TEST(Glob, PathologicalPatternsStayFast) {
  // Backtracking matchers take exponential time here; the NFA is linear in the path length.
  const std::string pattern = "*a*a*a*a*a*a*a*a*a*a*a*b";
  const std::string path(10000, 'a');
  EXPECT_FALSE(match(pattern, path));
  EXPECT_FALSE(match("**a**a**a**a**a**a**a**a**b", std::string(5000, 'a')));
}

// The same semantics written as a regular expression, for differential testing on small alphabets.
std::regex reference_regex(const std::string& pattern) {
  const bool basename_only = pattern.find('/') == std::string::npos;
  std::string p = pattern;
  while (!p.empty() && p.front() == '/') {
    p.erase(0, 1);
  }
  // A base-name-only pattern must match all of the text after the last '/'.
  std::string re = basename_only ? "(?:[\\s\\S]*/)?(?=[^/]*$)" : "";
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '*') {
      std::size_t run = 1;
      while (i + run < p.size() && p[i + run] == '*') {
        ++run;
      }
      const bool segment_start = i == 0 || p[i - 1] == '/';
      if (run >= 2 && segment_start && i + run < p.size() && p[i + run] == '/') {
        re += "(?:[\\s\\S]*/)?";
        i += run;
      } else {
        re += run >= 2 ? "[\\s\\S]*" : "[^/]*";
        i += run - 1;
      }
    } else if (p[i] == '?') {
      re += "[^/]";
    } else if (p[i] == '[') {  // the generator only makes [ab] and [!a]
      const std::size_t end = p.find(']', i);
      std::string body = p.substr(i + 1, end - i - 1);
      if (body[0] == '!') {
        body[0] = '^';
      }
      re += "(?!/)[" + body + "]";
      i = end;
    } else {
      re += p[i] == '/' ? std::string("/") : std::string(1, p[i]);
    }
  }
  return std::regex(re);
}

TEST(Glob, AgreesWithRegexTranslationOnRandomInputs) {
  std::mt19937 rng(99);
  const std::vector<std::string> pattern_parts = {"a", "b", "/", "*", "**", "**/", "?", "[ab]", "[!a]"};
  const std::vector<char> path_chars = {'a', 'b', '/'};
  for (int round = 0; round < 3000; ++round) {
    std::string pattern = (rng() % 4 == 0) ? "/" : "";
    const std::size_t parts = 1 + rng() % 5;
    for (std::size_t k = 0; k < parts; ++k) {
      pattern += pattern_parts[rng() % pattern_parts.size()];
    }
    const glob_pattern glob(pattern);
    const std::regex re = reference_regex(pattern);
    for (int j = 0; j < 20; ++j) {
      std::string path;
      const std::size_t len = rng() % 7;
      for (std::size_t k = 0; k < len; ++k) {
        path.push_back(path_chars[rng() % path_chars.size()]);
      }
      ASSERT_EQ(glob.matches(path), std::regex_match(path, re))
          << "pattern '" << pattern << "' path '" << path << "'";
    }
  }
}

TEST(Glob, FilterAcceptsWhenNoExcludeMatchesAndSomeIncludeDoes) {
  path_filter none;
  EXPECT_TRUE(none.accepts("anything/at/all.jpg"));

  path_filter f;
  f.include.emplace_back("*.jpg");
  f.include.emplace_back("/keep/**");
  f.exclude.emplace_back("**/thumbs/**");
  f.exclude.emplace_back("*-small.*");
  EXPECT_TRUE(f.accepts("a/b.jpg"));
  EXPECT_TRUE(f.accepts("keep/x.png"));
  EXPECT_FALSE(f.accepts("a/b.png"));
  EXPECT_FALSE(f.accepts("a/thumbs/b.jpg"));
  EXPECT_FALSE(f.accepts("b-small.jpg"));
  EXPECT_FALSE(f.accepts("keep/thumbs/x.png"));  // exclude wins over include

  path_filter only_exclude;
  only_exclude.exclude.emplace_back("*.tmp");
  EXPECT_TRUE(only_exclude.accepts("a.jpg"));
  EXPECT_FALSE(only_exclude.accepts("a/b.tmp"));
}

}  // namespace
