// Maps a C++ argument type onto its wire type (record.hpp) and onto the type the reader will
// format it as, so that the compile-time spec check and the deferred formatting agree.
#pragma once

#include <fmt/core.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include "blackbox/detail/record.hpp"

namespace blackbox::detail {

template <typename T>
inline constexpr bool is_char_type_v =
    std::is_same_v<T, char> || std::is_same_v<T, wchar_t> || std::is_same_v<T, char8_t> ||
    std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>;

template <typename T>
inline constexpr bool is_c_string_v =
    std::is_same_v<T, const char*> || std::is_same_v<T, char*> ||
    (std::is_array_v<T> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>);

template <typename T>
inline constexpr bool is_string_v =
    is_c_string_v<T> || std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>;

template <typename T>
constexpr ArgType integer_arg_type() {
  if constexpr (std::is_signed_v<T>) {
    if constexpr (sizeof(T) == 1) return ArgType::i8;
    if constexpr (sizeof(T) == 2) return ArgType::i16;
    if constexpr (sizeof(T) == 4) return ArgType::i32;
    if constexpr (sizeof(T) == 8) return ArgType::i64;
  } else {
    if constexpr (sizeof(T) == 1) return ArgType::u8;
    if constexpr (sizeof(T) == 2) return ArgType::u16;
    if constexpr (sizeof(T) == 4) return ArgType::u32;
    if constexpr (sizeof(T) == 8) return ArgType::u64;
  }
  return ArgType::formatted;  // e.g. __int128: formatted at the call site
}

// The wire type of an argument of (decayed, cv-free) type T.
template <typename T>
constexpr ArgType arg_type_of() {
  if constexpr (std::is_same_v<T, bool>)
    return ArgType::boolean;
  else if constexpr (std::is_same_v<T, char>)
    return ArgType::character;
  else if constexpr (is_char_type_v<T>)
    return ArgType::formatted;
  else if constexpr (std::is_integral_v<T>)
    return integer_arg_type<T>();
  else if constexpr (std::is_enum_v<T>)
    return integer_arg_type<std::underlying_type_t<T>>();
  else if constexpr (std::is_same_v<T, float>)
    return ArgType::f32;
  else if constexpr (std::is_same_v<T, double>)
    return ArgType::f64;
  else if constexpr (is_string_v<T>)
    return ArgType::string;
  else if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>)
    return ArgType::pointer;
  else
    return ArgType::formatted;
}

// The type fmt sees for T, both in the compile-time check and in the reader.
template <ArgType A, typename T>
struct formatted_as {
  using type = T;  // ArgType::formatted: the user's own formatter
};
// clang-format off
template <typename T> struct formatted_as<ArgType::i8, T> { using type = signed char; };
template <typename T> struct formatted_as<ArgType::i16, T> { using type = std::int16_t; };
template <typename T> struct formatted_as<ArgType::i32, T> { using type = std::int32_t; };
template <typename T> struct formatted_as<ArgType::i64, T> { using type = std::int64_t; };
template <typename T> struct formatted_as<ArgType::u8, T> { using type = unsigned char; };
template <typename T> struct formatted_as<ArgType::u16, T> { using type = std::uint16_t; };
template <typename T> struct formatted_as<ArgType::u32, T> { using type = std::uint32_t; };
template <typename T> struct formatted_as<ArgType::u64, T> { using type = std::uint64_t; };
template <typename T> struct formatted_as<ArgType::f32, T> { using type = float; };
template <typename T> struct formatted_as<ArgType::f64, T> { using type = double; };
template <typename T> struct formatted_as<ArgType::boolean, T> { using type = bool; };
template <typename T> struct formatted_as<ArgType::character, T> { using type = char; };
template <typename T> struct formatted_as<ArgType::pointer, T> { using type = const void*; };
template <typename T> struct formatted_as<ArgType::string, T> { using type = fmt::string_view; };
// clang-format on

template <typename Arg>
using decayed_t = std::decay_t<Arg>;

template <typename Arg>
using fmt_type_t = typename formatted_as<arg_type_of<decayed_t<Arg>>(), decayed_t<Arg>>::type;

// The argument type list of a call site, one static array per distinct list (not per site).
template <typename... Args>
inline constexpr std::array<ArgType, sizeof...(Args)> arg_types_v{
    arg_type_of<decayed_t<Args>>()...};

}  // namespace blackbox::detail
