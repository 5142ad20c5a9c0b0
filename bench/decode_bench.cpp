// The scaled JPEG decoder alone (src/resize/scaled_jpeg.hpp; docs/resize.md): one thread decodes each
// file of a tree at 1/SHRINK, ROUNDS times; prints the fastest and the median round in ms per file
// and a hash of every decoded pixel. A plain main, not Google Benchmark: the figure that compares two
// builds of the decoder is the fastest of several rounds on one pinned core (bench/decode-pairs.sh),
// steadier on a shared machine than whole-photo CPU time, and the hash says both decoded the same
// pixels.
//
//   decode_bench DIR [--shrink 4] [--rounds 8] [--files N]   (the first N .jpg files, by name)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "scaled_jpeg.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: decode_bench DIR [--shrink 2|4|8] [--rounds N] [--files N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  int shrink = 4;
  int rounds = 8;
  std::size_t max_files = 6;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::stoi(argv[i + 1]);
    if (flag == "--shrink") {
      shrink = value;
    } else if (flag == "--rounds") {
      rounds = std::max(1, value);
    } else if (flag == "--files") {
      max_files = static_cast<std::size_t>(std::max(1, value));
    } else {
      return usage();
    }
  }
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
    if (e.path().extension() == ".jpg") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  if (paths.size() > max_files) paths.resize(max_files);
  if (paths.empty()) {
    std::fprintf(stderr, "decode_bench: no .jpg files in %s\n", argv[1]);
    return 1;
  }
  std::vector<std::vector<std::uint8_t>> files;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ximup::scaled_jpeg_scratch scratch;
  std::vector<std::uint8_t> pixels;
  std::uint64_t hash = 0;
  std::vector<double> ms_per_file;
  for (int round = 0; round < rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < files.size(); ++i) {
      ximup::scaled_jpeg_image image;
      if (ximup::decode_scaled_jpeg(files[i], shrink, pixels, &image, scratch) !=
          ximup::scaled_jpeg_status::decoded) {
        std::fprintf(stderr, "decode_bench: %s is not decoded at 1/%d\n", paths[i].c_str(), shrink);
        return 1;
      }
      if (round == 0) {
        for (const std::uint8_t v : pixels) hash = hash * 31 + v;
      }
    }
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    ms_per_file.push_back(took.count() / static_cast<double>(files.size()));
  }
  std::sort(ms_per_file.begin(), ms_per_file.end());
  std::printf(
      "files=%zu shrink=%d rounds=%d min_ms_per_file=%.3f median_ms_per_file=%.3f pixels_hash=%016llx\n",
      files.size(), shrink, rounds, ms_per_file.front(), ms_per_file[ms_per_file.size() / 2],
      static_cast<unsigned long long>(hash));
  return 0;
}
