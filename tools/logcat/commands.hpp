// logcat's subcommands besides printing records.
#pragma once

#include <string>
#include <vector>

#include "sources.hpp"

namespace logcat {

// `logcat stats`: records per level, tag, call site and thread, top talkers, losses by
// cause, damaged ranges, and a histogram of the record rate over time. Returns the exit
// status.
int run_stats(Inputs& inputs, bool utc);

// `logcat verify`: reads every frame of every archive file (directories: each *.bbx in
// them) and every ring file, one line per file; lists each damaged range with its offset.
// 0 when everything is intact, 1 on any damage, 2 when an input cannot be opened.
int run_verify(const std::vector<std::string>& paths);

}  // namespace logcat
