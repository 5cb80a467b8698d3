// Record chunks: ring records re-encoded compactly before zstd sees them, and decoded back
// into the ring's wire form for the reader (docs/format.md, "Chunk body").
//
// The body is five streams, each a column of like values, so that zstd finds long matches
// and cheap literals (a row of mixed fields would give it short matches at best):
//   body    := u32 length[5], control, time, ints, floats, text
//   control := run*            run := varint slot, varint tid, u8 name_len, name,
//                                     varint first_seq, key*, varint 0 (end of run)
//              key := varint (site_id << 2 | trace_mode)
//   time    := per record, varint zigzag(ns - previous ns) (previous: 0 at chunk start,
//              carried across runs)
//   ints    := per integer, pointer, bool or char argument, in record order
//   floats  := per f32 / f64 argument
//   text    := per record with trace_mode 1, its 24-byte trace context; per string
//              argument, its encoding
// A run is consecutive records (by sequence number) of one thread in one slot. trace_mode:
// 0 none, 1 a new trace context (in text), 2 the run's previous one again. Arguments are
// encoded against the previous value of the same argument of the same site in the same run
// (all start at 0 / "none" at each run start):
//   1-byte types (i8, u8, bool, char): the byte (ints)
//   integers and pointers: varint zigzag(value - previous), as 64-bit (signed types are
//   sign-extended) (ints)
//   f32 / f64: varint of byte-swapped (bits XOR previous bits): equal values cost one byte
//   strings: varint 0 = same as previous; even v = the chunk's string number v / 2 - 1
//   (strings are numbered in the order they appear in full); odd v = in full:
//   varint ((len * 2 + truncated) * 2 + 1), then the bytes
// Nothing about a record is lost: decoding gives back the exact wire bytes of its arguments.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "archive/format.hpp"
#include "blackbox/detail/record.hpp"
#include "blackbox/level.hpp"

namespace blackbox::archive {

__extension__ typedef __int128 int128_t;  // 64 x 64-bit products without overflow
__extension__ typedef unsigned __int128 uint128_t;

// ticks -> wall-clock ns with a multiply and a shift (the flusher converts every record).
struct TickConverter {
  std::uint64_t ref_ticks = 0;
  std::int64_t ref_ns = 0;
  std::uint64_t mult = 0;  // ns per tick, 32.32 fixed point
  static TickConverter from(std::uint64_t base_ticks, std::int64_t base_ns, std::uint64_t ref_ticks,
                            std::int64_t ref_ns) noexcept;
  [[nodiscard]] std::int64_t operator()(std::uint64_t ticks) const noexcept {
    const auto dt = static_cast<int128_t>(static_cast<std::int64_t>(ticks - ref_ticks));
    // Wrapping, not overflowing, addition: recovery converts a dead process's calibration,
    // which a damaged file can fill with anything.
    const auto delta = static_cast<std::int64_t>((dt * static_cast<int128_t>(mult)) >> 32);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(ref_ns) +
                                     static_cast<std::uint64_t>(delta));
  }
};

// An argument's previous value in the current run (the encoder's and the decoder's).
inline constexpr std::uint32_t kNoString = 0xFFFF'FFFFu;  // "no previous string" in a run

struct ArgState {
  std::uint64_t prev = 0;              // value, f32/f64 bits, or (encoder) pointer to the string
  std::uint64_t prev_m = 0;            // f64: the previous decimal mantissa
  std::uint32_t prev_len = kNoString;  // strings: previous length word
  std::uint8_t hint = 0;               // f64: exponent that worked last (kNotDecimal: none did)
  std::uint8_t retry = 0;              // f64: records until a non-decimal argument is tried again
};

class ChunkEncoder {
 public:
  ChunkEncoder();
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  // Tells the encoder a site's level and argument types (once per site id).
  void define_site(std::uint32_t id, Level level, std::span<const detail::ArgType> types);
  [[nodiscard]] bool knows_site(std::uint32_t id) const noexcept {
    return id < sites_.size() && sites_[id] != nullptr;
  }

  void set_clock(const TickConverter& clock) noexcept { clock_ = clock; }

  // Encodes one ring record (`bytes`, `size`: as in the ring) of thread `tid` in `slot`,
  // with sequence number `seq`. Returns false, writing nothing, if the record is malformed
  // or names an unknown site. Starts a new run when slot, thread or sequence do not follow.
  bool add(std::uint32_t slot, std::uint32_t tid, const char* thread_name, std::uint64_t seq,
           const std::byte* bytes, std::uint32_t size);
  // The same for `count` records with consecutive sequence numbers from `first_seq`, all of
  // thread `tid`: cheaper per record. Returns how many were refused (malformed).
  struct BatchRecord {
    const std::byte* bytes;
    std::uint32_t size;
  };
  std::uint32_t add_batch(std::uint32_t slot, std::uint32_t tid, const char* thread_name,
                          std::uint64_t first_seq, const BatchRecord* records, std::uint32_t count);
  // Ends the current run (call before the bytes the run's strings point into change).
  void end_run();

  // The threads of the chunk being built and how many of its records each has.
  struct Thread {
    std::uint32_t slot, tid;
    std::uint64_t records;
  };
  [[nodiscard]] const std::vector<Thread>& threads() const noexcept { return threads_; }

  [[nodiscard]] std::size_t body_bytes() const noexcept {
    std::size_t n = 4 * kStreams;
    for (int k = 0; k < kStreams; ++k) n += static_cast<std::size_t>(out_[k] - stream_[k].data());
    return n;
  }
  static constexpr int kStreams = 5;
  [[nodiscard]] std::uint32_t record_count() const noexcept { return index_.record_count; }

  // Sites the chunk being built uses whose definition this file has not had yet; marks
  // them as had. forget_file_sites() makes every site "not had" (a new file, a failed write).
  [[nodiscard]] std::vector<std::uint32_t> take_undefined_sites();
  void forget_file_sites() noexcept;

  // Appends the chunk_filter payload of the chunk being built (its sites and a Bloom filter
  // of its trace ids; format.hpp). Call before finish(), which starts a new chunk.
  void write_filter(std::vector<std::byte>& out) const;

  // Ends the chunk: appends its payload (index, tids, zstd frame) to `out` and starts an
  // empty chunk. Returns false if compression failed (nothing appended).
  bool finish(int zstd_level, std::vector<std::byte>& out);
  // Drops the chunk being built (its records are counted lost by the caller).
  void discard() noexcept;

 private:
  struct Site;
  void start_run(std::uint32_t slot, std::uint32_t tid, const char* thread_name, std::uint64_t seq);
  void reset_chunk() noexcept;
  void grow(std::size_t headroom);

  // The chunk's string dictionary: every string written out in full gets the next index;
  // a later equal string (any site, any argument) is written as that index. Open
  // addressing over (hash, length word, offset of the bytes in the text stream).
  struct DictSlot {
    std::uint64_t hash;
    std::uint32_t word;
    std::uint32_t offset;  // 0: empty (a string's bytes never start the text stream)
    std::uint32_t index;
  };
  struct NewString {
    std::uint64_t hash;
    std::uint32_t word;
    std::uint32_t offset;
  };
  static constexpr std::size_t kDictSlots = 8192;
  static constexpr std::size_t kDictProbes = 8;
  static constexpr std::uint32_t kNewStringsPerRecord = 8;
  [[nodiscard]] const DictSlot* find_string(std::uint64_t hash, std::uint32_t word,
                                            const std::uint8_t* bytes) const noexcept;
  void remember_string(const NewString& s, std::uint32_t index) noexcept;
  struct Out {
    std::uint8_t* s[kStreams];
  };
  bool encode_record(const std::uint8_t* rec, std::uint32_t size, Site& site, Out& o,
                     std::uint32_t& trace_mode, NewString* new_strings, std::uint32_t& new_count);

  std::vector<std::unique_ptr<Site>> sites_;
  std::vector<std::uint32_t> chunk_sites_;  // sites used by the chunk being built
  std::uint32_t chunk_epoch_ = 1;
  // The streams (control, time, ints, floats, text) and where each is written next.
  std::vector<std::uint8_t> stream_[kStreams];
  std::uint8_t* out_[kStreams] = {};
  std::size_t room_ = 0;            // bytes every stream can still take (see add_batch())
  std::vector<std::uint8_t> body_;  // the streams joined, for zstd
  std::vector<DictSlot> dict_;
  std::size_t dict_used_ = 0;
  std::uint32_t strings_in_chunk_ = 0;
  ChunkIndex index_{};
  std::vector<Thread> threads_;
  std::vector<std::int64_t> slot_floor_ns_;  // per slot: the last time written
  std::size_t run_thread_ = 0;               // index in threads_ of the open run's thread
  TickConverter clock_;
  std::int64_t prev_ns_ = 0;
  std::uint32_t run_epoch_ = 1;
  bool run_open_ = false;
  std::uint32_t run_slot_ = 0, run_tid_ = 0;
  std::uint64_t next_seq_ = 0;
  bool have_trace_ = false;
  std::vector<std::uint64_t> trace_hashes_;  // trace_hash() of each trace context written
  std::uint8_t prev_trace_[detail::kTraceBytes] = {};
  void* cctx_ = nullptr;  // ZSTD_CCtx, reused
  std::vector<std::byte> compressed_;
};

// One decoded record, in the ring's wire form for its arguments.
struct DecodedRecord {
  std::uint32_t slot = 0, tid = 0;
  std::string_view thread_name;
  std::uint64_t seq = 0;
  std::uint32_t site = 0;
  const void* site_user = nullptr;  // SiteLookup::user of its site
  std::int64_t time_ns = 0;
  const std::uint8_t* trace = nullptr;  // 24 bytes, or null
  std::span<const std::byte> args;      // wire form, as decode_args() expects
};

// What the caller knows about a site id, asked once per site per body.
struct SiteLookup {
  const std::vector<detail::ArgType>* types = nullptr;  // null: undefined (the body is bad)
  const void* user = nullptr;                           // handed back in DecodedRecord
  bool wanted = true;  // false: its records are passed over (their arguments not rebuilt)
};
using SiteLookupFn = std::function<SiteLookup(std::uint32_t id)>;

// Conditions on a record checked before its arguments are rebuilt.
struct RecordFilter {
  std::int64_t since_ns = std::numeric_limits<std::int64_t>::min();  // inclusive
  std::int64_t until_ns = std::numeric_limits<std::int64_t>::max();  // exclusive
  std::span<const std::uint32_t> tids;                               // empty: every thread
  const std::uint8_t* trace_id = nullptr;                            // 16 bytes; null: any

  [[nodiscard]] bool thread_passes(std::uint64_t tid) const noexcept {
    return tids.empty() || std::find(tids.begin(), tids.end(), tid) != tids.end();
  }
  [[nodiscard]] bool time_passes(std::int64_t ns) const noexcept {
    return ns >= since_ns && ns < until_ns;
  }
  // `trace`: the record's 24-byte trace context, or null.
  [[nodiscard]] bool trace_passes(const std::uint8_t* trace) const noexcept {
    return trace_id == nullptr || (trace != nullptr && std::memcmp(trace, trace_id, 16) == 0);
  }
  [[nodiscard]] bool empty() const noexcept {
    return since_ns == std::numeric_limits<std::int64_t>::min() &&
           until_ns == std::numeric_limits<std::int64_t>::max() && tids.empty() &&
           trace_id == nullptr;
  }
};

// Decodes chunk bodies, keeping its working memory from body to body. Records that fail
// the filter (or whose site is not wanted) cost only the walk over their encoded bytes;
// when none of a body's records can pass, which its control and time streams alone tell,
// its argument streams are not even walked (nor checked).
class ChunkDecoder {
 public:
  // Calls `sink` per record that passes; stops at the first malformed byte and returns an
  // error message ("" if the whole body decoded). Records before it are kept.
  std::string decode(std::span<const std::uint8_t> body, const SiteLookupFn& sites,
                     const RecordFilter& filter,
                     const std::function<void(const DecodedRecord&)>& sink);

 private:
  struct SiteState {
    SiteLookup lookup;
    std::uint32_t epoch = 0;         // the run its argument states belong to
    std::vector<ArgState> args;      // previous values in that run
    std::vector<std::uint8_t> skip;  // how to step over a record's arguments, per argument
  };
  // Every record asks: one load and compare when the site is in the cache (nearly always).
  SiteState* site(std::uint32_t id, const SiteLookupFn& sites) {
    const CacheEntry& hit = cache_[id % kCacheEntries];
    if (hit.id == id && id != 0) [[likely]]
      return hit.state;
    return site_slow(id, sites);
  }
  SiteState* site_slow(std::uint32_t id, const SiteLookupFn& sites);
  bool any_wanted(std::span<const std::uint8_t> control, std::span<const std::uint8_t> time,
                  const SiteLookupFn& sites, const RecordFilter& filter);

  // Sites met in the current body: states_[0, used_) (kept, and at fixed addresses, from
  // body to body), found by id through a direct-mapped cache in front of a map (ids come
  // from the file: any u32).
  std::vector<std::unique_ptr<SiteState>> states_;
  std::size_t used_ = 0;
  struct CacheEntry {
    std::uint32_t id = 0;  // 0: empty (no site has id 0)
    SiteState* state = nullptr;
  };
  static constexpr std::size_t kCacheEntries = 256;
  std::array<CacheEntry, kCacheEntries> cache_{};
  std::unordered_map<std::uint32_t, SiteState*> state_of_;
  std::vector<std::pair<const std::uint8_t*, std::uint32_t>> strings_;  // literals, in order
  std::vector<std::byte> wire_;
};

// Argument types of a site (null: unknown site), for decode_body().
using SiteTypes = std::function<const std::vector<detail::ArgType>*(std::uint32_t id)>;

// Decodes every record of a chunk body (asks `types` once per site).
std::string decode_body(std::span<const std::uint8_t> body, const SiteTypes& types,
                        const std::function<void(const DecodedRecord&)>& sink);

}  // namespace blackbox::archive
