#pragma once
// The human summary printed at the end of `ximup upload` (to stderr, and to a text --log-file).
#include <cstdio>
#include <string>

#include "ximup/pipeline.hpp"

namespace ximup::cli {
void print_summary(const run_summary& summary, const std::string& results_path, std::FILE* out = stderr);
}
