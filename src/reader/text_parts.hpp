// The parts of text.cpp's JSON and logfmt writing that encoded_line.cpp shares (reader
// layer, not public).
#pragma once

#include <cstddef>
#include <string_view>

namespace blackbox::text {

// A byte escaped in a JSON string takes at most this many ("\u00XX").
inline constexpr std::size_t kJsonEscapeRoom = 6;

// Copies `s` to `d` as the inside of a JSON string (escaped, no quotes); `d` has room for
// kJsonEscapeRoom bytes per byte of `s`. Returns the end.
char* put_json_body(std::string_view s, char* d);

// Whether a logfmt value `s` must be quoted for a byte it holds (a space, '=', or anything
// JSON escapes). (An empty value is quoted too; that is not a byte.)
bool has_logfmt_special(std::string_view s);

}  // namespace blackbox::text
