// Reading a ring while its writers run (or after they died), without ever stopping them.
// The per-slot protocol (copy, re-check, count gaps) is drain_slot() in slot_drain.hpp;
// this file decodes what it delivers.
//
// Memory ordering: site table: acquire load of site_table_used pairs with the release in
// define_site(). Header: acquire fence after checking the magic pairs with the release
// fence before the creator wrote it.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "blackbox/reader.hpp"
#include "blackbox/text.hpp"
#include "format/ring_clock.hpp"
#include "format/ring_image.hpp"
#include "format/ring_layout.hpp"
#include "format/ring_metrics.hpp"
#include "format/ring_validate.hpp"
#include "format/slot_drain.hpp"
#include "format/slot_tail.hpp"
#include "reader/crash_report.hpp"
#include "reader/decode.hpp"
#include "ring/ring_memory.hpp"
#include "sys/calendar.hpp"
#include "sys/clock.hpp"
#include "sys/dirs.hpp"
#include "sys/process.hpp"

namespace blackbox {

static_assert(static_cast<std::uint32_t>(RingState::live) ==
                  static_cast<std::uint32_t>(ring::ProcessState::live) &&
              static_cast<std::uint32_t>(RingState::exited) ==
                  static_cast<std::uint32_t>(ring::ProcessState::exited) &&
              static_cast<std::uint32_t>(RingState::crashed) ==
                  static_cast<std::uint32_t>(ring::ProcessState::crashed));
namespace {

using ring::BlockHeader;
using ring::RingHeader;
using ring::SlotHeader;

std::uint64_t load_acquire(const std::atomic<std::uint64_t>& a) {
  return a.load(std::memory_order_acquire);
}

}  // namespace

struct RingReader::Impl {
  std::string path;
  uid_t owner_uid = geteuid();  // the file's owner (ours for our own ring or an image)
  const std::byte* base = nullptr;
  std::size_t size = 0;
  bool owns_mapping = false;
  ring::Layout layout{};
  std::uint64_t site_parsed = 0;  // bytes of the site table parsed so far
  std::unordered_map<std::uint32_t, std::shared_ptr<const reader::SiteInfo>> sites;
  std::vector<ring::SlotCursor> cursors;
  std::map<std::pair<std::uint32_t, std::uint32_t>, Loss> losses;
  std::vector<std::byte> copy;
  std::vector<std::byte> image;  // open_bytes(): the reader owns the bytes
  ring::ClockSnapshot clock;
  ReadFilter filter;
  std::unordered_map<const reader::SiteInfo*, bool> site_verdicts;

  ~Impl() {
    if (owns_mapping && base != nullptr) munmap(const_cast<std::byte*>(base), size);
  }

  const RingHeader& header() const { return *reinterpret_cast<const RingHeader*>(base); }
  std::string_view app() const {
    return {header().app, strnlen(header().app, sizeof header().app)};
  }
  const SlotHeader& slot(std::uint32_t i) const {
    return reinterpret_cast<const SlotHeader*>(base + layout.slot_headers_offset)[i];
  }
  const std::byte* slot_data(std::uint32_t i) const {
    return base + layout.slot_data_offset + std::uint64_t{i} * layout.ring_bytes;
  }

  Loss& loss(std::uint32_t slot_index, std::uint32_t tid) {
    Loss& l = losses[{slot_index, tid}];
    l.slot = slot_index;
    l.tid = tid;
    return l;
  }

  // Validates the header of an untrusted file of `file_size` bytes.
  bool validate(std::size_t file_size, std::string& error) {
    if (!ring::validate_header(base, file_size, layout, error)) return false;
    cursors.assign(layout.slot_count, ring::SlotCursor{});
    copy.resize(layout.ring_bytes);
    return true;
  }

  void refresh_sites() {
    const std::uint64_t used =
        std::min<std::uint64_t>(load_acquire(header().site_table_used), layout.site_table_bytes);
    while (site_parsed < used) {
      auto info = std::make_shared<reader::SiteInfo>();
      std::string error;
      const std::size_t n = reader::parse_site_entry(base + layout.site_table_offset + site_parsed,
                                                     used - site_parsed, *info, error);
      if (n == 0) {
        site_parsed = used;  // damaged table: later ids stay unknown; records count as lost
        return;
      }
      sites.emplace(static_cast<std::uint32_t>(site_parsed / 8 + 1), std::move(info));
      site_parsed += n;
    }
  }

  const std::shared_ptr<const reader::SiteInfo>* site(std::uint32_t id) {
    auto it = sites.find(id);
    if (it == sites.end()) {
      refresh_sites();
      it = sites.find(id);
    }
    return it == sites.end() ? nullptr : &it->second;
  }

  std::size_t read_slot(std::uint32_t index, const std::function<void(const Record&)>& sink);
  bool decode(const std::byte* p, std::uint32_t record_size, Record& r);
};

bool RingReader::Impl::decode(const std::byte* p, std::uint32_t record_size, Record& r) {
  detail::RecordHeader h;
  std::memcpy(&h, p, sizeof h);
  const auto* owner = site(h.site & detail::kSiteIdMask);
  if (owner == nullptr) return false;
  const reader::SiteInfo* info = owner->get();
  if (r.site_owner != *owner) r.site_owner = *owner;
  std::size_t offset = sizeof h;
  r.has_trace = (h.site & detail::kSiteHasTrace) != 0;
  if (r.has_trace) {
    if (offset + detail::kTraceBytes > record_size) return false;
    std::memcpy(r.trace_id.data(), p + offset, 16);
    std::memcpy(r.span_id.data(), p + offset + 16, 8);
    offset += detail::kTraceBytes;
  } else {
    r.trace_id = {};
    r.span_id = {};
  }
  r.ticks = h.time;
  r.time_ns = ring::ticks_to_ns(clock, h.time);
  reader::apply_site(*info, r);
  return reader::decode_as_filtered(filter, *info, p + offset, record_size - offset, r);
}

std::size_t RingReader::Impl::read_slot(std::uint32_t index,
                                        const std::function<void(const Record&)>& sink) {
  struct Visitor {
    Impl& impl;
    std::uint32_t index;
    const std::function<void(const Record&)>& sink;
    Record decoded;
    bool record(const std::byte* p, std::uint32_t record_size, std::uint64_t position,
                const ring::SlotCursor& c) {
      Record& r = decoded;
      if (!impl.decode(p, record_size, r)) return false;
      // Filtered after decoding: a ring holds at most a few MB, so this is not worth a
      // second decoder; what matters is that the cursor and loss counts still advance.
      const auto* site = static_cast<const reader::SiteInfo*>(r.site_owner.get());
      const auto [verdict, fresh] = impl.site_verdicts.try_emplace(site, false);
      if (fresh) verdict->second = reader::site_passes(impl.filter, *site);
      if (!verdict->second ||
          !reader::record_passes(impl.filter, r.time_ns, c.tid,
                                 r.has_trace ? r.trace_id.data() : nullptr) ||
          !reader::process_passes(impl.filter, impl.header().pid, impl.header().start_time_ns,
                                  impl.app())) {
        return true;
      }
      r.tid = c.tid;
      r.thread_name.assign(c.thread_name, strnlen(c.thread_name, sizeof c.thread_name));
      r.slot = index;
      r.position = position;
      r.sequence = c.next_seq;
      r.pid = impl.header().pid;
      r.process_start_ns = impl.header().start_time_ns;
      sink(r);
      return true;
    }
    void lost(std::uint32_t tid, std::uint64_t records, std::uint64_t bytes,
              std::uint64_t corrupt_bytes) {
      Loss& l = impl.loss(index, tid);
      l.records += records;
      l.bytes += bytes;
      l.corrupt_bytes += corrupt_bytes;
    }
  } visitor{*this, index, sink, {}};
  return ring::drain_slot(slot(index), slot_data(index), layout, cursors[index], copy, visitor);
}

RingReader::RingReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RingReader::~RingReader() = default;

std::unique_ptr<RingReader> RingReader::open(const std::string& path, std::string* error) {
  std::string why;
  auto fail = [&](const std::string& msg) -> std::unique_ptr<RingReader> {
    if (error != nullptr) *error = path + ": " + msg;
    return nullptr;
  };
  // Never waits on the path, never follows a link: a FIFO or link planted among the ring
  // files must not hang or redirect a host-wide reader (logcat top, run as root).
  const int fd = sys::open_regular(path, false, why);
  if (fd < 0) return fail(why);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return fail(sys::error_text(errno));
  }
  const uid_t owner_uid = st.st_uid;
  const auto file_size = static_cast<std::size_t>(st.st_size);
  if (file_size < ring::kPageBytes) {
    close(fd);
    return fail("too small to be a ring file (" + std::to_string(file_size) + " bytes)");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->owner_uid = owner_uid;
  impl->owns_mapping = true;
  // A live writer holds an exclusive lock for its whole life: then the file is mapped, to
  // follow it as it grows. Otherwise (a dead process's ring, an exited one's, a dump) it
  // cannot change any more and is read into private memory with pread(): a truncation
  // while we read is then an error, never a SIGBUS. The probe's shared lock is let go at
  // once (recovery must not take us for the file's writer).
  const bool live = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (!live) {
    flock(fd, LOCK_UN);
    ring::RingImage image;
    const bool ok = ring::read_ring_image(fd, file_size, image, why);
    close(fd);
    if (!ok) return fail(why);
    impl->base = image.base;
    impl->size = image.size;
    if (!impl->validate(image.size, why)) return fail(why);
    return std::unique_ptr<RingReader>(new RingReader(std::move(impl)));
  }
  void* base = mmap(nullptr, file_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);  // the mapping keeps the file
  if (base == MAP_FAILED) return fail(std::string("cannot map: ") + sys::error_text(errno));
  impl->base = static_cast<const std::byte*>(base);
  impl->size = file_size;
  if (!impl->validate(file_size, why)) return fail(why);
  return std::unique_ptr<RingReader>(new RingReader(std::move(impl)));
}

std::unique_ptr<RingReader> RingReader::open_bytes(std::vector<std::byte> image,
                                                   std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->image = std::move(image);
  impl->base = impl->image.data();
  impl->size = impl->image.size();
  std::string why;
  // Header fields are read in place: the image must hold at least a header to look at.
  if (impl->size < ring::kPageBytes || !impl->validate(impl->size, why)) {
    if (error != nullptr) {
      *error = impl->size < ring::kPageBytes
                   ? "too small to be a ring file (" + std::to_string(impl->size) + " bytes)"
                   : why;
    }
    return nullptr;
  }
  return std::unique_ptr<RingReader>(new RingReader(std::move(impl)));
}

std::unique_ptr<RingReader> RingReader::open_self(std::string* error) {
  ring::RingMemory* ring = ring::own_ring();
  if (ring == nullptr) {
    if (error != nullptr) *error = "blackbox has not started in this process (nothing logged yet)";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->path = ring->path();
  impl->base = ring->base();
  impl->size = ring->size();
  std::string why;
  if (!impl->validate(ring->size(), why)) {
    if (error != nullptr) *error = "own ring: " + why;
    return nullptr;
  }
  return std::unique_ptr<RingReader>(new RingReader(std::move(impl)));
}

std::size_t RingReader::poll(const std::function<void(const Record&)>& sink) {
  impl_->clock = ring::read_clock(impl_->header().clock);
  std::size_t passed = 0;
  const std::function<void(const Record&)> counted = [&](const Record& r) {
    ++passed;
    sink(r);
  };
  for (std::uint32_t i = 0; i < impl_->layout.slot_count; ++i) impl_->read_slot(i, counted);
  return passed;
}

void RingReader::set_filter(ReadFilter filter) {
  impl_->filter = std::move(filter);
  impl_->site_verdicts.clear();
}

std::vector<Record> RingReader::read_sorted() { return reader::read_sorted_by_time(*this); }

std::vector<Loss> RingReader::losses() const {
  std::vector<Loss> out;
  for (const auto& [key, loss] : impl_->losses) {
    if (loss.records != 0 || loss.bytes != 0) out.push_back(loss);
  }
  return out;
}

std::uint64_t RingReader::lost_records() const {
  std::uint64_t n = 0;
  for (const auto& [key, loss] : impl_->losses) n += loss.records;
  return n;
}

RingInfo RingReader::info() const {
  const RingHeader& h = impl_->header();
  RingInfo info;
  info.path = impl_->path;
  info.app = text::printable({h.app, strnlen(h.app, sizeof h.app)});
  info.host = text::printable({h.host, strnlen(h.host, sizeof h.host)});
  info.pid = h.pid;
  info.state = static_cast<RingState>(h.state.load(std::memory_order_acquire));
  info.owner_uid = impl_->owner_uid;
  // Alive means: the pid the file names runs, as the file's owner, and had started when the
  // ring was created. A file another user forged, naming root's pid, is not that process;
  // nor is a later process that reused a dead one's pid.
  info.process_alive = sys::process_is(h.pid, impl_->owner_uid, h.start_time_ns);
  info.start_time_ns = h.start_time_ns;
  info.format_version = h.version;
  info.slot_count = impl_->layout.slot_count;
  info.ring_bytes = impl_->layout.ring_bytes;
  info.block_bytes = impl_->layout.block_bytes;
  info.threads_attached = h.threads_attached.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < impl_->layout.slot_count; ++i) {
    const SlotHeader& slot = impl_->slot(i);
    const std::uint64_t written = slot.write_pos.load(std::memory_order_relaxed);
    const std::uint64_t drained = slot.drained_pos.load(std::memory_order_relaxed);
    if (written > drained && impl_->layout.ring_bytes != 0) {
      info.max_fill =
          std::max(info.max_fill, std::min(1.0, static_cast<double>(written - drained) /
                                                    static_cast<double>(impl_->layout.ring_bytes)));
    }
  }
  info.dropped_no_slot = h.dropped_no_slot.load(std::memory_order_relaxed);
  info.dropped_after_exit = h.dropped_after_exit.load(std::memory_order_relaxed);
  info.sites_dropped = h.sites_dropped.load(std::memory_order_relaxed);
  info.dropped_site_table_full = h.dropped_site_table_full.load(std::memory_order_relaxed);
  info.archived_seq.resize(info.slot_count);
  for (std::uint32_t i = 0; i < info.slot_count; ++i) {
    info.archived_seq[i] = impl_->slot(i).archived_seq.load(std::memory_order_relaxed);
  }
  if (info.state == RingState::crashed && impl_->size >= ring::kPageBytes) {
    info.crash = reader::parse_crash_report(
        {impl_->base + ring::kCrashOffset, ring::kPageBytes - ring::kCrashOffset});
  }
  return info;
}

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

Telemetry::Counts counts(const ring::CountPair& c) {
  return {c.records.load(kRelaxed), c.bytes.load(kRelaxed)};
}

LogHistogram histogram(const ring::HistogramArea& h) {
  LogHistogram out;
  for (std::uint32_t i = 0; i < log_bins::kCount; ++i) out.set_bin(i, h.bins[i].load(kRelaxed));
  out.set_summary(h.sum.load(kRelaxed), h.min.load(kRelaxed), h.max.load(kRelaxed));
  return out;
}

template <std::size_t N>
std::string text_field(const char (&chars)[N]) {
  return text::printable(ring::field_text(chars));  // escaped: nothing in a file is trusted
}

}  // namespace

std::optional<Telemetry> RingReader::telemetry() const {
  const ring::Layout& layout = impl_->layout;
  if (layout.control_bytes == 0) return std::nullopt;
  const std::byte* region = impl_->base + layout.control_offset;
  const auto& t = *reinterpret_cast<const ring::Telemetry*>(region + ring::kTelemetryOffset);
  const auto* slots =
      reinterpret_cast<const ring::SlotTelemetry*>(region + ring::kSlotTelemetryOffset);
  const RingHeader& h = impl_->header();
  Telemetry out;
  out.updated_ns = t.updated_ns.load(kRelaxed);
  out.passes = t.passes.load(kRelaxed);
  out.archived_through_ns = t.archived_through_ns.load(kRelaxed);
  out.read = {t.records_read.load(kRelaxed), t.bytes_read.load(kRelaxed)};
  for (std::uint32_t i = 0; i < ring::kTelemetryLevels; ++i) out.per_level[i] = counts(t.levels[i]);
  // The count after the names (acquire): a tag counted is named. Bounded (never trusted).
  const std::uint32_t tags =
      std::min(t.tag_count.load(std::memory_order_acquire), ring::kTelemetryTags);
  for (std::uint32_t i = 0; i < tags; ++i) {
    out.per_tag.push_back({text_field(t.tags[i].name), counts(t.tags[i].counts)});
  }
  for (std::uint32_t i = 0; i < layout.slot_count; ++i) {
    const SlotHeader& slot = impl_->slot(i);
    const std::uint64_t w = slot.write_pos.load(std::memory_order_acquire);
    const auto state = static_cast<ring::SlotState>(slot.state.load(kRelaxed));
    if (w == 0 && state == ring::SlotState::free) continue;  // never used
    Telemetry::Thread th;
    th.slot = i;
    th.tid = slot.tid.load(kRelaxed);
    th.live = state == ring::SlotState::owned;
    th.counts.records = slots[i].records.load(kRelaxed);
    th.counts.bytes = slots[i].bytes.load(kRelaxed);
    th.lost = slots[i].lost.load(kRelaxed);
    th.last_ns = slots[i].last_ns.load(kRelaxed);
    // The name in the header of the block being written (a block overwritten meanwhile just
    // gives another name of the same slot's threads); a block overwritten or damaged leaves
    // `logged` at what the flusher read.
    const ring::SlotTail tail =
        ring::read_slot_tail(impl_->slot_data(i), layout, slot.write_pos, w);
    if (tail.has_header) th.name = text_field(tail.header.thread_name);
    if (tail.intact) th.logged = tail.logged;
    if (th.logged == 0) th.logged = th.counts.records + th.lost;
    out.threads.push_back(std::move(th));
  }
  out.records_archived = t.records_archived.load(kRelaxed);
  out.archive_bytes_written = t.bytes_written.load(kRelaxed);
  out.archive_files_created = t.files_created.load(kRelaxed);
  out.archive_files_deleted = t.files_deleted.load(kRelaxed);
  out.lost_overwritten = t.lost_overwritten.load(kRelaxed);
  out.lost_no_slot = h.dropped_no_slot.load(kRelaxed);
  out.lost_disk_error = t.lost_disk_error.load(kRelaxed);
  out.lost_site_table_full = h.dropped_site_table_full.load(kRelaxed);
  out.lost_after_exit = h.dropped_after_exit.load(kRelaxed);
  out.lost_corrupt = t.lost_corrupt.load(kRelaxed);
  out.console_lines = t.console_lines.load(kRelaxed);
  out.console_not_shown = t.console_not_shown.load(kRelaxed);
  out.breaker_open = t.breaker_open.load(kRelaxed) != 0;
  out.breaker_trips = t.breaker_trips.load(kRelaxed);
  out.write_errors = t.write_errors.load(kRelaxed);
  out.last_errno = t.last_errno.load(kRelaxed);
  out.control_applied = t.control_applied.load(kRelaxed);
  out.producer_waits = t.producer_waits.load(kRelaxed);
  out.producer_wait_ns = t.producer_wait_ns.load(kRelaxed);
  out.producer_gave_up = t.producer_gave_up.load(kRelaxed);
  out.archive_files_deleted_unshipped = t.files_deleted_unshipped.load(kRelaxed);
  out.archive_bytes_deleted_unshipped = t.bytes_deleted_unshipped.load(kRelaxed);
  out.lost_rate_limited = t.lost_rate_limited.load(kRelaxed);
  out.loss_budget = static_cast<double>(t.loss_budget_ppb.load(kRelaxed)) / 1e9;
  out.budget_exceeded_ns = t.budget_exceeded_ns.load(kRelaxed);
  out.minute_records = t.minute_records.load(kRelaxed);
  out.minute_lost = t.minute_lost.load(kRelaxed);
  const auto& minute =
      *reinterpret_cast<const ring::MinuteLosses*>(region + ring::kMinuteLossesOffset);
  for (std::uint32_t i = 0; i < ring::kMinuteCauses; ++i) {
    out.minute_by_cause[i] = minute.lost[i].load(kRelaxed);
  }
  out.pass_ns = histogram(t.pass_ns);
  out.write_ns = histogram(t.write_ns);
  return out;
}

std::optional<MetricsSnapshot> RingReader::metrics(std::string* error) const {
  if (impl_->layout.metrics_bytes == 0) return std::nullopt;
  MetricsSnapshot out;
  out.time_ns = sys::realtime_ns();
  std::string why;
  if (!ring::read_ring_metrics(impl_->base, impl_->layout, out, why)) {
    if (error != nullptr) *error = why;
    return std::nullopt;
  }
  text::escape_metric_texts(out);
  return out;
}

std::optional<LevelsState> RingReader::levels() const {
  const ring::Layout& layout = impl_->layout;
  if (layout.control_bytes == 0) return std::nullopt;
  const auto& c = *reinterpret_cast<const ring::ControlArea*>(impl_->base + layout.control_offset);
  // The seqlock's reader side: copy, then check the sequence was even and did not move.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::uint64_t before = c.levels_seq.load(std::memory_order_acquire);
    char levels[ring::kControlLevelsBytes];
    ring::TimedLevel timed[ring::kTimedLevels];
    std::memcpy(levels, c.levels, sizeof levels);
    std::memcpy(static_cast<void*>(timed), static_cast<const void*>(c.timed), sizeof timed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if ((before & 1) != 0 || c.levels_seq.load(kRelaxed) != before) continue;
    LevelsState out;
    out.spec = text_field(levels);
    for (const ring::TimedLevel& t : timed) {
      if (t.until_ns == 0) continue;
      TimedLevel tl;
      tl.tag = t.default_level != 0 ? std::string() : text_field(t.tag);
      tl.level = static_cast<Level>(std::min<std::uint8_t>(t.level, 6));
      tl.back_level = static_cast<Level>(std::min<std::uint8_t>(t.back_level, 6));
      tl.back_to_default = t.default_level == 0 && t.had_own == 0;
      tl.until_ns = t.until_ns;
      tl.pid = t.pid;
      tl.uid = t.uid;
      out.timed.push_back(std::move(tl));
    }
    const std::uint64_t written = c.requests_written.load(kRelaxed);
    const std::uint64_t done = c.requests_done.load(kRelaxed);
    out.requests_waiting = written > done ? written - done : 0;
    return out;
  }
  return std::nullopt;  // a writer that died mid-update (odd for ever)
}

}  // namespace blackbox
