// Reading rings and archives: open a ring file (this process's, a live process's, or a dead
// one's) or archive files (one, or a directory of them) and iterate their records, decoded
// and formatted, with one Record type. Readers never block or disturb the writers, never
// return a torn record, count every record they could not get, and report damaged bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "blackbox/control.hpp"
#include "blackbox/level.hpp"
#include "blackbox/metric_values.hpp"

namespace blackbox {

// A pointer argument (only its value was recorded).
struct Pointer {
  std::uint64_t address = 0;
  friend bool operator==(const Pointer&, const Pointer&) = default;
};

// A typed argument value. Signed integers widen to int64, unsigned to uint64, float to
// double; the message was formatted from the original type.
using Value = std::variant<std::int64_t, std::uint64_t, double, bool, char, std::string, Pointer>;

struct Field {
  std::string name;  // the placeholder's name; empty for "{}"
  Value value;
  bool truncated = false;  // a string cut at the call site's limit
};

namespace reader {
struct EncodedArgsAccess;  // the readers' side (src/reader)
}

// A record's arguments as its call site recorded them, not yet decoded: what a reader
// leaves in place of Record::message and Record::fields when ReadFilter::encoded asks.
// text::Renderer writes JSON and logfmt lines straight from them (each value formatted once,
// the template's text escaped once per call site); decode_arguments() turns them into the
// message and fields. Only readers fill it (it keeps its call site alive); a record built by
// hand has none.
class EncodedArgs {
 public:
  [[nodiscard]] bool empty() const noexcept { return !present_; }
  [[nodiscard]] std::size_t size() const noexcept { return present_ ? bytes_.size() : 0; }

 private:
  friend struct reader::EncodedArgsAccess;
  std::shared_ptr<const void> site_;  // the reader's call site description
  std::vector<std::byte> bytes_;      // storage kept from record to record
  bool present_ = false;
};

struct Record {
  std::int64_t time_ns = 0;  // wall clock, ns since the Unix epoch
  std::uint64_t ticks = 0;   // the raw clock value recorded
  std::uint32_t tid = 0;     // kernel thread id
  std::string thread_name;
  Level level = Level::info;
  // Site facts; the views stay valid as long as this record (or a copy of it) exists.
  std::string_view tag, file, function, message_template;
  std::uint32_t line = 0;
  std::string message;        // the template formatted with fmt
  std::vector<Field> fields;  // one per placeholder, in order
  bool has_trace = false;
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  bool truncated = false;  // some string argument was cut
  // Identity: the record's slot, its byte position in that slot's stream (in an archive:
  // the file offset of its chunk), and its sequence number there (consecutive within a
  // slot; a gap is counted loss).
  std::uint32_t slot = 0;
  std::uint64_t position = 0;
  std::uint64_t sequence = 0;
  // The process that logged it: pid and that process's start time (pids are reused).
  // (slot, sequence) within one process is the record's identity in rings and archives alike:
  // the same record read from a ring file and from the archive has the same four values.
  std::int32_t pid = 0;
  std::int64_t process_start_ns = 0;
  std::shared_ptr<const void> site_owner;  // keeps the views above alive
  // The undecoded arguments, when the reader was asked for them (ReadFilter::encoded):
  // message and fields are then empty.
  EncodedArgs encoded;
};

// Decodes `r.encoded` into `r.message` and `r.fields` (and empties it). Returns false if
// the record has no encoded arguments. (Readers check the bytes before they keep them.)
bool decode_arguments(Record& r);

// What a reader may skip rather than decode. Archive chunks whose index rules them out
// (time range, levels present, threads, trace Bloom filter, the writer's pid) are not even
// decompressed; the other records are checked by site, time, thread and trace before their
// arguments are decoded and their message formatted. Every condition must hold.
struct ReadFilter {
  Level min_level = Level::trace;
  std::int64_t since_ns = std::numeric_limits<std::int64_t>::min();  // inclusive
  std::int64_t until_ns = std::numeric_limits<std::int64_t>::max();  // exclusive
  std::vector<std::uint32_t> tids;                                   // empty: every thread
  std::optional<std::int32_t> pid;
  // Only this run of `pid` (its process start time, ArchiveFileInfo::process_start_ns).
  std::optional<std::int64_t> process_start_ns;
  // Only these apps (empty: every app). Archive files of other apps are not even scanned
  // for records.
  std::vector<std::string> apps;
  std::optional<std::array<std::uint8_t, 16>> trace_id;
  // Asked once per call site (and file): whether the site's records may pass. Empty: all.
  std::function<bool(std::string_view tag, Level level)> site;
  // Whether records need Record::fields (false: left empty, only the message is formatted,
  // which is cheaper for a reader that prints text).
  bool fields = true;
  // Whether records need Record::message. With `fields` false too, a record's arguments
  // are not decoded at all (message and fields left empty): for readers that count records
  // by site, thread or process.
  bool message = true;
  // Whether to leave each record's arguments undecoded, in Record::encoded (message and
  // fields empty): for a reader that only renders JSON or logfmt lines (text::Renderer
  // writes them from the encoded arguments, cheaper than from decoded fields). Overrides
  // `fields` and `message`; records of a site whose bytes do not fit are still dropped.
  bool encoded = false;
  // Only records of call sites whose template names every one of these fields. Archive
  // chunks none of whose call sites has them are not decompressed.
  std::vector<std::string> with_fields;
};

// Why records were lost. Rings report overwritten (corrupt bytes counted alongside);
// archives carry the cause the flusher recorded. Values are stored in archive files.
enum class LossCause : std::uint8_t {
  overwritten = 1,      // the producer lapped the reader (or the flusher) before it read them
  corrupt = 2,          // failed validation in the ring
  disk_error = 3,       // could not be written to the archive (the circuit breaker was open)
  no_slot = 4,          // logged by a thread that found no free ring slot
  after_exit = 5,       // logged after the thread or the logger shut down
  site_table_full = 6,  // logged at a call site the full site table could not define
};

// Records a reader could not read, per slot and thread: overwritten before they were read
// (the producer lapped the reader), or damaged in the file. In an archive: one entry per
// loss marker the flusher wrote.
struct Loss {
  std::uint32_t slot = 0;           // 0xFFFFFFFF: not in any slot (no_slot, after_exit)
  std::uint32_t tid = 0;            // the thread whose records were lost (as far as known)
  std::uint64_t records = 0;        // exact, from sequence numbers
  std::uint64_t bytes = 0;          // stream bytes skipped
  std::uint64_t corrupt_bytes = 0;  // of which: bytes that failed validation
  LossCause cause = LossCause::overwritten;
  std::int64_t time_ns = 0;  // archives: when the flusher noticed (wall clock)
};

enum class RingState : std::uint32_t { live = 1, exited = 2, crashed = 3 };

// A module (the executable, a shared library) a crash's stack passes through: where it was
// loaded, and what identifies its file, for symbolising the stack offline.
struct LoadedModule {
  std::uint64_t start = 0;  // run-time address range of its mapped segments
  std::uint64_t end = 0;
  std::uint64_t load_bias = 0;  // run-time address minus ELF virtual address
  std::string build_id;         // NT_GNU_BUILD_ID, lowercase hex ("" if none)
  std::string path;             // as the process loaded it
};

// What the crash handler recorded when the process died of a signal (or of an uncaught
// exception, through std::terminate and SIGABRT).
struct CrashInfo {
  int signal = 0;
  int code = 0;                     // si_code: how the signal came (e.g. SEGV_MAPERR)
  std::uint64_t fault_address = 0;  // si_addr
  std::uint32_t tid = 0;            // the thread that crashed
  std::string thread_name;
  std::int64_t time_ns = 0;
  std::string exception;              // "type: what()" of an uncaught exception, else empty
  std::vector<std::uint64_t> frames;  // return addresses, innermost first
  // The interrupted instruction: the frame where the crashed code starts (the frames before
  // it are the crash handler's own); 0 if unknown.
  std::uint64_t pc = 0;
  std::uint32_t other_threads = 0;  // threads that crashed too meanwhile
  // CLOCK_MONOTONIC when the handler started and when it had written the report and the
  // crash directory's dump (0: unknown, or it did not get that far).
  std::int64_t handler_start_ns = 0;
  std::int64_t handler_end_ns = 0;
  std::vector<LoadedModule> modules;  // those the frames fall in
  // The crashing thread's trace context when it crashed, if it had one: the request it was
  // serving (`logcat --trace` shows the whole of it).
  bool has_trace = false;
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
};

struct RingInfo {
  std::string path;  // empty for an anonymous ring
  std::string app;
  std::string host;  // the machine's name, as the process saw it
  std::int32_t pid = 0;
  RingState state = RingState::live;
  // Whether `pid` still runs (false: a live ring of a dead process), as the file's owner and
  // started before the ring was: a forged file naming another user's pid, or a pid reused
  // since, is not alive.
  bool process_alive = false;
  std::uint32_t owner_uid = 0;  // the ring file's owner
  // The fullest slot's share not yet read by the flusher, 0 .. 1 (1: its writer laps the
  // flusher, and records are overwritten before they are archived).
  double max_fill = 0;
  std::int64_t start_time_ns = 0;
  std::uint32_t format_version = 0;
  std::uint32_t slot_count = 0;
  std::uint64_t ring_bytes = 0;
  std::uint32_t block_bytes = 0;
  std::uint64_t threads_attached = 0;
  std::uint64_t dropped_no_slot = 0;
  std::uint64_t dropped_after_exit = 0;
  std::uint64_t sites_dropped = 0;
  std::uint64_t dropped_site_table_full = 0;  // records of the sites not defined
  std::optional<CrashInfo> crash;             // state crashed, and the report is intact
  // Per slot: the records whose sequence is below this are in the process's archive (its
  // flusher wrote them); 0: none. Records at or above it are in the ring only, so far.
  std::vector<std::uint64_t> archived_seq;
};

class RingReader {
 public:
  // Opens and validates a ring file. On failure returns null and sets `error` to a message
  // naming the file and the problem. Nothing read from the file is trusted.
  // Thread-safe (each reader is independent); does not block the writers.
  [[nodiscard]] static std::unique_ptr<RingReader> open(const std::string& path,
                                                        std::string* error = nullptr);
  // This process's ring, file-backed or anonymous. Null if the logger has not started.
  [[nodiscard]] static std::unique_ptr<RingReader> open_self(std::string* error = nullptr);
  // A ring file's bytes already in memory (a copy, a dump). Validated like a file.
  [[nodiscard]] static std::unique_ptr<RingReader> open_bytes(std::vector<std::byte> image,
                                                              std::string* error = nullptr);

  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Reads every record committed since the previous call (the first call: everything
  // still in the rings) and passes each to `sink`, slot by slot, each slot in order.
  // Returns the number of records. Not thread-safe: one reader object per thread.
  std::size_t poll(const std::function<void(const Record&)>& sink);

  // Only records that pass `filter` reach the sink (the others are still read, and their
  // losses counted).
  void set_filter(ReadFilter filter);

  // poll() into a vector sorted by time (stable: a slot's order is kept on equal times).
  [[nodiscard]] std::vector<Record> read_sorted();

  // Cumulative losses seen by this reader, one entry per (slot, thread) with any.
  [[nodiscard]] std::vector<Loss> losses() const;
  [[nodiscard]] std::uint64_t lost_records() const;

  // Header facts, re-read on every call (state and counters change while a process runs).
  [[nodiscard]] RingInfo info() const;
  // The telemetry and the levels from the ring's control region (blackbox/control.hpp),
  // re-read on every call; nullopt for a ring of format version 1.
  [[nodiscard]] std::optional<Telemetry> telemetry() const;
  [[nodiscard]] std::optional<LevelsState> levels() const;
  // The application's metrics (blackbox/metrics.hpp) from the ring's metrics region, summed
  // over the threads, re-read on every call; nullopt for a ring of format version 1 or 2.
  // `error` (if given) says why a damaged region was not read.
  [[nodiscard]] std::optional<MetricsSnapshot> metrics(std::string* error = nullptr) const;

 private:
  struct Impl;
  explicit RingReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A byte range of an archive file a reader could not use, and why.
struct DamagedRange {
  std::string file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::string reason;
};

// What an archive file's header says about its writer.
struct ArchiveFileInfo {
  std::string path;
  std::string app, host, library_version;
  std::int32_t pid = 0;
  std::uint32_t file_index = 0;  // 0: the process's first file; +1 per rotation
  std::int64_t process_start_ns = 0;
  std::int64_t file_start_ns = 0;
  std::uint32_t format_version = 0;
  bool header_ok = false;  // false: the header frame was damaged (records still read)
  // A file recovered from the ring of a process that crashed carries its crash report.
  std::optional<CrashInfo> crash;
  // From the chunk indexes scanned so far (no record decoded, whatever the filter): how many
  // records the file holds and their time range (0, 0 with none); from its loss markers,
  // how many records its process lost.
  std::uint64_t records = 0;
  std::int64_t first_ns = 0, last_ns = 0;
  std::uint64_t lost_records = 0;
  // How the process ended, if this file says: it shut down (exited), or recovery found its
  // ring left behind without a crash report (killed). end_ns: when; 0 if unknown.
  enum class End : std::uint8_t { none, exited, killed };
  End end = End::none;
  std::int64_t end_ns = 0;
  // The file's latest telemetry frame: its process's telemetry (blackbox/control.hpp) when
  // the file was rotated, when the process exited, or as recovery found its ring. nullopt:
  // none (a file still being written, or written before telemetry frames existed).
  std::optional<Telemetry> telemetry;
  std::int64_t telemetry_ns = 0;
  std::string telemetry_levels;
};

// A call site as an archive file defines it: what a tool can list without decoding a record.
struct CallSite {
  Level level = Level::info;
  std::string tag, file, function, message_template;
  std::uint32_t line = 0;
  std::vector<std::string> field_names;  // the template's placeholders' names ("" unnamed)
  std::string app;                       // of the file that defines it
  std::int32_t pid = 0;
};

// An application metrics snapshot from an archive (blackbox/metrics.hpp): whose it is and why
// it was taken. Values are cumulative since the process started.
struct ArchivedMetrics {
  std::string app, host;
  std::int32_t pid = 0;
  std::int64_t process_start_ns = 0;  // with pid, which run of the app
  enum class Reason : std::uint8_t { rotation = 1, exit = 2, recovered = 3, interval = 4 };
  Reason reason = Reason::interval;
  MetricsSnapshot snapshot;  // snapshot.time_ns: when it was taken
};

class ArchiveReader {
 public:
  // Opens an archive file, or a directory: every `*.bbx` file in it, in name (= time) order.
  // Null with `error` set if the path cannot be read. Thread-compatible.
  [[nodiscard]] static std::unique_ptr<ArchiveReader> open(const std::string& path,
                                                           std::string* error = nullptr);
  // An archive file's bytes already in memory (named `name` in damage reports).
  [[nodiscard]] static std::unique_ptr<ArchiveReader> open_bytes(std::vector<std::byte> image,
                                                                 std::string name = "<memory>");
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // Only records that pass `filter` reach the sink; chunks it rules out by their index are
  // skipped without decompressing (counted in counters().chunks_skipped).
  void set_filter(ReadFilter filter);
  // The same for a trace id alone (the rest of the filter is kept). nullopt: every trace.
  void set_trace_filter(std::optional<std::array<std::uint8_t, 16>> trace_id);

  // Reads every record written since the previous call (the first call: everything), file
  // by file, each file in its order (chunks of per-thread runs). A directory's new files
  // are picked up. A frame still being appended by a live writer is left for the next call.
  std::size_t poll(const std::function<void(const Record&)>& sink);
  [[nodiscard]] std::vector<Record> read_sorted();

  // Reading in time order with bounded memory, one chunk at a time (how logcat merges
  // archives far larger than memory). scan() reads the frames appended since the last scan
  // (poll() does too) without decompressing any chunk: file headers, site definitions and
  // loss markers are taken in, chunks are only indexed (those the filter rules out are
  // skipped). It returns the number of chunks indexed. next_chunk_time() is the earliest
  // start time of the indexed chunks not yet read: no record still to come from them is
  // earlier. read_next_chunk() decodes that chunk into `sink` (its records in file order, not
  // sorted) and returns how many passed the filter. The sink may keep a record without
  // copying it: take the pointer (leaving null), or swap in a spent record of its own, whose
  // storage the reader then reuses for the next one.
  std::size_t scan();
  [[nodiscard]] std::optional<std::int64_t> next_chunk_time() const;
  using RecordSink = std::function<void(std::unique_ptr<Record>& record)>;
  std::size_t read_next_chunk(const RecordSink& sink);

  [[nodiscard]] std::vector<Loss> losses() const;  // the loss markers read so far
  [[nodiscard]] std::uint64_t lost_records() const;
  [[nodiscard]] const std::vector<DamagedRange>& damage() const;
  [[nodiscard]] std::vector<ArchiveFileInfo> files() const;
  // The call sites the files scanned so far define (a file defines each site its chunks
  // use, once), in file order; the same site appears once per file.
  [[nodiscard]] std::vector<CallSite> sites() const;
  // Keeps the metrics snapshots of the frames scanned from now on (off by default: a reader
  // of records does not hold them), and hands over those kept so far.
  void keep_metrics(bool keep);
  [[nodiscard]] std::vector<ArchivedMetrics> take_metrics();
  struct Counters {
    std::uint64_t chunks_read = 0;
    std::uint64_t chunks_skipped = 0;  // ruled out by the trace filter without decompressing
    std::uint64_t unknown_frames = 0;  // frame types this reader does not know (skipped)
  };
  [[nodiscard]] Counters counters() const;

 private:
  struct Impl;
  explicit ArchiveReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blackbox
