// File names of archives (file_names.hpp).
#include "format/file_names.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "sys/calendar.hpp"

namespace blackbox::archive {
namespace {

constexpr std::size_t kTimeChars = 23;  // "20261124T130602.123456Z"

}  // namespace

std::string file_time(std::int64_t ns) {
  // Not gmtime_r: its time zone lock must never be held by the flusher across a fork.
  const std::tm tm = sys::utc_calendar(ns / 1'000'000'000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06dZ", buf, static_cast<int>((ns % 1'000'000'000) / 1000));
  return out;
}

bool parse_file_name(const std::string& name, std::string& app, int& pid) {
  const std::size_t suffix = std::strlen(kArchiveSuffix);
  if (name.size() < kTimeChars + 1 + 1 + 1 + 1 + suffix) return false;
  if (name.compare(name.size() - suffix, suffix, kArchiveSuffix) != 0) return false;
  if (name[kTimeChars - 1] != 'Z' || name[8] != 'T' || name[kTimeChars] != '.') return false;
  const std::string rest = name.substr(kTimeChars + 1, name.size() - suffix - kTimeChars - 1);
  const std::size_t dot = rest.find_last_of('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size()) return false;
  const std::string pid_text = rest.substr(dot + 1);
  if (!std::all_of(pid_text.begin(), pid_text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      pid_text.size() > 9) {
    return false;
  }
  app = rest.substr(0, dot);
  pid = std::stoi(pid_text);
  return true;
}

}  // namespace blackbox::archive
