// Record timestamps, the writer's side: raw ticks on the hot path (detail::now_ticks), and
// the calibration pairs kept in the ring header so readers can convert them to wall-clock
// ns (format/ring_clock.hpp).
#pragma once

#include <cstdint>

#include "format/ring_layout.hpp"

namespace blackbox::ring {

[[nodiscard]] ClockKind native_clock_kind() noexcept;

// Whether the clock the hot path reads ticks at a constant rate in every power state (CPUID
// "invariant TSC" on x86-64; always true for CLOCK_MONOTONIC). If not, times between two
// calibration points can drift.
[[nodiscard]] bool clock_is_steady() noexcept;

// Writes the base pair and a first reference pair about 1 ms later (spins; called once
// when a ring is created, before its magic is published).
void calibrate_initial(ClockCalibration& clock) noexcept;

// Called from the producer's once-per-block slow path: at most about once a second, writes a
// fresh (ticks, ns) pair into the older of the two clock points. Never blocks: if another
// thread is updating, returns at once. Lock-free.
void maybe_refresh(ClockCalibration& clock, std::uint64_t now_ticks) noexcept;

// Clock ticks per second, from the latest calibration (1e9 where ticks are ns, or before
// any ring was calibrated). For intervals that need not be exact (rate limits' refills).
[[nodiscard]] std::uint64_t ticks_per_second() noexcept;

// Forgets the refresh schedule (a forked child calibrates its own ring).
void reset_refresh_schedule() noexcept;

}  // namespace blackbox::ring
