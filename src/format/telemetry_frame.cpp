// The telemetry frame's payload. See telemetry_frame.hpp and docs/format.md.
#include "format/telemetry_frame.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "format/payload_io.hpp"

namespace blackbox::archive {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr std::uint32_t kFixedBytes = 16;

void put_histogram(std::vector<std::byte>& out, const ring::HistogramArea& h) {
  put(out, h.count.load(kRelaxed));
  put(out, h.sum.load(kRelaxed));
  put(out, h.min.load(kRelaxed));
  put(out, h.max.load(kRelaxed));
  LogHistogram bins;
  for (std::uint32_t i = 0; i < log_bins::kCount; ++i) bins.set_bin(i, h.bins[i].load(kRelaxed));
  put_bins(out, bins);
}

// The reading side: every take checks the size left.
struct In : PayloadIn {
  bool take_histogram(LogHistogram& h) {
    std::uint64_t count = 0, sum = 0, min = 0, max = 0;
    if (!take(count) || !take(sum) || !take(min) || !take(max) || !take_bins(h)) return false;
    h.set_summary(sum, min, max);
    return true;
  }
};

}  // namespace

void encode_telemetry(const ring::Telemetry& t, const ring::MinuteLosses& minute,
                      const ring::SlotTelemetry* slots, std::uint32_t slot_count,
                      const ring::RingHeader& h, std::string_view levels, std::int64_t time_ns,
                      SnapshotReason reason, std::vector<std::byte>& out) {
  put(out, kFixedBytes);
  put(out, static_cast<std::uint32_t>(reason));
  put(out, time_ns);
  // The counters, in the order docs/format.md lists them (a later writer may append).
  const std::uint64_t counters[] = {
      static_cast<std::uint64_t>(t.updated_ns.load(kRelaxed)),
      t.passes.load(kRelaxed),
      static_cast<std::uint64_t>(t.archived_through_ns.load(kRelaxed)),
      t.records_read.load(kRelaxed),
      t.bytes_read.load(kRelaxed),
      t.records_archived.load(kRelaxed),
      t.bytes_written.load(kRelaxed),
      t.files_created.load(kRelaxed),
      t.files_deleted.load(kRelaxed),
      t.lost_overwritten.load(kRelaxed),
      h.dropped_no_slot.load(kRelaxed),
      t.lost_disk_error.load(kRelaxed),
      h.dropped_site_table_full.load(kRelaxed),
      h.dropped_after_exit.load(kRelaxed),
      t.lost_corrupt.load(kRelaxed),
      t.console_lines.load(kRelaxed),
      t.console_not_shown.load(kRelaxed),
      t.breaker_open.load(kRelaxed),
      t.breaker_trips.load(kRelaxed),
      t.write_errors.load(kRelaxed),
      static_cast<std::uint64_t>(static_cast<std::int64_t>(t.last_errno.load(kRelaxed))),
      t.control_applied.load(kRelaxed),
  };
  // Appended after the levels (a reader that predates them stops before): the waits.
  // Then the files retention deleted although a hold kept them; then rate limits' losses,
  // then the failure budget's words and the last minute's losses by cause.
  const std::uint64_t waits[] = {t.producer_waits.load(kRelaxed),
                                 t.producer_wait_ns.load(kRelaxed),
                                 t.producer_gave_up.load(kRelaxed),
                                 t.files_deleted_unshipped.load(kRelaxed),
                                 t.bytes_deleted_unshipped.load(kRelaxed),
                                 t.lost_rate_limited.load(kRelaxed),
                                 t.loss_budget_ppb.load(kRelaxed),
                                 static_cast<std::uint64_t>(t.budget_exceeded_ns.load(kRelaxed)),
                                 t.minute_records.load(kRelaxed),
                                 t.minute_lost.load(kRelaxed),
                                 minute.lost[0].load(kRelaxed),
                                 minute.lost[1].load(kRelaxed),
                                 minute.lost[2].load(kRelaxed),
                                 minute.lost[3].load(kRelaxed),
                                 minute.lost[4].load(kRelaxed),
                                 minute.lost[5].load(kRelaxed),
                                 minute.lost[6].load(kRelaxed),
                                 minute.lost[7].load(kRelaxed)};
  put(out, static_cast<std::uint32_t>(std::size(counters) + 2 * ring::kTelemetryLevels +
                                      std::size(waits)));
  for (const std::uint64_t c : counters) put(out, c);
  for (const auto& l : t.levels) {
    put(out, l.records.load(kRelaxed));
    put(out, l.bytes.load(kRelaxed));
  }
  for (const std::uint64_t c : waits) put(out, c);
  const std::uint32_t tags =
      std::min(t.tag_count.load(std::memory_order_acquire), ring::kTelemetryTags);
  put(out, tags);
  for (std::uint32_t i = 0; i < tags; ++i) {
    put_text(out,
             std::string_view(t.tags[i].name, strnlen(t.tags[i].name, ring::kTelemetryTagBytes)),
             ring::kTelemetryTagBytes);
    put(out, t.tags[i].counts.records.load(kRelaxed));
    put(out, t.tags[i].counts.bytes.load(kRelaxed));
  }
  std::uint32_t used = 0;
  for (std::uint32_t i = 0; i < slot_count; ++i)
    used += slots[i].records.load(kRelaxed) != 0 || slots[i].lost.load(kRelaxed) != 0;
  put(out, used);
  for (std::uint32_t i = 0; i < slot_count; ++i) {
    const std::uint64_t records = slots[i].records.load(kRelaxed),
                        lost = slots[i].lost.load(kRelaxed);
    if (records == 0 && lost == 0) continue;
    put(out, i);
    put(out, records);
    put(out, slots[i].bytes.load(kRelaxed));
    put(out, lost);
    put(out, slots[i].last_ns.load(kRelaxed));
  }
  put_histogram(out, t.pass_ns);
  put_histogram(out, t.write_ns);
  put_text(out, levels, ring::kControlLevelsBytes);
}

bool decode_telemetry(std::span<const std::byte> payload, TelemetrySnapshot& out) {
  In in{payload};
  std::uint32_t fixed = 0, reason = 0;
  if (!in.take(fixed) || fixed < kFixedBytes || !in.take(reason) || !in.take(out.time_ns))
    return false;
  if (reason < 1 || reason > 3) return false;
  out.reason = static_cast<SnapshotReason>(reason);
  // A later writer may append to the fixed part: skip what this reader does not know.
  const std::size_t extra = fixed - kFixedBytes;
  if (in.rest.size() < extra) return false;
  in.rest = in.rest.subspan(extra);
  std::uint32_t n = 0;
  if (!in.take(n) || n > 4096) return false;
  // Counters an older writer did not have read as 0.
  std::vector<std::uint64_t> c(std::max<std::uint32_t>(n, 40 + 2 * ring::kTelemetryLevels), 0);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!in.take(c[i])) return false;
  }
  Telemetry& t = out.telemetry;
  t.updated_ns = static_cast<std::int64_t>(c[0]);
  t.passes = c[1];
  t.archived_through_ns = static_cast<std::int64_t>(c[2]);
  t.read = {c[3], c[4]};
  t.records_archived = c[5];
  t.archive_bytes_written = c[6];
  t.archive_files_created = c[7];
  t.archive_files_deleted = c[8];
  t.lost_overwritten = c[9];
  t.lost_no_slot = c[10];
  t.lost_disk_error = c[11];
  t.lost_site_table_full = c[12];
  t.lost_after_exit = c[13];
  t.lost_corrupt = c[14];
  t.console_lines = c[15];
  t.console_not_shown = c[16];
  t.breaker_open = c[17] != 0;
  t.breaker_trips = c[18];
  t.write_errors = c[19];
  t.last_errno = static_cast<int>(static_cast<std::int64_t>(c[20]));
  t.control_applied = c[21];
  for (std::uint32_t l = 0; l < ring::kTelemetryLevels; ++l)
    t.per_level[l] = {c[22 + 2 * l], c[23 + 2 * l]};
  t.producer_waits = c[34];
  t.producer_wait_ns = c[35];
  t.producer_gave_up = c[36];
  t.archive_files_deleted_unshipped = c[37];
  t.archive_bytes_deleted_unshipped = c[38];
  t.lost_rate_limited = c[39];
  t.loss_budget = static_cast<double>(c[40]) / 1e9;
  t.budget_exceeded_ns = static_cast<std::int64_t>(c[41]);
  t.minute_records = c[42];
  t.minute_lost = c[43];
  for (std::size_t i = 0; i < t.minute_by_cause.size(); ++i) t.minute_by_cause[i] = c[44 + i];
  std::uint32_t tags = 0;
  if (!in.take(tags) || tags > ring::kTelemetryTags) return false;
  for (std::uint32_t i = 0; i < tags; ++i) {
    Telemetry::Tag tag;
    if (!in.take_text(tag.tag) || !in.take(tag.counts.records) || !in.take(tag.counts.bytes))
      return false;
    t.per_tag.push_back(std::move(tag));
  }
  std::uint32_t threads = 0;
  if (!in.take(threads) || threads > 65536) return false;
  for (std::uint32_t i = 0; i < threads; ++i) {
    Telemetry::Thread th;
    if (!in.take(th.slot) || !in.take(th.counts.records) || !in.take(th.counts.bytes) ||
        !in.take(th.lost) || !in.take(th.last_ns)) {
      return false;
    }
    th.logged = th.counts.records + th.lost;
    t.threads.push_back(std::move(th));
  }
  return in.take_histogram(t.pass_ns) && in.take_histogram(t.write_ns) && in.take_text(out.levels);
}

}  // namespace blackbox::archive
