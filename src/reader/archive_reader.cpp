// Reading archive files: frames (frame.hpp) -> file header, site definitions, loss markers
// and chunks (format/archive_format.hpp) -> records (format/chunk_decoder.hpp, decode.hpp). Nothing
// read from a file is trusted: every length, count and id is checked before use; a bad frame is
// reported as a damaged range and reading goes on with the next good one.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "blackbox/reader.hpp"
#include "blackbox/text.hpp"
#include "format/archive_format.hpp"
#include "format/chunk_decoder.hpp"
#include "format/frame.hpp"
#include "format/metrics_frame.hpp"
#include "format/ring_layout.hpp"
#include "format/telemetry_frame.hpp"
#include "reader/crash_report.hpp"
#include "reader/decode.hpp"
#include "sys/calendar.hpp"
#include "sys/dirs.hpp"

namespace blackbox {
namespace {

// Chunk bodies larger than this are refused (the writer cuts them at 256 KiB plus one
// record; this bounds what a damaged or hostile index can make us allocate).
constexpr std::uint32_t kMaxBodyBytes = 64u << 20;

struct FileState {
  std::string path;
  std::uint64_t consumed = 0;  // bytes scanned and accounted for
  ArchiveFileInfo info;
  std::unordered_map<std::uint32_t, std::shared_ptr<const reader::SiteInfo>> sites;
  std::unordered_map<std::uint32_t, bool> site_verdicts;  // the filter's answer, per site
  std::shared_ptr<const std::vector<std::byte>> image;    // open_bytes(): the whole file
};

// A chunk frame scan() indexed and nobody has read yet.
struct PendingChunk {
  std::int64_t min_ns;   // from its index: no record in it is earlier
  std::size_t file;      // into Impl::files
  std::uint64_t offset;  // of the frame in the file
  std::uint64_t bytes;   // of the whole frame
  // Earliest first; ties in file order.
  friend bool operator>(const PendingChunk& a, const PendingChunk& b) {
    return std::tie(a.min_ns, a.file, a.offset) > std::tie(b.min_ns, b.file, b.offset);
  }
};

// Byte buffers whose resize() leaves the new bytes uninitialised: they are read or
// decompressed into at once, and zeroing them first cost as much as checksumming them.
template <typename T>
struct NoInit : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInit<U>;
  };
  NoInit() = default;
  template <typename U>
  explicit NoInit(const NoInit<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
};
template <typename T>
using Buffer = std::vector<T, NoInit<T>>;

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Whether some process still holds the writer's lock on the file.
bool writer_alive(const std::string& path) {
  std::string why;
  const int fd = sys::open_regular(path, false, why);
  if (fd < 0) return false;
  const bool locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return locked;
}

// Reads [offset, end of file) of `path`. False with `error` set if it cannot.
bool read_tail(const std::string& path, std::uint64_t offset, Buffer<std::byte>& out,
               std::string& error) {
  out.clear();
  std::string why;
  const int fd = sys::open_regular(path, false, why);
  if (fd < 0) {
    error = path + ": " + why;
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    error = path + ": " + sys::error_text(errno);
    return false;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > offset) {
    out.resize(size - offset);
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n =
          pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // shrank meanwhile: read what is there
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
  }
  close(fd);
  return true;
}

template <typename T>
bool take(std::span<const std::byte>& in, T& value) {
  if (in.size() < sizeof value) return false;
  std::memcpy(&value, in.data(), sizeof value);
  in = in.subspan(sizeof value);
  return true;
}

// A chunk_filter frame's contents (format.hpp), pointing into the scanned bytes. It applies
// to the chunk frame that starts where it ends, and to no other.
struct ChunkFilterView {
  std::uint64_t chunk_offset = 0;    // in the scanned bytes: where its chunk frame starts
  std::span<const std::byte> sites;  // u32 site ids
  std::span<const std::byte> bloom;  // bloom_bits / 8 bytes
  std::uint32_t bloom_bits = 0;
  std::uint8_t probes = 0;
};

bool parse_chunk_filter(std::span<const std::byte> in, ChunkFilterView& out) {
  archive::ChunkFilter head;
  if (!take(in, head) || head.fixed_bytes < sizeof head ||
      in.size() + sizeof head < head.fixed_bytes) {
    return false;
  }
  in = in.subspan(head.fixed_bytes - sizeof head);
  if (in.size() / 4 < head.site_count) return false;
  out.sites = in.first(std::size_t{head.site_count} * 4);
  in = in.subspan(out.sites.size());
  if (head.bloom_bits % 8 != 0 || head.bloom_bits > archive::kMaxBloomBits ||
      in.size() != head.bloom_bits / 8 || (head.bloom_bits != 0 && head.probes == 0) ||
      head.probes > 32) {
    return false;
  }
  out.bloom = in;
  out.bloom_bits = head.bloom_bits;
  out.probes = head.probes;
  return true;
}

}  // namespace

using RecordSink = ArchiveReader::RecordSink;

struct ArchiveReader::Impl {
  std::string root;  // the file or directory opened
  bool is_dir = false;
  std::vector<FileState> files;
  std::vector<Loss> losses;
  std::vector<DamagedRange> damage;
  Counters counters;
  ReadFilter filter;
  std::vector<PendingChunk> pending;  // a min-heap by (min_ns, file, offset)
  Buffer<std::byte> buffer;
  Buffer<std::byte> window;  // skim_file()'s view of the file
  archive::ChunkDecoder decoder;
  // The record handed to sinks; they may take it (and leave null or a spent one, whose
  // storage is reused).
  std::unique_ptr<Record> record;
  bool keep_metrics = false;
  std::vector<ArchivedMetrics> metrics;

  void add_damage(const FileState& f, std::uint64_t offset, std::uint64_t length,
                  std::string reason) {
    damage.push_back({f.path, offset, length, std::move(reason)});
  }

  void discover() {
    if (!is_dir) return;
    DIR* dir = opendir(root.c_str());
    if (dir == nullptr) return;
    std::vector<std::string> names;
    while (const dirent* e = readdir(dir)) {
      const std::string name = e->d_name;
      if (ends_with(name, ".bbx")) names.push_back(name);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const std::string path = root + "/" + name;
      const bool known = std::any_of(files.begin(), files.end(),
                                     [&](const FileState& f) { return f.path == path; });
      if (!known) files.push_back(FileState{path, 0, {}, {}, {}, nullptr});
    }
  }

  std::size_t scan_file(std::size_t file_index);
  void read_header(FileState& f, std::span<const std::byte> payload);
  void read_sites(FileState& f, const archive::FrameView& frame, std::uint64_t base);
  void read_losses(FileState& f, const archive::FrameView& frame, std::uint64_t base);
  // `frame`'s payload: the whole of it, or (from a skim) its index and thread ids.
  bool index_chunk(std::size_t file_index, const archive::FrameView& frame, std::uint64_t base,
                   std::uint64_t frame_bytes, const ChunkFilterView* chunk_filter);
  std::size_t take_frame(std::size_t file_index, const archive::FrameView& frame,
                         std::uint64_t base, std::uint64_t frame_bytes,
                         std::optional<ChunkFilterView>& chunk_filter);
  std::size_t skim_file(std::size_t file_index, std::optional<ChunkFilterView>& chunk_filter);
  bool chunk_filter_allows(FileState& f, const ChunkFilterView& cf);
  std::size_t read_pending(const PendingChunk& chunk, const RecordSink& sink);
  std::size_t read_chunk(FileState& f, const archive::FrameView& frame, std::uint64_t base,
                         const RecordSink& sink);
  bool site_passes(FileState& f, std::uint32_t id, const reader::SiteInfo& site) {
    const auto [it, fresh] = f.site_verdicts.try_emplace(id, false);
    if (fresh) it->second = reader::site_passes(filter, site);
    return it->second;
  }
};

// Parses a chunk frame's index and thread list; false if they are malformed.
bool parse_chunk_index(std::span<const std::byte>& in, archive::ChunkIndex& index,
                       std::span<const std::byte>& tids) {
  // Version 1's index (96 bytes) has no index_check: it reads as 0.
  index = archive::ChunkIndex{};
  std::uint32_t fixed = 0;
  if (in.size() >= sizeof fixed) std::memcpy(&fixed, in.data(), sizeof fixed);
  if (fixed < archive::kChunkIndexV1Bytes || in.size() < fixed) return false;
  std::memcpy(&index, in.data(), std::min<std::size_t>(fixed, sizeof index));
  in = in.subspan(fixed);
  if (in.size() / 4 < index.tid_count) return false;
  tids = in.first(std::size_t{index.tid_count} * 4);
  in = in.subspan(tids.size());
  return true;
}

// What a chunk's filter frame rules out: every site it uses fails the filter, or the trace
// looked for is not in its Bloom filter ("absent" is certain; "present" is ~1% wrong).
bool ArchiveReader::Impl::chunk_filter_allows(FileState& f, const ChunkFilterView& cf) {
  if (filter.trace_id) {
    if (cf.bloom_bits == 0) return false;  // no record of the chunk has a trace
    const auto* bloom = reinterpret_cast<const std::uint8_t*>(cf.bloom.data());
    if (!archive::bloom_may_contain(bloom, cf.bloom_bits, cf.probes,
                                    archive::trace_hash(filter.trace_id->data()))) {
      return false;
    }
  }
  if (!filter.site && filter.with_fields.empty()) return true;
  for (std::size_t i = 0; i < cf.sites.size(); i += 4) {
    std::uint32_t id;
    std::memcpy(&id, cf.sites.data() + i, 4);
    const auto it = f.sites.find(id);
    // An undefined site cannot be ruled out here; reading the chunk reports it.
    if (it == f.sites.end() || site_passes(f, id, *it->second)) return true;
  }
  return false;
}

bool ArchiveReader::Impl::index_chunk(std::size_t file_index, const archive::FrameView& frame,
                                      std::uint64_t base, std::uint64_t frame_bytes,
                                      const ChunkFilterView* chunk_filter) {
  FileState& f = files[file_index];
  const std::uint64_t frame_offset = base + frame.offset;
  std::span<const std::byte> in = frame.payload, tids;
  archive::ChunkIndex index;
  if (!parse_chunk_index(in, index, tids)) {
    add_damage(f, frame_offset, frame_bytes, "bad chunk index");
    return false;
  }
  // What the index can rule out without decompressing: the writer, the time range, the
  // levels present, the threads, the trace ids (a Bloom filter: "absent" is certain).
  if (index.record_count != 0) {
    if (f.info.records == 0 || index.min_ns < f.info.first_ns) f.info.first_ns = index.min_ns;
    if (f.info.records == 0 || index.max_ns > f.info.last_ns) f.info.last_ns = index.max_ns;
    f.info.records += index.record_count;
  }
  bool possible =
      !(f.info.header_ok &&
        !reader::process_passes(filter, f.info.pid, f.info.process_start_ns, f.info.app)) &&
      index.max_ns >= filter.since_ns && index.min_ns < filter.until_ns;
  std::uint64_t at_level = 0;
  for (std::size_t l = static_cast<std::size_t>(filter.min_level); l < 8; ++l) {
    at_level += index.level_counts[l];
  }
  possible = possible && at_level != 0;
  if (possible && !filter.tids.empty()) {
    bool any = false;
    for (std::size_t i = 0; i < index.tid_count && !any; ++i) {
      std::uint32_t tid;
      std::memcpy(&tid, tids.data() + 4 * i, 4);
      any = std::find(filter.tids.begin(), filter.tids.end(), tid) != filter.tids.end();
    }
    possible = any;
  }
  if (possible && filter.trace_id) {
    possible = archive::trace_filter_may_contain(index.trace_filter, filter.trace_id->data());
  }
  if (possible && chunk_filter != nullptr) possible = chunk_filter_allows(f, *chunk_filter);
  if (!possible) {
    ++counters.chunks_skipped;
    return false;
  }
  pending.push_back({index.min_ns, file_index, frame_offset, frame_bytes});
  std::push_heap(pending.begin(), pending.end(), std::greater<>{});
  return true;
}

std::size_t ArchiveReader::Impl::read_pending(const PendingChunk& chunk, const RecordSink& sink) {
  FileState& f = files[chunk.file];
  std::span<const std::byte> bytes;
  if (f.image != nullptr) {
    if (chunk.offset + chunk.bytes > f.image->size()) return 0;  // cannot happen: scanned
    bytes = std::span<const std::byte>(*f.image).subspan(chunk.offset, chunk.bytes);
  } else {
    // Read the frame again (scan() kept no copy): bounded by the frame size, checked again.
    buffer.resize(chunk.bytes);
    std::size_t done = 0;
    std::string why;
    const int fd = sys::open_regular(f.path, false, why);
    while (fd >= 0 && done < buffer.size()) {
      const ssize_t n = pread(fd, buffer.data() + done, buffer.size() - done,
                              static_cast<off_t>(chunk.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    if (fd >= 0) close(fd);
    bytes = std::span<const std::byte>(buffer).first(done);
  }
  archive::FrameScanner scanner(bytes);
  const auto frame = scanner.next();
  if (!frame || frame->offset != 0 ||
      frame->payload.size() + archive::kFrameHeaderBytes != chunk.bytes) {
    // A chunk a skim indexed from its index alone has its body checked only now.
    add_damage(f, chunk.offset, chunk.bytes,
               scanner.damage().empty() ? "chunk changed after it was scanned"
                                        : scanner.damage().front().reason);
    return 0;
  }
  return read_chunk(f, *frame, chunk.offset, sink);
}

void ArchiveReader::Impl::read_header(FileState& f, std::span<const std::byte> payload) {
  archive::FileHeader h;
  if (!take(payload, h) || h.fixed_bytes < sizeof h) return;
  // Fields a later version appended after ours are skipped by fixed_bytes.
  if (payload.size() + sizeof h < h.fixed_bytes) return;
  payload = payload.subspan(h.fixed_bytes - sizeof h);
  const std::size_t text = std::size_t{h.app_len} + h.host_len + h.library_version_len;
  if (payload.size() < text) return;
  const auto* p = reinterpret_cast<const char*>(payload.data());
  ArchiveFileInfo& info = f.info;
  // Escaped: a name in a file reaches terminals (nothing in a file is trusted).
  info.app = text::printable({p, h.app_len});
  info.host = text::printable({p + h.app_len, h.host_len});
  info.library_version.assign(p + h.app_len + h.host_len, h.library_version_len);
  info.pid = h.pid;
  info.file_index = h.file_index;
  info.process_start_ns = h.process_start_ns;
  info.file_start_ns = h.file_start_ns;
  info.format_version = h.version;
  info.header_ok = true;
}

void ArchiveReader::Impl::read_sites(FileState& f, const archive::FrameView& frame,
                                     std::uint64_t base) {
  std::span<const std::byte> in = frame.payload;
  while (!in.empty()) {
    std::uint32_t id;
    std::string error = "truncated site definition";
    auto info = std::make_shared<reader::SiteInfo>();
    std::size_t n = 0;
    if (take(in, id)) n = reader::parse_site_entry(in.data(), in.size(), *info, error);
    if (n == 0 || id == 0) {
      add_damage(f, base + frame.offset, archive::kFrameHeaderBytes + frame.payload.size(),
                 "bad site definition: " + error);
      return;
    }
    f.sites[id] = std::move(info);
    in = in.subspan(n);
  }
}

void ArchiveReader::Impl::read_losses(FileState& f, const archive::FrameView& frame,
                                      std::uint64_t base) {
  std::span<const std::byte> in = frame.payload;
  std::uint32_t count = 0;
  if (!take(in, count) || in.size() / sizeof(archive::LossEntry) < count) {
    add_damage(f, base + frame.offset, archive::kFrameHeaderBytes + frame.payload.size(),
               "bad loss marker");
    return;
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    archive::LossEntry e{};
    (void)take(in, e);  // the count was checked against the payload size above
    Loss loss;
    loss.slot = e.slot;
    loss.tid = e.tid;
    loss.records = e.records;
    loss.bytes = e.bytes;
    loss.cause =
        e.cause >= 1 && e.cause <= 6 ? static_cast<LossCause>(e.cause) : LossCause::overwritten;
    loss.corrupt_bytes = loss.cause == LossCause::corrupt ? e.bytes : 0;
    loss.time_ns = e.time_ns;
    f.info.lost_records += loss.records;
    losses.push_back(loss);
  }
}

std::size_t ArchiveReader::Impl::read_chunk(FileState& f, const archive::FrameView& frame,
                                            std::uint64_t base, const RecordSink& sink) {
  const std::uint64_t frame_offset = base + frame.offset;
  const std::uint64_t frame_bytes = archive::kFrameHeaderBytes + frame.payload.size();
  std::span<const std::byte> in = frame.payload, tids;
  archive::ChunkIndex index;
  if (!parse_chunk_index(in, index, tids)) {
    add_damage(f, frame_offset, frame_bytes, "bad chunk index");
    return 0;
  }
  if (index.body_bytes > kMaxBodyBytes) {
    add_damage(f, frame_offset, frame_bytes, "chunk body larger than any writer makes");
    return 0;
  }
  const std::string unpacked =
      decoder.unpack(index, {reinterpret_cast<const std::uint8_t*>(in.data()), in.size()});
  if (!unpacked.empty()) {
    add_damage(f, frame_offset, frame_bytes, unpacked);
    return 0;
  }
  ++counters.chunks_read;
  std::size_t emitted = 0;
  // Each site once per chunk: its types, and whether the filter wants its records.
  const archive::SiteLookupFn lookup = [&](std::uint32_t id) {
    const auto it = f.sites.find(id);
    if (it == f.sites.end()) return archive::SiteLookup{};
    return archive::SiteLookup{&it->second->types, &it->second, site_passes(f, id, *it->second)};
  };
  archive::RecordFilter by_record;
  by_record.since_ns = filter.since_ns;
  by_record.until_ns = filter.until_ns;
  by_record.tids = filter.tids;
  by_record.trace_id = filter.trace_id ? filter.trace_id->data() : nullptr;
  const std::string error = decoder.decode(
      index.codec, decoder.body(), lookup, by_record, [&](const archive::DecodedRecord& d) {
        if (!record) record = std::make_unique<Record>();
        Record& r = *record;
        const auto& site =
            *static_cast<const std::shared_ptr<const reader::SiteInfo>*>(d.site_user);
        if (r.site_owner != site) {
          r.site_owner = site;
          reader::apply_site(*site, r);
        }
        r.time_ns = d.time_ns;
        r.ticks = 0;
        r.tid = d.tid;
        // Most records are of the thread before: no copy then (a string assign per record
        // was ~60 instructions).
        if (r.thread_name != d.thread_name) r.thread_name.assign(d.thread_name);
        r.has_trace = d.trace != nullptr;
        if (r.has_trace) {
          std::memcpy(r.trace_id.data(), d.trace, 16);
          std::memcpy(r.span_id.data(), d.trace + 16, 8);
        } else {
          r.trace_id = {};
          r.span_id = {};
        }
        r.slot = d.slot;
        r.position = frame_offset;
        r.sequence = d.seq;
        r.pid = f.info.pid;
        r.process_start_ns = f.info.process_start_ns;
        if (!reader::decode_as_filtered(filter, *site, d.args.data(), d.args.size(), r)) return;
        sink(record);
        ++emitted;
      });
  if (!error.empty()) add_damage(f, frame_offset, frame_bytes, "bad chunk body: " + error);
  return emitted;
}

// One intact frame a scan met (`base` + frame.offset: where it starts in the file).
// Returns 1 if it was a chunk that may hold wanted records (now pending), else 0.
std::size_t ArchiveReader::Impl::take_frame(std::size_t file_index, const archive::FrameView& frame,
                                            std::uint64_t base, std::uint64_t frame_bytes,
                                            std::optional<ChunkFilterView>& chunk_filter) {
  FileState& f = files[file_index];
  std::size_t indexed = 0;
  if (chunk_filter && chunk_filter->chunk_offset != base + frame.offset) chunk_filter.reset();
  switch (static_cast<archive::FrameType>(frame.type)) {
    case archive::FrameType::file_header:
      read_header(f, frame.payload);
      break;
    case archive::FrameType::sites:
      read_sites(f, frame, base);
      break;
    case archive::FrameType::losses:
      read_losses(f, frame, base);
      break;
    case archive::FrameType::chunk:
      indexed += index_chunk(file_index, frame, base, frame_bytes,
                             chunk_filter ? &*chunk_filter : nullptr);
      chunk_filter.reset();
      break;
    case archive::FrameType::chunk_filter:
      chunk_filter.emplace();
      if (parse_chunk_filter(frame.payload, *chunk_filter)) {
        chunk_filter->chunk_offset = base + frame.offset + frame_bytes;
      } else {
        chunk_filter.reset();  // its chunk is still read: the index alone decides
        add_damage(f, base + frame.offset, frame_bytes, "bad chunk filter");
      }
      break;
    case archive::FrameType::crash:
      f.info.crash = reader::parse_crash_report(frame.payload);
      if (!f.info.crash) {
        add_damage(f, base + frame.offset, frame_bytes, "bad crash report");
      }
      break;
    case archive::FrameType::end: {
      archive::EndRecord end{};
      std::span<const std::byte> payload = frame.payload;
      if (payload.size() >= sizeof end && take(payload, end) &&
          (end.how == static_cast<std::uint32_t>(archive::EndHow::exited) ||
           end.how == static_cast<std::uint32_t>(archive::EndHow::killed))) {
        f.info.end = end.how == static_cast<std::uint32_t>(archive::EndHow::exited)
                         ? ArchiveFileInfo::End::exited
                         : ArchiveFileInfo::End::killed;
        f.info.end_ns = end.time_ns;
      } else {
        add_damage(f, base + frame.offset, frame_bytes, "bad end frame");
      }
      break;
    }
    case archive::FrameType::telemetry: {
      archive::TelemetrySnapshot snapshot;
      if (archive::decode_telemetry(frame.payload, snapshot)) {
        // Names and specs escaped, as a ring's are (RingReader::telemetry).
        for (auto& tag : snapshot.telemetry.per_tag) tag.tag = text::printable(tag.tag);
        for (auto& th : snapshot.telemetry.threads) th.name = text::printable(th.name);
        snapshot.levels = text::printable(snapshot.levels);
        f.info.telemetry = std::move(snapshot.telemetry);
        f.info.telemetry_ns = snapshot.time_ns;
        f.info.telemetry_levels = std::move(snapshot.levels);
      } else {
        add_damage(f, base + frame.offset, frame_bytes, "bad telemetry frame");
      }
      break;
    }
    case archive::FrameType::metrics: {
      ArchivedMetrics m;
      archive::SnapshotReason reason{};
      if (!archive::decode_metrics(frame.payload, m.snapshot, reason)) {
        add_damage(f, base + frame.offset, frame_bytes, "bad metrics frame");
      } else if (keep_metrics) {
        text::escape_metric_texts(m.snapshot);
        m.app = f.info.app;
        m.host = f.info.host;
        m.pid = f.info.pid;
        m.process_start_ns = f.info.process_start_ns;
        m.reason = static_cast<ArchivedMetrics::Reason>(reason);
        metrics.push_back(std::move(m));
      }
      break;
    }
    default:
      ++counters.unknown_frames;
      break;
  }
  return indexed;
}

// The fast way through a file no one damaged: frame by frame, header first. A chunk frame
// whose index carries its own check (ChunkIndex::index_check) is indexed from its index
// and thread ids alone, without reading or hashing its body, which read_pending() reads
// and checks when (and only if) the chunk is wanted: each body is read once, not twice.
// Other frames are read whole and checked, as the scanner would. Stops (and leaves the
// rest to the scanner, which reports damage and waits for a frame being written) at the
// first frame that is not intact and complete, or whose index has no check or a wrong one;
// a chunk filter frame just before that point is left to the scanner too, with its chunk.
std::size_t ArchiveReader::Impl::skim_file(std::size_t file_index,
                                           std::optional<ChunkFilterView>& chunk_filter) {
  FileState& f = files[file_index];
  std::string why;
  const int fd = sys::open_regular(f.path, false, why);
  if (fd < 0) return 0;  // the scanner says why
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return 0;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // The window: file bytes [window_at, window_at + window.size()).
  constexpr std::size_t kWindow = 16 << 10;
  std::uint64_t window_at = 0;
  window.clear();
  // Makes [at, at + n) readable in the window; false if the file has fewer bytes.
  auto have = [&](std::uint64_t at, std::uint64_t n) {
    if (at >= window_at && at + n <= window_at + window.size()) return true;
    if (at + n > size) return false;
    window.resize(std::max<std::uint64_t>(n, std::min<std::uint64_t>(kWindow, size - at)));
    std::size_t done = 0;
    while (done < window.size()) {
      const ssize_t got =
          pread(fd, window.data() + done, window.size() - done, static_cast<off_t>(at + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    window.resize(done);
    window_at = at;
    return done >= n;
  };
  auto bytes = [&](std::uint64_t at, std::uint64_t n) {
    return std::span<const std::byte>(window).subspan(at - window_at, n);
  };
  std::size_t indexed = 0;
  std::uint64_t pos = f.consumed;
  // A chunk filter frame is taken only with what follows it (its chunk, normally): if the
  // skim stops there, the scanner takes both. Its payload is kept here until then: the
  // window moves on to its chunk.
  bool filter_pending = false;
  std::uint64_t filter_at = 0;
  archive::FrameHeader filter_header;
  std::vector<std::byte> filter_payload;
  auto take_pending_filter = [&] {
    if (!filter_pending) return;
    const archive::FrameView view{0, filter_header.type, filter_header.flags, filter_payload};
    take_frame(file_index, view, filter_at, archive::kFrameHeaderBytes + filter_payload.size(),
               chunk_filter);
    filter_pending = false;
  };
  while (pos < size) {
    if (!have(pos, archive::kFrameHeaderBytes)) break;
    const auto h = archive::read_frame_header(bytes(pos, archive::kFrameHeaderBytes));
    if (!h) break;
    const std::uint64_t frame_bytes = archive::kFrameHeaderBytes + std::uint64_t{h->length};
    const std::uint64_t payload_at = pos + archive::kFrameHeaderBytes;
    if (pos + frame_bytes > size) break;
    archive::FrameView frame{0, h->type, h->flags, {}};
    if (h->type == static_cast<std::uint16_t>(archive::FrameType::chunk)) {
      // The index and its thread ids only, trusted if their own check holds.
      archive::ChunkIndex index{};
      if (h->length < sizeof index || !have(payload_at, sizeof index)) break;
      std::memcpy(&index, bytes(payload_at, sizeof index).data(), sizeof index);
      const std::uint64_t head = std::uint64_t{index.fixed_bytes} + 4u * index.tid_count;
      if (index.fixed_bytes < sizeof index || head > h->length || !have(payload_at, head)) break;
      const std::span<const std::byte> prefix = bytes(payload_at, head);
      if (archive::chunk_index_check(prefix.data(), prefix.data() + index.fixed_bytes,
                                     4u * index.tid_count) != index.index_check) {
        break;
      }
      frame.payload = prefix;
    } else {
      // Read whole (a frame larger than the window gets a window of its size) and checked.
      if (!have(payload_at, h->length)) break;
      frame.payload = bytes(payload_at, h->length);
      if (!archive::payload_intact(*h, frame.payload)) break;
    }
    take_pending_filter();
    if (h->type == static_cast<std::uint16_t>(archive::FrameType::chunk_filter)) {
      filter_pending = true;
      filter_at = pos;
      filter_header = *h;
      filter_payload.assign(frame.payload.begin(), frame.payload.end());
    } else {
      indexed += take_frame(file_index, frame, pos, frame_bytes, chunk_filter);
      f.consumed = pos + frame_bytes;
    }
    pos += frame_bytes;
  }
  close(fd);
  // A filter taken here points into filter_payload; its chunk, if any, was taken here too.
  chunk_filter.reset();
  return indexed;
}

std::size_t ArchiveReader::Impl::scan_file(std::size_t file_index) {
  FileState& f = files[file_index];
  f.info.path = f.path;
  std::optional<ChunkFilterView> chunk_filter;  // the last filter frame, until its chunk
  std::size_t indexed = f.image == nullptr ? skim_file(file_index, chunk_filter) : 0;
  std::string error;
  if (f.image != nullptr) {
    const std::uint64_t from = std::min<std::uint64_t>(f.consumed, f.image->size());
    buffer.assign(f.image->begin() + static_cast<std::ptrdiff_t>(from), f.image->end());
  } else if (!read_tail(f.path, f.consumed, buffer, error)) {
    add_damage(f, f.consumed, 0, "cannot read: " + error);
    return indexed;
  }
  if (buffer.empty()) return indexed;
  const std::uint64_t base = f.consumed;
  archive::FrameScanner scanner(buffer);
  std::uint64_t end_of_frames = 0;
  while (const auto frame = scanner.next()) {
    end_of_frames = frame->offset + archive::kFrameHeaderBytes + frame->payload.size();
    indexed += take_frame(file_index, *frame, base,
                          archive::kFrameHeaderBytes + frame->payload.size(), chunk_filter);
  }
  std::vector<archive::Damage> found = scanner.damage();
  std::uint64_t consumed = buffer.size();
  // A torn tail of a file still being written is a frame in progress, not damage: leave it
  // for the next poll.
  if (!found.empty() && found.back().offset + found.back().length == buffer.size() &&
      found.back().offset >= end_of_frames && found.back().reason.rfind("truncated", 0) == 0 &&
      f.image == nullptr && writer_alive(f.path)) {
    consumed = found.back().offset;
    found.pop_back();
  }
  for (const auto& d : found) add_damage(f, base + d.offset, d.length, d.reason);
  f.consumed = base + consumed;
  return indexed;
}

ArchiveReader::ArchiveReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ArchiveReader::~ArchiveReader() = default;

std::unique_ptr<ArchiveReader> ArchiveReader::open(const std::string& path, std::string* error) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (error != nullptr) *error = path + ": " + sys::error_text(errno);
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->root = path;
  if (S_ISDIR(st.st_mode)) {
    impl->is_dir = true;
    if (access(path.c_str(), R_OK | X_OK) != 0) {
      if (error != nullptr) *error = path + ": " + sys::error_text(errno);
      return nullptr;
    }
  } else if (S_ISREG(st.st_mode)) {
    impl->files.push_back(FileState{path, 0, {}, {}, {}, nullptr});
  } else {
    if (error != nullptr) *error = path + ": not a regular file or a directory (a FIFO, socket or device is never read)";
    return nullptr;
  }
  return std::unique_ptr<ArchiveReader>(new ArchiveReader(std::move(impl)));
}

std::unique_ptr<ArchiveReader> ArchiveReader::open_bytes(std::vector<std::byte> image,
                                                         std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->root = name;
  impl->files.push_back(
      FileState{std::move(name),
                0,
                {},
                {},
                {},
                std::make_shared<const std::vector<std::byte>>(std::move(image))});
  return std::unique_ptr<ArchiveReader>(new ArchiveReader(std::move(impl)));
}

void ArchiveReader::set_filter(ReadFilter filter) {
  impl_->filter = std::move(filter);
  for (FileState& f : impl_->files) f.site_verdicts.clear();
}

void ArchiveReader::set_trace_filter(std::optional<std::array<std::uint8_t, 16>> trace_id) {
  impl_->filter.trace_id = trace_id;
}

std::size_t ArchiveReader::scan() {
  impl_->discover();
  std::size_t indexed = 0;
  for (std::size_t i = 0; i < impl_->files.size(); ++i) indexed += impl_->scan_file(i);
  return indexed;
}

std::optional<std::int64_t> ArchiveReader::next_chunk_time() const {
  if (impl_->pending.empty()) return std::nullopt;
  return impl_->pending.front().min_ns;
}

std::size_t ArchiveReader::read_next_chunk(const RecordSink& sink) {
  auto& pending = impl_->pending;
  if (pending.empty()) return 0;
  std::pop_heap(pending.begin(), pending.end(), std::greater<>{});
  const PendingChunk chunk = pending.back();
  pending.pop_back();
  return impl_->read_pending(chunk, sink);
}

std::size_t ArchiveReader::poll(const std::function<void(const Record&)>& sink) {
  scan();
  // Everything scanned, file by file, each file in its order.
  auto& pending = impl_->pending;
  std::sort(pending.begin(), pending.end(), [](const PendingChunk& a, const PendingChunk& b) {
    return std::tie(a.file, a.offset) < std::tie(b.file, b.offset);
  });
  std::size_t total = 0;
  const RecordSink give = [&sink](std::unique_ptr<Record>& r) { sink(*r); };
  for (const PendingChunk& chunk : pending) total += impl_->read_pending(chunk, give);
  pending.clear();
  return total;
}

std::vector<Record> ArchiveReader::read_sorted() { return reader::read_sorted_by_time(*this); }

std::vector<Loss> ArchiveReader::losses() const { return impl_->losses; }

std::uint64_t ArchiveReader::lost_records() const {
  std::uint64_t n = 0;
  for (const Loss& l : impl_->losses) n += l.records;
  return n;
}

const std::vector<DamagedRange>& ArchiveReader::damage() const { return impl_->damage; }

std::vector<CallSite> ArchiveReader::sites() const {
  std::vector<CallSite> out;
  for (const FileState& f : impl_->files) {
    std::vector<std::pair<std::uint32_t, const reader::SiteInfo*>> by_id;
    for (const auto& [id, site] : f.sites) by_id.emplace_back(id, site.get());
    std::sort(by_id.begin(), by_id.end());
    for (const auto& [id, site] : by_id) {
      CallSite s;
      s.level = site->level;
      s.tag = site->tag;
      s.file = site->file;
      s.function = site->function;
      s.message_template = site->message_template;
      s.line = site->line;
      s.field_names = site->names;
      s.app = f.info.app;
      s.pid = f.info.pid;
      out.push_back(std::move(s));
    }
  }
  return out;
}

void ArchiveReader::keep_metrics(bool keep) { impl_->keep_metrics = keep; }

std::vector<ArchivedMetrics> ArchiveReader::take_metrics() {
  return std::exchange(impl_->metrics, {});
}

std::vector<ArchiveFileInfo> ArchiveReader::files() const {
  std::vector<ArchiveFileInfo> out;
  for (const FileState& f : impl_->files) {
    out.push_back(f.info);
    out.back().path = f.path;
  }
  return out;
}

ArchiveReader::Counters ArchiveReader::counters() const { return impl_->counters; }

}  // namespace blackbox
