// Records as lines (the library's renderer, blackbox/text.hpp), crash reports and process
// ends among them, and logcat's buffered standard output.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/reader.hpp"
#include "blackbox/text.hpp"

namespace logcat {

// The line renderer is the library's (blackbox/text.hpp), shared with the console.
using Text = blackbox::text::Buffer;
using blackbox::text::append_printable;
using blackbox::text::Format;
using blackbox::text::level_letter;
using blackbox::text::Renderer;
using blackbox::text::trace_hex;

// What each thread of a crashed process was doing last: its last record's time and the
// trace it was in (the traces in flight when the process died).
struct LastRecord {
  std::uint32_t tid = 0;
  std::string thread_name;
  std::int64_t time_ns = 0;
  bool has_trace = false;
  std::array<std::uint8_t, 16> trace_id{};
};

// A process that crashed, as a ring file it left or an archive file recovered from one.
struct Crashed {
  std::string path;  // the ring file or archive file that holds the report
  bool ring = false;
  std::string app;
  std::int32_t pid = 0;
  blackbox::CrashInfo crash;
  // The logger's telemetry as the process left it (ring files of format version 2).
  std::optional<blackbox::Telemetry> telemetry;
  // Its application metrics as it left them (ring files of format version 3).
  std::optional<blackbox::MetricsSnapshot> metrics;
};

// "SIGSEGV" ("signal 42" for one without a name).
[[nodiscard]] std::string signal_name(int signal);

// "2026-11-24 13:06:02" (local time; "...Z" in UTC), with ".123" when `millis`.
[[nodiscard]] std::string clock_text(std::int64_t ns, bool utc, bool millis = false);

// The end of a process followed with -f -p that left no crash report: "exited" (normally)
// or "died" (killed). A line in text, {"end":{...}} in JSON, end=... in logfmt, nothing raw.
void render_end(std::int32_t pid, const std::string& how, Format format, Text& out);

// A crash report, in its place in time among the records: "crashed: SIGSEGV (address not
// mapped) at 0x0 ..." lines, then one line per thread (text), one {"crash": {...}} object
// (json), one logfmt line (level=FATAL crash=SIGSEGV ...), or nothing (raw).
// `threads`: the crashing thread first.
void render_crash(const Crashed& crashed, const std::vector<LastRecord>& threads, Format format,
                  bool utc, Text& out);

// Buffered standard output that notices a closed pipe: write() returns false once stdout
// is gone (EPIPE), and logcat then stops quietly.
class Output {
 public:
  Output();
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  Text& buffer() { return buffer_; }
  bool commit();  // writes the buffer once it is large; false on EPIPE
  bool flush();   // writes everything now
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] bool failed() const { return failed_; }  // closed by an error other than EPIPE

  // On a terminal, as journalctl does: output longer than `rows` lines goes through a pager
  // (`command` run by /bin/sh, e.g. $PAGER; empty: less -R). Shorter output, held until
  // then, is written as it is. The pager is waited for when the output ends.
  void page_if_longer_than(std::size_t rows, std::string command);
  // Ends paged output: closes the pager's pipe and waits for it to exit (the user reads).
  void finish();

 private:
  bool start_pager();
  Text buffer_;
  int fd_ = 1;  // standard output, or the pager's pipe
  bool closed_ = false;
  bool failed_ = false;
  // Paging: whether the output may still go to a pager, how many lines make it, and how
  // many newlines the held buffer has (counted up to `counted_`).
  bool may_page_ = false;
  std::size_t page_rows_ = 0, lines_ = 0, counted_ = 0;
  std::string pager_command_;
  int pager_pid_ = -1;
};

}  // namespace logcat
