// JSON output helpers shared by logcat's line formats and exports: strings escaped, hex
// ids, integers and members appended to a Text buffer without fmt's format-string parser
// (these run once or more per record).
#pragma once

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "blackbox/reader.hpp"
#include "render.hpp"
#include "select.hpp"

namespace logcat {

// Whether a byte must be escaped in a JSON string.
constexpr std::array<bool, 256> kJsonEscape = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

inline void append_json_string(std::string_view s, Text& out) {
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet appended (appended in runs)
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!kJsonEscape[c]) [[likely]]
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
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
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// Every byte's two hex digits: one 2-byte copy per byte.
constexpr std::array<char, 512> kHexPairs = [] {
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

inline void append_hex(const std::uint8_t* bytes, std::size_t n, Text& out) {
  hex(bytes, n, out.reserve(2 * n));
  out.added(2 * n);
}

template <typename Int>
void append_int(Int value, Text& out) {
  const fmt::format_int text(value);
  out.append(text.data(), text.size());
}

// JSON object members after the first: `,"key":value`.
template <typename Int>
void int_member(std::string_view key, Int value, Text& out) {
  out += ",\"";
  out += key;
  out += "\":";
  append_int(value, out);
}
// `,"<trace_key>":"<32 hex>","<span_key>":"<16 hex>"` for a record with a trace context.
inline void trace_members(const blackbox::Record& r, std::string_view trace_key,
                          std::string_view span_key, Text& out) {
  if (!r.has_trace) return;
  out += ",\"";
  out += trace_key;
  out += "\":\"";
  append_hex(r.trace_id.data(), 16, out);
  out += "\",\"";
  out += span_key;
  out += "\":\"";
  append_hex(r.span_id.data(), 8, out);
  out += '"';
}
inline void string_member(std::string_view key, std::string_view value, Text& out) {
  out += ",\"";
  out += key;
  out += "\":";
  append_json_string(value, out);
}

// A field as JSON: numbers and booleans bare, everything else (and inf/nan) as a string.
// `exact_in_doubles`: integers a double cannot hold exactly (beyond 2^53) as strings too,
// for readers that parse numbers as doubles (JavaScript).
inline void append_json_value(const blackbox::Value& v, Text& out, bool exact_in_doubles = false) {
  constexpr std::uint64_t kExact = std::uint64_t{1} << 53;
  // Integers (most fields) straight into the line; the rest through their text form.
  auto integer = [&](const fmt::format_int& text, bool beyond_doubles) {
    const bool quote = exact_in_doubles && beyond_doubles;
    if (quote) out += '"';
    out.append(text.data(), text.size());
    if (quote) out += '"';
  };
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    const bool beyond =
        *i > static_cast<std::int64_t>(kExact) || *i < -static_cast<std::int64_t>(kExact);
    return integer(fmt::format_int(*i), beyond);
  }
  if (const auto* u = std::get_if<std::uint64_t>(&v))
    return integer(fmt::format_int(*u), *u > kExact);
  const std::string text = plain_value(v);
  const bool bare = std::holds_alternative<bool>(v) ||
                    (std::holds_alternative<double>(v) && std::isfinite(std::get<double>(v)));
  if (bare) {
    out += text;
  } else {
    append_json_string(text, out);
  }
}

// OpenTelemetry severity numbers and names: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17,
// FATAL 21.
inline int otel_severity(Level level) { return 1 + 4 * static_cast<int>(level); }
inline const char* otel_severity_text(Level level) {
  static constexpr const char* kNames[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
  const auto i = static_cast<std::size_t>(level);
  return i < 6 ? kNames[i] : "UNSPECIFIED";
}

}  // namespace logcat
