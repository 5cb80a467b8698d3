// Application metrics (blackbox/metrics.hpp): exact sums across threads, one metric per
// name and tags (also across a shared library), histogram quantiles and merges, and values
// that outlive the process (kill -9, a crash) in its ring file.
#include "blackbox/metrics.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"
#include "format/metrics_area.hpp"
#include "format/metrics_frame.hpp"
#include "support/child.hpp"
#include "support/test_env.hpp"

extern "C" void bbx_metrics_lib_add(std::uint64_t n);  // support/metrics_lib.cpp

namespace {

using blackbox::MetricKind;
using blackbox::MetricsSnapshot;
using blackbox::MetricValue;
using blackbox::test::Child;

void start(blackbox::Config config = blackbox::Config::from_env()) {
  config.app = "metrics_test";
  config.archive_dir.clear();
  const auto r = blackbox::init(config);
  ASSERT_TRUE(r.ok()) << r.error;
}

// This process's metrics as another process reads them: through the ring file.
MetricsSnapshot read_own() {
  std::string error;
  auto reader = blackbox::RingReader::open(blackbox::ring_path(), &error);
  EXPECT_NE(reader, nullptr) << error;
  if (reader == nullptr) return {};
  auto m = reader->metrics(&error);
  EXPECT_TRUE(m.has_value()) << error;
  return m.value_or(MetricsSnapshot{});
}

const MetricValue* find(const MetricsSnapshot& s, const std::string& identity) {
  for (const MetricValue& v : s.metrics) {
    if (v.identity() == identity) return &v;
  }
  return nullptr;
}

TEST(Metrics, CounterSumsAreExactAcrossEightThreads) {
  start();
  const blackbox::Counter hits{"cache.hits", {{"cache", "users"}}};
  constexpr std::uint64_t kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (std::uint64_t t = 0; t < 8; ++t) {
    threads.emplace_back([&hits, t] {
      for (std::uint64_t i = 0; i < kPerThread; ++i) hits.add(t + 1);
    });
  }
  for (auto& t : threads) t.join();
  const std::uint64_t want = kPerThread * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8);
  EXPECT_EQ(hits.value(), want);
  const MetricsSnapshot s = read_own();
  const MetricValue* v = find(s, "cache.hits{cache=users}");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->kind, MetricKind::counter);
  EXPECT_EQ(v->count, want);
  EXPECT_EQ(s.updates_lost, 0u);
}

TEST(Metrics, SameNameAndTagsAreOneMetricWhateverTheTagOrder) {
  start();
  const blackbox::Counter a{"http.requests", {{"route", "/login"}, {"status", "200"}}};
  const blackbox::Counter b{"http.requests", {{"status", "200"}, {"route", "/login"}}};
  const blackbox::Counter other{"http.requests", {{"route", "/logout"}, {"status", "200"}}};
  a.add(3);
  b.add(4);
  other.add(1);
  EXPECT_EQ(a.value(), 7u);
  EXPECT_EQ(b.value(), 7u);
  EXPECT_EQ(other.value(), 1u);
  const MetricsSnapshot s = read_own();
  ASSERT_EQ(s.metrics.size(), 2u);
  const MetricValue* v = find(s, "http.requests{route=/login,status=200}");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->count, 7u);
}

TEST(Metrics, AMetricOfASharedLibraryIsTheMainProgramsMetric) {
  start();
  const blackbox::Counter calls{"lib.calls", {{"lib", "metrics_lib"}}};
  calls.add(10);
  bbx_metrics_lib_add(5);  // the library declares "lib.calls" {lib=metrics_lib} too
  EXPECT_EQ(calls.value(), 15u);
  const MetricsSnapshot own = read_own();
  const MetricValue* v = find(own, "lib.calls{lib=metrics_lib}");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->count, 15u);
}

TEST(Metrics, ANameDeclaredAsAnotherKindIsRefusedAndItsUpdatesCounted) {
  start();
  const blackbox::Counter count{"jobs"};
  const blackbox::Gauge clash{"jobs", {{"queue", "a"}}};  // the name is a counter's
  const blackbox::Gauge same_identity{"jobs"};            // and so are name and tags
  const blackbox::Counter bad_name{"9lives"};
  const blackbox::Counter bad_tag{"fine", {{"bad key", "v"}}};
  count.add();
  clash.set(5);
  same_identity.set(1000);  // must not land in the counter's cell
  bad_name.add();
  bad_tag.add();
  const MetricsSnapshot s = read_own();
  EXPECT_EQ(s.metrics.size(), 1u);
  EXPECT_EQ(s.declarations_refused, 4u);
  EXPECT_EQ(s.updates_lost, 4u);
  EXPECT_EQ(count.value(), 1u);
}

// Every accepted name and tag maps to a valid, unique Prometheus series: a declaration whose
// series would meet another metric's, a tag key Prometheus reserves, two tag keys that are
// one label, a tag value that is not UTF-8: each refused, like a kind clash, and counted.
TEST(Metrics, NamesThatWouldMeetInPrometheusAreRefused) {
  start();
  const blackbox::Counter x{"x"};                                    // series x_total
  const blackbox::Gauge x_total{"x_total"};                          // the same series: refused
  const blackbox::Gauge dotted{"a.b"};                               // family a_b
  const blackbox::Gauge underscored{"a_b"};                          // refused
  const blackbox::Gauge dashed{"a-b"};                               // refused
  const blackbox::Histogram h{"h"};                                  // h_bucket, h_sum, h_count
  const blackbox::Gauge h_count{"h_count"};                          // refused
  const blackbox::Gauge two{"two", {{"a.b", "1"}, {"a_b", "2"}}};    // one label: refused
  const blackbox::Gauge reserved{"reserved", {{"__name__", "up"}}};  // refused
  const blackbox::Gauge utf8{"utf8", {{"k", "\xff\xfe"}}};           // refused
  const blackbox::Gauge fine{"fine", {{"a.b", "1"}, {"c", "\xc3\xa9t\xc3\xa9"}}};
  x.add();
  x_total.set(1);
  dotted.set(2);
  underscored.set(3);
  h.record(5);
  fine.set(4);
  const MetricsSnapshot s = read_own();
  EXPECT_EQ(s.declarations_refused, 7u);
  std::vector<std::string> names;
  for (const MetricValue& m : s.metrics) names.push_back(m.identity());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a.b", "fine{a.b=1,c=\xc3\xa9t\xc3\xa9}", "h", "x"}));
}

TEST(Metrics, GaugesAndTextMetricsHoldOneValue) {
  start();
  const blackbox::Gauge depth{"queue.depth", {}, blackbox::MetricUnit::none, "jobs waiting"};
  const blackbox::TextMetric status{"service.status"};
  depth.set(40);
  std::thread([&] { depth.add(-15); }).join();
  depth.add(3);
  status.set("draining");
  status.set("a status much longer than the fifty-five bytes a text metric keeps, cut");
  EXPECT_EQ(depth.value(), 28);
  const MetricsSnapshot s = read_own();
  const MetricValue* g = find(s, "queue.depth");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->kind, MetricKind::gauge);
  EXPECT_EQ(g->gauge, 28);
  EXPECT_EQ(g->help, "jobs waiting");
  const MetricValue* t = find(s, "service.status");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->text, "a status much longer than the fifty-five bytes a text m");
  EXPECT_EQ(status.value(), t->text);
}

TEST(Metrics, HistogramQuantilesAreWithinFivePercentAndMergesExact) {
  start();
  const blackbox::Histogram latency{"rpc.latency", {}, blackbox::MetricUnit::nanoseconds};
  std::vector<std::vector<std::uint64_t>> samples(4);
  std::vector<blackbox::LogHistogram> local(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      std::lognormal_distribution<double> dist(10.0, 1.5);  // ~22 us median, long tail
      for (int i = 0; i < 50'000; ++i) {
        const auto v = static_cast<std::uint64_t>(dist(rng));
        latency.record(v);
        samples[t].push_back(v);
        local[t].record(v);
      }
    });
  }
  for (auto& t : threads) t.join();
  blackbox::LogHistogram merged;
  std::vector<std::uint64_t> all;
  for (std::size_t t = 0; t < 4; ++t) {
    merged.merge(local[t]);
    all.insert(all.end(), samples[t].begin(), samples[t].end());
  }
  std::sort(all.begin(), all.end());
  const blackbox::LogHistogram got = latency.value();
  EXPECT_EQ(got.bins(), merged.bins());  // exact: the same bins, summed
  EXPECT_EQ(got.count(), all.size());
  EXPECT_EQ(got.sum(), merged.sum());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(all.size())));
    const double truth = static_cast<double>(all[rank - 1]);
    EXPECT_NEAR(got.quantile(q), truth, truth * 0.05) << "q=" << q;
  }
  const MetricsSnapshot own = read_own();
  const MetricValue* v = find(own, "rpc.latency");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->unit, blackbox::MetricUnit::nanoseconds);
  EXPECT_EQ(v->histogram.bins(), merged.bins());
  EXPECT_EQ(v->histogram.sum(), merged.sum());
}

TEST(Metrics, AScopedTimerRecordsItsDuration) {
  start();
  const blackbox::Histogram h{"work.time", {}, blackbox::MetricUnit::nanoseconds};
  const auto before = std::chrono::steady_clock::now();
  { auto timer = h.time(); }
  const auto bound = std::chrono::steady_clock::now() - before;
  const blackbox::LogHistogram got = h.value();
  ASSERT_EQ(got.count(), 1u);
  EXPECT_LE(got.sum(), static_cast<std::uint64_t>(
                           std::chrono::duration_cast<std::chrono::nanoseconds>(bound).count()));
}

TEST(Metrics, AMetricWithoutRoomIsNotStoredAndItsUpdatesAreCounted) {
  blackbox::Config config = blackbox::Config::from_env();
  config.metric_cells = 2048;  // room for one histogram (1,640 cells), not two
  start(config);
  // Cells are given in declaration order: the counter fits after the first histogram.
  const blackbox::Histogram first{"first.histogram"};
  const blackbox::Counter after{"counter.after"};
  const blackbox::Histogram second{"second.histogram"};
  first.record(5);
  second.record(5);
  second.record(6);
  after.add(2);
  const MetricsSnapshot s = read_own();
  ASSERT_NE(find(s, "first.histogram"), nullptr);
  EXPECT_EQ(find(s, "second.histogram"), nullptr);
  ASSERT_NE(find(s, "counter.after"), nullptr);
  EXPECT_EQ(find(s, "counter.after")->count, 2u);
  EXPECT_EQ(s.updates_lost, 2u);
  EXPECT_EQ(second.value().count(), 0u);
}

TEST(Metrics, MetricsDeclaredBeforeTheLoggerStartsAreInItsTable) {
  const blackbox::Counter early{"declared.early"};  // no ring yet
  start();
  early.add(2);
  const MetricsSnapshot own = read_own();
  const MetricValue* v = find(own, "declared.early");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->count, 2u);
}

TEST(Metrics, ThreadsWithoutASlotAddIntoTheSharedCells) {
  blackbox::Config config = blackbox::Config::from_env();
  config.max_threads = 1;
  start(config);
  const blackbox::Counter c{"no.slot"};
  const blackbox::Histogram h{"no.slot.histogram"};
  c.add();  // this thread takes the only slot
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        c.add();
        h.record(static_cast<std::uint64_t>(i));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 4001u);
  EXPECT_EQ(h.value().count(), 4000u);
  EXPECT_EQ(read_own().updates_lost, 0u);
}

// The child's ring file, after the child is gone.
MetricsSnapshot read_dead(const std::string& dir, pid_t pid) {
  std::string error;
  auto reader = blackbox::RingReader::open(fmt::format("{}/metricschild.{}.bbr", dir, pid), &error);
  EXPECT_NE(reader, nullptr) << error;
  if (reader == nullptr) return {};
  return reader->metrics(&error).value_or(MetricsSnapshot{});
}

std::vector<std::pair<std::string, std::string>> as_pairs(const std::vector<std::string>& env) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& kv : env) {
    const auto eq = kv.find('=');
    out.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

void check_acknowledged(const MetricsSnapshot& s, std::uint64_t count) {
  const MetricValue* c = find(s, "http.server.requests{route=/login}");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->count, count);
  const MetricValue* h = find(s, "http.server.latency{route=/login}");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->histogram.count(), count);
  EXPECT_EQ(h->histogram.sum(), 1000 * count * (count + 1) / 2);
  const MetricValue* g = find(s, "queue.depth");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->gauge, 3000);
  const MetricValue* t = find(s, "build.version");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->text, "1.2.3-test");
}

TEST(Metrics, AProcessKilledWithSigkillLeavesTheValuesItAcknowledged) {
  const std::string dir = blackbox::test::make_temp_dir("kill9");
  Child child({blackbox::test::helper_path(), "metrics-child"}, {{"BBX_DIR", dir}});
  ASSERT_EQ(child.read_until("ready").back(), "ready");
  child.send("add 1000");
  ASSERT_EQ(child.read_until_ending(" 1000").back(), "acked 1000 1000");
  child.send("add 2000");
  ASSERT_EQ(child.read_until_ending(" 3000").back(), "acked 3000 3000");
  kill(child.pid(), SIGKILL);
  EXPECT_EQ(child.wait(), 128 + SIGKILL);
  // "add N" gave values 1000 * i for i = 1..N twice (N = 1000, then 2000): sum of both.
  const MetricsSnapshot s = read_dead(dir, child.pid());
  const MetricValue* h = find(s, "http.server.latency{route=/login}");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->histogram.sum(), 1000u * (1000 * 1001 / 2 + 2000 * 2001 / 2));
  const MetricValue* c = find(s, "http.server.requests{route=/login}");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->count, 3000u);
  EXPECT_EQ(find(s, "queue.depth")->gauge, 2000);
}

TEST(Metrics, ACrashedProcessLeavesItsValuesInItsRingFile) {
  const std::string dir = blackbox::test::make_temp_dir("crash");
  Child child({blackbox::test::helper_path(), "metrics-child"},
              as_pairs(blackbox::test::let_segv_through({"BBX_DIR=" + dir})));
  ASSERT_EQ(child.read_until("ready").back(), "ready");
  child.send("add 3000");
  ASSERT_EQ(child.read_until_ending(" 3000").back(), "acked 3000 3000");
  child.send("crash");
  EXPECT_EQ(child.wait(), 128 + SIGSEGV);
  std::string error;
  auto reader =
      blackbox::RingReader::open(fmt::format("{}/metricschild.{}.bbr", dir, child.pid()), &error);
  ASSERT_NE(reader, nullptr) << error;
  EXPECT_EQ(reader->info().state, blackbox::RingState::crashed);
  check_acknowledged(reader->metrics().value_or(MetricsSnapshot{}), 3000);
}

TEST(MetricsRegion, DamagedEntriesAreSkippedAndADamagedHeaderIsAnError) {
  const std::uint32_t cells = 512, slots = 2;
  std::vector<std::uint64_t> words(blackbox::ring::metrics_region_bytes(cells, slots) / 8);
  auto* region = reinterpret_cast<std::byte*>(words.data());
  blackbox::ring::init_metrics_header(region, cells, slots);
  blackbox::ring::write_metric_entry(region, 0, MetricKind::counter, blackbox::MetricUnit::none,
                                     "ok", "", "", 0);
  blackbox::ring::write_metric_entry(region, 1, MetricKind::counter, blackbox::MetricUnit::none,
                                     "past.the.end", "", "", cells);  // cell out of range
  blackbox::ring::write_metric_entry(region, 2, MetricKind::histogram, blackbox::MetricUnit::none,
                                     "too.wide", "", "", 0);  // 1,640 cells > 512
  MetricsSnapshot s;
  std::string error;
  ASSERT_TRUE(
      blackbox::ring::read_metrics_region(region, words.size() * 8, slots, {true, false}, s, error))
      << error;
  ASSERT_EQ(s.metrics.size(), 1u);
  EXPECT_EQ(s.metrics[0].name, "ok");
  // A header claiming more than the region holds.
  reinterpret_cast<blackbox::ring::MetricsHeader*>(region)->cells = 1024;
  EXPECT_FALSE(blackbox::ring::read_metrics_region(region, words.size() * 8, slots, {true, false},
                                                   s, error));
  EXPECT_EQ(error, "the metrics region's header does not match its size");
}

TEST(MetricsFrame, RoundTripsExactlyAndRefusesEveryTruncation) {
  MetricsSnapshot s;
  s.time_ns = 1'796'000'000'123'456'789;
  s.updates_lost = 3;
  s.declarations_refused = 1;
  MetricValue c;
  c.name = "http.requests";
  c.tags = {{"route", "/a"}, {"status", "200"}};
  c.help = "requests served";
  c.count = 12345;
  MetricValue g;
  g.name = "queue.depth";
  g.kind = MetricKind::gauge;
  g.unit = blackbox::MetricUnit::bytes;
  g.gauge = -42;
  MetricValue t;
  t.name = "build.version";
  t.kind = MetricKind::text;
  t.text = "1.2.3";
  MetricValue h;
  h.name = "rpc.latency";
  h.kind = MetricKind::histogram;
  h.unit = blackbox::MetricUnit::nanoseconds;
  for (std::uint64_t v : {0ull, 7ull, 1234ull, 99'999ull, 1'000'000'007ull})
    h.histogram.record(v, v % 5 + 1);
  s.metrics = {c, g, t, h};
  std::vector<std::byte> payload;
  blackbox::archive::encode_metrics(s, blackbox::archive::SnapshotReason::interval, payload);
  MetricsSnapshot back;
  blackbox::archive::SnapshotReason reason{};
  ASSERT_TRUE(blackbox::archive::decode_metrics(payload, back, reason));
  EXPECT_EQ(reason, blackbox::archive::SnapshotReason::interval);
  EXPECT_EQ(back.time_ns, s.time_ns);
  EXPECT_EQ(back.updates_lost, 3u);
  EXPECT_EQ(back.declarations_refused, 1u);
  ASSERT_EQ(back.metrics.size(), 4u);
  EXPECT_EQ(back.metrics[0].identity(), "http.requests{route=/a,status=200}");
  EXPECT_EQ(back.metrics[0].help, "requests served");
  EXPECT_EQ(back.metrics[0].count, 12345u);
  EXPECT_EQ(back.metrics[1].gauge, -42);
  EXPECT_EQ(back.metrics[1].unit, blackbox::MetricUnit::bytes);
  EXPECT_EQ(back.metrics[2].text, "1.2.3");
  EXPECT_EQ(back.metrics[3].histogram.bins(), h.histogram.bins());
  EXPECT_EQ(back.metrics[3].histogram.sum(), h.histogram.sum());
  EXPECT_EQ(back.metrics[3].histogram.count(), h.histogram.count());
  for (std::size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(blackbox::archive::decode_metrics(std::span(payload.data(), n), back, reason))
        << n;
  }
}

}  // namespace
