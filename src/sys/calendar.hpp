// Calendar fields and error texts without the C library's process-wide locks
// (sys/fork_guard.hpp says why that matters: the background thread calls these).
#pragma once

#include <cstdint>
#include <ctime>

namespace blackbox::sys {

// The UTC calendar fields of a time (seconds since the epoch; any value a 64-bit time has,
// before 1970 too): tm_year, tm_mon, tm_mday, tm_hour, tm_min, tm_sec, tm_wday, tm_yday as
// gmtime_r gives them, tm_isdst 0, tm_gmtoff 0, tm_zone "UTC". Pure arithmetic (days to
// civil date), no lock: gmtime_r takes the time zone's lock, which fork() does not reset.
[[nodiscard]] std::tm utc_calendar(std::int64_t seconds) noexcept;

// localtime_r inside a ForkSafeSection: the time zone (its lock, and reading TZ's file) is
// the C library's; a fork waits for the call to end instead of copying the lock held.
[[nodiscard]] std::tm local_calendar(std::int64_t seconds) noexcept;

// strerror without its lock: strerror() translates through the message catalogue, whose
// lock fork() does not reset; this is glibc's untranslated description (strerrordesc_np),
// or "unknown error".
[[nodiscard]] const char* error_text(int err) noexcept;

}  // namespace blackbox::sys
