// Rate limits (Config::rate_limits): the spec, which rule applies to which site, the
// buckets' out-of-line refill, and the reports of what they suppressed. The hot path is
// include/blackbox/detail/rate_limit.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/detail/rate_limit.hpp"
#include "blackbox/detail/site.hpp"

namespace blackbox::core {

// One rule of a spec such as "net=1000/s,*=100000/s,conn.cpp:42=10/s,audit=off".
struct RateRule {
  enum class Key : std::uint8_t { every, tag, site };
  Key key = Key::every;
  std::string tag;         // Key::tag
  std::string file;        // Key::site: the file's name, or an ending of its path after a '/'
  std::uint32_t line = 0;  // Key::site
  // `per_period` records per `period_ns`, at most that many at once; 0: "off", no limit
  // (a tag or a site exempted from "*").
  std::uint64_t per_period = 0;
  std::uint64_t period_ns = 0;
  std::string text;  // as given (for rate_spec_text)
};

struct RateSpec {
  std::vector<RateRule> rules;  // in the order given; for the same key, the later one wins
};

// "0.1%" or "0.001" (a share of 0 .. whatever): nullopt if neither.
[[nodiscard]] std::optional<double> parse_share(std::string_view text);

// Parses `spec` ("" is no limits); on failure returns false and says which part is wrong.
[[nodiscard]] bool parse_rate_spec(std::string_view spec, RateSpec& out, std::string& error);

// The spec as text, rules in order ("" if none).
[[nodiscard]] std::string rate_spec_text(const RateSpec& spec);

// The rule for a site: its own (file:line), else its tag's, else "*"'s; null if none
// (or the site is exempt, StaticSite::no_rate_limit).
[[nodiscard]] const RateRule* rate_rule_for(const RateSpec& spec,
                                            const detail::StaticSite& site) noexcept;

// Gives `site` the bucket `spec` asks for, or takes it away. A site whose rule did not
// change keeps its bucket as it is (tokens and counts); a changed rule starts with a full
// bucket. Caller holds the logger's mutex (it serialises every call). May allocate.
void apply_rate_limit_locked(detail::Site& site, const RateSpec& spec);

// Records suppressed by every site's bucket since the process started. Lock-free.
[[nodiscard]] std::uint64_t rate_limited_total() noexcept;

// For each site that suppressed records since its last report, at least about a second
// ago, logs "suppressed N records of site FILE:LINE in the last S s" at the site's tag and
// level (exempt from rate limits itself). One caller at a time: the flusher's pass.
// Returns how many reports it logged.
std::uint32_t report_rate_limited() noexcept;

}  // namespace blackbox::core
