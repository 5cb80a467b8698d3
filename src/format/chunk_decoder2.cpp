// The chunk decoder's codec 2 (chunk_decoder.hpp): bit streams, a stream per site
// (chunk_body.hpp has the layout, chunk_codes.hpp the codes), and unpacking a payload.
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "format/chunk_decoder.hpp"

namespace blackbox::archive {

using detail::ArgType;

namespace {
// How a site's argument is decoded (SiteState::ops2): integers by their wire width.
enum Op2 : std::uint8_t {
  kInt1 = 1,
  kInt2 = 2,
  kInt4 = 4,
  kInt8 = 8,
  kF32 = 9,
  kF64 = 10,
  kString = 11
};

Op2 op2_for(ArgType type) {
  const std::uint32_t width = detail::fixed_size(type);
  if (width == 0) return kString;
  if (type == ArgType::f64) return kF64;
  if (type == ArgType::f32) return kF32;
  return static_cast<Op2>(width);
}
}  // namespace

ChunkDecoder::ChunkDecoder() : dctx_(ZSTD_createDCtx()) {}
ChunkDecoder::~ChunkDecoder() { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_)); }

std::string ChunkDecoder::unpack(const ChunkIndex& index, std::span<const std::uint8_t> data) {
  const std::size_t size = index.body_bytes;
  // Grown, never shrunk: resize() would zero the difference again for every chunk.
  if (body_.size() < size + kBitSlack) body_.resize(size + kBitSlack);
  body_size_ = 0;
  std::size_t raw = 0;
  if (index.codec == kCodecBits) {
    // u32 raw bytes stored as they are, then a zstd frame of the rest (0: of everything).
    std::uint32_t stored = 0;
    if (data.size() < 4) return "chunk payload shorter than its raw size";
    std::memcpy(&stored, data.data(), 4);
    raw = stored;
    data = data.subspan(4);
    if (raw > size || raw > data.size()) return "chunk's raw part exceeds its payload or body";
    if (raw != 0) std::memcpy(body_.data(), data.data(), raw);
    data = data.subspan(raw);
  } else if (index.codec != kCodecZstd) {
    return "unknown chunk codec " + std::to_string(index.codec);
  }
  const std::size_t rest = size - raw;
  if (rest == 0 && raw != 0) {
    if (!data.empty()) return "bytes after the chunk's body";
  } else {
    const unsigned long long content = ZSTD_getFrameContentSize(data.data(), data.size());
    if (content != rest) return "chunk size does not match its index";
    const std::size_t got = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(dctx_), body_.data() + raw,
                                                rest, data.data(), data.size());
    if (ZSTD_isError(got) || got != rest) {
      return std::string("chunk does not decompress: ") +
             (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
    }
  }
  std::memset(body_.data() + size, 0, kBitSlack);
  body_size_ = size;
  return {};
}

// Where each string of the table starts, and its length word; false if the table runs
// past the text or a length word is malformed.
bool ChunkDecoder::string_table(std::span<const std::uint8_t> text, std::uint32_t count) {
  strings_.clear();
  if (count > text.size()) return false;  // every entry takes a byte at least
  strings_.reserve(count);
  const std::uint8_t* p = text.data();
  const std::uint8_t* const end = p + text.size();
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint64_t word;
    if (!get_varint(p, end, word) || word > 0xFFFF'FFFFu) return false;
    const std::uint64_t len = word & detail::kStringLengthMask;
    if (len > static_cast<std::uint64_t>(end - p)) return false;
    strings_.emplace_back(p, static_cast<std::uint32_t>(word));
    p += len;
  }
  return p == end;
}

std::string ChunkDecoder::decode_v2(std::span<const std::uint8_t> in, const SiteLookupFn& sites,
                                    const RecordFilter& filter,
                                    const std::function<void(const DecodedRecord&)>& sink) {
  forget_sites();
  // The bit readers read up to 8 bytes past a stream's end: the body needs the slack.
  if (in.data() != body_.data()) {
    if (body_.size() < in.size() + kBitSlack) body_.resize(in.size() + kBitSlack);
    if (!in.empty()) std::memmove(body_.data(), in.data(), in.size());
    std::memset(body_.data() + in.size(), 0, kBitSlack);
    body_size_ = in.size();
  }
  const std::uint8_t* const base = body_.data();
  const std::uint64_t size = in.size();
  BodyHeader2 head;
  if (size < sizeof head) return "body shorter than its header";
  std::memcpy(&head, base, sizeof head);
  std::uint64_t at = sizeof head;
  BitReader control{base + at, 0, std::uint64_t{head.control_bytes} * 8};
  at += head.control_bytes;
  BitReader time{base + at, 0, std::uint64_t{head.time_bytes} * 8};
  at += head.time_bytes;
  if (at > size || std::uint64_t{head.site_count} * sizeof(SiteStream) > size - at) {
    return "body's sections exceed it";
  }
  const std::uint8_t* table = base + at;
  at += std::uint64_t{head.site_count} * sizeof(SiteStream);
  for (std::uint32_t i = 0; i < head.site_count; ++i) {
    SiteStream entry;
    std::memcpy(&entry, table + i * sizeof entry, sizeof entry);
    if (entry.bytes > size - at) return "site streams exceed the body";
    if (entry.site == 0) return "stream of site 0";
    SiteState& s = *site(entry.site, sites);
    if (s.has_stream) return "two streams of site " + std::to_string(entry.site);
    s.has_stream = true;
    s.stream = BitReader{base + at, 0, std::uint64_t{entry.bytes} * 8};
    if (s.lookup.types != nullptr) {
      s.args2.assign(s.lookup.types->size(), codes::ArgState2{});
      s.ops2.clear();
      s.fixed2 = 0;
      for (const ArgType type : *s.lookup.types) {
        s.ops2.push_back(op2_for(type));
        s.fixed2 += detail::fixed_size(type);
      }
    }
    at += entry.bytes;
  }
  // The text: trace contexts, then the string table (read when a string is first needed).
  if (std::uint64_t{head.trace_count} * detail::kTraceBytes > size - at) {
    return "trace contexts exceed the body";
  }
  const std::uint8_t* const traces = base + at;
  const std::span<const std::uint8_t> strings(traces + std::uint64_t{head.trace_count} * 24,
                                              size - at - std::uint64_t{head.trace_count} * 24);
  bool have_strings = false;

  const bool filtering = !filter.empty();
  std::int64_t prev_ns = 0;
  codes::StepList steps;
  codes::KeyList keys;
  std::uint32_t traces_used = 0;
  char name[16];
  DecodedRecord rec;
  bool ok = true;
  // Every run is at least 35 bits: fewer bits left are the last byte's padding.
  while (control.pos + 8 <= control.limit_bits) {
    const std::uint64_t slot = get_wide(control, ok);
    const std::uint64_t tid = get_wide(control, ok);
    if (!ok || slot > 0xFFFF'FFFFu || tid > 0xFFFF'FFFFu) return "bad run header";
    const auto name_len = static_cast<std::size_t>(control.get(5));
    if (name_len > 16) return "bad run thread name";
    for (std::size_t i = 0; i < name_len; ++i) name[i] = static_cast<char>(control.get(8));
    rec.slot = static_cast<std::uint32_t>(slot);
    rec.tid = static_cast<std::uint32_t>(tid);
    rec.thread_name = std::string_view(name, name_len);
    rec.seq = get_wide(control, ok);
    if (!ok || control.overrun()) return "bad run header";
    const bool thread_ok = filter.thread_passes(rec.tid);
    const std::uint8_t* prev_trace = nullptr;
    for (;; ++rec.seq) {
      std::uint32_t key;
      if (!codes::get_key(control, keys, key) || control.overrun()) return "bad record key";
      if (key == 0) break;  // end of run
      const std::uint32_t trace_mode = key & 3;
      rec.site = key >> 2;
      if (trace_mode == 3 || rec.site == 0) return "bad record key";
      const std::int64_t step = codes::get_step(time, steps, ok);
      if (!ok || time.overrun()) return "bad record time";
      prev_ns = static_cast<std::int64_t>(static_cast<std::uint64_t>(prev_ns) +
                                          static_cast<std::uint64_t>(step));
      rec.time_ns = prev_ns;
      if (trace_mode == 1) {
        if (traces_used == head.trace_count) return "bad trace";
        prev_trace = traces + std::size_t{traces_used++} * detail::kTraceBytes;
      } else if (trace_mode == 2 && prev_trace == nullptr) {
        return "repeated trace without a previous one";
      }
      rec.trace = trace_mode == 0 ? nullptr : prev_trace;
      SiteState& s = *site(rec.site, sites);
      const std::vector<ArgType>* arg_types = s.lookup.types;
      if (arg_types == nullptr) return "record of undefined site " + std::to_string(rec.site);
      if (!s.has_stream) return "record of a site without a stream";
      if (!s.lookup.wanted) continue;  // its stream is never read
      rec.site_user = s.lookup.user;
      // Whether this record is delivered: if not, its arguments are still decoded (their
      // values are the next record's predictions).
      const bool wanted = !filtering || (thread_ok && filter.time_passes(rec.time_ns) &&
                                         filter.trace_passes(rec.trace));
      // The wire form, built with whole 8- and 16-byte stores (the buffer keeps 16 bytes
      // of room past what a record needs): room for the fixed-size arguments now, for each
      // string when it comes.
      std::size_t w = 0;
      if (wire_.size() < s.fixed2 + 16) wire_.resize(2 * (s.fixed2 + 16));
      BitReader& r = s.stream;
      codes::ArgState2* a = s.args2.data();
      for (const std::uint8_t op : s.ops2) {
        std::uint64_t value;
        switch (op) {
          case kString: {
            if (!have_strings) {
              if (!string_table(strings, head.string_count)) return "bad string table";
              have_strings = true;
            }
            std::uint32_t index;
            if (!codes::get_string(r, *a++, head.string_count, index)) {
              return "bad string argument";
            }
            const std::uint8_t* bytes = strings_[index].first;
            const std::uint32_t word = strings_[index].second;
            const std::uint32_t len = word & detail::kStringLengthMask;
            if (wire_.size() < w + 4 + len + s.fixed2 + 16) {
              wire_.resize(2 * (w + 4 + len + s.fixed2 + 16));
            }
            std::byte* out = wire_.data() + w;
            std::memcpy(out, &word, 4);
            // Short strings (nearly all) in one 16-byte move: the body keeps kBitSlack
            // bytes after its end, so the read stays inside it.
            if (len <= 16) {
              std::memcpy(out + 4, bytes, 16);
            } else {
              std::memcpy(out + 4, bytes, len);
            }
            w += 4 + len;
            continue;
          }
          case kF64:
            value = codes::get_f64(r, *a++, ok);
            break;
          case kF32:
            value = codes::get_f32(r, *a++);
            break;
          default:
            value = codes::get_int(r, *a++, ok);
            break;
        }
        // All 8 bytes, the width counted: the next argument overwrites the rest.
        std::memcpy(wire_.data() + w, &value, 8);
        w += op <= kInt8 ? op : op == kF32 ? 4 : 8;
      }
      if (!ok || r.overrun()) return "argument runs past its site's stream";
      if (!wanted) continue;
      rec.args = std::span<const std::byte>(wire_.data(), w);
      sink(rec);
    }
  }
  return {};
}

}  // namespace blackbox::archive
