// The chunk decoder: the readers' half of the chunk codec. Rebuilds the ring's wire form of
// each record from a (decompressed) chunk body (chunk_body.hpp has the grammar), checking
// every byte: nothing in a body is trusted. Its encoder is chunk_encoder.hpp; the two share
// only chunk_body.hpp.
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
#include <string_view>
#include <unordered_map>
#include <vector>

#include "blackbox/detail/record.hpp"
#include "format/bit_stream.hpp"
#include "format/chunk_body.hpp"
#include "format/chunk_codes.hpp"

namespace blackbox::archive {

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

// Decodes chunk bodies, keeping its working memory from body to body. Records whose site
// is not wanted cost only their key and time (codec 2: their site's stream is never read;
// codec 1: the walk over their encoded bytes); records that fail the filter, the decoding
// of their arguments.
class ChunkDecoder {
 public:
  ChunkDecoder();
  ~ChunkDecoder();
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;

  // Unpacks a chunk frame's payload (`data`: what follows its index and thread ids) into
  // body(), per the index's codec and body size. Returns "" or what is wrong.
  std::string unpack(const ChunkIndex& index, std::span<const std::uint8_t> data);
  [[nodiscard]] std::span<const std::uint8_t> body() const noexcept {
    return {body_.data(), body_size_};
  }

  // Calls `sink` per record that passes; stops at the first malformed byte and returns an
  // error message ("" if the whole body decoded). Records before it are kept. `body` is
  // body() or any other bytes (which are then copied: codec 2 reads past a stream's end).
  std::string decode(std::uint8_t codec, std::span<const std::uint8_t> body,
                     const SiteLookupFn& sites, const RecordFilter& filter,
                     const std::function<void(const DecodedRecord&)>& sink);

 private:
  struct SiteState {
    SiteLookup lookup;
    std::uint32_t epoch = 0;              // codec 1: the run its argument states belong to
    std::vector<ArgState> args;           // codec 1: previous values in that run
    std::vector<std::uint8_t> skip;       // codec 1: how to step over a record's arguments
    std::vector<codes::ArgState2> args2;  // codec 2: previous values in the chunk
    std::vector<std::uint8_t> ops2;       // codec 2: per argument, kInt1..kString
    std::uint32_t fixed2 = 0;             // codec 2: wire bytes of its fixed-size arguments
    BitReader stream;                     // codec 2: the site's stream in this body
    bool has_stream = false;              // codec 2: the body's site table lists it
  };
  std::string decode_v1(std::span<const std::uint8_t> body, const SiteLookupFn& sites,
                        const RecordFilter& filter,
                        const std::function<void(const DecodedRecord&)>& sink);
  std::string decode_v2(std::span<const std::uint8_t> body, const SiteLookupFn& sites,
                        const RecordFilter& filter,
                        const std::function<void(const DecodedRecord&)>& sink);
  bool string_table(std::span<const std::uint8_t> text, std::uint32_t count);
  void forget_sites() noexcept;
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
  std::vector<std::uint8_t> body_;  // unpack()'s, with kBitSlack zero bytes after it
  std::size_t body_size_ = 0;
  void* dctx_ = nullptr;  // ZSTD_DCtx
};

// Argument types of a site (null: unknown site), for decode_body().
using SiteTypes = std::function<const std::vector<detail::ArgType>*(std::uint32_t id)>;

// Decodes every record of a chunk body of `codec` (asks `types` once per site).
std::string decode_body(std::uint8_t codec, std::span<const std::uint8_t> body,
                        const SiteTypes& types,
                        const std::function<void(const DecodedRecord&)>& sink);
}  // namespace blackbox::archive
