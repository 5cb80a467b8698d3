// Reading rings: open a ring file (this process's, a live process's, or a dead one's) and
// iterate its records, decoded and formatted. The reader never blocks or disturbs the
// writers, never returns a torn record, and counts every record it could not get.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "blackbox/level.hpp"

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
  // Identity: the record's slot, its byte position in that slot's stream, and its
  // sequence number there (consecutive within a slot; a gap is counted loss).
  std::uint32_t slot = 0;
  std::uint64_t position = 0;
  std::uint64_t sequence = 0;
  std::shared_ptr<const void> site_owner;  // keeps the views above alive
};

// Records a reader could not read, per slot and thread: overwritten before they were read
// (the producer lapped the reader), or damaged in the file.
struct Loss {
  std::uint32_t slot = 0;
  std::uint32_t tid = 0;            // the thread whose records were lost (as far as known)
  std::uint64_t records = 0;        // exact, from sequence numbers
  std::uint64_t bytes = 0;          // stream bytes skipped
  std::uint64_t corrupt_bytes = 0;  // of which: bytes that failed validation
};

enum class RingState : std::uint32_t { live = 1, exited = 2, crashed = 3 };

struct RingInfo {
  std::string path;  // empty for an anonymous ring
  std::string app;
  std::int32_t pid = 0;
  RingState state = RingState::live;
  bool process_alive = false;  // whether `pid` still runs (live rings of dead processes)
  std::int64_t start_time_ns = 0;
  std::uint32_t format_version = 0;
  std::uint32_t slot_count = 0;
  std::uint64_t ring_bytes = 0;
  std::uint32_t block_bytes = 0;
  std::uint64_t threads_attached = 0;
  std::uint64_t dropped_no_slot = 0;
  std::uint64_t dropped_after_exit = 0;
  std::uint64_t sites_dropped = 0;
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

  // poll() into a vector sorted by time (stable: a slot's order is kept on equal times).
  [[nodiscard]] std::vector<Record> read_sorted();

  // Cumulative losses seen by this reader, one entry per (slot, thread) with any.
  [[nodiscard]] std::vector<Loss> losses() const;
  [[nodiscard]] std::uint64_t lost_records() const;

  // Header facts, re-read on every call (state and counters change while a process runs).
  [[nodiscard]] RingInfo info() const;

 private:
  struct Impl;
  explicit RingReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blackbox
