// Records as lines: human text (local time to the microsecond, level letter, thread, tag,
// message, trace id; colour on a terminal), JSON lines (OpenTelemetry severities, typed
// fields under their template names), logfmt, or the message alone.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "blackbox/reader.hpp"

namespace logcat {

enum class Format { text, json, logfmt, raw };

class Renderer {
 public:
  Renderer(Format format, bool colour, bool utc) : format_(format), colour_(colour), utc_(utc) {}

  // Appends the record's line, newline included, to `out`.
  void render(const blackbox::Record& r, std::string& out);

 private:
  // "2026-11-24 13:06:02" (or ISO 8601 with 'T'), computed once per second: localtime_r
  // costs far more than the rest of a line.
  void append_time(std::int64_t ns, bool iso_utc, std::string& out);

  Format format_;
  bool colour_;
  bool utc_;
  std::int64_t cached_second_ = -1;
  bool cached_iso_ = false;
  char cached_[32] = {};
};

// Buffered standard output that notices a closed pipe: write() returns false once stdout
// is gone (EPIPE), and logcat then stops quietly.
class Output {
 public:
  Output();
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  std::string& buffer() { return buffer_; }
  bool commit();  // writes the buffer once it is large; false on EPIPE
  bool flush();   // writes everything now
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] bool failed() const { return failed_; }  // closed by an error other than EPIPE

 private:
  std::string buffer_;
  bool closed_ = false;
  bool failed_ = false;
};

[[nodiscard]] std::string json_string(std::string_view s);
[[nodiscard]] std::string trace_hex(const std::uint8_t* bytes, std::size_t n);
[[nodiscard]] char level_letter(blackbox::Level level);

}  // namespace logcat
