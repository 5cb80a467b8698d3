// Application metrics as read back: what `logcat metrics` shows, read from a ring file (live,
// or after the process died) or from an archive's snapshots. The update side (Counter, Gauge,
// Histogram, TextMetric) is blackbox/metrics.hpp; the storage is docs/format.md, "Metrics
// region".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/log_histogram.hpp"

namespace blackbox {

enum class MetricKind : std::uint8_t { counter = 1, gauge = 2, histogram = 3, text = 4 };

// What a histogram's (or a gauge's) integers count. Prometheus exposition turns nanoseconds
// into seconds (its base unit) and names them `_seconds`.
enum class MetricUnit : std::uint8_t { none = 0, nanoseconds = 1, bytes = 2 };

[[nodiscard]] std::string_view metric_kind_name(MetricKind kind) noexcept;  // "counter", ...
[[nodiscard]] std::string_view metric_unit_name(MetricUnit unit) noexcept;  // "", "ns", "bytes"

// How a metric is named in the Prometheus exposition (logcat metrics -o prometheus, --serve).
// The family: the name with every byte outside [a-zA-Z0-9_:] as '_' (and '_' before a
// leading digit), then `_seconds` (nanoseconds) or `_bytes` unless it ends so, `_info` for a
// text metric; a counter's family is that plus `_total`. `series`: every sample name the
// family writes (a histogram's `_bucket`, `_sum`, `_count`, and its family name). Two
// metrics whose series meet would make the exposition invalid: the library refuses the
// second at declaration, and the exposition skips it.
struct PrometheusNames {
  std::string family;
  std::vector<std::string> series;
};
[[nodiscard]] PrometheusNames prometheus_names(std::string_view name, MetricKind kind,
                                               MetricUnit unit);
// A tag key as a label name, by the same mapping; "" for a key Prometheus reserves (a
// leading "__", e.g. "__name__").
[[nodiscard]] std::string prometheus_label(std::string_view key);
// Whether `s` is valid UTF-8 (what a label value must be).
[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;

struct MetricTag {
  std::string key;
  std::string value;
  bool operator==(const MetricTag&) const = default;
};

// One metric: its identity (name and tags, tags sorted by key) and its value, summed over
// the threads that updated it.
struct MetricValue {
  std::string name;  // hierarchical: "http.server.requests"
  std::vector<MetricTag> tags;
  MetricKind kind = MetricKind::counter;
  MetricUnit unit = MetricUnit::none;
  std::string help;
  std::uint64_t count = 0;  // counter: the total
  std::int64_t gauge = 0;   // gauge: the value
  std::string text;         // text metric: the value
  LogHistogram histogram;   // histogram: the bins (count and sum exact; min and max from bins)

  // "name{key=value,key=value}" (just the name without tags): how logcat names it.
  [[nodiscard]] std::string identity() const;
};

// Every metric of one process at one moment.
struct MetricsSnapshot {
  std::int64_t time_ns = 0;  // wall clock when read (or when the archive's snapshot was taken)
  std::vector<MetricValue> metrics;
  // Updates that could not be stored: of a metric the ring file had no room for (raise
  // Config::metric_cells), or made while there was no ring at all.
  std::uint64_t updates_lost = 0;
  // Declarations refused: a bad name or tag, or a name already declared as another kind.
  std::uint64_t declarations_refused = 0;
};

}  // namespace blackbox
