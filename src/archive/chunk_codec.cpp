// Chunk encoding (the flusher's per-record work) and decoding (the reader's).
#include "archive/chunk_codec.hpp"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_map>

namespace blackbox::archive {
namespace {

using detail::ArgType;

constexpr std::uint32_t kNoString = 0xFFFF'FFFFu;  // "no previous string" in a run

std::uint64_t load_le(const std::uint8_t* p, std::uint32_t n) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);  // little-endian host (the ring format requires it)
  return v;
}

std::uint64_t bswap(std::uint64_t v) noexcept { return __builtin_bswap64(v); }
std::uint32_t bswap(std::uint32_t v) noexcept { return __builtin_bswap32(v); }

bool is_signed(ArgType t) noexcept {
  return t == ArgType::i16 || t == ArgType::i32 || t == ArgType::i64;
}

// Sign-extends the low `bytes` bytes of v.
std::uint64_t sign_extend(std::uint64_t v, std::uint32_t bytes) noexcept {
  const unsigned shift = 64 - bytes * 8;
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(v << shift) >> shift);
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

// Per site: what the encoder needs per record, and the run's previous values.
struct ChunkEncoder::Site {
  std::uint8_t level = 0;
  bool defined_in_file = false;
  std::uint32_t chunk_epoch = 0;  // chunk_epoch_ when last added to chunk_sites_
  std::uint32_t epoch = 0;  // run_epoch_ when prev/prev_len were last reset
  std::vector<ArgType> types;
  std::vector<std::uint64_t> prev;      // previous value, or pointer to previous string
  std::vector<std::uint32_t> prev_len;  // previous string's length word, or kNoString
};

ChunkEncoder::ChunkEncoder() : cctx_(ZSTD_createCCtx()) { reset_chunk(); }

ChunkEncoder::~ChunkEncoder() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

void ChunkEncoder::define_site(std::uint32_t id, Level level,
                               std::span<const detail::ArgType> types) {
  if (id >= sites_.size()) sites_.resize(std::max<std::size_t>(id + 1, sites_.size() * 2));
  auto site = std::make_unique<Site>();
  site->level = static_cast<std::uint8_t>(level) & 7;
  site->types.assign(types.begin(), types.end());
  site->prev.assign(types.size(), 0);
  site->prev_len.assign(types.size(), kNoString);
  sites_[id] = std::move(site);
}

void ChunkEncoder::start_run(std::uint32_t slot, std::uint32_t tid, const char* thread_name,
                             std::uint64_t seq) {
  end_run();
  ++run_epoch_;
  have_trace_ = false;
  std::uint8_t* out = body_.data() + used_;
  out = put_varint(out, slot);
  out = put_varint(out, tid);
  const std::size_t name_len = strnlen(thread_name, 16);
  *out++ = static_cast<std::uint8_t>(name_len);
  std::memcpy(out, thread_name, name_len);
  out = put_varint(out + name_len, seq);
  used_ = static_cast<std::size_t>(out - body_.data());
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
  body_[used_++] = 0;  // key 0: end of run (site ids start at 1)
  run_open_ = false;
}

bool ChunkEncoder::add(std::uint32_t slot, std::uint32_t tid, const char* thread_name,
                       std::uint64_t seq, const std::byte* bytes, std::uint32_t size) {
  const auto* rec = reinterpret_cast<const std::uint8_t*>(bytes);
  detail::RecordHeader h;
  std::memcpy(&h, rec, sizeof h);
  const std::uint32_t id = h.site & detail::kSiteIdMask;
  if (id >= sites_.size() || sites_[id] == nullptr) [[unlikely]] {
    return false;
  }
  Site& site = *sites_[id];
  // Room for the worst case: run header (~40 B), key, time, trace, and per argument at
  // most 10 bytes per 8 of input plus a length varint.
  const std::size_t need = used_ + 2 * std::size_t{size} + 96;
  if (need > body_.size()) [[unlikely]] {
    body_.resize(std::max(need, body_.size() * 2));
  }
  if (!run_open_ || seq != next_seq_ || tid != run_tid_ || slot != run_slot_) [[unlikely]] {
    start_run(slot, tid, thread_name, seq);
  }
  const std::size_t run_mark = used_;
  std::uint8_t* out = body_.data() + used_;
  const std::uint8_t* p = rec + sizeof h;
  const std::uint8_t* const end = rec + size;
  std::uint32_t trace_mode = 0;
  if ((h.site & detail::kSiteHasTrace) != 0) {
    if (end - p < static_cast<std::ptrdiff_t>(detail::kTraceBytes)) return false;
    trace_mode = have_trace_ && std::memcmp(p, prev_trace_, detail::kTraceBytes) == 0 ? 2 : 1;
  }
  out = put_varint(out, std::uint64_t{id} << 2 | trace_mode);
  const std::int64_t ns = clock_(h.time);
  out = put_varint(out, zigzag(ns - prev_ns_));
  if (trace_mode != 0) {
    if (trace_mode == 1) {
      std::memcpy(out, p, detail::kTraceBytes);
      out += detail::kTraceBytes;
    }
    p += detail::kTraceBytes;
  }
  if (site.epoch != run_epoch_) {
    site.epoch = run_epoch_;
    std::fill(site.prev.begin(), site.prev.end(), 0);
    std::fill(site.prev_len.begin(), site.prev_len.end(), kNoString);
  }
  const std::size_t n = site.types.size();
  for (std::size_t i = 0; i < n; ++i) {
    const ArgType type = site.types[i];
    const std::uint32_t width = detail::fixed_size(type);
    if (width == 1) {
      if (p == end) goto malformed;
      *out++ = *p++;
    } else if (width != 0) {
      if (end - p < static_cast<std::ptrdiff_t>(width)) goto malformed;
      std::uint64_t v = load_le(p, width);
      p += width;
      if (type == ArgType::f64) {
        const std::uint64_t x = v ^ site.prev[i];
        site.prev[i] = v;
        out = put_varint(out, bswap(x));
      } else if (type == ArgType::f32) {
        const auto x = static_cast<std::uint32_t>(v ^ site.prev[i]);
        site.prev[i] = v;
        out = put_varint(out, bswap(x));
      } else {
        if (is_signed(type)) v = sign_extend(v, width);
        out = put_varint(out, zigzag(static_cast<std::int64_t>(v - site.prev[i])));
        site.prev[i] = v;
      }
    } else {  // string or formatted: u32 length word, bytes
      if (end - p < 4) goto malformed;
      const auto word = static_cast<std::uint32_t>(load_le(p, 4));
      const std::uint32_t len = word & detail::kStringLengthMask;
      p += 4;
      if (static_cast<std::uint64_t>(end - p) < len) goto malformed;
      const auto* prev = reinterpret_cast<const std::uint8_t*>(site.prev[i]);
      if (word == site.prev_len[i] && std::memcmp(prev, p, len) == 0) {
        *out++ = 0;
      } else {
        const std::uint64_t truncated = (word & detail::kStringTruncated) != 0 ? 1 : 0;
        out = put_varint(out, std::uint64_t{len} * 2 + truncated + 1);
        std::memcpy(out, p, len);
        out += len;
        site.prev[i] = reinterpret_cast<std::uint64_t>(p);
        site.prev_len[i] = word;
      }
      p += len;
    }
  }
  // Only padding may follow the arguments.
  if (end - p >= static_cast<std::ptrdiff_t>(detail::kRecordAlign)) goto malformed;
  if (trace_mode == 1) {
    std::memcpy(prev_trace_, rec + sizeof h, detail::kTraceBytes);
    have_trace_ = true;
    std::uint32_t a, b;
    trace_filter_bits(prev_trace_, a, b);
    index_.trace_filter[a / 8] |= static_cast<std::uint8_t>(1u << (a % 8));
    index_.trace_filter[b / 8] |= static_cast<std::uint8_t>(1u << (b % 8));
  }
  used_ = static_cast<std::size_t>(out - body_.data());
  prev_ns_ = ns;
  if (index_.record_count == 0 || ns < index_.min_ns) index_.min_ns = ns;
  if (index_.record_count == 0 || ns > index_.max_ns) index_.max_ns = ns;
  ++index_.record_count;
  ++index_.level_counts[site.level];
  ++threads_[run_thread_].records;
  ++next_seq_;
  if (site.chunk_epoch != chunk_epoch_) [[unlikely]] {
    site.chunk_epoch = chunk_epoch_;
    chunk_sites_.push_back(id);
  }
  return true;

malformed:
  // The previous values may have moved: end the run here (the decoder resets with it) so
  // both sides agree again. The run header just written, if any, stays (an empty run).
  used_ = run_mark;
  end_run();
  return false;
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
  used_ = 0;
  run_open_ = false;
  ++run_epoch_;
  index_ = ChunkIndex{};
  index_.fixed_bytes = sizeof(ChunkIndex);
  index_.codec = kCodecZstd;
  threads_.clear();
  chunk_sites_.clear();
  ++chunk_epoch_;
  prev_ns_ = 0;
  have_trace_ = false;
  if (body_.size() < (64u << 10)) body_.resize(64u << 10);
}

void ChunkEncoder::discard() noexcept { reset_chunk(); }

bool ChunkEncoder::finish(int zstd_level, std::vector<std::byte>& out) {
  end_run();
  const std::size_t bound = ZSTD_compressBound(used_);
  if (compressed_.size() < bound) compressed_.resize(bound);
  const std::size_t z = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data(),
                                          compressed_.size(), body_.data(), used_, zstd_level);
  if (ZSTD_isError(z)) {
    reset_chunk();
    return false;
  }
  index_.body_bytes = static_cast<std::uint32_t>(used_);
  std::vector<std::uint32_t> tids;
  for (const Thread& t : threads_) {
    if (t.records != 0 && std::find(tids.begin(), tids.end(), t.tid) == tids.end()) {
      tids.push_back(t.tid);
    }
  }
  index_.tid_count = static_cast<std::uint16_t>(std::min<std::size_t>(tids.size(), 0xFFFF));
  const std::size_t at = out.size();
  out.resize(at + sizeof index_ + index_.tid_count * 4u + z);
  std::byte* w = out.data() + at;
  std::memcpy(w, &index_, sizeof index_);
  std::memcpy(w + sizeof index_, tids.data(), index_.tid_count * 4u);
  std::memcpy(w + sizeof index_ + index_.tid_count * 4u, compressed_.data(), z);
  reset_chunk();
  return true;
}

std::string decode_body(std::span<const std::uint8_t> body, const SiteTypes& types,
                        const std::function<void(const DecodedRecord&)>& sink) {
  const std::uint8_t* p = body.data();
  const std::uint8_t* const end = p + body.size();
  std::int64_t prev_ns = 0;
  // Per (site, argument) previous values of the current run.
  struct Prev {
    std::uint32_t epoch = 0;
    std::vector<std::uint64_t> value;
    std::vector<std::pair<const std::uint8_t*, std::uint32_t>> text;  // bytes, length word
  };
  std::unordered_map<std::uint32_t, Prev> prevs;
  std::vector<std::byte> wire;
  std::uint32_t epoch = 0;
  DecodedRecord rec;
  std::uint64_t v;
  while (p < end) {
    // Run header.
    ++epoch;
    if (!get_varint(p, end, v) || v > 0xFFFF'FFFFu) return "bad run slot";
    rec.slot = static_cast<std::uint32_t>(v);
    if (!get_varint(p, end, v) || v > 0xFFFF'FFFFu) return "bad run thread id";
    rec.tid = static_cast<std::uint32_t>(v);
    if (p == end || *p > 16 || end - p - 1 < *p) return "bad run thread name";
    rec.thread_name = std::string_view(reinterpret_cast<const char*>(p + 1), *p);
    p += 1 + *p;
    if (!get_varint(p, end, rec.seq)) return "bad run sequence number";
    const std::uint8_t* prev_trace = nullptr;
    for (;; ++rec.seq) {
      std::uint64_t key;
      if (!get_varint(p, end, key)) return "bad record key";
      if (key == 0) break;  // end of run
      const std::uint64_t id = key >> 2;
      const std::uint64_t trace_mode = key & 3;
      if (id > 0xFFFF'FFFFu || trace_mode == 3) return "bad record key";
      rec.site = static_cast<std::uint32_t>(id);
      const std::vector<detail::ArgType>* arg_types = types(rec.site);
      if (arg_types == nullptr) return "record of undefined site " + std::to_string(id);
      if (!get_varint(p, end, v)) return "bad record time";
      prev_ns = static_cast<std::int64_t>(static_cast<std::uint64_t>(prev_ns) +
                                          static_cast<std::uint64_t>(unzigzag(v)));
      rec.time_ns = prev_ns;
      if (trace_mode == 1) {
        if (end - p < static_cast<std::ptrdiff_t>(detail::kTraceBytes)) return "bad trace";
        prev_trace = p;
        p += detail::kTraceBytes;
      } else if (trace_mode == 2 && prev_trace == nullptr) {
        return "repeated trace without a previous one";
      }
      rec.trace = trace_mode == 0 ? nullptr : prev_trace;
      Prev& prev = prevs[rec.site];
      if (prev.epoch != epoch) {
        prev.epoch = epoch;
        prev.value.assign(arg_types->size(), 0);
        prev.text.assign(arg_types->size(), {nullptr, kNoString});
      }
      wire.clear();
      for (std::size_t i = 0; i < arg_types->size(); ++i) {
        const ArgType type = (*arg_types)[i];
        const std::uint32_t width = detail::fixed_size(type);
        const std::size_t at = wire.size();
        if (width == 1) {
          if (p == end) return "argument runs past the chunk";
          wire.push_back(static_cast<std::byte>(*p++));
        } else if (width != 0) {
          if (!get_varint(p, end, v)) return "bad numeric argument";
          std::uint64_t value;
          if (type == ArgType::f64) {
            value = __builtin_bswap64(v) ^ prev.value[i];
          } else if (type == ArgType::f32) {
            if (v > 0xFFFF'FFFFu) return "bad f32 argument";
            value = __builtin_bswap32(static_cast<std::uint32_t>(v)) ^ prev.value[i];
          } else {
            value = prev.value[i] + static_cast<std::uint64_t>(unzigzag(v));
          }
          prev.value[i] = value;
          wire.resize(at + width);
          std::memcpy(wire.data() + at, &value, width);
        } else {
          if (!get_varint(p, end, v)) return "bad string length";
          if (v == 0) {
            if (prev.text[i].second == kNoString) return "repeated string without a previous one";
          } else {
            const std::uint64_t len = (v - 1) / 2;
            if (len > detail::kStringLengthMask || static_cast<std::uint64_t>(end - p) < len) {
              return "string runs past the chunk";
            }
            const auto word = static_cast<std::uint32_t>(
                len | ((v - 1) % 2 != 0 ? detail::kStringTruncated : 0));
            prev.text[i] = {p, word};
            p += len;
          }
          const auto [bytes, word] = prev.text[i];
          const std::uint32_t len = word & detail::kStringLengthMask;
          wire.resize(at + 4 + len);
          std::memcpy(wire.data() + at, &word, 4);
          if (len != 0) std::memcpy(wire.data() + at + 4, bytes, len);
        }
      }
      rec.args = std::span<const std::byte>(wire.data(), wire.size());
      sink(rec);
    }
  }
  return {};
}

}  // namespace blackbox::archive
