// Site definitions: a ring SiteEntry (ring_layout.hpp), in a ring file's site table or an
// archive's sites frame, parsed into what readers and the flusher need; and message
// templates split at their placeholders. Pure data: no state, nothing trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "blackbox/detail/record.hpp"
#include "blackbox/level.hpp"

namespace blackbox::ring {

struct SiteInfo {
  Level level = Level::info;
  std::uint32_t line = 0;
  std::string tag, file, function, message_template;
  std::vector<detail::ArgType> types;
  // The template split at its placeholders: literals.size() == names.size() + 1.
  std::vector<std::string> literals;
  std::vector<std::string> names;
  std::vector<std::string> specs;  // "{:spec}" for fmt, or "{}"
  std::vector<bool> plain;         // specs[i] == "{}": formatted without fmt's parser
  std::vector<std::int8_t> fixed;  // specs[i] == "{:.Nf}": N (a compiled format), else -1
  bool template_ok = false;        // parsed, and one placeholder per argument
  // A printf format (BBX_PRINTF): literals and specs are per conversion ("%-8.3f"), a
  // conversion may take `stars[i]` int arguments (* width, * precision) before its value,
  // and names holds one empty name per argument.
  bool printf_format = false;
  std::vector<std::uint8_t> stars;
};

// Parses one site entry from `data` (at most `available` bytes). Returns the entry's size,
// or 0 with `error` set if it is malformed.
[[nodiscard]] std::size_t parse_site_entry(const std::byte* data, std::size_t available,
                                           SiteInfo& out, std::string& error);

// Splits a message template at its placeholders (the same grammar the compiler checks).
[[nodiscard]] bool parse_template(const std::string& text, SiteInfo& out);

// Splits a printf format at its conversions and checks them against out.types (the same
// rules the compiler checks, detail/printf_string.hpp). False: not a format we format.
[[nodiscard]] bool parse_printf_format(const std::string& text, SiteInfo& out);

}  // namespace blackbox::ring
