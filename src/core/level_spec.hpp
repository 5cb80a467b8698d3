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

// Parses "64K", "1M", "1G" (binary units) or a plain number. False if malformed or overflows.
[[nodiscard]] bool parse_size(std::string_view text, std::uint64_t& out);

}  // namespace blackbox::core
