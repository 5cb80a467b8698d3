// Compile-time checking of printf-style formats (BBX_PRINTF and the BBX_*F shorthands): each
// conversion is matched against its argument's type as -Wformat would, and a mismatch, a
// wrong argument count or a conversion we cannot defer is a compile error whose first lines
// name it, e.g.
//   error: call to non-'constexpr' function
//          'void blackbox::detail::error_printf_conversion_does_not_fit_its_argument()'
//
// Supported: conversions d i u o x X c s p f F e E g G a A and %%; flags - + space # 0 and
// ' (no grouping: read in the C locale); width and precision as digits or *; length
// modifiers hh h l ll j z t. Not supported (compile errors): %n (writes through a pointer),
// %m (errno at read time is not the caller's), positional arguments (%1$d), wide characters
// and strings (%lc, %ls), long double (L: cast to double), and types that only have an
// fmt::formatter (use a {} template for them).
//
// Arguments are recorded raw, as for templates, and formatted when read, with printf's
// rules (fmt's printf), the same text snprintf would give.
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>

#include "blackbox/detail/arg_type.hpp"
#include "blackbox/detail/template_string.hpp"  // kMaxArgs

namespace blackbox::detail {

// Never defined as constexpr: calling one during constant evaluation is the error message.
inline void error_printf_conversion_does_not_fit_its_argument() {}
inline void error_printf_more_arguments_than_conversions() {}
inline void error_printf_more_conversions_than_arguments() {}
inline void error_printf_unknown_conversion() {}
inline void error_printf_percent_n_is_not_supported() {}
inline void error_printf_percent_m_is_not_supported_log_errno_as_an_argument() {}
inline void error_printf_positional_arguments_are_not_supported() {}
inline void error_printf_wide_characters_and_strings_are_not_supported() {}
inline void error_printf_long_double_is_not_supported_cast_to_double() {}
inline void error_printf_star_width_or_precision_needs_an_int() {}
inline void error_printf_type_with_only_a_formatter_use_a_template() {}
inline void error_printf_too_many_arguments_max_is_64() {}

// What a printf conversion can take, by argument type.
enum class PrintfClass : unsigned char {
  int32,     // an integer type that promotes to int (or unsigned int): bool, char, short, int
  int64,     // an 8-byte integer: long, long long, size_t, ...
  floating,  // float (promoted to double) or double
  string,    // const char*, char arrays, std::string, std::string_view
  pointer,   // any other pointer, nullptr
  other,     // not printable by printf (long double, formatter-only types, 16-byte integers)
};

template <typename T>
constexpr PrintfClass printf_class() {
  using U = std::conditional_t<std::is_enum_v<T>, std::underlying_type<T>, std::type_identity<T>>;
  using I = typename U::type;
  if constexpr (is_string_v<T>) {
    return PrintfClass::string;
  } else if constexpr (std::is_integral_v<I> && arg_type_of<T>() != ArgType::formatted) {
    return sizeof(I) <= 4 ? PrintfClass::int32 : PrintfClass::int64;
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return PrintfClass::floating;
  } else if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
    return PrintfClass::pointer;
  } else {
    return PrintfClass::other;
  }
}

// A printf conversion found in a format: the index of its argument, and how many of the
// arguments before it are * widths and precisions.
struct PrintfConversion {
  std::size_t size = 0;  // bytes from '%' to the conversion character, inclusive
  char conversion = 0;   // 0 for "%%"
  int stars = 0;         // 0, 1 or 2 int arguments first
  enum class Length { none, hh, h, l, ll, j, z, t, L } length = Length::none;
};

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Parses the conversion at text[i] == '%'. Reports errors through the functions above.
constexpr PrintfConversion parse_printf_conversion(std::string_view text, std::size_t i) {
  PrintfConversion c;
  std::size_t j = i + 1;
  // "%1$d": digits then '$'
  {
    std::size_t k = j;
    while (k < text.size() && is_digit(text[k])) ++k;
    if (k > j && k < text.size() && text[k] == '$') {
      error_printf_positional_arguments_are_not_supported();
    }
  }
  while (j < text.size() && std::string_view("-+ #0'").find(text[j]) != std::string_view::npos) ++j;
  if (j < text.size() && text[j] == '*') {
    ++c.stars;
    ++j;
  } else {
    while (j < text.size() && is_digit(text[j])) ++j;
  }
  if (j < text.size() && text[j] == '.') {
    ++j;
    if (j < text.size() && text[j] == '*') {
      ++c.stars;
      ++j;
    } else {
      while (j < text.size() && is_digit(text[j])) ++j;
    }
  }
  using Length = PrintfConversion::Length;
  if (j < text.size()) {
    const char m = text[j];
    const char next = j + 1 < text.size() ? text[j + 1] : '\0';
    if (m == 'h' && next == 'h') {
      c.length = Length::hh;
      j += 2;
    } else if (m == 'l' && next == 'l') {
      c.length = Length::ll;
      j += 2;
    } else if (m == 'h' || m == 'l' || m == 'j' || m == 'z' || m == 't' || m == 'L' || m == 'q') {
      c.length = m == 'h'   ? Length::h
                 : m == 'l' ? Length::l
                 : m == 'j' ? Length::j
                 : m == 'z' ? Length::z
                 : m == 't' ? Length::t
                 : m == 'q' ? Length::ll
                            : Length::L;
      ++j;
    }
  }
  if (j >= text.size()) error_printf_unknown_conversion();
  c.conversion = text[j];
  c.size = j - i + 1;
  switch (c.conversion) {
    case '%':
      if (c.size != 2) error_printf_unknown_conversion();  // "%5%" is undefined
      c.conversion = 0;
      break;
    case 'n':
      error_printf_percent_n_is_not_supported();
      break;
    case 'm':
      error_printf_percent_m_is_not_supported_log_errno_as_an_argument();
      break;
    case 'C':
    case 'S':
      error_printf_wide_characters_and_strings_are_not_supported();
      break;
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X':
    case 'c':
    case 's':
    case 'p':
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
      break;
    default:
      error_printf_unknown_conversion();
  }
  return c;
}

// Checks one conversion against its argument's class.
constexpr void check_printf_argument(const PrintfConversion& c, PrintfClass arg) {
  using Length = PrintfConversion::Length;
  const bool floating_conversion =
      std::string_view("fFeEgGaA").find(c.conversion) != std::string_view::npos;
  if (floating_conversion && c.length == Length::L) {
    error_printf_long_double_is_not_supported_cast_to_double();
  }
  if (arg == PrintfClass::other) error_printf_type_with_only_a_formatter_use_a_template();
  switch (c.conversion) {
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X': {
      if (c.length == Length::L) error_printf_conversion_does_not_fit_its_argument();
      const bool wide = c.length == Length::l || c.length == Length::ll || c.length == Length::j ||
                        c.length == Length::z || c.length == Length::t;
      if (arg != (wide ? PrintfClass::int64 : PrintfClass::int32)) {
        error_printf_conversion_does_not_fit_its_argument();
      }
      break;
    }
    case 'c':
      if (c.length == Length::l) error_printf_wide_characters_and_strings_are_not_supported();
      if (c.length != Length::none || arg != PrintfClass::int32) {
        error_printf_conversion_does_not_fit_its_argument();
      }
      break;
    case 's':
      if (c.length == Length::l) error_printf_wide_characters_and_strings_are_not_supported();
      if (c.length != Length::none || arg != PrintfClass::string) {
        error_printf_conversion_does_not_fit_its_argument();
      }
      break;
    case 'p':  // a char* is recorded as its string: cast it to void* for %p
      if (c.length != Length::none || arg != PrintfClass::pointer) {
        error_printf_conversion_does_not_fit_its_argument();
      }
      break;
    default:  // floating point
      if (c.length == Length::L) error_printf_long_double_is_not_supported_cast_to_double();
      if ((c.length != Length::none && c.length != Length::l) || arg != PrintfClass::floating) {
        error_printf_conversion_does_not_fit_its_argument();
      }
  }
}

// Converted from a string literal at each call site; the consteval constructor is the check.
template <typename... Args>
class PrintfString {
 public:
  template <std::size_t N>
  consteval PrintfString(const char (&text)[N]) : text_(text) {  // NOLINT: implicit by design
    if (sizeof...(Args) > kMaxArgs) error_printf_too_many_arguments_max_is_64();
    constexpr PrintfClass classes[sizeof...(Args) + 1] = {printf_class<decayed_t<Args>>()...,
                                                          PrintfClass::other};
    const std::string_view s(text, N - 1);
    std::size_t arg = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '%') continue;
      const PrintfConversion c = parse_printf_conversion(s, i);
      i += c.size - 1;
      if (c.conversion == 0) continue;  // "%%"
      for (int star = 0; star < c.stars; ++star, ++arg) {
        if (arg >= sizeof...(Args)) error_printf_more_conversions_than_arguments();
        if (classes[arg] != PrintfClass::int32) error_printf_star_width_or_precision_needs_an_int();
      }
      if (arg >= sizeof...(Args)) error_printf_more_conversions_than_arguments();
      check_printf_argument(c, classes[arg]);
      ++arg;
    }
    if (arg < sizeof...(Args)) error_printf_more_arguments_than_conversions();
  }
  [[nodiscard]] constexpr const char* c_str() const { return text_; }

 private:
  const char* text_;
};

// The format as a site records it: without a trailing newline (printf-logging code ends
// its lines; records are lines already).
template <std::size_t N>
struct PrintfTemplate {
  char text[N] = {};
};
template <std::size_t N>
consteval PrintfTemplate<N> printf_template(const char (&format)[N]) {
  PrintfTemplate<N> t;
  std::size_t n = N - 1;
  if (n > 0 && format[n - 1] == '\n') --n;
  for (std::size_t i = 0; i < n; ++i) t.text[i] = format[i];
  return t;
}

}  // namespace blackbox::detail
