#include "render.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cmath>
#include <cstring>
#include <iterator>

#include "json.hpp"
#include "select.hpp"
#include "symbolize.hpp"

namespace logcat {
namespace {

using blackbox::Level;
using blackbox::Record;

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

// logfmt: bare if it has no space, '=' and nothing JSON escapes (quotes, backslashes,
// control characters); else quoted with JSON escapes.
void append_logfmt_value(std::string_view s, Text& out) {
  const bool bare = !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '=' || kJsonEscape[static_cast<unsigned char>(c)];
  });
  if (bare) {
    out += s;
  } else {
    append_json_string(s, out);
  }
}

}  // namespace

void Text::grow(std::size_t n) {
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

// The first byte at or after `from` that kMaybeControl flags, or s.size(). Almost every
// message has none: with SSE2, 16 bytes are checked at once (the last 16 bytes of the
// message overlap the loop's last window instead of going byte by byte).
std::size_t next_maybe_control(std::string_view s, std::size_t from) {
#if defined(__SSE2__)
  if (s.size() >= 16) {
    const __m128i c0_max = _mm_set1_epi8(0x1f);
    const __m128i del = _mm_set1_epi8(0x7f);
    const __m128i c2 = _mm_set1_epi8(static_cast<char>(0xc2));
    auto flagged = [&](std::size_t at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + at));
      const __m128i c0 = _mm_cmpeq_epi8(_mm_min_epu8(v, c0_max), v);  // v <= 0x1f, unsigned
      return static_cast<unsigned>(_mm_movemask_epi8(
          _mm_or_si128(c0, _mm_or_si128(_mm_cmpeq_epi8(v, del), _mm_cmpeq_epi8(v, c2)))));
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
  while (from < s.size() && !kMaybeControl[static_cast<unsigned char>(s[from])]) ++from;
  return from;
}

}  // namespace

void append_printable(std::string_view s, Text& out) {
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

std::string trace_hex(const std::uint8_t* bytes, std::size_t n) {
  std::string out(2 * n, '0');
  hex(bytes, n, out.data());
  return out;
}

char level_letter(Level level) {
  static constexpr char kLetters[] = "TDIWEF";
  const auto i = static_cast<std::size_t>(level);
  return i < 6 ? kLetters[i] : '?';
}

void Renderer::append_time(std::int64_t ns, bool iso_utc, Text& out) {
  std::int64_t second = ns / 1'000'000'000;
  std::int64_t fraction_ns = ns % 1'000'000'000;
  if (fraction_ns < 0) {  // before 1970: floor, not truncate
    --second;
    fraction_ns += 1'000'000'000;
  }
  if (second != cached_second_ || iso_utc != cached_iso_) {
    const auto seconds = static_cast<std::time_t>(second);
    std::tm tm{};
    if (utc_ || iso_utc) {
      gmtime_r(&seconds, &tm);
    } else {
      localtime_r(&seconds, &tm);
    }
    cached_length_ = std::strftime(cached_, sizeof cached_,
                                   iso_utc ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    cached_second_ = second;
    cached_iso_ = iso_utc;
  }
  out.append(cached_, cached_length_);
  char micro[8];
  auto us = static_cast<std::uint32_t>(fraction_ns / 1000);
  micro[0] = '.';
  for (int i = 6; i >= 1; --i, us /= 10) micro[i] = static_cast<char>('0' + us % 10);
  out.append(micro, 7);
  if (utc_ || iso_utc) out += 'Z';
}

void Renderer::render(const Record& r, Text& out) {
  switch (format_) {
    case Format::raw:
      out += r.message;
      break;
    case Format::text: {
      append_time(r.time_ns, false, out);
      out += ' ';
      if (colour_) out += level_colour(r.level);
      out += level_letter(r.level);
      if (colour_) out += "\x1b[0m";
      // " {tid:>7} {tag:<8} " without fmt's format-string parser (this is the hot loop).
      const fmt::format_int tid(r.tid);
      out.append(tid.size() < 7 ? 8 - tid.size() : 1, ' ');
      out.append(tid.data(), tid.size());
      out += ' ';
      out += r.tag;
      out.append(r.tag.size() < 8 ? 9 - r.tag.size() : 1, ' ');
      append_printable(r.message, out);
      // A string the call site cut at Config::max_string_bytes: the line says so.
      if (r.truncated) out += " [truncated]";
      if (r.has_trace) {
        out += " trace=";
        append_hex(r.trace_id.data(), 16, out);
      }
      break;
    }
    case Format::logfmt: {
      out += "time=";
      append_time(r.time_ns, true, out);
      out += " level=";
      out += blackbox::level_name(r.level);
      out += " tag=";
      append_logfmt_value(r.tag, out);
      out += " tid=";
      append_int(r.tid, out);
      out += " msg=";
      append_logfmt_value(r.message, out);
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto& f = r.fields[i];
        out += ' ';
        if (f.name.empty()) {
          out += "arg";
          append_int(i, out);
        } else {
          out += f.name;
        }
        out += '=';
        append_logfmt_value(plain_value(f.value), out);
      }
      if (r.truncated) out += " truncated=true";
      if (r.has_trace) {
        out += " trace_id=";
        append_hex(r.trace_id.data(), 16, out);
      }
      break;
    }
    case Format::json: {
      out += "{\"time\":\"";
      append_time(r.time_ns, true, out);
      out += "\",\"severity\":";
      append_int(otel_severity(r.level), out);
      out += ",\"severity_text\":\"";
      out += otel_severity_text(r.level);
      out += '"';
      string_member("tag", r.tag, out);
      int_member("pid", r.pid, out);
      int_member("tid", r.tid, out);
      string_member("thread", r.thread_name, out);
      string_member("message", r.message, out);
      out += ",\"fields\":{";
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto& f = r.fields[i];
        if (i != 0) out += ',';
        if (f.name.empty()) {
          out += '"';
          append_int(i, out);  // "{}" placeholders are named by position
          out += '"';
        } else {
          append_json_string(f.name, out);
        }
        out += ':';
        append_json_value(f.value, out);
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
          if (r.fields[i].name.empty()) {
            out += '"';
            append_int(i, out);
            out += '"';
          } else {
            append_json_string(r.fields[i].name, out);
          }
        }
        out += ']';
      }
      trace_members(r, "trace_id", "span_id", out);
      out += ",\"file\":";
      append_json_string(r.file, out);
      out += ",\"line\":";
      append_int(r.line, out);
      out += '}';
      break;
    }
  }
  out += '\n';
}

namespace {

// What si_code says about how the signal came, for the signals the handler catches.
const char* signal_cause(int signal, int code) {
  if (code == SI_USER) return "sent by kill()";
  if (code == SI_TKILL) return "raised by the process (raise, abort, pthread_kill)";
  switch (signal) {
    case SIGSEGV:
      return code == SEGV_MAPERR   ? "address not mapped"
             : code == SEGV_ACCERR ? "no permission for the access"
                                   : "invalid memory access";
    case SIGBUS:
      return code == BUS_ADRALN   ? "misaligned address"
             : code == BUS_ADRERR ? "address beyond the object (a truncated mapped file?)"
                                  : "bus error";
    case SIGFPE:
      return code == FPE_INTDIV   ? "integer divide by zero"
             : code == FPE_INTOVF ? "integer overflow"
                                  : "arithmetic exception";
    case SIGILL:
      return code == ILL_ILLOPN || code == ILL_ILLOPC ? "illegal instruction (a trap?)"
                                                      : "illegal instruction";
    case SIGABRT:
      return "abort";
    default:
      return "";
  }
}

std::string signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signal);
}

std::string hex_address(std::uint64_t address) { return fmt::format("{:#x}", address); }

}  // namespace

void render_end(std::int32_t pid, const std::string& how, Format format, Text& out) {
  switch (format) {
    case Format::raw:
      return;
    case Format::json:
      out += "{\"end\":{\"pid\":";
      append_int(pid, out);
      string_member("how", how, out);
      out += "}}\n";
      return;
    case Format::logfmt:
      out += "end=";
      out += how;
      out += " pid=";
      append_int(pid, out);
      out += '\n';
      return;
    case Format::text:
      out += "--- pid ";
      append_int(pid, out);
      out += how == "exited" ? " exited\n"
                             : " died without a crash report (killed: SIGKILL, the OOM killer?)\n";
      return;
  }
}

void render_crash(const Crashed& crashed, const std::vector<LastRecord>& threads, Format format,
                  bool utc, Text& out) {
  const blackbox::CrashInfo& c = crashed.crash;
  const std::vector<Frame> frames = symbolize(c);
  Renderer clock(Format::text, false, utc);
  if (format == Format::json) {
    out += "{\"crash\":{\"pid\":";
    append_int(crashed.pid, out);
    string_member("app", crashed.app, out);
    int_member("signal", c.signal, out);
    string_member("signal_name", signal_name(c.signal), out);
    int_member("code", c.code, out);
    string_member("cause", signal_cause(c.signal, c.code), out);
    string_member("fault_address", hex_address(c.fault_address), out);
    int_member("tid", c.tid, out);
    string_member("thread", c.thread_name, out);
    int_member("time_unix_nano", c.time_ns, out);
    string_member("exception", c.exception, out);
    if (c.has_trace) {
      out += ",\"trace_id\":\"";
      append_hex(c.trace_id.data(), 16, out);
      out += "\",\"span_id\":\"";
      append_hex(c.span_id.data(), 8, out);
      out += '"';
    }
    out += ",\"frames\":[";
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const Frame& f = frames[i];
      out += i == 0 ? "{\"address\":" : ",{\"address\":";
      append_json_string(hex_address(f.address), out);
      if (!f.function.empty()) string_member("function", f.function, out);
      if (!f.file.empty()) {
        string_member("file", f.file, out);
        int_member("line", f.line, out);
      }
      if (!f.module.empty()) {
        string_member("module", f.module, out);
        string_member("build_id", f.build_id, out);
        string_member("module_offset", hex_address(f.module_offset), out);
        out += f.module_found ? ",\"module_found\":true" : ",\"module_found\":false";
      }
      out += '}';
    }
    out += "],\"threads\":[";
    for (std::size_t i = 0; i < threads.size(); ++i) {
      const LastRecord& t = threads[i];
      out += i == 0 ? "{\"tid\":" : ",{\"tid\":";
      append_int(t.tid, out);
      string_member("thread", t.thread_name, out);
      int_member("last_record_time_unix_nano", t.time_ns, out);
      if (t.has_trace) {
        out += ",\"trace_id\":\"";
        append_hex(t.trace_id.data(), 16, out);
        out += '"';
      }
      out += '}';
    }
    out += "]}}\n";
    return;
  }
  if (format == Format::raw) return;  // messages only: a report is not one
  if (format == Format::logfmt) {
    // One line, like a record's: a fatal event of the process.
    out += "time=";
    clock.append_time(c.time_ns, true, out);
    out += " level=FATAL crash=";
    out += signal_name(c.signal);
    out += " cause=";
    append_logfmt_value(signal_cause(c.signal, c.code), out);
    out += " address=";
    out += hex_address(c.fault_address);
    out += " app=";
    append_logfmt_value(crashed.app, out);
    out += " pid=";
    append_int(crashed.pid, out);
    out += " tid=";
    append_int(c.tid, out);
    out += " thread=";
    append_logfmt_value(c.thread_name, out);
    if (!c.exception.empty()) {
      out += " exception=";
      append_logfmt_value(c.exception, out);
    }
    if (c.has_trace) {
      out += " trace_id=";
      append_hex(c.trace_id.data(), 16, out);
    }
    out += '\n';
    return;
  }
  out += "--- ";
  out += crashed.app;
  out += " (pid ";
  append_int(crashed.pid, out);
  out += ") crashed: ";
  out += signal_name(c.signal);
  out += " (";
  out += signal_cause(c.signal, c.code);
  out += ")";
  if (c.code > 0) {  // a fault: where
    out += " at address ";
    out += hex_address(c.fault_address);
  }
  out += ", thread ";
  append_int(c.tid, out);
  if (!c.thread_name.empty()) {
    out += " (";
    append_printable(c.thread_name, out);
    out += ')';
  }
  out += ", ";
  clock.append_time(c.time_ns, false, out);
  out += '\n';
  if (!c.exception.empty()) {
    out += "--- uncaught exception: ";
    append_printable(c.exception, out);
    out += '\n';
  }
  if (c.has_trace) {  // the request it was serving, and how to see all of it
    out += "--- in trace ";
    append_hex(c.trace_id.data(), 16, out);
    out += ", span ";
    append_hex(c.span_id.data(), 8, out);
    out += " (logcat --trace ";
    append_hex(c.trace_id.data(), 16, out);
    out += ")\n";
  }
  if (c.other_threads != 0) {
    out += "--- other threads crashing at the same time: ";
    append_int(c.other_threads, out);
    out += '\n';
  }
  out += "--- stack (innermost first):\n";
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    out += "    #";
    append_int(i, out);
    out += ' ';
    out += hex_address(f.address);
    out += ' ';
    if (!f.function.empty()) {
      out += f.function;
      if (f.file.empty()) {
        out += '+';
        out += hex_address(f.function_offset);
        out += " (";
        out += f.module;
        out += ')';
      } else {
        out += " at ";
        out += f.file;
        out += ':';
        append_int(f.line, out);
      }
    } else if (!f.module.empty()) {
      // No symbol: where in which build, for symbolising elsewhere.
      out += f.module;
      out += '+';
      out += hex_address(f.module_offset);
      out += " (build id ";
      out += f.build_id.empty() ? "unknown" : f.build_id;
      if (!f.module_found) out += "; not on disk, or another build";
      out += ')';
    } else {
      out += "(no module)";
    }
    out += '\n';
  }
  for (const LastRecord& t : threads) {
    out += "--- thread ";
    append_int(t.tid, out);
    out += " (";
    append_printable(t.thread_name, out);
    out += "): last record ";
    clock.append_time(t.time_ns, false, out);
    if (t.has_trace) {
      out += ", in trace ";
      append_hex(t.trace_id.data(), 16, out);
    }
    out += '\n';
  }
}

Output::Output() = default;
Output::~Output() { flush(); }

bool Output::commit() { return buffer_.size() < (1u << 20) || flush(); }

bool Output::flush() {
  std::size_t done = 0;
  while (!closed_ && done < buffer_.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;  // EPIPE: `| head` has what it wanted; stop quietly
      failed_ = !(n < 0 && errno == EPIPE);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
  return !closed_;
}

}  // namespace logcat
