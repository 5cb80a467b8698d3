// The metrics frame's payload. See metrics_frame.hpp and docs/format.md.
#include "format/metrics_frame.hpp"

#include "format/metrics_area.hpp"
#include "format/payload_io.hpp"

namespace blackbox::archive {
namespace {

constexpr std::uint32_t kFixedBytes = 32;  // fixed, reason, time, lost, refused

}  // namespace

void encode_metrics(const MetricsSnapshot& s, SnapshotReason reason, std::vector<std::byte>& out) {
  put(out, kFixedBytes);
  put(out, static_cast<std::uint32_t>(reason));
  put(out, s.time_ns);
  put(out, s.updates_lost);
  put(out, s.declarations_refused);
  put(out, static_cast<std::uint32_t>(s.metrics.size()));
  std::string tags, error;
  for (const MetricValue& m : s.metrics) {
    put(out, static_cast<std::uint8_t>(m.kind));
    put(out, static_cast<std::uint8_t>(m.unit));
    put_text(out, m.name, ring::kMetricNameMax);
    if (!ring::encode_metric_tags(m.tags, tags, error)) tags.clear();
    put_text(out, tags, ring::kMetricTagsMax);
    put_text(out, m.help, ring::kMetricTextBytes);
    switch (m.kind) {
      case MetricKind::counter:
        put(out, m.count);
        break;
      case MetricKind::gauge:
        put(out, m.gauge);
        break;
      case MetricKind::text:
        put_text(out, m.text, ring::kTextMetricBytes);
        break;
      case MetricKind::histogram:
        put(out, m.histogram.sum());
        put_bins(out, m.histogram);
        break;
    }
  }
}

bool decode_metrics(std::span<const std::byte> payload, MetricsSnapshot& out,
                    SnapshotReason& reason) {
  PayloadIn in{payload};
  std::uint32_t fixed = 0, why = 0, count = 0;
  if (!in.take(fixed) || fixed < kFixedBytes || !in.take(why) || !in.take(out.time_ns) ||
      !in.take(out.updates_lost) || !in.take(out.declarations_refused)) {
    return false;
  }
  if (why < 1 || why > 4) return false;
  reason = static_cast<SnapshotReason>(why);
  // Fields a later version appends to the fixed part are skipped.
  if (in.rest.size() < fixed - kFixedBytes) return false;
  in.rest = in.rest.subspan(fixed - kFixedBytes);
  // Each metric takes at least 11 bytes: a count beyond that is damage.
  if (!in.take(count) || count > in.rest.size() / 11) return false;
  out.metrics.clear();
  out.metrics.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    MetricValue m;
    std::uint8_t kind = 0, unit = 0;
    std::string tags;
    if (!in.take(kind) || !in.take(unit) || kind < 1 || kind > 4 || unit > 2 ||
        !in.take_text(m.name) || !in.take_text(tags) || !in.take_text(m.help)) {
      return false;
    }
    m.kind = static_cast<MetricKind>(kind);
    m.unit = static_cast<MetricUnit>(unit);
    m.tags = ring::decode_metric_tags(tags);
    bool ok = true;
    switch (m.kind) {
      case MetricKind::counter:
        ok = in.take(m.count);
        break;
      case MetricKind::gauge:
        ok = in.take(m.gauge);
        break;
      case MetricKind::text:
        ok = in.take_text(m.text);
        break;
      case MetricKind::histogram: {
        std::uint64_t sum = 0;
        ok = in.take(sum) && in.take_bins(m.histogram);
        m.histogram.set_sum_and_edges(sum);
        break;
      }
    }
    if (!ok) return false;
    out.metrics.push_back(std::move(m));
  }
  return true;
}

}  // namespace blackbox::archive
