// Records as text lines (blackbox/text.hpp): the renderer logcat and the console share.
#include "blackbox/text.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <array>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cmath>
#include <cstring>
#include <ctime>
#include <variant>

#include "reader/decode.hpp"
#include "reader/encoded_line.hpp"
#include "reader/fixed_float.hpp"
#include "reader/text_parts.hpp"
#include "sys/calendar.hpp"

namespace blackbox::text {
namespace {

const char* level_colour(Level level) {
  switch (level) {
    case Level::trace:
    case Level::debug:
      return "\x1b[2m";
    case Level::warn:
      return "\x1b[33m";
    case Level::error:
    case Level::fatal:
      return "\x1b[1;31m";
    default:
      return "";
  }
}

}  // namespace

void Buffer::grow(std::size_t n) {
  const std::size_t capacity = std::max(2 * capacity_, size_ + n);
  auto bigger = std::make_unique<char[]>(capacity);
  if (size_ != 0) std::memcpy(bigger.get(), data_.get(), size_);
  data_ = std::move(bigger);
  capacity_ = capacity;
}

namespace {

// Bytes that may start something append_printable() escapes: C0 controls (tab is then let
// through), DEL, and 0xC2 (the lead byte of U+0080..U+00BF, whose first half are the C1
// controls).
constexpr std::array<bool, 256> kMaybeControl = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;  // tab too: checked after
  t[0x7f] = t[0xc2] = true;
  return t;
}();

// The first byte at or after `from` that `table` flags, or s.size(). Almost every string
// has none: with SSE2, `flag16` (the same test on 16 bytes at once, a bit per byte) checks
// 16 bytes at a time (the last 16 bytes of the string overlap the loop's last window instead
// of going byte by byte).
template <typename Flag16>
std::size_t next_flagged(std::string_view s, std::size_t from, const std::array<bool, 256>& table,
                         [[maybe_unused]] Flag16 flag16) {
#if defined(__SSE2__)
  if (s.size() >= 16) {
    auto flagged = [&](std::size_t at) {
      return flag16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + at)));
    };
    for (; from + 16 <= s.size(); from += 16) {
      if (const unsigned bits = flagged(from); bits != 0) {
        return from + static_cast<std::size_t>(__builtin_ctz(bits));
      }
    }
    if (from == s.size()) return from;
    const std::size_t seen = 16 - (s.size() - from);  // bytes of the last window before `from`
    const unsigned bits = flagged(s.size() - 16) >> seen;
    return bits != 0 ? from + static_cast<std::size_t>(__builtin_ctz(bits)) : s.size();
  }
#endif
  while (from < s.size() && !table[static_cast<unsigned char>(s[from])]) ++from;
  return from;
}

#if defined(__SSE2__)
// Bytes <= 0x1f (unsigned), 16 at once.
inline __m128i c0_bytes(__m128i v) {
  return _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
}
#endif

// kMaybeControl's bytes.
std::size_t next_maybe_control(std::string_view s, std::size_t from) {
#if defined(__SSE2__)
  return next_flagged(s, from, kMaybeControl, [](__m128i v) {
    const __m128i other = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
                                       _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(0xc2))));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(c0_bytes(v), other)));
  });
#else
  return next_flagged(s, from, kMaybeControl, 0);
#endif
}

// Bytes that make a logfmt value need quotes: kJsonEscape's, ' ' and '='.
constexpr std::array<bool, 256> kLogfmtSpecial = [] {
  std::array<bool, 256> t = kJsonEscape;
  t[' '] = t['='] = true;
  return t;
}();

std::size_t next_logfmt_special(std::string_view s, std::size_t from) {
#if defined(__SSE2__)
  return next_flagged(s, from, kLogfmtSpecial, [](__m128i v) {
    const __m128i quote_or_backslash =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    const __m128i space_or_equals =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
    return static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(c0_bytes(v), _mm_or_si128(quote_or_backslash, space_or_equals))));
  });
#else
  return next_flagged(s, from, kLogfmtSpecial, 0);
#endif
}

}  // namespace

bool has_logfmt_special(std::string_view s) { return next_logfmt_special(s, 0) != s.size(); }

// logfmt values: bare if they have no space, '=' and nothing JSON escapes (quotes, backslashes,
// control characters); else quoted with JSON escapes.
void append_logfmt_value(std::string_view s, Buffer& out) {
  if (!s.empty() && next_logfmt_special(s, 0) == s.size()) {
    out += s;
  } else {
    append_json_string(s, out);
  }
}

void append_printable(std::string_view s, Buffer& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the bytes not yet appended (appended in runs)
  for (std::size_t i = next_maybe_control(s, 0); i < s.size(); i = next_maybe_control(s, i + 1)) {
    const auto c = static_cast<unsigned char>(s[i]);
    const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
    const bool c1 = c == 0xc2 && next >= 0x80 && next < 0xa0;
    if (c == '\t' || (c == 0xc2 && !c1)) continue;  // a tab; U+00A0..U+00BF
    out.append(s.data() + run, i - run);
    if (c1) {
      out += "\\u00";
      out += kHex[next >> 4];
      out += kHex[next & 15];
      ++i;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

std::string printable(std::string_view s) {
  if (next_maybe_control(s, 0) >= s.size()) return std::string(s);  // the usual case
  Buffer out(s.size() + 16);
  append_printable(s, out);
  return std::string(out.view());
}

void escape_metric_texts(MetricsSnapshot& snapshot) {
  for (MetricValue& m : snapshot.metrics) {
    m.name = printable(m.name);
    m.help = printable(m.help);
    m.text = printable(m.text);
    for (MetricTag& t : m.tags) {
      t.key = printable(t.key);
      t.value = printable(t.value);
    }
  }
}

std::string trace_hex(const std::uint8_t* bytes, std::size_t n) {
  std::string out(2 * n, '0');
  hex(bytes, n, out.data());
  return out;
}

std::tm calendar_time(std::int64_t ns, bool utc) {
  std::int64_t second = ns / 1'000'000'000;
  if (ns % 1'000'000'000 < 0) --second;  // before 1970: floor, not truncate
  // Neither holds the time zone's lock across a fork (sys/fork_guard.hpp): the console's
  // background thread renders with this.
  return utc ? sys::utc_calendar(second) : sys::local_calendar(second);
}

char level_letter(Level level) {
  static constexpr char kLetters[] = "TDIWEF";
  const auto i = static_cast<std::size_t>(level);
  return i < 6 ? kLetters[i] : '?';
}

void Renderer::append_time(std::int64_t ns, bool iso_utc, Buffer& out) {
  std::int64_t second = ns / 1'000'000'000;
  std::int64_t fraction_ns = ns % 1'000'000'000;
  if (fraction_ns < 0) {  // before 1970: floor, not truncate
    --second;
    fraction_ns += 1'000'000'000;
  }
  if (second != cached_second_ || iso_utc != cached_iso_) {
    const std::tm tm = calendar_time(ns, utc_ || iso_utc);
    cached_length_ = std::strftime(cached_, sizeof cached_,
                                   iso_utc ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    cached_second_ = second;
    cached_iso_ = iso_utc;
  }
  // The cached text is copied whole (a fixed 32-byte copy, no call), then the microseconds
  // two digits at a time.
  static_assert(sizeof cached_ == 32);
  char* const start = out.reserve(sizeof cached_ + 8);
  std::memcpy(start, cached_, sizeof cached_);
  char* d = start + cached_length_;
  const auto us = static_cast<std::uint32_t>(fraction_ns / 1000);
  *d = '.';
  std::memcpy(d + 1, &reader::short_decimal::kPairs[2 * (us / 10'000)], 2);
  std::memcpy(d + 3, &reader::short_decimal::kPairs[2 * (us / 100 % 100)], 2);
  std::memcpy(d + 5, &reader::short_decimal::kPairs[2 * (us % 100)], 2);
  d += 7;
  if (utc_ || iso_utc) *d++ = 'Z';
  out.added(static_cast<std::size_t>(d - start));
}

namespace {

// "{value:>width}" without fmt's format-string parser (this is the hot loop).
template <typename Int>
void append_right(Int value, std::size_t width, Buffer& out) {
  const fmt::format_int text(value);
  out.append(text.size() < width ? width - text.size() : 0, ' ');
  out.append(text.data(), text.size());
}

void append_left(std::string_view s, std::size_t width, Buffer& out) {
  append_printable(s, out);
  out.append(s.size() < width ? width - s.size() : 0, ' ');
}

// adb's "11-24 13:06:02.123".
void append_adb_time(std::int64_t ns, bool utc, Buffer& out) {
  const std::tm tm = calendar_time(ns, utc);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%m-%d %H:%M:%S", &tm);
  out.append(text, n);
  out += fmt::format(".{:03}", (ns / 1'000'000) % 1000);
}

}  // namespace

void Renderer::append_line_time(const Record& r, Buffer& out) {
  const std::int64_t ns = r.time_ns;
  switch (options_.time) {
    case TimeFormat::automatic:
      if (options_.layout == Layout::time || options_.layout == Layout::threadtime) {
        append_adb_time(ns, utc_, out);
      } else {
        append_time(ns, false, out);
      }
      return;
    case TimeFormat::iso:
    case TimeFormat::iso_precise: {
      const std::tm tm = calendar_time(ns, utc_);
      char text[48];
      std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
      out.append(text, n);
      if (options_.time == TimeFormat::iso_precise)
        out += fmt::format(".{:09}", ns % 1'000'000'000);
      // "+01:00" (strftime's %z is "+0100").
      n = std::strftime(text, sizeof text, "%z", &tm);
      if (n == 5) {
        out.append(text, 3);
        out += ':';
        out.append(text + 3, 2);
      }
      return;
    }
    case TimeFormat::unix_seconds:
      out += fmt::format("{}.{:06}", ns / 1'000'000'000, (ns % 1'000'000'000) / 1000);
      return;
    case TimeFormat::mono: {
      const std::int64_t since = ns - r.process_start_ns;
      out += fmt::format("[{:>5}.{:06}]", since / 1'000'000'000, (since % 1'000'000'000) / 1000);
      return;
    }
    case TimeFormat::delta: {
      const std::int64_t since = previous_ns_ == 0 ? 0 : ns - previous_ns_;
      previous_ns_ = ns;
      out += fmt::format("+{:>4}.{:06}", since / 1'000'000'000, (since % 1'000'000'000) / 1000);
      return;
    }
  }
}

void Renderer::render_text(const Record& r, Buffer& out, std::string_view app) {
  const char* colour = colour_ ? level_colour(r.level) : "";
  const char* reset = colour_ ? "\x1b[0m" : "";
  if (options_.layout != Layout::brief && options_.layout != Layout::long_form) {
    append_line_time(r, out);
    out += ' ';
  }
  switch (options_.layout) {
    case Layout::brief:
    case Layout::time:
      // "I/tag     ( 4711): message"
      out += colour;
      out += level_letter(r.level);
      out += reset;
      out += '/';
      append_left(r.tag, 8, out);
      out += '(';
      append_right(r.pid, 5, out);
      out += "): ";
      break;
    case Layout::threadtime:
      // " 4711  4712 I tag     : message"
      append_right(r.pid, 5, out);
      out += ' ';
      append_right(r.tid, 5, out);
      out += ' ';
      out += colour;
      out += level_letter(r.level);
      out += reset;
      out += ' ';
      append_left(r.tag, 8, out);
      out += ": ";
      break;
    case Layout::long_form: {
      out += "[ ";
      append_line_time(r, out);
      out += ' ';
      if (!app.empty()) {
        append_printable(app, out);
        out += ' ';
      }
      append_int(r.pid, out);
      out += ':';
      append_int(r.tid, out);
      out += ' ';
      out += colour;
      out += level_letter(r.level);
      out += reset;
      out += '/';
      append_printable(r.tag, out);
      out += " ]\n";
      append_printable(r.message, out);
      if (r.truncated) out += " [truncated]";
      out += '\n';
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        out += "    ";
        if (r.fields[i].name.empty()) {
          append_int(i, out);
        } else {
          append_printable(r.fields[i].name, out);
        }
        out += " = ";
        std::array<char, 40> room;
        append_printable(plain_value(r.fields[i].value, room), out);
        out += '\n';
      }
      if (r.has_trace) {
        out += "    trace_id = ";
        append_hex(r.trace_id.data(), 16, out);
        out += "\n    span_id = ";
        append_hex(r.span_id.data(), 8, out);
        out += '\n';
      }
      out += "    thread = ";
      append_printable(r.thread_name, out);
      out += "\n    at = ";
      append_printable(r.file, out);
      out += ':';
      append_int(r.line, out);
      out += '\n';
      return;  // the empty line that ends the entry: render()'s newline
    }
    case Layout::standard: {
      out += colour;
      out += level_letter(r.level);
      out += reset;
      if (options_.app_width != 0) {
        out += ' ';
        append_left(app.empty() ? std::string_view("?") : app, options_.app_width, out);
      }
      if (options_.pid) {
        // " {pid:tid:>13}"
        const fmt::format_int pid(r.pid), tid(r.tid);
        const std::size_t width = pid.size() + 1 + tid.size();
        out.append(width < 13 ? 14 - width : 1, ' ');
        out.append(pid.data(), pid.size());
        out += ':';
        out.append(tid.data(), tid.size());
      } else {
        out += ' ';
        append_right(r.tid, 7, out);
      }
      out += ' ';
      out += r.tag;
      out.append(r.tag.size() < 8 ? 9 - r.tag.size() : 1, ' ');
      break;
    }
  }
  append_printable(r.message, out);
  // A string the call site cut at Config::max_string_bytes: the line says so.
  if (r.truncated) out += " [truncated]";
  if (r.has_trace) {
    out += " trace=";
    append_hex(r.trace_id.data(), options_.full_ids ? 16 : 4, out);
  }
}

Renderer::SiteText* Renderer::site_text(const Record& r) {
  constexpr std::size_t kSites = 256;
  if (!sites_) sites_ = std::make_unique<SiteText[]>(kSites + 1);
  // Entry kSites: records without a site (built by hand), rebuilt every time.
  const auto address = reinterpret_cast<std::uintptr_t>(r.site_owner.get());
  SiteText& e = address == 0 ? sites_[kSites] : sites_[(address >> 4) % kSites];
  if (address != 0 && e.owner == r.site_owner && e.tag == r.tag.data() && e.file == r.file.data() &&
      e.line == r.line && e.level == r.level) [[likely]] {
    return &e;
  }
  e.owner = r.site_owner;
  e.encoded.reset();
  e.tag = r.tag.data();
  e.file = r.file.data();
  e.line = r.line;
  e.level = r.level;
  Buffer b(256);
  if (format_ == Format::json) {
    b += "\",\"severity\":";
    append_int(otel_severity(r.level), b);
    b += ",\"severity_text\":\"";
    b += otel_severity_text(r.level);
    b += "\",\"tag\":";
    append_json_string(r.tag, b);
    e.head = b.view();
    b.clear();
    b += ",\"file\":";
    append_json_string(r.file, b);
    b += ",\"line\":";
    append_int(r.line, b);
    b += '}';
    e.tail = b.view();
  } else {
    b += " level=";
    b += blackbox::level_name(r.level);
    b += " tag=";
    append_logfmt_value(r.tag, b);
    e.head = b.view();
    e.tail.clear();
  }
  e.message_template = r.message_template.data();
  e.keys.resize(r.fields.size());
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    b.clear();
    write_field_key(r, i, b);
    SiteText::Key& key = e.keys[i];
    key.size = b.size() < key.text.size() ? static_cast<std::uint8_t>(b.size()) : 0;
    std::memcpy(key.text.data(), b.data(), key.size);
    key.name_size = r.fields[i].name.size();
  }
  return &e;
}

namespace {

// A field's JSON key: its name, or for "{}" its position.
void append_json_key(const Record& r, std::size_t i, Buffer& out) {
  if (r.fields[i].name.empty()) {
    out += '"';
    append_int(i, out);
    out += '"';
  } else {
    append_json_string(r.fields[i].name, out);
  }
}

}  // namespace

void Renderer::write_field_key(const Record& r, std::size_t i, Buffer& out) const {
  // A field's key: its name, or for "{}" its position ("arg" and the position in logfmt).
  const std::string& name = r.fields[i].name;
  if (format_ == Format::json) {
    if (i != 0) out += ',';
    append_json_key(r, i, out);
    out += ':';
  } else {
    out += ' ';
    if (name.empty()) {
      out += "arg";
      append_int(i, out);
    } else {
      out += name;
    }
    out += '=';
  }
}

void Renderer::append_field_key(const Record& r, const SiteText& site, std::size_t i, Buffer& out) {
  if (site.message_template != nullptr && r.message_template.data() == site.message_template &&
      r.fields.size() == site.keys.size() && site.keys[i].size != 0 &&
      r.fields[i].name.size() == site.keys[i].name_size) [[likely]] {
    const SiteText::Key& key = site.keys[i];
    std::memcpy(out.reserve(key.text.size()), key.text.data(), key.text.size());
    out.added(key.size);
  } else {
    write_field_key(r, i, out);
  }
}

void Renderer::append_trace(const Record& r, Buffer& out) {
  if (!r.has_trace) return;
  if (trace_text_.empty() || std::memcmp(trace_bytes_.data(), r.trace_id.data(), 16) != 0 ||
      std::memcmp(trace_bytes_.data() + 16, r.span_id.data(), 8) != 0) {
    const std::size_t at = out.size();
    if (format_ == Format::json) {
      trace_members(r, "trace_id", "span_id", out);
    } else {
      out += " trace_id=";
      append_hex(r.trace_id.data(), 16, out);
    }
    trace_text_.assign(out.data() + at, out.size() - at);
    std::memcpy(trace_bytes_.data(), r.trace_id.data(), 16);
    std::memcpy(trace_bytes_.data() + 16, r.span_id.data(), 8);
    return;
  }
  out += trace_text_;
}

reader::EncodedLine* Renderer::encoded_line(const Record& r, SiteText& site) {
  // The encoded arguments' own site, which the entry (keyed by site_owner) describes.
  if (r.encoded.empty() || (format_ != Format::json && format_ != Format::logfmt) ||
      reader::EncodedArgsAccess::site_address(r.encoded) != r.site_owner.get()) {
    return nullptr;
  }
  if (!site.encoded) {
    site.encoded =
        std::make_shared<reader::EncodedLine>(reader::EncodedArgsAccess::site(r.encoded), format_);
  }
  return site.encoded->usable() ? site.encoded.get() : nullptr;
}

bool Renderer::thread_text_stale(const Record& r, std::string_view app, bool json) const {
  return thread_text_.empty() || thread_text_json_ != json || thread_pid_ != r.pid ||
         thread_tid_ != r.tid || thread_start_ != r.process_start_ns ||
         thread_app_size_ != app.size() || thread_name_ != r.thread_name;
}

void Renderer::remember_thread(const Record& r, std::string_view app, bool json) {
  thread_text_json_ = json;
  thread_pid_ = r.pid;
  thread_tid_ = r.tid;
  thread_start_ = r.process_start_ns;
  thread_app_size_ = app.size();
  thread_name_ = r.thread_name;
}

bool Renderer::render_json(const Record& r, Buffer& out, std::string_view app) {
  SiteText& site = *site_text(r);
  reader::EncodedLine* const encoded = encoded_line(r, site);
  if (!r.encoded.empty() && encoded == nullptr) return false;
  out += "{\"time\":\"";
  append_time(r.time_ns, true, out);
  out += site.head;
  if (thread_text_stale(r, app, true)) {
    remember_thread(r, app, true);
    Buffer b(256);
    if (!app.empty()) string_member("app", app, b);
    int_member("pid", r.pid, b);
    int_member("tid", r.tid, b);
    string_member("thread", r.thread_name, b);
    thread_text_ = b.view();
  }
  out += thread_text_;
  if (encoded != nullptr) {
    if (!write_encoded(r, *encoded, out)) return false;
    append_trace(r, out);
    out += site.tail;
    return true;
  }
  string_member("message", r.message, out);
  out += ",\"fields\":{";
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    append_field_key(r, site, i, out);
    append_json_value(r.fields[i].value, out);
  }
  out += '}';
  if (r.truncated) {
    // Which fields the call site cut (by their key in "fields").
    out += ",\"truncated\":[";
    bool first = true;
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      if (!r.fields[i].truncated) continue;
      if (!first) out += ',';
      first = false;
      append_json_key(r, i, out);
    }
    out += ']';
  }
  append_trace(r, out);
  out += site.tail;
  return true;
}

bool Renderer::render_logfmt(const Record& r, Buffer& out, std::string_view app) {
  SiteText& site = *site_text(r);
  reader::EncodedLine* const encoded = encoded_line(r, site);
  if (!r.encoded.empty() && encoded == nullptr) return false;
  out += "time=";
  append_time(r.time_ns, true, out);
  out += site.head;
  if (thread_text_stale(r, app, false)) {
    remember_thread(r, app, false);
    Buffer b(256);
    if (!app.empty()) {
      b += " app=";
      append_logfmt_value(app, b);
    }
    b += " pid=";
    append_int(r.pid, b);
    b += " tid=";
    append_int(r.tid, b);
    thread_text_ = b.view();
  }
  out += thread_text_;
  if (encoded != nullptr) {
    if (!write_encoded(r, *encoded, out)) return false;
    append_trace(r, out);
    return true;
  }
  out += " msg=";
  append_logfmt_value(r.message, out);
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    append_field_key(r, site, i, out);
    append_logfmt_field(r.fields[i].value, out);
  }
  if (r.truncated) out += " truncated=true";
  append_trace(r, out);
  return true;
}

bool Renderer::write_encoded(const Record& r, reader::EncodedLine& encoded, Buffer& out) {
  const auto& bytes = reader::EncodedArgsAccess::bytes(r.encoded);
  return encoded.write(bytes.data(), bytes.size(), out);
}

void Renderer::render(const Record& r, Buffer& out, std::string_view app) {
  const std::size_t start = out.size();
  bool written = true;  // false: encoded arguments this line is not written from
  switch (format_) {
    case Format::raw:
      written = r.encoded.empty();
      if (written) out += r.message;
      break;
    case Format::text:
      written = r.encoded.empty();
      if (written) render_text(r, out, app);
      break;
    case Format::logfmt:
      written = render_logfmt(r, out, app);
      break;
    case Format::json:
      written = render_json(r, out, app);
      break;
  }
  if (!written) {
    // Text, raw, printf formats, damaged templates: the record decoded.
    out.truncate(start);
    decoded_ = r;
    decode_arguments(decoded_);  // empties decoded_.encoded
    return render(decoded_, out, app);
  }
  out += '\n';
}

void Buffer::consume(std::size_t n) {
  n = std::min(n, size_);
  if (n != size_) std::memmove(data_.get(), data_.get() + n, size_ - n);
  size_ -= n;
}

namespace {

// One byte of a JSON string, escaped if it must be; returns the next output position.
char* put_json_byte(unsigned char c, char* d) {
  if (!kJsonEscape[c]) [[likely]] {
    *d = static_cast<char>(c);
    return d + 1;
  }
  *d++ = '\\';
  switch (c) {
    case '"':
    case '\\':
      *d++ = static_cast<char>(c);
      break;
    case '\n':
      *d++ = 'n';
      break;
    case '\r':
      *d++ = 'r';
      break;
    case '\t':
      *d++ = 't';
      break;
    default:
      std::memcpy(d, "u00", 3);
      std::memcpy(d + 3, &kHexPairs[2 * c], 2);
      d += 5;
  }
  return d;
}

// Whether any of the n < 16 bytes at p needs a JSON escape, with at most two overlapping
// word loads (SWAR: a byte below 0x20, or equal to '"' or '\\'). Exact: these tests have no
// false positives for "any byte".
template <typename Word>
bool word_needs_escape(Word x) {
  constexpr Word ones = static_cast<Word>(~Word{0}) / 255;
  constexpr Word highs = ones * 0x80;
  auto zero_byte = [](Word v) { return static_cast<Word>((v - ones) & ~v & highs); };
  return (static_cast<Word>((x - ones * 0x20) & ~x & highs) | zero_byte(x ^ (ones * '"')) |
          zero_byte(x ^ (ones * '\\'))) != 0;
}

template <typename Word>
bool two_words_need_escape(const char* p, std::size_t n, Word& head, Word& tail) {
  std::memcpy(&head, p, sizeof head);
  std::memcpy(&tail, p + n - sizeof tail, sizeof tail);
  return word_needs_escape(head) || word_needs_escape(tail);
}

// Copies the n bytes at p to d, escaped; returns the end. Quick for n <= 16.
char* put_json_short(const char* p, std::size_t n, char* d) {
  if (n >= 8 && n <= 16) {
    std::uint64_t head, tail;
    if (!two_words_need_escape(p, n, head, tail)) {
      std::memcpy(d, &head, 8);
      std::memcpy(d + n - 8, &tail, 8);
      return d + n;
    }
  } else if (n >= 4 && n < 8) {
    std::uint32_t head, tail;
    if (!two_words_need_escape(p, n, head, tail)) {
      std::memcpy(d, &head, 4);
      std::memcpy(d + n - 4, &tail, 4);
      return d + n;
    }
  }
  for (std::size_t k = 0; k < n; ++k) d = put_json_byte(static_cast<unsigned char>(p[k]), d);
  return d;
}

}  // namespace

// One pass that copies and checks: with SSE2, 16 bytes are stored and checked at once (the
// store is kept only if none of them needs escaping), the rest byte by byte. No call to
// memcpy per string: most strings of a line (tags, names, short values) are a few bytes.
namespace {

// The hex of n bytes at d (2n characters); returns the end.
char* put_hex(const std::uint8_t* bytes, std::size_t n, char* d) {
  std::size_t i = 0;
#if defined(__SSE2__)
  // 8 bytes at a time (trace ids are 16, span ids 8): each nibble n becomes '0' + n, plus
  // 39 ('a' - '0' - 10) if it is over 9; high and low nibbles interleaved.
  for (; i + 8 <= n; i += 8) {
    const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + i));
    const __m128i low = _mm_and_si128(v, _mm_set1_epi8(0x0f));
    const __m128i high = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0f));
    const __m128i nibbles = _mm_unpacklo_epi8(high, low);
    const __m128i letters =
        _mm_and_si128(_mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9)), _mm_set1_epi8(39));
    const __m128i digits = _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')), letters);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * i), digits);
  }
#endif
  hex(bytes + i, n - i, d + 2 * i);
  return d + 2 * n;
}

char* put_chars(std::string_view s, char* d) {
  std::memcpy(d, s.data(), s.size());
  return d + s.size();
}

}  // namespace

void append_hex(const std::uint8_t* bytes, std::size_t n, Buffer& out) {
  put_hex(bytes, n, out.reserve(2 * n));
  out.added(2 * n);
}

char* put_json_body(std::string_view s, char* d) {
  std::size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d), v);
    const __m128i special =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    const auto bits = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(c0_bytes(v), special)));
    if (bits == 0) [[likely]] {
      d += 16;
      continue;
    }
    // Keep the bytes before the first one to escape, then go on byte by byte to the end of
    // this window.
    const auto first = static_cast<std::size_t>(__builtin_ctz(bits));
    d += first;
    for (std::size_t k = first; k < 16; ++k) {
      d = put_json_byte(static_cast<unsigned char>(s[i + k]), d);
    }
  }
#endif
  return put_json_short(s.data() + i, s.size() - i, d);
}

void append_json_string(std::string_view s, Buffer& out) {
  // Worst case: every byte becomes \u00XX; plus the quotes.
  char* const start = out.reserve(kJsonEscapeRoom * s.size() + 2);
  char* d = start;
  *d++ = '"';
  d = put_json_body(s, d);
  *d++ = '"';
  out.added(static_cast<std::size_t>(d - start));
}

void trace_members(const Record& r, std::string_view trace_key, std::string_view span_key,
                   Buffer& out) {
  if (!r.has_trace) return;
  // ,"trace_key":"<32 hex>","span_key":"<16 hex>"  in one piece
  char* const start = out.reserve(trace_key.size() + span_key.size() + 60);
  char* d = put_chars(",\"", start);
  d = put_chars(trace_key, d);
  d = put_chars("\":\"", d);
  d = put_hex(r.trace_id.data(), 16, d);
  d = put_chars("\",\"", d);
  d = put_chars(span_key, d);
  d = put_chars("\":\"", d);
  d = put_hex(r.span_id.data(), 8, d);
  *d++ = '"';
  out.added(static_cast<std::size_t>(d - start));
}

std::string_view plain_value(const Value& v, std::array<char, 40>& room) {
  return std::visit(
      [&room](const auto& x) -> std::string_view {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return x;
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, char>) {
          room[0] = x;
          return {room.data(), 1};
        } else if constexpr (std::is_same_v<T, Pointer>) {
          return {room.data(),
                  static_cast<std::size_t>(
                      fmt::format_to(room.data(), FMT_COMPILE("{:#x}"), x.address) - room.data())};
        } else if constexpr (std::is_same_v<T, double>) {
          // The shortest form, as "{}"; fmt when the short way does not apply.
          static_assert(reader::kFixedRoom <= 40);
          if (const std::size_t n = reader::write_shortest(x, room.data()); n != 0) {
            return {room.data(), n};
          }
          return {room.data(),
                  static_cast<std::size_t>(fmt::format_to(room.data(), FMT_COMPILE("{}"), x) -
                                           room.data())};
        } else {  // integers and doubles: at most 24 characters ("{}" is the shortest form)
          return {room.data(),
                  static_cast<std::size_t>(fmt::format_to(room.data(), FMT_COMPILE("{}"), x) -
                                           room.data())};
        }
      },
      v);
}

std::string plain_value(const Value& v) {
  std::array<char, 40> room;
  return std::string(plain_value(v, room));
}

namespace {

// Writes `v` if it is a number or a boolean, whose text is the same in JSON and logfmt
// ("{}"'s shortest form), straight into the line; returns false for the rest (strings,
// characters, pointers, non-finite doubles). `quote_inexact`: integers beyond 2^53, which a
// JSON reader keeping numbers in doubles would round, are written as strings.
bool append_bare_value(const Value& v, Buffer& out, bool quote_inexact) {
  static_assert(std::is_same_v<std::variant_alternative_t<0, Value>, std::int64_t> &&
                std::is_same_v<std::variant_alternative_t<1, Value>, std::uint64_t> &&
                std::is_same_v<std::variant_alternative_t<2, Value>, double> &&
                std::is_same_v<std::variant_alternative_t<3, Value>, bool>);
  constexpr std::uint64_t kExact = std::uint64_t{1} << 53;
  constexpr std::size_t kRoom = 48;  // a quoted 64-bit integer, a double's shortest form
  auto integer = [&out, quote_inexact](auto x, bool beyond_doubles) {
    const bool quote = quote_inexact && beyond_doubles;
    char* const start = out.reserve(kRoom);
    char* d = start;
    if (quote) *d++ = '"';
    d = fmt::format_to(d, FMT_COMPILE("{}"), x);
    if (quote) *d++ = '"';
    out.added(static_cast<std::size_t>(d - start));
    return true;
  };
  // A switch on the index, not std::visit: this runs for every field of every line.
  switch (v.index()) {
    case 0: {
      const std::int64_t i = *std::get_if<0>(&v);
      return integer(
          i, i > static_cast<std::int64_t>(kExact) || i < -static_cast<std::int64_t>(kExact));
    }
    case 1: {
      const std::uint64_t u = *std::get_if<1>(&v);
      return integer(u, u > kExact);
    }
    case 2: {
      const double x = *std::get_if<2>(&v);
      if (!std::isfinite(x)) return false;  // "inf", "nan": strings in JSON
      static_assert(reader::kFixedRoom <= kRoom);
      char* const d = out.reserve(kRoom);
      std::size_t n = reader::write_shortest(x, d);
      if (n == 0) n = static_cast<std::size_t>(fmt::format_to(d, FMT_COMPILE("{}"), x) - d);
      out.added(n);
      return true;
    }
    case 3:
      out += *std::get_if<3>(&v) ? std::string_view("true") : std::string_view("false");
      return true;
    default:
      return false;
  }
}

}  // namespace

void append_json_value(const Value& v, Buffer& out, bool exact_in_doubles) {
  if (append_bare_value(v, out, exact_in_doubles)) return;
  if (const auto* s = std::get_if<std::string>(&v)) return append_json_string(*s, out);
  std::array<char, 40> room;  // a character, a pointer, a non-finite double
  append_json_string(plain_value(v, room), out);
}

void append_logfmt_field(const Value& v, Buffer& out) {
  if (append_bare_value(v, out, false)) return;
  if (const auto* s = std::get_if<std::string>(&v)) return append_logfmt_value(*s, out);
  std::array<char, 40> room;
  append_logfmt_value(plain_value(v, room), out);
}

const char* otel_severity_text(Level level) {
  static constexpr const char* kNames[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
  const auto i = static_cast<std::size_t>(level);
  return i < 6 ? kNames[i] : "UNSPECIFIED";
}

}  // namespace blackbox::text
