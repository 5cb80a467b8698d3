// blackbox::Stats: what the logger counts about itself, above all every record it lost and
// why (the failure budget). Plain data; blackbox::stats() (blackbox.hpp) fills it.
#pragma once

#include <cstdint>

namespace blackbox {

// Counters the logger keeps about its own losses. Loss counts are exact record counts.
struct Stats {
  std::uint64_t threads_attached = 0;         // threads that got a ring slot
  std::uint64_t dropped_no_slot = 0;          // records dropped: every slot was taken
  std::uint64_t dropped_after_exit = 0;       // records dropped: thread or logger shut down
  std::uint64_t sites_dropped = 0;            // sites not defined: the site table was full
  std::uint64_t dropped_site_table_full = 0;  // records of those sites, dropped
  // Records suppressed by rate limits (Config::rate_limits), over every site.
  std::uint64_t rate_limited = 0;
  bool anonymous_ring = false;  // the ring directory could not be used

  // The archive (all zero when it is disabled). Loss counts are exact record counts.
  bool archive_enabled = false;
  std::uint64_t records_archived = 0;       // records written to archive files
  std::uint64_t archive_bytes_written = 0;  // bytes appended to archive files
  std::uint64_t chunks_written = 0;
  std::uint64_t archive_files_created = 0;
  std::uint64_t archive_files_deleted = 0;  // by retention
  // Of those, files a retention hold kept (a shipper had not finished them), deleted
  // because the app's files were over Config::retain_unshipped_bytes; and their bytes.
  std::uint64_t archive_files_deleted_unshipped = 0;
  std::uint64_t archive_bytes_deleted_unshipped = 0;
  std::uint64_t lost_overwritten = 0;  // a producer lapped the flusher
  std::uint64_t lost_disk_error = 0;   // could not be written (breaker open)
  std::uint64_t lost_corrupt = 0;      // failed validation in the ring
  // The circuit breaker: open while archive writes fail (the flusher backs off and probes).
  bool breaker_open = false;
  std::uint64_t breaker_trips = 0;  // times it opened
  std::uint64_t write_errors = 0;   // failed writes (including failed probes)
  int last_write_errno = 0;         // errno of the latest failure (ENOSPC, EIO, ...)
  // Ring files that dead processes of this app left, recovered into the archive at start.
  std::uint64_t rings_recovered = 0;
  std::uint64_t records_recovered = 0;
  std::uint64_t dumps_written = 0;  // by the dump signal
  // Config::when_full = wait: block claims that waited for the archive, the time they waited
  // in all (ns), and the claims that overwrote unarchived records after all (max_wait
  // reached; those records are in lost_overwritten).
  std::uint64_t producer_waits = 0;
  std::uint64_t producer_wait_ns = 0;
  std::uint64_t producer_gave_up = 0;

  // The console (Config::console): records written to it as lines, and records it did not
  // show because it could not take them (a full pipe, a
  // stopped pager) or because the ring overwrote them before the console read them.
  std::uint64_t console_lines = 0;
  std::uint64_t console_not_shown = 0;
};

}  // namespace blackbox
