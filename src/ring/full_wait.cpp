// Waiting for the archive when a ring is full (full_wait.hpp; its memory ordering is
// described there).
#include "ring/full_wait.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>

#include "ring/wake.hpp"
#include "sys/clock.hpp"

namespace blackbox::ring {
namespace {

std::atomic<bool> g_allowed{false};
std::atomic<std::uint32_t> g_waiting{0};
std::atomic<std::uint64_t> g_waits{0};
std::atomic<std::uint64_t> g_wait_ns{0};
std::atomic<std::uint64_t> g_gave_up{0};
thread_local constinit bool t_never = false;
// The archive position a thread last gave up at, and whose it was: it does not wait again
// until that position moves.
thread_local constinit const void* t_stuck_word = nullptr;
thread_local constinit std::uint64_t t_stuck_at = 0;

// The phases of a wait: a few microseconds of spinning (the flusher is usually in the middle
// of a write that is about to end), then yielding the core to it (on a machine with fewer
// cores than busy threads), then sleeping, 20 us doubling up to 1 ms, so that a long wait
// costs no CPU.
constexpr std::uint32_t kSpins = 256;
constexpr std::uint32_t kYields = 32;

void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void sleep_ns(std::int64_t ns) noexcept {
  if (ns <= 0) return;
  const timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  nanosleep(&ts, nullptr);
}

}  // namespace

void allow_waits(bool allowed) noexcept { g_allowed.store(allowed, std::memory_order_relaxed); }

bool producers_waiting() noexcept { return g_waiting.load(std::memory_order_relaxed) != 0; }

void never_wait_on_this_thread() noexcept { t_never = true; }

bool wait_for_archive(const std::atomic<std::uint64_t>& archived_pos, std::uint64_t needed,
                      std::int64_t max_wait_ns) noexcept {
  std::uint64_t archived = archived_pos.load(std::memory_order_acquire);
  if (archived >= needed) return true;
  // No archive to wait for (none configured, the disk failing, no flusher yet): overwrite
  // as in overwrite mode, the loss counted as usual.
  if (t_never || max_wait_ns <= 0 || !g_allowed.load(std::memory_order_relaxed)) return false;
  if (t_stuck_word == &archived_pos && t_stuck_at == archived) {
    g_gave_up.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  g_waiting.fetch_add(1, std::memory_order_relaxed);
  wake_flusher_now();
  const std::int64_t start = sys::monotonic_ns();
  const std::int64_t deadline = start + max_wait_ns;
  std::int64_t nap = 20'000;
  bool archived_enough = false;
  for (std::uint32_t round = 0;; ++round) {
    if (round < kSpins) {
      relax();
    } else if (round < kSpins + kYields) {
      sched_yield();
    } else {
      sleep_ns(std::min(nap, deadline - sys::monotonic_ns()));
      nap = std::min<std::int64_t>(nap * 2, 1'000'000);
      wake_flusher_now();  // again: it may have gone to sleep between our ring and its pass
    }
    archived = archived_pos.load(std::memory_order_acquire);
    if (archived >= needed) {
      archived_enough = true;
      break;
    }
    if (!g_allowed.load(std::memory_order_relaxed)) break;  // the archive stopped or failed
    if (round >= kSpins && sys::monotonic_ns() >= deadline) break;
  }
  g_waiting.fetch_sub(1, std::memory_order_relaxed);
  g_waits.fetch_add(1, std::memory_order_relaxed);
  g_wait_ns.fetch_add(
      static_cast<std::uint64_t>(std::max<std::int64_t>(sys::monotonic_ns() - start, 0)),
      std::memory_order_relaxed);
  if (archived_enough) {
    t_stuck_word = nullptr;
    return true;
  }
  g_gave_up.fetch_add(1, std::memory_order_relaxed);
  t_stuck_word = &archived_pos;
  t_stuck_at = archived;
  return false;
}

WaitTotals wait_totals() noexcept {
  return {g_waits.load(std::memory_order_relaxed), g_wait_ns.load(std::memory_order_relaxed),
          g_gave_up.load(std::memory_order_relaxed)};
}

void reset_waits() noexcept {
  g_allowed.store(false, std::memory_order_relaxed);
  g_waiting.store(0, std::memory_order_relaxed);
  g_waits.store(0, std::memory_order_relaxed);
  g_wait_ns.store(0, std::memory_order_relaxed);
  g_gave_up.store(0, std::memory_order_relaxed);
  t_stuck_word = nullptr;
}

}  // namespace blackbox::ring
