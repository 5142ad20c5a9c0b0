#pragma once
// Test support: a strict parser of the Prometheus text exposition format 0.0.4, shared by the
// metrics unit tests and the scrape of a real run.
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ximup::test {

// ---------------------------------------------------------------------------------------------
// A strict parser of the text exposition format 0.0.4: throws on anything the format does not
// allow, and on what Prometheus would reject at ingestion (duplicate series, interleaved
// families, samples before their TYPE, broken histograms).

struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct family {
  std::string type;
  std::string help;
  std::vector<sample> samples;
};

struct exposition {
  std::map<std::string, family> families;
  std::vector<std::string> order;  // family names as they appear

  // The value of the one sample `name` with exactly `labels`; throws when absent.
  [[nodiscard]] double value(const std::string& name,
                             const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& [fname, f] : families) {
      for (const auto& s : f.samples) {
        if (s.name == name && s.labels == labels) return s.value;
      }
    }
    throw std::runtime_error("no sample " + name);
  }
  [[nodiscard]] bool has(const std::string& name,
                         const std::map<std::string, std::string>& labels = {}) const {
    try {
      (void)value(name, labels);
      return true;
    } catch (const std::runtime_error&) {
      return false;
    }
  }
};

[[noreturn]] inline void fail(std::size_t line_no, const std::string& line, const std::string& why) {
  throw std::runtime_error("line " + std::to_string(line_no) + ": " + why + ": '" + line + "'");
}

inline bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

inline bool valid_label_name(std::string_view n) {
  return valid_metric_name(n) && n.find(':') == std::string_view::npos && n.substr(0, 2) != "__";
}

inline double parse_value(std::string_view v, std::size_t line_no, const std::string& line) {
  if (v == "+Inf") return INFINITY;
  if (v == "-Inf") return -INFINITY;
  if (v == "NaN") return NAN;
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size()) fail(line_no, line, "bad value");
  return d;
}

// The family a sample belongs to, given the types seen: histogram series carry suffixes.
inline std::string family_of(const std::string& name, const std::map<std::string, family>& families) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      if (auto it = families.find(base); it != families.end() && it->second.type == "histogram") return base;
    }
  }
  return name;
}

inline exposition parse_exposition(const std::string& text) {
  exposition out;
  if (text.empty() || text.back() != '\n') throw std::runtime_error("the text must end with a newline");
  std::set<std::string> closed;  // families whose samples are over
  std::string current;
  std::set<std::pair<std::string, std::map<std::string, std::string>>> series;
  std::istringstream in(text);
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) fail(line_no, line, "empty line");
    if (line.find('\r') != std::string::npos) fail(line_no, line, "carriage return");
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name;
      words >> hash >> kind >> name;
      if (hash != "#" || (kind != "HELP" && kind != "TYPE"))
        fail(line_no, line, "comment that is not HELP/TYPE");
      if (!valid_metric_name(name)) fail(line_no, line, "bad metric name");
      const std::string prefix = "# " + kind + " " + name + " ";
      if (line.compare(0, prefix.size(), prefix) != 0) fail(line_no, line, "bad spacing");
      const std::string rest = line.substr(prefix.size());
      if (closed.count(name) != 0 || (!current.empty() && current != name && out.families.count(name) != 0)) {
        fail(line_no, line, "family reopened");
      }
      if (current != name) {
        if (!current.empty()) closed.insert(current);
        current = name;
        out.order.push_back(name);
      }
      auto& f = out.families[name];
      if (!f.samples.empty()) fail(line_no, line, "HELP/TYPE after samples");
      if (kind == "TYPE") {
        if (!f.type.empty()) fail(line_no, line, "second TYPE");
        if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" &&
            rest != "untyped") {
          fail(line_no, line, "unknown type");
        }
        f.type = rest;
      } else {
        if (!f.help.empty()) fail(line_no, line, "second HELP");
        std::string help;
        for (std::size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] != '\\') {
            help += rest[i];
            continue;
          }
          if (++i == rest.size()) fail(line_no, line, "dangling backslash in HELP");
          if (rest[i] == '\\') {
            help += '\\';
          } else if (rest[i] == 'n') {
            help += '\n';
          } else {
            fail(line_no, line, "bad escape in HELP");
          }
        }
        if (help.empty()) fail(line_no, line, "empty HELP");
        f.help = help;
      }
      continue;
    }

    // name{label="value",...} value
    sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!valid_metric_name(s.name)) fail(line_no, line, "bad metric name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        if (!s.labels.empty()) {
          if (i >= line.size() || line[i] != ',') fail(line_no, line, "expected ','");
          ++i;
        }
        const std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) fail(line_no, line, "label without '='");
        const std::string key = line.substr(i, eq - i);
        if (!valid_label_name(key)) fail(line_no, line, "bad label name '" + key + "'");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') fail(line_no, line, "label value not quoted");
        ++i;
        std::string value;
        for (;; ++i) {
          if (i >= line.size()) fail(line_no, line, "unterminated label value");
          const char c = line[i];
          if (c == '"') break;
          if (c != '\\') {
            value += c;
            continue;
          }
          if (++i >= line.size()) fail(line_no, line, "dangling backslash");
          if (line[i] == '\\') {
            value += '\\';
          } else if (line[i] == '"') {
            value += '"';
          } else if (line[i] == 'n') {
            value += '\n';
          } else {
            fail(line_no, line, "bad escape in a label value");
          }
        }
        ++i;  // closing quote
        if (!s.labels.emplace(key, value).second) fail(line_no, line, "duplicate label");
      }
    }
    if (i >= line.size() || line[i] != ' ') fail(line_no, line, "expected one space before the value");
    const std::string v = line.substr(i + 1);
    if (v.find(' ') != std::string::npos) fail(line_no, line, "timestamps or extra fields are not expected");
    s.value = parse_value(v, line_no, line);

    const std::string fname = family_of(s.name, out.families);
    if (fname != current)
      fail(line_no, line, "sample outside its family (no TYPE before it, or interleaved)");
    auto& f = out.families[fname];
    if (f.type.empty() || f.help.empty()) fail(line_no, line, "sample before HELP and TYPE");
    if (!series.emplace(s.name, s.labels).second) fail(line_no, line, "duplicate series");
    if (f.type == "counter" && !(s.value >= 0)) fail(line_no, line, "negative or NaN counter");
    f.samples.push_back(std::move(s));
  }

  // Histograms: buckets with increasing `le`, cumulative counts, +Inf last and equal to _count.
  for (const auto& [name, f] : out.families) {
    if (f.type.empty()) throw std::runtime_error(name + ": no TYPE");
    if (f.type != "histogram") continue;
    double last_le = -INFINITY;
    double last_count = 0;
    bool saw_inf = false;
    std::optional<double> count, sum;
    for (const auto& s : f.samples) {
      if (s.name == name + "_bucket") {
        if (saw_inf) throw std::runtime_error(name + ": bucket after +Inf");
        const auto it = s.labels.find("le");
        if (it == s.labels.end() || s.labels.size() != 1)
          throw std::runtime_error(name + ": bucket without le");
        const double le = parse_value(it->second, 0, it->second);
        if (!(le > last_le)) throw std::runtime_error(name + ": le not increasing");
        if (s.value < last_count) throw std::runtime_error(name + ": buckets not cumulative");
        last_le = le;
        last_count = s.value;
        saw_inf = std::isinf(le);
      } else if (s.name == name + "_count") {
        count = s.value;
      } else if (s.name == name + "_sum") {
        sum = s.value;
      } else {
        throw std::runtime_error(name + ": unexpected series " + s.name);
      }
    }
    if (!saw_inf) throw std::runtime_error(name + ": no +Inf bucket");
    if (!count || !sum) throw std::runtime_error(name + ": no _count or _sum");
    if (*count != last_count) throw std::runtime_error(name + ": +Inf bucket differs from _count");
  }
  return out;
}

}  // namespace ximup::test
