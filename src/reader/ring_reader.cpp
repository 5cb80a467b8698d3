// Reading a ring while its writers run (or after they died), without ever stopping them.
//
// Per slot, the reader keeps a read position R and the next expected sequence number:
//   1. W = write_pos (acquire). Bytes before window_start(W) are gone: skip R forward.
//   2. Copy [R, W) out of the shared ring (racy_copy: the writer may be overwriting it).
//   3. Acquire fence, then W2 = write_pos (relaxed). Bytes of the copy before
//      window_start(W2) may have been overwritten while we copied: discard them.
//   4. Parse what is left from the private copy; block headers carry sequence numbers, so
//      every gap (overwritten, discarded or damaged) is counted as exact lost records.
//
// Memory ordering: step 1 pairs with the producer's release store in commit() (record
// bytes visible before their position); steps 2-3 are the seqlock reader protocol paired
// with the claim in reserve_slow() (store of the block start, release fence, then the
// overwriting stores). Site table: acquire load of site_table_used pairs with the release
// in define_site(). Header: acquire fence after checking the magic pairs with the release
// fence before the creator wrote it.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "blackbox/reader.hpp"
#include "core/logger.hpp"
#include "reader/decode.hpp"
#include "ring/clock.hpp"
#include "ring/layout.hpp"

namespace blackbox {
namespace {

using ring::BlockHeader;
using ring::RingHeader;
using ring::SlotHeader;

// Copies bytes the writer may be overwriting at this moment. Whatever a torn copy holds is
// discarded by the caller's re-check of the write position (step 3), so the race is benign
// by construction; it is invisible to ThreadSanitizer on purpose (like the kernel's
// data_race() around seqlock reads). Volatile word loads: no memcpy the sanitizer would
// intercept, and the compiler cannot merge or re-read them.
__attribute__((no_sanitize("thread"))) void racy_copy(std::byte* dst, const std::byte* src,
                                                      std::size_t bytes) {
  auto* d = reinterpret_cast<std::uint64_t*>(dst);
  const auto* s = reinterpret_cast<const volatile std::uint64_t*>(src);
  for (std::size_t i = 0; i < bytes / 8; ++i) d[i] = s[i];
}

std::uint64_t load_acquire(const std::atomic<std::uint64_t>& a) {
  return a.load(std::memory_order_acquire);
}

bool is_power_of_two(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

struct Cursor {
  std::uint64_t read_pos = 0;
  std::uint64_t next_seq = 0;
  bool started = false;   // a block header has been seen
  bool in_block = false;  // read_pos is inside a block whose header we read
  std::uint32_t tid = 0;
  std::string thread_name;
};

}  // namespace

struct RingReader::Impl {
  std::string path;
  const std::byte* base = nullptr;
  std::size_t size = 0;
  bool owns_mapping = false;
  ring::Layout layout{};
  std::uint64_t site_parsed = 0;  // bytes of the site table parsed so far
  std::unordered_map<std::uint32_t, std::shared_ptr<const reader::SiteInfo>> sites;
  std::vector<Cursor> cursors;
  std::map<std::pair<std::uint32_t, std::uint32_t>, Loss> losses;
  std::vector<std::byte> copy;
  std::vector<std::byte> image;  // open_bytes(): the reader owns the bytes
  ring::ClockSnapshot clock;

  ~Impl() {
    if (owns_mapping && base != nullptr) munmap(const_cast<std::byte*>(base), size);
  }

  const RingHeader& header() const { return *reinterpret_cast<const RingHeader*>(base); }
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
    if (file_size < ring::kPageBytes) {
      error = "too small to be a ring file (" + std::to_string(file_size) + " bytes)";
      return false;
    }
    const RingHeader& h = header();
    if (std::memcmp(h.magic, ring::kMagic, sizeof ring::kMagic) != 0) {
      error = "not a blackbox ring file (bad magic)";
      return false;
    }
    std::atomic_thread_fence(std::memory_order_acquire);  // invariant 5
    if (h.endian != ring::kEndianMark) {
      error = "written on a machine of the other byte order";
      return false;
    }
    if (h.version != ring::kFormatVersion) {
      error = "ring format version " + std::to_string(h.version) + " (this reader knows " +
              std::to_string(ring::kFormatVersion) + ")";
      return false;
    }
    if (h.header_bytes != sizeof(RingHeader) || h.slot_header_bytes != sizeof(SlotHeader)) {
      error = "unexpected header sizes";
      return false;
    }
    if (!is_power_of_two(h.ring_bytes) || h.ring_bytes > (1ull << 30) ||
        !is_power_of_two(h.block_bytes) || h.block_bytes < 4096 ||
        h.block_bytes > h.ring_bytes / 4 || h.slot_count == 0 || h.slot_count > 65536 ||
        h.site_table_bytes > (256ull << 20)) {
      error = "ring geometry out of range";
      return false;
    }
    const ring::Layout expect =
        ring::compute_layout(h.ring_bytes, h.block_bytes, h.slot_count, h.site_table_bytes);
    if (expect.site_table_offset != h.site_table_offset ||
        expect.site_table_bytes != h.site_table_bytes ||
        expect.slot_headers_offset != h.slot_headers_offset ||
        expect.slot_data_offset != h.slot_data_offset || expect.file_bytes != h.file_bytes) {
      error = "region table does not match the ring geometry";
      return false;
    }
    if (expect.file_bytes > file_size) {
      error = "file is " + std::to_string(file_size) + " bytes but its header says " +
              std::to_string(expect.file_bytes) + " (truncated?)";
      return false;
    }
    layout = expect;
    cursors.assign(layout.slot_count, Cursor{});
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
  r.level = info->level;
  r.tag = info->tag;
  r.file = info->file;
  r.function = info->function;
  r.message_template = info->message_template;
  r.line = info->line;
  return reader::decode_args(*info, p + offset, record_size - offset, r);
}

std::size_t RingReader::Impl::read_slot(std::uint32_t index,
                                        const std::function<void(const Record&)>& sink) {
  Cursor& c = cursors[index];
  const std::uint64_t ring_bytes = layout.ring_bytes;
  const std::uint64_t block = layout.block_bytes;
  // Step 1. Acquire: pairs with the producer's release in commit()/reserve_slow().
  const std::uint64_t w = load_acquire(slot(index).write_pos) & ~std::uint64_t{7};
  // Nothing new. (read_pos can be past w only after skipping a damaged block's tail.)
  if (w <= c.read_pos) return 0;
  std::uint64_t r = c.read_pos;
  const std::uint64_t lo = ring::window_start(w, ring_bytes, block);
  if (r < lo) {
    if (c.started) loss(index, c.tid).bytes += lo - r;
    r = lo;
    c.in_block = false;
  }
  // Step 2: copy [r, w), at most one wrap.
  const std::uint64_t n = w - r;
  const std::byte* data = slot_data(index);
  const std::uint64_t first = std::min(n, ring_bytes - (r & (ring_bytes - 1)));
  racy_copy(copy.data(), data + (r & (ring_bytes - 1)), first);
  racy_copy(copy.data() + first, data, n - first);
  // Step 3. Pairs with the release fence after the claim in reserve_slow().
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t w2 = slot(index).write_pos.load(std::memory_order_relaxed);
  std::uint64_t p = r;
  const std::uint64_t lo2 = ring::window_start(w2, ring_bytes, block);
  if (p < lo2) {
    if (c.started) loss(index, c.tid).bytes += std::min(lo2, w) - p;
    p = std::min(lo2, w);
    c.in_block = false;
  }
  // Step 4: parse the private copy.
  auto at = [&](std::uint64_t pos) { return copy.data() + (pos - r); };
  // Damage: give up on the rest of the block (the next block header's sequence number
  // then counts the records skipped) and account the bytes.
  auto skip_damaged = [&](std::uint64_t block_end) {
    const std::uint64_t skipped = std::min(block_end, w) - p;
    Loss& l = loss(index, c.tid);
    l.bytes += skipped;
    l.corrupt_bytes += skipped;
    p = block_end;
    c.in_block = false;
  };
  std::size_t emitted = 0;
  Record record;
  while (p < w) {
    const std::uint64_t in_block = p & (block - 1);
    const std::uint64_t block_end = p - in_block + block;
    if (in_block == 0 || !c.in_block) {
      if (in_block != 0) {  // mid-block with no header seen: skip to the next block
        loss(index, c.tid).bytes += std::min(block_end, w) - p;
        p = block_end;
        continue;
      }
      BlockHeader bh;
      if (p + sizeof bh > w) break;  // header not complete yet (cannot happen once published)
      std::memcpy(&bh, at(p), sizeof bh);
      if (bh.position != p) {  // damaged: the sequence check at the next good block counts it
        skip_damaged(block_end);
        continue;
      }
      if (bh.first_seq > c.next_seq || !c.started) {
        const std::uint64_t missed = bh.first_seq - (c.started ? c.next_seq : 0);
        if (missed > 0) loss(index, bh.tid).records += missed;
      }
      c.next_seq = bh.first_seq;
      c.started = true;
      c.in_block = true;
      c.tid = bh.tid;
      c.thread_name.assign(bh.thread_name, strnlen(bh.thread_name, sizeof bh.thread_name));
      p += sizeof bh;
      continue;
    }
    if (p + 4 > w) break;
    std::uint32_t record_size;
    std::memcpy(&record_size, at(p), sizeof record_size);
    if (record_size == 0) {  // padding marker: the rest of the block is unused
      p = block_end;
      c.in_block = false;
      continue;
    }
    if (record_size % 8 != 0 || record_size < sizeof(detail::RecordHeader) ||
        p + record_size > block_end || p + record_size > w) {
      skip_damaged(block_end);
      continue;
    }
    if (decode(at(p), record_size, record)) {
      record.tid = c.tid;
      record.thread_name = c.thread_name;
      record.slot = index;
      record.position = p;
      record.sequence = c.next_seq;
      sink(record);
      ++emitted;
    } else {
      Loss& l = loss(index, c.tid);
      l.records += 1;
      l.bytes += record_size;
      l.corrupt_bytes += record_size;
    }
    ++c.next_seq;
    p += record_size;
  }
  c.read_pos = p;
  if ((c.read_pos & (block - 1)) == 0) c.in_block = false;
  return emitted;
}

RingReader::RingReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RingReader::~RingReader() = default;

std::unique_ptr<RingReader> RingReader::open(const std::string& path, std::string* error) {
  std::string why;
  auto fail = [&](const std::string& msg) -> std::unique_ptr<RingReader> {
    if (error != nullptr) *error = path + ": " + msg;
    return nullptr;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail("not a regular file");
  }
  const auto file_size = static_cast<std::size_t>(st.st_size);
  if (file_size < ring::kPageBytes) {
    close(fd);
    return fail("too small to be a ring file (" + std::to_string(file_size) + " bytes)");
  }
  void* base = mmap(nullptr, file_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);  // the mapping keeps the file
  if (base == MAP_FAILED) return fail(std::string("cannot map: ") + std::strerror(errno));
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->base = static_cast<const std::byte*>(base);
  impl->size = file_size;
  impl->owns_mapping = true;
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
  ring::RingMemory* ring = core::current_ring();
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
  std::size_t total = 0;
  for (std::uint32_t i = 0; i < impl_->layout.slot_count; ++i) {
    total += impl_->read_slot(i, sink);
  }
  return total;
}

std::vector<Record> RingReader::read_sorted() {
  std::vector<Record> out;
  poll([&out](const Record& r) { out.push_back(r); });
  std::stable_sort(out.begin(), out.end(),
                   [](const Record& a, const Record& b) { return a.time_ns < b.time_ns; });
  return out;
}

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
  info.app.assign(h.app, strnlen(h.app, sizeof h.app));
  info.pid = h.pid;
  info.state = static_cast<RingState>(h.state.load(std::memory_order_acquire));
  info.process_alive = h.pid > 0 && (kill(h.pid, 0) == 0 || errno == EPERM);
  info.start_time_ns = h.start_time_ns;
  info.format_version = h.version;
  info.slot_count = impl_->layout.slot_count;
  info.ring_bytes = impl_->layout.ring_bytes;
  info.block_bytes = impl_->layout.block_bytes;
  info.threads_attached = h.threads_attached.load(std::memory_order_relaxed);
  info.dropped_no_slot = h.dropped_no_slot.load(std::memory_order_relaxed);
  info.dropped_after_exit = h.dropped_after_exit.load(std::memory_order_relaxed);
  info.sites_dropped = h.sites_dropped.load(std::memory_order_relaxed);
  return info;
}

}  // namespace blackbox
