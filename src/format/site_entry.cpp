// Site definitions (ring_layout.hpp's SiteEntry, also carried in archives' sites frames)
// parsed into what a reader or the flusher needs, and message templates split at their
// placeholders (the grammar the compiler checks in detail/template_string.hpp). Nothing
// read is trusted: every length is checked against the bytes present.
#include "format/site_entry.hpp"

#include <cstring>

#include "format/ring_layout.hpp"

namespace blackbox::ring {
namespace {

using detail::ArgType;

// N for a spec "{:.Nf}" (N < 100), the usual form for measurements; otherwise -1.
std::int8_t fixed_precision(const std::string& spec) {
  const std::size_t n = spec.size();
  if (n < 6 || n > 7 || spec.compare(0, 3, "{:.") != 0 || spec.compare(n - 2, 2, "f}") != 0) {
    return -1;
  }
  int precision = 0;
  for (std::size_t i = 3; i < n - 2; ++i) {
    if (spec[i] < '0' || spec[i] > '9') return -1;
    precision = precision * 10 + (spec[i] - '0');
  }
  return static_cast<std::int8_t>(precision);
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '.'; }

}  // namespace

bool parse_template(const std::string& text, SiteInfo& out) {
  out.literals.assign(1, std::string());
  out.names.clear();
  out.specs.clear();
  out.plain.clear();
  out.fixed.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out.literals.back().push_back(c);
      ++i;
      continue;
    }
    if (c == '}') return false;
    if (c != '{') {
      out.literals.back().push_back(c);
      continue;
    }
    std::size_t j = i + 1;
    if (j < text.size() && is_name_start(text[j])) {
      while (j < text.size() && is_name_char(text[j])) ++j;
    }
    const std::string name = text.substr(i + 1, j - i - 1);
    if (j >= text.size()) return false;
    std::string spec = "{";
    if (text[j] == ':') {
      const std::size_t close = text.find('}', j);
      if (close == std::string::npos) return false;
      const std::string inner = text.substr(j, close - j);
      if (inner.find('{') != std::string::npos) return false;
      spec += inner;
      j = close;
    } else if (text[j] != '}') {
      return false;
    }
    spec += "}";
    out.plain.push_back(spec == "{}");
    out.fixed.push_back(fixed_precision(spec));
    out.names.push_back(name);
    out.specs.push_back(std::move(spec));
    out.literals.emplace_back();
    i = j;
  }
  return true;
}

bool parse_printf_format(const std::string& text, SiteInfo& out) {
  out.literals.assign(1, std::string());
  out.specs.clear();
  out.stars.clear();
  out.names.assign(out.types.size(), std::string());
  out.plain.clear();
  out.fixed.clear();
  auto is_int = [](ArgType t) {
    return t == ArgType::i8 || t == ArgType::i16 || t == ArgType::i32 || t == ArgType::i64 ||
           t == ArgType::u8 || t == ArgType::u16 || t == ArgType::u32 || t == ArgType::u64 ||
           t == ArgType::boolean || t == ArgType::character;
  };
  std::size_t arg = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.literals.back() += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '%') {
      out.literals.back() += '%';
      ++i;
      continue;
    }
    // %[flags][width|*][.precision|.*][length]conversion; the ' flag is dropped (the C
    // locale has no grouping), widths and precisions are bounded (a damaged file must not
    // make a reader pad a line to gigabytes).
    std::string spec = "%";
    std::size_t j = i + 1;
    std::uint8_t stars = 0;
    while (j < text.size() && std::string_view("-+ #0'").find(text[j]) != std::string_view::npos) {
      if (text[j] != '\'') spec += text[j];
      ++j;
    }
    for (int part = 0; part < 2; ++part) {
      if (part == 1) {
        if (j >= text.size() || text[j] != '.') break;
        spec += text[j++];
      }
      if (j < text.size() && text[j] == '*') {
        spec += text[j++];
        ++stars;
        continue;
      }
      const std::size_t digits = j;
      while (j < text.size() && text[j] >= '0' && text[j] <= '9') spec += text[j++];
      if (j - digits > 4) return false;  // 10,000 and more
    }
    static constexpr std::string_view kLengths[] = {"hh", "ll", "h", "l", "j", "z", "t", "q"};
    for (std::string_view length : kLengths) {
      if (text.compare(j, length.size(), length) == 0) {
        spec += length == "q" ? "ll" : length;
        j += length.size();
        break;
      }
    }
    if (j >= text.size()) return false;
    const char conversion = text[j];
    spec += conversion;
    for (std::uint8_t s = 0; s < stars; ++s, ++arg) {
      if (arg >= out.types.size() || out.types[arg] != ArgType::i32) return false;
    }
    if (arg >= out.types.size()) return false;
    const ArgType type = out.types[arg++];
    const bool fits =
        std::string_view("diuoxXc").find(conversion) != std::string_view::npos ? is_int(type)
        : conversion == 's' ? type == ArgType::string
        : conversion == 'p'
            ? type == ArgType::pointer
            : std::string_view("fFeEgGaA").find(conversion) != std::string_view::npos &&
                  (type == ArgType::f32 || type == ArgType::f64);
    if (!fits) return false;
    out.specs.push_back(std::move(spec));
    out.stars.push_back(stars);
    out.literals.emplace_back();
    i = j;
  }
  return arg == out.types.size();
}

std::size_t parse_site_entry(const std::byte* data, std::size_t available, SiteInfo& out,
                             std::string& error) {
  ring::SiteEntry e;
  if (available < sizeof e) {
    error = "site entry header runs past the site table";
    return 0;
  }
  std::memcpy(&e, data, sizeof e);
  const std::uint64_t need = std::uint64_t{sizeof e} + e.arg_count + e.tag_len + e.file_len +
                             e.function_len + e.template_len;
  if (e.size % 8 != 0 || e.size < need || e.size > available) {
    error = "site entry size " + std::to_string(e.size) + " is inconsistent";
    return 0;
  }
  if (e.level > static_cast<std::uint8_t>(Level::fatal)) {
    error = "site entry level " + std::to_string(e.level) + " is unknown";
    return 0;
  }
  const std::byte* p = data + sizeof e;
  out.types.resize(e.arg_count);
  for (std::uint32_t i = 0; i < e.arg_count; ++i) {
    const auto t = static_cast<std::uint8_t>(p[i]);
    if (t == 0 || t > detail::kMaxArgType) {
      error = "site entry argument type " + std::to_string(t) + " is unknown";
      return 0;
    }
    out.types[i] = static_cast<ArgType>(t);
  }
  p += e.arg_count;
  auto take = [&p](std::size_t n) {
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  };
  out.level = static_cast<Level>(e.level);
  out.line = e.line;
  out.tag = take(e.tag_len);
  out.file = take(e.file_len);
  out.function = take(e.function_len);
  out.message_template = take(e.template_len);
  out.printf_format = (e.flags & ring::kSiteFlagPrintf) != 0;
  if (out.printf_format) {
    out.template_ok = parse_printf_format(out.message_template, out);
  } else {
    out.stars.clear();
    out.template_ok =
        parse_template(out.message_template, out) && out.names.size() == out.types.size();
  }
  return e.size;
}

}  // namespace blackbox::ring
