// logcat's inputs: archive files and directories, ring files (live or dead), merged into one
// stream in time order with bounded memory, each record once.
//
// Merge: archives are read one chunk at a time, earliest-starting chunk first
// (ArchiveReader::next_chunk_time); decoded records wait in a heap and leave it once no
// unread chunk can start before them. Rings (a few MB each) are read whole.
//
// Once: a record the flusher already archived may still be in its process's ring file. A
// record's identity is (pid, process start, slot, sequence). Per process and slot, a ring
// holds every sequence number from the first one it shows; archive records from there on
// are left to the ring, and ring records the archive already delivered are dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "blackbox/reader.hpp"
#include "select.hpp"

namespace logcat {

class Inputs {
 public:
  using Sink = std::function<bool(const Record&)>;  // false: stop (the output is gone)

  explicit Inputs(const Selection& selection) : selection_(selection) {}
  ~Inputs() = default;
  Inputs(const Inputs&) = delete;
  Inputs& operator=(const Inputs&) = delete;

  // Opens a ring file (recognised by its magic) or an archive file or directory. False,
  // with `error` set, if it cannot be opened at all.
  bool add(const std::string& path, std::string& error);

  // Every record of every input, in time order, each once.
  void read_all(const Sink& sink);
  // What arrived since the last call (growing archives, new archive files, live rings), in
  // time order. Returns the number of records delivered.
  std::size_t read_new(const Sink& sink);

  // Damage met so far (each printed once to stderr as it is found); losses the readers saw.
  [[nodiscard]] bool damaged() const { return damaged_; }
  [[nodiscard]] std::vector<blackbox::DamagedRange> damage() const;
  [[nodiscard]] std::vector<blackbox::Loss> losses() const;
  [[nodiscard]] std::vector<blackbox::ArchiveFileInfo> archive_files() const;
  [[nodiscard]] std::vector<blackbox::RingInfo> rings() const;
  [[nodiscard]] std::uint64_t duplicates_dropped() const { return duplicates_; }

 private:
  using Key = std::tuple<std::int32_t, std::int64_t, std::uint32_t>;  // pid, start, slot
  struct Later {
    bool operator()(const std::unique_ptr<Record>& a, const std::unique_ptr<Record>& b) const;
  };

  void take_ring_record(const Record& r);
  void take_archive_record(const Record& r);
  void push(const Record& r);
  bool pop_until(std::int64_t limit, bool everything, const Sink& sink);
  void poll_rings();
  void report_damage();

  const Selection& selection_;
  std::vector<std::unique_ptr<blackbox::RingReader>> rings_;
  std::vector<std::unique_ptr<blackbox::ArchiveReader>> archives_;
  std::vector<std::size_t> damage_reported_;  // per archive
  std::vector<std::uint64_t> corrupt_reported_;  // per ring
  std::map<Key, std::uint64_t> ring_first_;    // first sequence a ring showed
  std::map<Key, std::uint64_t> archive_last_;  // last sequence an archive delivered
  std::vector<std::unique_ptr<Record>> heap_;  // waiting records, earliest on top
  std::vector<std::unique_ptr<Record>> pool_;  // spent records, reused (no allocation)
  bool damaged_ = false;
  std::uint64_t duplicates_ = 0;
};

}  // namespace logcat
