#include "core/loss_budget.hpp"

#include <string>

#include "blackbox/blackbox.hpp"
#include "core/rate_limit.hpp"
#include "format/slot_tail.hpp"
#include "sys/clock.hpp"
#include "sys/sys.hpp"

namespace blackbox::core {
namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
static_assert(kLossCauses + 1 == ring::kMinuteCauses);  // the causes, then the console
}  // namespace

std::uint64_t LossCounts::lost_total() const noexcept {
  std::uint64_t n = 0;
  for (const std::uint64_t l : lost) n += l;
  return n;
}

LossCounts count_losses(const ring::RingMemory& ring, std::int64_t at_ns) {
  LossCounts c;
  c.at_ns = at_ns;
  const ring::RingHeader& h = ring.header();
  const ring::Telemetry* t = ring.telemetry();
  if (t != nullptr) {
    c.lost[0] = t->lost_overwritten.load(kRelaxed);
    c.lost[2] = t->lost_disk_error.load(kRelaxed);
    c.lost[5] = t->lost_corrupt.load(kRelaxed);
    c.console = t->console_not_shown.load(kRelaxed);
  }
  c.lost[1] = h.dropped_no_slot.load(kRelaxed);
  c.lost[3] = h.dropped_site_table_full.load(kRelaxed);
  c.lost[4] = h.dropped_after_exit.load(kRelaxed);
  c.lost[6] = rate_limited_total();
  // Records that reached the rings, counted from the rings (whether or not the archive read
  // them), plus those lost before reaching them.
  const ring::Layout& layout = ring.layout();
  const ring::SlotTelemetry* slots = ring.slot_telemetry();
  for (std::uint32_t i = 0; i < layout.slot_count; ++i) {
    const ring::SlotHeader& slot = ring.slot_header(i);
    const std::uint64_t w = slot.write_pos.load(std::memory_order_acquire);
    if (w == 0) continue;
    const ring::SlotTail tail = ring::read_slot_tail(ring.slot_data(i), layout, slot.write_pos, w);
    if (tail.intact) {
      c.records += tail.logged;
    } else if (slots != nullptr) {  // lapped while read: what the flusher accounted for
      c.records += slots[i].records.load(kRelaxed) + slots[i].lost.load(kRelaxed);
    }
  }
  c.records += c.lost[1] + c.lost[3] + c.lost[4] + c.lost[6];
  return c;
}

LossBudget::LossBudget(double budget, std::int64_t start_ns) : budget_(budget) {
  LossCounts zero;
  zero.at_ns = start_ns;
  window_.push_back(zero);
}

void LossBudget::pass(ring::RingMemory& ring) {
  const std::int64_t now = sys::calls().rate_clock_ns();
  const LossCounts last = count_losses(ring, now);
  // Kept a second apart at most (passes come more often under load): a minute is ~60.
  if (now - window_.back().at_ns >= kSampleEveryNs) window_.push_back(last);
  // The base is the newest count at least a minute old (the run's start while younger).
  while (window_.size() > 1 && window_[1].at_ns <= now - kWindowNs) window_.pop_front();
  const LossCounts& base = window_.front();
  const std::uint64_t records = last.records - std::min(last.records, base.records);
  const std::uint64_t lost = last.lost_total() - std::min(last.lost_total(), base.lost_total());
  ring::Telemetry* t = ring.telemetry();
  if (t != nullptr) {
    t->lost_rate_limited.store(last.lost[6], kRelaxed);
    t->loss_budget_ppb.store(static_cast<std::uint64_t>(budget_ * 1e9 + 0.5), kRelaxed);
    t->minute_records.store(records, kRelaxed);
    t->minute_lost.store(lost, kRelaxed);
  }
  if (ring::MinuteLosses* m = ring.minute_losses(); m != nullptr) {
    auto saturated = [](std::uint64_t at_last, std::uint64_t at_base) {
      return static_cast<std::uint32_t>(
          std::min<std::uint64_t>(at_last - std::min(at_last, at_base), 0xffff'ffffu));
    };
    for (int i = 0; i < kLossCauses; ++i) {
      m->lost[i].store(saturated(last.lost[i], base.lost[i]), kRelaxed);
    }
    m->lost[kLossCauses].store(saturated(last.console, base.console), kRelaxed);
  }
  if (budget_ <= 0 || warned_ || lost == 0 ||
      static_cast<double>(lost) <= budget_ * static_cast<double>(records)) {
    return;
  }
  warned_ = true;
  if (t != nullptr) t->budget_exceeded_ns.store(sys::realtime_ns(), kRelaxed);
  std::string causes;
  for (int i = 0; i < kLossCauses; ++i) {
    const std::uint64_t n = last.lost[i] - std::min(last.lost[i], base.lost[i]);
    if (n != 0)
      causes += (causes.empty() ? "" : ", ") + std::to_string(n) + " " + kLossCauseNames[i];
  }
  const double share = 100.0 * static_cast<double>(lost) / static_cast<double>(records);
  BBX_LOG("blackbox", Level::warn,
          "loss budget exceeded: {lost} of {records} records lost in the last {seconds:.1f} s "
          "({share:.3f} %, over the budget of {budget:.3f} %): {causes}",
          lost, records, static_cast<double>(now - base.at_ns) / 1e9, share, budget_ * 100, causes);
}

}  // namespace blackbox::core
