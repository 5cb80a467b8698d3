#include "ringdump.hpp"

#include <fmt/format.h>

#include <cctype>
#include <ctime>
#include <filesystem>

#include "blackbox/reader.hpp"

namespace blackbox::tools {
namespace {

std::string utc_time(std::int64_t ns) {
  const std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:06d}", buf, (ns / 1000) % 1'000'000);
}

const char* state_name(RingState s) {
  switch (s) {
    case RingState::live:
      return "live";
    case RingState::exited:
      return "exited";
    case RingState::crashed:
      return "crashed";
  }
  return "unknown";
}

}  // namespace

std::vector<std::string> rings_of_pid(const std::string& dir, long pid) {
  std::vector<std::string> out;
  // Appended piecewise: g++ 12 -O3 warns falsely (-Wrestrict) on "." + to_string(pid) + ...
  std::string suffix = ".";
  suffix += std::to_string(pid);
  suffix += ".bbr";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix)) out.push_back(e.path().string());
  }
  return out;
}

bool dump_ring(const std::string& path, std::FILE* out, std::FILE* err) {
  std::string error;
  auto reader = RingReader::open(path, &error);
  if (!reader) {
    fmt::print(err, "bbx-ringdump: {}\n", error);
    return false;
  }
  const RingInfo info = reader->info();
  const auto records = reader->read_sorted();
  fmt::print(out, "# {} app={} pid={} state={}{} started={} threads={}\n", path, info.app, info.pid,
             state_name(info.state),
             info.state == RingState::live && !info.process_alive ? " (process gone)" : "",
             utc_time(info.start_time_ns), info.threads_attached);
  for (const Record& r : records) {
    const char letter = static_cast<char>(std::toupper(level_name(r.level)[0]));
    fmt::print(out, "{} {} {:<8} {:>7} {}", utc_time(r.time_ns), letter, r.tag, r.tid, r.message);
    if (r.has_trace) fmt::print(out, " trace={:02x}", fmt::join(r.trace_id, ""));
    fmt::print(out, "\n");
  }
  for (const Loss& l : reader->losses()) {
    fmt::print(out, "# lost {} records ({} bytes, {} damaged) of thread {} (slot {})\n", l.records,
               l.bytes, l.corrupt_bytes, l.tid, l.slot);
  }
  if (info.dropped_no_slot + info.dropped_after_exit + info.sites_dropped > 0) {
    fmt::print(out,
               "# dropped by the writer: {} without a slot, {} after thread exit, {} records of "
               "{} sites the full site table could not define\n",
               info.dropped_no_slot, info.dropped_after_exit, info.dropped_site_table_full,
               info.sites_dropped);
  }
  return true;
}

}  // namespace blackbox::tools
