// Chunk bodies of codec 2: the codes of each kind of value, each one's writing and reading
// side by side, so that the encoder (chunk_encoder.cpp) and the decoder
// (chunk_decoder2.cpp) cannot drift apart. docs/format.md, "Chunk body, codec 2", is the
// grammar; this is its executable half.
//
// Every value is predicted from the previous value of the same argument of the same site
// in the chunk (records in the order of the control stream), and the prediction's hit costs
// one bit:
//   integer:  pred = prev + stride. "1": v == pred; "0" + rice(zigzag(v - prev)). The
//             stride becomes a step once two steps in a row are equal (a counter's +1; 0
//             for a value that repeats), so an outlier costs two misses and no more.
//   f64:      "1" + integer(m): the short decimal m / 10^hint (chunk_body.hpp);
//             "01" + 3 bits e + integer(m): m / 10^e, and e becomes the hint;
//             "00" + 64 bits: the value's bits (not a short decimal).
//   f32:      "1": the previous bits again; "0" + 32 bits.
//   string:   "1": the previous string of this argument again; "0" + rice(index) in the
//             chunk's string table.
#pragma once

#include <bit>
#include <cstdint>

#include "format/archive_format.hpp"
#include "format/bit_stream.hpp"
#include "format/chunk_body.hpp"

namespace blackbox::archive::codes {

// The previous values of one argument (both sides).
struct ArgState2 {
  std::uint64_t prev = 0;    // integer value, f64 mantissa, f32 bits
  std::uint64_t stride = 0;  // integer / f64 mantissa: the step predicted
  std::uint64_t last_step = 0;
  RiceState rice;
  std::uint32_t prev_string = kNoString;  // strings: table index of the previous one
  std::uint8_t hint = 0;                  // f64: the exponent that worked last (kNotDecimal: none)
  std::uint8_t retry = 0;  // f64, encoder only: records until a non-decimal argument tries again
};

[[gnu::always_inline]] inline void step(ArgState2& s, std::uint64_t v, std::uint64_t d) noexcept {
  if (d == s.last_step) s.stride = d;
  s.last_step = d;
  s.prev = v;
}

[[gnu::always_inline]] inline void put_int(BitWriter& w, ArgState2& s, std::uint64_t v) noexcept {
  const std::uint64_t d = v - s.prev;
  if (d == s.stride) {
    w.put(1, 1);
  } else {
    w.put(0, 1);
    put_rice(w, s.rice, zigzag(static_cast<std::int64_t>(d)));
  }
  step(s, v, d);
}

[[gnu::always_inline]] inline std::uint64_t get_int(BitReader& r, ArgState2& s, bool& ok) noexcept {
  const std::uint64_t d =
      r.bit() ? s.stride : static_cast<std::uint64_t>(unzigzag(get_rice(r, s.rice, ok)));
  const std::uint64_t v = s.prev + d;
  step(s, v, d);
  return v;
}

// Whether `bits` is m / 10^e exactly, for some |m| < 2^53; sets m.
[[gnu::always_inline]] inline bool decimal(std::uint64_t bits, std::uint8_t e,
                                           std::int64_t& m) noexcept {
  const double scaled = as_double(bits) * kPow10[e];
  if (!(scaled > -9007199254740992.0 && scaled < 9007199254740992.0)) return false;  // NaN too
  m = static_cast<std::int64_t>(scaled + (scaled >= 0 ? 0.5 : -0.5));
  return bits_of(static_cast<double>(m) / kPow10[e]) == bits;
}

[[gnu::always_inline]] inline void put_f64(BitWriter& w, ArgState2& s,
                                           std::uint64_t bits) noexcept {
  std::int64_t m = 0;
  std::uint8_t e = s.hint;
  if (e != kNotDecimal && decimal(bits, e, m)) [[likely]] {
    w.put(1, 1);
  } else {
    if (e != kNotDecimal || s.retry-- == 0) {
      for (e = 0; e < kNotDecimal && !decimal(bits, e, m); ++e) {
      }
      s.retry = 64;  // a value that is not a short decimal: look again in 64 records
    }
    if (e == kNotDecimal) {
      w.put(0, 2);
      w.put64(bits, 64);
      s.hint = kNotDecimal;
      return;
    }
    w.put(0b10 | std::uint64_t{e} << 2, 5);  // "0", "1", then e
    s.hint = e;
  }
  put_int(w, s, static_cast<std::uint64_t>(m));
}

[[gnu::always_inline]] inline std::uint64_t get_f64(BitReader& r, ArgState2& s, bool& ok) noexcept {
  std::uint8_t e = s.hint;
  if (!r.bit()) {
    if (!r.bit()) {
      s.hint = kNotDecimal;
      return r.get64(64);
    }
    e = static_cast<std::uint8_t>(r.get(3));
    s.hint = e;
  }
  if (e >= kNotDecimal) {
    ok = false;
    return 0;
  }
  const auto m = static_cast<std::int64_t>(get_int(r, s, ok));
  return bits_of(static_cast<double>(m) / kPow10[e]);
}

[[gnu::always_inline]] inline void put_f32(BitWriter& w, ArgState2& s,
                                           std::uint32_t bits) noexcept {
  if (bits == s.prev) {
    w.put(1, 1);
  } else {
    w.put(std::uint64_t{bits} << 1, 33);
    s.prev = bits;
  }
}

[[gnu::always_inline]] inline std::uint32_t get_f32(BitReader& r, ArgState2& s) noexcept {
  if (!r.bit()) s.prev = r.get(32);
  return static_cast<std::uint32_t>(s.prev);
}

// Strings: the caller found `index` (in the table, or just added to it); `same` when it
// is the argument's previous string again.
[[gnu::always_inline]] inline void put_string(BitWriter& w, ArgState2& s, bool same,
                                              std::uint32_t index) noexcept {
  if (same) {
    w.put(1, 1);
  } else {
    w.put(0, 1);
    put_rice(w, s.rice, index);
    s.prev_string = index;
  }
}

// The table index of the string; false if it names none (`strings`: the table's size).
[[gnu::always_inline]] inline bool get_string(BitReader& r, ArgState2& s, std::uint32_t strings,
                                              std::uint32_t& index) noexcept {
  if (!r.bit()) {
    bool ok = true;
    const std::uint64_t v = get_rice(r, s.rice, ok);
    if (!ok || v >= strings) return false;
    s.prev_string = static_cast<std::uint32_t>(v);
  }
  index = s.prev_string;
  return index < strings;
}

// The control stream's record keys (site id << 2 | trace mode): "1" the previous key again,
// "01" + 2 bits i: the key i + 1 places back in a move-to-front list of the last five
// keys, "00" + put_wide(key) any other (key 0 ends the run and never enters the list).
struct KeyList {
  std::uint32_t keys[5] = {};  // 0: none yet
};

inline void put_key_slow(BitWriter& w, KeyList& list, std::uint32_t key) noexcept {
  std::uint32_t* k = list.keys;
  if (key != 0) {
    for (unsigned i = 1; i < 5; ++i) {
      if (k[i] == key) {
        w.put(0b10 | (i - 1) << 2, 4);
        for (unsigned j = i; j > 0; --j) k[j] = k[j - 1];
        k[0] = key;
        return;
      }
    }
  }
  w.put(0, 2);
  put_wide(w, key);
  if (key == 0) return;
  for (unsigned j = 4; j > 0; --j) k[j] = k[j - 1];
  k[0] = key;
}

[[gnu::always_inline]] inline void put_key(BitWriter& w, KeyList& list,
                                           std::uint32_t key) noexcept {
  if (key == list.keys[0] && key != 0) [[likely]] {
    w.put(1, 1);
  } else {
    put_key_slow(w, list, key);
  }
}

// False if the stream is malformed (a list place that holds no key yet, a key over 32 bits).
inline bool get_key(BitReader& r, KeyList& list, std::uint32_t& key) noexcept {
  std::uint32_t* k = list.keys;
  const std::uint64_t peek = r.peek();
  if ((peek & 1) != 0) [[likely]] {
    r.pos += 1;
    key = k[0];
    return key != 0;
  }
  if ((peek & 2) != 0) {
    r.pos += 4;
    const unsigned i = static_cast<unsigned>((peek >> 2) & 3) + 1;
    key = k[i];
    for (unsigned j = i; j > 0; --j) k[j] = k[j - 1];
    k[0] = key;
    return key != 0;
  }
  r.pos += 2;
  bool ok = true;
  const std::uint64_t v = get_wide(r, ok);
  if (!ok || v > 0xFFFF'FFFFu) return false;
  key = static_cast<std::uint32_t>(v);
  if (key == 0) return true;
  for (unsigned j = 4; j > 0; --j) k[j] = k[j - 1];
  k[0] = key;
  return true;
}

// The time stream's steps (ns since the previous record). A clock ticks in a quantum (often
// 10 ns or more on a VM) and a busy thread logs at a few typical intervals, so a step is
// nearly always one of the last few distinct steps: i zeros then a one for the step i places
// back in a move-to-front list of four (0 <= i < 4), else four zeros and
// rice(zigzag(step - the list's first)).
struct StepList {
  std::int64_t steps[4] = {};
  RiceState rice;
  [[gnu::always_inline]] void to_front(unsigned i) noexcept {
    const std::int64_t v = steps[i];
    for (unsigned j = i; j > 0; --j) steps[j] = steps[j - 1];
    steps[0] = v;
  }
};

[[gnu::always_inline]] inline void put_step(BitWriter& w, StepList& list,
                                            std::int64_t step) noexcept {
  for (unsigned i = 0; i < 4; ++i) {
    if (list.steps[i] == step) {
      w.put(std::uint64_t{1} << i, i + 1);
      list.to_front(i);
      return;
    }
  }
  w.put(0, 4);
  put_rice(w, list.rice,
           zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(step) -
                                            static_cast<std::uint64_t>(list.steps[0]))));
  list.steps[3] = step;
  list.to_front(3);
}

[[gnu::always_inline]] inline std::int64_t get_step(BitReader& r, StepList& list,
                                                    bool& ok) noexcept {
  const auto i = static_cast<unsigned>(std::countr_zero(r.peek() | 16));
  if (i < 4) {
    r.pos += i + 1;
    list.to_front(i);
    return list.steps[0];
  }
  r.pos += 4;
  const std::int64_t step =
      static_cast<std::int64_t>(static_cast<std::uint64_t>(list.steps[0]) +
                                static_cast<std::uint64_t>(unzigzag(get_rice(r, list.rice, ok))));
  list.steps[3] = step;
  list.to_front(3);
  return step;
}

}  // namespace blackbox::archive::codes
