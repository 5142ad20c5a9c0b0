// Deterministic fake results (tags, colors, labels, objects) from a SHA-256 digest.
#include "fake_results.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <span>
#include <stdexcept>
#include <vector>

#include "ximup/json_escape.hpp"
#include "ximup/mock/faults.hpp"
#include "ximup/mock/json_text.hpp"

namespace ximup::mock {
namespace {

constexpr std::string_view generic_vocabulary[] = {
    "Animal", "Dog",      "Cat",    "Bird", "Person", "Portrait", "Car",   "Vehicle",
    "Tree",   "Plant",    "Flower", "Sky",  "Cloud",  "Mountain", "Beach", "Water",
    "City",   "Building", "Street", "Food", "Indoor", "Outdoor",  "Night", "Landscape"};
constexpr std::string_view homedecor_vocabulary[] = {
    "Sofa", "Chair",  "Table",   "Lamp",    "Bed",      "Shelf", "Rug",       "Curtain",
    "Vase", "Mirror", "Cushion", "Cabinet", "Wardrobe", "Desk",  "Plant pot", "Wall art"};
constexpr std::string_view fashion_category[] = {"Clothing/Dresses",  "Clothing/Tops", "Clothing/Jeans",
                                                 "Footwear/Sneakers", "Bags/Handbags", "Accessories/Hats"};
constexpr std::string_view fashion_color[] = {"black", "white", "blue", "red", "green", "beige", "grey"};
constexpr std::string_view fashion_design[] = {"plain", "striped", "checked", "floral", "dotted"};
constexpr std::string_view fashion_style[] = {"casual", "elegant", "sporty", "vintage"};
constexpr std::string_view class_vocabulary[] = {"category A", "category B", "category C", "category D"};
constexpr std::string_view object_vocabulary[] = {"Person", "Car", "Dog", "Bag", "Shoe", "Chair"};

struct named_color {
  std::string_view name;
  int r, g, b;
};
constexpr named_color palette[] = {
    {"black", 0, 0, 0},       {"white", 255, 255, 255}, {"grey", 128, 128, 128}, {"red", 220, 30, 30},
    {"orange", 255, 140, 0},  {"yellow", 240, 220, 40}, {"green", 40, 160, 60},  {"cyan", 0, 200, 200},
    {"blue", 30, 60, 200},    {"purple", 130, 50, 160}, {"pink", 250, 150, 190}, {"brown", 120, 70, 30},
    {"beige", 225, 205, 170}, {"navy", 20, 30, 90},     {"olive", 110, 110, 30}, {"teal", 0, 120, 120}};

std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string label_id(std::string_view name) {
  const std::uint64_t h = fnv1a(name);
  return fake_uuid(h, mix64(h, 1));
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// `{"name":..., "prob":..., "id":...}`
void append_label(std::string& out, std::string_view name, double prob) {
  out += "{\"name\":";
  ximup::append_json_string(out, name);
  out += ",\"prob\":";
  append_fixed(out, prob, 5);
  out += ",\"id\":\"";
  out += label_id(name);
  out += "\"}";
}

// `count` distinct names from `vocabulary` with descending probabilities, chosen by `d`.
void append_label_list(std::string& out, const sha256_digest& d, std::span<const std::string_view> vocabulary,
                       std::size_t count, std::size_t offset) {
  std::vector<bool> used(vocabulary.size(), false);
  double prob = 0.55 + 0.44 * d[offset % 32] / 255.0;
  out.push_back('[');
  for (std::size_t i = 0; i < count && i < vocabulary.size(); ++i) {
    std::size_t pick = d[(offset + 1 + i) % 32] % vocabulary.size();
    while (used[pick]) {
      pick = (pick + 1) % vocabulary.size();
    }
    used[pick] = true;
    if (i > 0) {
      out.push_back(',');
    }
    append_label(out, vocabulary[pick], prob);
    prob *= 0.5 + 0.45 * d[(offset + 11 + i) % 32] / 255.0;
  }
  out.push_back(']');
}

std::string_view nearest_color_name(int r, int g, int b) noexcept {
  std::string_view best = palette[0].name;
  int best_distance = 1 << 30;
  for (const auto& c : palette) {
    const int distance = (r - c.r) * (r - c.r) + (g - c.g) * (g - c.g) + (b - c.b) * (b - c.b);
    if (distance < best_distance) {
      best_distance = distance;
      best = c.name;
    }
  }
  return best;
}

}  // namespace

sha256_digest sha256(std::string_view bytes) {
  sha256_digest d{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), d.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != d.size()) {
    throw std::runtime_error("EVP_Digest(SHA-256) failed");
  }
  return d;
}

std::string to_hex(const sha256_digest& digest) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(digest.size() * 2, '0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 0xF];
  }
  return out;
}

std::string fake_uuid(std::uint64_t a, std::uint64_t b) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) {
      out.push_back('-');
    }
    const std::uint64_t word = i < 16 ? a : b;
    const int shift = 60 - 4 * (i % 16);
    std::uint64_t nibble = (word >> shift) & 0xF;
    if (i == 12) {
      nibble = 4;  // version 4
    }
    if (i == 16) {
      nibble = 8 | (nibble & 0x3);  // RFC 4122 variant
    }
    out.push_back(hex[nibble]);
  }
  return out;
}

void append_fixed(std::string& out, double value, int decimals) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, decimals);
  out.append(buf, r.ptr);
}

void append_tags(std::string& out, const sha256_digest& d, std::string_view vocabulary_name) {
  const std::span<const std::string_view> vocabulary =
      vocabulary_name == "homedecor" ? std::span<const std::string_view>(homedecor_vocabulary)
                                     : std::span<const std::string_view>(generic_vocabulary);
  out += "\"_tags\":";
  append_label_list(out, d, vocabulary, 3 + d[0] % 4U, 1);
}

void append_fashion_tags(std::string& out, const sha256_digest& d) {
  out += "\"_tags\":{\"Category\":";
  append_label_list(out, d, fashion_category, 1, 2);
  out += ",\"Color\":";
  append_label_list(out, d, fashion_color, 1 + d[1] % 2U, 5);
  out += ",\"Design\":";
  append_label_list(out, d, fashion_design, 1, 9);
  out += ",\"Style\":";
  append_label_list(out, d, fashion_style, 1, 13);
  out.push_back('}');
}

void append_dominant_colors(std::string& out, const sha256_digest& d, unsigned colors) {
  const unsigned n = std::clamp(colors, 1U, 10U);
  std::vector<double> weights(n);
  double total = 0;
  for (unsigned i = 0; i < n; ++i) {
    weights[i] = 1.0 + d[(i * 7 + 5) % 32];
    total += weights[i];
  }
  std::sort(weights.begin(), weights.end(), std::greater<>());
  auto channel = [&](unsigned i, unsigned c) { return static_cast<int>(d[(3 * i + c) % 32]); };
  out += "\"_dominant_colors\":{\"rgb_colors\":[";
  for (unsigned i = 0; i < n; ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out.push_back('[');
    append_uint(out, static_cast<std::uint64_t>(channel(i, 0)));
    out.push_back(',');
    append_uint(out, static_cast<std::uint64_t>(channel(i, 1)));
    out.push_back(',');
    append_uint(out, static_cast<std::uint64_t>(channel(i, 2)));
    out.push_back(']');
  }
  out += "],\"rgb_hex_colors\":[";
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned i = 0; i < n; ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    out += "\"#";
    for (unsigned c = 0; c < 3; ++c) {
      const auto v = static_cast<unsigned>(channel(i, c));
      out.push_back(hex[v >> 4]);
      out.push_back(hex[v & 0xF]);
    }
    out.push_back('"');
  }
  out += "],\"color_names\":[";
  for (unsigned i = 0; i < n; ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    ximup::append_json_string(out, nearest_color_name(channel(i, 0), channel(i, 1), channel(i, 2)));
  }
  out += "],\"percentages\":[";
  for (unsigned i = 0; i < n; ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    append_fixed(out, weights[i] / total, 4);
  }
  out += "]}";
}

void append_classification(std::string& out, const sha256_digest& d) {
  const std::size_t best = d[3] % std::size(class_vocabulary);
  const double best_prob = 0.5 + 0.49 * d[4] / 255.0;
  out += "\"best_label\":";
  append_label(out, class_vocabulary[best], best_prob);
  out += ",\"labels\":[";
  append_label(out, class_vocabulary[best], best_prob);
  const std::size_t second =
      (best + 1 + d[5] % (std::size(class_vocabulary) - 1)) % std::size(class_vocabulary);
  out.push_back(',');
  append_label(out, class_vocabulary[second], 1.0 - best_prob);
  out.push_back(']');
}

void append_objects(std::string& out, const sha256_digest& d, std::uint32_t width, std::uint32_t height) {
  const unsigned count = 1 + d[6] % 3U;
  out += "\"_objects\":[";
  for (unsigned i = 0; i < count; ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    const auto name = object_vocabulary[d[7 + i] % std::size(object_vocabulary)];
    const auto x1 = static_cast<std::uint64_t>(width) * d[10 + 4 * i] / 512;
    const auto y1 = static_cast<std::uint64_t>(height) * d[11 + 4 * i] / 512;
    const auto x2 = x1 + (width - x1) * (64 + d[12 + 4 * i]) / 320;
    const auto y2 = y1 + (height - y1) * (64 + d[13 + 4 * i]) / 320;
    out += "{\"name\":";
    ximup::append_json_string(out, name);
    out += ",\"prob\":";
    append_fixed(out, 0.5 + 0.49 * d[25 + i] / 255.0, 5);
    out += ",\"id\":\"";
    out += label_id(name);
    out += "\",\"bound_box\":[";
    append_uint(out, x1);
    out.push_back(',');
    append_uint(out, y1);
    out.push_back(',');
    append_uint(out, x2);
    out.push_back(',');
    append_uint(out, y2);
    out += "]}";
  }
  out.push_back(']');
}

}  // namespace ximup::mock
