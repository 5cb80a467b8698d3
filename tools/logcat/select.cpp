#include "select.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
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
  return !f.trace_id || (r.has_trace && r.trace_id == *f.trace_id);
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

std::optional<std::int64_t> parse_time(const std::string& text, std::int64_t now) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])) &&
      std::string_view("smhd").find(text.back()) != std::string_view::npos &&
      text.find_first_not_of("0123456789") == text.size() - 1 && text.size() < 12) {
    const std::int64_t n = std::stoll(text.substr(0, text.size() - 1));
    const std::int64_t unit = text.back() == 's'   ? 1
                              : text.back() == 'm' ? 60
                              : text.back() == 'h' ? 3600
                                                   : 86400;
    return now - n * unit * 1'000'000'000;
  }
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) rest = strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  std::int64_t fraction_ns = 0;
  if (*rest == '.') {
    std::int64_t scale = 100'000'000;
    for (++rest; std::isdigit(static_cast<unsigned char>(*rest)); ++rest, scale /= 10) {
      fraction_ns += (*rest - '0') * scale;
    }
  }
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
