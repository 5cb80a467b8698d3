// Records as text lines: the one renderer that logcat and the library's console share.
//
// Human text (local time to the microsecond, level letter, thread, tag, message, trace id;
// colour on a terminal), JSON lines (OpenTelemetry severities, typed fields under their
// template names), logfmt, or the message alone; and the helpers those are made of (JSON
// escaping, hex ids), for programs that read records themselves (blackbox/reader.hpp).
//
// The buffer's appends are a bounds check and a memcpy, inline: these run a dozen times per
// line, and std::string's out-of-line appends were a tenth of logcat's time.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "blackbox/level.hpp"
#include "blackbox/metric_values.hpp"
#include "blackbox/reader.hpp"

namespace blackbox::reader {
class EncodedLine;
}

namespace blackbox::text {

enum class Format { text, json, logfmt, raw };

// How a text line is laid out: today's default, or one of adb logcat's -v formats.
//   standard    2026-11-24 13:06:02.123456 I    4711 net      message trace=...
//   brief       I/net     ( 4711): message
//   time        11-24 13:06:02.123 I/net     ( 4711): message
//   threadtime  11-24 13:06:02.123  4711  4712 I net     : message
//   long        [ 2026-11-24 13:06:02.123456 4711:4712 I/net ], then the message, the
//               fields, ids and call site one per line, then an empty line
enum class Layout { standard, brief, time, threadtime, long_form };

// How times are written (text): the layout's own (automatic), or as journalctl's -o
// short-iso (iso: seconds and the UTC offset), short-iso-precise (iso_precise:
// nanoseconds), short-unix (unix: seconds since the epoch), short-monotonic (mono: here,
// seconds since the process started), short-delta (delta: since the previous line).
enum class TimeFormat { automatic, iso, iso_precise, unix_seconds, mono, delta };

struct TextOptions {
  Layout layout = Layout::standard;
  TimeFormat time = TimeFormat::automatic;
  bool pid = false;           // standard layout: "pid:tid" where the thread id alone is
  bool full_ids = true;       // false: trace ids shortened to their first 8 hex digits
  std::size_t app_width = 0;  // standard layout: the app column's width (0: no column)
};

// A growing output buffer. Not thread-safe.
class Buffer {
 public:
  explicit Buffer(std::size_t initial = 1 << 20) { grow(initial); }
  Buffer& operator+=(std::string_view s) {
    append(s.data(), s.size());
    return *this;
  }
  Buffer& operator+=(char c) {
    if (size_ == capacity_) grow(1);
    data_[size_++] = c;
    return *this;
  }
  void append(const char* p, std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    if (n != 0) std::memcpy(data_.get() + size_, p, n);
    size_ += n;
  }
  void append(std::size_t n, char c) {
    if (capacity_ - size_ < n) grow(n);
    std::memset(data_.get() + size_, c, n);
    size_ += n;
  }
  // Room for `n` more bytes, to be written at the returned pointer and then kept with added(n).
  char* reserve(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    return data_.get() + size_;
  }
  void added(std::size_t n) { size_ += n; }
  [[nodiscard]] const char* data() const { return data_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::string_view view() const { return {data_.get(), size_}; }
  void clear() { size_ = 0; }
  // Keeps only the first `n` bytes (undoes appends after size() was n).
  void truncate(std::size_t n) { size_ = n < size_ ? n : size_; }
  // Drops the first `n` bytes (what a partial write took).
  void consume(std::size_t n);

 private:
  void grow(std::size_t n);
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

// Span records as people read them (the library's span records: docs/format.md, "Span
// records"), the same in logcat's flat view, its trace tree and the console.

// A record's span id as a number (the 8 bytes big-endian, as traceparent writes them).
[[nodiscard]] std::uint64_t span_number(const Record& r);

// The span's name from its start record: the `span {span} started` record's name, or the
// message of a BBX_SPAN start.
[[nodiscard]] std::string span_name(const Record& start);

// "2.37 ms": a duration in human units (ns, µs, ms, s), three significant digits.
[[nodiscard]] std::string human_duration(std::uint64_t ns);

// "end of NAME after 2.37 ms": how an end record reads.
[[nodiscard]] std::string span_end_text(std::string_view name, std::uint64_t duration_ns);

// The flat view's span wording: remembers the names of the spans whose start records went
// by, and says an end record as "end of NAME after 2.37 ms". A span's start is recognised,
// not assumed: the library's "span NAME started" record, or the span's record stamped at the
// span's start (the end time less the duration the span measured); when the start is not
// among the records seen (outside a time window, say), the end says so instead of naming the
// span after whichever of its records came first. Works on records read without their
// fields (from the messages). Bounded memory (a million open spans at most). Not
// thread-safe: one per reader.
class SpanWording {
 public:
  // nullopt for a record that is not a span's end; else its line's message.
  std::optional<std::string> end_text(const Record& r);
  // The record as a line shows it: `r` itself, or for a span's end a copy with end_text()
  // as its message (valid until the next call).
  const Record& reword(const Record& r);

 private:
  struct FirstRecord {
    std::string name;
    std::int64_t time_ns = 0;
    bool library_start = false;  // "span NAME started": a start whatever its time
  };
  std::unordered_map<std::uint64_t, FirstRecord> first_;
  Record reworded_;
};

// Renders records one line each. Keeps a cache of the current second's text, so one
// renderer per thread.
class Renderer {
 public:
  // `colour`: ANSI colours by level (text format only). `utc`: times in UTC, not local time.
  Renderer(Format format, bool colour, bool utc, TextOptions options = {})
      : format_(format), colour_(colour), utc_(utc), options_(options) {}

  // Appends the record's line, newline included, to `out`. `app`: its process's app, for
  // a layout that shows it (options.app_width, long), and in JSON ("app") and logfmt (app=)
  // lines; empty: unknown (not written).
  void render(const Record& r, Buffer& out, std::string_view app = {});

  // "2026-11-24 13:06:02.123456" (or ISO 8601 with 'T' and 'Z'), the seconds computed once
  // per second: localtime_r costs far more than the rest of a line.
  void append_time(std::int64_t ns, bool iso_utc, Buffer& out);

  [[nodiscard]] Format format() const { return format_; }

 private:
  void render_text(const Record& r, Buffer& out, std::string_view app);
  // False, with part of a line written, for a record whose encoded arguments the line
  // cannot be written from (render() then decodes it).
  bool render_json(const Record& r, Buffer& out, std::string_view app);
  bool render_logfmt(const Record& r, Buffer& out, std::string_view app);

  // The text of a JSON or logfmt line that depends only on the record's call site (level,
  // tag, file, line), escaped once per site rather than once per line. Direct-mapped by the
  // site's address; an entry holds its site (site_owner), so that address cannot be reused
  // by another site while the entry exists, and is checked against the record's own views.
  struct SiteText {
    std::shared_ptr<const void> owner;
    const char* tag = nullptr;
    const char* file = nullptr;
    std::uint32_t line = 0;
    Level level = Level::info;
    std::string head;  // JSON: ,"severity":..,"tag":".."  logfmt: " level=.. tag=.."
    std::string tail;  // JSON: ,"file":"..","line":..}
    // Each field's key as the line writes it (JSON: "name": with a comma before all but the
    // first; logfmt: " name="), from the first record of the site, in a fixed slot that is
    // copied whole. A reader's record has its site's names (they come from the template),
    // so the keys are used for records of the same template (the same view) with as many
    // fields and names as long; any other record (one built by hand without a template,
    // say) has its keys written as usual.
    struct Key {
      std::array<char, 32> text{};
      std::uint8_t size = 0;  // 0: too long for the slot
      std::size_t name_size = 0;
    };
    const char* message_template = nullptr;
    std::vector<Key> keys;
    // Records with encoded arguments (Record::encoded): their message and fields, made on
    // the first such record of the site.
    std::shared_ptr<reader::EncodedLine> encoded;
  };
  SiteText* site_text(const Record& r);
  // The writer of `r`'s encoded arguments, or null if it has none or its line is written
  // from decoded arguments (text and raw formats, printf formats, damaged templates).
  reader::EncodedLine* encoded_line(const Record& r, SiteText& site);
  // The message and fields from `r.encoded`; false if its bytes do not fit its site.
  bool write_encoded(const Record& r, reader::EncodedLine& encoded, Buffer& out);
  Record decoded_;  // a record with encoded arguments that needs them decoded
  void write_field_key(const Record& r, std::size_t i, Buffer& out) const;
  void append_field_key(const Record& r, const SiteText& site, std::size_t i, Buffer& out);
  std::unique_ptr<SiteText[]> sites_;
  // The line's process and thread members (JSON: "app", "pid", "tid", "thread"; logfmt:
  // app=, pid=, tid=), made once per thread: keyed by the thread's identity (pid, process
  // start, tid, name) and the app's length. A process has one app, so its content is not
  // compared per line (a memcmp a line was 50 instructions of a 2,400-instruction line).
  // Empty before the first line.
  bool thread_text_json_ = false;
  std::int32_t thread_pid_ = 0;
  std::uint32_t thread_tid_ = 0;
  std::int64_t thread_start_ = 0;
  std::size_t thread_app_size_ = 0;
  std::string thread_name_, thread_text_;
  // Whether thread_text_ is not for record `r` with app `app` in this format.
  [[nodiscard]] bool thread_text_stale(const Record& r, std::string_view app, bool json) const;
  // Keys thread_text_ (about to be made) to record `r` with app `app` in this format.
  void remember_thread(const Record& r, std::string_view app, bool json);
  // The last trace's text (JSON: trace and span ids, logfmt: the trace id), as the line
  // writes it: a request's records share it. Empty before the first traced line.
  std::array<std::uint8_t, 24> trace_bytes_{};
  std::string trace_text_;
  void append_trace(const Record& r, Buffer& out);
  // The line's time as options_.time says (automatic: as the layout writes it).
  void append_line_time(const Record& r, Buffer& out);
  Format format_;
  bool colour_;
  bool utc_;
  TextOptions options_;
  std::int64_t previous_ns_ = 0;  // TimeFormat::delta
  std::int64_t cached_second_ = -1;
  bool cached_iso_ = false;
  char cached_[32] = {};
  std::size_t cached_length_ = 0;
};

// Appends `s` for a terminal or a text file: control characters (C0 but tab, DEL, and the
// C1 controls U+0080..U+009F) escaped as \n, \r, \xHH or \u00HH, so that a message can
// neither end its line (and forge the next one) nor send escape sequences to the terminal.
void append_printable(std::string_view s, Buffer& out);
// The same as a string: what the readers give for every name and spec a file holds (app,
// host, thread and tag names, level and rate specs, a process's answers), so that a forged
// or damaged file can never reach a terminal raw, whichever logcat command prints it.
[[nodiscard]] std::string printable(std::string_view s);
// The same for every name, tag, help and text value of a metrics snapshot (the readers
// call it on what they read from a file).
void escape_metric_texts(MetricsSnapshot& snapshot);

// The calendar fields of a time (ns since the epoch, floored to the second), in UTC or in
// local time.
[[nodiscard]] std::tm calendar_time(std::int64_t ns, bool utc);

// 'T', 'D', 'I', 'W', 'E', 'F'.
[[nodiscard]] char level_letter(Level level);

// A field's value as plain text (what logfmt prints).
[[nodiscard]] std::string plain_value(const Value& v);
// The same text without a std::string: a view of the value's own string, or of its text
// written into `room` (numbers, booleans, characters, pointers).
[[nodiscard]] std::string_view plain_value(const Value& v, std::array<char, 40>& room);

// A logfmt value: bare if it has no space, '=' or anything JSON escapes; else a JSON string.
void append_logfmt_value(std::string_view s, Buffer& out);

// --- JSON and hex ---

// Whether a byte must be escaped in a JSON string.
inline constexpr std::array<bool, 256> kJsonEscape = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

// `s` as a quoted JSON string.
void append_json_string(std::string_view s, Buffer& out);

// Every byte's two hex digits: one 2-byte copy per byte.
inline constexpr std::array<char, 512> kHexPairs = [] {
  std::array<char, 512> t{};
  constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t b = 0; b < 256; ++b) {
    t[2 * b] = kHex[b >> 4];
    t[2 * b + 1] = kHex[b & 15];
  }
  return t;
}();

inline void hex(const std::uint8_t* bytes, std::size_t n, char* out) {
  for (std::size_t i = 0; i < n; ++i) std::memcpy(out + 2 * i, &kHexPairs[2 * bytes[i]], 2);
}

// The same into a line.
void append_hex(const std::uint8_t* bytes, std::size_t n, Buffer& out);

[[nodiscard]] std::string trace_hex(const std::uint8_t* bytes, std::size_t n);

template <typename Int>
void append_int(Int value, Buffer& out) {
  const fmt::format_int text(value);
  out.append(text.data(), text.size());
}

// JSON object members after the first: `,"key":value`.
template <typename Int>
void int_member(std::string_view key, Int value, Buffer& out) {
  out += ",\"";
  out += key;
  out += "\":";
  append_int(value, out);
}
inline void string_member(std::string_view key, std::string_view value, Buffer& out) {
  out += ",\"";
  out += key;
  out += "\":";
  append_json_string(value, out);
}
// `,"<trace_key>":"<32 hex>","<span_key>":"<16 hex>"` for a record with a trace context.
void trace_members(const Record& r, std::string_view trace_key, std::string_view span_key,
                   Buffer& out);

// A field as JSON: numbers and booleans bare, everything else (and inf/nan) as a string.
// `exact_in_doubles`: integers a double cannot hold exactly (beyond 2^53) as strings too,
// for readers that parse numbers as doubles (JavaScript).
void append_json_value(const Value& v, Buffer& out, bool exact_in_doubles = false);
// A field's value in a logfmt line: as plain_value() writes it, quoted when it must be.
void append_logfmt_field(const Value& v, Buffer& out);

// OpenTelemetry severity numbers and names: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17,
// FATAL 21.
[[nodiscard]] inline int otel_severity(Level level) { return 1 + 4 * static_cast<int>(level); }
[[nodiscard]] const char* otel_severity_text(Level level);

}  // namespace blackbox::text
