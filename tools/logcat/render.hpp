// Records as lines: human text (local time to the microsecond, level letter, thread, tag,
// message, trace id; colour on a terminal), JSON lines (OpenTelemetry severities, typed
// fields under their template names), logfmt, or the message alone.
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

namespace logcat {

enum class Format { text, json, logfmt, raw };

// An output buffer whose appends are a bounds check and a memcpy, inline (std::string's
// are out-of-line calls, a dozen per line: they were a tenth of logcat's time).
class Text {
 public:
  Text() { grow(1 << 20); }
  Text& operator+=(std::string_view s) {
    append(s.data(), s.size());
    return *this;
  }
  Text& operator+=(char c) {
    if (size_ == capacity_) grow(1);
    data_[size_++] = c;
    return *this;
  }
  void append(const char* p, std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    std::memcpy(data_.get() + size_, p, n);
    size_ += n;
  }
  void append(std::size_t n, char c) {
    if (capacity_ - size_ < n) grow(n);
    std::memset(data_.get() + size_, c, n);
    size_ += n;
  }
  // Room for `n` more bytes, to be written at end() and then kept with added(n).
  char* reserve(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    return data_.get() + size_;
  }
  void added(std::size_t n) { size_ += n; }
  [[nodiscard]] const char* data() const { return data_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }
  void clear() { size_ = 0; }

 private:
  void grow(std::size_t n);
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

class Renderer {
 public:
  Renderer(Format format, bool colour, bool utc) : format_(format), colour_(colour), utc_(utc) {}

  // Appends the record's line, newline included, to `out`.
  void render(const blackbox::Record& r, Text& out);

  // "2026-11-24 13:06:02.123456" (or ISO 8601 with 'T' and 'Z'), the seconds computed once
  // per second: localtime_r costs far more than the rest of a line.
  void append_time(std::int64_t ns, bool iso_utc, Text& out);

 private:
  Format format_;
  bool colour_;
  bool utc_;
  std::int64_t cached_second_ = -1;
  bool cached_iso_ = false;
  char cached_[32] = {};
  std::size_t cached_length_ = 0;
};

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
};

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

 private:
  Text buffer_;
  bool closed_ = false;
  bool failed_ = false;
};

// Appends `s` for a terminal or a text file: control characters (C0 but tab, DEL, and the
// C1 controls U+0080..U+009F) escaped as \n, \r, \xHH or \u00HH, so that a message can
// neither end its line (and forge the next one) nor send escape sequences to the terminal.
void append_printable(std::string_view s, Text& out);

[[nodiscard]] std::string trace_hex(const std::uint8_t* bytes, std::size_t n);

[[nodiscard]] char level_letter(blackbox::Level level);

}  // namespace logcat
