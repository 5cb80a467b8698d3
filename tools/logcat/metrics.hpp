// `logcat metrics`: the application metrics of processes (blackbox/metrics.hpp), read from
// their ring files: as text (histograms as bars with quantiles), JSON, or the Prometheus text
// exposition; and `--serve ADDRESS:PORT`, one /metrics endpoint for every live process of
// the host.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "blackbox/control.hpp"
#include "blackbox/metric_values.hpp"
#include "blackbox/reader.hpp"

namespace logcat {

struct MetricsArgs {
  int pid = 0;
  std::string app;
  std::vector<std::string> inputs;  // ring files or dumps (default: every live process)
  std::string output = "text";      // text, json, prometheus
  std::string serve;                // ADDRESS:PORT
  bool utc = false;
  // History from the archives' snapshots: the last DURATION ("1h"), in steps of --step;
  // `inputs` that are not paths name the metrics (a name, or a prefix of one).
  std::string since;
  std::string step;
};
int run_metrics(const MetricsArgs& args);

// One process's metrics.
struct ProcessMetrics {
  blackbox::RingInfo info;
  blackbox::MetricsSnapshot snapshot;
  std::optional<blackbox::Telemetry> telemetry;  // the logger's own (blackbox_* series)
};

// The Prometheus text exposition (format 0.0.4, as OpenMetrics names things): a family per
// metric name, samples labelled with the metric's tags and the process's app and pid.
// Counters are `<name>_total`; histograms are cumulative `le` buckets (one per log-linear
// bin that holds values, at the largest integer in it) plus `+Inf`, `_sum` and `_count`;
// nanoseconds become seconds (`_seconds`); text metrics are `<name>_info{value="..."} 1`.
[[nodiscard]] std::string prometheus_text(const std::vector<ProcessMetrics>& processes);

// A process's metrics as `logcat metrics` and the post-mortem show them.
[[nodiscard]] std::string metrics_text(const ProcessMetrics& p, bool utc);
[[nodiscard]] std::string metrics_json(const ProcessMetrics& p);

// What the post-mortem adds: "--- metrics when it died: ..." and a line per metric.
[[nodiscard]] std::string crash_metrics_text(const blackbox::MetricsSnapshot& s);

}  // namespace logcat
