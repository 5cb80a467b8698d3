// Severity levels and their names. Shared by the call site, the configuration parser and
// the reader, so the numeric values are part of the ring file format (docs/format.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace blackbox {

// Numeric values are stored in site definitions; never renumber.
enum class Level : std::uint8_t {
  trace = 0,
  debug = 1,
  info = 2,
  warn = 3,
  error = 4,
  fatal = 5,  // logged like any other level; blackbox never aborts on its own
  off = 6,    // only as a threshold: nothing is logged
};

// "trace", "debug", ... "off". Thread-safe, async-signal-safe, never allocates.
[[nodiscard]] constexpr std::string_view level_name(Level level) noexcept {
  switch (level) {
    case Level::trace:
      return "trace";
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
    case Level::fatal:
      return "fatal";
    case Level::off:
      return "off";
  }
  return "?";
}

// Parses a level name, case-insensitively; also accepts "warning", "err", "critical".
// Returns nullopt for anything else. Thread-safe, never allocates.
[[nodiscard]] std::optional<Level> parse_level(std::string_view name) noexcept;

}  // namespace blackbox
