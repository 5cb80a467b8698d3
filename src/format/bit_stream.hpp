// Bit streams for chunk bodies of codec 2 (chunk_body.hpp): a writer and a reader of
// little-endian bit fields, and the adaptive Rice code both sides use for most values.
//
// Why bits and not bytes: a logged record's values carry a few bits each (a counter that
// steps by one, a status that repeats, an index into 500 user names), and byte-aligned
// varints spend at least 8 bits on each; zstd then spends ~18 instructions per input byte
// winning that back. Coding each value in about the bits it carries needs no entropy
// coder after it (format.md, "Chunk body, codec 2"; performance.md has the measurements).
//
// Layout: bit i of a stream is bit (i % 8) of byte (i / 8); a field's least significant
// bit comes first. Both sides move 8 bytes at a time, so every buffer a reader reads keeps
// kBitSlack zero bytes after its end, and every writer's buffer has that much room.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace blackbox::archive {

inline constexpr std::size_t kBitSlack = 16;

// Writes fields of up to 56 bits. `acc` holds the bits not yet stored, `out` the byte they
// go to. Bytes are stored only when acc is about to overflow (every 7 or 8 bytes), not per
// field: a store through a byte pointer may alias anything, and after each one the compiler
// would reload every value the caller keeps in memory.
struct BitWriter {
  std::uint8_t* out = nullptr;
  std::uint64_t acc = 0;
  unsigned n = 0;  // bits in acc (< 64)

  // `v` must have no bits at or above `bits` (<= 56).
  [[gnu::always_inline]] void put(std::uint64_t v, unsigned bits) noexcept {
    if (n + bits >= 64) [[unlikely]] {
      spill();
    }
    acc |= v << n;
    n += bits;
  }
  // Stores acc's whole bytes; fewer than 8 bits stay.
  [[gnu::always_inline]] void spill() noexcept {
    std::memcpy(out, &acc, 8);
    out += n >> 3;
    acc >>= n & ~7u;
    n &= 7;
  }
  // Any 64-bit value, in two fields.
  void put64(std::uint64_t v, unsigned bits) noexcept {
    if (bits > 32) {
      put(v & 0xFFFF'FFFFu, 32);
      put(v >> 32, bits - 32);
    } else {
      put(v, bits);
    }
  }
  // Stores every bit (a partial last byte padded with zeros); puts may follow.
  void flush() noexcept {
    spill();
    std::memcpy(out, &acc, 8);
  }
  // The bytes written so far, counting a partial last byte (after flush()).
  [[nodiscard]] std::size_t bytes_from(const std::uint8_t* start) const noexcept {
    return static_cast<std::size_t>(out - start) + (n + 7) / 8;
  }
};

// Reads fields of up to 56 bits from `base`. Reading past `limit_bits` is allowed (the
// slack is zeros) but makes overrun() true: callers check it once per record. Nothing in
// a stream is trusted; the only requirement is the slack after the buffer.
struct BitReader {
  const std::uint8_t* base = nullptr;
  std::uint64_t pos = 0;         // in bits
  std::uint64_t limit_bits = 0;  // the stream's end

  // The next 56 bits (or more), without consuming them. Past the end (a damaged stream)
  // it stays on the last 8 bytes of the slack, which reads as zeros.
  [[gnu::always_inline]] std::uint64_t peek() const noexcept {
    const std::uint64_t at = pos <= limit_bits ? pos : limit_bits;
    std::uint64_t v;
    std::memcpy(&v, base + (at >> 3), 8);
    return v >> (at & 7);
  }
  [[gnu::always_inline]] std::uint64_t get(unsigned bits) noexcept {
    const std::uint64_t v = peek() & ((std::uint64_t{1} << bits) - 1);
    pos += bits;
    return v;
  }
  [[gnu::always_inline]] bool bit() noexcept { return get(1) != 0; }
  std::uint64_t get64(unsigned bits) noexcept {
    if (bits <= 32) return get(bits);
    const std::uint64_t lo = get(32);
    return lo | get(bits - 32) << 32;
  }
  [[nodiscard]] bool overrun() const noexcept { return pos > limit_bits; }
};

// A value of any width: its bit width in 7 bits (0..64), then its bits.
inline void put_wide(BitWriter& w, std::uint64_t v) noexcept {
  const auto bits = static_cast<unsigned>(std::bit_width(v));
  w.put(bits, 7);
  w.put64(v, bits);
}
inline std::uint64_t get_wide(BitReader& r, bool& ok) noexcept {
  const auto bits = static_cast<unsigned>(r.get(7));
  if (bits > 64) {
    ok = false;
    return 0;
  }
  return r.get64(bits);
}

// The adaptive Rice code. A value v with parameter k is q = v >> k zero bits, a one, then
// v's low k bits; a q of kRiceEscape or more is kRiceEscape zero bits then put_wide(v).
// k follows the values: `mean16` is about 16 times their recent mean (an exponential
// moving average, each value capped at 2^40 so that no sum overflows), and k is the bit
// width of that mean less one: close to the best Rice parameter for geometric values, and
// exactly right for uniform ones (a value below 2^17 costs 17 or 18 bits). Encoder and
// decoder compute the same k from the same values, so k itself is never stored.
inline constexpr unsigned kRiceEscape = 20;

struct RiceState {
  std::uint64_t mean16 = 0;
  [[gnu::always_inline]] unsigned k() const noexcept {
    const auto w = static_cast<unsigned>(std::bit_width(mean16 >> 4));
    return w != 0 ? w - 1 : 0;
  }
  [[gnu::always_inline]] void update(std::uint64_t v) noexcept {
    constexpr std::uint64_t kCap = std::uint64_t{1} << 40;
    mean16 += (v < kCap ? v : kCap) - (mean16 >> 4);
  }
};

[[gnu::always_inline]] inline void put_rice(BitWriter& w, RiceState& s, std::uint64_t v) noexcept {
  const unsigned k = s.k();
  const std::uint64_t q = v >> k;
  if (q < kRiceEscape && k <= 32) [[likely]] {
    // q zeros and a one (the value 1 << q in q + 1 bits), then the low k bits: at most
    // 20 + 32 bits, one field.
    w.put((v & ((std::uint64_t{1} << k) - 1)) << (q + 1) | std::uint64_t{1} << q,
          static_cast<unsigned>(q) + 1 + k);
  } else {
    w.put(0, kRiceEscape);
    put_wide(w, v);
  }
  s.update(v);
}

[[gnu::always_inline]] inline std::uint64_t get_rice(BitReader& r, RiceState& s,
                                                     bool& ok) noexcept {
  const unsigned k = s.k();
  const std::uint64_t peek = r.peek();
  const auto q = static_cast<unsigned>(std::countr_zero(peek | std::uint64_t{1} << kRiceEscape));
  std::uint64_t v;
  if (q < kRiceEscape && k <= 32) [[likely]] {
    r.pos += q + 1;
    v = std::uint64_t{q} << k | r.get(k);
  } else if (q < kRiceEscape) {  // k > 32: the writer escaped every value; so must this one
    ok = false;
    return 0;
  } else {
    r.pos += kRiceEscape;
    v = get_wide(r, ok);
  }
  s.update(v);
  return v;
}

}  // namespace blackbox::archive
