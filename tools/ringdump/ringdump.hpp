// bbx-ringdump: prints what a ring file holds, in time order, until logcat (issue 4) can do
// it with filters and colours. For post-mortems: works on the ring of a live, exited or
// killed process, found by path or by pid.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace blackbox::tools {

// The ring files of process `pid` in `dir` (`<app>.<pid>.bbr`).
[[nodiscard]] std::vector<std::string> rings_of_pid(const std::string& dir, long pid);

// Prints the ring's header facts, every record (one line each: UTC time, level letter, tag,
// tid, message, trace id if any) and the losses. Returns false, with a message on `err`, if
// the file cannot be read as a ring.
bool dump_ring(const std::string& path, std::FILE* out, std::FILE* err);

}  // namespace blackbox::tools
