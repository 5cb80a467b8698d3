// A call site: constant metadata in .rodata plus two words the logger updates at run time.
#pragma once

#include <atomic>
#include <cstdint>

#include "blackbox/detail/record.hpp"
#include "blackbox/level.hpp"

namespace blackbox::detail {

// Everything known about a call site at compile time. One per BBX_* expansion.
struct StaticSite {
  Level level;
  const char* tag;
  const char* file;
  std::uint32_t line;
  const char* function;
  const char* message_template;
  bool printf_format = false;  // message_template is a printf format (BBX_PRINTF)
  bool no_rate_limit = false;  // rate limits never apply (the limits' own reports)
  // Levels never apply either: an audit record (a control request from outside, what it
  // changed) is written whatever the levels say, even `blackbox=off` (with no_rate_limit).
  bool audit = false;
};

struct RateBucket;  // detail/rate_limit.hpp

// Memory ordering:
//  - threshold: relaxed everywhere. It is a filter, not a publication: a log call racing
//    with set_level() may use the old or the new threshold, and either is correct.
//  - header_bits: written with release by register_site() after the site's definition is
//    in the ring's site table (itself published with release); read with acquire on the
//    hot path (a plain load on x86), so a record carrying the id happens-after its
//    definition and any reader that sees the record can find the definition.
//  - bucket: see detail/rate_limit.hpp.
struct Site {
  constexpr explicit Site(const StaticSite* static_site) noexcept : info(static_site) {}

  // Levels below this are disabled. 0 (trace) until the site is first reached, so that the
  // first call reaches register_site(), which sets the real value.
  std::atomic<std::uint8_t> threshold{0};
  // 1: the site could not be defined (the site table was full); its calls are counted as
  // lost (Stats::dropped_site_table_full) instead of logged. Relaxed: set once under the
  // registry mutex, read by register_site() before it takes the mutex.
  std::atomic<std::uint8_t> no_room{0};
  // The site id in the current ring file's site table, shifted to where it sits in the
  // first 8 bytes of a record header (id << 32), so the hot path ORs it in as it is.
  // 0 until the site is defined there.
  std::atomic<std::uint64_t> header_bits{0};
  // The site's token bucket while a rate limit applies to it, else null (rate_limit.hpp).
  std::atomic<RateBucket*> bucket{nullptr};
  const StaticSite* const info;
  Site* next = nullptr;  // registry list; guarded by the registry mutex
  bool linked = false;   // guarded by the registry mutex
};

// One load and one branch: the whole cost of a disabled call.
[[nodiscard]] inline bool level_enabled(const Site& site, Level level) noexcept {
  return static_cast<std::uint8_t>(level) >= site.threshold.load(std::memory_order_relaxed);
}

// Slow path, once per site (and again after set_level() enables it or after fork()): links
// the site into the registry, applies the tag's level and defines the site in the ring.
// Returns the site's header bits (id << 32), or 0 if the call must not be logged (level
// disabled, or no room in the site table: then the call is counted as lost, lock-free).
// Thread-safe; takes the registry mutex; may allocate; initialises the logger if needed.
[[nodiscard]] std::uint64_t register_site(Site& site, const ArgType* types,
                                          std::uint32_t arg_count) noexcept;

}  // namespace blackbox::detail
