// The flusher thread. See flusher.hpp.
//
// Memory ordering:
//  - Ring slots: drain_slot() (slot_drain.hpp), the same protocol as every reader.
//  - Site table: acquire load of site_table_used pairs with the release in define_site(), so
//    a site's entry is complete before the flusher parses it; a record naming a site is only
//    visible after the site (the producer defined it before writing the record).
//  - SlotHeader::drained_pos: relaxed store here, relaxed load by producers; only a hint for
//    when to wake us early, never used to decide what is safe to read or overwrite.
//  - SlotHeader::archived_pos/archived_seq: relaxed stores here after a successful write;
//    read only by the recovery of this ring once this process is dead (the process's end
//    orders everything).
//  - The wake doorbell: ring/wake.hpp.
//  - requested_/completed_ (flush tickets): under mutex_.
#include "archive/flusher.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "archive/recovery.hpp"
#include "blackbox/detail/probes.hpp"
#include "blackbox/version.hpp"
#include "format/frame.hpp"
#include "format/ring_clock.hpp"
#include "format/ring_metrics.hpp"
#include "format/site_entry.hpp"
#include "ring/full_wait.hpp"
#include "ring/wake.hpp"
#include "sys/clock.hpp"
#include "sys/say.hpp"

namespace blackbox::archive {
namespace {

// resize + memcpy rather than insert(): g++ 12 at -O3 warns falsely about the latter.
void append_raw(std::vector<std::byte>& out, const void* data, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + n);
  if (n != 0) std::memcpy(out.data() + at, data, n);
}

template <typename T>
void append_bytes(std::vector<std::byte>& out, const T& value) {
  append_raw(out, &value, sizeof value);
}

void append_text(std::vector<std::byte>& out, std::string_view text) {
  append_raw(out, text.data(), text.size());
}

}  // namespace

Flusher::Flusher(ring::RingMemory& ring, FlusherSettings settings)
    : ring_(ring),
      settings_(std::move(settings)),
      files_(settings_.files),
      cursors_(ring.layout().slot_count),
      staged_(ring.layout().slot_count),
      copy_(ring.layout().ring_bytes) {
  if (settings_.telemetry && ring.telemetry() != nullptr) {
    telemetry_ = ring.telemetry();
    const std::uint32_t slots = ring.layout().slot_count;
    slot_counts_.resize(slots);
    slot_lost_.resize(slots);
    slot_last_ns_.resize(slots);
  }
}

void Flusher::resume_from_archived() {
  const ring::Layout& layout = ring_.layout();
  skip_before_.assign(layout.slot_count, 0);
  for (std::uint32_t i = 0; i < layout.slot_count; ++i) {
    const ring::SlotHeader& slot = ring_.slot_header(i);
    const std::uint64_t pos = slot.archived_pos.load(std::memory_order_relaxed);
    if (pos == 0 || pos > ring::kMaxStreamPosition) continue;  // nothing archived: all of it
    // Start at the block holding `pos` (a block header tells the sequence numbers), skip
    // the records before `pos`, and count as lost whatever was overwritten since.
    ring::SlotCursor& c = cursors_[i];
    c.read_pos = pos & ~std::uint64_t{layout.block_bytes - 1};
    c.next_seq = slot.archived_seq.load(std::memory_order_relaxed);
    c.started = true;
    c.tid = slot.tid.load(std::memory_order_relaxed);
    skip_before_[i] = pos;
    staged_[i] = {pos, c.next_seq};
  }
  // Drops the dead process counted were in its own archive's loss markers already.
  seen_no_slot_ = ring_.header().dropped_no_slot.load(std::memory_order_relaxed);
  seen_after_exit_ = ring_.header().dropped_after_exit.load(std::memory_order_relaxed);
  seen_site_full_ = ring_.header().dropped_site_table_full.load(std::memory_order_relaxed);
}

bool Flusher::drain_once() {
  bool ok = pass(true, true);
  if (const int err = close_and_settle(); err != 0) {
    disk_failed(err);
    ok = false;
  }
  current_file_ = files_.current_path();
  return ok;
}

std::vector<std::byte> end_payload(EndHow how, std::int64_t time_ns) {
  EndRecord end{};
  end.time_ns = time_ns;
  end.how = static_cast<std::uint32_t>(how);
  std::vector<std::byte> payload(sizeof end);
  std::memcpy(payload.data(), &end, sizeof end);
  return payload;
}

std::vector<std::byte> Flusher::telemetry_payload(SnapshotReason reason) {
  std::vector<std::byte> out;
  const ring::Telemetry* t = ring_.telemetry();
  if (t == nullptr) return out;
  if (telemetry_ != nullptr) publish_telemetry();  // our own: as of now
  std::string levels;
  if (settings_.levels_text) {
    levels = settings_.levels_text();
  } else if (const ring::ControlArea* c = ring_.control(); c != nullptr) {
    levels.assign(c->levels, strnlen(c->levels, sizeof c->levels));  // a dead process's
  }
  encode_telemetry(*t, *ring_.minute_losses(), ring_.slot_telemetry(), ring_.layout().slot_count,
                   ring_.header(), levels, sys::realtime_ns(), reason, out);
  return out;
}

std::vector<std::byte> Flusher::metrics_payload(SnapshotReason reason) const {
  std::vector<std::byte> out;
  if (ring_.layout().metrics_bytes == 0) return out;
  MetricsSnapshot snapshot;
  std::string error;
  if (!ring::read_ring_metrics(ring_.base(), ring_.layout(), snapshot, error) ||
      snapshot.metrics.empty()) {
    return out;
  }
  snapshot.time_ns = sys::realtime_ns();
  encode_metrics(snapshot, reason, out);
  return out;
}

// The snapshots that close a file or a run: the telemetry (if kept) and the metrics (a
// metrics_payload(), empty without metrics).
void Flusher::append_snapshots(SnapshotReason reason, const std::vector<std::byte>& metrics) {
  if (telemetry_ != nullptr) {
    (void)append_frame(frames_, static_cast<std::uint16_t>(FrameType::telemetry), 0,
                       telemetry_payload(reason));
  }
  if (!metrics.empty()) {
    (void)append_frame(frames_, static_cast<std::uint16_t>(FrameType::metrics), 0, metrics);
  }
}

// A file header first if the next append starts a new file (which stands alone: every site
// its chunks use is defined in it again).
void Flusher::append_header_if_new_file(std::int64_t now_ns) {
  if (!files_.at_file_start()) return;
  header_payload(now_ns, payload_);
  (void)append_frame(frames_, static_cast<std::uint16_t>(FrameType::file_header), 0, payload_);
  encoder_.forget_file_sites();
}

int Flusher::close_and_settle() {
  const int err = files_.close_current();
  const int earlier = files_.settle();
  return earlier != 0 ? earlier : err;
}

int Flusher::settle_and_sync() {
  const int earlier = files_.settle();
  const int err = files_.sync();
  return earlier != 0 ? earlier : err;
}

int Flusher::rotate_file() {
  if (files_.files_created() != 0 && !files_.at_file_start()) {
    frames_.clear();
    append_snapshots(SnapshotReason::rotation, metrics_payload(SnapshotReason::rotation));
    if (const int err = files_.append(frames_, now_ns_, mono_ns_); err != 0) return err;
    bytes_written_.fetch_add(frames_.size(), std::memory_order_relaxed);
  }
  return files_.retire_current();  // synced in the background: the drain goes on
}

bool Flusher::write_end(EndHow how) {
  // Into a file this process already wrote, or into a new one for its last metrics: a run
  // that logged nothing and has no metric leaves no file.
  std::vector<std::byte> metrics = metrics_payload(SnapshotReason::exit);
  if ((files_.files_created() == 0 || files_.at_file_start()) && metrics.empty()) return true;
  frames_.clear();
  append_header_if_new_file(sys::realtime_ns());
  append_snapshots(SnapshotReason::exit, metrics);
  (void)append_frame(frames_, static_cast<std::uint16_t>(FrameType::end), 0,
                     end_payload(how, sys::realtime_ns()));
  if (const int err = files_.append(frames_, now_ns_, mono_ns_); err != 0) {
    disk_failed(err);
    return false;
  }
  bytes_written_.fetch_add(frames_.size(), std::memory_order_relaxed);
  return true;
}

void Flusher::add_frame(FrameType type, std::vector<std::byte> payload) {
  extra_frames_.emplace_back(type, std::move(payload));
}

Flusher::~Flusher() { stop(); }

void Flusher::start() {
  // Config::when_full = wait: producers may wait for this flusher's archive from now on (not
  // only once the thread runs: the first records may come before it does).
  allows_waits_ = settings_.archive;
  ring::allow_waits(allows_waits_);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "bbx-flusher");
    run();
  });
}

void Flusher::run() {
  if (settings_.archive && !settings_.recover_ring_dir.empty()) {
    for (const Recovered& r : recover_dead_rings(settings_.recover_ring_dir, settings_.files.app,
                                                 settings_.files, settings_.zstd_level)) {
      if (r.outcome == Recovered::Outcome::recovered) {
        rings_recovered_.fetch_add(1, std::memory_order_relaxed);
        records_recovered_.fetch_add(r.records, std::memory_order_relaxed);
      }
      if (r.outcome == Recovered::Outcome::recovered || r.outcome == Recovered::Outcome::failed) {
        sys::say(r.describe());
      }
    }
  }
  ring::never_wait_on_this_thread();  // producers may wait for this thread, never it for itself
  const bool ticking = settings_.each_tick && settings_.tick_ns > 0;
  std::int64_t last_write = sys::monotonic_ns();
  std::int64_t last_tick = last_write;
  std::int64_t last_metrics = last_write;
  while (true) {
    ring::arm_wake();
    std::uint64_t ticket;
    bool stopping, durable;
    {
      std::lock_guard lock(mutex_);
      ticket = requested_;
      stopping = stopping_;
      durable = durable_requested_ > completed_;
    }
    // After the ticket: a flush() that follows a raise() of the dump signal sees its dump,
    // and one that follows a dlopen() sees the module in the crash handler's map.
    const unsigned asked = settings_.each_pass ? settings_.each_pass() : 0;
    const bool flush_requested = ticket != completed_;  // only this thread writes completed_
    const bool write_now = flush_requested || (asked & FlusherSettings::kPassWriteNow) != 0;
    const std::int64_t now = sys::monotonic_ns();
    const bool interval_up = now - last_write >= settings_.interval_ns;
    bool ok = false;
    // The metrics' history: a snapshot every metrics interval, written with the next chunk.
    if (settings_.archive && settings_.metrics_interval_ns > 0 &&
        now - last_metrics >= settings_.metrics_interval_ns) {
      if (std::vector<std::byte> m = metrics_payload(SnapshotReason::interval); !m.empty()) {
        add_frame(FrameType::metrics, std::move(m));
      }
      last_metrics = now;
    }
    if (settings_.archive) {
      // A producer waiting for the archive (Config::when_full = wait) gets it now, not when
      // the chunk has grown or the interval is up.
      ok = pass(write_now || stopping || interval_up || ring::producers_waiting(),
                write_now || stopping);
      if ((asked & FlusherSettings::kPassRotate) != 0 && !stopping) {
        if (const int err = rotate_file(); err != 0) {
          disk_failed(err);
          ok = false;
        }
        encoder_.forget_file_sites();
      }
      if (telemetry_ != nullptr) {
        record_into(telemetry_->pass_ns, static_cast<std::uint64_t>(
                                             std::max<std::int64_t>(sys::monotonic_ns() - now, 0)));
      }
      // On disk, not only in the page cache: the last file at stop, and the current one when
      // a flush asked for it. A write-back error (EIO) is a failed write.
      if (stopping && ok && settings_.end_frame_at_stop) ok = write_end(EndHow::exited);
      // Rotated files are synced in the background; a flush() or the stop waits for them,
      // so that what was written before it is on disk by then.
      if (stopping || durable || flush_requested) {
        const int err = stopping  ? close_and_settle()
                        : durable ? settle_and_sync()
                                  : files_.settle();
        if (err != 0) {
          disk_failed(err);
          ok = false;
        }
      }
    }
    if (telemetry_ != nullptr) publish_telemetry();
    if (settings_.after_pass) settings_.after_pass(ok || !settings_.archive);
    if (write_now || stopping || interval_up) last_write = now;
    if (ticking && (write_now || stopping || now - last_tick >= settings_.tick_ns)) {
      settings_.each_tick(stopping);
      last_tick = now;
    }
    {
      std::lock_guard lock(mutex_);
      completed_ = ticket;
      last_ok_ = ok;
      current_file_ = files_.current_path();
      if (stopping) stopped_ = true;
    }
    // After the last pass: a producer waiting now would wait for nothing.
    if (stopping) ring::allow_waits(false);
    done_.notify_all();
    if (stopping) return;
    const std::int64_t mono = sys::monotonic_ns();
    std::int64_t sleep = settings_.interval_ns - (mono - last_write);
    if (ticking) sleep = std::min(sleep, settings_.tick_ns - (mono - last_tick));
    if (breaker_.open) sleep = std::min(sleep, breaker_.next_probe_ns - mono);
    ring::sleep_until_woken(std::max<std::int64_t>(sleep, 1'000'000));
  }
}

bool Flusher::flush(bool durable) {
  std::unique_lock lock(mutex_);
  if (stopped_ || !thread_.joinable()) return false;
  const std::uint64_t ticket = ++requested_;
  if (durable) durable_requested_ = ticket;
  ring::wake_flusher_now();
  done_.wait(lock, [&] { return completed_ >= ticket || stopped_; });
  return completed_ >= ticket && last_ok_;
}

void Flusher::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  ring::wake_flusher_now();
  if (thread_.joinable()) thread_.join();
}

bool Flusher::archive_complete() const {
  std::lock_guard lock(mutex_);
  return !settings_.archive || (stopped_ && last_ok_);
}

std::string Flusher::current_file() const {
  std::lock_guard lock(mutex_);
  return current_file_;
}

void Flusher::add_stats(Stats& s) const noexcept {
  if (!settings_.archive) return;
  s.archive_enabled = true;
  s.records_archived = records_archived_.load(std::memory_order_relaxed);
  s.archive_bytes_written = bytes_written_.load(std::memory_order_relaxed);
  s.chunks_written = chunks_written_.load(std::memory_order_relaxed);
  s.archive_files_created = files_created_.load(std::memory_order_relaxed);
  s.archive_files_deleted = files_deleted_.load(std::memory_order_relaxed);
  s.archive_files_deleted_unshipped = unshipped_files_deleted_.load(std::memory_order_relaxed);
  s.archive_bytes_deleted_unshipped = unshipped_bytes_deleted_.load(std::memory_order_relaxed);
  s.lost_overwritten = lost_overwritten_.load(std::memory_order_relaxed);
  s.lost_disk_error = lost_disk_.load(std::memory_order_relaxed);
  s.lost_corrupt = lost_corrupt_.load(std::memory_order_relaxed);
  s.write_errors = write_errors_.load(std::memory_order_relaxed);
  s.breaker_trips = breaker_trips_.load(std::memory_order_relaxed);
  s.breaker_open = breaker_open_.load(std::memory_order_relaxed);
  s.last_write_errno = last_errno_.load(std::memory_order_relaxed);
  s.rings_recovered = rings_recovered_.load(std::memory_order_relaxed);
  s.records_recovered = records_recovered_.load(std::memory_order_relaxed);
}

void Flusher::refresh_sites() {
  const ring::RingHeader& h = ring_.header();
  const ring::Layout& layout = ring_.layout();
  const std::uint64_t used = std::min<std::uint64_t>(
      h.site_table_used.load(std::memory_order_acquire), layout.site_table_bytes);
  while (site_parsed_ < used) {
    const std::byte* entry = ring_.base() + layout.site_table_offset + site_parsed_;
    ring::SiteInfo info;
    std::string error;
    const std::size_t n = ring::parse_site_entry(entry, used - site_parsed_, info, error);
    if (n == 0) {  // cannot happen in our own ring; records of later sites count as corrupt
      site_parsed_ = used;
      return;
    }
    const auto id = static_cast<std::uint32_t>(site_parsed_ / 8 + 1);
    encoder_.define_site(id, info.level, info.types);
    if (telemetry_ != nullptr) learn_site_for_telemetry(id, info);
    if (id >= site_entries_.size()) site_entries_.resize(id + 1024);
    site_entries_[id].assign(entry, entry + n);
    site_parsed_ += n;
  }
}

void Flusher::note_loss(std::uint32_t slot, std::uint32_t tid, LossCause cause,
                        std::uint64_t records, std::uint64_t bytes) {
  if (records == 0 && bytes == 0) return;
  if (BBX_PROBE_ENABLED(loss)) {
    // USDT blackbox:loss (docs/tracing.md): cause (LossCause), records, bytes, slot, thread.
    const std::uint64_t why = static_cast<std::uint64_t>(cause);
    const std::uint64_t in_slot = slot, thread = tid;
    BBX_PROBE(loss, why, records, bytes, in_slot, thread);
  }
  LossEntry& e = pending_losses_[{slot, tid, cause}];
  if (e.records == 0 && e.bytes == 0) e.time_ns = now_ns_;
  e.slot = slot;
  e.tid = tid;
  e.cause = static_cast<std::uint8_t>(cause);
  e.records += records;
  e.bytes += bytes;
  auto& counter = cause == LossCause::disk_error ? lost_disk_
                  : cause == LossCause::corrupt  ? lost_corrupt_
                                                 : lost_overwritten_;
  // The producers count these in the ring header (Stats has them from there).
  if (cause != LossCause::no_slot && cause != LossCause::after_exit &&
      cause != LossCause::site_table_full) {
    counter.fetch_add(records, std::memory_order_relaxed);
    if (slot < slot_lost_.size()) slot_lost_[slot] += records;
  }
}

void Flusher::learn_site_for_telemetry(std::uint32_t id, const ring::SiteInfo& info) {
  if (id >= site_tag_.size()) {
    site_tag_.resize(id + 1024, 0);
    site_level_.resize(id + 1024, 0);
    site_counts_.resize(id + 1024);
  }
  site_ids_.push_back(id);
  // Tags in the order they were first seen; past the area's table, the last entry counts
  // every other tag.
  std::string_view tag = info.tag;
  if (tag.size() >= ring::kTelemetryTagBytes) tag = tag.substr(0, ring::kTelemetryTagBytes - 1);
  auto it = tag_index_.find(tag);
  if (it == tag_index_.end()) {
    if (tag_names_.size() + 1 >= ring::kTelemetryTags) {
      if (tag_names_.size() + 1 == ring::kTelemetryTags) {
        tag_names_.emplace_back("(other tags)");
        tag_counts_.emplace_back();
      }
      it = tag_index_.emplace(std::string(tag), ring::kTelemetryTags - 1).first;
    } else {
      it = tag_index_.emplace(std::string(tag), tag_names_.size()).first;
      tag_names_.emplace_back(tag);
      tag_counts_.emplace_back();
    }
  }
  site_tag_[id] = it->second;
  site_level_[id] = static_cast<std::uint8_t>(
      std::min<unsigned>(static_cast<unsigned>(info.level), ring::kTelemetryLevels - 1));
}

void Flusher::publish_telemetry() noexcept {
  ring::Telemetry& t = *telemetry_;
  constexpr auto relaxed = std::memory_order_relaxed;
  // New tags: the name before the count that makes it visible (release).
  for (; tags_published_ < tag_names_.size(); ++tags_published_) {
    char* name = t.tags[tags_published_].name;
    std::memset(name, 0, ring::kTelemetryTagBytes);
    std::memcpy(
        name, tag_names_[tags_published_].data(),
        std::min<std::size_t>(tag_names_[tags_published_].size(), ring::kTelemetryTagBytes - 1));
    t.tag_count.store(tags_published_ + 1, std::memory_order_release);
  }
  // The sites' counts, summed per tag and per level.
  for (Counts& c : tag_counts_) c = {};
  for (Counts& c : level_counts_) c = {};
  for (const std::uint32_t id : site_ids_) {
    const Counts& s = site_counts_[id];
    Counts& tag = tag_counts_[site_tag_[id]];
    Counts& level = level_counts_[site_level_[id]];
    tag.records += s.records;
    tag.bytes += s.bytes;
    level.records += s.records;
    level.bytes += s.bytes;
  }
  for (std::uint32_t i = 0; i < tag_counts_.size(); ++i) {
    t.tags[i].counts.records.store(tag_counts_[i].records, relaxed);
    t.tags[i].counts.bytes.store(tag_counts_[i].bytes, relaxed);
  }
  for (std::uint32_t i = 0; i < ring::kTelemetryLevels; ++i) {
    t.levels[i].records.store(level_counts_[i].records, relaxed);
    t.levels[i].bytes.store(level_counts_[i].bytes, relaxed);
  }
  ring::SlotTelemetry* slots = ring_.slot_telemetry();
  for (std::uint32_t i = 0; i < slot_counts_.size(); ++i) {
    if (slot_counts_[i].records == slots[i].records.load(relaxed) &&
        slot_lost_[i] == slots[i].lost.load(relaxed)) {
      continue;  // most slots, most passes
    }
    slots[i].records.store(slot_counts_[i].records, relaxed);
    slots[i].bytes.store(slot_counts_[i].bytes, relaxed);
    slots[i].lost.store(slot_lost_[i], relaxed);
    slots[i].last_ns.store(slot_last_ns_[i], relaxed);
  }
  t.passes.store(passes_, relaxed);
  t.archived_through_ns.store(archived_through_ns_, relaxed);
  t.records_read.store(records_read_, relaxed);
  t.bytes_read.store(bytes_read_, relaxed);
  t.records_archived.store(records_archived_.load(relaxed), relaxed);
  t.bytes_written.store(bytes_written_.load(relaxed), relaxed);
  t.files_created.store(files_created_.load(relaxed), relaxed);
  t.files_deleted.store(files_deleted_.load(relaxed), relaxed);
  t.files_deleted_unshipped.store(unshipped_files_deleted_.load(relaxed), relaxed);
  t.bytes_deleted_unshipped.store(unshipped_bytes_deleted_.load(relaxed), relaxed);
  t.lost_overwritten.store(lost_overwritten_.load(relaxed), relaxed);
  t.lost_disk_error.store(lost_disk_.load(relaxed), relaxed);
  t.lost_corrupt.store(lost_corrupt_.load(relaxed), relaxed);
  t.write_errors.store(write_errors_.load(relaxed), relaxed);
  t.breaker_trips.store(breaker_trips_.load(relaxed), relaxed);
  t.breaker_open.store(breaker_open_.load(relaxed) ? 1 : 0, relaxed);
  t.last_errno.store(last_errno_.load(relaxed), relaxed);
  const ring::WaitTotals waits = ring::wait_totals();
  t.producer_waits.store(waits.waits, relaxed);
  t.producer_wait_ns.store(waits.wait_ns, relaxed);
  t.producer_gave_up.store(waits.gave_up, relaxed);
  t.updated_ns.store(sys::realtime_ns(), relaxed);
}

// What drain_slot() reports goes to the encoder in batches of consecutive records of one
// thread (cheaper per record than one call each), and losses to the pending markers.
struct Flusher::Visitor {
  static constexpr std::uint32_t kBatch = 256;
  Visitor(Flusher& flusher, std::uint32_t slot_index) : f(flusher), slot(slot_index) {}
  Flusher& f;
  std::uint32_t slot;
  std::uint32_t tid = 0;
  const char* thread_name = nullptr;
  std::uint64_t first_seq = 0;
  std::uint32_t count = 0;
  // Telemetry: what this slot's drain read.
  std::uint64_t read_records = 0, read_bytes = 0;
  const std::byte* last_record = nullptr;  // in the slot's copy, valid until the next slot
  ChunkEncoder::BatchRecord batch[kBatch];

  void flush_batch() {
    if (count == 0) return;
    const std::uint32_t refused =
        f.encoder_.add_batch(slot, tid, thread_name, first_seq, batch, count);
    if (refused != 0) [[unlikely]] {
      f.note_loss(slot, tid, LossCause::corrupt, refused, 0);
    }
    count = 0;
    // Chunks are cut after the pass has copied every ring (compressing takes a while and
    // the producers keep writing meanwhile); only a pass with an unusual amount of work
    // cuts one in the middle, to bound the flusher's memory.
    if (f.encoder_.body_bytes() >= kMaxChunkBodyBytes) [[unlikely]] {
      f.encoder_.end_run();
      f.write_out(f.now_ns_);
    }
  }
  bool record(const std::byte* bytes, std::uint32_t size, std::uint64_t position,
              const ring::SlotCursor& c) {
    // Recovery: records before this were archived by the process that wrote them.
    if (!f.skip_before_.empty() && position < f.skip_before_[slot]) return true;
    std::uint32_t site;
    std::memcpy(&site, bytes + 4, sizeof site);
    if (!f.encoder_.knows_site(site & detail::kSiteIdMask)) [[unlikely]] {
      f.refresh_sites();  // defined since we last looked (or bad: add_batch refuses it)
    }
    if (f.telemetry_ != nullptr) {
      f.count_record(site & detail::kSiteIdMask, size);
      ++read_records;
      read_bytes += size;
      last_record = bytes;
    }
    if (count == kBatch || (count != 0 && (c.tid != tid || c.next_seq != first_seq + count))) {
      flush_batch();
    }
    if (count == 0) {
      tid = c.tid;
      thread_name = c.thread_name;
      first_seq = c.next_seq;
    }
    batch[count++] = {bytes, size};
    return true;  // refusals are counted when the batch is encoded
  }
  void lost(std::uint32_t lost_tid, std::uint64_t records, std::uint64_t bytes,
            std::uint64_t corrupt_bytes) {
    const LossCause cause = corrupt_bytes != 0   ? LossCause::corrupt
                            : f.lost_while_open_ ? LossCause::disk_error
                                                 : LossCause::overwritten;
    f.note_loss(slot, lost_tid, cause, records, bytes);
  }
};

bool Flusher::pass(bool write_small, bool probe) {
  // Wall time for what is written (loss markers, file names), monotonic time for every
  // timer (the breaker's backoff, the chunk's age, the file's age): a clock step must not
  // stop the probes or rush a rotation.
  now_ns_ = sys::realtime_ns();
  mono_ns_ = sys::monotonic_ns();
  // A rotated file whose background sync failed: a failed write, as if it were this one.
  if (const int err = files_.retired_error(); err != 0) disk_failed(err);
  // An open breaker: leave the records in the rings until the backoff is over (or flush()).
  if (!breaker_.may_write(mono_ns_) && !probe) return false;
  const ring::ClockSnapshot clock = ring::read_clock(ring_.header().clock);
  clock_ = TickConverter::from(clock.base_ticks, clock.base_ns,
                               clock.valid ? clock.ref_ticks : clock.base_ticks,
                               clock.valid ? clock.ref_ns : clock.base_ns);
  encoder_.set_clock(clock_);
  ++passes_;
  lost_while_open_ = breaker_.open;
  failed_this_pass_ = false;
  // A chunk's age counts from the pass that put its first record (or loss) in: an early
  // pass (the thread's first, a spurious wake) must not write a small chunk by itself.
  const bool chunk_was_empty =
      encoder_.record_count() == 0 && pending_losses_.empty() && extra_frames_.empty();
  const ring::Layout& layout = ring_.layout();
  bool ok = true;
  for (std::uint32_t i = 0; i < layout.slot_count; ++i) {
    ring::SlotHeader& slot = ring_.slot_header(i);
    if (slot.write_pos.load(std::memory_order_relaxed) <= cursors_[i].read_pos) continue;
    Visitor visitor{*this, i};
    ring::drain_slot(slot, ring_.slot_data(i), layout, cursors_[i], copy_, visitor);
    visitor.flush_batch();
    if (visitor.read_records != 0 && telemetry_ != nullptr) {
      slot_counts_[i].records += visitor.read_records;
      slot_counts_[i].bytes += visitor.read_bytes;
      std::uint64_t last_ticks;
      std::memcpy(&last_ticks, visitor.last_record + 8, sizeof last_ticks);
      slot_last_ns_[i] = clock_(last_ticks);
      records_read_ += visitor.read_records;
      bytes_read_ += visitor.read_bytes;
    }
    encoder_.end_run();  // the run's strings point into copy_, which the next slot reuses
    slot.drained_pos.store(cursors_[i].read_pos, std::memory_order_relaxed);
    staged_[i] = {cursors_[i].read_pos, cursors_[i].next_seq};
    if (failed_this_pass_) {  // leave the other slots' records in their rings
      ok = false;
      break;
    }
  }
  // Records the producers could not even put into a ring.
  const ring::RingHeader& h = ring_.header();
  const std::uint64_t no_slot = h.dropped_no_slot.load(std::memory_order_relaxed);
  const std::uint64_t after_exit = h.dropped_after_exit.load(std::memory_order_relaxed);
  note_loss(~0u, 0, LossCause::no_slot, no_slot - seen_no_slot_, 0);
  note_loss(~0u, 0, LossCause::after_exit, after_exit - seen_after_exit_, 0);
  const std::uint64_t site_full = h.dropped_site_table_full.load(std::memory_order_relaxed);
  note_loss(~0u, 0, LossCause::site_table_full, site_full - seen_site_full_, 0);
  seen_no_slot_ = no_slot;
  seen_after_exit_ = after_exit;
  seen_site_full_ = site_full;

  const bool have_work =
      encoder_.record_count() != 0 || !pending_losses_.empty() || !extra_frames_.empty();
  if (have_work && chunk_was_empty) chunk_started_mono_ns_ = mono_ns_;
  // An open breaker whose backoff is over (we got past may_write()): this pass is the probe.
  const bool chunk_due = write_small || breaker_.open || encoder_.body_bytes() >= kChunkBodyBytes ||
                         mono_ns_ - chunk_started_mono_ns_ >= settings_.interval_ns;
  if (have_work && chunk_due) ok = write_out(now_ns_) && ok;
  // Everything logged before this pass began was read in it: if nothing read is waiting to
  // be written, the archive is complete up to then.
  if (ok && !breaker_.open && encoder_.record_count() == 0 && pending_losses_.empty()) {
    archived_through_ns_ = now_ns_;
  }
  return ok && !breaker_.open;
}

void Flusher::header_payload(std::int64_t now_ns, std::vector<std::byte>& out) const {
  const ring::RingHeader& h = ring_.header();
  const ring::ClockSnapshot clock = ring::read_clock(h.clock);
  const std::string_view app(h.app, strnlen(h.app, sizeof h.app));
  const std::string_view host(h.host, strnlen(h.host, sizeof h.host));
  const std::string_view version = BLACKBOX_VERSION_STRING;
  FileHeader fh{};
  fh.version = kArchiveVersion;
  fh.fixed_bytes = sizeof fh;
  fh.pid = h.pid;
  fh.file_index = files_.files_created();
  fh.process_start_ns = h.start_time_ns;
  fh.file_start_ns = now_ns;
  fh.clock_base_ticks = clock.base_ticks;
  fh.clock_base_ns = clock.base_ns;
  fh.clock_ref_ticks = clock.ref_ticks;
  fh.clock_ref_ns = clock.ref_ns;
  fh.app_len = static_cast<std::uint16_t>(app.size());
  fh.host_len = static_cast<std::uint16_t>(host.size());
  fh.library_version_len = static_cast<std::uint16_t>(version.size());
  out.clear();
  append_bytes(out, fh);
  append_text(out, app);
  append_text(out, host);
  append_text(out, version);
}

void Flusher::disk_failed(int err) {
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  last_errno_.store(err, std::memory_order_relaxed);
  if (!breaker_.open) {
    breaker_trips_.fetch_add(1, std::memory_order_relaxed);
    sys::say(files_.last_error() +
             "; archiving paused (the rings keep recording; what they cannot keep is counted and "
             "written as a loss marker when writing works again)");
    lost_disk_at_trip_ = lost_disk_.load(std::memory_order_relaxed);
  }
  breaker_.failed(mono_ns_);
  breaker_open_.store(true, std::memory_order_relaxed);
  ring::mute_wakes(true);  // filling rings cannot help now; we probe on our own schedule
  if (allows_waits_) ring::allow_waits(false);  // nor can waiting: full rings are overwritten
}

bool Flusher::write_out(std::int64_t now_ns) {
  if (failed_this_pass_) {
    // The disk failed earlier in this pass: what was drained since is lost, counted.
    for (const auto& t : encoder_.threads()) {
      note_loss(t.slot, t.tid, LossCause::disk_error, t.records, 0);
    }
    encoder_.discard();
    return false;
  }
  frames_.clear();
  if (files_.should_rotate(mono_ns_, encoder_.body_bytes() / 4 + 4096)) {
    const int err = rotate_file();
    encoder_.forget_file_sites();
    if (err != 0) {
      disk_failed(err);
      return false;
    }
  }
  append_header_if_new_file(now_ns);
  for (const auto& [type, payload] : extra_frames_) {
    (void)append_frame(frames_, static_cast<std::uint16_t>(type), 0, payload);
  }
  // Loss markers first: the probe that closes the breaker carries them.
  if (!pending_losses_.empty()) {
    payload_.clear();
    append_bytes(payload_, static_cast<std::uint32_t>(pending_losses_.size()));
    for (const auto& [key, entry] : pending_losses_) {
      append_bytes(payload_, entry);
    }
    (void)append_frame(frames_, static_cast<std::uint16_t>(FrameType::losses), 0, payload_);
  }
  const std::uint32_t records = encoder_.record_count();
  const auto threads = encoder_.threads();  // copy: finish() resets it
  if (records != 0) {
    // Sites the chunk uses that this file has not defined yet.
    const std::vector<std::uint32_t> sites = encoder_.take_undefined_sites();
    if (!sites.empty()) {
      payload_.clear();
      for (const std::uint32_t id : sites) {
        append_bytes(payload_, id);
        append_text(payload_,
                    std::string_view(reinterpret_cast<const char*>(site_entries_[id].data()),
                                     site_entries_[id].size()));
      }
      (void)append_frame(frames_, static_cast<std::uint16_t>(FrameType::sites), 0, payload_);
    }
    // The chunk's filter frame first: a reader skipping chunks reads it during its scan.
    payload_.clear();
    encoder_.write_filter(payload_);
    (void)append_frame(frames_, static_cast<std::uint16_t>(FrameType::chunk_filter), 0, payload_);
    payload_.clear();
    if (!encoder_.finish(settings_.zstd_level, payload_) ||
        !append_frame(frames_, static_cast<std::uint16_t>(FrameType::chunk), 0, payload_)) {
      for (const auto& t : threads) note_loss(t.slot, t.tid, LossCause::corrupt, t.records, 0);
      return false;
    }
  }
  const std::uint32_t files_before = files_.files_created();
  const std::int64_t write_start = sys::monotonic_ns();
  const int err = files_.append(frames_, now_ns, mono_ns_);
  if (telemetry_ != nullptr) {
    record_into(telemetry_->write_ns, static_cast<std::uint64_t>(std::max<std::int64_t>(
                                          sys::monotonic_ns() - write_start, 0)));
  }
  files_created_.store(files_.files_created(), std::memory_order_relaxed);
  if (files_.files_created() != files_before) {
    // Counters only (read by stats() and the telemetry): relaxed.
    const Retention deleted = files_.apply_retention(now_ns);
    files_deleted_.fetch_add(deleted.files, std::memory_order_relaxed);
    unshipped_files_deleted_.fetch_add(deleted.unshipped_files, std::memory_order_relaxed);
    unshipped_bytes_deleted_.fetch_add(deleted.unshipped_bytes, std::memory_order_relaxed);
  }
  if (err != 0) {
    disk_failed(err);
    failed_this_pass_ = true;
    encoder_.forget_file_sites();
    for (const auto& t : threads) note_loss(t.slot, t.tid, LossCause::disk_error, t.records, 0);
    return false;
  }
  if (breaker_.open) {
    sys::say("archive writes work again; " +
             std::to_string(lost_disk_.load(std::memory_order_relaxed) - lost_disk_at_trip_) +
             " records could not be kept meanwhile (written as a loss marker)");
  }
  breaker_.succeeded();
  breaker_open_.store(false, std::memory_order_relaxed);
  ring::mute_wakes(false);
  if (allows_waits_) ring::allow_waits(true);
  lost_while_open_ = false;
  pending_losses_.clear();
  extra_frames_.clear();
  // Everything drained so far is in the file now (a chunk cut mid-slot holds more, which
  // the next write records).
  for (std::uint32_t i = 0; i < staged_.size(); ++i) {
    ring::SlotHeader& slot = ring_.slot_header(i);
    if (staged_[i].first == slot.archived_pos.load(std::memory_order_relaxed)) continue;
    slot.archived_seq.store(staged_[i].second, std::memory_order_relaxed);
    // Release: our copy of these ring bytes happened before; pairs with the acquire of a
    // producer that waits for this position before overwriting them (ring/full_wait.hpp).
    slot.archived_pos.store(staged_[i].first, std::memory_order_release);
  }
  records_archived_.fetch_add(records, std::memory_order_relaxed);
  bytes_written_.fetch_add(frames_.size(), std::memory_order_relaxed);
  if (records != 0) chunks_written_.fetch_add(1, std::memory_order_relaxed);
  chunk_started_mono_ns_ = mono_ns_;
  return true;
}

}  // namespace blackbox::archive
