// A cursor: where a reader got to, so that a script (or a shipper) resumes exactly after
// the last record it saw, each record once: across rotation, and across records moving from
// a ring file into the archive (a record's identity, (pid, process start, slot, sequence),
// is the same in both).
//
// The output is merged by time, but records do not reach the inputs in time order (a
// process's flusher archives every second; a ring is read live). So a cursor is not a
// position in one file: it holds, per stream (a slot of a process), the last sequence
// shown, and a floor time. A record of a known stream was seen if its sequence is at most
// the stream's; a record of a stream the cursor does not know, if it is older than the
// floor. The floor trails the newest record by kLateNs, and streams with nothing after the
// floor are dropped from the cursor (their later records are newer than the floor): a
// record that reaches the inputs more than kLateNs after later ones could be missed. The
// floor is also where the readers start: archive chunks before it are not decompressed.
//
// Text form (opaque to users; no character a shell would split or expand):
//   c1.<floor>.<newest>[.<pid>-<start>-<slot>-<sequence>-<time>]...   (lowercase hex)
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "blackbox/reader.hpp"

namespace logcat {

class Cursor {
 public:
  static constexpr std::int64_t kLateNs = 10 * 60 * 1'000'000'000ll;

  // Null if `text` is not a cursor (it is untrusted: every number is checked).
  [[nodiscard]] static std::optional<Cursor> parse(std::string_view text);
  [[nodiscard]] std::string text() const;

  // Whether `r` is at or before the cursor (shown already).
  [[nodiscard]] bool seen(const blackbox::Record& r) const;
  // `r` was shown.
  void advance(const blackbox::Record& r);
  // No record before this time is after the cursor.
  [[nodiscard]] std::int64_t floor_ns() const { return floor_ns_; }
  // The floor the cursor's text holds (it moves up behind the newest record): every record
  // before it has been seen, or never will be. The minimum of int64 when nothing was.
  [[nodiscard]] std::int64_t through_ns() const;
  [[nodiscard]] bool empty() const { return newest_ns_ == kNone; }

 private:
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();
  using Key = std::tuple<std::int32_t, std::int64_t, std::uint32_t>;  // pid, start, slot
  struct Last {
    std::uint64_t sequence;
    std::int64_t time_ns;
  };
  std::int64_t floor_ns_ = kNone;
  std::int64_t newest_ns_ = kNone;
  std::map<Key, Last> streams_;
};

// --cursor-file: the cursor in FILE (nullopt if there is none yet; an error if it is not
// one), and writing it back atomically (a temporary file in the same directory, renamed
// over it: a reader never sees half a cursor). Returns "" or what went wrong.
[[nodiscard]] std::string read_cursor_file(const std::string& path, std::optional<Cursor>& out);
[[nodiscard]] std::string write_cursor_file(const std::string& path, const Cursor& cursor);

}  // namespace logcat
