// Rate limits (Config::rate_limits, blackbox::set_rate_limits): a token bucket per call site,
// checked after the level, so that a flood from one site is bounded and counted; and the
// samplers of BBX_*_EVERY_N and BBX_*_EVERY_MS.
//
// A site that no limit applies to pays one load and one (predicted) branch. A limited site
// that has a token takes it (one load, one atomic decrement). A suppressed call reads the
// clock, compares it with the bucket's next refill time and counts itself (one atomic
// increment): about what a disabled call costs, and its arguments are not evaluated either.
// Refills happen out of line (core/rate_limit.cpp), at most about once a millisecond per
// site, or when the next token is due if that is later.
//
// Memory ordering: every field is relaxed. The counters are counters (exact: each token
// is handed out by exactly one fetch_sub that saw it positive; each suppressed call adds
// one), and the refill's compare-exchange on refilled_ns makes exactly one thread add the
// tokens of each stretch of time. Site::bucket is published with release after the bucket's
// fields are set (core/rate_limit.cpp) and loaded with acquire (a plain load on x86).
#pragma once

#include <atomic>
#include <cstdint>

#include "blackbox/detail/producer.hpp"
#include "blackbox/detail/site.hpp"

namespace blackbox::detail {

// The template of the records that report what a site's limit suppressed (tag, level, file
// and line: the site's), for readers that sum them (`logcat stats`).
inline constexpr char kRateLimitReport[] =
    "suppressed {suppressed} records of site {site} in the last {seconds:.1f} s";

struct RateBucket {
  // Calls that may still log before the next refill. Goes below zero while threads race for
  // the last token (each of them is suppressed); a refill starts again from zero.
  std::atomic<std::int64_t> tokens{0};
  // Calls suppressed since the bucket was made (the reporter takes differences).
  std::atomic<std::uint64_t> suppressed{0};
  // now_ticks() before which a suppressed call does not try to refill.
  std::atomic<std::uint64_t> refill_at{0};
  // The rule: `per_period` records per `period_ns`, at most `burst` at once (0: no limit;
  // the bucket stays attached to its site until the rules change).
  std::atomic<std::uint64_t> per_period{0};
  std::atomic<std::uint64_t> period_ns{0};
  std::atomic<std::int64_t> burst{0};
  // The rate clock's time up to which tokens were added.
  std::atomic<std::int64_t> refilled_ns{0};
  // Every bucket ever made, newest first (never freed; pushed with a CAS, walked lock-free).
  RateBucket* next_bucket = nullptr;
  Site* site = nullptr;
  // The reporter's (one thread: the flusher's pass) state.
  std::uint64_t reported = 0;
  std::int64_t reported_ns = 0;
};

// Out of line: refills `bucket` by the time that passed on the rate clock, then tries once
// more to take a token; counts the call as suppressed if there is none.
[[nodiscard]] bool refill_and_take(RateBucket& bucket, std::uint64_t now) noexcept;

[[nodiscard]] inline bool take_token(RateBucket& b) noexcept {
  if (b.tokens.load(std::memory_order_relaxed) > 0 &&
      b.tokens.fetch_sub(1, std::memory_order_relaxed) > 0) [[likely]] {
    return true;
  }
  const std::uint64_t now = now_ticks();
  if (now < b.refill_at.load(std::memory_order_relaxed)) {
    b.suppressed.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return refill_and_take(b, now);
}

// Whether an enabled call at `site` may log now (rate limits).
[[nodiscard]] inline bool rate_admit(const Site& site) noexcept {
  // Acquire: the bucket's fields were set before it was attached (see above).
  RateBucket* const b = site.bucket.load(std::memory_order_acquire);
  if (b == nullptr) [[likely]]
    return true;
  return take_token(*b);
}

// BBX_*_EVERY_N(n, ...): the 1st, (n+1)th, (2n+1)th... enabled call of the site logs.
// A sample by design: the skipped calls are not losses (they are not counted anywhere).
struct EveryN {
  std::atomic<std::uint64_t> calls{0};
  [[nodiscard]] bool admit(std::uint64_t n) noexcept {
    return calls.fetch_add(1, std::memory_order_relaxed) % (n == 0 ? 1 : n) == 0;
  }
};

// Clock ticks per millisecond (the ring's calibration; nanoseconds where the clock is not
// the TSC). Out of line.
[[nodiscard]] std::uint64_t ticks_per_ms() noexcept;

// BBX_*_EVERY_MS(ms, ...): an enabled call of the site logs if none did in the last `ms`
// milliseconds (the first call always does). Not counted as a loss either.
struct EveryMs {
  std::atomic<std::uint64_t> next{0};  // now_ticks() from which the next call may log
  [[nodiscard]] bool admit(std::uint64_t ms) noexcept {
    const std::uint64_t now = now_ticks();
    std::uint64_t due = next.load(std::memory_order_relaxed);
    if (now < due) return false;
    // One of the threads that find it due wins the compare-exchange and logs.
    return next.compare_exchange_strong(due, now + ms * ticks_per_ms(), std::memory_order_relaxed);
  }
};

}  // namespace blackbox::detail
