// The call site's work once its level is enabled: turn the arguments into their wire form,
// reserve a record in the thread's ring, copy, publish. No formatting for built-in types, no
// lock, no allocation (except for types formatted eagerly through their fmt::formatter).
#pragma once

#include <fmt/core.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "blackbox/detail/arg_type.hpp"
#include "blackbox/detail/printf_string.hpp"
#include "blackbox/detail/producer.hpp"
#include "blackbox/detail/record.hpp"
#include "blackbox/detail/site.hpp"
#include "blackbox/detail/template_string.hpp"

namespace blackbox::detail {

// A string argument as it will be written: bytes, length, truncation flag. On the fast
// path flags is always 0; only the rare path (write_record_rare) cuts strings.
struct WireString {
  const char* data;
  std::uint32_t size;
  std::uint32_t flags;  // kStringTruncated or 0
};

// An argument formatted at the call site (types that only have an fmt::formatter).
struct WireFormatted {
  std::string text;
  std::uint32_t flags = 0;  // kStringTruncated once cut
};

// Formats argument `index` of `message_template` with that placeholder's spec. Compiled
// once; never throws (a throwing formatter yields a "{format error: ...}" text).
std::string format_eager(const char* message_template, std::uint32_t index,
                         fmt::format_args args) noexcept;

// Cuts `size` to `limit`, backing off so a UTF-8 sequence is never split.
WireString truncate_string(const char* data, std::size_t size, std::uint32_t limit) noexcept;

// Lengths are kept whole here (capped only to fit the 31-bit length field); the limit is
// checked by the caller and applied on the rare path.
[[nodiscard]] inline WireString wire_string(const char* data, std::size_t size) noexcept {
  return {data, static_cast<std::uint32_t>(size < kStringLengthMask ? size : kStringLengthMask), 0};
}

template <std::uint32_t Index, typename Arg>
[[nodiscard]] inline auto to_wire([[maybe_unused]] const char* message_template, const Arg& arg) {
  using T = decayed_t<Arg>;
  constexpr ArgType type = arg_type_of<T>();
  if constexpr (type == ArgType::string) {
    if constexpr (is_c_string_v<T>) {
      const char* s = arg;
      if (s == nullptr) [[unlikely]]
        return wire_string("(null)", 6);
      return wire_string(s, std::strlen(s));
    } else {
      return wire_string(arg.data(), arg.size());
    }
  } else if constexpr (type == ArgType::formatted) {
    return WireFormatted{format_eager(message_template, Index, fmt::make_format_args(arg)), 0};
  } else if constexpr (type == ArgType::pointer) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(arg));
  } else if constexpr (std::is_enum_v<T>) {
    return static_cast<std::underlying_type_t<T>>(arg);
  } else {
    return arg;
  }
}

template <typename W>
inline constexpr bool is_wire_string_v =
    std::is_same_v<W, WireString> || std::is_same_v<W, WireFormatted>;

// Bytes of an argument on the wire, not counting string bytes (see string_bytes()).
template <typename W>
[[nodiscard]] inline std::uint32_t wire_size(const W&) noexcept {
  if constexpr (is_wire_string_v<W>)
    return 4;
  else
    return sizeof(W);
}

template <typename W>
[[nodiscard]] inline std::uint32_t string_bytes(const W& w) noexcept {
  if constexpr (std::is_same_v<W, WireString>)
    return w.size;
  else if constexpr (std::is_same_v<W, WireFormatted>)
    return static_cast<std::uint32_t>(w.text.size());
  else
    return 0;
}

template <typename W>
[[nodiscard]] inline bool over_limit(const W& w, std::uint32_t limit) noexcept {
  if constexpr (is_wire_string_v<W>)
    return string_bytes(w) > limit;
  else
    return false;
}

// Copies a string argument. Log strings are mostly short: up to 16 bytes are moved with
// at most four overlapping loads and stores (never touching a byte outside either range)
// instead of a call to memcpy.
inline void copy_string_bytes(std::byte* dst, const char* src, std::uint32_t n) noexcept {
  if (n >= 8 && n <= 16) {
    std::uint64_t head, tail;
    std::memcpy(&head, src, 8);
    std::memcpy(&tail, src + n - 8, 8);
    std::memcpy(dst, &head, 8);
    std::memcpy(dst + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t head, tail;
    std::memcpy(&head, src, 4);
    std::memcpy(&tail, src + n - 4, 4);
    std::memcpy(dst, &head, 4);
    std::memcpy(dst + n - 4, &tail, 4);
  } else if (n > 0 && n < 4) {
    dst[0] = static_cast<std::byte>(src[0]);
    dst[n / 2] = static_cast<std::byte>(src[n / 2]);
    dst[n - 1] = static_cast<std::byte>(src[n - 1]);
  } else if (n > 16) {
    std::memcpy(dst, src, n);
  }
}

[[nodiscard]] inline std::byte* put_string(std::byte* out, const char* data, std::uint32_t size,
                                           std::uint32_t flags) noexcept {
  const std::uint32_t word = size | flags;
  std::memcpy(out, &word, 4);
  copy_string_bytes(out + 4, data, size);
  return out + 4 + size;
}

template <typename W>
[[nodiscard]] inline std::byte* put(std::byte* out, const W& w) noexcept {
  if constexpr (std::is_same_v<W, WireString>) {
    return put_string(out, w.data, w.size, w.flags);
  } else if constexpr (std::is_same_v<W, WireFormatted>) {
    return put_string(out, w.text.data(), static_cast<std::uint32_t>(w.text.size()), w.flags);
  } else {
    std::memcpy(out, &w, sizeof(W));
    return out + sizeof(W);
  }
}

// Cuts a string argument to `limit` bytes, marking it truncated.
template <typename W>
inline void cut_string(W& w, std::uint32_t limit) noexcept {
  if constexpr (std::is_same_v<W, WireString>) {
    if (w.size > limit) w = truncate_string(w.data, w.size, limit);
  } else if constexpr (std::is_same_v<W, WireFormatted>) {
    if (w.text.size() > limit) {
      w.text.resize(truncate_string(w.text.data(), w.text.size(), limit).size);
      w.flags = kStringTruncated;
    }
  }
}

// kTraceBytes is a multiple of 8, so adding it after rounding keeps the fixed part a
// compile-time constant for records without strings.
template <typename... Ws>
[[nodiscard]] inline std::uint32_t record_size(const Producer& p, const Ws&... ws) noexcept {
  const std::uint64_t size = sizeof(RecordHeader) + (std::uint64_t{0} + ... + wire_size(ws)) +
                             (std::uint64_t{0} + ... + string_bytes(ws));
  return static_cast<std::uint32_t>(align_record(size)) + p.trace_bytes;
}

// Writes a record whose space is reserved at dst and publishes it.
template <typename Wires>
inline void emit(Producer& p, std::byte* dst, std::uint64_t wpos, std::uint32_t size,
                 std::uint64_t site_bits, std::uint64_t time, const Wires& wires) noexcept {
  // Stores through dst may alias anything (std::byte), so everything needed after them is
  // read into locals first: the compiler would otherwise reload it from TLS.
  std::atomic<std::uint64_t>* const published = p.published;
  const std::uint32_t trace_bytes = p.trace_bytes;
  // RecordHeader's first 8 bytes as one word: size, then site id and trace flag.
  const std::uint64_t size_and_site = size | site_bits | p.trace_header_bits;
  std::memcpy(dst, &size_and_site, 8);
  std::memcpy(dst + 8, &time, 8);
  std::byte* out = dst + sizeof(RecordHeader);
  if (trace_bytes != 0) {
    std::memcpy(out, p.trace, kTraceBytes);
    out += kTraceBytes;
  }
  std::apply([&](const auto&... w) { ((out = put(out, w)), ...); }, wires);
  commit(p, published, wpos + size);
}

// The rare path, for a record the fast path could not place as it is: the current block is
// full (also the thread's very first record, before it has a ring), a string is over the
// limit, or the strings do not fit in one block. Takes the wires by value so that their
// address never escapes the fast path, which keeps them in registers.
template <typename Wires, std::size_t... I>
[[gnu::noinline]] void write_record_rare(Producer& p, std::uint64_t site_bits, std::uint64_t time,
                                         Wires wires, std::index_sequence<I...>) noexcept {
  if (p.max_record == 0 && !attach_producer(p)) return;  // not attached yet; counted if no slot
  (cut_string(std::get<I>(wires), p.max_string), ...);
  std::uint32_t size = record_size(p, std::get<I>(wires)...);
  if (size > p.max_record) {
    // Too big for a block: every string gets an equal share of the room left.
    constexpr std::uint32_t strings =
        (0u + ... + (is_wire_string_v<std::tuple_element_t<I, Wires>> ? 1u : 0u));
    if constexpr (strings > 0) {
      const std::uint32_t fixed = size - (0u + ... + string_bytes(std::get<I>(wires)));
      const std::uint32_t room = p.max_record > fixed + 8 ? p.max_record - fixed - 8 : 0;
      (cut_string(std::get<I>(wires), room / strings), ...);
      size = record_size(p, std::get<I>(wires)...);
    }
  }
  std::byte* const dst =
      p.wpos + size <= p.block_end ? p.data + (p.wpos & p.mask) : reserve_slow(p);
  emit(p, dst, p.wpos, size, site_bits, time, wires);
}

// Writes a record stamped `time` (now_ticks() when the call was made; a span stamps its start
// and end records with the ticks it measures its duration by, one clock read for both).
template <typename... Args, std::size_t... I>
inline void write_record(std::uint64_t time, std::uint64_t site_bits,
                         [[maybe_unused]] const char* message_template,
                         std::index_sequence<I...> indexes, const Args&... args) noexcept {
  Producer& p = tls_producer;
  auto wires = std::make_tuple(to_wire<I>(message_template, args)...);
  const std::uint32_t size =
      std::apply([&](const auto&... w) { return record_size(p, w...); }, wires);
  const bool strings_over_limit = (false || ... || over_limit(std::get<I>(wires), p.max_string));
  const std::uint64_t wpos = p.wpos;
  // Room left in a block never exceeds max_record, so a record that fits here needs no
  // other size check. `size` cannot have wrapped when this test passes: every string is
  // within max_string (at most half a block), and before the thread has a ring
  // block_end is 0.
  if (!strings_over_limit && wpos + size <= p.block_end) [[likely]] {
    emit(p, p.data + (wpos & p.mask), wpos, size, site_bits, time, wires);
  } else {
    write_record_rare(p, site_bits, time, std::move(wires), indexes);
  }
}

template <typename... Args>
struct TypeList {};

// Only ever named inside decltype(): gives the call's argument types unevaluated.
template <typename... Args>
TypeList<Args...> type_list(const Args&...);

// The site's header bits (id << 32), defining the site on its first enabled call. 0: do
// not log (the level is disabled after all, or the site could not be defined). Called
// before any argument of the call is evaluated.
template <typename... Args>
[[nodiscard]] inline std::uint64_t site_bits(Site& site, TypeList<Args...>) noexcept {
  // Acquire: pairs with the release in register_site(); see site.hpp.
  const std::uint64_t bits = site.header_bits.load(std::memory_order_acquire);
  if (bits != 0) [[likely]]
    return bits;
  return register_site(site, arg_types_v<Args...>.data(), sizeof...(Args));
}

}  // namespace blackbox::detail
