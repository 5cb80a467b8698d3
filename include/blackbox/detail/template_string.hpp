// Compile-time checking of message templates: "{}", "{name}" and "{name:spec}" placeholders,
// "{{" and "}}" escapes. A mistake becomes a compile error whose first lines name it, e.g.
//   error: call to non-'constexpr' function
//          'void blackbox::detail::error_more_arguments_than_placeholders()'
// and a spec the argument's type cannot take is rejected by fmt's own checker.
#pragma once

#include <fmt/core.h>

#include <cstddef>
#include <string_view>
#include <type_traits>

#include "blackbox/detail/arg_type.hpp"

namespace blackbox::detail {

// Never defined as constexpr: calling one during constant evaluation is the error message.
inline void error_more_arguments_than_placeholders() {}
inline void error_more_placeholders_than_arguments() {}
inline void error_unmatched_brace_in_template() {}
inline void error_placeholder_name_must_be_an_identifier() {}
inline void error_positional_placeholders_are_not_supported_use_names() {}
inline void error_nested_placeholders_in_spec_are_not_supported() {}
inline void error_too_many_arguments_max_is_64() {}

inline constexpr std::size_t kMaxArgs = 64;

constexpr bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '.';
}

// Checks `text` and writes the equivalent fmt template (names removed) into `out`.
// Returns the number of placeholders. Reports errors by calling the functions above.
constexpr std::size_t strip_names(std::string_view text, char* out, std::size_t& out_len) {
  std::size_t count = 0;
  out_len = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        out[out_len++] = '}';
        out[out_len++] = '}';
        ++i;
        continue;
      }
      error_unmatched_brace_in_template();
    }
    if (c != '{') {
      out[out_len++] = c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      out[out_len++] = '{';
      out[out_len++] = '{';
      ++i;
      continue;
    }
    // A placeholder: {name?(:spec)?}
    std::size_t j = i + 1;
    if (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      error_positional_placeholders_are_not_supported_use_names();
    }
    if (j < text.size() && is_name_start(text[j])) {
      while (j < text.size() && is_name_char(text[j])) ++j;
    }
    if (j >= text.size() || (text[j] != '}' && text[j] != ':')) {
      error_placeholder_name_must_be_an_identifier();
    }
    out[out_len++] = '{';
    if (text[j] == ':') {
      for (; j < text.size() && text[j] != '}'; ++j) {
        if (text[j] == '{') error_nested_placeholders_in_spec_are_not_supported();
        out[out_len++] = text[j];
      }
      if (j >= text.size()) error_unmatched_brace_in_template();
    }
    out[out_len++] = '}';
    i = j;
    ++count;
  }
  return count;
}

// Converted from a string literal at each call site; the consteval constructor is the check.
// At run time it is just the pointer (and usually optimised away entirely).
template <typename... Args>
class TemplateString {
 public:
  template <std::size_t N>
  consteval TemplateString(const char (&text)[N]) : text_(text) {  // NOLINT: implicit by design
    if (sizeof...(Args) > kMaxArgs) error_too_many_arguments_max_is_64();
    char stripped[N > 1 ? N : 1]{};
    std::size_t stripped_len = 0;
    const std::size_t placeholders =
        strip_names(std::string_view(text, N - 1), stripped, stripped_len);
    if (placeholders < sizeof...(Args)) error_more_arguments_than_placeholders();
    if (placeholders > sizeof...(Args)) error_more_placeholders_than_arguments();
    // fmt's checker validates every spec against the type the reader will format.
    (void)fmt::format_string<fmt_type_t<Args>...>(std::string_view(stripped, stripped_len));
  }
  [[nodiscard]] constexpr const char* c_str() const { return text_; }

 private:
  const char* text_;
};

}  // namespace blackbox::detail
