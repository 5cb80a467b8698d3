// The ring file: its header, site table, slot headers and per-thread rings. Shared by the
// writer (src/ring, src/core) and the reader (src/reader). This is a file format:
// docs/format.md is its specification; bump kFormatVersion on any incompatible change.
//
//  offset 0          4 KiB                                                        (page aligned)
//  +----------------+----------------+---------------+--------------+--------------+--------------+
//  | RingHeader     | control region | metrics region| site table   | slot headers | slot rings   |
//  | magic, version,| ControlArea,   | MetricsHeader,| SiteEntry,   | SlotHeader xN| ring_bytes xN|
//  | regions,       | Telemetry,     | MetricEntry.., | SiteEntry,...| (128 B each) | (blocks of |
//  | process, clock,| SlotTelemetry  | stripes x N+1 | (append only)|              |  block_bytes)|
//  | counters       | xN (version 2) | (version 3)   |              |              |              |
//  +----------------+----------------+---------------+--------------+--------------+--------------+
//
//  A slot's ring is a sequence of blocks; a block starts with a BlockHeader, then records
//  (detail/record.hpp), then possibly a padding marker (a u32 0) and unused bytes.
//
//  Invariants:
//   1. A slot's write position only grows; record identity = (slot, stream position).
//      Stream position p lives at ring offset p % ring_bytes.
//   2. A record never straddles a block; every block of stream position k*block_bytes
//      begins with a BlockHeader whose `position` is k*block_bytes.
//   3. Given a write position W, the bytes of stream positions in
//      [start_of_block(W) - (blocks - 1) * block_bytes, W) are intact; everything before has
//      been, or is being, overwritten (the block holding W counts as claimed even if W is
//      exactly at its start). Writers leave the last kBlockTailBytes of every block to
//      padding, so that no record ends exactly at a block boundary: a W at a block's start
//      is then always the claim of that block, never the end of the record before it, and a
//      reader a lap behind does not count the block about to be claimed as lost before it
//      is (Config::when_full = wait relies on this: the producer waits before the claim).
//      Readers need nothing of it.
//   4. A site id is (offset of its SiteEntry in the site table) / 8 + 1 and never changes
//      within one ring file; entries are only appended, under the registry mutex.
//   5. The header's magic is written last when a ring is created: a reader that sees the
//      magic sees a complete header.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "format/control_area.hpp"
#include "format/metrics_area.hpp"
#include "format/telemetry_area.hpp"

namespace blackbox::ring {

inline constexpr char kMagic[8] = {'B', 'B', 'X', 'R', 'I', 'N', 'G', '\0'};
// Version 2 added the control region (control_area.hpp, telemetry_area.hpp) between the
// header page and the site table; version 3 the metrics region (metrics_area.hpp) after it,
// and three header words to find it. Version 1 and 2 files are still read.
inline constexpr std::uint32_t kFormatVersion = 3;
inline constexpr std::uint32_t kOldestFormatVersion = 1;
inline constexpr std::uint32_t kEndianMark = 0x01020304;
inline constexpr std::uint64_t kPageBytes = 4096;
// Readers refuse stream positions above this (damage): no writer gets there, and it keeps
// position arithmetic far from wrapping.
inline constexpr std::uint64_t kMaxStreamPosition = std::uint64_t{1} << 62;

constexpr std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}

enum class ClockKind : std::uint32_t { tsc = 1, monotonic_ns = 2 };
enum class SlotState : std::uint32_t { free = 0, owned = 1, exited = 2 };
// RingHeader::state. The public reader API calls it blackbox::RingState (same values).
enum class ProcessState : std::uint32_t { live = 1, exited = 2, crashed = 3 };
// RingHeader::exit_flags: the process exited but its final flush failed (disk full, the
// breaker open): the ring holds records the archive does not, and recovery takes it.
inline constexpr std::uint32_t kExitArchiveIncomplete = 1;

// One (ticks, wall-clock ns) pair, written under its own sequence counter (seqlock): odd
// while being written. Two of them alternate so one is always intact even if the writer
// dies mid-update.
struct ClockPoint {
  std::atomic<std::uint64_t> seq;
  std::atomic<std::uint64_t> ticks;
  std::atomic<std::int64_t> ns;
  std::uint64_t reserved;
};

// ticks -> ns: ns = point.ns + (ticks - point.ticks) * (point.ns - base_ns) /
//                                                      (point.ticks - base_ticks)
struct ClockCalibration {
  std::uint64_t base_ticks;  // written once, before the magic
  std::int64_t base_ns;
  ClockPoint point[2];
};

struct RingHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t header_bytes;
  std::uint32_t endian;  // kEndianMark in the writer's byte order
  std::uint32_t clock_kind;
  std::uint64_t file_bytes;
  std::uint64_t site_table_offset;
  std::uint64_t site_table_bytes;
  std::uint64_t slot_headers_offset;
  std::uint32_t slot_count;
  std::uint32_t slot_header_bytes;
  std::uint64_t slot_data_offset;
  std::uint64_t ring_bytes;
  std::uint32_t block_bytes;
  std::uint32_t max_string_bytes;
  std::int32_t pid;
  std::uint32_t metric_cells;  // version 3: cells per metrics stripe (reserved, 0, before)
  std::int64_t start_time_ns;
  char app[64];   // NUL-terminated
  char host[64];  // NUL-terminated
  // Mutable words. Relaxed except where said.
  std::atomic<std::uint32_t> state;  // ProcessState; release on change
  // kExitArchiveIncomplete, with state exited (0 before; a reserved word in older files).
  // Written before the state (release): a reader that sees exited sees the flags.
  std::atomic<std::uint32_t> exit_flags;
  std::atomic<std::uint64_t> site_table_used;  // release after appending an entry
  std::atomic<std::uint64_t> threads_attached;
  std::atomic<std::uint64_t> dropped_no_slot;
  std::atomic<std::uint64_t> dropped_after_exit;
  std::atomic<std::uint64_t> sites_dropped;
  // Records of call sites that could not be defined (the site table was full). A reserved
  // word of the first version's header (0 there: no such loss, as it was then uncounted).
  std::atomic<std::uint64_t> dropped_site_table_full;
  // Version 2: the control region (0 and 0 in version 1, whose reserved words they were).
  std::uint64_t control_offset;
  std::uint64_t control_bytes;
  ClockCalibration clock;
  // Version 3: the metrics region (header_bytes is 400; a version 1 or 2 header ends at 384).
  std::uint64_t metrics_offset;
  std::uint64_t metrics_bytes;
};
static_assert(sizeof(RingHeader) <= kPageBytes);
static_assert(offsetof(RingHeader, state) == 232);
static_assert(offsetof(RingHeader, clock) == 304);
static_assert(offsetof(RingHeader, metrics_offset) == 384);
static_assert(sizeof(RingHeader) == 400);                 // docs/format.md, "Ring header"
inline constexpr std::uint32_t kRingHeaderBytesV2 = 384;  // versions 1 and 2

// The crash report: written by the crash handler into the header's page, at kCrashOffset,
// before it sets the header's state to crashed (release). Its magic is written last: a
// reader that sees the magic and the crashed state sees a complete report. Nothing in it is
// trusted by readers (counts are bounded, strings are cut at the first NUL or the end).
inline constexpr std::uint64_t kCrashOffset = 1024;
inline constexpr char kCrashMagic[8] = {'B', 'B', 'X', 'C', 'R', 'S', 'H', '\0'};
inline constexpr std::uint32_t kCrashFrames = 64;
inline constexpr std::uint32_t kCrashFlagTerminate = 1;  // std::terminate (exception text set)
inline constexpr std::uint32_t kCrashFlagTrace = 2;      // the thread had a trace context
struct CrashReport {
  char magic[8];
  std::uint32_t fixed_bytes;  // sizeof(CrashReport)
  std::int32_t signal;
  std::int32_t code;  // si_code
  std::uint32_t tid;  // the thread that crashed
  std::uint64_t fault_address;
  std::int64_t time_ns;  // wall clock
  std::uint32_t flags;
  std::uint32_t frame_count;    // <= kCrashFrames
  std::uint32_t other_threads;  // threads that crashed too while this report was written
  std::uint32_t module_count;   // CrashModule entries after the report (<= kCrashModules)
  char thread_name[16];
  char exception[248];                 // "type: what()" of an uncaught exception, NUL-terminated
  std::uint64_t frames[kCrashFrames];  // return addresses, innermost first
  // CLOCK_MONOTONIC when the handler started and when it had written the report and the
  // crash directory's dump (stored last; 0 if it did not get there).
  std::int64_t handler_start_ns;
  std::int64_t handler_end_ns;
  // The instruction the signal interrupted (the faulting one, for a fault): the frame of
  // `frames` where the crashed code's stack starts, after the handler's own frames.
  std::uint64_t context_pc;
  // The crashing thread's trace context when it crashed (kCrashFlagTrace): the trace id and
  // span id its records carried then, as on the wire. Appended after the first version's
  // 856 bytes: readers take these only from a report whose fixed_bytes covers them.
  std::uint8_t trace_id[16];
  std::uint8_t span_id[8];
};
static_assert(sizeof(CrashReport) == 880);
// The first version's report, without the trace context: readers accept it.
inline constexpr std::uint32_t kCrashReportBaseBytes = 856;
static_assert(offsetof(CrashReport, trace_id) == kCrashReportBaseBytes);

// The modules (executable, shared libraries) the report's frames fall in, for offline
// symbolisation: right after the report, module_count of them. Captured when the handlers
// are installed and read again by the flusher after the loader loads or unloads one
// (dlopen), so modules loaded later are known too.
inline constexpr std::uint32_t kCrashModules = 11;
inline constexpr std::uint32_t kBuildIdBytes = 32;
struct CrashModule {
  std::uint64_t start;          // first byte of its mapped segments (run-time address)
  std::uint64_t end;            // one past the last
  std::uint64_t load_bias;      // run-time address minus ELF virtual address
  std::uint8_t build_id_bytes;  // <= kBuildIdBytes (0: none)
  std::uint8_t reserved[7];
  std::uint8_t build_id[kBuildIdBytes];  // NT_GNU_BUILD_ID
  char path[128];                        // NUL-terminated (cut if longer)
};
static_assert(sizeof(CrashModule) == 192);
inline constexpr std::uint64_t kCrashModulesOffset = kCrashOffset + sizeof(CrashReport);
static_assert(kCrashModulesOffset + kCrashModules * sizeof(CrashModule) <= kPageBytes);
static_assert(kCrashOffset >= sizeof(RingHeader) &&
              kCrashOffset + sizeof(CrashReport) <= kPageBytes);

// One per slot. The write position has a cache line of its own: the producer stores it per
// record and readers poll it; the other fields change once per thread.
struct SlotHeader {
  std::atomic<std::uint64_t> write_pos;  // release by producer, acquire by readers
  std::uint8_t pad0[56];
  std::atomic<std::uint32_t> state;     // SlotState; CAS to claim, release to give back
  std::atomic<std::uint32_t> tid;       // current or last owner
  std::atomic<std::uint64_t> next_seq;  // sequence number the next owner continues from
  std::atomic<std::uint64_t> owners;    // threads that have owned this slot
  // Where this process's flusher has read up to: the producer compares it with its write
  // position once per block to wake the flusher early (a hint; relaxed both ways).
  std::atomic<std::uint64_t> drained_pos;
  // Where this process's archive is complete up to: every record of this slot before
  // stream position archived_pos (whose sequence number is below archived_seq) is in an
  // archive file. Stored by the flusher after the write that put them there; read by the
  // recovery of a dead process's ring, which exports only what comes after. Zero: nothing
  // archived (no archive, or the flusher never got to it). Relaxed: read only once the
  // writer is dead.
  std::atomic<std::uint64_t> archived_pos;
  std::atomic<std::uint64_t> archived_seq;
  std::uint8_t pad1[16];
};
static_assert(sizeof(SlotHeader) == 128);

struct BlockHeader {
  std::uint64_t position;   // stream position of this block (tells which lap it is from)
  std::uint64_t first_seq;  // sequence number of the first record in the block
  std::uint32_t tid;        // the thread that wrote the block
  std::uint32_t flags;      // 0
  char thread_name[16];     // NUL-padded
};
static_assert(sizeof(BlockHeader) == 40);

// A site definition. Followed by arg_count ArgType bytes, then tag, file, function and
// template (not NUL-terminated), then zero padding to a multiple of 8.
struct SiteEntry {
  std::uint32_t size;  // whole entry, multiple of 8
  std::uint8_t level;
  std::uint8_t arg_count;
  std::uint16_t tag_len;
  std::uint32_t line;
  std::uint16_t file_len;
  std::uint16_t function_len;
  std::uint32_t template_len;
  std::uint32_t flags;  // kSiteFlag*; 0 in files written before flags were defined
};
static_assert(sizeof(SiteEntry) == 24);
// The template is a printf format (BBX_PRINTF), not a {} template.
inline constexpr std::uint32_t kSiteFlagPrintf = 1;

struct Layout {
  std::uint64_t control_offset, control_bytes;  // 0, 0: no control region (version 1)
  std::uint64_t metrics_offset, metrics_bytes;  // 0, 0: no metrics region (versions 1, 2)
  std::uint32_t metric_cells;                   // per stripe
  std::uint64_t site_table_offset, site_table_bytes;
  std::uint64_t slot_headers_offset;
  std::uint32_t slot_count;
  std::uint64_t slot_data_offset;
  std::uint64_t ring_bytes;
  std::uint32_t block_bytes;
  std::uint64_t file_bytes;
};

// The control region: ControlArea, Telemetry, then a SlotTelemetry per slot (each part at a
// multiple of 64 bytes), in whole pages.
inline constexpr std::uint64_t kTelemetryOffset = round_up(sizeof(ControlArea), 64);
inline constexpr std::uint64_t kSlotTelemetryOffset =
    kTelemetryOffset + round_up(sizeof(Telemetry), 64);
static_assert(kTelemetryOffset == 6016 && kSlotTelemetryOffset == 40832);  // docs/format.md
// In the control area's padding, just before Telemetry.
inline constexpr std::uint64_t kMinuteLossesOffset = kTelemetryOffset - sizeof(MinuteLosses);
static_assert(kMinuteLossesOffset >= sizeof(ControlArea) && kMinuteLossesOffset == 5984);
constexpr std::uint64_t control_region_bytes(std::uint32_t slots) {
  return round_up(kSlotTelemetryOffset + std::uint64_t{slots} * sizeof(SlotTelemetry), kPageBytes);
}

// `metric_cells`: a multiple of kMetricCellsMin (version 3; ignored before).
constexpr Layout compute_layout(std::uint64_t ring_bytes, std::uint32_t block_bytes,
                                std::uint32_t slots, std::uint64_t site_table_bytes,
                                std::uint32_t metric_cells,
                                std::uint32_t version = kFormatVersion) {
  Layout l{};
  if (version >= 2) {
    l.control_offset = kPageBytes;
    l.control_bytes = control_region_bytes(slots);
  }
  if (version >= 3) {
    l.metrics_offset = kPageBytes + l.control_bytes;
    l.metrics_bytes = metrics_region_bytes(metric_cells, slots);
    l.metric_cells = metric_cells;
  }
  l.site_table_offset = kPageBytes + l.control_bytes + l.metrics_bytes;
  l.site_table_bytes = round_up(site_table_bytes, kPageBytes);
  l.slot_headers_offset = l.site_table_offset + l.site_table_bytes;
  l.slot_count = slots;
  l.slot_data_offset =
      l.slot_headers_offset + round_up(std::uint64_t{slots} * sizeof(SlotHeader), kPageBytes);
  l.ring_bytes = ring_bytes;
  l.block_bytes = block_bytes;
  l.file_bytes = l.slot_data_offset + std::uint64_t{slots} * ring_bytes;
  return l;
}

// The unused end of every block (invariant 3).
inline constexpr std::uint32_t kBlockTailBytes = 8;

// Invariant 3: the oldest stream position still intact when the write position is `w`.
constexpr std::uint64_t window_start(std::uint64_t w, std::uint64_t ring_bytes,
                                     std::uint64_t block_bytes) {
  const std::uint64_t block = w & ~(block_bytes - 1);
  const std::uint64_t span = ring_bytes - block_bytes;
  return block > span ? block - span : 0;
}

}  // namespace blackbox::ring
