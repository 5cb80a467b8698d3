// Clock calibration: pairs of (ticks, CLOCK_REALTIME ns) in the ring header, so a reader in
// any process, or after the writer died, converts ticks without asking the writer.
//
// Memory ordering: each ClockPoint is a seqlock. Writer: seq+1 (relaxed), release fence,
// fields (relaxed), seq+2 (release). Reader: seq (acquire), fields (relaxed), acquire fence,
// seq again (relaxed); equal and even means the fields are a consistent pair. Writers are
// serialised by g_refreshing (acquire on take, release on give back).
#include "ring/clock.hpp"

#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <atomic>
#include <limits>

#include "blackbox/detail/producer.hpp"

namespace blackbox::ring {
namespace {

struct Sample {
  std::uint64_t ticks;
  std::int64_t ns;
};

// Ticks read on both sides of clock_gettime; the narrowest of three tries, midpoint.
Sample sample() noexcept {
  Sample best{};
  std::uint64_t best_window = ~std::uint64_t{0};
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t before = detail::now_ticks();
    const std::int64_t ns = realtime_ns();
    const std::uint64_t after = detail::now_ticks();
    if (after - before < best_window) {
      best_window = after - before;
      best = {before + (after - before) / 2, ns};
    }
  }
  return best;
}

void write_point(ClockPoint& point, Sample s) noexcept {
  const std::uint64_t seq = point.seq.load(std::memory_order_relaxed);
  point.seq.store(seq + 1, std::memory_order_relaxed);
  // Orders the odd seq before the field stores (seqlock writer); pairs with the reader's
  // acquire fence in read_point().
  std::atomic_thread_fence(std::memory_order_release);
  point.ticks.store(s.ticks, std::memory_order_relaxed);
  point.ns.store(s.ns, std::memory_order_relaxed);
  // Release: the fields before the even seq. Pairs with the reader's first acquire load.
  point.seq.store(seq + 2, std::memory_order_release);
}

bool read_point(const ClockPoint& point, Sample& out) noexcept {
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

// Process-local refresh schedule. Relaxed: it only decides when to try; g_refreshing
// serialises the writers.
std::atomic<std::uint64_t> g_next_refresh{0};
std::atomic<std::uint64_t> g_refresh_interval{0};
std::atomic<bool> g_refreshing{false};

}  // namespace

bool clock_is_steady() noexcept {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1u << 8)) != 0;  // Advanced Power Management: invariant TSC
#else
  return true;
#endif
}

ClockKind native_clock_kind() noexcept {
#if defined(__x86_64__)
  return ClockKind::tsc;
#else
  return ClockKind::monotonic_ns;
#endif
}

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void calibrate_initial(ClockCalibration& clock) noexcept {
  const Sample base = sample();
  Sample ref = base;
  // About 1 ms: enough for a first rate within ~0.01%; refreshes refine it.
  while (ref.ns - base.ns < 1'000'000 || ref.ticks == base.ticks) ref = sample();
  clock.base_ticks = base.ticks;
  clock.base_ns = base.ns;
  write_point(clock.point[0], ref);
  const std::uint64_t per_second =
      (ref.ticks - base.ticks) * 1'000'000'000ull / static_cast<std::uint64_t>(ref.ns - base.ns);
  g_refresh_interval.store(per_second, std::memory_order_relaxed);
  g_next_refresh.store(ref.ticks + per_second, std::memory_order_relaxed);
}

void maybe_refresh(ClockCalibration& clock, std::uint64_t now_ticks) noexcept {
  if (now_ticks < g_next_refresh.load(std::memory_order_relaxed)) return;
  if (g_refreshing.exchange(true, std::memory_order_acquire)) return;  // someone else is on it
  const Sample s = sample();
  Sample p0{}, p1{};
  const bool ok0 = read_point(clock.point[0], p0);
  const bool ok1 = read_point(clock.point[1], p1);
  // Overwrite the older point so the newer one stays intact while we write.
  ClockPoint& target = (!ok1 || (ok0 && p1.ticks < p0.ticks)) ? clock.point[1] : clock.point[0];
  write_point(target, s);
  g_next_refresh.store(s.ticks + g_refresh_interval.load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
  g_refreshing.store(false, std::memory_order_release);
}

void reset_refresh_schedule() noexcept {
  g_next_refresh.store(0, std::memory_order_relaxed);
  g_refreshing.store(false, std::memory_order_relaxed);
}

ClockSnapshot read_clock(const ClockCalibration& clock) noexcept {
  ClockSnapshot snap;
  snap.base_ticks = clock.base_ticks;
  snap.base_ns = clock.base_ns;
  Sample p0{}, p1{};
  const bool ok0 = read_point(clock.point[0], p0);
  const bool ok1 = read_point(clock.point[1], p1);
  if (!ok0 && !ok1) return snap;
  const Sample newest = (ok0 && (!ok1 || p0.ticks >= p1.ticks)) ? p0 : p1;
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
