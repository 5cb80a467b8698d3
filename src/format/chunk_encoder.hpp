// The chunk encoder: the flusher's per-record work. Ring records go into the five column
// streams of a chunk body (chunk_body.hpp has the grammar), and a finished chunk is
// compressed with zstd into a chunk frame's payload. Its decoder is chunk_decoder.hpp; the
// two share only chunk_body.hpp.
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
#include "format/chunk_body.hpp"

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
  static constexpr int kStreams = kChunkStreams;
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
}  // namespace blackbox::archive
