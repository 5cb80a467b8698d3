// Checks an untrusted ring file's header against the format (format/ring_layout.hpp) before
// anything in the file is used. Shared by the reader and by the recovery of dead processes' rings.
#pragma once

#include <cstddef>
#include <string>

#include "format/ring_layout.hpp"

namespace blackbox::ring {

// `base` maps at least min(file_size, kPageBytes) bytes of the file. On success fills
// `layout` (the regions, all within file_size); else says what is wrong in `error`.
[[nodiscard]] bool validate_header(const std::byte* base, std::size_t file_size, Layout& layout,
                                   std::string& error);

}  // namespace blackbox::ring
