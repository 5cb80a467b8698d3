#include "render.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <iterator>

#include "select.hpp"

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

void append_json_string(std::string_view s, std::string& out) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// logfmt: bare if it has no space, quote or '='; else quoted with JSON escapes.
void append_logfmt_value(std::string_view s, std::string& out) {
  if (!s.empty() && s.find_first_of(" \"=\t\n\\") == std::string_view::npos) {
    out += s;
  } else {
    append_json_string(s, out);
  }
}

// A field as JSON: numbers and booleans bare, everything else (and inf/nan) as a string.
void append_json_value(const blackbox::Value& v, std::string& out) {
  const std::string text = plain_value(v);
  const bool bare = std::holds_alternative<bool>(v) || std::holds_alternative<std::int64_t>(v) ||
                    std::holds_alternative<std::uint64_t>(v) ||
                    (std::holds_alternative<double>(v) && std::isfinite(std::get<double>(v)));
  if (bare) {
    out += text;
  } else {
    append_json_string(text, out);
  }
}

// OpenTelemetry severity numbers and names: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17,
// FATAL 21.
int otel_severity(Level level) { return 1 + 4 * static_cast<int>(level); }
const char* otel_severity_text(Level level) {
  static constexpr const char* kNames[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
  const auto i = static_cast<std::size_t>(level);
  return i < 6 ? kNames[i] : "UNSPECIFIED";
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(s, out);
  return out;
}

std::string trace_hex(const std::uint8_t* bytes, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

char level_letter(Level level) {
  static constexpr char kLetters[] = "TDIWEF";
  const auto i = static_cast<std::size_t>(level);
  return i < 6 ? kLetters[i] : '?';
}

void Renderer::append_time(std::int64_t ns, bool iso_utc, std::string& out) {
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
    std::strftime(cached_, sizeof cached_, iso_utc ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S",
                  &tm);
    cached_second_ = second;
    cached_iso_ = iso_utc;
  }
  out += cached_;
  char micro[8];
  auto us = static_cast<std::uint32_t>(fraction_ns / 1000);
  micro[0] = '.';
  for (int i = 6; i >= 1; --i, us /= 10) micro[i] = static_cast<char>('0' + us % 10);
  out.append(micro, 7);
  if (utc_ || iso_utc) out += 'Z';
}

void Renderer::render(const Record& r, std::string& out) {
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
      fmt::format_to(std::back_inserter(out), " {:>7} {:<8} ", r.tid, r.tag);
      out += r.message;
      if (r.has_trace) {
        out += " trace=";
        out += trace_hex(r.trace_id.data(), 16);
      }
      break;
    }
    case Format::logfmt: {
      out += "time=";
      append_time(r.time_ns, true, out);
      fmt::format_to(std::back_inserter(out), " level={} tag=", blackbox::level_name(r.level));
      append_logfmt_value(r.tag, out);
      fmt::format_to(std::back_inserter(out), " tid={} msg=", r.tid);
      append_logfmt_value(r.message, out);
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto& f = r.fields[i];
        out += ' ';
        if (f.name.empty()) {
          fmt::format_to(std::back_inserter(out), "arg{}", i);
        } else {
          out += f.name;
        }
        out += '=';
        append_logfmt_value(plain_value(f.value), out);
      }
      if (r.has_trace) {
        out += " trace_id=";
        out += trace_hex(r.trace_id.data(), 16);
      }
      break;
    }
    case Format::json: {
      out += "{\"time\":\"";
      append_time(r.time_ns, true, out);
      fmt::format_to(std::back_inserter(out),
                     "\",\"severity\":{},\"severity_text\":\"{}\",\"tag\":", otel_severity(r.level),
                     otel_severity_text(r.level));
      append_json_string(r.tag, out);
      fmt::format_to(std::back_inserter(out), ",\"pid\":{},\"tid\":{},\"thread\":", r.pid, r.tid);
      append_json_string(r.thread_name, out);
      out += ",\"message\":";
      append_json_string(r.message, out);
      out += ",\"fields\":{";
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const auto& f = r.fields[i];
        if (i != 0) out += ',';
        append_json_string(f.name.empty() ? std::to_string(i) : f.name, out);
        out += ':';
        append_json_value(f.value, out);
      }
      out += '}';
      if (r.has_trace) {
        out += ",\"trace_id\":\"" + trace_hex(r.trace_id.data(), 16) + "\",\"span_id\":\"" +
               trace_hex(r.span_id.data(), 8) + '"';
      }
      out += ",\"file\":";
      append_json_string(r.file, out);
      fmt::format_to(std::back_inserter(out), ",\"line\":{}}}", r.line);
      break;
    }
  }
  out += '\n';
}

Output::Output() { buffer_.reserve(1 << 20); }
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
