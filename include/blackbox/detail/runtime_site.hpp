// Call sites known only at run time, for bridges from other logging APIs (the spdlog sink,
// blackbox/spdlog_sink.hpp): the tag, level and source location come with each message
// instead of from a BBX_* macro. Such a site logs its message as one string argument of
// the template "{}" (already formatted by the other API).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "blackbox/detail/encode.hpp"
#include "blackbox/detail/rate_limit.hpp"
#include "blackbox/detail/site.hpp"
#include "blackbox/level.hpp"

namespace blackbox::detail {

// The site for these facts: the same facts always give the same site (sites are never
// freed). Thread-safe; takes a lock and, the first time, allocates. Null only if memory ran
// out (the message is then dropped). `message_template` must be a string literal (it is
// kept as is); the logger's own reports pass `no_rate_limit`.
[[nodiscard]] Site* runtime_site(std::string_view tag, Level level, std::string_view file,
                                 std::uint32_t line, std::string_view function,
                                 const char* message_template = "{}",
                                 bool no_rate_limit = false) noexcept;

// Logs `text` at `site` (a runtime site of this level), if its level is enabled: the same
// record a BBX_LOG(tag, level, "{}", text) at that place would write.
inline void log_text(Site& site, Level level, std::string_view text) noexcept {
  if (!level_enabled(site, level)) return;
  const std::uint64_t bits = site_bits(site, TypeList<std::string_view>{});
  if (bits != 0 && rate_admit(site))
    write_record(now_ticks(), bits, "{}", std::index_sequence<0>{}, text);
}

}  // namespace blackbox::detail
