// The telemetry area of a ring file (format version 2): what the logger knows about itself,
// in the file, so that anyone who may read the ring file reads it, live or after a crash. It
// follows the control area in the control region (ring_layout.hpp). docs/format.md,
// "Control region", is its specification.
//
// Writers: the process's flusher thread, once per pass (records and bytes per level, tag
// and slot, as it archives them; its own counters; the histograms, as it measures them),
// and core for the console's counts. Losses counted by the producers themselves (no slot,
// site table full, after exit) are in the ring header. One writer per field: plain relaxed
// loads and stores, no read-modify-write.
//
// Readers: relaxed loads. Fields are not a consistent snapshot of one instant (each is at
// most one pass old); a reader that wants a rate samples twice.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "blackbox/log_histogram.hpp"

namespace blackbox::ring {

inline constexpr std::uint32_t kTelemetryLevels = 6;  // trace .. fatal
inline constexpr std::uint32_t kTelemetryTags = 128;  // the last one counts every other tag
inline constexpr std::uint32_t kTelemetryTagBytes = 48;

struct CountPair {
  std::atomic<std::uint64_t> records;
  std::atomic<std::uint64_t> bytes;
};

struct TagTelemetry {
  char name[kTelemetryTagBytes];  // NUL-terminated unless full; written before tag_count grows
  CountPair counts;
};
static_assert(sizeof(TagTelemetry) == 64);

// A log-linear histogram (blackbox/log_histogram.hpp) in shared memory, one writer.
struct HistogramArea {
  std::atomic<std::uint64_t> count;
  std::atomic<std::uint64_t> sum;
  std::atomic<std::uint64_t> min;
  std::atomic<std::uint64_t> max;
  std::atomic<std::uint64_t> bins[log_bins::kCount];
};

struct Telemetry {
  std::atomic<std::int64_t> updated_ns;  // wall clock of the flusher's latest publication
  std::atomic<std::uint64_t> passes;     // flusher passes
  // Every record logged before this time (wall clock) is in an archive file or counted as
  // lost: the archive's lag is now minus this. 0: nothing archived yet.
  std::atomic<std::int64_t> archived_through_ns;
  std::atomic<std::uint64_t> records_read;  // by the flusher, from the rings
  std::atomic<std::uint64_t> bytes_read;    // their size in the rings
  std::atomic<std::uint64_t> records_archived;
  std::atomic<std::uint64_t> bytes_written;  // archive bytes appended (compressed)
  std::atomic<std::uint64_t> files_created;
  std::atomic<std::uint64_t> files_deleted;
  std::atomic<std::uint64_t> lost_overwritten;
  std::atomic<std::uint64_t> lost_disk_error;
  std::atomic<std::uint64_t> lost_corrupt;
  std::atomic<std::uint64_t> write_errors;
  std::atomic<std::uint64_t> breaker_trips;
  std::atomic<std::uint32_t> breaker_open;
  std::atomic<std::int32_t> last_errno;
  std::atomic<std::uint64_t> console_lines;
  std::atomic<std::uint64_t> console_not_shown;
  std::atomic<std::uint64_t> control_applied;  // requests applied from outside
  // Config::when_full = wait (ring/full_wait.hpp): block claims that waited for the archive,
  // the time they waited (ns), and the claims that overwrote unarchived records after all.
  std::atomic<std::uint64_t> producer_waits;
  std::atomic<std::uint64_t> producer_wait_ns;
  std::atomic<std::uint64_t> producer_gave_up;
  // Archive files deleted by retention although a retention hold kept them (over
  // Config::retain_unshipped_bytes), and their bytes (reserved words before: 0).
  std::atomic<std::uint64_t> files_deleted_unshipped;
  std::atomic<std::uint64_t> bytes_deleted_unshipped;
  CountPair levels[kTelemetryLevels];
  std::atomic<std::uint32_t> tag_count;  // release after the name of tags[tag_count - 1]
  std::uint32_t reserved1;
  TagTelemetry tags[kTelemetryTags];
  HistogramArea pass_ns;   // the flusher's passes, CLOCK_MONOTONIC ns each
  HistogramArea write_ns;  // its writes to archive files (write + sync when asked)
  // Appended in the padding before the slots' telemetry (zero in older files): records
  // suppressed by rate limits, over every site (Config::rate_limits).
  std::atomic<std::uint64_t> lost_rate_limited;
  // The failure budget (Config::loss_budget; core/loss_budget.cpp): the budget in parts per
  // billion of records (0: none), when the losses first went over it (wall clock; 0:
  // never), and the records and losses (every cause) of the last minute (of the run, while
  // it is younger), as of the flusher's latest pass.
  std::atomic<std::uint64_t> loss_budget_ppb;
  std::atomic<std::int64_t> budget_exceeded_ns;
  std::atomic<std::uint64_t> minute_records;
  std::atomic<std::uint64_t> minute_lost;
};

static_assert(sizeof(HistogramArea) == 13144);
static_assert(offsetof(Telemetry, levels) == 184 && offsetof(Telemetry, tags) == 288 &&
              offsetof(Telemetry, pass_ns) == 8480 &&
              offsetof(Telemetry, lost_rate_limited) == 34768 &&
              sizeof(Telemetry) == 34808);  // docs/format.md: the padding ends at 34816

// The failure budget's last minute by cause (core/loss_budget.cpp), in the 32 bytes of
// padding between the control area and Telemetry (zero in files written before it): records
// lost to each cause in the last minute (or the run while it is younger), in the order
// overwritten, no slot, disk, site table, after exit, corrupt, rate limited, console lines
// not shown; saturating at 2^32 - 1 (over 71 million a second for a whole minute).
inline constexpr std::uint32_t kMinuteCauses = 8;
struct MinuteLosses {
  std::atomic<std::uint32_t> lost[kMinuteCauses];
};
static_assert(sizeof(MinuteLosses) == 32);

// One per slot, after Telemetry: what the flusher read from that slot's ring.
struct SlotTelemetry {
  std::atomic<std::uint64_t> records;
  std::atomic<std::uint64_t> bytes;
  std::atomic<std::uint64_t> lost;    // overwritten (or corrupt) before it read them
  std::atomic<std::int64_t> last_ns;  // wall-clock time of the latest record it read
};
static_assert(sizeof(SlotTelemetry) == 32);

// Adds `value` to a shared histogram. One writer only (plain loads and stores).
inline void record_into(HistogramArea& h, std::uint64_t value) noexcept {
  auto& bin = h.bins[log_bins::index(value)];
  bin.store(bin.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  const std::uint64_t n = h.count.load(std::memory_order_relaxed);
  if (n == 0 || value < h.min.load(std::memory_order_relaxed)) {
    h.min.store(value, std::memory_order_relaxed);
  }
  if (value > h.max.load(std::memory_order_relaxed)) h.max.store(value, std::memory_order_relaxed);
  h.sum.store(h.sum.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
  h.count.store(n + 1, std::memory_order_relaxed);
}

}  // namespace blackbox::ring
