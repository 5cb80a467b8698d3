// The system clocks, in ns: CLOCK_REALTIME for timestamps (wall time), CLOCK_MONOTONIC for
// every timer, interval and timeout (a wall-clock step must not stop or rush a timer).
#pragma once

#include <cstdint>

namespace blackbox::sys {

// Wall-clock ns since the epoch (CLOCK_REALTIME). Async-signal-safe.
[[nodiscard]] std::int64_t realtime_ns() noexcept;
// CLOCK_MONOTONIC ns. Async-signal-safe.
[[nodiscard]] std::int64_t monotonic_ns() noexcept;

// Tests only: steps realtime_ns() by `offset_ns` (a wall-clock step, as NTP or an operator
// makes one), to check that no timer runs on the wall clock.
void step_realtime_for_testing(std::int64_t offset_ns) noexcept;

}  // namespace blackbox::sys
