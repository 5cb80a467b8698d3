// `logcat metrics` (metrics.hpp).
#include "metrics.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "blackbox/config.hpp"
#include "blackbox/text.hpp"
#include "control.hpp"
#include "json.hpp"
#include "render.hpp"
#include "select.hpp"
#include "spans.hpp"

namespace logcat {
namespace {

using blackbox::LogHistogram;
using blackbox::MetricKind;
using blackbox::MetricUnit;
using blackbox::MetricValue;

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string value_in(MetricUnit unit, std::uint64_t v) {
  switch (unit) {
    case MetricUnit::nanoseconds:
      return human_duration(v);
    case MetricUnit::bytes:
      return grouped(v) + " B";
    case MetricUnit::none:
      break;
  }
  return grouped(v);
}

std::string gauge_text(const MetricValue& m) {
  if (m.gauge < 0) return "-" + value_in(m.unit, static_cast<std::uint64_t>(-(m.gauge + 1)) + 1);
  return value_in(m.unit, static_cast<std::uint64_t>(m.gauge));
}

// The one-line value of a metric (a histogram's summary line without its bars).
std::string value_text(const MetricValue& m) {
  switch (m.kind) {
    case MetricKind::counter:
      return grouped(m.count);
    case MetricKind::gauge:
      return gauge_text(m);
    case MetricKind::text:
      return m.text;
    case MetricKind::histogram:
      return histogram_summary(m.histogram, [&](std::uint64_t v) { return value_in(m.unit, v); });
  }
  return {};
}

// --- Prometheus ---

// Escaped for the exposition: a backslash and a newline always, a double quote in a label
// value (between quotes) but not in help text.
std::string prom_escaped(std::string_view v, bool quoted) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quoted) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) { return fmt::format("{}", v); }

// A value of the metric's unit in the exposition's (seconds for nanoseconds).
std::string scaled(MetricUnit unit, double v) {
  return unit == MetricUnit::nanoseconds ? number(v / 1e9) : number(v);
}

// A sample's labels: the metric's tags (as prometheus_label maps their keys; ours, app and
// pid, le and value, win: a tag of that name becomes tag_NAME), the process's app and pid,
// and `extra`. "" if they cannot be valid (a reserved or repeated label, a value that is not
// UTF-8): only a file the library did not write can hold such a metric.
std::string labels(const MetricValue& m, const blackbox::RingInfo& info,
                   const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  std::string out = "{";
  std::vector<std::string> seen;
  bool ok = true;
  auto add = [&](const std::string& key, std::string_view value) {
    if (key.empty() || std::find(seen.begin(), seen.end(), key) != seen.end() ||
        !blackbox::valid_utf8(value)) {
      ok = false;
      return;
    }
    seen.push_back(key);
    if (out.size() > 1) out += ',';
    out += key;
    out += "=\"";
    // Control characters escaped too (\x1b): the exposition may be read on a terminal.
    out += prom_escaped(blackbox::text::printable(value), true);
    out += '"';
  };
  for (const auto& t : m.tags) {
    std::string key = blackbox::prometheus_label(t.key);
    if (key == "app" || key == "pid" || key == "le" || key == "value") key = "tag_" + key;
    add(key, t.value);
  }
  add("app", info.app);
  add("pid", std::to_string(info.pid));
  for (const auto& [k, v] : extra) add(k, v);
  out += '}';
  return ok ? out : std::string();
}

struct Family {
  std::string type;
  std::string help;
  std::string samples;
};

// The exposition being built: families by name, and what keeps it valid whatever the
// inputs hold. Each series name belongs to one family; each sample (family and labels)
// is written once; a metric that would break either rule is skipped, said in a comment.
// A file the library wrote never has one (it refuses such declarations), but one bad or
// forged ring file must not make a whole host's exposition unparseable.
struct Exposition {
  std::map<std::string, Family> families;
  std::map<std::string, std::string> family_of_series;
  std::set<std::string> samples_seen;
  std::string skipped;

  // The family for `names` of `type`, or null (the metric is skipped) if its series meet
  // another family's or the family is of another type.
  Family* family(const blackbox::PrometheusNames& names, const std::string& type,
                 const std::string& help, std::string_view what) {
    for (const std::string& series : names.series) {
      if (auto it = family_of_series.find(series);
          it != family_of_series.end() && it->second != names.family) {
        skip(what, fmt::format("its series {} is family {}'s", series, it->second));
        return nullptr;
      }
    }
    Family& f = families[names.family];
    if (f.type.empty()) {
      f.type = type;
      f.help = blackbox::valid_utf8(help) ? blackbox::text::printable(help) : "(not UTF-8)";
      for (const std::string& series : names.series) family_of_series[series] = names.family;
    } else if (f.type != type) {
      skip(what, fmt::format("family {} is a {}", names.family, f.type));
      return nullptr;
    }
    return &f;
  }
  // Whether the sample (series and labels) is new; a repeat is skipped.
  bool first(const std::string& family, const std::string& labels, std::string_view what) {
    if (labels.empty()) {
      skip(what, "its labels are not valid (a reserved or repeated label, or not UTF-8)");
      return false;
    }
    if (!samples_seen.insert(family + labels).second) {
      skip(what, fmt::format("{}{} is there already", family, labels));
      return false;
    }
    return true;
  }
  void skip(std::string_view what, const std::string& why) {
    std::string line = fmt::format("# blackbox: skipped {}: {}", what, why);
    std::replace(line.begin(), line.end(), '\n', ' ');
    skipped += blackbox::text::printable(line) + "\n";
  }
};

void add_metric(const MetricValue& m, const blackbox::RingInfo& info, Exposition& e) {
  const blackbox::PrometheusNames names = blackbox::prometheus_names(m.name, m.kind, m.unit);
  const std::string what = fmt::format("metric {} of pid {}", m.name, info.pid);
  const std::string type = m.kind == MetricKind::counter     ? "counter"
                           : m.kind == MetricKind::histogram ? "histogram"
                                                             : "gauge";
  const std::string help =
      m.help.empty() ? fmt::format("blackbox {} {}", blackbox::metric_kind_name(m.kind), m.name)
                     : m.help;
  Family* f = e.family(names, type, help, what);
  if (f == nullptr) return;
  const std::string& name = names.family;
  const std::string identity =
      labels(m, info,
             m.kind == MetricKind::text
                 ? std::vector<std::pair<std::string, std::string>>{{"value", m.text}}
                 : std::vector<std::pair<std::string, std::string>>{});
  if (!e.first(name, identity, what)) return;
  std::string& out = f->samples;
  switch (m.kind) {
    case MetricKind::counter:
      out += fmt::format("{}{} {}\n", name, identity, m.count);
      break;
    case MetricKind::gauge:
      out += fmt::format("{}{} {}\n", name, identity,
                         m.unit == MetricUnit::nanoseconds
                             ? scaled(m.unit, static_cast<double>(m.gauge))
                             : std::to_string(m.gauge));
      break;
    case MetricKind::text:
      out += fmt::format("{}{} 1\n", name, identity);
      break;
    case MetricKind::histogram: {
      const LogHistogram& h = m.histogram;
      std::uint64_t cumulative = 0;
      for (std::uint32_t b = 0; b < blackbox::log_bins::kCount; ++b) {
        if (h.bin(b) == 0) continue;
        cumulative += h.bin(b);
        // The bin holds the integers [lower, upper): all are <= upper - 1.
        const double le = blackbox::log_bins::upper(b) - 1;
        out += fmt::format("{}_bucket{} {}\n", name, labels(m, info, {{"le", scaled(m.unit, le)}}),
                           cumulative);
      }
      out += fmt::format("{}_bucket{} {}\n", name, labels(m, info, {{"le", "+Inf"}}), h.count());
      out += fmt::format("{}_sum{} {}\n", name, identity,
                         scaled(m.unit, static_cast<double>(h.sum())));
      out += fmt::format("{}_count{} {}\n", name, identity, h.count());
      break;
    }
  }
}

// The logger's own telemetry as blackbox_* series, as exporters of logging systems give
// theirs: every process has them, with or without application metrics.
void add_telemetry(const ProcessMetrics& p, Exposition& e) {
  if (!p.telemetry) return;
  const blackbox::Telemetry& t = *p.telemetry;
  const blackbox::RingInfo& info = p.info;
  auto sample = [&](const char* family, const char* type, const char* help,
                    std::vector<std::pair<std::string, std::string>> extra, std::string value) {
    blackbox::PrometheusNames names{family, {family}};
    const std::string what = fmt::format("{} of pid {}", family, info.pid);
    Family* f = e.family(names, type, help, what);
    if (f == nullptr) return;
    MetricValue none;
    const std::string l = labels(none, info, extra);
    if (!e.first(family, l, what)) return;
    f->samples += fmt::format("{}{} {}\n", family, l, value);
  };
  static constexpr const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "fatal"};
  for (std::size_t i = 0; i < t.per_level.size(); ++i) {
    sample("blackbox_records_read_total", "counter",
           "Records the logger's flusher read from the rings, by level", {{"level", kLevels[i]}},
           std::to_string(t.per_level[i].records));
  }
  std::uint64_t logged = 0;
  for (const auto& th : t.threads) logged += th.logged;
  sample("blackbox_records_logged_total", "counter", "Records logged into the rings", {},
         std::to_string(logged));
  const std::pair<const char*, std::uint64_t> causes[] = {
      {"overwritten", t.lost_overwritten},  {"no_slot", t.lost_no_slot},
      {"disk_error", t.lost_disk_error},    {"site_table_full", t.lost_site_table_full},
      {"after_exit", t.lost_after_exit},    {"corrupt", t.lost_corrupt},
      {"rate_limited", t.lost_rate_limited}};
  for (const auto& [cause, n] : causes) {
    sample("blackbox_records_lost_total", "counter", "Records lost, by cause", {{"cause", cause}},
           std::to_string(n));
  }
  sample("blackbox_records_archived_total", "counter", "Records written to the archive", {},
         std::to_string(t.records_archived));
  sample("blackbox_archive_bytes_total", "counter",
         "Bytes written to the archive (compressed, with framing)", {},
         std::to_string(t.archive_bytes_written));
  sample("blackbox_ring_fill_ratio", "gauge",
         "The fullest ring's share not yet read by the flusher (1: it laps)", {},
         number(p.info.max_fill));
  sample("blackbox_archive_breaker_open", "gauge",
         "1 while archive writes fail and the circuit breaker is open", {},
         t.breaker_open ? "1" : "0");
  sample("blackbox_archive_breaker_trips_total", "counter", "Times the archive's breaker opened",
         {}, std::to_string(t.breaker_trips));
  sample("blackbox_control_requests_total", "counter", "Control requests from outside applied", {},
         std::to_string(t.control_applied));
}

// --- Sources ---

std::optional<ProcessMetrics> read_process(const std::string& path, std::string& error) {
  auto reader = blackbox::RingReader::open(path, &error);
  if (reader == nullptr) return std::nullopt;
  ProcessMetrics p;
  p.info = reader->info();
  p.telemetry = reader->telemetry();
  std::string why;
  auto m = reader->metrics(&why);
  if (!m) {
    error = why.empty() ? fmt::format("{}: written before metrics (ring format version {})", path,
                                      p.info.format_version)
                        : fmt::format("{}: {}", path, why);
    return std::nullopt;
  }
  p.snapshot = std::move(*m);
  return p;
}

bool live(const blackbox::RingInfo& info) {
  return info.state == blackbox::RingState::live && info.process_alive;
}

// The processes asked for: the inputs, or -p / --app among the host's live processes, or
// every live process of the host. `errors`: one line per file that could not be read.
std::vector<ProcessMetrics> gather(const MetricsArgs& a, std::vector<std::string>& errors) {
  std::vector<ProcessMetrics> out;
  const bool explicit_files = !a.inputs.empty();
  const std::vector<std::string> paths = explicit_files ? a.inputs : ring_files_on_host();
  for (const std::string& path : paths) {
    if (!explicit_files && a.pid != 0 &&
        std::filesystem::path(path).filename().string().find(fmt::format(".{}.bbr", a.pid)) ==
            std::string::npos) {
      continue;
    }
    std::string error;
    auto p = read_process(path, error);
    if (!p) {
      if (explicit_files || a.pid != 0) errors.push_back(error);
      continue;
    }
    if (a.pid != 0 && p->info.pid != a.pid) continue;
    if (!a.app.empty() && p->info.app != a.app) continue;
    if (!explicit_files && !live(p->info)) continue;
    out.push_back(std::move(*p));
  }
  return out;
}

volatile sig_atomic_t g_stop = 0;
httplib::Server* g_server = nullptr;

int serve(const MetricsArgs& a) {
  const std::size_t colon = a.serve.rfind(':');
  int port = 0;
  if (colon == std::string::npos || std::sscanf(a.serve.c_str() + colon + 1, "%d", &port) != 1 ||
      port < 0 || port > 65535) {
    std::fprintf(stderr, "logcat: --serve wants ADDRESS:PORT, e.g. 127.0.0.1:9464 (see --help)\n");
    return 2;
  }
  std::string host = a.serve.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  httplib::Server server;
  server.Get("/metrics", [&a](const httplib::Request&, httplib::Response& res) {
    std::vector<std::string> errors;
    MetricsArgs live_only = a;
    live_only.inputs.clear();
    const auto processes = gather(live_only, errors);
    res.set_content(prometheus_text(processes), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        "blackbox: the metrics of every live blackbox process of this host are at /metrics\n",
        "text/plain; charset=utf-8");
  });
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    std::fprintf(stderr, "logcat: cannot listen on %s: %s\n", a.serve.c_str(),
                 std::strerror(errno));
    return 1;
  }
  // The port on stdout (a test or a script that asked for port 0 learns which it got).
  std::printf("serving http://%s:%d/metrics\n", host.c_str(), bound);
  std::fflush(stdout);
  g_server = &server;
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // The listener runs on this thread; a watcher stops it on a signal (stop() is not
  // async-signal-safe, so it is not called from the handler).
  std::thread watcher([&server] {
    while (g_stop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server.stop();
  });
  const bool ok = server.listen_after_bind();
  g_stop = 1;
  watcher.join();
  return ok ? 0 : 1;
}

// --- History (--since) ---

// One app's metric over time: per step, what its runs added (counters, histograms) or left
// (gauges, text).
struct Series {
  std::string app;
  MetricValue first;  // identity, kind, unit
  struct Row {
    std::uint64_t added = 0;  // counter
    LogHistogram histogram;   // histogram: the values recorded in the step
    // Gauges: each run's last value in the step, and whether the run ended in it.
    struct Last {
      std::int64_t value = 0, time_ns = 0;
      bool ended = false;
    };
    std::map<std::pair<std::int32_t, std::int64_t>, Last> gauges;
    std::string text;
  };
  std::map<std::int64_t, Row> rows;  // by step start (ns)
};

bool matches(const MetricValue& m, const std::vector<std::string>& names) {
  if (names.empty()) return true;
  for (const std::string& n : names) {
    if (m.name.rfind(n, 0) == 0 || m.identity() == n) return true;
  }
  return false;
}

// What `later` added to `earlier` (a histogram's bins and sum; earlier may be empty: the
// run's start).
LogHistogram histogram_delta(const LogHistogram& later, const LogHistogram* earlier) {
  LogHistogram out;
  for (std::uint32_t b = 0; b < blackbox::log_bins::kCount; ++b) {
    const std::uint64_t before = earlier != nullptr ? earlier->bin(b) : 0;
    const std::uint64_t n = later.bin(b);
    out.set_bin(b, n >= before ? n - before : n);  // fewer: a reset, count all
  }
  const std::uint64_t before_sum = earlier != nullptr ? earlier->sum() : 0;
  out.set_sum_and_edges(later.sum() >= before_sum ? later.sum() - before_sum : later.sum());
  return out;
}

// A gauge's value for a step: the sum over the runs still running at its end (replicas add
// up), or, if every run in it ended, the value of the one that ended last. Also how many.
std::pair<std::int64_t, std::size_t> gauge_in_step(const Series::Row& row) {
  std::int64_t sum = 0;
  std::size_t running = 0;
  const Series::Row::Last* latest = nullptr;
  for (const auto& [run, last] : row.gauges) {
    if (!last.ended) {
      sum += last.value;
      ++running;
    }
    if (latest == nullptr || last.time_ns > latest->time_ns) latest = &last;
  }
  if (running == 0 && latest != nullptr) return {latest->value, 1};
  return {sum, running};
}

// A step of a series as `-o json` gives it: a line.
std::string history_json_row(const Series& s, std::int64_t t, const Series::Row& row,
                             double step_s) {
  const MetricValue& m = s.first;
  std::string out =
      fmt::format("{{\"time_unix_nano\":{},\"step_s\":{},\"app\":{},\"name\":{},\"kind\":\"{}\"", t,
                  number(step_s), json_string(s.app), json_string(m.identity()),
                  blackbox::metric_kind_name(m.kind));
  switch (m.kind) {
    case MetricKind::counter:
      out += fmt::format(",\"added\":{},\"rate\":{}", row.added,
                         number(static_cast<double>(row.added) / step_s));
      break;
    case MetricKind::histogram: {
      const LogHistogram& h = row.histogram;
      out += fmt::format(",\"count\":{},\"sum\":{},\"p50\":{},\"p90\":{},\"p99\":{}", h.count(),
                         h.sum(), number(h.quantile(0.5)), number(h.quantile(0.9)),
                         number(h.quantile(0.99)));
      break;
    }
    case MetricKind::gauge: {
      const auto [value, processes] = gauge_in_step(row);
      out += fmt::format(",\"value\":{},\"processes\":{}", value, processes);
      break;
    }
    case MetricKind::text:
      out += fmt::format(",\"value\":{}", json_string(row.text));
      break;
  }
  return out + "}\n";
}

// A step of a series as text: its value.
std::string history_text_value(const Series& s, const Series::Row& row, double step_s) {
  const MetricValue& m = s.first;
  switch (m.kind) {
    case MetricKind::counter:
      return fmt::format("{:>12}/s  (+{})",
                         fmt::format("{:.1f}", static_cast<double>(row.added) / step_s),
                         grouped(row.added));
    case MetricKind::histogram: {
      const LogHistogram& h = row.histogram;
      auto v = [&](double x) { return value_in(m.unit, static_cast<std::uint64_t>(x)); };
      return h.count() == 0
                 ? "none"
                 : fmt::format("{} measured, p50 {}, p90 {}, p99 {}", grouped(h.count()),
                               v(h.quantile(0.5)), v(h.quantile(0.9)), v(h.quantile(0.99)));
    }
    case MetricKind::gauge: {
      const auto [sum, processes] = gauge_in_step(row);
      MetricValue shown = m;
      shown.gauge = sum;
      return gauge_text(shown) + (processes > 1 ? fmt::format("  ({} processes)", processes) : "");
    }
    case MetricKind::text:
      return row.text;
  }
  return {};
}

// The snapshots --since reads: every metrics frame of the archives at `paths`, then each live
// process's values now. False (said on stderr) if an archive cannot be opened.
bool history_snapshots(const MetricsArgs& a, const std::vector<std::string>& paths,
                       std::vector<blackbox::ArchivedMetrics>& all) {
  for (const std::string& path : paths) {
    std::string error;
    auto reader = blackbox::ArchiveReader::open(path, &error);
    if (reader == nullptr) {
      std::fprintf(stderr, "logcat: %s\n", error.c_str());
      return false;
    }
    reader->keep_metrics(true);
    while (reader->scan() != 0) {
    }
    for (auto& m : reader->take_metrics()) all.push_back(std::move(m));
  }
  std::vector<std::string> errors;
  MetricsArgs live = a;
  live.inputs.clear();
  for (ProcessMetrics& p : gather(live, errors)) {
    blackbox::ArchivedMetrics m;
    m.app = p.info.app;
    m.pid = p.info.pid;
    m.process_start_ns = p.info.start_time_ns;
    m.snapshot = std::move(p.snapshot);
    all.push_back(std::move(m));
  }
  return true;
}

int run_history(const MetricsArgs& a) {
  const auto since = parse_duration(a.since);
  if (!since || *since <= 0) {
    std::fprintf(stderr, "logcat: --since wants a duration such as 1h, 30m, 90s (see --help)\n");
    return 2;
  }
  std::int64_t step = *since > 30 * 60 * 1'000'000'000ll ? 60'000'000'000ll : 10'000'000'000ll;
  if (!a.step.empty()) {
    const auto s = parse_duration(a.step);
    if (!s || *s <= 0) {
      std::fprintf(stderr, "logcat: --step wants a duration such as 10s, 1m (see --help)\n");
      return 2;
    }
    step = *s;
  }
  const std::int64_t now = now_ns();
  const std::int64_t from = (now - *since) / step * step;
  // An argument with a '/' is a path (./svc, /var/log/x.bbx); any other names a metric (a
  // name or a prefix), even when a file of that name is here: a directory "svc" in the
  // working directory must not turn the metric "svc" into an input (and a wrong rate). Said
  // when it happens.
  std::vector<std::string> paths, names;
  for (const std::string& in : a.inputs) {
    const bool path = in.find('/') != std::string::npos;
    (path ? paths : names).push_back(in);
    std::error_code ec;
    if (!path && std::filesystem::exists(in, ec)) {
      std::fprintf(stderr,
                   "logcat: \"%s\" is taken as a metric name (there is a file of that name here: "
                   "./%s for it)\n",
                   in.c_str(), in.c_str());
    }
  }
  if (paths.empty()) paths.push_back(blackbox::Config::from_env().archive_dir);
  std::vector<blackbox::ArchivedMetrics> all;
  if (!history_snapshots(a, paths, all)) return 1;
  // Each run's snapshots in time order.
  using Run = std::pair<std::int32_t, std::int64_t>;
  std::map<std::pair<std::string, Run>, std::vector<const blackbox::ArchivedMetrics*>> runs;
  for (const auto& m : all) {
    if (!a.app.empty() && m.app != a.app) continue;
    runs[{m.app, {m.pid, m.process_start_ns}}].push_back(&m);
  }
  std::map<std::pair<std::string, std::string>, Series> series;  // (app, identity)
  for (auto& [key, snapshots] : runs) {
    std::stable_sort(snapshots.begin(), snapshots.end(), [](const auto* x, const auto* y) {
      return x->snapshot.time_ns < y->snapshot.time_ns;
    });
    const Run run = key.second;
    std::map<std::string, const MetricValue*> previous;  // by identity
    for (const auto* snap : snapshots) {
      const std::int64_t t = snap->snapshot.time_ns;
      for (const MetricValue& m : snap->snapshot.metrics) {
        if (!matches(m, names)) continue;
        const std::string id = m.identity();
        const MetricValue* before = previous.count(id) != 0 ? previous[id] : nullptr;
        previous[id] = &m;
        if (t < from) continue;
        // A run's first snapshot counts from zero only if the run started in the window
        // (else what it added before the window would land in one row).
        const bool from_start = before == nullptr && run.second >= from;
        Series& s = series[{key.first, id}];
        if (s.app.empty()) {
          s.app = key.first;
          s.first = m;
        }
        Series::Row& row = s.rows[t / step * step];
        switch (m.kind) {
          case MetricKind::counter:
            if (before != nullptr) {
              row.added += m.count >= before->count ? m.count - before->count : m.count;
            } else if (from_start) {
              row.added += m.count;
            }
            break;
          case MetricKind::histogram:
            if (before != nullptr || from_start) {
              row.histogram.merge(
                  histogram_delta(m.histogram, before ? &before->histogram : nullptr));
            }
            break;
          case MetricKind::gauge:
            row.gauges[run] = {m.gauge, t,
                               snap->reason == blackbox::ArchivedMetrics::Reason::exit ||
                                   snap->reason == blackbox::ArchivedMetrics::Reason::recovered};
            break;
          case MetricKind::text:
            row.text = m.text;
            break;
        }
      }
    }
  }
  if (series.empty()) {
    std::fprintf(stderr, "logcat: no metric%s in the archives' snapshots of the last %s\n",
                 names.empty() ? "" : " of that name", a.since.c_str());
    return 1;
  }
  const double step_s = static_cast<double>(step) / 1e9;
  const std::string step_text = !a.step.empty() ? a.step : step == 60'000'000'000ll ? "1m" : "10s";
  std::string out;
  for (const auto& [key, s] : series) {
    const MetricValue& m = s.first;
    if (a.output == "json") {
      for (const auto& [t, row] : s.rows) out += history_json_row(s, t, row, step_s);
      continue;
    }
    std::size_t nruns = 0;
    for (const auto& [k, v] : runs) nruns += k.first == s.app;
    out += fmt::format("{} ({}{}{}) of {}, {} run{}, per {}\n", m.identity(),
                       blackbox::metric_kind_name(m.kind), m.unit == MetricUnit::none ? "" : ", ",
                       blackbox::metric_unit_name(m.unit), s.app, nruns, nruns == 1 ? "" : "s",
                       step_text);
    for (const auto& [t, row] : s.rows) {
      out += fmt::format("  {}  {}\n", clock_text(t, a.utc), history_text_value(s, row, step_s));
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

std::string prometheus_text(const std::vector<ProcessMetrics>& processes) {
  // Every sample of a family together, families in name order; the logger's own series
  // first (an application metric that would meet them is the one skipped).
  Exposition e;
  for (const ProcessMetrics& p : processes) add_telemetry(p, e);
  for (const ProcessMetrics& p : processes) {
    for (const MetricValue& m : p.snapshot.metrics) add_metric(m, p.info, e);
  }
  std::string out = e.skipped;
  for (const auto& [name, f] : e.families) {
    out += fmt::format("# HELP {} {}\n", name, prom_escaped(f.help, false));
    out += fmt::format("# TYPE {} {}\n", name, f.type);
    out += f.samples;
  }
  return out;
}

std::string metrics_text(const ProcessMetrics& p, bool utc) {
  const auto& s = p.snapshot;
  std::string out = fmt::format("{}: {} metrics at {}", ring_who(p.info), s.metrics.size(),
                                clock_text(s.time_ns, utc, true));
  if (s.updates_lost != 0)
    out += fmt::format(", {} updates lost (no room)", grouped(s.updates_lost));
  if (s.declarations_refused != 0) {
    out += fmt::format(", {} declarations refused", s.declarations_refused);
  }
  out += '\n';
  std::size_t width = 0;
  for (const MetricValue& m : s.metrics) width = std::max(width, m.identity().size());
  for (const MetricValue& m : s.metrics) {
    if (m.kind != MetricKind::histogram) {
      out += fmt::format("  {:<{}}  {:<9}  {}\n", m.identity(), width,
                         blackbox::metric_kind_name(m.kind), value_text(m));
    }
  }
  for (const MetricValue& m : s.metrics) {
    if (m.kind != MetricKind::histogram) continue;
    out += '\n';
    for (const std::string& l : histogram_lines(
             m.identity(), m.histogram, [&](std::uint64_t v) { return value_in(m.unit, v); })) {
      out += "  " + l + "\n";
    }
  }
  return out;
}

std::string metrics_json(const ProcessMetrics& p) {
  const auto& s = p.snapshot;
  std::string out = fmt::format(
      "{{\"pid\":{},\"app\":{},\"host\":{},\"state\":\"{}\",\"time_unix_nano\":{},"
      "\"updates_lost\":{},\"declarations_refused\":{},\"metrics\":[",
      p.info.pid, json_string(p.info.app), json_string(p.info.host),
      p.info.state == blackbox::RingState::live     ? (p.info.process_alive ? "live" : "dead")
      : p.info.state == blackbox::RingState::exited ? "exited"
                                                    : "crashed",
      s.time_ns, s.updates_lost, s.declarations_refused);
  for (std::size_t i = 0; i < s.metrics.size(); ++i) {
    const MetricValue& m = s.metrics[i];
    if (i != 0) out += ',';
    out += fmt::format("{{\"name\":{},\"kind\":\"{}\"", json_string(m.name),
                       blackbox::metric_kind_name(m.kind));
    if (!m.tags.empty()) {
      out += ",\"tags\":{";
      for (std::size_t t = 0; t < m.tags.size(); ++t) {
        out += fmt::format("{}{}:{}", t == 0 ? "" : ",", json_string(m.tags[t].key),
                           json_string(m.tags[t].value));
      }
      out += '}';
    }
    if (m.unit != MetricUnit::none) {
      out += fmt::format(",\"unit\":\"{}\"", blackbox::metric_unit_name(m.unit));
    }
    if (!m.help.empty()) out += fmt::format(",\"help\":{}", json_string(m.help));
    switch (m.kind) {
      case MetricKind::counter:
        out += fmt::format(",\"value\":{}", m.count);
        break;
      case MetricKind::gauge:
        out += fmt::format(",\"value\":{}", m.gauge);
        break;
      case MetricKind::text:
        out += fmt::format(",\"value\":{}", json_string(m.text));
        break;
      case MetricKind::histogram: {
        const LogHistogram& h = m.histogram;
        out += fmt::format(
            ",\"count\":{},\"sum\":{},\"min\":{},\"max\":{},\"p50\":{},\"p90\":{},\"p99\":{},"
            "\"p999\":{},\"bins\":[",
            h.count(), h.sum(), h.min(), h.max(), number(h.quantile(0.5)), number(h.quantile(0.9)),
            number(h.quantile(0.99)), number(h.quantile(0.999)));
        bool first = true;
        for (std::uint32_t b = 0; b < blackbox::log_bins::kCount; ++b) {
          if (h.bin(b) == 0) continue;
          out += fmt::format("{}[{},{}]", first ? "" : ",", blackbox::log_bins::lower(b), h.bin(b));
          first = false;
        }
        out += ']';
        break;
      }
    }
    out += '}';
  }
  out += "]}\n";
  return out;
}

std::string crash_metrics_text(const blackbox::MetricsSnapshot& s) {
  if (s.metrics.empty()) return {};
  std::string out = fmt::format("--- metrics when it died ({}):\n", s.metrics.size());
  for (const MetricValue& m : s.metrics) {
    out += fmt::format("    {} {}: {}\n", blackbox::metric_kind_name(m.kind), m.identity(),
                       value_text(m));
  }
  return out;
}

int run_metrics(const MetricsArgs& a) {
  if (!a.serve.empty()) return serve(a);
  if (!a.since.empty()) return run_history(a);
  std::vector<std::string> errors;
  const auto processes = gather(a, errors);
  for (const std::string& e : errors) std::fprintf(stderr, "logcat: %s\n", e.c_str());
  if (processes.empty()) {
    if (errors.empty()) {
      std::fprintf(stderr, "logcat: %s\n",
                   a.pid != 0 ? fmt::format("no blackbox process with pid {}", a.pid).c_str()
                   : !a.app.empty()
                       ? fmt::format("no live blackbox process of app \"{}\"", a.app).c_str()
                       : "no live blackbox process");
    }
    return 1;
  }
  std::string out;
  if (a.output == "prometheus") {
    out = prometheus_text(processes);
  } else {
    for (std::size_t i = 0; i < processes.size(); ++i) {
      if (a.output == "json") {
        out += metrics_json(processes[i]);
      } else {
        if (i != 0) out += '\n';
        out += metrics_text(processes[i], a.utc);
      }
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return errors.empty() ? 0 : 1;
}

}  // namespace logcat
