// Record timestamps as readers see them: the writer's calibration pairs (ticks, wall-clock
// ns) in the ring header (ring_layout.hpp), read consistently and used to convert ticks.
// Any process reads them, also after the writer died; the writer's side is ring/clock.hpp.
#pragma once

#include <cstdint>

#include "format/ring_layout.hpp"

namespace blackbox::ring {

struct ClockSample {
  std::uint64_t ticks = 0;
  std::int64_t ns = 0;
};

// One point, read with the seqlock protocol; false if it was never written or stayed torn
// (a writer that died mid-update) over 64 tries.
[[nodiscard]] bool read_clock_point(const ClockPoint& point, ClockSample& out) noexcept;

// A consistent copy of the calibration, read with the seqlock protocol.
struct ClockSnapshot {
  std::uint64_t base_ticks = 0;
  std::int64_t base_ns = 0;
  std::uint64_t ref_ticks = 0;
  std::int64_t ref_ns = 0;
  bool valid = false;
};
[[nodiscard]] ClockSnapshot read_clock(const ClockCalibration& clock) noexcept;

[[nodiscard]] std::int64_t ticks_to_ns(const ClockSnapshot& clock, std::uint64_t ticks) noexcept;

}  // namespace blackbox::ring
