// How blackbox names the files it writes, so that names sort by time and say who wrote
// them: archives `<UTC time>.<app>.<pid>.bbx`, dumps `<app>.<pid>.<UTC time>.bbd`.
#pragma once

#include <cstdint>
#include <string>

namespace blackbox::archive {

inline constexpr const char* kArchiveSuffix = ".bbx";

// "20261124T130602.123456Z": UTC, microseconds; fixed width, so names sort by time.
[[nodiscard]] std::string file_time(std::int64_t ns);

// Splits an archive file name into its app and pid; false if it is not one.
[[nodiscard]] bool parse_file_name(const std::string& name, std::string& app, int& pid);

}  // namespace blackbox::archive
