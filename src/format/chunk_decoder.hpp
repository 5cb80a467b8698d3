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
#include "format/chunk_body.hpp"

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
