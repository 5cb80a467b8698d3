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
// The futex word in use: g_wake, or the ring file's doorbell (use_shared_doorbell), which
// needs the shared futex operations. Set before the flusher and the producers use it.
std::atomic<std::atomic<std::uint32_t>*> g_word{&g_wake};
std::atomic<bool> g_shared{false};
std::atomic<bool> g_muted{false};
std::atomic<std::uint64_t> g_fill_wakes{0};  // a statistic: relaxed

bool ring_word(std::atomic<std::uint32_t>& word, bool shared) noexcept {
  if (word.exchange(1, std::memory_order_relaxed) != 0) return false;
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word),
          shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  return true;
}

bool ring_bell() noexcept {
  return ring_word(*g_word.load(std::memory_order_relaxed),
                   g_shared.load(std::memory_order_relaxed));
}

}  // namespace

void wake_flusher() noexcept {
  if (g_muted.load(std::memory_order_relaxed)) return;
  if (ring_bell()) g_fill_wakes.fetch_add(1, std::memory_order_relaxed);
}

void wake_flusher_now() noexcept { (void)ring_bell(); }

void mute_wakes(bool muted) noexcept { g_muted.store(muted, std::memory_order_relaxed); }

std::uint64_t fill_wakes_sent() noexcept { return g_fill_wakes.load(std::memory_order_relaxed); }

void arm_wake() noexcept {
  g_word.load(std::memory_order_relaxed)->store(0, std::memory_order_relaxed);
}

// FUTEX_WAIT's timeout is relative and measured on CLOCK_MONOTONIC: a wall-clock step does
// not change how long we sleep.
void sleep_until_woken(std::int64_t ns) noexcept {
  if (ns <= 0) return;
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(g_word.load(std::memory_order_relaxed)),
          g_shared.load(std::memory_order_relaxed) ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, 0, &ts,
          nullptr, 0);
}

void reset_wake() noexcept {
  g_word.store(&g_wake, std::memory_order_relaxed);
  g_shared.store(false, std::memory_order_relaxed);
  g_wake.store(0, std::memory_order_relaxed);
  g_muted.store(false, std::memory_order_relaxed);
}

void use_shared_doorbell(std::atomic<std::uint32_t>* word) noexcept {
  g_shared.store(true, std::memory_order_relaxed);
  g_word.store(word, std::memory_order_relaxed);
}

void ring_shared_doorbell(std::atomic<std::uint32_t>& word) noexcept {
  (void)ring_word(word, true);
}

}  // namespace blackbox::ring
