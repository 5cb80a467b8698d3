// Creating, mapping and administering a ring (see format/ring_layout.hpp for the format).
//
// Memory ordering:
//  - RingHeader::magic is written last at creation, after a release fence: a reader that
//    checks the magic (after an acquire fence) sees the complete header (invariant 5).
//  - site_table_used: release after an entry is written; readers load it with acquire
//    before reading entries below it.
//  - SlotHeader::state: claimed with an acq_rel CAS (acquire: see the previous owner's
//    next_seq and write_pos; release: publish nothing yet, the tid is separate); given back
//    with a release store after next_seq, so the next owner continues the sequence.
#include "ring/ring_memory.hpp"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "format/ring_image.hpp"
#include "format/ring_validate.hpp"
#include "ring/clock.hpp"
#include "sys/calendar.hpp"
#include "sys/clock.hpp"
#include "sys/dirs.hpp"
#include "sys/sys.hpp"

namespace blackbox::ring {
namespace {

constexpr std::uint64_t kSiteReserveChunk = 64 * 1024;

std::string errno_text(int err) { return sys::error_text(err); }

void copy_cstr(char* dst, std::size_t cap, std::string_view src) {
  const std::size_t n = std::min(cap - 1, src.size());
  std::memcpy(dst, src.data(), n);
  std::memset(dst + n, 0, cap - n);
}

Layout layout_for(const Config& c) {
  return compute_layout(c.ring_bytes, c.block_bytes, c.max_threads, c.site_table_bytes,
                        c.metric_cells);
}

}  // namespace

std::string sanitize_app(const std::string& app) {
  std::string out;
  for (char ch : app) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    out.push_back(ok ? ch : '_');
    if (out.size() == 63) break;
  }
  if (out.empty() || out[0] == '.') out.insert(out.begin(), 'x');
  return out.substr(0, 63);
}

RingMemory::RingMemory(std::byte* base, std::size_t size, int fd, std::string path,
                       const Layout& layout, std::uint32_t max_string)
    : base_(base),
      size_(size),
      fd_(fd),
      path_(std::move(path)),
      layout_(layout),
      max_string_(max_string) {}

RingMemory::~RingMemory() {
  munmap(base_, size_);
  if (fd_ >= 0) close(fd_);
}

// The ring file is made under a temporary name that recovery ignores, locked (checked),
// sized, mapped and given its complete header there, and only then renamed into place: no
// other process ever sees a ring file that is ours but not yet locked (recovery in that
// window would have taken a live ring for a dead one, archived it and removed it).
RingMemory* RingMemory::create_file(const Config& config, const std::string& app,
                                    std::string* error) {
  const Layout layout = layout_for(config);
  auto& sys = sys::calls();
  const int dir_fd = sys::open_private_dir(config.dir, 0700, false, *error);
  if (dir_fd < 0) return nullptr;
  const std::string name = sanitize_app(app) + "." + std::to_string(getpid());
  const std::string final_name = name + ".bbr";
  const std::string temp_name = "." + name + ".new";
  const std::string path = config.dir + "/" + final_name;
  constexpr int kFlags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
  int fd = sys.openat(dir_fd, temp_name.c_str(), kFlags, 0600);
  if (fd < 0 && errno == EEXIST) {  // left by a process with our pid that died creating it
    unlinkat(dir_fd, temp_name.c_str(), 0);
    fd = sys.openat(dir_fd, temp_name.c_str(), kFlags, 0600);
  }
  if (fd < 0) {
    *error = "cannot create ring file " + path + ": " + errno_text(errno);
    close(dir_fd);
    return nullptr;
  }
  RingMemory* ring = nullptr;
  auto fail = [&](const std::string& what, int err) -> RingMemory* {
    *error = what + " " + path + ": " + errno_text(err);
    unlinkat(dir_fd, temp_name.c_str(), 0);
    if (ring != nullptr) {
      delete ring;  // unmaps, closes fd
    } else {
      close(fd);
    }
    close(dir_fd);
    return nullptr;
  };
  // Held for the life of the process (the kernel lets go when it dies, however it dies):
  // how recovery tells a dead process's ring from a live one, whatever became of its pid.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) return fail("cannot lock ring file", errno);
  if (sys.ftruncate(fd, static_cast<off_t>(layout.file_bytes)) != 0) {
    return fail("cannot size ring file", errno);
  }
  // Reserve the header, the control region, the metrics header and shared stripe, and the
  // slot headers now (tmpfs would otherwise SIGBUS on a full disk); the site table, the
  // metric table, and each slot's ring and metrics stripe are reserved as they come into use.
  const std::uint64_t stripe0 =
      layout.metrics_offset + kMetricsHeaderBytes + metrics_table_bytes(layout.metric_cells);
  int err =
      sys.posix_fallocate(fd, 0, static_cast<off_t>(layout.metrics_offset + kMetricsHeaderBytes));
  if (err == 0) {
    err = sys.posix_fallocate(fd, static_cast<off_t>(stripe0),
                              static_cast<off_t>(metrics_stripe_bytes(layout.metric_cells)));
  }
  const int err2 =
      err != 0 ? err
               : sys.posix_fallocate(
                     fd, static_cast<off_t>(layout.slot_headers_offset),
                     static_cast<off_t>(layout.slot_data_offset - layout.slot_headers_offset));
  if (err2 != 0) return fail("cannot reserve space for ring file", err2);
  void* base = sys.mmap(nullptr, layout.file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return fail("cannot map ring file", errno);
  ring = new RingMemory(static_cast<std::byte*>(base), layout.file_bytes, fd, path, layout,
                        config.max_string_bytes);
  std::string reserve_error;
  if (!ring->reserve(layout.site_table_offset, kSiteReserveChunk, &reserve_error)) {
    *error = reserve_error;
    unlinkat(dir_fd, temp_name.c_str(), 0);
    delete ring;
    close(dir_fd);
    return nullptr;
  }
  ring->site_reserved_ = kSiteReserveChunk;
  ring->write_header(app, config.max_string_bytes, config.host);
  // Into place. A file of the final name, left by an earlier process with our pid (pid
  // reuse), is kept under another name, not replaced.
  int moved = renameat2(dir_fd, temp_name.c_str(), dir_fd, final_name.c_str(), RENAME_NOREPLACE);
  if (moved != 0 && errno == EEXIST) {
    const std::string aside = name + ".old-" + std::to_string(sys::realtime_ns()) + ".bbr";
    if (renameat(dir_fd, final_name.c_str(), dir_fd, aside.c_str()) == 0) {
      moved = renameat2(dir_fd, temp_name.c_str(), dir_fd, final_name.c_str(), RENAME_NOREPLACE);
    }
  }
  if (moved != 0) return fail("cannot rename into place ring file", errno);
  close(dir_fd);
  return ring;
}

RingMemory* RingMemory::open_dead(const std::string& path, std::string* error, DeadRing* why) {
  *why = DeadRing::unusable;
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *error = "cannot open: " + errno_text(errno);
    return nullptr;
  }
  auto fail = [&](const std::string& what) -> RingMemory* {
    *error = what;
    close(fd);
    return nullptr;
  };
  struct stat st {};
  if (fstat(fd, &st) != 0) return fail("cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  // Checked on the file we opened (not its name): another user's file in our directory is
  // never ours to archive under our name, nor to delete.
  if (st.st_uid != geteuid()) {
    *why = DeadRing::not_ours;
    return fail("owned by another user (uid " + std::to_string(st.st_uid) + ")");
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) *why = DeadRing::alive;
    return fail(errno == EWOULDBLOCK ? "its process is alive"
                                     : "cannot lock: " + errno_text(errno));
  }
  // The size after the lock: from here on only a process that ignores the lock changes the
  // file, and the image is read with pread(), so even that costs an error, not a SIGBUS.
  if (fstat(fd, &st) != 0) return fail("cannot stat: " + errno_text(errno));
  RingImage image;
  std::string read_error;
  if (!read_ring_image(fd, static_cast<std::size_t>(st.st_size), image, read_error)) {
    return fail(read_error);
  }
  *why = DeadRing::opened;
  const auto& h = *reinterpret_cast<const RingHeader*>(image.base);
  auto* ring = new RingMemory(image.base, image.size, fd, path, image.layout, h.max_string_bytes);
  ring->image_ = true;
  return ring;
}

bool RingMemory::write_back_slot_headers() noexcept {
  if (!image_ || fd_ < 0) return false;
  const std::uint64_t bytes = std::uint64_t{layout_.slot_count} * sizeof(SlotHeader);
  const ssize_t n = pwrite(fd_, base_ + layout_.slot_headers_offset, bytes,
                           static_cast<off_t>(layout_.slot_headers_offset));
  return n == static_cast<ssize_t>(bytes);
}

void RingMemory::forget_file() noexcept {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

RingMemory* RingMemory::create_anonymous(const Config& config, const std::string& app,
                                         std::string* error) {
  const Layout layout = layout_for(config);
  void* base = sys::calls().mmap(nullptr, layout.file_bytes, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    *error = "cannot map anonymous ring: " + errno_text(errno);
    return nullptr;
  }
  auto* ring = new RingMemory(static_cast<std::byte*>(base), layout.file_bytes, -1, "", layout,
                              config.max_string_bytes);
  ring->site_reserved_ = layout.site_table_bytes;
  ring->metric_table_reserved_ = metrics_table_bytes(layout.metric_cells);
  ring->write_header(app, config.max_string_bytes, config.host);
  return ring;
}

void RingMemory::write_header(const std::string& app, std::uint32_t max_string,
                              const std::string& host_name) {
  RingHeader& h = header();
  h.version = kFormatVersion;
  h.header_bytes = sizeof(RingHeader);
  h.endian = kEndianMark;
  h.clock_kind = static_cast<std::uint32_t>(native_clock_kind());
  h.file_bytes = layout_.file_bytes;
  h.control_offset = layout_.control_offset;
  h.control_bytes = layout_.control_bytes;
  h.site_table_offset = layout_.site_table_offset;
  h.site_table_bytes = layout_.site_table_bytes;
  h.slot_headers_offset = layout_.slot_headers_offset;
  h.slot_count = layout_.slot_count;
  h.slot_header_bytes = sizeof(SlotHeader);
  h.slot_data_offset = layout_.slot_data_offset;
  h.ring_bytes = layout_.ring_bytes;
  h.block_bytes = layout_.block_bytes;
  h.max_string_bytes = max_string;
  h.pid = getpid();
  h.metric_cells = layout_.metric_cells;
  h.metrics_offset = layout_.metrics_offset;
  h.metrics_bytes = layout_.metrics_bytes;
  init_metrics_header(base_ + layout_.metrics_offset, layout_.metric_cells, layout_.slot_count);
  h.start_time_ns = sys::realtime_ns();
  copy_cstr(h.app, sizeof h.app, app);
  char host[64] = {};
  if (host_name.empty()) {
    gethostname(host, sizeof host - 1);
  } else {
    copy_cstr(host, sizeof host, host_name);
  }
  copy_cstr(h.host, sizeof h.host, host);
  h.state.store(static_cast<std::uint32_t>(ProcessState::live), std::memory_order_relaxed);
  calibrate_initial(h.clock);
  // Invariant 5: everything above before the magic. Pairs with the reader's acquire fence
  // after it checks the magic.
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(h.magic, kMagic, sizeof kMagic);
}

RingHeader& RingMemory::header() const noexcept { return *reinterpret_cast<RingHeader*>(base_); }

ControlArea* RingMemory::control() const noexcept {
  if (layout_.control_bytes == 0) return nullptr;
  return reinterpret_cast<ControlArea*>(base_ + layout_.control_offset);
}

Telemetry* RingMemory::telemetry() const noexcept {
  if (layout_.control_bytes == 0) return nullptr;
  return reinterpret_cast<Telemetry*>(base_ + layout_.control_offset + kTelemetryOffset);
}

MinuteLosses* RingMemory::minute_losses() const noexcept {
  if (layout_.control_bytes == 0) return nullptr;
  return reinterpret_cast<MinuteLosses*>(base_ + layout_.control_offset + kMinuteLossesOffset);
}

SlotTelemetry* RingMemory::slot_telemetry() const noexcept {
  if (layout_.control_bytes == 0) return nullptr;
  return reinterpret_cast<SlotTelemetry*>(base_ + layout_.control_offset + kSlotTelemetryOffset);
}

MetricsHeader* RingMemory::metrics() const noexcept {
  if (layout_.metrics_bytes == 0) return nullptr;
  return reinterpret_cast<MetricsHeader*>(base_ + layout_.metrics_offset);
}

std::uint64_t* RingMemory::metric_stripe(std::uint32_t stripe) const noexcept {
  if (layout_.metrics_bytes == 0) return nullptr;
  return reinterpret_cast<std::uint64_t*>(base_ + layout_.metrics_offset + kMetricsHeaderBytes +
                                          metrics_table_bytes(layout_.metric_cells) +
                                          stripe * metrics_stripe_bytes(layout_.metric_cells));
}

bool RingMemory::reserve_metric_entry(std::uint32_t index) {
  if (layout_.metrics_bytes == 0 || index >= layout_.metric_cells) return false;
  const std::uint64_t end = std::uint64_t{index + 1} * kMetricEntryBytes;
  const std::uint64_t table = metrics_table_bytes(layout_.metric_cells);
  std::string ignored;
  while (end > metric_table_reserved_) {
    const std::uint64_t chunk = std::min(kSiteReserveChunk, table - metric_table_reserved_);
    if (!reserve(layout_.metrics_offset + kMetricsHeaderBytes + metric_table_reserved_, chunk,
                 &ignored)) {
      return false;
    }
    metric_table_reserved_ += chunk;
  }
  return true;
}

SlotHeader& RingMemory::slot_header(std::uint32_t slot) const noexcept {
  return reinterpret_cast<SlotHeader*>(base_ + layout_.slot_headers_offset)[slot];
}

std::byte* RingMemory::slot_data(std::uint32_t slot) const noexcept {
  return base_ + layout_.slot_data_offset + std::uint64_t{slot} * layout_.ring_bytes;
}

bool RingMemory::reserve(std::uint64_t offset, std::uint64_t bytes, std::string* error) {
  if (fd_ < 0) return true;
  const int err =
      sys::calls().posix_fallocate(fd_, static_cast<off_t>(offset), static_cast<off_t>(bytes));
  if (err == 0) return true;
  *error =
      "cannot reserve " + std::to_string(bytes) + " bytes in " + path_ + ": " + errno_text(err);
  return false;
}

std::uint32_t RingMemory::define_site(const detail::StaticSite& site, const detail::ArgType* types,
                                      std::uint32_t arg_count) {
  RingHeader& h = header();
  const auto clamp16 = [](std::size_t n) {
    return static_cast<std::uint16_t>(std::min<std::size_t>(n, 0xffff));
  };
  const std::string_view tag = site.tag, file = site.file, function = site.function,
                         text = site.message_template;
  SiteEntry e{};
  e.level = static_cast<std::uint8_t>(site.level);
  e.arg_count = static_cast<std::uint8_t>(arg_count);
  e.tag_len = clamp16(tag.size());
  e.line = site.line;
  e.file_len = clamp16(file.size());
  e.function_len = clamp16(function.size());
  e.template_len = static_cast<std::uint32_t>(text.size());
  e.flags = site.printf_format ? kSiteFlagPrintf : 0;
  const std::uint64_t size = detail::align_record(sizeof e + arg_count + e.tag_len + e.file_len +
                                                  e.function_len + e.template_len);
  e.size = static_cast<std::uint32_t>(size);
  const std::uint64_t used = h.site_table_used.load(std::memory_order_relaxed);  // sole writer
  std::string ignored;
  if (used + size > layout_.site_table_bytes) {
    h.sites_dropped.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  while (used + size > site_reserved_) {
    const std::uint64_t chunk =
        std::min(kSiteReserveChunk, layout_.site_table_bytes - site_reserved_);
    if (!reserve(layout_.site_table_offset + site_reserved_, chunk, &ignored)) {
      h.sites_dropped.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    site_reserved_ += chunk;
  }
  std::byte* out = base_ + layout_.site_table_offset + used;
  std::memcpy(out, &e, sizeof e);
  std::byte* p = out + sizeof e;
  if (arg_count != 0) std::memcpy(p, types, arg_count);  // types may be null when empty
  p += arg_count;
  for (std::string_view s : {tag.substr(0, e.tag_len), file.substr(0, e.file_len),
                             function.substr(0, e.function_len), text}) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  std::memset(p, 0, static_cast<std::size_t>(out + size - p));
  // Release: the entry before the new size. Pairs with the reader's acquire load.
  h.site_table_used.store(used + size, std::memory_order_release);
  return static_cast<std::uint32_t>(used / 8 + 1);
}

// Which slot a new thread gets. Reusing an exited thread's slot costs no new memory (its
// ring is mapped already), so threads that come and go keep the memory of the threads alive
// at once, not of every thread that ever logged. But a new owner starts a fresh block, so
// many short-lived threads on one slot lap it quickly: when a drainer (the flusher) reads
// the rings, an exited slot is taken only while the drainer has read all but a quarter of
// it; failing that a never-used slot; and only when there is none of those either, an
// exited slot whose unread records the new owner may overwrite (counted).
int RingMemory::claim_slot(std::uint32_t tid, std::string* error) {
  enum class Pass { exited_with_room, free, exited };
  const std::uint64_t room_mark = layout_.ring_bytes / 4;
  for (const Pass pass : {Pass::exited_with_room, Pass::free, Pass::exited}) {
    const SlotState from = pass == Pass::free ? SlotState::free : SlotState::exited;
    for (std::uint32_t i = 0; i < layout_.slot_count; ++i) {
      SlotHeader& s = slot_header(i);
      auto expected = static_cast<std::uint32_t>(from);
      if (s.state.load(std::memory_order_relaxed) != expected) continue;
      // Relaxed: drained_pos is a hint (format/ring_layout.hpp); a stale value only makes
      // the choice less good, never unsafe.
      if (pass == Pass::exited_with_room && drained_ &&
          s.write_pos.load(std::memory_order_relaxed) -
                  s.drained_pos.load(std::memory_order_relaxed) >
              room_mark) {
        continue;
      }
      // acq_rel: acquire pairs with release_slot()'s release (we continue its sequence).
      if (!s.state.compare_exchange_strong(expected, static_cast<std::uint32_t>(SlotState::owned),
                                           std::memory_order_acq_rel)) {
        continue;
      }
      // A never-used slot: its ring and its metrics stripe get their memory now.
      if (from == SlotState::free &&
          (!reserve(layout_.slot_data_offset + std::uint64_t{i} * layout_.ring_bytes,
                    layout_.ring_bytes, error) ||
           (layout_.metrics_bytes != 0 &&
            !reserve(static_cast<std::uint64_t>(reinterpret_cast<std::byte*>(metric_stripe(i + 1)) -
                                                base_),
                     metrics_stripe_bytes(layout_.metric_cells), error)))) {
        s.state.store(static_cast<std::uint32_t>(SlotState::free), std::memory_order_relaxed);
        return -1;
      }
      // Map the whole ring writable now, in this once-per-slot path, so the producer never
      // takes a page fault on the hot path (a latency tail otherwise, first lap). An exited
      // thread's ring is mapped already. Best effort: kernels before 5.14 lack
      // MADV_POPULATE_WRITE, and nothing breaks.
      if (from == SlotState::free) madvise(slot_data(i), layout_.ring_bytes, MADV_POPULATE_WRITE);
      s.tid.store(tid, std::memory_order_relaxed);
      s.owners.fetch_add(1, std::memory_order_relaxed);
      header().threads_attached.fetch_add(1, std::memory_order_relaxed);
      return static_cast<int>(i);
    }
  }
  *error = "all " + std::to_string(layout_.slot_count) +
           " thread slots are in use (raise Config::max_threads / BBX_MAX_THREADS)";
  return -1;
}

void RingMemory::release_slot(std::uint32_t slot, std::uint64_t next_seq) noexcept {
  SlotHeader& s = slot_header(slot);
  s.next_seq.store(next_seq, std::memory_order_relaxed);
  // Release: next_seq (and our last write position) before the slot can be claimed again.
  s.state.store(static_cast<std::uint32_t>(SlotState::exited), std::memory_order_release);
}

void RingMemory::set_state(ProcessState state) noexcept {
  header().state.store(static_cast<std::uint32_t>(state), std::memory_order_release);
}

void RingMemory::remove_file() noexcept {
  if (!path_.empty()) unlink(path_.c_str());
}

namespace {
// Release/acquire: the ring's header is complete before a reader finds the ring.
std::atomic<RingMemory*> g_own_ring{nullptr};
}  // namespace

void set_own_ring(RingMemory* ring) noexcept { g_own_ring.store(ring, std::memory_order_release); }

RingMemory* own_ring() noexcept { return g_own_ring.load(std::memory_order_acquire); }

}  // namespace blackbox::ring
