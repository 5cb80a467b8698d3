// blackbox: a flight recorder for C++ services.
//
//   #define BBX_TAG "net"            // optional: this file's default tag
//   #include <blackbox/blackbox.hpp>
//
//   BBX_INFO("request {id} took {ms:.1f} ms", id, elapsed_ms);
//   BBX_LOG("db", blackbox::Level::warn, "slow query {}", sql);
//   BBX_INFOF("took %d ms for %s\n", ms, user);   // printf-style, checked the same way
//
// A call whose level is disabled costs one load and one branch; its arguments are not
// evaluated. An enabled call copies its arguments raw into the calling thread's ring in
// shared memory (no formatting, no lock, no allocation for built-in types) and returns;
// the reader formats later. Records survive the process, even `kill -9`.
//
// Message templates: "{}", "{name}" or "{name:spec}" (fmt's spec language); "{{" and "}}"
// are literal braces. Placeholders take the arguments in order; names become field keys.
// Placeholder count, names and specs are checked at compile time.
//
// Arguments: integers, float, double, bool, char, const char*, std::string,
// std::string_view, pointers and enums are copied raw. Any other type with an
// fmt::formatter is formatted at the call site (costs a format and an allocation).
// Strings longer than Config::max_string_bytes are cut and marked truncated.
//
// Context: any thread may log; a call never blocks and never takes a lock once its thread
// and its call site have logged once (the first call of each may lock and allocate). Not
// async-signal-safe: do not log from signal handlers (the crash path has its own writer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "blackbox/config.hpp"
#include "blackbox/detail/encode.hpp"
#include "blackbox/detail/probes.hpp"
#include "blackbox/detail/rate_limit.hpp"
#include "blackbox/detail/record_probe.hpp"
#include "blackbox/detail/site.hpp"
#include "blackbox/level.hpp"
#include "blackbox/stats.hpp"
#include "blackbox/trace.hpp"
#include "blackbox/version.hpp"

#ifndef BBX_TAG
#define BBX_TAG "main"
#endif

// BBX_LOG(tag, level, template, args...): `tag` is a string literal, `level` a constant
// blackbox::Level. Expands to one statement (safe after an unbraced `if`).
#define BBX_LOG(tag, level, template_, ...)                     \
  BBX_INTERNAL_LOG(::blackbox::detail::now_ticks(), tag, level, \
                   template_ __VA_OPT__(, ) __VA_ARGS__)

// The same with the record's time given (`time_`, evaluated only if the call logs): spans
// stamp their records with the clock reading they measure by.
#define BBX_INTERNAL_LOG(time_, tag, level, template_, ...)                                  \
  BBX_INTERNAL_LOG_IF(time_, ::blackbox::detail::rate_admit(bbx_internal_site_), tag, level, \
                      template_ __VA_OPT__(, ) __VA_ARGS__)

// The whole call site. `admit_` decides, after the level, whether an enabled call logs: the
// rate limit (detail/rate_limit.hpp), and a sampler for the _EVERY_ forms. A call that does
// not log (level off, or not admitted) still fires the USDT probe while a tracer listens.
#define BBX_INTERNAL_LOG_IF(time_, admit_, tag, level, template_, ...)                        \
  do {                                                                                        \
    static constexpr ::blackbox::detail::StaticSite bbx_internal_static_site_{                \
        (level), (tag), __FILE__, __LINE__, __func__, (template_)};                           \
    static constinit ::blackbox::detail::Site bbx_internal_site_{&bbx_internal_static_site_}; \
    if (::blackbox::detail::level_enabled(bbx_internal_site_, (level))) [[unlikely]] {        \
      /* decltype: the argument types, without evaluating any argument yet */                 \
      if (const ::std::uint64_t bbx_internal_bits_ = ::blackbox::detail::site_bits(           \
              bbx_internal_site_, decltype(::blackbox::detail::type_list(__VA_ARGS__)){});    \
          bbx_internal_bits_ != 0 && (admit_)) {                                              \
        /* the record; the USDT probe too while a tracer listens (detail/record_probe.hpp) */ \
        ::blackbox::detail::log_at((time_), bbx_internal_bits_, bbx_internal_site_,           \
                                   template_ __VA_OPT__(, ) __VA_ARGS__);                     \
      } else if (BBX_RECORD_PROBE_ENABLED()) { /* disabled after all, or suppressed */        \
        ::blackbox::detail::probe_disabled(bbx_internal_site_,                                \
                                           template_ __VA_OPT__(, ) __VA_ARGS__);             \
      }                                                                                       \
    } else if (BBX_RECORD_PROBE_ENABLED()) {                                                  \
      ::blackbox::detail::probe_disabled(bbx_internal_site_,                                  \
                                         template_ __VA_OPT__(, ) __VA_ARGS__);               \
    }                                                                                         \
  } while (false)

// BBX_LOGF(tag, level, format, args...): a printf-style call, for code that logs with printf
// today (docs/migrating.md). The format is checked against the arguments at compile time as
// -Wformat would (detail/printf_string.hpp lists the conversions); the arguments are
// recorded raw, like a template's, and formatted when read, as snprintf would have. A
// trailing newline is dropped. Costs what a template call with the same arguments costs.
#define BBX_LOGF(tag, level, format_, ...)                                             \
  BBX_INTERNAL_LOGF_IF(::blackbox::detail::rate_admit(bbx_internal_site_), tag, level, \
                       format_ __VA_OPT__(, ) __VA_ARGS__)

#define BBX_INTERNAL_LOGF_IF(admit_, tag, level, format_, ...)                                     \
  do {                                                                                             \
    static constexpr auto bbx_internal_format_ = ::blackbox::detail::printf_template(format_);     \
    static constexpr ::blackbox::detail::StaticSite bbx_internal_static_site_{                     \
        (level), (tag), __FILE__, __LINE__, __func__, bbx_internal_format_.text, true};            \
    static constinit ::blackbox::detail::Site bbx_internal_site_{&bbx_internal_static_site_};      \
    if (::blackbox::detail::level_enabled(bbx_internal_site_, (level))) [[unlikely]] {             \
      if (const ::std::uint64_t bbx_internal_bits_ = ::blackbox::detail::site_bits(                \
              bbx_internal_site_, decltype(::blackbox::detail::type_list(__VA_ARGS__)){});         \
          bbx_internal_bits_ != 0 && (admit_)) {                                                   \
        ::blackbox::detail::log_printf_at(::blackbox::detail::now_ticks(), bbx_internal_bits_,     \
                                          bbx_internal_site_, format_ __VA_OPT__(, ) __VA_ARGS__); \
      } else if (BBX_RECORD_PROBE_ENABLED()) {                                                     \
        ::blackbox::detail::probe_disabled_printf(bbx_internal_site_,                              \
                                                  format_ __VA_OPT__(, ) __VA_ARGS__);             \
      }                                                                                            \
    } else if (BBX_RECORD_PROBE_ENABLED()) {                                                       \
      ::blackbox::detail::probe_disabled_printf(bbx_internal_site_,                                \
                                                format_ __VA_OPT__(, ) __VA_ARGS__);               \
    }                                                                                              \
  } while (false)

// Sites that should only ever log a sample (a hot loop's progress, a retry storm's first
// line). BBX_LOG_EVERY_N(tag, level, n, template, args...): the 1st, (n+1)th, (2n+1)th...
// enabled call logs. BBX_LOG_EVERY_MS(tag, level, ms, template, args...): an enabled call
// logs if none of this site did in the last `ms` milliseconds. The calls left out are a
// sample by design, not losses: they are not counted (rate limits still apply on top, and
// count what they suppress). Their arguments are not evaluated. The counter (or the time)
// is the site's, shared by every thread.
#define BBX_INTERNAL_EVERY_N(n)                                          \
  [&]() noexcept {                                                       \
    static constinit ::blackbox::detail::EveryN bbx_internal_every_{};   \
    return bbx_internal_every_.admit(static_cast<::std::uint64_t>(n)) && \
           ::blackbox::detail::rate_admit(bbx_internal_site_);           \
  }()
#define BBX_INTERNAL_EVERY_MS(ms)                                         \
  [&]() noexcept {                                                        \
    static constinit ::blackbox::detail::EveryMs bbx_internal_every_{};   \
    return bbx_internal_every_.admit(static_cast<::std::uint64_t>(ms)) && \
           ::blackbox::detail::rate_admit(bbx_internal_site_);            \
  }()
#define BBX_LOG_EVERY_N(tag, level, n, template_, ...)                                      \
  BBX_INTERNAL_LOG_IF(::blackbox::detail::now_ticks(), BBX_INTERNAL_EVERY_N(n), tag, level, \
                      template_ __VA_OPT__(, ) __VA_ARGS__)
#define BBX_LOG_EVERY_MS(tag, level, ms, template_, ...)                                      \
  BBX_INTERNAL_LOG_IF(::blackbox::detail::now_ticks(), BBX_INTERNAL_EVERY_MS(ms), tag, level, \
                      template_ __VA_OPT__(, ) __VA_ARGS__)
#define BBX_LOGF_EVERY_N(tag, level, n, format_, ...) \
  BBX_INTERNAL_LOGF_IF(BBX_INTERNAL_EVERY_N(n), tag, level, format_ __VA_OPT__(, ) __VA_ARGS__)
#define BBX_LOGF_EVERY_MS(tag, level, ms, format_, ...) \
  BBX_INTERNAL_LOGF_IF(BBX_INTERNAL_EVERY_MS(ms), tag, level, format_ __VA_OPT__(, ) __VA_ARGS__)

// BBX_PRINTF(level, format, args...): BBX_LOGF with this file's tag (BBX_TAG).
#define BBX_PRINTF(level, ...) BBX_LOGF(BBX_TAG, level, __VA_ARGS__)

#define BBX_TRACE(...) BBX_LOG(BBX_TAG, ::blackbox::Level::trace, __VA_ARGS__)
#define BBX_DEBUG(...) BBX_LOG(BBX_TAG, ::blackbox::Level::debug, __VA_ARGS__)
#define BBX_INFO(...) BBX_LOG(BBX_TAG, ::blackbox::Level::info, __VA_ARGS__)
#define BBX_WARN(...) BBX_LOG(BBX_TAG, ::blackbox::Level::warn, __VA_ARGS__)
#define BBX_ERROR(...) BBX_LOG(BBX_TAG, ::blackbox::Level::error, __VA_ARGS__)
#define BBX_FATAL(...) BBX_LOG(BBX_TAG, ::blackbox::Level::fatal, __VA_ARGS__)

#define BBX_TRACEF(...) BBX_LOGF(BBX_TAG, ::blackbox::Level::trace, __VA_ARGS__)
#define BBX_DEBUGF(...) BBX_LOGF(BBX_TAG, ::blackbox::Level::debug, __VA_ARGS__)
#define BBX_INFOF(...) BBX_LOGF(BBX_TAG, ::blackbox::Level::info, __VA_ARGS__)
#define BBX_WARNF(...) BBX_LOGF(BBX_TAG, ::blackbox::Level::warn, __VA_ARGS__)
#define BBX_ERRORF(...) BBX_LOGF(BBX_TAG, ::blackbox::Level::error, __VA_ARGS__)
#define BBX_FATALF(...) BBX_LOGF(BBX_TAG, ::blackbox::Level::fatal, __VA_ARGS__)

#define BBX_TRACE_EVERY_N(n, ...) BBX_LOG_EVERY_N(BBX_TAG, ::blackbox::Level::trace, n, __VA_ARGS__)
#define BBX_DEBUG_EVERY_N(n, ...) BBX_LOG_EVERY_N(BBX_TAG, ::blackbox::Level::debug, n, __VA_ARGS__)
#define BBX_INFO_EVERY_N(n, ...) BBX_LOG_EVERY_N(BBX_TAG, ::blackbox::Level::info, n, __VA_ARGS__)
#define BBX_WARN_EVERY_N(n, ...) BBX_LOG_EVERY_N(BBX_TAG, ::blackbox::Level::warn, n, __VA_ARGS__)
#define BBX_ERROR_EVERY_N(n, ...) BBX_LOG_EVERY_N(BBX_TAG, ::blackbox::Level::error, n, __VA_ARGS__)
#define BBX_FATAL_EVERY_N(n, ...) BBX_LOG_EVERY_N(BBX_TAG, ::blackbox::Level::fatal, n, __VA_ARGS__)

#define BBX_TRACE_EVERY_MS(ms, ...) \
  BBX_LOG_EVERY_MS(BBX_TAG, ::blackbox::Level::trace, ms, __VA_ARGS__)
#define BBX_DEBUG_EVERY_MS(ms, ...) \
  BBX_LOG_EVERY_MS(BBX_TAG, ::blackbox::Level::debug, ms, __VA_ARGS__)
#define BBX_INFO_EVERY_MS(ms, ...) \
  BBX_LOG_EVERY_MS(BBX_TAG, ::blackbox::Level::info, ms, __VA_ARGS__)
#define BBX_WARN_EVERY_MS(ms, ...) \
  BBX_LOG_EVERY_MS(BBX_TAG, ::blackbox::Level::warn, ms, __VA_ARGS__)
#define BBX_ERROR_EVERY_MS(ms, ...) \
  BBX_LOG_EVERY_MS(BBX_TAG, ::blackbox::Level::error, ms, __VA_ARGS__)
#define BBX_FATAL_EVERY_MS(ms, ...) \
  BBX_LOG_EVERY_MS(BBX_TAG, ::blackbox::Level::fatal, ms, __VA_ARGS__)

namespace blackbox {

// Result of init(): ok() or a message saying what was wrong and what was done instead.
// `degraded`: the logger runs, but without what a ring file gives (crash survival, readers
// in other processes): the ring directory could not be used and it logs into an anonymous
// in-memory ring, or not even that could be mapped and records are dropped and counted.
// `error` then says why and what was done instead (the same line went to stderr).
struct InitResult {
  std::string error;
  bool degraded = false;
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

// Starts the logger with `config` (Config::from_env() for the environment's settings).
// Call it early in main(). If a log call already started the logger from the environment,
// the records it made are kept, init() applies what can change in a running process
// (levels and remove_ring_on_exit) and, if any other field differs, says so in the result:
// the ring cannot move while threads write into it. An invalid config is refused and
// nothing changes. Thread-safe; blocks briefly (creates and maps the ring file, calibrates
// the clock for about 1 ms).
[[nodiscard]] InitResult init(const Config& config);

// Flushes the rings to the archive, stops the flusher, marks the ring file exited and, if
// Config::remove_ring_on_exit, removes it. Call it when no other thread is logging: records
// logged afterwards still go into the ring's memory, but are not archived, and once the
// file is removed nothing can read them. The logger cannot be started again. Also run
// automatically at normal exit (return from main, exit()). Thread-safe, idempotent.
void shutdown() noexcept;

// Returns once every record logged before the call (by any thread) has been written to the
// archive file: true then; false if the archive is disabled or a write failed (the circuit
// breaker is open; stats() says why). Wakes the flusher and waits for one pass; a tripped
// breaker is probed at once. Thread-safe; blocks the caller (never the other threads).
// FlushTo::disk: and the archive file is fdatasync()ed, so the records survive a power
// loss too; a failed sync (a write-back error, EIO) counts as a failed write and returns
// false. (Files are always synced when they are rotated or closed.)
enum class FlushTo { page_cache, disk };
bool flush(FlushTo to = FlushTo::page_cache);

// The archive file being written, or "" (no archive, or nothing written yet). Thread-safe.
[[nodiscard]] std::string archive_path();

// Enables `level` and above for sites tagged `tag` (set_level(level): for every tag without
// a level of its own). Takes effect in every thread at once. Thread-safe; takes a lock.
void set_level(std::string_view tag, Level level);
void set_level(Level level);

// Applies a level spec such as "info,net=debug". Returns an error message or "".
[[nodiscard]] std::string set_levels(std::string_view spec);

// Replaces the rate limits (Config::rate_limits has the spec's form, e.g.
// "net=1000/s,*=100000/s"; "" removes them all). Takes effect in every thread at once; the
// sites keep what they counted. Returns an error message (nothing changed) or "".
// Thread-safe; takes a lock.
[[nodiscard]] std::string set_rate_limits(std::string_view spec);

// The rate limits in force, as a spec (tags and sites in the order given).
[[nodiscard]] std::string rate_limits();

// Writes a snapshot of every thread's ring to `path` (mode 0600; a regular file of ours with
// no other link is replaced; a directory gets "<app>.<pid>.<UTC time>.bbd" in it), without
// stopping any thread: a file in the ring file's format that logcat reads like a ring file.
// Refused, with the reason: a FIFO or other non-regular file (never waited on), a symbolic
// link, another user's file, anything in the ring or archive directory (the ring file
// itself would be destroyed). Records logged while it is written may or may not be in it. Returns "" or what
// went wrong. Thread-safe; blocks the caller for the copy (about 1 ms per 8 MiB of rings
// in use). The dump signal (Config::dump_signal) does the same from the flusher thread.
[[nodiscard]] std::string dump(const std::string& path);

// The ring file of this process; empty if logging into an anonymous in-memory ring or not
// started. Thread-safe.
[[nodiscard]] std::string ring_path();

// Counters the logger keeps about its own losses (blackbox/stats.hpp). Thread-safe,
// lock-free.
[[nodiscard]] Stats stats();

}  // namespace blackbox

// BBX_SPAN and blackbox::Span: every macro the README names is here with this one header.
#include "blackbox/span.hpp"
