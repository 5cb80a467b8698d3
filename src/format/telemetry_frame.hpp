// The archive's telemetry frame (FrameType::telemetry): a snapshot of a process's telemetry
// area (telemetry_area.hpp) as it was when the flusher rotated a file or stopped, or when
// recovery archived a dead process's ring. docs/format.md, "Frame types", specifies the
// payload; decode_telemetry() trusts nothing in it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "blackbox/control.hpp"
#include "format/ring_layout.hpp"

namespace blackbox::archive {

// Why a snapshot (telemetry or metrics frame) was written. `interval`: metrics only, every
// Config::metrics_interval.
enum class SnapshotReason : std::uint32_t { rotation = 1, exit = 2, recovered = 3, interval = 4 };

// Appends the payload of a telemetry frame: `t`, `minute` and `slots` (slot_count entries) of
// a ring whose header is `h`, its level spec, as of `time_ns`.
void encode_telemetry(const ring::Telemetry& t, const ring::MinuteLosses& minute,
                      const ring::SlotTelemetry* slots, std::uint32_t slot_count,
                      const ring::RingHeader& h, std::string_view levels, std::int64_t time_ns,
                      SnapshotReason reason, std::vector<std::byte>& out);

struct TelemetrySnapshot {
  std::int64_t time_ns = 0;
  SnapshotReason reason = SnapshotReason::exit;
  Telemetry telemetry;
  std::string levels;
};
// False if the payload is malformed (then `out` is unspecified).
[[nodiscard]] bool decode_telemetry(std::span<const std::byte> payload, TelemetrySnapshot& out);

}  // namespace blackbox::archive
