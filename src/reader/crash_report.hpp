// The crash report's bytes (format/ring_layout.hpp, CrashReport: in a ring file's header page, and
// as the payload of an archive's crash frame) parsed into a CrashInfo. Shared by the ring
// and archive readers.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "blackbox/reader.hpp"

namespace blackbox::reader {

// Null unless `bytes` starts with a complete report (its magic set). Nothing in it is
// trusted: counts are bounded, strings end at their first NUL or their field's end.
[[nodiscard]] std::optional<CrashInfo> parse_crash_report(std::span<const std::byte> bytes);

}  // namespace blackbox::reader
