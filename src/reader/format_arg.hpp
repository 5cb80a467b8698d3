// One argument formatted as its placeholder says, exactly as fmt::format would have at the
// call site: shared by the decoder (Record::message) and the JSON and logfmt lines written
// straight from encoded arguments (encoded_line.hpp), so that both write the same text.
#pragma once

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "blackbox/detail/encode.hpp"
#include "format/site_entry.hpp"
#include "reader/fixed_float.hpp"

namespace blackbox::reader {

// A recorded value (arguments are unaligned in the ring's bytes).
template <typename T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// A message is built in fmt's buffer: fmt appends to it inline, where std::string appends
// are calls that grow and shrink.
using Message = fmt::memory_buffer;

[[gnu::always_inline]] inline void put(Message& out, const char* data, std::size_t size) {
  const std::size_t at = out.size();
  out.resize(at + size);  // inline, unlike buffer::append()
  // The pieces of a message are short: the inline copy call sites use for strings, no
  // call to memcpy for most. (Every piece is far below 4 GiB: a literal of a site entry, a
  // value's text, a recorded string.)
  detail::copy_string_bytes(reinterpret_cast<std::byte*>(out.data() + at), data,
                            static_cast<std::uint32_t>(size));
}
inline void put(Message& out, std::string_view s) { put(out, s.data(), s.size()); }

// Formats `value` with the placeholder's fmt spec ("{:...}"), exactly as fmt::format would
// at the call site. A spec fmt rejects (only possible in a damaged file) is shown inline.
template <typename T>
void format_one(Message& out, const std::string& spec, const T& value) {
  try {
    fmt::format_to(fmt::appender(out), fmt::runtime(spec), value);
  } catch (const fmt::format_error& e) {
    put(out, "{bad spec: ");
    put(out, e.what());
    put(out, "}");
  }
}

// Appends `value` formatted by placeholder `i` of `site` (plainly when the template is
// damaged). A plain "{}" is formatted without parsing a format string at run time.
template <typename T>
void format_arg(Message& out, const ring::SiteInfo& site, std::size_t i, const T& value) {
  if (!site.template_ok || site.plain[i]) {
    if constexpr (std::is_same_v<T, fmt::string_view>) {
      put(out, value.data(), value.size());
    } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                         !std::is_same_v<T, char>) {
      const std::size_t at = out.size();
      out.resize(at + kFixedRoom);
      out.resize(static_cast<std::size_t>(short_decimal::put_integer(value, out.data() + at) -
                                          out.data()));
    } else if constexpr (std::is_same_v<T, double>) {
      char room[kFixedRoom];
      if (const std::size_t n = write_shortest(value, room); n != 0) {
        put(out, room, n);
      } else {
        fmt::format_to(fmt::appender(out), FMT_COMPILE("{}"), value);
      }
    } else {
      fmt::format_to(fmt::appender(out), "{}", value);
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (site.fixed[i] >= 0) {
      char room[kFixedRoom];
      if (const std::size_t n = write_short_fixed(value, site.fixed[i], room); n != 0) {
        put(out, room, n);
      } else {
        fmt::format_to(fmt::appender(out), FMT_COMPILE("{:.{}f}"), value, int{site.fixed[i]});
      }
    } else {
      format_one(out, site.specs[i], value);
    }
  } else {
    format_one(out, site.specs[i], value);
  }
}

}  // namespace blackbox::reader
