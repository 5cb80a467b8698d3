// Level specs such as "info,net=debug,db=warn": a default level and per-tag overrides.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "blackbox/level.hpp"

namespace blackbox::core {

struct LevelSpec {
  Level default_level = Level::info;
  std::vector<std::pair<std::string, Level>> tags;  // in the order given; later ones win
};

// Parses `spec`; on failure returns false and a message saying which part is wrong.
[[nodiscard]] bool parse_level_spec(std::string_view spec, LevelSpec& out, std::string& error);

// Specs and names that come from the environment or from another process must not carry a
// control byte to a terminal: "" if `text` has none, else "a control character (0x1b) in
// the WHAT" (C0 and DEL).
[[nodiscard]] std::string control_byte_error(std::string_view text, std::string_view what);

// Parses "64K", "1M", "1G" (binary units) or a plain number. False if malformed or overflows.
[[nodiscard]] bool parse_size(std::string_view text, std::uint64_t& out);

}  // namespace blackbox::core
