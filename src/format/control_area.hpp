// The control area of a ring file (format version 2): where another process asks this one to
// change its levels, flush, rotate or dump, and where this process shows its levels. It is
// the first part of the control region (ring_layout.hpp), right after the header page.
// docs/format.md, "Control region", is its specification.
//
// Access control is the file's: whoever may open the ring file for writing (its user, or
// root) may ask; nobody else can even map it writable.
//
// Requesters serialise among themselves with an open-file-description lock (F_OFD_SETLKW)
// on the region's first byte, which the kernel releases when a requester dies; the process
// itself never takes it (it must never wait for a requester). A requester then rings the
// doorbell, the flusher's futex word, which is in this area.
//
// Memory ordering (between processes, through the shared mapping):
//  - A requester fills requests[n % kControlRequests] (status pending), then stores
//    requests_written = n + 1 (release). The process loads requests_written (acquire), reads
//    the request, applies it, writes its status and result, then stores requests_done = n + 1
//    (release); the requester waits for requests_done > n (acquire) and reads the result.
//    A requester takes a slot only when requests_written - requests_done < kControlRequests.
//  - levels_seq is a seqlock over `levels` and `timed`, written by the process only (odd
//    while writing; release fences around the text). Readers copy, then check that the
//    sequence was even and did not change.
// Nothing in this area is trusted by either side: strings are cut at the first NUL or the
// field's end, kinds and levels are checked, paths must be absolute.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace blackbox::ring {

// A string field of the area (or of the telemetry): cut at the first NUL or the field's end,
// never trusted; and the writer's side, NUL-padded (cut to leave one NUL).
template <std::size_t N>
[[nodiscard]] std::string_view field_text(const char (&chars)[N]) {
  return {chars, strnlen(chars, N)};
}
template <std::size_t N>
void set_field(char (&chars)[N], std::string_view text) {
  const std::size_t n = std::min(N - 1, text.size());
  std::memcpy(chars, text.data(), n);
  std::memset(chars + n, 0, N - n);
}

inline constexpr std::uint32_t kControlRequests = 8;
inline constexpr std::uint32_t kTimedLevels = 8;
inline constexpr std::uint32_t kControlTagBytes = 48;
inline constexpr std::uint32_t kControlPathBytes = 256;
inline constexpr std::uint32_t kControlResultBytes = 200;

// rate: set the rate limits to the spec in `path`; rates: answer with the rate limits.
enum class ControlKind : std::uint32_t {
  level = 1,
  flush = 2,
  rotate = 3,
  dump = 4,
  rate = 5,
  rates = 6
};
enum class ControlStatus : std::uint32_t { pending = 0, done = 1, refused = 2 };

struct ControlRequest {
  std::uint64_t number;               // n: the requests_written value before this request
  std::uint32_t kind;                 // ControlKind
  std::atomic<std::uint32_t> status;  // ControlStatus, by the process
  std::int32_t pid;                   // the requester, as it says (the audit record shows it)
  std::uint32_t uid;
  std::int64_t for_ns;         // level: revert after this long (0: keep)
  std::uint8_t level;          // level: blackbox::Level
  std::uint8_t default_level;  // level: 1 to set the default level (tag ignored)
  std::uint8_t reserved[6];
  char tag[kControlTagBytes];        // level: NUL-terminated unless full
  char path[kControlPathBytes];      // dump: absolute path ("": the dump directory); rate: spec
  char result[kControlResultBytes];  // by the process: what it did, or why not
};
static_assert(sizeof(ControlRequest) == 544);

// A level set from outside for a while: the process reverts it at until_ns (wall clock), by
// itself, whether or not whoever asked is still there.
struct TimedLevel {
  std::int64_t until_ns;  // 0: entry unused
  std::int32_t pid;       // who asked
  std::uint32_t uid;
  std::uint8_t level;          // what was set
  std::uint8_t back_level;     // what it reverts to
  std::uint8_t had_own;        // 1: the tag had a level of its own before (else: back to default)
  std::uint8_t default_level;  // 1: the default level, not a tag's
  std::uint8_t reserved[4];
  char tag[kControlTagBytes];
};
static_assert(sizeof(TimedLevel) == 72);

inline constexpr std::uint32_t kControlLevelsBytes = 1024;

struct ControlArea {
  // The flusher's futex word (ring/wake.hpp): a requester sets it to 1 and FUTEX_WAKEs it
  // (a shared futex: it lives in the file's mapping), so a request is served at once rather
  // than at the next interval. Requesters lock the area's first byte (F_OFD_SETLKW), which
  // this word covers; the lock is on the file, not the memory.
  std::atomic<std::uint32_t> doorbell;
  std::uint32_t reserved;
  std::atomic<std::uint64_t> requests_written;
  std::atomic<std::uint64_t> requests_done;
  std::atomic<std::uint64_t> levels_seq;
  // The process's levels as a level spec ("info,net=debug"), NUL-terminated.
  char levels[kControlLevelsBytes];
  TimedLevel timed[kTimedLevels];
  ControlRequest requests[kControlRequests];
};
static_assert(sizeof(ControlArea) == 32 + 1024 + 72 * 8 + 544 * 8);

}  // namespace blackbox::ring
