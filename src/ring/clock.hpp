// Record timestamps: raw ticks on the hot path (detail::now_ticks), converted to wall-clock
// nanoseconds by readers with the calibration the writer keeps in the ring header.
#pragma once

#include <cstdint>

#include "ring/layout.hpp"

namespace blackbox::ring {

[[nodiscard]] ClockKind native_clock_kind() noexcept;

// Whether the clock the hot path reads ticks at a constant rate in every power state (CPUID
// "invariant TSC" on x86-64; always true for CLOCK_MONOTONIC). If not, times between two
// calibration points can drift.
[[nodiscard]] bool clock_is_steady() noexcept;

// Wall-clock ns since the epoch (CLOCK_REALTIME). Async-signal-safe.
[[nodiscard]] std::int64_t realtime_ns() noexcept;
// CLOCK_MONOTONIC ns. Async-signal-safe.
[[nodiscard]] std::int64_t monotonic_ns() noexcept;

// Writes the base pair and a first reference pair about 1 ms later (spins; called once
// when a ring is created, before its magic is published).
void calibrate_initial(ClockCalibration& clock) noexcept;

// Called from the producer's once-per-block slow path: at most about once a second, writes a
// fresh (ticks, ns) pair into the older of the two clock points. Never blocks: if another
// thread is updating, returns at once. Lock-free.
void maybe_refresh(ClockCalibration& clock, std::uint64_t now_ticks) noexcept;

// Forgets the refresh schedule (a forked child calibrates its own ring).
void reset_refresh_schedule() noexcept;

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
