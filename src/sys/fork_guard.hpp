// fork() copies every lock as it is at that instant, and the child has only the thread that
// forked. glibc resets some of its own locks in the child (malloc's arenas, stdio's, the
// loader's main lock) but not all: the time zone's (localtime_r, gmtime_r, mktime), the
// message catalogue's (strerror), the loader's write lock (dl_iterate_phdr). A child forked
// while the background thread is inside one of those would wait for it forever.
//
// So the background thread calls such a function only inside a ForkSafeSection, and
// fork()'s prepare handler (core's, through fork_guard_prepare) waits for the section to end:
// a fork waits at most one such call (microseconds), never for I/O we start. Where we can,
// we call nothing that locks at all (utc_calendar, error_text in sys/calendar.hpp).
// docs/architecture.md, "Fork safety", lists every call and how it is made safe.
#pragma once

namespace blackbox::sys {

// Holds the fork guard for one call into the C library (`call` names it, for the test hook).
// Never nested, never held across I/O of our own.
class ForkSafeSection {
 public:
  explicit ForkSafeSection(const char* call) noexcept;
  ~ForkSafeSection();
  ForkSafeSection(const ForkSafeSection&) = delete;
  ForkSafeSection& operator=(const ForkSafeSection&) = delete;
};

// Inside a section: the test hook's place (a test stops the thread here, inside the call
// when the call is a callback's caller, e.g. dl_iterate_phdr). Free when no hook is set.
void fork_safe_point(const char* call) noexcept;

// pthread_atfork's three handlers call these (core/logger.cpp registers them; the guard is
// taken last, after the logger's own mutexes, and released first).
void fork_guard_prepare() noexcept;
void fork_guard_parent() noexcept;
void fork_guard_child() noexcept;

namespace testing {
// Called at each fork_safe_point and on entering each section, with the call's name.
void set_fork_section_hook(void (*hook)(const char* call)) noexcept;
// Called by fork_guard_prepare() before it waits for the guard.
void set_fork_prepare_hook(void (*hook)()) noexcept;
}  // namespace testing

}  // namespace blackbox::sys
