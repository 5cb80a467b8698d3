// Chunk bodies: ring records re-encoded compactly (the encoder, chunk_encoder.hpp) and
// decoded back into the ring's wire form (the decoder, chunk_decoder.hpp). This header is
// what the two halves share, as zstd's compressor and decompressor share only lib/common:
// the layouts, the f64 decimal form and the clock conversion (docs/format.md, "Chunk
// body, codec 2" and "codec 1"); chunk_codes.hpp has codec 2's value codes.
//
// Codec 2 (written since 2026-12) is described with BodyHeader2 below. Codec 1 (read only):
// the body is five streams, each a column of like values, so that zstd finds long matches
// and cheap literals (a row of mixed fields would give it short matches at best):
//   body    := u32 length[5], control, time, ints, floats, text
//   control := run*            run := varint slot, varint tid, u8 name_len, name,
//                                     varint first_seq, key*, varint 0 (end of run)
//              key := varint (site_id << 2 | trace_mode)
//   time    := per record, varint zigzag(ns - previous ns) (previous: 0 at chunk start,
//              carried across runs)
//   ints    := per integer, pointer, bool or char argument, in record order
//   floats  := per f32 / f64 argument
//   text    := per record with trace_mode 1, its 24-byte trace context; per string
//              argument, its encoding
// A run is consecutive records (by sequence number) of one thread in one slot. trace_mode:
// 0 none, 1 a new trace context (in text), 2 the run's previous one again. Arguments are
// encoded against the previous value of the same argument of the same site in the same run
// (all start at 0 / "none" at each run start):
//   1-byte types (i8, u8, bool, char): the byte (ints)
//   integers and pointers: varint zigzag(value - previous), as 64-bit (signed types are
//   sign-extended) (ints)
//   f32 / f64: varint of byte-swapped (bits XOR previous bits): equal values cost one byte
//   strings: varint 0 = same as previous; even v = the chunk's string number v / 2 - 1
//   (strings are numbered in the order they appear in full); odd v = in full:
//   varint ((len * 2 + truncated) * 2 + 1), then the bytes
// Nothing about a record is lost: decoding gives back the exact wire bytes of its arguments.
#pragma once

#include <cstdint>
#include <cstring>

#include "format/archive_format.hpp"

namespace blackbox::archive {

// Codec 1: control, time, ints, floats, text
inline constexpr int kChunkStreams = 5;

// Codec 2 (kCodecBits; format.md, "Chunk body, codec 2"). The body is a raw part of bit
// streams, then a text part (which the payload compresses with zstd):
//   raw  := BodyHeader2, control, time, SiteStream[site_count], each site's stream
//   text := trace_count x 24-byte trace contexts, then string_count x (varint length word,
//           bytes)
// control: runs, each: wide slot, wide tid, 5 bits name length (<= 16), 8 bits per name
//   byte, wide first_seq, then a key per record (codes::put_key), then key 0.
// time: per record, rice(zigzag(step - previous step)), step = ns - previous ns (0 at the
//   chunk's start, carried across runs), one Rice state for the chunk.
// site stream: per record of the site (in control order), its arguments in order
//   (chunk_codes.hpp); the previous values are per site for the whole chunk.
// A site's records need only its own stream: a reader that does not want a site's records
// never reads its stream, and reads just its keys and times.
struct BodyHeader2 {
  std::uint32_t control_bytes;
  std::uint32_t time_bytes;
  std::uint32_t site_count;
  std::uint32_t trace_count;
  std::uint32_t string_count;
};
static_assert(sizeof(BodyHeader2) == 20);
struct SiteStream {
  std::uint32_t site;
  std::uint32_t bytes;
};

__extension__ typedef __int128 int128_t;  // 64 x 64-bit products without overflow
__extension__ typedef unsigned __int128 uint128_t;

// ticks -> wall-clock ns with a multiply and a shift (the flusher converts every record).
struct TickConverter {
  std::uint64_t ref_ticks = 0;
  std::int64_t ref_ns = 0;
  std::uint64_t mult = 0;  // ns per tick, 32.32 fixed point
  static TickConverter from(std::uint64_t base_ticks, std::int64_t base_ns, std::uint64_t ref_ticks,
                            std::int64_t ref_ns) noexcept;
  [[nodiscard]] std::int64_t operator()(std::uint64_t ticks) const noexcept {
    const auto dt = static_cast<int128_t>(static_cast<std::int64_t>(ticks - ref_ticks));
    // Wrapping, not overflowing, addition: recovery converts a dead process's calibration,
    // which a damaged file can fill with anything.
    const auto delta = static_cast<std::int64_t>((dt * static_cast<int128_t>(mult)) >> 32);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(ref_ns) +
                                     static_cast<std::uint64_t>(delta));
  }
};

// An argument's previous value in the current run (the encoder's and the decoder's).
inline constexpr std::uint32_t kNoString = 0xFFFF'FFFFu;  // "no previous string" in a run

struct ArgState {
  std::uint64_t prev = 0;              // value, f32/f64 bits, or (encoder) pointer to the string
  std::uint64_t prev_m = 0;            // f64: the previous decimal mantissa
  std::uint32_t prev_len = kNoString;  // strings: previous length word
  std::uint8_t hint = 0;               // f64: exponent that worked last (kNotDecimal: none did)
  std::uint8_t retry = 0;              // f64: records until a non-decimal argument is tried again
};

inline TickConverter TickConverter::from(std::uint64_t base_ticks, std::int64_t base_ns,
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

// Loads a little-endian value (the host's order: the ring format requires it).
template <typename T>
T load(const std::uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint64_t bswap(std::uint64_t v) noexcept { return __builtin_bswap64(v); }
inline std::uint32_t bswap(std::uint32_t v) noexcept { return __builtin_bswap32(v); }

// f64 arguments: a double that is a short decimal (12.345 = 12345 / 10^3), as most logged
// measurements are, is stored as its mantissa's delta and exponent, a few bits instead of
// the ~7 random bytes of its binary fraction. Exact: the decoder computes m / 10^e, and
// the encoder uses this form only if that gives back the very same bits. Tag (low 3 bits):
// 0..6 = exponent, then zigzag(m - previous m); kNotDecimal = the XOR form follows.
inline constexpr std::uint8_t kNotDecimal = 7;
inline constexpr double kPow10[7] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};

inline double as_double(std::uint64_t bits) noexcept {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

inline std::uint64_t bits_of(double d) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, &d, 8);
  return bits;
}

}  // namespace blackbox::archive
