// What logcat shows: the command line's filters, split into what the readers can do before
// decoding (a blackbox::ReadFilter: level, TAG:L filterspecs, time range, threads, pid,
// trace) and what needs the decoded record (regex on the message, --field key=value).
#pragma once

#include <re2/re2.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "blackbox/reader.hpp"
#include "blackbox/text.hpp"

namespace logcat {

using blackbox::Level;
using blackbox::Record;

// "TAG:L" filterspecs, Android style: the last spec for a tag wins; "*" is every other tag;
// S (silent) hides a tag.
struct Filterspecs {
  std::map<std::string, Level, std::less<>> tags;
  std::optional<Level> any;
  bool parse(const std::string& spec);  // false: not a filterspec
  [[nodiscard]] bool empty() const { return tags.empty() && !any; }
  [[nodiscard]] bool pass(std::string_view tag, Level level) const;
};

struct Selection {
  blackbox::ReadFilter read;  // pushed down into the readers
  std::unique_ptr<re2::RE2> regex;
  std::vector<std::pair<std::string, std::string>> fields;  // key, value as text
  // --span: only this span and the spans below it (of the trace in read.trace_id).
  std::optional<std::uint64_t> span;

  // What the readers already check, for records that were read unfiltered (rings, whose
  // records logcat must all see to de-duplicate them against archives).
  [[nodiscard]] bool pass_read_filter(const Record& r) const;
  // Whether a process passes -p, --run and --app (`start` nullopt: not known, not checked),
  // for questions asked of whole files and rings.
  [[nodiscard]] bool pass_process(std::int32_t pid, std::optional<std::int64_t> start,
                                  std::string_view app) const;
  // The checks only a decoded record allows.
  [[nodiscard]] bool pass_decoded(const Record& r) const;
};

// "90s", "10m", "2h", "1d" (an age: now minus it), or ISO 8601 "2026-11-24T13:00:00" with an
// optional fraction and "Z" (UTC; without "Z", local time).
[[nodiscard]] std::optional<std::int64_t> parse_time(const std::string& text, std::int64_t now);
[[nodiscard]] std::optional<std::array<std::uint8_t, 16>> parse_trace(const std::string& hex);
[[nodiscard]] std::optional<std::uint64_t> parse_span(const std::string& hex);  // 16 digits
[[nodiscard]] std::int64_t now_ns();

// A level by name (trace .. fatal, as BBX_LEVEL takes them) or by adb logcat's letter
// (V verbose = trace, D, I, W, E, F; T for trace too), in either case.
[[nodiscard]] std::optional<Level> parse_level_or_letter(const std::string& text);

// A field's value as plain text (what --field compares and logfmt prints).
using blackbox::text::plain_value;

}  // namespace logcat
