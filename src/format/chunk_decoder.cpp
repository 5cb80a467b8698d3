// The chunk decoder (chunk_decoder.hpp): the readers' half of the chunk codec.
#include "format/chunk_decoder.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace blackbox::archive {

using detail::ArgType;

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
    s.has_stream = false;
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

void ChunkDecoder::forget_sites() noexcept {
  std::fill(cache_.begin(), cache_.end(), CacheEntry{});
  state_of_.clear();
  used_ = 0;
  strings_.clear();
}

std::string ChunkDecoder::decode(std::uint8_t codec, std::span<const std::uint8_t> body,
                                 const SiteLookupFn& sites, const RecordFilter& filter,
                                 const std::function<void(const DecodedRecord&)>& sink) {
  if (codec == kCodecZstd) return decode_v1(body, sites, filter, sink);
  if (codec == kCodecBits) return decode_v2(body, sites, filter, sink);
  return "unknown chunk codec " + std::to_string(codec);
}

// Codec 1: the byte streams of files written before codec 2.
std::string ChunkDecoder::decode_v1(std::span<const std::uint8_t> body, const SiteLookupFn& sites,
                                    const RecordFilter& filter,
                                    const std::function<void(const DecodedRecord&)>& sink) {
  constexpr int kStreams = kChunkStreams;
  // Sites are per body (ids are per file): forget the last body's.
  forget_sites();
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

std::string decode_body(std::uint8_t codec, std::span<const std::uint8_t> body,
                        const SiteTypes& types,
                        const std::function<void(const DecodedRecord&)>& sink) {
  ChunkDecoder decoder;
  return decoder.decode(
      codec, body,
      [&types](std::uint32_t id) {
        return SiteLookup{types(id), nullptr, true};
      },
      RecordFilter{}, sink);
}

}  // namespace blackbox::archive