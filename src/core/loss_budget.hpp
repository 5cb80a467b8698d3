// The failure budget (Config::loss_budget): every flusher pass counts the process's records
// and its losses by cause, keeps the last minute of those counts, publishes the minute's
// totals, the budget and the rate limits' total in the telemetry area
// (format/telemetry_area.hpp), and the first time the minute's losses go over the budget,
// says so once in a warning record (tag "blackbox") that names the causes.
#pragma once

#include <cstdint>
#include <deque>

#include "ring/ring_memory.hpp"

namespace blackbox::core {

// Loss causes, in the order every report lists them.
inline constexpr int kLossCauses = 7;
inline constexpr const char* kLossCauseNames[kLossCauses] = {
    "overwritten", "no slot", "disk", "site table", "after exit", "corrupt", "rate limited"};

struct LossCounts {
  std::int64_t at_ns = 0;     // the rate clock (sys::Calls::rate_clock_ns)
  std::uint64_t records = 0;  // logged into the rings, or lost before them
  std::uint64_t lost[kLossCauses] = {};
  std::uint64_t console = 0;  // lines not shown (listed beside the causes, not in the budget)
  [[nodiscard]] std::uint64_t lost_total() const noexcept;
};

// The counts of `ring`'s process now: its telemetry area (one pass old), its header's
// producer counts, the rate limits' count, and the records its slots hold (read_slot_tail).
[[nodiscard]] LossCounts count_losses(const ring::RingMemory& ring, std::int64_t at_ns);

class LossBudget {
 public:
  // `budget`: a share of records (0.001 is 0.1 %); 0: none (the counts are still kept and
  // published). `start_ns`: the rate clock when the logger started (the run's first counts
  // are all zero then).
  LossBudget(double budget, std::int64_t start_ns);

  // One flusher pass (the flusher thread only).
  void pass(ring::RingMemory& ring);

  static constexpr std::int64_t kWindowNs = 60'000'000'000;
  static constexpr std::int64_t kSampleEveryNs = 1'000'000'000;

 private:
  double budget_;
  bool warned_ = false;
  std::deque<LossCounts> window_;  // oldest first; front: the window's base
};

}  // namespace blackbox::core
