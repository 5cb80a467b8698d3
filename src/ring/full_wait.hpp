// Config::when_full = wait: a logging thread about to claim a block whose previous lap the
// archive has not got yet waits for the flusher instead of overwriting it (spin, then yield,
// then sleep), up to a bound after which it overwrites and the loss is counted as usual.
// Once per block claim, never per record: the record path is unchanged.
//
// What it waits for is SlotHeader::archived_pos (format/ring_layout.hpp), which the flusher
// stores after the write that put those records into an archive file: a block overwritten
// after the wait holds nothing that is not on disk, so a crash at any moment loses nothing
// the producer was told was logged (the rest of the ring is recovered as always).
//
// Memory ordering: the flusher's release store of archived_pos (after its copy of the ring
// bytes) pairs with the acquire load here (before the producer's stores into the block), so
// the producer's new bytes cannot reach a copy the flusher made before it archived them.
// Everything else (the waiting flag, the totals, the permission) is relaxed: hints and
// statistics, whose staleness costs at most one more wake or one more check.
#pragma once

#include <atomic>
#include <cstdint>

namespace blackbox::ring {

// The flusher's side. Waits are allowed only while a flusher runs that writes an archive
// and its disk breaker is closed: with no archive, a failing disk, after shutdown, or in a
// forked child before its own flusher starts, a full ring is overwritten at once (a full
// disk costs counted records, never a stalled application).
void allow_waits(bool allowed) noexcept;
// Whether a producer waits right now: the flusher then writes what it has at once instead of
// letting its chunk grow.
[[nodiscard]] bool producers_waiting() noexcept;
// The thread that archives must never wait for itself (a record it logs while a ring is
// full is overwritten as in overwrite mode).
void never_wait_on_this_thread() noexcept;

// The producer's side: waits until archived_pos reaches `needed` (the end of the block about
// to be overwritten), at most max_wait_ns. Returns true if the block can be overwritten
// without loss. A thread that gave up does not wait again until the flusher has archived
// more (a stuck archive costs a logging thread one max_wait, not one per block).
[[nodiscard]] bool wait_for_archive(const std::atomic<std::uint64_t>& archived_pos,
                                    std::uint64_t needed, std::int64_t max_wait_ns) noexcept;

// Process-wide totals, for the telemetry (relaxed counters; the flusher publishes them).
struct WaitTotals {
  std::uint64_t waits = 0;    // block claims that waited
  std::uint64_t wait_ns = 0;  // the time they waited, CLOCK_MONOTONIC
  // Claims that overwrote unarchived records after all: the wait reached its bound, or the
  // thread had given up before and the archive has not moved since. (Not counted: claims
  // made while waits were not allowed.)
  std::uint64_t gave_up = 0;
};
[[nodiscard]] WaitTotals wait_totals() noexcept;

// A forked child: no waiting until its own flusher allows it; the totals start again.
void reset_waits() noexcept;

}  // namespace blackbox::ring
