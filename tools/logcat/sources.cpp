#include "sources.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace logcat {
namespace {

// Time, then a fixed order for equal times: process, slot, sequence.
bool earlier(const Record& a, const Record& b) {
  return std::tie(a.time_ns, a.pid, a.process_start_ns, a.slot, a.sequence) <
         std::tie(b.time_ns, b.pid, b.process_start_ns, b.slot, b.sequence);
}

}  // namespace

FileKind file_kind(const std::string& path) {
  // Never waits (a FIFO named as an input is "other", refused by the readers with the
  // reason), never follows a link to decide.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return FileKind::other;
  struct stat st {};
  char magic[8] = {};
  ssize_t n = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = pread(fd, magic, sizeof magic, 0);
  ::close(fd);
  if (n == 8 && std::memcmp(magic, "BBXRING", 8) == 0) return FileKind::ring;
  if (n >= 4 && std::memcmp(magic, "BXF1", 4) == 0) return FileKind::archive;
  return FileKind::other;
}

bool is_ring_file(const std::string& path) { return file_kind(path) == FileKind::ring; }

bool Inputs::add_ring(const std::string& path, std::string& error) {
  auto reader = blackbox::RingReader::open(path, &error);
  if (!reader) return false;
  ring_paths_.insert(path);
  const auto& apps = selection_.read.apps;
  if (!apps.empty() && std::find(apps.begin(), apps.end(), reader->info().app) == apps.end()) {
    return true;  // another app's: not an input of this selection
  }
  rings_.push_back(std::move(reader));
  corrupt_reported_.push_back(0);
  return true;
}

bool Inputs::add_archive(const std::string& path, std::string& error) {
  auto reader = blackbox::ArchiveReader::open(path, &error);
  if (!reader) return false;
  reader->set_filter(selection_.read);
  archives_.push_back(std::move(reader));
  damage_reported_.push_back(0);
  return true;
}

bool Inputs::add(const std::string& path, std::string& error, bool must_hold_files) {
  struct stat st {};
  const bool dir = stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (!dir) {
    return file_kind(path) == FileKind::ring ? add_ring(path, error) : add_archive(path, error);
  }
  // A directory: every blackbox file in it, known by its magic, not its name: archives
  // (read, and followed, by one ArchiveReader on the directory: *.bbx), ring files of live
  // and dead processes, dumps, and archives under other names. Each record still shows once.
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::size_t found = 0;
  bool archives_by_name = false;
  for (const std::string& name : names) {
    const std::string file = path + "/" + name;
    const bool bbx = name.size() > 4 && name.compare(name.size() - 4, 4, ".bbx") == 0;
    // Files this user may not read (another user's rings) are passed over quietly.
    if (access(file.c_str(), R_OK) != 0) continue;
    const FileKind kind = file_kind(file);
    if (kind == FileKind::other) continue;
    ++found;
    if (bbx) {
      archives_by_name = true;
      continue;
    }
    std::string why;
    if (!(kind == FileKind::ring ? add_ring(file, why) : add_archive(file, why))) {
      std::fprintf(stderr, "logcat: %s\n", why.c_str());
    }
  }
  if (found == 0 && must_hold_files) {
    error = path + ": no blackbox files in it (archives, ring files or dumps)";
    return false;
  }
  // The directory's *.bbx, also those created later (following, rotation).
  if (archives_by_name || !must_hold_files) return add_archive(path, error);
  return true;
}

Inputs::Batch& Inputs::filling() {
  if (!filling_) {
    if (spent_.empty()) {
      filling_ = std::make_unique<Batch>();
    } else {
      filling_ = std::move(spent_.back());
      spent_.pop_back();
    }
    filling_->used = 0;
  }
  return *filling_;
}

void Inputs::add(const Record& r) {
  Batch& b = filling();
  if (b.used == b.records.size()) b.records.emplace_back();
  if (b.records[b.used]) {
    *b.records[b.used] = r;  // reuses the strings' and vectors' storage
  } else {
    b.records[b.used] = std::make_unique<Record>(r);
  }
  ++b.used;
}

void Inputs::take(std::unique_ptr<Record>& r) {
  Batch& b = filling();
  if (b.used == b.records.size()) b.records.emplace_back();
  // The reader fills the record it gets back (or a new one, if null) next.
  std::swap(b.records[b.used], r);
  ++b.used;
}

void Inputs::seal() {
  if (!filling_) return;
  Batch& b = *filling_;
  b.order.resize(b.used);
  for (std::uint32_t i = 0; i < b.used; ++i) b.order[i] = i;
  const auto by_time = [&b](std::uint32_t x, std::uint32_t y) {
    return earlier(*b.records[x], *b.records[y]);
  };
  // A chunk of one thread's run is in order already: checking is cheaper than sorting.
  if (!std::is_sorted(b.order.begin(), b.order.end(), by_time)) {
    std::stable_sort(b.order.begin(), b.order.end(), by_time);
  }
  b.next = 0;
  if (b.used == 0) {
    spent_.push_back(std::move(filling_));
  } else {
    active_.push_back(std::move(filling_));
  }
}

// Rings are read unfiltered: every record's sequence number matters for de-duplication.
void Inputs::take_ring_record(std::size_t ring, const Record& r) {
  if (rings_.size() > 1) {
    // The same process in two ring files (its ring and a dump of it): each record once. Per
    // process and slot, the runs of sequence numbers each ring file delivered.
    auto& runs = ring_runs_[{r.pid, r.process_start_ns, r.slot}];
    for (const RingRun& run : runs) {
      if (run.ring != ring && r.sequence >= run.first && r.sequence <= run.last) {
        ++duplicates_;
        return;
      }
    }
    const auto own = std::find_if(runs.rbegin(), runs.rend(),
                                  [ring](const RingRun& run) { return run.ring == ring; });
    if (own != runs.rend() && own->last + 1 == r.sequence) {
      own->last = r.sequence;
    } else {
      runs.push_back({ring, r.sequence, r.sequence});
    }
  }
  if (!archives_.empty()) {
    const Key key{r.pid, r.process_start_ns, r.slot};
    ring_first_.try_emplace(key, r.sequence);  // a slot's records arrive in sequence order
    const auto last = archive_last_.find(key);
    if (last != archive_last_.end() && r.sequence <= last->second) {
      ++duplicates_;
      return;
    }
  }
  if (selection_.pass_read_filter(r) && selection_.pass_decoded(r)) add(r);
}

void Inputs::take_archive_record(std::unique_ptr<Record>& record) {
  const Record& r = *record;
  if (!rings_.empty()) {
    const Key key{r.pid, r.process_start_ns, r.slot};
    const auto first = ring_first_.find(key);
    if (first != ring_first_.end() && r.sequence >= first->second) {
      ++duplicates_;
      return;
    }
    auto& last = archive_last_[key];
    last = std::max(last, r.sequence);
  }
  if (selection_.pass_decoded(r)) take(record);
}

// Delivers waiting records earlier than `limit` (all of them if `everything`), in order.
bool Inputs::emit_before(std::int64_t limit, bool everything, const Sink& sink) {
  for (;;) {
    Batch* first = nullptr;
    for (const auto& b : active_) {
      if (first == nullptr || earlier(b->head(), first->head())) first = b.get();
    }
    if (first == nullptr || (!everything && first->head().time_ns >= limit)) return true;
    const bool more = sink(first->head());
    if (++first->next == first->used) {
      const auto it = std::find_if(active_.begin(), active_.end(),
                                   [first](const auto& b) { return b.get() == first; });
      spent_.push_back(std::move(*it));
      active_.erase(it);
    }
    if (!more) return false;
  }
}

void Inputs::poll_rings() {
  for (std::size_t i = 0; i < rings_.size(); ++i) {
    if (!rings_[i]) continue;  // let go (watch_ring_dir)
    rings_[i]->poll([this, i](const Record& r) { take_ring_record(i, r); });
    seal();
  }
}

void Inputs::watch_ring_dir(std::string dir) { watched_dir_ = std::move(dir); }

void Inputs::rescan_ring_dir() {
  if (watched_dir_.empty()) return;
  for (std::size_t i = 0; i < rings_.size(); ++i) {
    // A ring file that is gone was archived whole (removed at a normal exit, or after its
    // recovery): read to its end by the last poll, it is let go, and its mapping with it (an
    // unlinked tmpfs file's pages stay in memory while mapped).
    struct stat st {};
    if (rings_[i] && stat(rings_[i]->info().path.c_str(), &st) != 0 && errno == ENOENT) {
      rings_[i].reset();
    }
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(watched_dir_, ec)) {
    const std::string path = e.path().string();
    if (!path.ends_with(".bbr") || ring_paths_.count(path) != 0) continue;
    // Another user's rings (not readable) are passed over quietly, as at the start.
    if (access(path.c_str(), R_OK) != 0) continue;
    std::string error;
    if (add_ring(path, error) || error.find("No such file") != std::string::npos) continue;
    std::fprintf(stderr, "logcat: %s\n", error.c_str());
    ring_paths_.insert(path);  // said once; not tried again
  }
}

void Inputs::report_damage() {
  for (std::size_t i = 0; i < archives_.size(); ++i) {
    const auto& damage = archives_[i]->damage();
    for (; damage_reported_[i] < damage.size(); ++damage_reported_[i]) {
      const auto& d = damage[damage_reported_[i]];
      std::fprintf(stderr, "logcat: %s: %llu bytes at offset %llu damaged: %s\n", d.file.c_str(),
                   static_cast<unsigned long long>(d.length),
                   static_cast<unsigned long long>(d.offset), d.reason.c_str());
      damaged_ = true;
    }
  }
  for (std::size_t i = 0; i < rings_.size(); ++i) {
    if (!rings_[i]) continue;
    std::uint64_t corrupt = 0;
    for (const auto& loss : rings_[i]->losses()) corrupt += loss.corrupt_bytes;
    if (corrupt > corrupt_reported_[i]) {
      std::fprintf(stderr, "logcat: %s: %llu bytes damaged (records in them are lost)\n",
                   rings_[i]->info().path.c_str(),
                   static_cast<unsigned long long>(corrupt - corrupt_reported_[i]));
      corrupt_reported_[i] = corrupt;
      damaged_ = true;
    }
  }
}

void Inputs::scan() {
  for (auto& archive : archives_) archive->scan();
}

void Inputs::read_unordered(const Sink& sink) {
  if (!rings_.empty()) {
    read_all(sink);
    return;
  }
  bool more = true;
  for (auto& archive : archives_) {
    archive->poll([&](const Record& r) {
      if (more && selection_.pass_decoded(r)) more = sink(r);
    });
  }
  report_damage();
}

void Inputs::read_all(const Sink& sink) {
  poll_rings();
  for (auto& archive : archives_) archive->scan();
  for (;;) {
    // The archive whose next chunk starts first; every waiting record before that start is
    // final.
    blackbox::ArchiveReader* next = nullptr;
    std::int64_t next_time = std::numeric_limits<std::int64_t>::max();
    for (auto& archive : archives_) {
      const auto t = archive->next_chunk_time();
      if (t && *t < next_time) {
        next_time = *t;
        next = archive.get();
      }
    }
    if (!emit_before(next_time, next == nullptr, sink)) break;
    if (next == nullptr) break;
    next->read_next_chunk([this](std::unique_ptr<Record>& r) { take_archive_record(r); });
    seal();
  }
  report_damage();
}

std::size_t Inputs::read_new(const Sink& sink) {
  poll_rings();
  rescan_ring_dir();  // after the poll: a ring let go was read to its end
  poll_rings();       // new rings' records from their start
  for (auto& archive : archives_) {
    archive->scan();
    while (archive->next_chunk_time()) {
      archive->read_next_chunk([this](std::unique_ptr<Record>& r) { take_archive_record(r); });
      seal();
    }
  }
  std::size_t n = 0;
  for (const auto& b : active_) n += b->used - b->next;
  emit_before(0, true, sink);
  report_damage();
  return n;
}

std::vector<blackbox::DamagedRange> Inputs::damage() const {
  std::vector<blackbox::DamagedRange> out;
  for (const auto& a : archives_) out.insert(out.end(), a->damage().begin(), a->damage().end());
  return out;
}

std::vector<blackbox::Loss> Inputs::losses() const {
  std::vector<blackbox::Loss> out;
  for (const auto& a : archives_) {
    const auto l = a->losses();
    out.insert(out.end(), l.begin(), l.end());
  }
  for (const auto& r : rings_) {
    if (!r) continue;
    const auto l = r->losses();
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

std::vector<blackbox::ArchiveFileInfo> Inputs::archive_files() const {
  std::vector<blackbox::ArchiveFileInfo> out;
  for (const auto& a : archives_) {
    const auto f = a->files();
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

std::vector<std::tuple<blackbox::RingInfo, Inputs::RingOnly, std::uint64_t>> Inputs::ring_counts() {
  std::vector<std::tuple<blackbox::RingInfo, RingOnly, std::uint64_t>> out;
  for (const auto& ring : rings_) {
    if (!ring) continue;
    const blackbox::RingInfo info = ring->info();
    RingOnly only;
    ring->poll([&](const Record& r) {
      if (r.slot < info.archived_seq.size() && r.sequence < info.archived_seq[r.slot]) return;
      ++only.records;
      only.last_ns = std::max(only.last_ns, r.time_ns);
    });
    out.emplace_back(info, only, ring->lost_records());
  }
  return out;
}

std::vector<blackbox::CallSite> Inputs::sites() const {
  std::vector<blackbox::CallSite> out;
  for (const auto& a : archives_) {
    auto s = a->sites();
    out.insert(out.end(), std::make_move_iterator(s.begin()), std::make_move_iterator(s.end()));
  }
  return out;
}

void Inputs::read_rings(const std::function<void(const Record&)>& sink) {
  for (const auto& ring : rings_) {
    if (ring) ring->poll(sink);
  }
}

std::vector<blackbox::RingInfo> Inputs::rings() const {
  std::vector<blackbox::RingInfo> out;
  for (const auto& r : rings_) {
    if (r) out.push_back(r->info());
  }
  return out;
}

}  // namespace logcat
