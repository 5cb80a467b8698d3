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

}  // namespace

// How one argument is encoded: decided once per site, so the per-record loop is a switch.
enum class Op : std::uint8_t { byte1, i16, u16, i32, u32, i64, f32, f64, text, end };

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

// Per site: what the encoder needs per record, its previous values and its stream.
struct ChunkEncoder::Site {
  std::uint8_t level = 0;
  bool defined_in_file = false;
  std::uint32_t chunk_epoch = 0;     // chunk_epoch_ when last added to chunk_sites_
  std::uint32_t min_bytes = 0;       // argument bytes a record must have at least
  std::uint32_t max_code_bytes = 0;  // stream bytes one record's arguments can take at most
  std::vector<Op> ops;
  // Per string argument: the fixed bytes before it (after the previous string) and the
  // argument bytes at least after it; and the fixed bytes after the last string.
  struct Gap {
    std::uint32_t fixed_before, min_after;
  };
  std::vector<Gap> gaps;
  std::uint32_t fixed_tail = 0;
  std::vector<codes::ArgState2> state;
  Stream stream;
};

void ChunkEncoder::Stream::make_room(std::size_t n) {
  const std::size_t used = static_cast<std::size_t>(w.out - bytes.data());
  if (bytes.size() >= used + n + kBitSlack) return;
  bytes.resize(std::max(bytes.size() * 2, used + n + kBitSlack + (16u << 10)));
  w.out = bytes.data() + used;
}

ChunkEncoder::ChunkEncoder() : cctx_(ZSTD_createCCtx()) { reset_chunk(); }

ChunkEncoder::~ChunkEncoder() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

void ChunkEncoder::define_site(std::uint32_t id, Level level,
                               std::span<const detail::ArgType> types) {
  if (id >= sites_.size()) sites_.resize(std::max<std::size_t>(id + 1, sites_.size() * 2));
  auto site = std::make_unique<Site>();
  site->level = static_cast<std::uint8_t>(level) & 7;
  std::uint32_t after = 0;
  for (std::size_t i = types.size(); i-- > 0;) {
    const std::uint32_t width = detail::fixed_size(types[i]);
    if (width == 0) site->gaps.insert(site->gaps.begin(), Site::Gap{0, after});
    after += width != 0 ? width : 4;  // a string has at least its length word
  }
  site->min_bytes = after;
  std::uint32_t fixed = 0;
  std::size_t string = 0;
  for (const ArgType t : types) {
    site->ops.push_back(op_for(t));
    const std::uint32_t width = detail::fixed_size(t);
    if (width == 0) {
      site->gaps[string++].fixed_before = fixed;
      fixed = 0;
    } else {
      fixed += width;
    }
  }
  site->fixed_tail = fixed;
  site->ops.push_back(Op::end);
  // The longest code of any argument: an escaped Rice value after a 5-bit f64 prefix,
  // 5 + 20 + 7 + 64 bits; 16 bytes each is more than enough.
  site->max_code_bytes = static_cast<std::uint32_t>(16 * types.size() + 16);
  site->state.assign(types.size(), codes::ArgState2{});
  sites_[id] = std::move(site);
}

void ChunkEncoder::reserve(std::size_t control_and_time, std::size_t text) {
  control_.make_room(control_and_time);
  time_.make_room(control_and_time);
  if (strings_.size() < strings_used_ + text) {
    strings_.resize(std::max(strings_.size() * 2, strings_used_ + text + (16u << 10)));
  }
}

std::size_t ChunkEncoder::body_bytes() const noexcept {
  std::size_t n = sizeof(BodyHeader2) + control_.size() + time_.size() + traces_.size() +
                  strings_used_ + chunk_sites_.size() * sizeof(SiteStream);
  for (const std::uint32_t id : chunk_sites_) n += sites_[id]->stream.size();
  return n;
}

void ChunkEncoder::start_run(std::uint32_t slot, std::uint32_t tid, const char* thread_name,
                             std::uint64_t seq) {
  end_run();
  have_trace_ = false;
  BitWriter& w = control_.w;
  put_wide(w, slot);
  put_wide(w, tid);
  const std::size_t name_len = strnlen(thread_name, 16);
  w.put(name_len, 5);
  for (std::size_t i = 0; i < name_len; ++i) w.put(static_cast<std::uint8_t>(thread_name[i]), 8);
  put_wide(w, seq);
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
  codes::put_key(control_.w, keys_, 0);  // room: every record reserves far more than this
  run_open_ = false;
}

// Whether a record's argument bytes [p, end) are well formed for its site: checked before
// anything is written, so a malformed record leaves no trace and the encoding below needs
// no bound checks.
[[gnu::always_inline]] inline bool ChunkEncoder::valid(const Site& site, const std::uint8_t* p,
                                                       const std::uint8_t* end) const noexcept {
  if (end - p < static_cast<std::ptrdiff_t>(site.min_bytes)) return false;
  // Only the strings' lengths vary: step over the fixed bytes before each, check its length
  // leaves room for it and the minimum of every argument after it.
  for (const Site::Gap& gap : site.gaps) {
    p += gap.fixed_before;
    const std::uint32_t len = load<std::uint32_t>(p) & detail::kStringLengthMask;
    p += 4;
    if (len > static_cast<std::uint64_t>(end - p) - gap.min_after) return false;
    p += len;
  }
  // Only padding may follow the arguments.
  return end - p - site.fixed_tail < detail::kRecordAlign;
}

// The table index of the string at p (length word `word`): found, or added.
[[gnu::always_inline]] inline std::uint32_t ChunkEncoder::string_index(const std::uint8_t* p,
                                                                       std::uint32_t word) {
  const std::uint32_t len = word & detail::kStringLengthMask;
  const std::uint64_t hash = string_hash(p, len) ^ word;
  std::size_t free_slot = kDictSlots;
  for (std::size_t k = 0; k < kDictProbes; ++k) {
    DictSlot& slot = dict_[(hash + k) & (kDictSlots - 1)];
    if (slot.index == kNoString) {
      free_slot = (hash + k) & (kDictSlots - 1);
      break;
    }
    if (slot.hash == hash && slot.word == word &&
        same_bytes(strings_.data() + string_offset_[slot.index], p, len)) {
      return slot.index;
    }
  }
  // New: the next index. (With the lookup table half full, later strings are not
  // remembered: probes stay short, and a repeat is written again, which costs only bytes.)
  const auto index = static_cast<std::uint32_t>(string_offset_.size());
  if (free_slot != kDictSlots && dict_used_ < kDictSlots / 2) {
    dict_[free_slot] = {hash, word, index};
    ++dict_used_;
  }
  std::uint8_t* out = put_varint(strings_.data() + strings_used_, word);
  string_offset_.push_back(static_cast<std::uint32_t>(out - strings_.data()));
  string_word_.push_back(word);
  std::memcpy(out, p, len);
  strings_used_ = static_cast<std::size_t>(out + len - strings_.data());
  return index;
}

// Encodes a valid record's arguments (from p) into its site's stream.
[[gnu::always_inline]] inline void ChunkEncoder::encode_args(Site& site, const std::uint8_t* p) {
  BitWriter w = site.stream.w;  // a local: stores through it would make every field reload
  codes::ArgState2* st = site.state.data();
  // ops ends with Op::end: no counter to keep.
  for (const Op* op = site.ops.data();; ++op, ++st) {
    switch (*op) {
      case Op::end:
        site.stream.w = w;
        return;
      case Op::byte1:
        codes::put_int(w, *st, *p);
        p += 1;
        break;
      case Op::i16:
        codes::put_int(w, *st, static_cast<std::uint64_t>(std::int64_t{load<std::int16_t>(p)}));
        p += 2;
        break;
      case Op::u16:
        codes::put_int(w, *st, load<std::uint16_t>(p));
        p += 2;
        break;
      case Op::i32:
        codes::put_int(w, *st, static_cast<std::uint64_t>(std::int64_t{load<std::int32_t>(p)}));
        p += 4;
        break;
      case Op::u32:
        codes::put_int(w, *st, load<std::uint32_t>(p));
        p += 4;
        break;
      case Op::i64:
        codes::put_int(w, *st, load<std::uint64_t>(p));
        p += 8;
        break;
      case Op::f32:
        codes::put_f32(w, *st, load<std::uint32_t>(p));
        p += 4;
        break;
      case Op::f64:
        codes::put_f64(w, *st, load<std::uint64_t>(p));
        p += 8;
        break;
      case Op::text: {
        const std::uint32_t word = load<std::uint32_t>(p);
        const std::uint32_t len = word & detail::kStringLengthMask;
        p += 4;
        const std::uint32_t prev = st->prev_string;
        const bool same = prev != kNoString && string_word_[prev] == word &&
                          same_bytes(strings_.data() + string_offset_[prev], p, len);
        codes::put_string(w, *st, same, same ? prev : string_index(p, word));
        p += len;
        break;
      }
    }
  }
}

std::uint32_t ChunkEncoder::add_batch(std::uint32_t slot, std::uint32_t tid,
                                      const char* thread_name, std::uint64_t first_seq,
                                      const BatchRecord* records, std::uint32_t count) {
  // Per record, time takes at most 12 bytes (an escaped Rice value) and control 6 (a key),
  // or ~40 for a refused record (the run's end and the next run's header, 16 name bytes
  // included); the text, at most each record's size and a varint per string.
  std::size_t text = 0;
  for (std::uint32_t k = 0; k < count; ++k) text += 2 * std::size_t{records[k].size};
  reserve(48 * std::size_t{count} + 128, text);
  if (!run_open_ || first_seq != next_seq_ || tid != run_tid_ || slot != run_slot_) {
    start_run(slot, tid, thread_name, first_seq);
  }
  BitWriter control = control_.w, time = time_.w;
  std::int64_t prev_ns = prev_ns_;
  std::int64_t min_ns = index_.min_ns, max_ns = index_.max_ns;
  // A thread's times never go backwards in the archive: when the ring's clock calibration is
  // refreshed between two passes, converting with the new one can put a record a little
  // before the last one converted with the old; such a record keeps the last time instead.
  if (slot >= slot_floor_ns_.size()) slot_floor_ns_.resize(std::size_t{slot} + 1, 0);
  std::int64_t floor_ns = slot_floor_ns_[slot];
  std::uint32_t refused = 0, accepted = 0;
  for (std::uint32_t k = 0; k < count; ++k) {
    const auto* rec = reinterpret_cast<const std::uint8_t*>(records[k].bytes);
    const auto h = load<detail::RecordHeader>(rec);
    const std::uint32_t id = h.site & detail::kSiteIdMask;
    Site* site = id < sites_.size() ? sites_[id].get() : nullptr;
    const std::uint8_t* p = rec + sizeof h;
    const std::uint8_t* const end = rec + records[k].size;
    const bool traced = (h.site & detail::kSiteHasTrace) != 0;
    if (traced) p += detail::kTraceBytes;
    if (site == nullptr || p > end || !valid(*site, p, end)) [[unlikely]] {
      // Not encoded; the run ends here and the next record starts a new one (its sequence
      // number no longer follows).
      ++refused;
      control_.w = control;
      end_run();
      start_run(slot, tid, thread_name, first_seq + k + 1);
      control = control_.w;
      continue;
    }
    if (site->chunk_epoch != chunk_epoch_) [[unlikely]] {
      // The site's first record in this chunk: its previous values start afresh.
      site->chunk_epoch = chunk_epoch_;
      chunk_sites_.push_back(id);
      std::fill(site->state.begin(), site->state.end(), codes::ArgState2{});
      if (site->stream.bytes.empty()) site->stream.bytes.resize(4096);
      site->stream.reset();
    }
    std::uint32_t trace_mode = 0;
    if (traced) {
      const std::uint8_t* trace = rec + sizeof h;
      trace_mode = have_trace_ && std::memcmp(trace, prev_trace_, detail::kTraceBytes) == 0 ? 2 : 1;
      if (trace_mode == 1) [[unlikely]] {
        std::memcpy(prev_trace_, trace, detail::kTraceBytes);
        have_trace_ = true;
        traces_.insert(traces_.end(), trace, trace + detail::kTraceBytes);
        std::uint32_t a, b;
        trace_filter_bits(prev_trace_, a, b);
        index_.trace_filter[a / 8] |= static_cast<std::uint8_t>(1u << (a % 8));
        index_.trace_filter[b / 8] |= static_cast<std::uint8_t>(1u << (b % 8));
        trace_hashes_.push_back(trace_hash(prev_trace_));
      }
    }
    codes::put_key(control, keys_, id << 2 | trace_mode);
    const std::int64_t ns = std::max(clock_(h.time), floor_ns);
    floor_ns = ns;
    codes::put_step(time, steps_,
                    static_cast<std::int64_t>(static_cast<std::uint64_t>(ns) -
                                              static_cast<std::uint64_t>(prev_ns)));
    prev_ns = ns;
    min_ns = std::min(min_ns, ns);
    max_ns = std::max(max_ns, ns);
    if (site->stream.room() < site->max_code_bytes) [[unlikely]] {
      site->stream.make_room(site->max_code_bytes + 4096);
    }
    encode_args(*site, p);
    ++index_.level_counts[site->level];
    ++accepted;
  }
  control_.w = control;
  time_.w = time;
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
  if (control_.bytes.empty()) control_.bytes.resize(16u << 10);
  if (time_.bytes.empty()) time_.bytes.resize(16u << 10);
  control_.reset();
  time_.reset();
  keys_ = codes::KeyList{};
  steps_ = codes::StepList{};
  run_open_ = false;
  index_ = ChunkIndex{};
  index_.fixed_bytes = sizeof(ChunkIndex);
  index_.codec = kCodecBits;
  index_.min_ns = std::numeric_limits<std::int64_t>::max();
  index_.max_ns = std::numeric_limits<std::int64_t>::min();
  threads_.clear();
  chunk_sites_.clear();
  ++chunk_epoch_;
  if (dict_used_ != 0 || dict_.empty()) {
    dict_.assign(kDictSlots, DictSlot{0, 0, kNoString});
  }
  dict_used_ = 0;
  traces_.clear();
  strings_used_ = 0;
  string_offset_.clear();
  string_word_.clear();
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

// Copies the body's raw part (header, control, time, site table, site streams) to `dst`;
// returns its end.
std::uint8_t* ChunkEncoder::write_raw(const BodyHeader2& head, std::uint8_t* dst) const {
  const auto put = [&dst](const void* src, std::size_t n) {
    if (n != 0) std::memcpy(dst, src, n);
    dst += n;
  };
  put(&head, sizeof head);
  put(control_.bytes.data(), head.control_bytes);
  put(time_.bytes.data(), head.time_bytes);
  for (const std::uint32_t id : chunk_sites_) {
    const SiteStream s{id, static_cast<std::uint32_t>(sites_[id]->stream.size())};
    put(&s, sizeof s);
  }
  for (const std::uint32_t id : chunk_sites_) {
    const Stream& s = sites_[id]->stream;
    put(s.bytes.data(), s.size());
  }
  return dst;
}

bool ChunkEncoder::finish(int zstd_level, std::vector<std::byte>& out) {
  end_run();
  control_.w.flush();
  time_.w.flush();
  for (const std::uint32_t id : chunk_sites_) sites_[id]->stream.w.flush();
  BodyHeader2 head{};
  head.control_bytes = static_cast<std::uint32_t>(control_.size());
  head.time_bytes = static_cast<std::uint32_t>(time_.size());
  head.site_count = static_cast<std::uint32_t>(chunk_sites_.size());
  head.trace_count = static_cast<std::uint32_t>(traces_.size() / detail::kTraceBytes);
  head.string_count = static_cast<std::uint32_t>(string_offset_.size());
  std::size_t raw =
      sizeof head + head.control_bytes + head.time_bytes + chunk_sites_.size() * sizeof(SiteStream);
  for (const std::uint32_t id : chunk_sites_) raw += sites_[id]->stream.size();

  // The raw part is stored as it is, and the text (trace contexts, then the string table)
  // compressed; unless the raw part is small enough to be mostly repeats (under 2 bytes a
  // record: values the codes predicted nearly every time), when zstd takes the whole body,
  // cheaply (a few bytes a record) and to a fraction.
  const bool all_zstd = raw < 2 * std::size_t{index_.record_count};
  text_.resize(all_zstd ? raw : 0);
  std::size_t at = 0;
  const auto stage = [this, &at](const void* src, std::size_t n) {
    if (n != 0) std::memcpy(text_.data() + at, src, n);
    at += n;
  };
  if (all_zstd) at = static_cast<std::size_t>(write_raw(head, text_.data()) - text_.data());
  text_.resize(at + traces_.size() + strings_used_);
  stage(traces_.data(), traces_.size());
  stage(strings_.data(), strings_used_);
  std::size_t z = 0;
  if (!text_.empty()) {
    const std::size_t bound = ZSTD_compressBound(text_.size());
    if (compressed_.size() < bound) compressed_.resize(bound);
    z = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data(), compressed_.size(),
                          text_.data(), text_.size(), zstd_level);
    if (ZSTD_isError(z)) {
      reset_chunk();
      return false;
    }
  }
  if (index_.record_count == 0) index_.min_ns = index_.max_ns = 0;
  index_.body_bytes = static_cast<std::uint32_t>(raw + traces_.size() + strings_used_);
  std::vector<std::uint32_t> tids;
  for (const Thread& t : threads_) {
    if (t.records != 0 && std::find(tids.begin(), tids.end(), t.tid) == tids.end()) {
      tids.push_back(t.tid);
    }
  }
  index_.tid_count = static_cast<std::uint16_t>(std::min<std::size_t>(tids.size(), 0xFFFF));
  index_.index_check = chunk_index_check(&index_, tids.data(), index_.tid_count * 4u);
  const std::size_t out_at = out.size();
  out.resize(out_at + sizeof index_ + index_.tid_count * 4u + 4 + (all_zstd ? 0 : raw) + z);
  auto* dst = reinterpret_cast<std::uint8_t*>(out.data() + out_at);
  const auto put = [&dst](const void* src, std::size_t n) {
    if (n != 0) std::memcpy(dst, src, n);
    dst += n;
  };
  put(&index_, sizeof index_);
  put(tids.data(), index_.tid_count * 4u);
  const auto stored = static_cast<std::uint32_t>(all_zstd ? 0 : raw);
  put(&stored, 4);
  if (!all_zstd) dst = write_raw(head, dst);
  put(compressed_.data(), z);
  reset_chunk();
  return true;
}

}  // namespace blackbox::archive
