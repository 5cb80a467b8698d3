// The chunk encoder: the flusher's per-record work. Ring records go into the bit streams of
// a chunk body of codec 2 (chunk_body.hpp has the layout, chunk_codes.hpp the codes), and a
// finished chunk becomes a chunk frame's payload: its raw bit sections, and its text (trace
// contexts and strings) compressed with zstd. Its decoder is chunk_decoder.hpp; the two
// share only chunk_body.hpp and chunk_codes.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "blackbox/detail/record.hpp"
#include "blackbox/level.hpp"
#include "format/archive_format.hpp"
#include "format/bit_stream.hpp"
#include "format/chunk_body.hpp"
#include "format/chunk_codes.hpp"

namespace blackbox::archive {

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
  // Ends the current run (the next record starts a new one, with its thread named again).
  void end_run();

  // The threads of the chunk being built and how many of its records each has.
  struct Thread {
    std::uint32_t slot, tid;
    std::uint64_t records;
  };
  [[nodiscard]] const std::vector<Thread>& threads() const noexcept { return threads_; }

  // About the chunk body's size so far (raw sections and text, before compression).
  [[nodiscard]] std::size_t body_bytes() const noexcept;
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
  void reserve(std::size_t control_and_time, std::size_t text);
  bool valid(const Site& site, const std::uint8_t* p, const std::uint8_t* end) const noexcept;
  void encode_args(Site& site, const std::uint8_t* p);
  std::uint32_t string_index(const std::uint8_t* p, std::uint32_t word);
  std::uint8_t* write_raw(const BodyHeader2& head, std::uint8_t* dst) const;

  // The chunk's string table: every distinct string of the chunk once (unless the lookup
  // table is full), in order; a string argument is its index. Found by an open-addressing
  // table over (hash, length word); a hit is confirmed by comparing the bytes.
  struct DictSlot {
    std::uint64_t hash;
    std::uint32_t word;
    std::uint32_t index;  // kNoString: empty
  };
  static constexpr std::size_t kDictSlots = 8192;
  static constexpr std::size_t kDictProbes = 8;

  std::vector<std::unique_ptr<Site>> sites_;
  std::vector<std::uint32_t> chunk_sites_;  // sites used by the chunk being built, in order
  std::uint32_t chunk_epoch_ = 1;
  // Growable buffers with a bit writer each; kBitSlack bytes past every write position.
  struct Stream {
    std::vector<std::uint8_t> bytes;
    BitWriter w;
    void reset() noexcept { w = BitWriter{bytes.data(), 0, 0}; }
    [[nodiscard]] std::size_t room() const noexcept {
      return static_cast<std::size_t>(bytes.data() + bytes.size() - w.out);
    }
    void make_room(std::size_t n);
    [[nodiscard]] std::size_t size() const noexcept { return w.bytes_from(bytes.data()); }
  };
  Stream control_, time_;
  codes::KeyList keys_;
  codes::StepList steps_;  // time: the last steps
  // Text: trace contexts (24 bytes each), then the string table (varint length word, bytes).
  std::vector<std::uint8_t> traces_;
  std::vector<std::uint8_t> strings_;
  std::size_t strings_used_ = 0;
  std::vector<std::uint32_t> string_offset_;  // per index: where its bytes are in strings_
  std::vector<std::uint32_t> string_word_;    // per index: its length word
  std::vector<DictSlot> dict_;
  std::size_t dict_used_ = 0;
  ChunkIndex index_{};
  std::vector<Thread> threads_;
  std::vector<std::int64_t> slot_floor_ns_;  // per slot: the last time written
  std::size_t run_thread_ = 0;               // index in threads_ of the open run's thread
  TickConverter clock_;
  std::int64_t prev_ns_ = 0;
  bool run_open_ = false;
  std::uint32_t run_slot_ = 0, run_tid_ = 0;
  std::uint64_t next_seq_ = 0;
  bool have_trace_ = false;
  std::vector<std::uint64_t> trace_hashes_;  // trace_hash() of each trace context written
  std::uint8_t prev_trace_[detail::kTraceBytes] = {};
  void* cctx_ = nullptr;  // ZSTD_CCtx, reused
  std::vector<std::byte> compressed_;
  std::vector<std::uint8_t> text_;  // traces and strings joined, for zstd
};
}  // namespace blackbox::archive
