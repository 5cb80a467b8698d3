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
#include "blackbox/detail/producer.hpp"
#include "blackbox/detail/record.hpp"
#include "blackbox/detail/site.hpp"
#include "blackbox/detail/template_string.hpp"

namespace blackbox::detail {

// A string argument as it will be written: bytes, length, truncation flag.
struct WireString {
  const char* data;
  std::uint32_t size;
  std::uint32_t flags;  // kStringTruncated or 0
};

// An argument formatted at the call site (types that only have an fmt::formatter).
struct WireFormatted {
  std::string text;
};

// Formats argument `index` of `message_template` with that placeholder's spec. Compiled
// once; never throws (a throwing formatter yields a "{format error: ...}" text).
std::string format_eager(const char* message_template, std::uint32_t index,
                         fmt::format_args args) noexcept;

// Cuts `size` to `limit`, backing off so a UTF-8 sequence is never split.
WireString truncate_string(const char* data, std::size_t size, std::uint32_t limit) noexcept;

[[nodiscard]] inline WireString wire_string(const char* data, std::size_t size,
                                            std::uint32_t limit) noexcept {
  if (size > limit) [[unlikely]] return truncate_string(data, size, limit);
  return {data, static_cast<std::uint32_t>(size), 0};
}

template <std::uint32_t Index, typename Arg>
[[nodiscard]] inline auto to_wire(const Producer& p, [[maybe_unused]] const char* message_template,
                                  const Arg& arg) {
  using T = decayed_t<Arg>;
  constexpr ArgType type = arg_type_of<T>();
  if constexpr (type == ArgType::string) {
    if constexpr (is_c_string_v<T>) {
      const char* s = arg;
      if (s == nullptr) [[unlikely]] return wire_string("(null)", 6, p.max_string);
      return wire_string(s, std::strlen(s), p.max_string);
    } else {
      return wire_string(arg.data(), arg.size(), p.max_string);
    }
  } else if constexpr (type == ArgType::formatted) {
    return WireFormatted{format_eager(message_template, Index, fmt::make_format_args(arg))};
  } else if constexpr (type == ArgType::pointer) {
    return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(arg));
  } else if constexpr (std::is_enum_v<T>) {
    return static_cast<std::underlying_type_t<T>>(arg);
  } else {
    return arg;
  }
}

// Bytes of an argument on the wire, not counting string bytes (see string_bytes()).
template <typename W>
[[nodiscard]] inline std::uint32_t wire_size(const W&) noexcept {
  if constexpr (std::is_same_v<W, WireString> || std::is_same_v<W, WireFormatted>) return 4;
  else return sizeof(W);
}

[[nodiscard]] inline std::byte* put_string(std::byte* out, const char* data, std::uint32_t size,
                                           std::uint32_t flags) noexcept {
  const std::uint32_t word = size | flags;
  std::memcpy(out, &word, 4);
  std::memcpy(out + 4, data, size);
  return out + 4 + size;
}

template <typename W>
[[nodiscard]] inline std::byte* put(std::byte* out, const W& w) noexcept {
  if constexpr (std::is_same_v<W, WireString>) {
    return put_string(out, w.data, w.size, w.flags);
  } else if constexpr (std::is_same_v<W, WireFormatted>) {
    return put_string(out, w.text.data(), static_cast<std::uint32_t>(w.text.size()),
                      0);  // already cut to fit by fit_strings()
  } else {
    std::memcpy(out, &w, sizeof(W));
    return out + sizeof(W);
  }
}

// Rare path: the strings do not fit in one record. Cuts every string argument to an equal
// share of the room left by the fixed-size arguments, marking each cut one as truncated.
template <typename W>
inline void fit_string(W& w, std::uint32_t share) noexcept {
  if constexpr (std::is_same_v<W, WireString>) {
    if (w.size > share) w = truncate_string(w.data, w.size, share);
  } else if constexpr (std::is_same_v<W, WireFormatted>) {
    if (w.text.size() > share) {
      const WireString cut = truncate_string(w.text.data(), w.text.size(), share);
      w.text.resize(cut.size);
    }
  }
}

template <typename W>
inline constexpr bool is_wire_string_v =
    std::is_same_v<W, WireString> || std::is_same_v<W, WireFormatted>;

template <typename W>
[[nodiscard]] inline std::uint32_t string_bytes(const W& w) noexcept {
  if constexpr (std::is_same_v<W, WireString>) return w.size;
  else if constexpr (std::is_same_v<W, WireFormatted>) return static_cast<std::uint32_t>(w.text.size());
  else return 0;
}

template <typename... Ws>
[[nodiscard]] inline std::uint32_t record_size(const Producer& p, const Ws&... ws) noexcept {
  const std::uint64_t size = sizeof(RecordHeader) + (p.trace_active ? kTraceBytes : 0) +
                             (std::uint64_t{0} + ... + wire_size(ws)) +
                             (std::uint64_t{0} + ... + string_bytes(ws));
  return static_cast<std::uint32_t>(align_record(size));
}

template <typename... Args, std::size_t... I>
inline void write_record(std::uint32_t id, [[maybe_unused]] const char* message_template,
                         std::index_sequence<I...>, const Args&... args) noexcept {
  Producer& p = tls_producer;
  if (p.data == nullptr) [[unlikely]] {
    if (!attach_producer(p)) return;  // counted there
  }
  const std::uint64_t time = now_ticks();
  auto wires = std::make_tuple(to_wire<I>(p, message_template, args)...);
  std::uint32_t size = std::apply([&](const auto&... w) { return record_size(p, w...); }, wires);
  if (size > p.max_record) [[unlikely]] {
    constexpr std::uint32_t strings =
        (0u + ... + (is_wire_string_v<std::tuple_element_t<I, decltype(wires)>> ? 1u : 0u));
    if constexpr (strings > 0) {
      const std::uint32_t fixed = std::apply(
          [&](const auto&... w) { return record_size(p, w...) - (0u + ... + string_bytes(w)); },
          wires);
      const std::uint32_t room = p.max_record > fixed + 8 ? p.max_record - fixed - 8 : 0;
      std::apply([&](auto&... w) { (fit_string(w, room / strings), ...); }, wires);
      size = std::apply([&](const auto&... w) { return record_size(p, w...); }, wires);
    }
  }
  std::byte* const dst = reserve(p, size);  // never null: size <= p.max_record
  const RecordHeader header{size, id | (p.trace_active ? kSiteHasTrace : 0u), time};
  std::memcpy(dst, &header, sizeof header);
  std::byte* out = dst + sizeof header;
  if (p.trace_active) {
    std::memcpy(out, p.trace, kTraceBytes);
    out += kTraceBytes;
  }
  std::apply([&](const auto&... w) { ((out = put(out, w)), ...); }, wires);
  commit(p, size);
}

template <typename... Args>
struct TypeList {};

// Only ever named inside decltype(): gives the call's argument types unevaluated.
template <typename... Args>
TypeList<Args...> type_list(const Args&...);

// The site's id, defining the site on its first enabled call. 0: do not log (the level is
// disabled after all, or the site could not be defined). Called before any argument of
// the call is evaluated.
template <typename... Args>
[[nodiscard]] inline std::uint32_t site_id(Site& site, TypeList<Args...>) noexcept {
  // Acquire: pairs with the release in register_site(); see site.hpp.
  const std::uint32_t id = site.id.load(std::memory_order_acquire);
  if (id != 0) [[likely]] return id;
  return register_site(site, arg_types_v<Args...>.data(), sizeof...(Args));
}

// Called by the BBX_* macros once the level check passed and the site has an id.
template <typename... Args>
inline void log(std::uint32_t id, TemplateString<std::type_identity_t<Args>...> checked,
                const Args&... args) noexcept {
  write_record(id, checked.c_str(), std::index_sequence_for<Args...>{}, args...);
}

}  // namespace blackbox::detail
