#include "select.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

namespace logcat {

bool Filterspecs::parse(const std::string& spec) {
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 2 != spec.size()) return false;
  // Letters as Android's logcat has them (V verbose = our trace, S silent); T is trace too.
  static constexpr std::string_view kLetters = "VDIWEFST";
  static constexpr Level kLevels[] = {Level::trace, Level::debug, Level::info, Level::warn,
                                      Level::error, Level::fatal, Level::off,  Level::trace};
  const std::size_t at = kLetters.find(spec[colon + 1]);
  if (at == std::string_view::npos) return false;
  const std::string tag = spec.substr(0, colon);
  if (tag == "*") {
    any = kLevels[at];
  } else {
    tags[tag] = kLevels[at];
  }
  return true;
}

bool Filterspecs::pass(std::string_view tag, Level level) const {
  const auto it = tags.find(tag);
  if (it != tags.end()) return level >= it->second && it->second != Level::off;
  if (any) return level >= *any && *any != Level::off;
  return true;
}

bool Selection::pass_read_filter(const Record& r) const {
  const blackbox::ReadFilter& f = read;
  if (r.level < f.min_level || (f.site && !f.site(r.tag, r.level))) return false;
  if (r.time_ns < f.since_ns || r.time_ns >= f.until_ns) return false;
  if (!f.tids.empty() && std::find(f.tids.begin(), f.tids.end(), r.tid) == f.tids.end()) {
    return false;
  }
  if (f.pid && r.pid != *f.pid) return false;
  if (f.process_start_ns && r.process_start_ns != *f.process_start_ns) return false;
  return !f.trace_id || (r.has_trace && r.trace_id == *f.trace_id);
}

bool Selection::pass_process(std::int32_t pid, std::optional<std::int64_t> start,
                             std::string_view app) const {
  const blackbox::ReadFilter& f = read;
  if (f.pid && pid != *f.pid) return false;
  if (f.process_start_ns && start && *start != *f.process_start_ns) return false;
  return f.apps.empty() || std::find(f.apps.begin(), f.apps.end(), app) != f.apps.end();
}

bool Selection::pass_decoded(const Record& r) const {
  for (const auto& wanted : fields) {
    const auto it = std::find_if(r.fields.begin(), r.fields.end(),
                                 [&](const blackbox::Field& f) { return f.name == wanted.first; });
    if (it == r.fields.end() || plain_value(it->value) != wanted.second) return false;
  }
  return regex == nullptr || re2::RE2::PartialMatch(r.message, *regex);
}

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1'000'000'000ll + ts.tv_nsec;
}

namespace {

// A time span as systemd.time(7) writes it: numbers with units, optionally separated by
// spaces ("90s", "1h 30min", "2 days", "1.5h"). Nanoseconds, or nullopt. Units: us usec,
// ms msec, s sec second(s), m min minute(s), h hr hour(s), d day(s), w week(s), M month(s)
// (30.44 days), y year(s) (365.25 days).
std::optional<std::int64_t> parse_span(std::string_view text) {
  struct Unit {
    std::string_view name;
    double ns;
  };
  static constexpr Unit kUnits[] = {
      {"usec", 1e3},      {"us", 1e3},         {"msec", 1e6},       {"ms", 1e6},
      {"seconds", 1e9},   {"second", 1e9},     {"sec", 1e9},        {"s", 1e9},
      {"minutes", 6e10},  {"minute", 6e10},    {"min", 6e10},       {"m", 6e10},
      {"hours", 3.6e12},  {"hour", 3.6e12},    {"hr", 3.6e12},      {"h", 3.6e12},
      {"days", 8.64e13},  {"day", 8.64e13},    {"d", 8.64e13},      {"weeks", 6.048e14},
      {"week", 6.048e14}, {"w", 6.048e14},     {"months", 2.63e15}, {"month", 2.63e15},
      {"M", 2.63e15},     {"years", 3.156e16}, {"year", 3.156e16},  {"y", 3.156e16}};
  double total = 0;
  bool any = false;
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < text.size() && text[i] == ' ') ++i;
  };
  skip_spaces();
  while (i < text.size()) {
    const std::size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == start || i - start > 12) return std::nullopt;
    const double n = std::strtod(std::string(text.substr(start, i - start)).c_str(), nullptr);
    skip_spaces();
    const std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    const Unit* found = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit) found = &u;
    }
    if (found == nullptr) return std::nullopt;
    total += n * found->ns;
    any = true;
    skip_spaces();
  }
  if (!any || total > 9e18) return std::nullopt;
  return static_cast<std::int64_t>(total);
}

// Local midnight `days` days from today's.
std::int64_t local_midnight(std::int64_t now, int days) {
  const auto seconds = static_cast<std::time_t>(now / 1'000'000'000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mday += days;
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(mktime(&tm)) * 1'000'000'000;
}

// ".123" after the seconds: nanoseconds; `rest` moves past it.
std::int64_t parse_fraction(const char*& rest) {
  std::int64_t fraction_ns = 0;
  if (*rest == '.') {
    std::int64_t scale = 100'000'000;
    for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest, scale /= 10) {
      fraction_ns += (*rest - '0') * scale;
    }
  }
  return fraction_ns;
}

}  // namespace

std::optional<Level> parse_level_or_letter(const std::string& text) {
  if (text.size() == 1) {
    switch (std::toupper(static_cast<unsigned char>(text[0]))) {
      case 'V':
      case 'T':
        return Level::trace;
      case 'D':
        return Level::debug;
      case 'I':
        return Level::info;
      case 'W':
        return Level::warn;
      case 'E':
        return Level::error;
      case 'F':
        return Level::fatal;
      default:
        return std::nullopt;
    }
  }
  return blackbox::parse_level(text);
}

std::optional<std::int64_t> parse_time(const std::string& text, std::int64_t now) {
  // journalctl's words and @UNIX seconds.
  if (text == "now") return now;
  if (text == "today") return local_midnight(now, 0);
  if (text == "yesterday") return local_midnight(now, -1);
  if (text == "tomorrow") return local_midnight(now, 1);
  if (text.size() > 1 && text[0] == '@') {
    const char* rest = text.c_str() + 1;
    char* end = nullptr;
    const long long seconds = std::strtoll(rest, &end, 10);
    if (end == rest || !std::isdigit(static_cast<unsigned char>(*rest))) return std::nullopt;
    rest = end;
    const std::int64_t fraction_ns = parse_fraction(rest);
    if (*rest != '\0' || seconds > 9'000'000'000) return std::nullopt;
    return static_cast<std::int64_t>(seconds) * 1'000'000'000 + fraction_ns;
  }
  // Relative: "-1h", "+30min", "5 min ago", and logcat's own bare age ("90s", "10m").
  const std::string_view view(text);
  if (!view.empty() && (view[0] == '-' || view[0] == '+')) {
    const auto span = parse_span(view.substr(1));
    if (!span) return std::nullopt;
    return view[0] == '-' ? now - *span : now + *span;
  }
  if (view.size() > 4 && view.substr(view.size() - 4) == " ago") {
    const auto span = parse_span(view.substr(0, view.size() - 4));
    if (!span) return std::nullopt;
    return now - *span;
  }
  if (!view.empty() && std::isdigit(static_cast<unsigned char>(view[0]))) {
    if (const auto span = parse_span(view)) return now - *span;
  }
  // Absolute: ISO 8601 with 'T' or a space, a date alone (midnight), a time alone (today).
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) rest = strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (rest == nullptr) {
    tm = {};
    rest = strptime(text.c_str(), "%Y-%m-%d %H:%M", &tm);
    if (rest != nullptr && *rest != '\0') rest = nullptr;
  }
  if (rest == nullptr) {
    tm = {};
    rest = strptime(text.c_str(), "%Y-%m-%d", &tm);
    if (rest != nullptr && *rest != '\0') rest = nullptr;
  }
  if (rest == nullptr) {
    // "13:05" or "13:05:30[.fraction]": today.
    std::tm day{};
    const auto seconds = static_cast<std::time_t>(now / 1'000'000'000);
    localtime_r(&seconds, &day);
    tm = {};
    rest = strptime(text.c_str(), "%H:%M:%S", &tm);
    if (rest == nullptr) {
      rest = strptime(text.c_str(), "%H:%M", &tm);
      if (rest != nullptr && *rest != '\0') rest = nullptr;
    }
    if (rest == nullptr) return std::nullopt;
    tm.tm_year = day.tm_year;
    tm.tm_mon = day.tm_mon;
    tm.tm_mday = day.tm_mday;
  }
  const std::int64_t fraction_ns = parse_fraction(rest);
  const bool utc = *rest == 'Z';
  if (utc) ++rest;
  if (*rest != '\0') return std::nullopt;
  tm.tm_isdst = -1;
  const std::time_t seconds = utc ? timegm(&tm) : mktime(&tm);
  if (seconds < 0 || seconds > 9'000'000'000) return std::nullopt;  // ns must fit in 64 bits
  return static_cast<std::int64_t>(seconds) * 1'000'000'000 + fraction_ns;
}

namespace {

// Lowercase or uppercase hex digits into bytes; false if any is not a hex digit.
bool parse_hex(const std::string& hex, std::uint8_t* out) {
  for (std::size_t i = 0; i < hex.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(hex[i])));
    unsigned v;
    if (c >= '0' && c <= '9') {
      v = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = static_cast<unsigned>(c - 'a' + 10);
    } else {
      return false;
    }
    out[i / 2] = static_cast<std::uint8_t>(out[i / 2] << 4 | v);
  }
  return true;
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> parse_trace(const std::string& hex) {
  std::array<std::uint8_t, 16> id{};
  if (hex.size() != 32 || !parse_hex(hex, id.data())) return std::nullopt;
  return id;
}

std::optional<std::uint64_t> parse_span(const std::string& hex) {
  std::array<std::uint8_t, 8> id{};
  if (hex.size() != 16 || !parse_hex(hex, id.data())) return std::nullopt;
  std::uint64_t v = 0;
  for (const std::uint8_t b : id) v = v << 8 | b;
  return v;
}

}  // namespace logcat
