// The console: records also shown as text lines on stderr (or JSON lines on stdout), for
// people who run a program in a terminal and for container runtimes that collect stdout.
//
// The logging thread never formats or writes a line: the flusher thread reads the process's
// own ring like any other reader (RingReader), renders new records with logcat's renderer
// (blackbox/text.hpp) every Config::console_interval_ms, and writes them without ever
// blocking. A console that cannot take them (a full pipe, a stopped pager, a terminal
// paused with ^S) costs lines, never time: they are counted (Stats::console_not_shown) and
// said ("... 1,234 lines not shown") once it takes lines again.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/level.hpp"
#include "blackbox/reader.hpp"
#include "blackbox/stats.hpp"
#include "blackbox/text.hpp"
#include "crash/crash_handler.hpp"

namespace blackbox::core {

// Config::console parsed: "auto", "on", "off", "json", a level ("warn": on, from warn up),
// or a mode and a level ("json:warn", "auto:debug").
struct ConsoleSpec {
  enum class Mode { automatic, on, off, json } mode = Mode::automatic;
  Level level = Level::trace;  // the logger's own levels apply first
};
[[nodiscard]] bool parse_console_spec(std::string_view text, ConsoleSpec& out, std::string& error);

// A file descriptor written without ever blocking the caller (docs/operations.md, "The
// console"): a regular file is written as it is; a socket with MSG_DONTWAIT; a pipe or a
// terminal through a file description of its own opened with O_NONBLOCK (setting
// O_NONBLOCK on the shared one would change it for the program, and for the shell that
// gave it). SIGPIPE is never raised: a reader that went away is a write that failed.
class NonBlockingWriter {
 public:
  explicit NonBlockingWriter(int fd);
  ~NonBlockingWriter();
  NonBlockingWriter(const NonBlockingWriter&) = delete;
  NonBlockingWriter& operator=(const NonBlockingWriter&) = delete;
  // Bytes written (maybe fewer than `size`, maybe 0 when the fd is full); -1 once the fd is
  // gone for good (EPIPE, EBADF, ...): nothing more will be written.
  [[nodiscard]] long write(const char* data, std::size_t size) noexcept;
  // Waits up to `timeout_ms` for room to write; false on timeout or error.
  bool wait_writable(int timeout_ms) noexcept;

 private:
  enum class Kind { plain, socket, own_description, polled };
  int fd_;
  Kind kind_ = Kind::plain;
  int own_ = -1;
};

class Console {
 public:
  // Lines go to `fd` (2, or 1 for JSON) in `format`, records of `level` and above.
  // `skip_captured`: not the records of captured stdout and stderr (tags "stdout" and
  // "stderr"): their bytes were passed through to the terminal already. `notice_fd`: where
  // a crash's one-line notice goes (stderr as the program had it; -1: `fd`).
  Console(int fd, text::Format format, Level level, bool colour, bool skip_captured = false,
          int notice_fd = -1);

  // Shows the records logged since the last pass. `final`: the last one (at shutdown): the
  // lines the console still could not take are counted as not shown. Called by the flusher
  // thread only.
  void pass(bool final) noexcept;

  void add_stats(Stats& s) const noexcept;

  // The crash path: the lines of the last moments (the flusher draws every
  // console_interval_ms: a crash would cut off up to that much, the lines that matter most).
  // Asks the flusher thread for a final pass now (served by serve_crash_request() at its next
  // pass) and waits for it, at most `wait_ms`; then writes the notice saying what happened and
  // where the post-mortem is. Async-signal-safe (atomics, a futex wake, nanosleep, write),
  // bounded; the rendering runs on the flusher thread, which the signal did not interrupt.
  // When the flusher cannot answer (the crash is on the flusher thread, or it is blocked, or
  // stopped) the notice says the last lines are not shown. Crash handler only.
  void show_crash(const crash::CrashNotice& notice, int pid, int wait_ms) noexcept;
  // Called by the flusher thread at every pass: a crash's request, if any.
  void serve_crash_request() noexcept;

  // Any thread but the flusher's (the capture's, before it passes a program's line
  // through): returns once a pass that began after the call has written its lines, or
  // after `timeout_ms`, or at once when the console has made its final pass. Blocks.
  void show_now(int timeout_ms);
  // Called by the flusher thread at every pass: serves show_now()'s requests.
  void serve_show_requests();

  // Bytes of lines queued while the console cannot take them, at most (then they are not
  // shown): a burst of about 50,000 lines to a terminal or a pipe that is being read is
  // shown whole; a stopped pager costs this much memory, then lines.
  static constexpr std::size_t kMaxPending = 4u << 20;
  // The final pass (at shutdown, when no thread logs any more) waits this long at most for
  // a console that is being read to take what is left.
  static constexpr int kFinalWaitMs = 1000;

 private:
  void show(const Record& r);
  void write_pending() noexcept;

  std::unique_ptr<RingReader> reader_;  // the own ring; opened on the first pass
  NonBlockingWriter out_;
  text::Renderer renderer_;
  text::SpanWording spans_;  // span ends read as logcat reads them (text format)
  std::string app_;          // the process's app, as its ring file names it
  text::Format format_;
  Level level_;
  bool skip_captured_;
  text::Buffer lines_{64u << 10};  // this pass's lines, in the order read
  struct Line {
    std::int64_t time_ns;
    std::uint32_t begin, end;
  };
  std::vector<Line> order_;
  text::Buffer pending_{64u << 10};      // lines not yet written, in time order
  std::uint64_t unsaid_ = 0;             // lines not shown since the last "not shown" note
  std::uint64_t dropped_in_pass_ = 0;    // not even rendered in this pass (no room)
  std::uint64_t lost_seen_ = 0;          // the reader's lost_records() already counted
  bool gone_ = false;                    // the fd is gone: nothing more is written
  std::uint64_t written_ = 0;            // bytes of lines written so far
  std::deque<std::uint64_t> note_ends_;  // where the notes queued end (in written_ terms)
  bool blocked_sigpipe_ = false;         // in the calling (flusher) thread
  // For stats(): written by the flusher thread, read by any (relaxed counters).
  std::atomic<std::uint64_t> shown_{0}, not_shown_{0};
  // The crash request: the handler stores crash_asked_ (release), the flusher loads it
  // (acquire), passes, and stores crash_shown_ (release: its lines are written), which the
  // handler loads (acquire) before its notice, so the notice comes after them.
  std::atomic<bool> crash_asked_{false}, crash_shown_{false};
  // The flusher thread (its tid: a crash there cannot wait for itself), and whether it made
  // its final pass (nobody will serve a request). Relaxed: a stale value costs the wait.
  std::atomic<std::uint32_t> flusher_tid_{0};
  std::atomic<bool> closed_{false};
  // show_now(): request numbers and the last one served, under show_mutex_ (the flusher
  // notifies show_served_ after its pass; held only to read or write the two numbers).
  std::mutex show_mutex_;
  std::condition_variable show_served_;
  std::uint64_t show_requested_ = 0, show_done_ = 0;
  std::atomic<bool> show_pending_{false};  // relaxed hint: the flusher locks only when set
  int notice_fd_;
};

// The crash notice, "blackbox: crashed with SIGSEGV in thread 4712 (worker); post-mortem:
// logcat -p 4711\n", into `out`; returns its length. `shown`: false adds that the last lines
// could not be shown. Async-signal-safe (no allocation, no locale).
std::size_t crash_notice_line(const crash::CrashNotice& notice, int pid, bool shown, char* out,
                              std::size_t size) noexcept;

}  // namespace blackbox::core
