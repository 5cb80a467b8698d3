// Clock calibration: pairs of (ticks, CLOCK_REALTIME ns) in the ring header, so a reader in
// any process, or after the writer died, converts ticks without asking the writer.
//
// Memory ordering: each ClockPoint is a seqlock. Writer: seq+1 (relaxed), release fence,
// fields (relaxed), seq+2 (release); the reader's side is format/ring_clock.cpp. Writers
// are serialised by g_refreshing (acquire on take, release on give back).
#include "ring/clock.hpp"

#include <time.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <atomic>
#include <limits>

#include "blackbox/detail/producer.hpp"
#include "format/ring_clock.hpp"
#include "sys/clock.hpp"

namespace blackbox::ring {
namespace {

using Sample = ClockSample;

// Ticks read on both sides of clock_gettime; the narrowest of three tries, midpoint.
Sample sample() noexcept {
  Sample best{};
  std::uint64_t best_window = ~std::uint64_t{0};
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t before = detail::now_ticks();
    const std::int64_t ns = sys::realtime_ns();
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
  // acquire fence in read_clock_point().
  std::atomic_thread_fence(std::memory_order_release);
  point.ticks.store(s.ticks, std::memory_order_relaxed);
  point.ns.store(s.ns, std::memory_order_relaxed);
  // Release: the fields before the even seq. Pairs with the reader's first acquire load.
  point.seq.store(seq + 2, std::memory_order_release);
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
  const bool ok0 = read_clock_point(clock.point[0], p0);
  const bool ok1 = read_clock_point(clock.point[1], p1);
  // Overwrite the older point so the newer one stays intact while we write.
  ClockPoint& target = (!ok1 || (ok0 && p1.ticks < p0.ticks)) ? clock.point[1] : clock.point[0];
  write_point(target, s);
  g_next_refresh.store(s.ticks + g_refresh_interval.load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
  g_refreshing.store(false, std::memory_order_release);
}

std::uint64_t ticks_per_second() noexcept {
  const std::uint64_t per_second = g_refresh_interval.load(std::memory_order_relaxed);
  return per_second != 0 ? per_second : 1'000'000'000;
}

void reset_refresh_schedule() noexcept {
  g_next_refresh.store(0, std::memory_order_relaxed);
  g_refreshing.store(false, std::memory_order_relaxed);
}

}  // namespace blackbox::ring
