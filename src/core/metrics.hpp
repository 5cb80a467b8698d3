// The metric registry's side that the logger drives (src/core/metrics.cpp). Internal.
#pragma once

#include "blackbox/detail/producer.hpp"
#include "ring/ring_memory.hpp"

namespace blackbox::core {

// Writes every metric declared so far into `ring`'s metric table (a new ring: at start,
// and in a forked child), and what was counted before there was a ring. Takes the
// registry's mutex (after the logger's, if the caller holds that).
void publish_metrics(ring::RingMemory& ring);

// The registry's mutex around fork() (after the logger's mutex), so a child never inherits
// it locked.
void lock_metrics_for_fork();
void unlock_metrics_after_fork();

// Gives the calling thread a slot for its metric updates (logger.cpp), as a first log call
// does, without counting a lost record if it cannot. False if the thread has no slot (all
// taken, or it is exiting, or there is no ring): its updates go to the shared stripe. Tried
// once per thread.
[[nodiscard]] bool attach_for_metrics(detail::Producer& p) noexcept;

}  // namespace blackbox::core
