// Reading the clock calibration of a ring header (ring_clock.hpp).
//
// Memory ordering: each ClockPoint is a seqlock, written by the ring's writer
// (src/ring/clock.cpp). Reader: seq (acquire), fields (relaxed), acquire fence, seq again
// (relaxed); equal and even means the fields are a consistent pair (the fence pairs with
// the writer's release fence after its odd seq; the first load with its final release).
#include "format/ring_clock.hpp"

#include <atomic>
#include <limits>

namespace blackbox::ring {

bool read_clock_point(const ClockPoint& point, ClockSample& out) noexcept {
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t seq1 = point.seq.load(std::memory_order_acquire);
    if (seq1 == 0 || (seq1 & 1) != 0) {
      if (seq1 == 0) return false;  // never written
      continue;                     // being written (or the writer died mid-write)
    }
    out.ticks = point.ticks.load(std::memory_order_relaxed);
    out.ns = point.ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (point.seq.load(std::memory_order_relaxed) == seq1) return true;
  }
  return false;
}

ClockSnapshot read_clock(const ClockCalibration& clock) noexcept {
  ClockSnapshot snap;
  snap.base_ticks = clock.base_ticks;
  snap.base_ns = clock.base_ns;
  ClockSample p0{}, p1{};
  const bool ok0 = read_clock_point(clock.point[0], p0);
  const bool ok1 = read_clock_point(clock.point[1], p1);
  if (!ok0 && !ok1) return snap;
  const ClockSample newest = (ok0 && (!ok1 || p0.ticks >= p1.ticks)) ? p0 : p1;
  snap.ref_ticks = newest.ticks;
  snap.ref_ns = newest.ns;
  snap.valid = newest.ticks > snap.base_ticks && newest.ns > snap.base_ns;
  return snap;
}

__extension__ typedef __int128 int128;  // 64 x 64-bit products without overflow

// In 128 bits throughout and clamped to the i64 range: a calibration read from a damaged
// file can hold any values (ring_reader_fuzz found an i64 overflow here).
std::int64_t ticks_to_ns(const ClockSnapshot& c, std::uint64_t ticks) noexcept {
  if (!c.valid) return c.base_ns;
  const auto dt = static_cast<int128>(ticks) - static_cast<int128>(c.ref_ticks);
  const auto span_ns = static_cast<int128>(c.ref_ns) - static_cast<int128>(c.base_ns);
  const auto span_ticks = static_cast<int128>(c.ref_ticks) - static_cast<int128>(c.base_ticks);
  // A span of more than 2^62 ns (146 years) is damage; below it, |dt| < 2^64 keeps the
  // product within 2^126.
  if (span_ns > (static_cast<int128>(1) << 62)) return c.ref_ns;
  const int128 ns = static_cast<int128>(c.ref_ns) + dt * span_ns / span_ticks;
  constexpr auto kMax = static_cast<int128>(std::numeric_limits<std::int64_t>::max());
  constexpr auto kMin = static_cast<int128>(std::numeric_limits<std::int64_t>::min());
  return static_cast<std::int64_t>(ns > kMax ? kMax : ns < kMin ? kMin : ns);
}

}  // namespace blackbox::ring
