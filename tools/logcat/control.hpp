// logcat's commands for live processes, through their ring files (blackbox/control.hpp):
// `logcat ctl` (levels, flush, rotate, dump), `logcat top` (every blackbox process of the
// host), and the telemetry view of `logcat stats -p` and the post-mortem.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/control.hpp"
#include "blackbox/reader.hpp"

namespace logcat {

struct CtlArgs {
  int pid = 0;
  std::string app;                  // every live process of this app
  std::vector<std::string> action;  // "level net=debug", "levels", "flush", "rotate", "dump [FILE]"
  std::string for_text;             // --for DURATION (level)
  double timeout_s = 10;
  std::string output = "text";  // levels: text or json
};
int run_ctl(const CtlArgs& args);

struct TopArgs {
  double delay_s = 2;
  int iterations = 0;  // 0: until interrupted
  std::string output = "text";
  std::string app;
  bool utc = false;
};
int run_top(const TopArgs& args);

// The failure budget (Config::loss_budget) of a process's telemetry: the losses of every
// cause as counts and shares of its records over the run, the last minute's, and the
// budget, as lines (each starting with `indent`) or as a JSON object.
[[nodiscard]] std::string budget_lines(const blackbox::Telemetry& t, bool utc,
                                       const std::string& indent);
[[nodiscard]] std::string budget_json(const blackbox::Telemetry& t);

// "10m", "90s", "1h30m", "500ms", "2d": nullopt if malformed.
[[nodiscard]] std::optional<std::int64_t> parse_duration(const std::string& text);

// A process's telemetry in full, as `logcat stats -p` and the post-mortem show it: counts,
// losses by cause, flusher, levels, threads, and the histograms as bars with quantiles.
// `now_ns`: the time the lag is measured at (a crash's time for a post-mortem).
// `who`: "pid 4711 (orders), live" (ring_who()).
[[nodiscard]] std::string ring_who(const blackbox::RingInfo& info);
// A histogram as text: "3000 measured, p50 ..., max ..." (count, quantiles, max), and that
// as a line "NAME: ..." followed by a bar per decade. `value` writes a value in the
// histogram's unit.
[[nodiscard]] std::string histogram_summary(const blackbox::LogHistogram& h,
                                            const std::function<std::string(std::uint64_t)>& value);
[[nodiscard]] std::vector<std::string> histogram_lines(
    std::string_view name, const blackbox::LogHistogram& h,
    const std::function<std::string(std::uint64_t)>& value);
[[nodiscard]] std::string telemetry_text(const std::string& who, const blackbox::Telemetry& t,
                                         const std::optional<blackbox::LevelsState>& levels,
                                         std::int64_t now_ns, bool utc);

// What a crash report adds about the logger itself: what the process had lost and why, how
// far behind its archive was, whether the disk was failing. "--- ..." lines, or a JSON object.
[[nodiscard]] std::string crash_telemetry_text(const blackbox::Telemetry& t, std::int64_t crash_ns);
[[nodiscard]] std::string crash_telemetry_json(const blackbox::Telemetry& t, std::int64_t crash_ns);

// The ring files in the ring directories this user may read: BBX_DIR (or the default ring
// directory) and, for root, every /dev/shm/blackbox-UID.
[[nodiscard]] std::vector<std::string> ring_files_on_host();

}  // namespace logcat
