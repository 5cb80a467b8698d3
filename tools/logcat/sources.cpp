#include "sources.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
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

bool is_ring_file(const std::string& path) {
  char magic[8] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(magic, sizeof magic);
  return in.gcount() == 8 && std::memcmp(magic, "BBXRING", 8) == 0;
}

bool Inputs::add(const std::string& path, std::string& error) {
  struct stat st {};
  const bool dir = stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (!dir && is_ring_file(path)) {
    auto reader = blackbox::RingReader::open(path, &error);
    if (!reader) return false;
    rings_.push_back(std::move(reader));
    corrupt_reported_.push_back(0);
    return true;
  }
  auto reader = blackbox::ArchiveReader::open(path, &error);
  if (!reader) return false;
  reader->set_filter(selection_.read);
  archives_.push_back(std::move(reader));
  damage_reported_.push_back(0);
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
void Inputs::take_ring_record(const Record& r) {
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
  for (auto& ring : rings_) {
    ring->poll([this](const Record& r) { take_ring_record(r); });
    seal();
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

std::vector<blackbox::RingInfo> Inputs::rings() const {
  std::vector<blackbox::RingInfo> out;
  for (const auto& r : rings_) out.push_back(r->info());
  return out;
}

}  // namespace logcat
