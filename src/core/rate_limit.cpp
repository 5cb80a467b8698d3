// Rate limits: spec, rules, refills and reports (core/rate_limit.hpp). The hot path and the
// memory ordering of the bucket's fields are in include/blackbox/detail/rate_limit.hpp.
#include "core/rate_limit.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <string>
#include <unordered_map>

#include "blackbox/detail/encode.hpp"
#include "blackbox/detail/runtime_site.hpp"
#include "core/level_spec.hpp"
#include "ring/clock.hpp"
#include "sys/sys.hpp"

namespace blackbox {
namespace {
__extension__ typedef unsigned __int128 u128;     // 64 x 64-bit products without overflow
constexpr std::int64_t kMinRefillNs = 1'000'000;  // a flood refills at most once a ms per site
}  // namespace

namespace detail {

std::uint64_t ticks_per_ms() noexcept { return ring::ticks_per_second() / 1000; }

}  // namespace detail

namespace core {
namespace {

constexpr std::int64_t kReportEveryNs = 950'000'000;  // "about a second": flusher passes drift

// Every bucket ever made (never freed): pushed under the logger's mutex, walked without it.
// Release on push, acquire on walk: a bucket's fields are set before it is found.
std::atomic<detail::RateBucket*> g_buckets{nullptr};
// The bucket of each site that ever had one, so a site that loses and regains a rule keeps
// its counts. Guarded by the logger's mutex (every caller of apply_rate_limit_locked).
std::unordered_map<detail::Site*, detail::RateBucket*>& site_buckets() {
  static auto* map = new std::unordered_map<detail::Site*, detail::RateBucket*>;
  return *map;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

// "1000/s", "60/min", "5/h", "10/ms", "off".
bool parse_rate(std::string_view text, RateRule& rule, std::string& error) {
  if (text == "off" || text == "none") {
    rule.per_period = 0;
    return true;
  }
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    error = "not a rate (write N/s, N/min, N/h, N/ms, or off)";
    return false;
  }
  const std::string_view unit = text.substr(slash + 1);
  std::uint64_t n = 0;
  if (!parse_number(text.substr(0, slash), n) || n == 0 || n > 1'000'000'000) {
    error = "the count must be 1 .. 1000000000";
    return false;
  }
  if (unit == "s" || unit == "sec") {
    rule.period_ns = 1'000'000'000;
  } else if (unit == "ms") {
    rule.period_ns = 1'000'000;
  } else if (unit == "min" || unit == "m") {
    rule.period_ns = 60'000'000'000;
  } else if (unit == "h") {
    rule.period_ns = 3'600'000'000'000;
  } else {
    error = "the unit must be s, ms, min or h";
    return false;
  }
  rule.per_period = n;
  return true;
}

// Whether `file` (a site's __FILE__) is `want` or ends with "/" + want.
bool file_matches(std::string_view file, std::string_view want) {
  if (file == want) return true;
  return file.size() > want.size() && file.ends_with(want) &&
         file[file.size() - want.size() - 1] == '/';
}

std::string_view base_name(std::string_view file) {
  const std::size_t slash = file.rfind('/');
  return slash == std::string_view::npos ? file : file.substr(slash + 1);
}

bool same_rule(const detail::RateBucket& b, const RateRule& r) {
  return b.per_period.load(std::memory_order_relaxed) == r.per_period &&
         b.period_ns.load(std::memory_order_relaxed) == r.period_ns;
}

}  // namespace

std::optional<double> parse_share(std::string_view text) {
  text = trim(text);
  const bool percent = text.ends_with('%');
  if (percent) text = trim(text.substr(0, text.size() - 1));
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !(value >= 0)) {
    return std::nullopt;
  }
  return percent ? value / 100 : value;
}

bool parse_rate_spec(std::string_view spec, RateSpec& out, std::string& error) {
  RateSpec parsed;
  // From the environment or another process (logcat ctl rate): it reaches terminals.
  if (error = control_byte_error(spec, "rate spec"); !error.empty()) return false;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view part = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (part.empty()) continue;
    const std::size_t eq = part.rfind('=');
    if (eq == std::string_view::npos) {
      error = "\"" + std::string(part) + "\" needs a key: TAG=RATE, FILE:LINE=RATE or *=RATE";
      return false;
    }
    const std::string_view key = trim(part.substr(0, eq));
    if (key.find('=') != std::string_view::npos) {
      error = "\"" + std::string(part) + "\": one '=' a rule (KEY=RATE, rules apart by ',')";
      return false;
    }
    RateRule rule;
    rule.text = std::string(key) + "=" + std::string(trim(part.substr(eq + 1)));
    if (!parse_rate(trim(part.substr(eq + 1)), rule, error)) {
      error = "\"" + std::string(part) + "\": " + error;
      return false;
    }
    const std::size_t colon = key.rfind(':');
    std::uint32_t line = 0;
    if (key == "*") {
      rule.key = RateRule::Key::every;
    } else if (key.empty()) {
      error = "\"" + std::string(part) + "\": empty key";
      return false;
    } else if (colon != std::string_view::npos && colon > 0 &&
               parse_number(key.substr(colon + 1), line) && line == 0) {
      error = "\"" + std::string(part) + "\": line 0 is no line (FILE:LINE counts from 1)";
      return false;
    } else if (colon != std::string_view::npos && colon > 0 &&
               parse_number(key.substr(colon + 1), line) && line > 0) {
      rule.key = RateRule::Key::site;
      rule.file = std::string(key.substr(0, colon));
      rule.line = line;
    } else {
      rule.key = RateRule::Key::tag;
      rule.tag = std::string(key);
    }
    parsed.rules.push_back(std::move(rule));
  }
  out = std::move(parsed);
  return true;
}

std::string rate_spec_text(const RateSpec& spec) {
  std::string out;
  for (const RateRule& r : spec.rules) out += (out.empty() ? "" : ",") + r.text;
  return out;
}

const RateRule* rate_rule_for(const RateSpec& spec, const detail::StaticSite& site) noexcept {
  if (site.no_rate_limit) return nullptr;
  const RateRule *by_site = nullptr, *by_tag = nullptr, *every = nullptr;
  for (const RateRule& r : spec.rules) {  // later rules of the same key win
    switch (r.key) {
      case RateRule::Key::site:
        if (r.line == site.line && file_matches(site.file, r.file)) by_site = &r;
        break;
      case RateRule::Key::tag:
        if (r.tag == site.tag) by_tag = &r;
        break;
      case RateRule::Key::every:
        every = &r;
        break;
    }
  }
  const RateRule* rule = by_site != nullptr ? by_site : by_tag != nullptr ? by_tag : every;
  return rule != nullptr && rule->per_period != 0 ? rule : nullptr;
}

void apply_rate_limit_locked(detail::Site& site, const RateSpec& spec) {
  const RateRule* rule = rate_rule_for(spec, *site.info);
  if (rule == nullptr) {
    site.bucket.store(nullptr, std::memory_order_relaxed);  // calls log from now on
    return;
  }
  detail::RateBucket*& b = site_buckets()[&site];
  const bool fresh = b == nullptr;
  if (fresh) {
    b = new detail::RateBucket;
    b->site = &site;
  } else if (same_rule(*b, *rule) && site.bucket.load(std::memory_order_relaxed) == b) {
    return;  // unchanged: keeps its tokens
  }
  const std::int64_t now = sys::calls().rate_clock_ns();
  b->per_period.store(rule->per_period, std::memory_order_relaxed);
  b->period_ns.store(rule->period_ns, std::memory_order_relaxed);
  b->burst.store(static_cast<std::int64_t>(rule->per_period), std::memory_order_relaxed);
  b->refilled_ns.store(now, std::memory_order_relaxed);
  b->refill_at.store(0, std::memory_order_relaxed);
  b->tokens.store(static_cast<std::int64_t>(rule->per_period), std::memory_order_relaxed);
  if (fresh) {
    b->reported_ns = now;
    b->next_bucket = g_buckets.load(std::memory_order_relaxed);
    g_buckets.store(b, std::memory_order_release);  // pushes are serialised by the mutex
  }
  // Release: the fields above before the pointer (pairs with rate_admit's acquire).
  site.bucket.store(b, std::memory_order_release);
}

std::uint64_t rate_limited_total() noexcept {
  std::uint64_t total = 0;
  for (auto* b = g_buckets.load(std::memory_order_acquire); b != nullptr; b = b->next_bucket) {
    total += b->suppressed.load(std::memory_order_relaxed);
  }
  return total;
}

std::uint32_t report_rate_limited() noexcept {
  constexpr const char* kReport = detail::kRateLimitReport;
  std::uint32_t reports = 0;
  const std::int64_t now = sys::calls().rate_clock_ns();
  for (auto* b = g_buckets.load(std::memory_order_acquire); b != nullptr; b = b->next_bucket) {
    const std::uint64_t suppressed = b->suppressed.load(std::memory_order_relaxed);
    if (suppressed == b->reported) {
      b->reported_ns = now;  // nothing to say: the next report counts from here
      continue;
    }
    if (now - b->reported_ns < kReportEveryNs) continue;
    const detail::StaticSite& s = *b->site->info;
    detail::Site* report = detail::runtime_site(s.tag, s.level, s.file, s.line, s.function, kReport,
                                                /*no_rate_limit=*/true);
    if (report != nullptr && detail::level_enabled(*report, s.level)) {
      const std::uint64_t bits =
          detail::site_bits(*report, detail::TypeList<std::uint64_t, std::string_view, double>{});
      if (bits != 0) {
        const std::string site = std::string(base_name(s.file)) + ":" + std::to_string(s.line);
        const double seconds = static_cast<double>(now - b->reported_ns) / 1e9;
        detail::write_record(detail::now_ticks(), bits, kReport, std::index_sequence<0, 1, 2>{},
                             suppressed - b->reported, std::string_view(site), seconds);
        ++reports;
      }
    }
    b->reported = suppressed;
    b->reported_ns = now;
  }
  return reports;
}

}  // namespace core

namespace detail {

bool refill_and_take(RateBucket& b, std::uint64_t now_ticks) noexcept {
  const std::int64_t now = sys::calls().rate_clock_ns();
  const std::uint64_t n = b.per_period.load(std::memory_order_relaxed);
  const std::uint64_t period = b.period_ns.load(std::memory_order_relaxed);
  const std::int64_t burst = b.burst.load(std::memory_order_relaxed);
  if (n != 0 && period != 0) {
    // Until the next token is due (at least a millisecond), suppressed calls only count.
    // With a test's clock, every one comes here: its clock alone decides.
    if (sys::real_rate_clock()) {
      const std::int64_t wait_ns =
          std::max<std::int64_t>(kMinRefillNs, static_cast<std::int64_t>(period / n));
      const auto wait_ticks = static_cast<std::uint64_t>(static_cast<u128>(wait_ns) *
                                                         ring::ticks_per_second() / 1'000'000'000);
      b.refill_at.store(now_ticks + wait_ticks, std::memory_order_relaxed);
    }
    std::int64_t last = b.refilled_ns.load(std::memory_order_relaxed);
    if (now > last) {
      const auto add = static_cast<std::uint64_t>(
          static_cast<u128>(static_cast<std::uint64_t>(now - last)) * n / period);
      if (add > 0) {
        // Move the refill time by exactly what the added tokens took (the fraction of the
        // next token stays), or to now when the bucket fills up anyway.
        const std::int64_t next =
            add >= static_cast<std::uint64_t>(burst)
                ? now
                : last + static_cast<std::int64_t>(static_cast<u128>(add) * period / n);
        // One thread adds the tokens of each stretch of time: the one whose CAS moves it.
        if (b.refilled_ns.compare_exchange_strong(last, next, std::memory_order_relaxed)) {
          std::int64_t tokens = b.tokens.load(std::memory_order_relaxed);
          std::int64_t want = 0;
          do {
            want = std::min<std::int64_t>(
                burst, std::max<std::int64_t>(tokens, 0) +
                           static_cast<std::int64_t>(std::min<std::uint64_t>(add, 1ull << 62)));
          } while (!b.tokens.compare_exchange_weak(tokens, want, std::memory_order_relaxed));
        }
      }
    }
  }
  if (b.tokens.load(std::memory_order_relaxed) > 0 &&
      b.tokens.fetch_sub(1, std::memory_order_relaxed) > 0) {
    return true;
  }
  b.suppressed.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace detail
}  // namespace blackbox
