// logcat's inputs: archive files and directories, ring files (live or dead), merged into one
// stream in time order with bounded memory, each record once.
//
// Merge: archives are read one chunk at a time, earliest-starting chunk first
// (ArchiveReader::next_chunk_time); each chunk's records are sorted, and records leave the
// sorted batches (earliest first) once no unread chunk can start before them. Rings (a few
// MB each) are read whole, as one batch per poll.
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
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "blackbox/reader.hpp"
#include "select.hpp"

namespace logcat {

// What a file is, by its first bytes: a ring file or dump ("BBXRING"), an archive (a frame,
// "BXF1"), or neither.
enum class FileKind { ring, archive, other };
FileKind file_kind(const std::string& path);

// Whether `path` starts with a ring file's magic (archives and directories do not).
bool is_ring_file(const std::string& path);

class Inputs {
 public:
  using Sink = std::function<bool(const Record&)>;  // false: stop (the output is gone)

  explicit Inputs(const Selection& selection) : selection_(selection) {}
  ~Inputs() = default;
  Inputs(const Inputs&) = delete;
  Inputs& operator=(const Inputs&) = delete;

  // Opens a ring file (recognised by its magic), an archive file, or a directory: every
  // blackbox file in it by its magic (archives, rings, dumps). False, with `error` set, if
  // it cannot be opened at all, or (`must_hold_files`) is a directory with no blackbox file.
  bool add(const std::string& path, std::string& error, bool must_hold_files = true);

  // Every record of every input, in time order, each once.
  void read_all(const Sink& sink);
  // The same in any order (for counting): archives alone are read file by file, chunk by
  // chunk, without the merge. With rings among the inputs, as read_all().
  void read_unordered(const Sink& sink);
  // Reads the archives' frames up to their chunks (file headers, crash reports): what
  // archive_files() reports. read_all() does it too.
  void scan();
  // Follows the ring directory `dir` too: read_new() adds the ring files of processes that
  // started since (so a long-running follower reads them live, not a flush later), and lets
  // go of rings whose file is gone (their process exited and archived them).
  void watch_ring_dir(std::string dir);
  // What arrived since the last call (growing archives, new archive files, live rings), in
  // time order. Returns the number of records delivered.
  std::size_t read_new(const Sink& sink);

  // Damage met so far (each printed once to stderr as it is found); losses the readers saw.
  [[nodiscard]] bool damaged() const { return damaged_; }
  [[nodiscard]] std::vector<blackbox::DamagedRange> damage() const;
  [[nodiscard]] std::vector<blackbox::Loss> losses() const;
  [[nodiscard]] std::vector<blackbox::ArchiveFileInfo> archive_files() const;
  [[nodiscard]] std::vector<blackbox::RingInfo> rings() const;
  // The call sites the archives define (scan() first).
  [[nodiscard]] std::vector<blackbox::CallSite> sites() const;
  // Every record the rings hold (unfiltered, unmerged): for questions about what exists.
  void read_rings(const std::function<void(const Record&)>& sink);
  // Each ring with what it alone holds (records its process has not archived yet: their
  // count and last time) and the records it lost. Reads the rings (for `logcat runs`).
  struct RingOnly {
    std::uint64_t records = 0;
    std::int64_t last_ns = 0;
  };
  [[nodiscard]] std::vector<std::tuple<blackbox::RingInfo, RingOnly, std::uint64_t>> ring_counts();
  [[nodiscard]] std::uint64_t duplicates_dropped() const { return duplicates_; }

 private:
  using Key = std::tuple<std::int32_t, std::int64_t, std::uint32_t>;  // pid, start, slot

  // Records of one read (an archive chunk, a ring poll) sorted by time; the merge takes
  // from the batch whose next record is earliest. A chunk holds runs of each thread, so
  // sorting a batch and merging a handful of batches is far cheaper than a heap of records.
  struct Batch {
    // Storage reused from batch to batch; records from archives arrive as pointers.
    std::vector<std::unique_ptr<Record>> records;
    std::size_t used = 0;
    std::vector<std::uint32_t> order;  // indices into records, by time
    std::size_t next = 0;              // into order
    [[nodiscard]] const Record& head() const { return *records[order[next]]; }
  };

  void take_ring_record(std::size_t ring, const Record& r);
  bool add_ring(const std::string& path, std::string& error);
  bool add_archive(const std::string& path, std::string& error);
  void take_archive_record(std::unique_ptr<Record>& r);
  Batch& filling();                       // the batch being filled (a fresh or reused one)
  void add(const Record& r);              // a copy into the batch being filled
  void take(std::unique_ptr<Record>& r);  // the same, swapping `r` for a spent record
  void seal();  // the batch being filled is complete: sort it, make it active
  bool emit_before(std::int64_t limit, bool everything, const Sink& sink);
  void poll_rings();
  void rescan_ring_dir();
  void report_damage();

  const Selection& selection_;
  std::vector<std::unique_ptr<blackbox::RingReader>> rings_;  // null: let go
  std::string watched_dir_;                                   // watch_ring_dir()
  std::set<std::string> ring_paths_;                          // every ring file opened (or refused)
  std::vector<std::unique_ptr<blackbox::ArchiveReader>> archives_;
  std::vector<std::size_t> damage_reported_;     // per archive
  std::vector<std::uint64_t> corrupt_reported_;  // per ring
  std::map<Key, std::uint64_t> ring_first_;      // first sequence a ring showed
  std::map<Key, std::uint64_t> archive_last_;    // last sequence an archive delivered
  struct RingRun {
    std::size_t ring;  // index in rings_
    std::uint64_t first, last;
  };
  std::map<Key, std::vector<RingRun>> ring_runs_;  // sequences each ring file delivered
  std::unique_ptr<Batch> filling_;                 // the read in progress
  std::vector<std::unique_ptr<Batch>> active_;     // sealed, with records left
  std::vector<std::unique_ptr<Batch>> spent_;      // for reuse
  bool damaged_ = false;
  std::uint64_t duplicates_ = 0;
};

}  // namespace logcat
