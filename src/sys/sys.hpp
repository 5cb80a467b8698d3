// A thin seam over the system calls whose failures matter (STYLE rule 8): tests replace
// entries to inject ENOSPC, EACCES, EIO and the like. Production code calls sys::calls().
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace blackbox::sys {

struct Calls {
  int (*open)(const char* path, int flags, mode_t mode);
  int (*mkdir)(const char* path, mode_t mode);
  int (*ftruncate)(int fd, off_t length);
  int (*posix_fallocate)(int fd, off_t offset, off_t length);  // returns an errno value
  void* (*mmap)(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset);
  ssize_t (*write)(int fd, const void* data, std::size_t bytes);
  int (*openat)(int dir_fd, const char* path, int flags, mode_t mode);
  // Async-signal-safe (the crash handler's dump uses it). The real one is the raw system
  // call, not pwrite(): ThreadSanitizer intercepts pwrite() and would report the dump's
  // intended race on ring memory (its torn pieces are discarded) as if we read it.
  ssize_t (*pwrite)(int fd, const void* data, std::size_t bytes, off_t offset);
  int (*fdatasync)(int fd);  // a write-back error (EIO) surfaces here
  // The clock rate limits refill by (CLOCK_MONOTONIC ns, sys::monotonic_ns): tests replace
  // it with a clock they step, for exact counts of kept and suppressed records.
  std::int64_t (*rate_clock_ns)();
};

// Whether rate_clock_ns is the real clock (with a replaced one, every suppressed call
// refills: what a test's clock says is all that decides).
[[nodiscard]] bool real_rate_clock() noexcept;

// The active table. Not synchronised: tests swap entries while no logger work runs.
Calls& calls() noexcept;

// Restores the real system calls.
void reset_calls() noexcept;

}  // namespace blackbox::sys
