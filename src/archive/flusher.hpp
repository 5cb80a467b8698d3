// The flusher: one background thread per process that drains every slot of the ring into
// compressed archive files (docs/architecture.md, "The archive").
//
// It reads the rings exactly like any other reader (format/slot_drain.hpp): producers never
// wait for it and never know it is there, except that once per block a producer whose ring
// is more than a quarter unread rings its doorbell (ring/wake.hpp). A failing disk opens a
// circuit breaker: the flusher stops draining (the rings keep the newest records, the
// oldest are overwritten and counted), probes again after an exponential backoff, and on
// the first write that succeeds writes loss markers for everything it could not keep.
//
// It knows nothing above its layer: what else must happen once per pass (the crash
// handler's module map, a dump the dump signal asked for) and on a shorter tick of its own
// (the console's lines) core hands it as hooks. The thread runs even without an archive
// when a hook needs it (settings.archive false).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "archive/archive_files.hpp"
#include "blackbox/stats.hpp"
#include "format/archive_format.hpp"
#include "format/chunk_encoder.hpp"
#include "format/metrics_frame.hpp"
#include "format/site_entry.hpp"
#include "format/slot_drain.hpp"
#include "format/telemetry_frame.hpp"
#include "ring/ring_memory.hpp"

namespace blackbox::archive {

// The exponential backoff of the circuit breaker. Plain data; the flusher owns it. Times are
// CLOCK_MONOTONIC ns.
struct Breaker {
  static constexpr std::int64_t kFirstBackoffNs = 50'000'000;    // 50 ms
  static constexpr std::int64_t kMaxBackoffNs = 10'000'000'000;  // 10 s
  bool open = false;
  std::int64_t backoff_ns = 0;
  std::int64_t next_probe_ns = 0;
  std::uint64_t trips = 0;
  void failed(std::int64_t now_ns) noexcept {
    if (!open) {
      open = true;
      ++trips;
      backoff_ns = kFirstBackoffNs;
    } else {
      backoff_ns = std::min(backoff_ns * 2, kMaxBackoffNs);
    }
    next_probe_ns = now_ns + backoff_ns;
  }
  void succeeded() noexcept {
    open = false;
    backoff_ns = 0;
  }
  [[nodiscard]] bool may_write(std::int64_t now_ns) const noexcept {
    return !open || now_ns >= next_probe_ns;
  }
};

struct FlusherSettings {
  FileSettings files;
  int zstd_level = 1;
  std::int64_t interval_ns = 1'000'000'000;
  // Before its first pass, the thread recovers the rings dead processes of the same app
  // left in this directory (archive/recovery.hpp). Empty: none.
  std::string recover_ring_dir;
  // Called by the flusher thread at the start of every pass, before the rings are read
  // (core: the dump signal's dumps, the crash handler's module map, control requests from
  // outside), so a flush() that follows a request sees it done. Returns kPass* flags: what
  // this pass must do besides. Empty: nothing.
  static constexpr unsigned kPassWriteNow = 1;  // write even a small chunk (a flush)
  static constexpr unsigned kPassRotate = 2;    // then close the file: the next starts anew
  std::function<unsigned()> each_pass;
  // Called after each pass, with whether it wrote what it drained (core: answers the
  // control requests that asked for the pass). Empty: nothing.
  std::function<void(bool ok)> after_pass;
  // false: no archive files at all; the thread runs only the hooks (the console). flush()
  // then returns false, as it does without a flusher.
  bool archive = true;
  // Called by the flusher thread every tick_ns (sooner on flush() and stop()), after the
  // pass if one was due, with `final` true the last time (core: the console, whose lines
  // have a deadline of their own, shorter than the archive's interval). Empty: nothing.
  std::int64_t tick_ns = 0;
  std::function<void(bool final)> each_tick;
  // At stop, an end frame (EndHow::exited) after the last records, if any file was written:
  // how `logcat runs` tells an exit from a kill. The logger's flusher only (not recovery's).
  bool end_frame_at_stop = false;
  // Publish what the flusher counts into the ring file's telemetry area (format version 2;
  // the logger's own flusher, never recovery's, whose ring is a dead process's).
  bool telemetry = false;
  // The level spec the process runs with, for the telemetry frames (core; under its mutex).
  // Empty: the control area's copy (a dead process's ring).
  std::function<std::string()> levels_text;
  // A snapshot of the application metrics (metrics_frame.hpp) into the archive this often
  // (0: only at rotations, at the end, and in recovery), if the ring has any metric.
  std::int64_t metrics_interval_ns = 0;
};

// An end frame's payload.
[[nodiscard]] std::vector<std::byte> end_payload(EndHow how, std::int64_t time_ns);

class Flusher {
 public:
  Flusher(ring::RingMemory& ring, FlusherSettings settings);
  ~Flusher();  // stop()
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  void start();
  // Waits until everything committed before the call has been written (or could not be:
  // returns false then, e.g. with the breaker open). Probes a tripped breaker at once.
  // `durable`: and fdatasync()ed (a sync error is a failed write).
  bool flush(bool durable = false);
  // A final flush, then the thread ends and the file is closed. Idempotent.
  void stop() noexcept;
  // After stop(): whether the final pass wrote everything it drained and every loss it
  // counted (always true without an archive: there is nothing to be complete).
  [[nodiscard]] bool archive_complete() const;

  void add_stats(Stats& s) const noexcept;

  // Recovery of a dead process's ring (archive/recovery.hpp), instead of start(): drain
  // only what that process had not archived (SlotHeader::archived_pos), with frames of
  // our own (the crash report) after the file header, into a file of its own.
  void resume_from_archived();
  void add_frame(FrameType type, std::vector<std::byte> payload);
  // Appends an end frame to the current file now (nothing if no file is open), after a
  // telemetry frame if the flusher keeps the telemetry.
  bool write_end(EndHow how);
  // A telemetry frame's payload: the ring's telemetry area as it is now (empty for a ring of
  // format version 1).
  [[nodiscard]] std::vector<std::byte> telemetry_payload(SnapshotReason reason);
  // A metrics frame's payload: the ring's application metrics as they are now (empty for a
  // ring before format version 3, or one without a metric).
  [[nodiscard]] std::vector<std::byte> metrics_payload(SnapshotReason reason) const;
  // One pass that writes everything, then closes the file. Returns whether all was written.
  bool drain_once();
  [[nodiscard]] const FlusherSettings& settings() const noexcept { return settings_; }
  [[nodiscard]] std::string current_file() const;

  // Bodies reach this size before a chunk is cut (fewer, better-compressed chunks); a pass
  // also cuts one when the interval is up, on flush() and at stop().
  static constexpr std::size_t kChunkBodyBytes = 256u << 10;
  static constexpr std::size_t kMaxChunkBodyBytes = 4u << 20;

 private:
  struct Visitor;
  void run();
  // One pass over every slot. `write_small`: write the chunk even if it is small; `probe`:
  // try an open breaker now. Returns true if everything drained was written.
  bool pass(bool write_small, bool probe);
  void refresh_sites();
  // A write or sync failed with `err`: counted, said (when the breaker opens), breaker open.
  void disk_failed(int err);
  void note_loss(std::uint32_t slot, std::uint32_t tid, LossCause cause, std::uint64_t records,
                 std::uint64_t bytes);
  // Writes the pending loss markers, undefined sites and the chunk being built.
  bool write_out(std::int64_t now_ns);
  // close_current() and wait for the retired files' syncs; 0 or the first errno.
  int close_and_settle();
  // Wait for the retired files' syncs, then sync the current one; 0 or the first errno.
  int settle_and_sync();
  // Ends the current file: a telemetry frame (when kept), then close (the fdatasync runs in
  // the background: ArchiveFiles::retire_current). Returns 0 or the errno of the failure.
  int rotate_file();
  void append_snapshots(SnapshotReason reason, const std::vector<std::byte>& metrics);
  void append_header_if_new_file(std::int64_t now_ns);
  void header_payload(std::int64_t now_ns, std::vector<std::byte>& out) const;
  // Telemetry (settings_.telemetry): a record of site `id` and `size` bytes was read.
  // Counted per site (one array, one index); summed per tag and level once per pass.
  void count_record(std::uint32_t id, std::uint32_t size) noexcept {
    if (id >= site_counts_.size()) return;
    Counts& c = site_counts_[id];
    ++c.records;
    c.bytes += size;
  }
  void learn_site_for_telemetry(std::uint32_t id, const ring::SiteInfo& info);
  void publish_telemetry() noexcept;

  ring::RingMemory& ring_;
  FlusherSettings settings_;
  ArchiveFiles files_;
  ChunkEncoder encoder_;
  std::vector<ring::SlotCursor> cursors_;
  // Per slot: (position, sequence) drained so far, archived once the next write succeeds.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> staged_;
  std::vector<std::uint64_t> skip_before_;  // recovery: records already archived, per slot
  std::vector<std::pair<FrameType, std::vector<std::byte>>> extra_frames_;
  std::vector<std::byte> copy_;
  std::vector<std::vector<std::byte>> site_entries_;  // raw SiteEntry bytes by site id
  std::uint64_t site_parsed_ = 0;
  std::map<std::tuple<std::uint32_t, std::uint32_t, LossCause>, LossEntry> pending_losses_;
  std::uint64_t seen_no_slot_ = 0, seen_after_exit_ = 0, seen_site_full_ = 0;
  std::vector<std::byte> frames_, payload_;
  Breaker breaker_;
  bool lost_while_open_ = false;         // losses noticed now were caused by the open breaker
  bool allows_waits_ = false;            // the live flusher (run()): it lets producers wait for it
  bool failed_this_pass_ = false;        // a write failed during the current pass
  std::uint64_t lost_disk_at_trip_ = 0;  // lost_disk_ when the breaker last opened
  std::int64_t chunk_started_mono_ns_ = 0;
  std::int64_t now_ns_ = 0;   // wall clock of the current pass: what is written
  std::int64_t mono_ns_ = 0;  // monotonic clock of the current pass: every timer
  TickConverter clock_;       // the ring's ticks to wall-clock ns, as of this pass

  // Telemetry, counted as records are read and published once per pass (publish_telemetry).
  struct Counts {
    std::uint64_t records = 0, bytes = 0;
  };
  ring::Telemetry* telemetry_ = nullptr;  // null: not kept (settings_.telemetry false, v1)
  std::vector<Counts> site_counts_;       // by site id
  std::vector<std::uint32_t> site_ids_;   // the sites learned, in order
  std::vector<std::uint8_t> site_level_;  // by site id: its level (0..5)
  std::vector<std::uint16_t> site_tag_;   // by site id: index into tag_counts_
  std::vector<std::string> tag_names_;
  std::map<std::string, std::uint16_t, std::less<>> tag_index_;
  Counts level_counts_[ring::kTelemetryLevels];
  std::vector<Counts> tag_counts_;
  std::vector<Counts> slot_counts_;
  std::vector<std::uint64_t> slot_lost_;
  std::vector<std::int64_t> slot_last_ns_;
  std::uint32_t tags_published_ = 0;
  std::int64_t archived_through_ns_ = 0;
  std::uint64_t records_read_ = 0, bytes_read_ = 0, passes_ = 0;

  std::thread thread_;
  mutable std::mutex mutex_;  // guards the fields below
  std::condition_variable done_;
  std::uint64_t requested_ = 0, completed_ = 0;
  std::uint64_t durable_requested_ = 0;  // the latest ticket that asked for fdatasync
  bool last_ok_ = true;
  bool stopping_ = false, stopped_ = false;
  std::string current_file_;

  // Counters for stats(): written by the flusher thread, read by anyone (relaxed).
  std::atomic<std::uint64_t> records_archived_{0}, bytes_written_{0}, chunks_written_{0};
  std::atomic<std::uint64_t> files_created_{0}, files_deleted_{0};
  // Deleted by retention although a retention hold kept them (over the ceiling).
  std::atomic<std::uint64_t> unshipped_files_deleted_{0}, unshipped_bytes_deleted_{0};
  std::atomic<std::uint64_t> lost_overwritten_{0}, lost_disk_{0}, lost_corrupt_{0};
  std::atomic<std::uint64_t> write_errors_{0}, breaker_trips_{0};
  std::atomic<int> last_errno_{0};
  std::atomic<bool> breaker_open_{false};
  std::atomic<std::uint64_t> rings_recovered_{0}, records_recovered_{0};
};

}  // namespace blackbox::archive
