// Chunk encoding (the flusher's per-record work) and decoding (the reader's).
#include "archive/chunk_codec.hpp"

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

template <typename T>
T load(const std::uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);  // little-endian host (the ring format requires it)
  return v;
}

std::uint64_t bswap(std::uint64_t v) noexcept { return __builtin_bswap64(v); }
std::uint32_t bswap(std::uint32_t v) noexcept { return __builtin_bswap32(v); }

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

// f64 arguments: a double that is a short decimal (12.345 = 12345 / 10^3), as most logged
// measurements are, is stored as its mantissa's delta and exponent, a few bits instead of
// the ~7 random bytes of its binary fraction. Exact: the decoder computes m / 10^e, and
// the encoder uses this form only if that gives back the very same bits. Tag (low 3 bits):
// 0..6 = exponent, then zigzag(m - previous m); kNotDecimal = the XOR form follows.
constexpr std::uint8_t kNotDecimal = 7;
constexpr double kPow10[7] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};

double as_double(std::uint64_t bits) noexcept {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

std::uint64_t bits_of(double d) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, &d, 8);
  return bits;
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

TickConverter TickConverter::from(std::uint64_t base_ticks, std::int64_t base_ns,
                                  std::uint64_t ref_ticks, std::int64_t ref_ns) noexcept {
  TickConverter c;
  c.ref_ticks = ref_ticks;
  c.ref_ns = ref_ns;
  const std::uint64_t span_ticks = ref_ticks - base_ticks;
  const std::int64_t span_ns = ref_ns - base_ns;
  if (span_ticks != 0 && span_ns > 0) {
    c.mult = static_cast<std::uint64_t>((static_cast<uint128_t>(span_ns) << 32) / span_ticks);
  } else {  // no usable calibration: ticks counted as ns from the base point
    c.ref_ticks = base_ticks;
    c.ref_ns = base_ns;
    c.mult = std::uint64_t{1} << 32;
  }
  return c;
}

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

const ChunkEncoder::DictSlot* ChunkEncoder::find_string(std::uint64_t hash, std::uint32_t word,
                                                        const std::uint8_t* bytes) const noexcept {
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
            const std::uint64_t hash = XXH3_64bits(p, len) ^ word;
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
  const std::size_t at = out.size();
  out.resize(at + sizeof index_ + index_.tid_count * 4u + z);
  std::byte* dst = out.data() + at;
  std::memcpy(dst, &index_, sizeof index_);
  std::memcpy(dst + sizeof index_, tids.data(), index_.tid_count * 4u);
  std::memcpy(dst + sizeof index_ + index_.tid_count * 4u, compressed_.data(), z);
  reset_chunk();
  return true;
}

namespace {

// A stream of the body being decoded: a cursor and its end.
struct In {
  const std::uint8_t* p;
  const std::uint8_t* end;
  bool varint(std::uint64_t& v) noexcept {
    // Away from the end (nearly always) no bound needs checking per byte; most varints are
    // one or two bytes.
    if (end - p >= 10) [[likely]] {
      std::uint64_t byte = *p++;
      if (byte < 0x80) {
        v = byte;
        return true;
      }
      v = byte & 0x7F;
      for (unsigned shift = 7; shift < 64; shift += 7) {
        byte = *p++;
        v |= (byte & 0x7F) << shift;
        if (byte < 0x80) return shift < 63 || byte <= 1;
      }
      return false;
    }
    return get_varint(p, end, v);
  }
  // Steps over a varint without computing it (a record nobody wants).
  bool skip_varint() noexcept {
    if (end - p >= 10) [[likely]] {
      for (int i = 0; i < 10; ++i) {
        if (*p++ < 0x80) return true;
      }
      return false;
    }
    std::uint64_t v;
    return get_varint(p, end, v);
  }
  bool bytes(std::size_t n) const noexcept { return static_cast<std::size_t>(end - p) >= n; }
};

// A string written in full (varint `v` odd: its length and truncation flag, then its bytes
// in `text`): takes the chunk's next string number, and returns its ring length word.
// False if it runs past its stream.
bool take_literal(std::uint64_t v, In& text,
                  std::vector<std::pair<const std::uint8_t*, std::uint32_t>>& strings,
                  std::uint32_t& word) {
  const std::uint64_t len = (v - 1) / 4;
  if (len > detail::kStringLengthMask || !text.bytes(len)) return false;
  word = static_cast<std::uint32_t>(len | ((v - 1) / 2 % 2 != 0 ? detail::kStringTruncated : 0));
  strings.emplace_back(text.p, word);
  text.p += len;
  return true;
}

// Steps over the arguments of a record whose site nobody wants: its values are never
// needed (nor, then, its site's previous values), but the strings written in full still
// take their numbers, which later records may refer to. `ops` is the site's skip plan
// (skip_plan()). False if the bytes run out.
enum SkipOp : std::uint8_t { kSkipByte, kSkipInt, kSkipF32, kSkipF64, kSkipString };

std::vector<std::uint8_t> skip_plan(const std::vector<ArgType>& types) {
  std::vector<std::uint8_t> ops;
  for (const ArgType type : types) {
    const std::uint32_t width = detail::fixed_size(type);
    ops.push_back(width == 1             ? kSkipByte
                  : width == 0           ? kSkipString
                  : type == ArgType::f64 ? kSkipF64
                  : type == ArgType::f32 ? kSkipF32
                                         : kSkipInt);
  }
  return ops;
}

bool skip_args(const std::vector<std::uint8_t>& ops, In& ints, In& floats, In& text,
               std::vector<std::pair<const std::uint8_t*, std::uint32_t>>& strings) {
  for (const std::uint8_t op : ops) {
    switch (op) {
      case kSkipByte:
        if (!ints.bytes(1)) return false;
        ++ints.p;
        break;
      case kSkipInt:
        if (!ints.skip_varint()) return false;
        break;
      case kSkipF32:
        if (!floats.skip_varint()) return false;
        break;
      case kSkipF64: {
        std::uint64_t v;
        if (!floats.varint(v)) return false;
        if ((v & 7) == kNotDecimal && (v != kNotDecimal || !floats.skip_varint())) return false;
        break;
      }
      default: {
        std::uint64_t v;
        std::uint32_t word;
        if (!text.varint(v) || (v % 2 == 1 && !take_literal(v, text, strings, word))) return false;
        break;
      }
    }
  }
  return true;
}

}  // namespace

ChunkDecoder::SiteState* ChunkDecoder::site_slow(std::uint32_t id, const SiteLookupFn& sites) {
  const auto [it, fresh] = state_of_.try_emplace(id, nullptr);
  if (fresh) {
    if (used_ == states_.size()) states_.push_back(std::make_unique<SiteState>());
    SiteState& s = *states_[used_++];
    s.lookup = sites(id);
    s.epoch = 0;
    s.skip.clear();
    if (s.lookup.types != nullptr) s.skip = skip_plan(*s.lookup.types);
    it->second = &s;
  }
  cache_[id % kCacheEntries] = {id, it->second};
  return it->second;
}

// Whether any record of the body can pass, from the control and time streams alone (the
// argument streams are not touched). Malformed bytes answer "yes": decode() reports them.
bool ChunkDecoder::any_wanted(std::span<const std::uint8_t> control_bytes,
                              std::span<const std::uint8_t> time_bytes, const SiteLookupFn& sites,
                              const RecordFilter& filter) {
  In control{control_bytes.data(), control_bytes.data() + control_bytes.size()};
  In time{time_bytes.data(), time_bytes.data() + time_bytes.size()};
  std::int64_t ns = 0;
  std::uint64_t v;
  while (control.p < control.end) {
    std::uint64_t tid;
    if (!control.varint(v) || !control.varint(tid) || !control.bytes(1) ||
        !control.bytes(1u + *control.p)) {
      return true;
    }
    control.p += 1 + *control.p;
    if (!control.varint(v)) return true;
    const bool thread_ok = filter.thread_passes(tid);
    for (;;) {
      std::uint64_t key;
      if (!control.varint(key)) return true;
      if (key == 0) break;
      if ((key >> 2) > 0xFFFF'FFFFu || !time.varint(v)) return true;
      ns = static_cast<std::int64_t>(static_cast<std::uint64_t>(ns) +
                                     static_cast<std::uint64_t>(unzigzag(v)));
      if (!thread_ok || !filter.time_passes(ns)) continue;
      const SiteState* s = site(static_cast<std::uint32_t>(key >> 2), sites);
      if (s->lookup.types == nullptr || s->lookup.wanted) return true;
    }
  }
  return false;
}

std::string ChunkDecoder::decode(std::span<const std::uint8_t> body, const SiteLookupFn& sites,
                                 const RecordFilter& filter,
                                 const std::function<void(const DecodedRecord&)>& sink) {
  constexpr int kStreams = ChunkEncoder::kStreams;
  // Sites are per body (ids are per file): forget the last body's.
  std::fill(cache_.begin(), cache_.end(), CacheEntry{});
  state_of_.clear();
  used_ = 0;
  strings_.clear();
  if (body.size() < 4 * kStreams) return "body shorter than its stream table";
  In in[kStreams];
  const std::uint8_t* at = body.data() + 4 * kStreams;
  std::size_t left = body.size() - 4 * kStreams;
  for (int k = 0; k < kStreams; ++k) {
    const std::uint32_t len = load<std::uint32_t>(body.data() + 4 * k);
    if (len > left) return "stream lengths exceed the body";
    in[k] = {at, at + len};
    at += len;
    left -= len;
  }
  if (left != 0) return "bytes after the last stream";
  In& control = in[0];
  In& time = in[1];
  In& ints = in[2];
  In& floats = in[3];
  In& text = in[4];
  const bool filtering = !filter.empty();
  if (!any_wanted({control.p, control.end}, {time.p, time.end}, sites, filter)) return {};
  std::int64_t prev_ns = 0;
  std::uint32_t epoch = 0;
  DecodedRecord rec;
  std::uint64_t v;
  while (control.p < control.end) {
    // Run header.
    ++epoch;
    if (!control.varint(v) || v > 0xFFFF'FFFFu) return "bad run slot";
    rec.slot = static_cast<std::uint32_t>(v);
    if (!control.varint(v) || v > 0xFFFF'FFFFu) return "bad run thread id";
    rec.tid = static_cast<std::uint32_t>(v);
    if (!control.bytes(1) || *control.p > 16 || !control.bytes(1u + *control.p)) {
      return "bad run thread name";
    }
    rec.thread_name = std::string_view(reinterpret_cast<const char*>(control.p + 1), *control.p);
    control.p += 1 + *control.p;
    if (!control.varint(rec.seq)) return "bad run sequence number";
    const bool thread_ok = filter.thread_passes(rec.tid);
    const std::uint8_t* prev_trace = nullptr;
    for (;; ++rec.seq) {
      std::uint64_t key;
      if (!control.varint(key)) return "bad record key";
      if (key == 0) break;  // end of run
      const std::uint64_t id = key >> 2;
      const std::uint64_t trace_mode = key & 3;
      if (id > 0xFFFF'FFFFu || trace_mode == 3) return "bad record key";
      rec.site = static_cast<std::uint32_t>(id);
      SiteState& s = *site(rec.site, sites);
      const std::vector<ArgType>* arg_types = s.lookup.types;
      if (arg_types == nullptr) return "record of undefined site " + std::to_string(id);
      rec.site_user = s.lookup.user;
      if (!time.varint(v)) return "bad record time";
      prev_ns = static_cast<std::int64_t>(static_cast<std::uint64_t>(prev_ns) +
                                          static_cast<std::uint64_t>(unzigzag(v)));
      rec.time_ns = prev_ns;
      if (trace_mode == 1) {
        if (!text.bytes(detail::kTraceBytes)) return "bad trace";
        prev_trace = text.p;
        text.p += detail::kTraceBytes;
      } else if (trace_mode == 2 && prev_trace == nullptr) {
        return "repeated trace without a previous one";
      }
      rec.trace = trace_mode == 0 ? nullptr : prev_trace;
      if (!s.lookup.wanted) {
        if (!skip_args(s.skip, ints, floats, text, strings_))
          return "argument runs past its stream";
        continue;
      }
      if (s.epoch != epoch) {
        s.epoch = epoch;
        s.args.assign(arg_types->size(), ArgState{});
      }
      // Whether this record is delivered: if not, its arguments are only walked (their
      // previous values still count for the records after it).
      const bool wanted = !filtering || (thread_ok && filter.time_passes(rec.time_ns) &&
                                         filter.trace_passes(rec.trace));
      std::size_t w = 0;
      // Room for `n` more wire bytes at w (only for a wanted record's arguments).
      const auto room = [this, &w](std::size_t n) {
        if (w + n > wire_.size()) wire_.resize(2 * (w + n));
        return wire_.data() + w;
      };
      for (std::size_t i = 0; i < arg_types->size(); ++i) {
        const ArgType type = (*arg_types)[i];
        const std::uint32_t width = detail::fixed_size(type);
        if (width == 1) {
          if (!ints.bytes(1)) return "argument runs past its stream";
          if (wanted) *room(1) = static_cast<std::byte>(*ints.p);
          ++ints.p;
          w += 1;
        } else if (width != 0) {
          ArgState& a = s.args[i];
          std::uint64_t value;
          if (type == ArgType::f64) {
            if (!floats.varint(v)) return "bad f64 argument";
            const auto e = static_cast<std::uint8_t>(v & 7);
            if (e == kNotDecimal) {
              if (v != kNotDecimal || !floats.varint(v)) return "bad f64 argument";
              value = bswap(v) ^ a.prev;
            } else {
              a.prev_m += static_cast<std::uint64_t>(unzigzag(v >> 3));
              value = bits_of(static_cast<double>(static_cast<std::int64_t>(a.prev_m)) / kPow10[e]);
            }
          } else if (type == ArgType::f32) {
            if (!floats.varint(v) || v > 0xFFFF'FFFFu) return "bad f32 argument";
            value = bswap(static_cast<std::uint32_t>(v)) ^ a.prev;
          } else {
            if (!ints.varint(v)) return "bad integer argument";
            value = a.prev + static_cast<std::uint64_t>(unzigzag(v));
          }
          a.prev = value;
          if (wanted) std::memcpy(room(width), &value, width);
          w += width;
        } else {
          ArgState& a = s.args[i];
          if (!text.varint(v)) return "bad string length";
          if (v == 0) {
            if (a.prev_len == kNoString) return "repeated string without a previous one";
          } else if (v % 2 == 0) {  // an earlier string of this chunk
            const std::uint64_t index = v / 2 - 1;
            if (index >= strings_.size()) return "reference to an unknown string";
            a.prev = reinterpret_cast<std::uint64_t>(strings_[index].first);
            a.prev_len = strings_[index].second;
          } else {
            a.prev = reinterpret_cast<std::uint64_t>(text.p);
            if (!take_literal(v, text, strings_, a.prev_len)) return "string runs past its stream";
          }
          const std::uint32_t word = a.prev_len;
          const std::uint32_t len = word & detail::kStringLengthMask;
          if (wanted) {
            std::byte* out = room(4 + len);
            std::memcpy(out, &word, 4);
            if (len != 0) std::memcpy(out + 4, reinterpret_cast<const std::uint8_t*>(a.prev), len);
          }
          w += 4 + len;
        }
      }
      if (!wanted) continue;
      rec.args = std::span<const std::byte>(wire_.data(), w);
      sink(rec);
    }
  }
  if (time.p != time.end || ints.p != ints.end || floats.p != floats.end || text.p != text.end) {
    return "streams longer than their records";
  }
  return {};
}

std::string decode_body(std::span<const std::uint8_t> body, const SiteTypes& types,
                        const std::function<void(const DecodedRecord&)>& sink) {
  ChunkDecoder decoder;
  return decoder.decode(
      body,
      [&types](std::uint32_t id) {
        return SiteLookup{types(id), nullptr, true};
      },
      RecordFilter{}, sink);
}

}  // namespace blackbox::archive
