// The archive file format: frame types and their payloads (docs/format.md, "Archive files").
// Shared by the writer (the flusher) and the reader. Everything is little-endian; the frame
// layer (frame.hpp) checksums every payload. Bump kArchiveVersion on incompatible changes;
// new frame types need no bump (readers skip types they do not know).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace blackbox::archive {

inline constexpr std::uint32_t kArchiveVersion = 1;

enum class FrameType : std::uint16_t {
  file_header = 1,   // first frame of every file: who wrote it
  sites = 2,         // site definitions, before the first chunk that uses them
  chunk = 3,         // an index, then a zstd frame of encoded records
  losses = 4,        // records that were lost, and why
  chunk_filter = 5,  // what the next chunk holds, for readers that look for little in much
  crash = 6,         // the crash report of a process whose ring was recovered
  end = 7,           // how the process ended (EndRecord); the last frame of its last file
  telemetry = 8,     // the process's telemetry (telemetry_frame.hpp) at a rotation or its end
  metrics = 9,       // the process's application metrics (metrics_frame.hpp), a snapshot
};

// end payload. Written by the flusher when the logger shuts down (the process exits), and by
// recovery into the file of a dead process that left no crash report (killed). A run with
// neither an end frame nor a crash frame has not ended yet, or ended without a trace.
enum class EndHow : std::uint32_t { exited = 1, killed = 2 };
struct EndRecord {
  std::int64_t time_ns;  // wall clock; 0: unknown (killed: the last record's time is the best)
  std::uint32_t how;     // EndHow
  std::uint32_t reserved;
};
static_assert(sizeof(EndRecord) == 16);

// file_header payload: this struct, then app, host and library version (not NUL-terminated).
struct FileHeader {
  std::uint32_t version;      // kArchiveVersion
  std::uint32_t fixed_bytes;  // sizeof(FileHeader): lets later versions append fields
  std::int32_t pid;
  std::uint32_t file_index;       // 0 for the process's first file, then +1 per rotation
  std::int64_t process_start_ns;  // wall clock
  std::int64_t file_start_ns;
  // The clock calibration the writer converted ticks with (base and reference points).
  std::uint64_t clock_base_ticks;
  std::int64_t clock_base_ns;
  std::uint64_t clock_ref_ticks;
  std::int64_t clock_ref_ns;
  std::uint16_t app_len;
  std::uint16_t host_len;
  std::uint16_t library_version_len;
  std::uint16_t reserved;
};
static_assert(sizeof(FileHeader) == 72);

// sites payload: repeated { u32 site id, then a ring SiteEntry (ring_layout.hpp) of its own
// `size` bytes }. A site id means the same site everywhere in one file.

// chunk payload: ChunkIndex, tid_count u32 thread ids, then one zstd frame whose content
// (body_bytes long) is the encoded records (chunk_body.hpp).
struct ChunkIndex {
  std::uint32_t fixed_bytes;  // sizeof(ChunkIndex)
  std::uint32_t record_count;
  std::int64_t min_ns;  // time range of the chunk's records
  std::int64_t max_ns;
  std::uint32_t level_counts[8];  // by Level value (trace = 0 .. fatal = 5)
  std::uint32_t body_bytes;       // decompressed size of the records
  std::uint16_t tid_count;
  std::uint8_t codec;  // 1: zstd
  std::uint8_t reserved;
  // A Bloom filter over the trace ids of the chunk's records (kTraceFilterBits bits, two
  // probes): a reader looking for one trace skips a chunk whose filter says "absent"
  // without decompressing it. All zero when no record has a trace.
  std::uint8_t trace_filter[32];
  // Since fixed_bytes 104: XXH3-64 of the index's first 96 bytes, used as the seed of
  // XXH3-64 over the thread ids that follow the index (chunk_index_check()). A reader that
  // scans an archive trusts an index with a good check without hashing the chunk's body:
  // the body is checked (the frame's payload check) when it is read.
  std::uint64_t index_check;
};
static_assert(sizeof(ChunkIndex) == 104);
// The index before index_check existed: what a reader still accepts.
inline constexpr std::uint32_t kChunkIndexV1Bytes = 96;
// ChunkIndex::codec: how the payload after the index and thread ids holds the body.
// 1: one zstd frame of a codec-1 body (byte streams; files before 2026-12).
// 2: u32 stored, then the body's first `stored` bytes as they are (its raw bit sections),
//    then a zstd frame of the rest (its text; none if empty). stored = 0: the whole body is
//    one zstd frame. chunk_body.hpp has both bodies' layouts.
inline constexpr std::uint8_t kCodecZstd = 1;
inline constexpr std::uint8_t kCodecBits = 2;

// ChunkIndex::index_check of the index's first 96 bytes and its thread ids (tid_count u32).
// (Defined in frame.cpp, with the frame checks.)
[[nodiscard]] std::uint64_t chunk_index_check(const void* index_v1, const void* tids,
                                              std::size_t tid_bytes) noexcept;
inline constexpr std::uint32_t kTraceFilterBits = 256;

// The two filter bits of a 16-byte trace id (its bytes are already random).
inline void trace_filter_bits(const std::uint8_t* trace_id, std::uint32_t& a, std::uint32_t& b) {
  std::uint64_t lo, hi;
  std::memcpy(&lo, trace_id, 8);
  std::memcpy(&hi, trace_id + 8, 8);
  const std::uint64_t h = (lo ^ (hi * 0x9E3779B97F4A7C15ull)) * 0xD6E8FEB86659FD93ull;
  a = static_cast<std::uint32_t>(h >> 56);
  b = static_cast<std::uint32_t>(h >> 48) & 0xFF;
}

inline bool trace_filter_may_contain(const std::uint8_t* filter, const std::uint8_t* trace_id) {
  std::uint32_t a, b;
  trace_filter_bits(trace_id, a, b);
  return (filter[a / 8] & (1u << (a % 8))) != 0 && (filter[b / 8] & (1u << (b % 8))) != 0;
}

// chunk_filter payload, written just before the chunk frame it describes: ChunkFilter,
// site_count u32 site ids (every site the chunk's records use), then bloom_bits / 8 bytes
// of a Bloom filter over the chunk's trace ids, sized to them (kBloomBitsPerTrace bits per
// id, kBloomProbes probes: about 1% false positives whatever the chunk holds). A reader
// that looks for one trace, or for a few call sites, skips the chunk without decompressing
// it. Readers that do not know the frame skip it and use the index's 256-bit filter.
struct ChunkFilter {
  std::uint32_t fixed_bytes;  // sizeof(ChunkFilter)
  std::uint32_t site_count;
  std::uint32_t trace_count;  // trace ids added (a repeated one may count twice)
  std::uint32_t bloom_bits;   // a multiple of 64; 0: no record has a trace
  std::uint8_t probes;        // bits set per trace id
  std::uint8_t reserved[7];
};
static_assert(sizeof(ChunkFilter) == 24);
inline constexpr std::uint32_t kBloomBitsPerTrace = 10;
inline constexpr std::uint8_t kBloomProbes = 7;
inline constexpr std::uint32_t kMaxBloomBits = 1u << 26;  // 8 MiB: more is refused on read

// A trace id's 64-bit hash for the chunk filter (the id's bytes are random already; the
// mix makes a made-up or sequential id spread too).
inline std::uint64_t trace_hash(const std::uint8_t* trace_id) {
  std::uint64_t lo, hi;
  std::memcpy(&lo, trace_id, 8);
  std::memcpy(&hi, trace_id + 8, 8);
  std::uint64_t h = lo ^ (hi * 0x9E3779B97F4A7C15ull);
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 33);
}

// The i-th probe's bit of hash `h` in a filter of `bits` bits (double hashing; the bit
// index is scaled into [0, bits) with a multiply, so `bits` need not be a power of two).
inline std::uint32_t bloom_bit(std::uint64_t h, std::uint32_t i, std::uint32_t bits) {
  const auto h1 = static_cast<std::uint32_t>(h);
  const auto h2 = static_cast<std::uint32_t>(h >> 32) | 1u;
  const std::uint32_t x = h1 + i * h2;
  return static_cast<std::uint32_t>((std::uint64_t{x} * bits) >> 32);
}

inline bool bloom_may_contain(const std::uint8_t* filter, std::uint32_t bits, std::uint8_t probes,
                              std::uint64_t h) {
  for (std::uint32_t i = 0; i < probes; ++i) {
    const std::uint32_t b = bloom_bit(h, i, bits);
    if ((filter[b / 8] & (1u << (b % 8))) == 0) return false;
  }
  return true;
}

// Why records were lost (values are stored in loss frames; never renumber).
enum class LossCause : std::uint8_t {
  overwritten = 1,      // the producer lapped the flusher before it read them
  corrupt = 2,          // the ring's bytes did not validate
  disk_error = 3,       // drained, but the archive write failed (the circuit breaker opened)
  no_slot = 4,          // a thread found no free ring slot
  after_exit = 5,       // logged after the thread or the logger shut down
  site_table_full = 6,  // logged at a call site the full site table could not define
};

// losses payload: u32 count, then count LossEntry.
struct LossEntry {
  std::int64_t time_ns;  // when the flusher noticed
  std::uint32_t slot;
  std::uint32_t tid;
  std::uint64_t records;  // exact
  std::uint64_t bytes;    // ring bytes skipped, when known
  std::uint8_t cause;     // LossCause
  std::uint8_t reserved[7];
};
static_assert(sizeof(LossEntry) == 40);

// LEB128 varints, used inside chunk bodies.
inline std::uint8_t* put_varint(std::uint8_t* out, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *out++ = static_cast<std::uint8_t>(v | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<std::uint8_t>(v);
  return out;
}

// Reads a varint from [p, end); false if it runs past `end` or over 64 bits.
inline bool get_varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& v) noexcept {
  v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    const std::uint8_t byte = *p++;
    v |= std::uint64_t{byte & 0x7Fu} << shift;
    if (byte < 0x80) return shift < 63 || byte <= 1;
  }
  return false;
}

constexpr std::uint64_t zigzag(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
constexpr std::int64_t unzigzag(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

}  // namespace blackbox::archive
