// Prometheus names of metrics (blackbox/metric_values.hpp): one mapping for the library,
// which refuses a declaration whose series would meet another's, and for logcat's exposition.
#include <cstdint>
#include <string>
#include <string_view>

#include "blackbox/metric_values.hpp"

namespace blackbox {
namespace {

// [a-zA-Z_:][a-zA-Z0-9_:]*: anything else becomes '_'.
std::string prom_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == ':';
    out += ok ? c : '_';
  }
  if (!out.empty() && out[0] >= '0' && out[0] <= '9') out.insert(out.begin(), '_');
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

PrometheusNames prometheus_names(std::string_view name, MetricKind kind, MetricUnit unit) {
  std::string base = prom_name(name);
  if (base.empty()) base.push_back('_');
  if (unit == MetricUnit::nanoseconds && !ends_with(base, "_seconds")) base += "_seconds";
  if (unit == MetricUnit::bytes && !ends_with(base, "_bytes")) base += "_bytes";
  PrometheusNames out;
  switch (kind) {
    case MetricKind::counter:
      out.family = base + "_total";
      out.series = {out.family};
      break;
    case MetricKind::histogram:
      out.family = base;
      out.series = {base, base + "_bucket", base + "_sum", base + "_count"};
      break;
    case MetricKind::text:
      out.family = base + "_info";
      out.series = {out.family};
      break;
    case MetricKind::gauge:
    default:
      out.family = base;
      out.series = {base};
      break;
  }
  return out;
}

std::string prometheus_label(std::string_view key) {
  std::string label = prom_name(key);
  if (label.empty() || label.starts_with("__")) return "";
  return label;
}

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    // Overlong forms, surrogates and beyond U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace blackbox
