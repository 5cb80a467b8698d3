// The flusher's doorbell: whoever drains the rings (the flusher thread, a higher layer)
// sleeps on it; producers ring it when a ring fills up, and so do flush(), the dump
// signal and the control paths. It lives here, below every layer that rings it, so the
// writer never needs to know who drains it.
//
// Memory ordering: g_wake (wake.cpp) is the futex word. wake_flusher() exchanges 1 and
// FUTEX_WAKEs if it was 0; the sleeper stores 0 before its pass (arm_wake()) and sleeps with
// FUTEX_WAIT(0), so a wake during a pass makes the next sleep return at once. Relaxed: the
// futex syscall orders what matters; a lost wake only delays a pass until the interval.
#pragma once

#include <atomic>
#include <cstdint>

namespace blackbox::ring {

// Wakes the sleeper early because a ring is filling up (the producers' block claim). Does
// nothing while muted: the flusher mutes it while its disk breaker is open, when draining
// would not help and a wake per block claim would only burn a system call each (it probes
// on its own schedule). Lock-free, never blocks: at most one futex wake per sleep.
// Async-signal-safe.
void wake_flusher() noexcept;
// Wakes it whatever the mute says: a request that must be served now (flush(), stop, the
// dump signal). Async-signal-safe.
void wake_flusher_now() noexcept;
// The flusher's side of the mute (relaxed: a producer that misses a change only wakes it
// once more, or not at all until the interval).
void mute_wakes(bool muted) noexcept;
// Futex wakes wake_flusher() has sent (tests: a ring filling up while the breaker is open
// must not wake the flusher at every block claim).
[[nodiscard]] std::uint64_t fill_wakes_sent() noexcept;

// The sleeper: forget earlier wakes (call before a pass), then sleep up to `ns` or until
// woken. Spurious returns are possible (a signal); callers loop on their own clock.
void arm_wake() noexcept;
void sleep_until_woken(std::int64_t ns) noexcept;

// Forgets a pending wake (a forked child starts without a flusher), and goes back to the
// process-private futex word.
void reset_wake() noexcept;

// Makes `word` (in the ring file's control area: shared memory) the futex word, so another
// process that maps the file can wake the flusher (a control request). Set before the
// flusher starts and before any producer can ring.
void use_shared_doorbell(std::atomic<std::uint32_t>* word) noexcept;

// Another process's side: rings the doorbell `word` in its mapping of a ring file.
void ring_shared_doorbell(std::atomic<std::uint32_t>& word) noexcept;

}  // namespace blackbox::ring
