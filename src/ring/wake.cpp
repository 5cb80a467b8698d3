// The flusher's doorbell (wake.hpp; its memory ordering is described there).
#include "ring/wake.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace blackbox::ring {
namespace {

std::atomic<std::uint32_t> g_wake{0};
std::atomic<bool> g_muted{false};
std::atomic<std::uint64_t> g_fill_wakes{0};  // a statistic: relaxed

bool ring_bell() noexcept {
  if (g_wake.exchange(1, std::memory_order_relaxed) != 0) return false;
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&g_wake), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
  return true;
}

}  // namespace

void wake_flusher() noexcept {
  if (g_muted.load(std::memory_order_relaxed)) return;
  if (ring_bell()) g_fill_wakes.fetch_add(1, std::memory_order_relaxed);
}

void wake_flusher_now() noexcept { (void)ring_bell(); }

void mute_wakes(bool muted) noexcept { g_muted.store(muted, std::memory_order_relaxed); }

std::uint64_t fill_wakes_sent() noexcept { return g_fill_wakes.load(std::memory_order_relaxed); }

void arm_wake() noexcept { g_wake.store(0, std::memory_order_relaxed); }

// FUTEX_WAIT's timeout is relative and measured on CLOCK_MONOTONIC: a wall-clock step does
// not change how long we sleep.
void sleep_until_woken(std::int64_t ns) noexcept {
  if (ns <= 0) return;
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&g_wake), FUTEX_WAIT_PRIVATE, 0, &ts, nullptr,
          0);
}

void reset_wake() noexcept {
  g_wake.store(0, std::memory_order_relaxed);
  g_muted.store(false, std::memory_order_relaxed);
}

}  // namespace blackbox::ring
