// The chunk encoder (chunk_encoder.hpp): the flusher's per-record work, and zstd.
#include "format/chunk_encoder.hpp"

#include <zstd.h>

#define XXH_INLINE_ALL  // Debian's libxxhash-dev header, compiled in
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace blackbox::archive {
namespace {

using detail::ArgType;

// Whether the `len` bytes at a and b are equal; up to 32 bytes without a call to memcmp
// (overlapping word loads, never outside the strings).
[[gnu::always_inline]] inline bool same_bytes(const std::uint8_t* a, const std::uint8_t* b,
                                              std::uint32_t len) noexcept {
  if (len >= 8 && len <= 16) {
    return load<std::uint64_t>(a) == load<std::uint64_t>(b) &&
           load<std::uint64_t>(a + len - 8) == load<std::uint64_t>(b + len - 8);
  }
  if (len > 16 && len <= 32) {
    return ((load<std::uint64_t>(a) ^ load<std::uint64_t>(b)) |
            (load<std::uint64_t>(a + 8) ^ load<std::uint64_t>(b + 8)) |
            (load<std::uint64_t>(a + len - 16) ^ load<std::uint64_t>(b + len - 16)) |
            (load<std::uint64_t>(a + len - 8) ^ load<std::uint64_t>(b + len - 8))) == 0;
  }
  return std::memcmp(a, b, len) == 0;
}

// The string dictionary's hash (never stored: only this encoder's table uses it, and a hit
// is confirmed by comparing the bytes). Strings up to 32 bytes, nearly all of those logged,
// are hashed inline from at most four word loads and one 64 x 64-bit multiplication; longer
// ones by XXH3.
[[gnu::always_inline]] inline std::uint64_t string_hash(const std::uint8_t* p,
                                                        std::uint32_t len) noexcept {
  if (len > 32) return XXH3_64bits(p, len);
  std::uint64_t a = len, b = 0;
  if (len >= 8) {
    a ^= load<std::uint64_t>(p);
    b = load<std::uint64_t>(p + len - 8);
    if (len > 16) {
      a ^= load<std::uint64_t>(p + 8) * 0x9E3779B97F4A7C15ull;
      b ^= load<std::uint64_t>(p + len - 16) * 0xC2B2AE3D27D4EB4Full;
    }
  } else if (len >= 4) {
    a ^= std::uint64_t{load<std::uint32_t>(p)} << 32;
    b = load<std::uint32_t>(p + len - 4);
  } else if (len > 0) {
    b = std::uint64_t{p[0]} | std::uint64_t{p[len / 2]} << 8 | std::uint64_t{p[len - 1]} << 16;
  }
  const uint128_t m =
      static_cast<uint128_t>(a ^ 0x165667B19E3779F9ull) * (b ^ 0x27D4EB2F165667C5ull);
  return static_cast<std::uint64_t>(m) ^ static_cast<std::uint64_t>(m >> 64);
}

// Whether `bits` is m / 10^e exactly, for some |m| < 2^53; sets m.
bool decimal(std::uint64_t bits, std::uint8_t e, std::int64_t& m) noexcept {
  const double scaled = as_double(bits) * kPow10[e];
  if (!(scaled > -9007199254740992.0 && scaled < 9007199254740992.0)) return false;  // NaN too
  m = static_cast<std::int64_t>(scaled + (scaled >= 0 ? 0.5 : -0.5));
  return bits_of(static_cast<double>(m) / kPow10[e]) == bits;
}

[[gnu::always_inline]] inline std::uint8_t* put_f64(std::uint8_t* out, std::uint64_t bits,
                                                    ArgState& s) noexcept {
  std::int64_t m = 0;
  std::uint8_t e = s.hint;
  bool found = e != kNotDecimal && decimal(bits, e, m);
  if (!found && (e != kNotDecimal || s.retry-- == 0)) {
    for (e = 0; e < kNotDecimal && !decimal(bits, e, m); ++e) {
    }
    found = e != kNotDecimal;
    s.retry = 64;  // a value that is not a short decimal: look again in 64 records
  }
  if (found) {
    out = put_varint(
        out, zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(m) - s.prev_m)) << 3 | e);
    s.prev_m = static_cast<std::uint64_t>(m);
    s.hint = e;
  } else {
    *out++ = kNotDecimal;
    out = put_varint(out, bswap(bits ^ s.prev));
    s.hint = kNotDecimal;
  }
  s.prev = bits;
  return out;
}

}  // namespace

// How one argument is encoded: decided once per site, so the per-record loop is a switch.
enum class Op : std::uint8_t { byte1, i16, u16, i32, u32, i64, f32, f64, text };

Op op_for(ArgType t) noexcept {
  switch (t) {
    case ArgType::i8:
    case ArgType::u8:
    case ArgType::boolean:
    case ArgType::character:
      return Op::byte1;
    case ArgType::i16:
      return Op::i16;
    case ArgType::u16:
      return Op::u16;
    case ArgType::i32:
      return Op::i32;
    case ArgType::u32:
      return Op::u32;
    case ArgType::i64:
    case ArgType::u64:
    case ArgType::pointer:
      return Op::i64;
    case ArgType::f32:
      return Op::f32;
    case ArgType::f64:
      return Op::f64;
    case ArgType::string:
    case ArgType::formatted:
      return Op::text;
  }
  return Op::text;
}

// Per site: what the encoder needs per record, and the run's previous values.
struct ChunkEncoder::Site {
  std::uint8_t level = 0;
  bool defined_in_file = false;
  std::uint32_t chunk_epoch = 0;  // chunk_epoch_ when last added to chunk_sites_
  std::uint32_t epoch = 0;        // run_epoch_ when `state` was last reset
  std::uint32_t min_bytes = 0;    // argument bytes a record must have at least
  std::vector<Op> ops;
  std::vector<std::uint32_t> min_after;  // argument bytes at least after argument i
  std::vector<ArgState> state;
};

ChunkEncoder::ChunkEncoder() : cctx_(ZSTD_createCCtx()) {
  grow(64u << 10);
  reset_chunk();
}

ChunkEncoder::~ChunkEncoder() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

void ChunkEncoder::define_site(std::uint32_t id, Level level,
                               std::span<const detail::ArgType> types) {
  if (id >= sites_.size()) sites_.resize(std::max<std::size_t>(id + 1, sites_.size() * 2));
  auto site = std::make_unique<Site>();
  site->level = static_cast<std::uint8_t>(level) & 7;
  site->min_after.assign(types.size(), 0);
  std::uint32_t after = 0;
  for (std::size_t i = types.size(); i-- > 0;) {
    site->min_after[i] = after;
    const std::uint32_t width = detail::fixed_size(types[i]);
    after += width != 0 ? width : 4;  // a string has at least its length word
  }
  site->min_bytes = after;
  for (const ArgType t : types) site->ops.push_back(op_for(t));
  site->state.assign(types.size(), ArgState{});
  sites_[id] = std::move(site);
}

// Makes every stream keep `headroom` free bytes after its write position.
// Makes every stream keep at least `headroom` free bytes after its write position, and
// sets room_ to what every stream can take before the next check.
void ChunkEncoder::grow(std::size_t headroom) {
  room_ = ~std::size_t{0};
  for (int k = 0; k < kStreams; ++k) {
    const std::size_t used =
        stream_[k].empty() ? 0 : static_cast<std::size_t>(out_[k] - stream_[k].data());
    if (stream_[k].size() < used + 2 * headroom) {
      stream_[k].resize(used + 2 * headroom + (64u << 10));
    }
    out_[k] = stream_[k].data() + used;
    room_ = std::min(room_, stream_[k].size() - used);
  }
}

void ChunkEncoder::start_run(std::uint32_t slot, std::uint32_t tid, const char* thread_name,
                             std::uint64_t seq) {
  end_run();
  ++run_epoch_;
  have_trace_ = false;
  std::uint8_t* out = out_[0];
  out = put_varint(out, slot);
  out = put_varint(out, tid);
  const std::size_t name_len = strnlen(thread_name, 16);
  *out++ = static_cast<std::uint8_t>(name_len);
  std::memcpy(out, thread_name, name_len);
  out_[0] = put_varint(out + name_len, seq);
  run_open_ = true;
  run_slot_ = slot;
  run_tid_ = tid;
  next_seq_ = seq;
  run_thread_ = 0;
  while (run_thread_ < threads_.size() &&
         (threads_[run_thread_].slot != slot || threads_[run_thread_].tid != tid)) {
    ++run_thread_;
  }
  if (run_thread_ == threads_.size()) threads_.push_back({slot, tid, 0});
}

void ChunkEncoder::end_run() {
  if (!run_open_) return;
  // Key 0: end of run (site ids start at 1). The room for it: every add() leaves at least
  // its bound minus what it wrote, which is far more than one byte.
  *out_[0]++ = 0;
  run_open_ = false;
}

[[gnu::always_inline]] inline const ChunkEncoder::DictSlot* ChunkEncoder::find_string(
    std::uint64_t hash, std::uint32_t word, const std::uint8_t* bytes) const noexcept {
  const std::uint32_t len = word & detail::kStringLengthMask;
  for (std::size_t k = 0; k < kDictProbes; ++k) {
    const DictSlot& slot = dict_[(hash + k) & (kDictSlots - 1)];
    if (slot.offset == 0) return nullptr;  // empty: not there
    if (slot.hash == hash && slot.word == word &&
        same_bytes(stream_[4].data() + slot.offset, bytes, len)) {
      return &slot;
    }
  }
  return nullptr;
}

void ChunkEncoder::remember_string(const NewString& s, std::uint32_t index) noexcept {
  if (dict_used_ >= kDictSlots / 2) return;  // keep probes short: the rest go unremembered
  for (std::size_t k = 0; k < kDictProbes; ++k) {
    DictSlot& slot = dict_[(s.hash + k) & (kDictSlots - 1)];
    if (slot.offset != 0) continue;
    slot = {s.hash, s.word, s.offset, index};
    ++dict_used_;
    return;
  }
}

// Encodes one record's trace context and arguments into `o` (the streams' write positions,
// held in locals by the caller: stores through byte pointers would otherwise make the
// compiler reload every member after each one). Returns false if the record is malformed;
// `o` may then hold partial output, which the caller drops.
[[gnu::always_inline]] inline bool ChunkEncoder::encode_record(const std::uint8_t* rec,
                                                               std::uint32_t size, Site& site,
                                                               Out& o, std::uint32_t& trace_mode,
                                                               NewString* new_strings,
                                                               std::uint32_t& new_count) {
  const auto h = load<detail::RecordHeader>(rec);
  const std::uint8_t* p = rec + sizeof h;
  const std::uint8_t* const end = rec + size;
  std::uint8_t*& ints = o.s[2];
  std::uint8_t*& floats = o.s[3];
  std::uint8_t*& text = o.s[4];
  trace_mode = 0;
  if ((h.site & detail::kSiteHasTrace) != 0) {
    if (end - p < static_cast<std::ptrdiff_t>(detail::kTraceBytes)) return false;
    trace_mode = have_trace_ && std::memcmp(p, prev_trace_, detail::kTraceBytes) == 0 ? 2 : 1;
    if (trace_mode == 1) {
      std::memcpy(text, p, detail::kTraceBytes);
      text += detail::kTraceBytes;
    }
    p += detail::kTraceBytes;
  }
  if (end - p < static_cast<std::ptrdiff_t>(site.min_bytes)) return false;
  if (site.epoch != run_epoch_) [[unlikely]] {
    site.epoch = run_epoch_;
    std::fill(site.state.begin(), site.state.end(), ArgState{});
  }
  {
    const Op* ops = site.ops.data();
    ArgState* state = site.state.data();
    const std::size_t n = site.ops.size();
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t v = 0;
      switch (ops[i]) {
        case Op::byte1:
          *ints++ = *p++;
          continue;
        case Op::i16:
          v = static_cast<std::uint64_t>(std::int64_t{load<std::int16_t>(p)});
          p += 2;
          break;
        case Op::u16:
          v = load<std::uint16_t>(p);
          p += 2;
          break;
        case Op::i32:
          v = static_cast<std::uint64_t>(std::int64_t{load<std::int32_t>(p)});
          p += 4;
          break;
        case Op::u32:
          v = load<std::uint32_t>(p);
          p += 4;
          break;
        case Op::i64:
          v = load<std::uint64_t>(p);
          p += 8;
          break;
        case Op::f32: {
          const std::uint32_t bits = load<std::uint32_t>(p);
          p += 4;
          floats = put_varint(floats, bswap(bits ^ static_cast<std::uint32_t>(state[i].prev)));
          state[i].prev = bits;
          continue;
        }
        case Op::f64: {
          const std::uint64_t bits = load<std::uint64_t>(p);
          p += 8;
          floats = put_f64(floats, bits, state[i]);
          continue;
        }
        case Op::text: {
          const std::uint32_t word = load<std::uint32_t>(p);
          const std::uint32_t len = word & detail::kStringLengthMask;
          p += 4;
          // Room for this string and the minimum of every argument after it.
          if (len > static_cast<std::uint64_t>(end - p) - site.min_after[i]) return false;
          if (word == state[i].prev_len &&
              same_bytes(reinterpret_cast<const std::uint8_t*>(state[i].prev), p, len)) {
            *text++ = 0;
          } else {
            // Seen earlier in this chunk (any site, any argument)? Then its index.
            const std::uint64_t hash = string_hash(p, len) ^ word;
            const DictSlot* hit = find_string(hash, word, p);
            if (hit != nullptr) {
              text = put_varint(text, (std::uint64_t{hit->index} + 1) * 2);
            } else {
              const std::uint64_t truncated = (word & detail::kStringTruncated) != 0 ? 1 : 0;
              text = put_varint(text, (std::uint64_t{len} * 2 + truncated) * 2 + 1);
              if (new_count < kNewStringsPerRecord) {
                new_strings[new_count] = {hash, word,
                                          static_cast<std::uint32_t>(text - stream_[4].data())};
              }
              ++new_count;
              std::memcpy(text, p, len);
              text += len;
            }
            state[i].prev = reinterpret_cast<std::uint64_t>(p);
            state[i].prev_len = word;
          }
          p += len;
          continue;
        }
      }
      ints = put_varint(ints, zigzag(static_cast<std::int64_t>(v - state[i].prev)));
      state[i].prev = v;
    }
  }
  // Only padding may follow the arguments.
  return end - p < static_cast<std::ptrdiff_t>(detail::kRecordAlign);
}

std::uint32_t ChunkEncoder::add_batch(std::uint32_t slot, std::uint32_t tid,
                                      const char* thread_name, std::uint64_t first_seq,
                                      const BatchRecord* records, std::uint32_t count) {
  // Any stream may get up to 10 bytes per 8 of a record, plus a run header: `room_` is
  // what every stream can still take before grow() must look again.
  std::size_t bound = 64;
  for (std::uint32_t k = 0; k < count; ++k) bound += 2 * std::size_t{records[k].size} + 64;
  if (bound > room_) [[unlikely]] {
    grow(bound);
  }
  room_ -= bound;  // whatever happens below writes less than this into any stream
  if (!run_open_ || first_seq != next_seq_ || tid != run_tid_ || slot != run_slot_) {
    start_run(slot, tid, thread_name, first_seq);
  }
  Out o{{out_[0], out_[1], out_[2], out_[3], out_[4]}};
  std::int64_t prev_ns = prev_ns_, min_ns = index_.min_ns, max_ns = index_.max_ns;
  // A thread's times never go backwards in the archive: when the ring's clock calibration is
  // refreshed between two passes, converting with the new one can put a record a little
  // before the last one converted with the old; such a record keeps the last time instead.
  if (slot >= slot_floor_ns_.size()) slot_floor_ns_.resize(slot + 1, 0);
  std::int64_t floor_ns = slot_floor_ns_[slot];
  std::uint32_t refused = 0, accepted = 0;
  for (std::uint32_t k = 0; k < count; ++k) {
    const auto* rec = reinterpret_cast<const std::uint8_t*>(records[k].bytes);
    const auto h = load<detail::RecordHeader>(rec);
    const std::uint32_t id = h.site & detail::kSiteIdMask;
    Site* site = id < sites_.size() ? sites_[id].get() : nullptr;
    // Written to a copy and committed at the end: a malformed record leaves no trace. Its
    // new strings too: they enter the dictionary only once the record is committed.
    Out r = o;
    std::uint32_t trace_mode = 0, new_count = 0;
    NewString new_strings[kNewStringsPerRecord];
    if (site == nullptr || !encode_record(rec, records[k].size, *site, r, trace_mode, new_strings,
                                          new_count)) [[unlikely]] {
      // Previous values may have moved: end the run here and start the next record in a
      // new one (the decoder resets with it), so both sides agree again.
      ++refused;
      for (int s = 0; s < kStreams; ++s) out_[s] = o.s[s];
      prev_ns_ = prev_ns;
      end_run();
      start_run(slot, tid, thread_name, first_seq + k + 1);
      o = Out{{out_[0], out_[1], out_[2], out_[3], out_[4]}};
      continue;
    }
    o.s[0] = put_varint(o.s[0], std::uint64_t{id} << 2 | trace_mode);
    const std::int64_t ns = std::max(clock_(h.time), floor_ns);
    floor_ns = ns;
    o.s[1] = put_varint(o.s[1], zigzag(ns - prev_ns));
    o.s[2] = r.s[2];
    o.s[3] = r.s[3];
    o.s[4] = r.s[4];
    prev_ns = ns;
    min_ns = std::min(min_ns, ns);
    max_ns = std::max(max_ns, ns);
    for (std::uint32_t j = 0; j < new_count; ++j) {
      // Every literal takes the next index, as in the decoder; only the first few of one
      // record are remembered for lookups.
      if (j < kNewStringsPerRecord) remember_string(new_strings[j], strings_in_chunk_);
      ++strings_in_chunk_;
    }
    if (trace_mode == 1) [[unlikely]] {
      std::memcpy(prev_trace_, rec + sizeof h, detail::kTraceBytes);
      have_trace_ = true;
      std::uint32_t a, b;
      trace_filter_bits(prev_trace_, a, b);
      index_.trace_filter[a / 8] |= static_cast<std::uint8_t>(1u << (a % 8));
      index_.trace_filter[b / 8] |= static_cast<std::uint8_t>(1u << (b % 8));
      trace_hashes_.push_back(trace_hash(prev_trace_));
    }
    ++index_.level_counts[site->level];
    ++accepted;
    if (site->chunk_epoch != chunk_epoch_) [[unlikely]] {
      site->chunk_epoch = chunk_epoch_;
      chunk_sites_.push_back(id);
    }
  }
  for (int s = 0; s < kStreams; ++s) out_[s] = o.s[s];
  slot_floor_ns_[slot] = floor_ns;
  prev_ns_ = prev_ns;
  index_.min_ns = min_ns;
  index_.max_ns = max_ns;
  index_.record_count += accepted;
  threads_[run_thread_].records += accepted;
  next_seq_ = first_seq + count;
  return refused;
}

bool ChunkEncoder::add(std::uint32_t slot, std::uint32_t tid, const char* thread_name,
                       std::uint64_t seq, const std::byte* bytes, std::uint32_t size) {
  const BatchRecord record{bytes, size};
  return add_batch(slot, tid, thread_name, seq, &record, 1) == 0;
}

std::vector<std::uint32_t> ChunkEncoder::take_undefined_sites() {
  std::vector<std::uint32_t> out;
  for (const std::uint32_t id : chunk_sites_) {
    if (!sites_[id]->defined_in_file) {
      sites_[id]->defined_in_file = true;
      out.push_back(id);
    }
  }
  return out;
}

void ChunkEncoder::forget_file_sites() noexcept {
  for (auto& site : sites_) {
    if (site) site->defined_in_file = false;
  }
}

void ChunkEncoder::reset_chunk() noexcept {
  for (int k = 0; k < kStreams; ++k) out_[k] = stream_[k].data();
  grow(0);
  run_open_ = false;
  ++run_epoch_;
  index_ = ChunkIndex{};
  index_.fixed_bytes = sizeof(ChunkIndex);
  index_.codec = kCodecZstd;
  index_.min_ns = std::numeric_limits<std::int64_t>::max();
  index_.max_ns = std::numeric_limits<std::int64_t>::min();
  threads_.clear();
  chunk_sites_.clear();
  ++chunk_epoch_;
  if (dict_used_ != 0 || dict_.empty()) dict_.assign(kDictSlots, DictSlot{});
  dict_used_ = 0;
  strings_in_chunk_ = 0;
  prev_ns_ = 0;
  have_trace_ = false;
  trace_hashes_.clear();
}

void ChunkEncoder::write_filter(std::vector<std::byte>& out) const {
  ChunkFilter head{};
  head.fixed_bytes = sizeof head;
  head.site_count = static_cast<std::uint32_t>(chunk_sites_.size());
  head.trace_count = static_cast<std::uint32_t>(trace_hashes_.size());
  // kBloomBitsPerTrace bits per id, rounded up to whole 64-bit words; the chunk's record
  // count bounds the ids, so this cannot reach kMaxBloomBits.
  const std::uint64_t bits = (std::uint64_t{head.trace_count} * kBloomBitsPerTrace + 63) / 64 * 64;
  head.bloom_bits = static_cast<std::uint32_t>(std::min<std::uint64_t>(bits, kMaxBloomBits));
  head.probes = kBloomProbes;
  const std::size_t at = out.size();
  const std::size_t sites_bytes = chunk_sites_.size() * 4;
  out.resize(at + sizeof head + sites_bytes + head.bloom_bits / 8);
  std::byte* dst = out.data() + at;
  std::memcpy(dst, &head, sizeof head);
  if (sites_bytes != 0) std::memcpy(dst + sizeof head, chunk_sites_.data(), sites_bytes);
  auto* bloom = reinterpret_cast<std::uint8_t*>(dst + sizeof head + sites_bytes);
  std::memset(bloom, 0, head.bloom_bits / 8);
  for (const std::uint64_t h : trace_hashes_) {
    for (std::uint32_t i = 0; i < head.probes; ++i) {
      const std::uint32_t b = bloom_bit(h, i, head.bloom_bits);
      bloom[b / 8] |= static_cast<std::uint8_t>(1u << (b % 8));
    }
  }
}

void ChunkEncoder::discard() noexcept { reset_chunk(); }

bool ChunkEncoder::finish(int zstd_level, std::vector<std::byte>& out) {
  end_run();
  // Join the streams: their lengths, then each one.
  const std::size_t body = body_bytes();
  if (body_.size() < body) body_.resize(body);
  std::uint8_t* w = body_.data();
  for (int k = 0; k < kStreams; ++k) {
    const auto len = static_cast<std::uint32_t>(out_[k] - stream_[k].data());
    std::memcpy(w, &len, 4);
    w += 4;
  }
  for (int k = 0; k < kStreams; ++k) {
    const auto len = static_cast<std::size_t>(out_[k] - stream_[k].data());
    if (len != 0) std::memcpy(w, stream_[k].data(), len);
    w += len;
  }
  const std::size_t bound = ZSTD_compressBound(body);
  if (compressed_.size() < bound) compressed_.resize(bound);
  const std::size_t z = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data(),
                                          compressed_.size(), body_.data(), body, zstd_level);
  if (ZSTD_isError(z)) {
    reset_chunk();
    return false;
  }
  if (index_.record_count == 0) index_.min_ns = index_.max_ns = 0;
  index_.body_bytes = static_cast<std::uint32_t>(body);
  std::vector<std::uint32_t> tids;
  for (const Thread& t : threads_) {
    if (t.records != 0 && std::find(tids.begin(), tids.end(), t.tid) == tids.end()) {
      tids.push_back(t.tid);
    }
  }
  index_.tid_count = static_cast<std::uint16_t>(std::min<std::size_t>(tids.size(), 0xFFFF));
  index_.index_check = chunk_index_check(&index_, tids.data(), index_.tid_count * 4u);
  const std::size_t at = out.size();
  out.resize(at + sizeof index_ + index_.tid_count * 4u + z);
  std::byte* dst = out.data() + at;
  std::memcpy(dst, &index_, sizeof index_);
  std::memcpy(dst + sizeof index_, tids.data(), index_.tid_count * 4u);
  std::memcpy(dst + sizeof index_ + index_.tid_count * 4u, compressed_.data(), z);
  reset_chunk();
  return true;
}

}  // namespace blackbox::archive
