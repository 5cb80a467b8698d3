// A mapped ring (format/ring_layout.hpp): created as a file in the ring directory, or anonymous
// when the directory cannot be used. Owns the writer-side operations that are not on the hot path:
// defining sites, claiming and releasing slots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "blackbox/config.hpp"
#include "blackbox/detail/site.hpp"
#include "format/ring_layout.hpp"

namespace blackbox::ring {

class RingMemory {
 public:
  // Creates `<dir>/<app>.<pid>.bbr` (mode 0600, O_EXCL|O_NOFOLLOW|O_CLOEXEC). A file of
  // the same name, left by an earlier process with the same pid, is renamed aside, not
  // deleted. Returns null and sets `error` if the directory cannot be used.
  [[nodiscard]] static RingMemory* create_file(const Config& config, const std::string& app,
                                               std::string* error);
  // Reads the ring file a dead process left into private memory, for recovery (pread, not
  // a shared mapping: a file truncated meanwhile is an error, not a SIGBUS). Holds its lock
  // until destroyed. Null with `error` set (what is wrong, without the path) and `why`
  // saying which case it is: its process still holds it (alive), it belongs to another
  // user (not_ours: never touched), or it is not a usable ring file (unusable).
  enum class DeadRing { opened, alive, not_ours, unusable };
  [[nodiscard]] static RingMemory* open_dead(const std::string& path, std::string* error,
                                             DeadRing* why);
  // After a recovery that could not write everything: stores the slot headers (how far the
  // archive got, SlotHeader::archived_pos) back into the file, so the next recovery does not
  // write those records again. False if not a dead ring's image or the write failed.
  bool write_back_slot_headers() noexcept;
  // Same layout in private anonymous memory: this process can read it, nobody else can.
  [[nodiscard]] static RingMemory* create_anonymous(const Config& config, const std::string& app,
                                                    std::string* error);
  ~RingMemory();  // unmaps; the logger never destroys the ring it writes to
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  [[nodiscard]] RingHeader& header() const noexcept;
  [[nodiscard]] SlotHeader& slot_header(std::uint32_t slot) const noexcept;
  [[nodiscard]] std::byte* slot_data(std::uint32_t slot) const noexcept;
  // The control region (format version 2; null in a version 1 image): control requests
  // from outside, the telemetry, and the per-slot telemetry (slot_count of them).
  [[nodiscard]] ControlArea* control() const noexcept;
  [[nodiscard]] Telemetry* telemetry() const noexcept;
  [[nodiscard]] MinuteLosses* minute_losses() const noexcept;  // null as telemetry()
  [[nodiscard]] SlotTelemetry* slot_telemetry() const noexcept;
  // The metrics region (format version 3; null in an older image): its header, and stripe
  // `stripe`'s cells (0: shared; slot s's is s + 1).
  [[nodiscard]] MetricsHeader* metrics() const noexcept;
  [[nodiscard]] std::uint64_t* metric_stripe(std::uint32_t stripe) const noexcept;
  // Reserves the metric table's memory up to entry `index`. False if it cannot (the entry
  // is then not written). The caller serialises calls (the metric registry's mutex).
  [[nodiscard]] bool reserve_metric_entry(std::uint32_t index);
  [[nodiscard]] const Layout& layout() const noexcept { return layout_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::byte* base() const noexcept { return base_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint32_t max_string_bytes() const noexcept { return max_string_; }

  // Appends a site definition and returns its id, or 0 if the site table is full (counted
  // in the header). The caller serialises calls (registry mutex).
  [[nodiscard]] std::uint32_t define_site(const detail::StaticSite& site,
                                          const detail::ArgType* types, std::uint32_t arg_count);

  // Claims a slot for thread `tid`: one whose thread exited (its memory is in use already)
  // if it has room, else a never-used one (reserving its memory), else any exited one (see
  // ring_memory.cpp). Returns the slot index, or -1 with `error` set. Thread-safe,
  // lock-free.
  [[nodiscard]] int claim_slot(std::uint32_t tid, std::string* error);
  // Gives a slot back when its thread exits. Thread-safe.
  void release_slot(std::uint32_t slot, std::uint64_t next_seq) noexcept;

  // Whether a drainer (this process's flusher) reads the rings and keeps
  // SlotHeader::drained_pos: claim_slot() then reuses only slots it has read. Set before
  // threads log (core, at start).
  void set_drained(bool drained) noexcept { drained_ = drained; }

  void set_state(ProcessState state) noexcept;
  void remove_file() noexcept;  // unlinks the file (the mapping stays valid)
  // A forked child closes its copy of the parent's descriptor (which holds the parent's
  // lock on the file), so the file is seen as dead when the parent dies.
  void forget_file() noexcept;

 private:
  RingMemory(std::byte* base, std::size_t size, int fd, std::string path, const Layout& layout,
             std::uint32_t max_string);
  // `host`: "" for gethostname().
  void write_header(const std::string& app, std::uint32_t max_string, const std::string& host);
  [[nodiscard]] bool reserve(std::uint64_t offset, std::uint64_t bytes, std::string* error);

  std::byte* base_;
  std::size_t size_;
  int fd_;  // -1 for anonymous memory
  std::string path_;
  Layout layout_;
  std::uint32_t max_string_;
  std::uint64_t site_reserved_ = 0;          // bytes of the site table already reserved on disk
  std::uint64_t metric_table_reserved_ = 0;  // and of the metric table
  bool image_ = false;                       // open_dead(): private memory read from the file
  bool drained_ = false;                     // set_drained()
};

// The ring this process writes to (null before the logger starts, and in a forked child
// until its first record). Published by core once the ring is complete (release), read by
// readers of the own process (RingReader::open_self, acquire). Thread-safe.
void set_own_ring(RingMemory* ring) noexcept;
[[nodiscard]] RingMemory* own_ring() noexcept;

// The app name as it appears in file names: [A-Za-z0-9._-], at most 63 bytes.
[[nodiscard]] std::string sanitize_app(const std::string& app);

}  // namespace blackbox::ring
