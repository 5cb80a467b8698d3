// `logcat metrics`: text, JSON and the Prometheus exposition of a live process, the metrics
// in a crashed process's post-mortem; and `--serve` checked against the real thing: Debian's
// Prometheus server (scripts/install-deps.sh installs it) scrapes it on loopback, and its HTTP
// API must give the rate and the quantile the test program recorded; promtool must accept
// the exposition.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <thread>

#include "blackbox/reader.hpp"
#include "support/child.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::test::Child;

bool have(const char* program) {
  return std::system(fmt::format("command -v {} > /dev/null 2>&1", program).c_str()) == 0;
}

// The single value of an instant query, or nullopt (no data yet, or an error).
std::optional<double> query(int port, const std::string& promql) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto res = client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
  if (!res || res->status != 200) return std::nullopt;
  // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[t,"v"]}]}}
  static const std::regex value(R"re("value":\[[0-9.e+]+,"([^"]+)"\])re");
  std::smatch m;
  if (!std::regex_search(res->body, m, value)) return std::nullopt;
  try {
    return std::stod(m[1]);
  } catch (...) {
    return std::nullopt;
  }
}

// Asks until `promql` gives a value `ready` accepts. Gives up after three minutes (a guard
// against a hang, not a timing assertion: every value is checked after it is there).
std::optional<double> wait_for(int port, const std::string& promql,
                               const std::function<bool(double)>& ready) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < give_up) {
    if (auto v = query(port, promql); v && ready(*v)) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return std::nullopt;
}

using blackbox::test::RunResult;

RunResult logcat(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return blackbox::test::run_program(BBX_LOGCAT, args, env);
}

TEST(LogcatMetrics, ShowsALiveProcessAsTextJsonAndPrometheus) {
  const std::string dir = blackbox::test::make_temp_dir("live");
  Child program({blackbox::test::helper_path(), "metrics-child"},
                {{"BBX_DIR", dir}, {"BBX_ARCHIVE_DIR", "off"}});
  ASSERT_EQ(program.read_until("ready").back(), "ready");
  program.send("add 3000");
  ASSERT_EQ(program.read_until_ending(" 3000").back(), "acked 3000 3000");
  const std::string pid = std::to_string(program.pid());
  const std::vector<std::string> env = {"BBX_DIR=" + dir};

  const RunResult text = logcat({"metrics", "-p", pid}, env);
  ASSERT_EQ(text.status, 0) << text.out;
  EXPECT_TRUE(std::regex_search(
      text.out, std::regex("pid " + pid +
                           R"( \(metricschild\), live: 4 metrics at .*\n)"
                           R"(  http.server.requests\{route=/login\}  counter    3,000\n)"
                           R"(  queue.depth                         gauge      3,000\n)"
                           R"(  build.version                       text       1.2.3-test\n)")))
      << text.out;
  EXPECT_NE(text.out.find("http.server.latency{route=/login}: 3000 measured, p50 1.55 ms, p90 "
                          "2.75 ms, p99 2.95 ms, p99.9 2.95 ms, max 3.1 ms\n"),
            std::string::npos)
      << text.out;

  const RunResult json = logcat({"metrics", "--app", "metricschild", "-o", "json"}, env);
  ASSERT_EQ(json.status, 0) << json.out;
  EXPECT_NE(
      json.out.find(
          R"({"name":"http.server.requests","kind":"counter","tags":{"route":"/login"},"help":"requests served","value":3000})"),
      std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find(R"("count":3000,"sum":4501500000,"min":1000,"max":3099999,)"),
            std::string::npos)
      << json.out;

  const RunResult prom = logcat({"metrics", "-p", pid, "-o", "prometheus"}, env);
  ASSERT_EQ(prom.status, 0) << prom.out;
  const std::string labels = R"({route="/login",app="metricschild",pid=")" + pid + "\"";
  for (const std::string& line : std::vector<std::string>{
           "# TYPE http_server_requests_total counter",
           "http_server_requests_total" + labels + "} 3000",
           "# HELP http_server_latency_seconds time to answer",
           "# TYPE http_server_latency_seconds histogram",
           "http_server_latency_seconds_bucket" + labels + R"(,le="1.099e-06"} 1)",
           "http_server_latency_seconds_bucket" + labels + R"(,le="0.003099999"} 3000)",
           "http_server_latency_seconds_bucket" + labels + R"(,le="+Inf"} 3000)",
           "http_server_latency_seconds_sum" + labels + "} 4.5015",
           "http_server_latency_seconds_count" + labels + "} 3000",
           R"(build_version_info{app="metricschild",pid=")" + pid + R"(",value="1.2.3-test"} 1)",
           R"(queue_depth{app="metricschild",pid=")" + pid + R"("} 3000)",
       }) {
    EXPECT_NE(prom.out.find(line + "\n"), std::string::npos) << line << "\n" << prom.out;
  }
  const RunResult none = logcat({"metrics", "-p", "999999999"}, env);
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.out, "logcat: no blackbox process with pid 999999999\n");
}

// Label values and help text escaped as the exposition format wants: the golden v3 ring's
// text metric holds double quotes.
TEST(LogcatMetrics, PrometheusEscapesLabelValues) {
  const std::string ring = std::string(BBX_GOLDEN_DIR) + "/v3/ring.bbr";
  const RunResult prom = logcat({"metrics", "-o", "prometheus", ring}, {});
  ASSERT_EQ(prom.status, 0) << prom.out;
  EXPECT_TRUE(std::regex_search(
      prom.out,
      std::regex(
          R"(\nbuild_version_info\{app="golden",pid="[0-9]+",value="1\.2\.3 \\"golden\\""\} 1\n)")))
      << prom.out;
}

TEST(LogcatMetrics, APostMortemShowsTheMetricsWhenTheProcessDied) {
  const std::string dir = blackbox::test::make_temp_dir("crash");
  std::vector<std::pair<std::string, std::string>> env;
  for (const std::string& kv :
       blackbox::test::let_segv_through({"BBX_DIR=" + dir, "BBX_ARCHIVE_DIR=off"})) {
    env.emplace_back(kv.substr(0, kv.find('=')), kv.substr(kv.find('=') + 1));
  }
  Child program({blackbox::test::helper_path(), "metrics-child"}, env);
  ASSERT_EQ(program.read_until("ready").back(), "ready");
  program.send("add 3000");
  ASSERT_EQ(program.read_until_ending(" 3000").back(), "acked 3000 3000");
  program.send("crash");
  ASSERT_EQ(program.wait(), 128 + SIGSEGV);
  const RunResult text = logcat({"--no-pager", dir}, {"BBX_DIR=" + dir});
  EXPECT_NE(text.out.find("--- metrics when it died (4):\n"
                          "    counter http.server.requests{route=/login}: 3,000\n"
                          "    histogram http.server.latency{route=/login}: 3000 measured, p50 "
                          "1.55 ms, p90 2.75 ms, p99 2.95 ms, p99.9 2.95 ms, max 3.1 ms\n"
                          "    gauge queue.depth: 3,000\n"
                          "    text build.version: 1.2.3-test\n"),
            std::string::npos)
      << text.out;
  const RunResult json = logcat({"-o", "json", dir}, {"BBX_DIR=" + dir});
  EXPECT_NE(json.out.find(R"("metrics":{"pid":)" + std::to_string(program.pid()) +
                          R"(,"app":"metricschild","host":"","state":"crashed")"),
            std::string::npos)
      << json.out.substr(0, 3000);
  // The dead process's file, given by name.
  const RunResult file =
      logcat({"metrics", "-o", "json", fmt::format("{}/metricschild.{}.bbr", dir, program.pid())},
             {"BBX_DIR=" + dir});
  EXPECT_EQ(file.status, 0) << file.out;
  EXPECT_NE(file.out.find(R"("state":"crashed")"), std::string::npos) << file.out;
  // Recovered into an archive (the ring gone), the post-mortem still has them.
  const std::string archive = blackbox::test::make_temp_dir("recovered");
  const RunResult recovered =
      logcat({"recover", dir, "--archive-dir", archive}, {"BBX_DIR=" + dir});
  ASSERT_EQ(recovered.status, 0) << recovered.out;
  const RunResult archived = logcat({"--no-pager", archive}, {"BBX_DIR=" + dir});
  EXPECT_NE(archived.out.find("--- metrics when it died (4):\n"
                              "    counter http.server.requests{route=/login}: 3,000\n"),
            std::string::npos)
      << archived.out;
  EXPECT_NE(logcat({"-o", "json", archive}, {"BBX_DIR=" + dir}).out.find(R"("metrics":{"pid":)"),
            std::string::npos);
}

// Sums a field over the JSON lines of `logcat metrics --since -o json` of one metric.
std::uint64_t sum_of(const std::string& json, const std::string& name, const std::string& field) {
  std::uint64_t sum = 0;
  const std::regex line("\"name\":\"" + name + "\".*\"" + field + "\":([0-9]+)");
  for (const std::string& l : blackbox::test::lines_of(json)) {
    std::smatch m;
    if (std::regex_search(l, m, line)) sum += std::stoull(m[1]);
  }
  return sum;
}

// Drives a metrics-child run: each "add N" acknowledged; `between` after the first.
void one_run(const std::vector<std::pair<std::string, std::string>>& env,
             const std::vector<std::uint64_t>& adds, const std::function<void(pid_t)>& between) {
  Child program({blackbox::test::helper_path(), "metrics-child"}, env);
  ASSERT_EQ(program.read_until("ready").back(), "ready");
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < adds.size(); ++i) {
    program.send(fmt::format("add {}", adds[i]));
    total += adds[i];
    ASSERT_EQ(program.read_until_ending(fmt::format(" {}", total)).back(),
              fmt::format("acked {} {}", total, total));
    if (i == 0 && between) between(program.pid());
  }
  program.close_stdin();
  ASSERT_EQ(program.wait(), 0);
}

TEST(LogcatMetrics, HistoryAcrossARotationAndTwoRunsOfAnApp) {
  const std::string dir = blackbox::test::make_temp_dir("history");
  // Snapshots only at the rotation and at each exit (no interval): what they hold is exact.
  const std::vector<std::pair<std::string, std::string>> env = {
      {"BBX_DIR", dir + "/rings"}, {"BBX_ARCHIVE_DIR", dir + "/archive"}, {"BBX_METRICS_MS", "0"}};
  const std::vector<std::string> logcat_env = {"BBX_DIR=" + dir + "/rings",
                                               "BBX_ARCHIVE_DIR=" + dir + "/archive"};
  // Run 1: 1,000, a rotation (its snapshot closes the first file), 2,000 more, exit.
  one_run(env, {1000, 2000}, [&](pid_t pid) {
    const RunResult rotated = logcat({"ctl", "-p", std::to_string(pid), "rotate"}, logcat_env);
    ASSERT_EQ(rotated.status, 0) << rotated.out;
  });
  // Run 2: 3,000, exit.
  one_run(env, {3000}, nullptr);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/archive")) {
    files += e.path().extension() == ".bbx";
  }
  EXPECT_EQ(files, 3u);  // run 1's two files, run 2's one
  // The snapshots themselves: run 1's at the rotation (1,000 so far) and at its exit, run 2's
  // at its exit.
  {
    std::string error;
    auto reader = blackbox::ArchiveReader::open(dir + "/archive", &error);
    ASSERT_NE(reader, nullptr) << error;
    reader->keep_metrics(true);
    while (reader->scan() != 0) {
    }
    auto snapshots = reader->take_metrics();
    std::sort(snapshots.begin(), snapshots.end(),
              [](const auto& x, const auto& y) { return x.snapshot.time_ns < y.snapshot.time_ns; });
    using Reason = blackbox::ArchivedMetrics::Reason;
    std::vector<std::pair<Reason, std::uint64_t>> seen;
    for (const auto& m : snapshots) {
      for (const blackbox::MetricValue& v : m.snapshot.metrics) {
        if (v.name == "http.server.requests") seen.emplace_back(m.reason, v.count);
      }
    }
    const std::vector<std::pair<Reason, std::uint64_t>> want = {
        {Reason::rotation, 1000}, {Reason::exit, 3000}, {Reason::exit, 3000}};
    EXPECT_EQ(seen, want);
  }
  const RunResult json =
      logcat({"metrics", "--since", "1h", "-o", "json", "http.server"}, logcat_env);
  ASSERT_EQ(json.status, 0) << json.out;
  EXPECT_EQ(sum_of(json.out, "http.server.requests\\{route=/login\\}", "added"), 6000u) << json.out;
  EXPECT_EQ(sum_of(json.out, "http.server.latency\\{route=/login\\}", "count"), 6000u) << json.out;
  // Text: a row per step, the header says how many runs.
  const RunResult text =
      logcat({"metrics", "--since", "1h", "--step", "1000d", "http.server.requests"}, logcat_env);
  ASSERT_EQ(text.status, 0) << text.out;
  EXPECT_TRUE(std::regex_search(
      text.out,
      std::regex(
          R"(^http.server.requests\{route=/login\} \(counter\) of metricschild, 2 runs, per 1000d\n  \S+ \S+ +[0-9.]+/s  \(\+6,000\)\n$)")))
      << text.out;
  // A directory of the same name in the working directory does not make the name a path
  // (it would be an input, and the rate wrong): a path has a '/'. Said on stderr.
  const std::string cwd = blackbox::test::make_temp_dir("cwd");
  std::filesystem::create_directory(cwd + "/http.server");
  std::string env_words;
  for (const auto& word : logcat_env) env_words += word + " ";
  const std::string beside =
      blackbox::test::command_output("cd " + cwd + " && env " + env_words + BBX_LOGCAT +
                                     " metrics --since 1h -o json http.server 2>&1");
  EXPECT_EQ(sum_of(beside, "http.server.requests\\{route=/login\\}", "added"), 6000u) << beside;
  EXPECT_NE(beside.find("logcat: \"http.server\" is taken as a metric name (there is a file of "
                        "that name here: ./http.server for it)\n"),
            std::string::npos)
      << beside;
  const RunResult none = logcat({"metrics", "--since", "1h", "no.such.metric"}, logcat_env);
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.out, "logcat: no metric of that name in the archives' snapshots of the last 1h\n");
}

TEST(LogcatMetrics, ARecoveredArchiveHoldsTheValuesAcknowledgedBeforeAKill) {
  const std::string dir = blackbox::test::make_temp_dir("recovered");
  Child program({blackbox::test::helper_path(), "metrics-child"},
                {{"BBX_DIR", dir + "/rings"},
                 {"BBX_ARCHIVE_DIR", dir + "/archive"},
                 {"BBX_METRICS_MS", "0"}});
  ASSERT_EQ(program.read_until("ready").back(), "ready");
  program.send("add 3000");
  ASSERT_EQ(program.read_until_ending(" 3000").back(), "acked 3000 3000");
  kill(program.pid(), SIGKILL);
  ASSERT_EQ(program.wait(), 128 + SIGKILL);
  const std::vector<std::string> logcat_env = {"BBX_DIR=" + dir + "/rings",
                                               "BBX_ARCHIVE_DIR=" + dir + "/archive"};
  const RunResult recovered = logcat(
      {"recover", dir + "/rings", "--archive-dir", dir + "/archive", "--app", "metricschild"},
      logcat_env);
  ASSERT_EQ(recovered.status, 0) << recovered.out;
  std::string error;
  auto reader = blackbox::ArchiveReader::open(dir + "/archive", &error);
  ASSERT_NE(reader, nullptr) << error;
  reader->keep_metrics(true);
  while (reader->scan() != 0) {
  }
  const auto snapshots = reader->take_metrics();
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_EQ(snapshots[0].reason, blackbox::ArchivedMetrics::Reason::recovered);
  EXPECT_EQ(snapshots[0].pid, program.pid());
  bool counted = false;
  for (const blackbox::MetricValue& m : snapshots[0].snapshot.metrics) {
    if (m.identity() == "http.server.requests{route=/login}") {
      EXPECT_EQ(m.count, 3000u);
      counted = true;
    }
    if (m.identity() == "http.server.latency{route=/login}") {
      EXPECT_EQ(m.histogram.count(), 3000u);
      EXPECT_EQ(m.histogram.sum(), 1000ull * 3000 * 3001 / 2);
    }
  }
  EXPECT_TRUE(counted);
}

// One process whose ring file holds hostile metric names and tags (written by hand, as a
// forged file could: the library refuses them) beside a good process: the host's exposition
// stays valid for promtool, the good metrics and every process's blackbox_* telemetry are in
// it, and what had to be skipped is said in comments.
TEST(Prometheus, NoMetricNameCanBreakTheHostsExposition) {
  if (!have("promtool")) {
    GTEST_SKIP() << "promtool is not installed (scripts/install-deps.sh installs Debian's "
                    "prometheus)";
  }
  const std::string dir = blackbox::test::make_temp_dir("hostile");
  const std::vector<std::pair<std::string, std::string>> env = {{"BBX_DIR", dir + "/rings"},
                                                                {"BBX_ARCHIVE_DIR", "off"}};
  Child hostile({blackbox::test::helper_path(), "hostile-metrics"}, env);
  ASSERT_EQ(hostile.read_until("ready").back(), "ready");
  Child good({blackbox::test::helper_path(), "metrics-child"}, env);
  ASSERT_EQ(good.read_until("ready").back(), "ready");
  good.send("add 10");
  ASSERT_EQ(good.read_until_ending(" 10").back(), "acked 10 10");
  const auto out = blackbox::test::run_program(BBX_LOGCAT, {"metrics", "-o", "prometheus"},
                                               {"BBX_DIR=" + dir + "/rings"});
  ASSERT_EQ(out.status, 0) << out.out;
  std::ofstream(dir + "/host.txt") << out.out;
  const auto check = blackbox::test::run_program(
      "/bin/sh", {"-c", fmt::format("promtool check metrics < {}/host.txt", dir)});
  EXPECT_EQ(check.status, 0) << check.out << "\n" << out.out;
  EXPECT_EQ(check.out, "") << "no error, no lint warning";
  const std::string hostile_pid = std::to_string(hostile.pid());
  const std::string good_pid = std::to_string(good.pid());
  EXPECT_NE(out.out.find("good_requests_total{app=\"hostile\",pid=\"" + hostile_pid + "\"} 3"),
            std::string::npos)
      << out.out;
  EXPECT_NE(out.out.find("http_server_requests_total{route=\"/login\",app=\"metricschild\""),
            std::string::npos)
      << out.out;
  for (const std::string& pid : {hostile_pid, good_pid}) {
    EXPECT_NE(out.out.find("blackbox_records_lost_total{app="), std::string::npos);
    EXPECT_NE(out.out.find("pid=\"" + pid + "\",cause=\"overwritten\"}"), std::string::npos)
        << out.out;
  }
  for (const char* skipped : {"x_total of pid", "labels of pid", "reserved of pid", "utf8 of pid",
                              "q_r of pid", "q-r of pid", "h_count of pid"}) {
    EXPECT_NE(out.out.find(std::string("# blackbox: skipped metric ") + skipped), std::string::npos)
        << skipped << "\n"
        << out.out;
  }
  // Alone, too.
  const auto alone =
      blackbox::test::run_program(BBX_LOGCAT, {"metrics", "-o", "prometheus", "-p", hostile_pid},
                                  {"BBX_DIR=" + dir + "/rings"});
  ASSERT_EQ(alone.status, 0) << alone.out;
  std::ofstream(dir + "/alone.txt") << alone.out;
  const auto check_alone = blackbox::test::run_program(
      "/bin/sh", {"-c", fmt::format("promtool check metrics < {}/alone.txt", dir)});
  EXPECT_EQ(check_alone.status, 0) << check_alone.out << "\n" << alone.out;
  hostile.close_stdin();
  good.close_stdin();
}

TEST(Prometheus, ScrapesLogcatServeAndAgreesWithWhatTheProgramRecorded) {
  if (!have("prometheus") || !have("promtool")) {
    GTEST_SKIP() << "prometheus or promtool is not installed (scripts/install-deps.sh installs "
                    "Debian's prometheus)";
  }
  const std::string dir = blackbox::test::make_temp_dir("prom");
  const std::vector<std::pair<std::string, std::string>> env = {{"BBX_DIR", dir + "/rings"},
                                                                {"BBX_ARCHIVE_DIR", "off"}};
  // The program: a histogram of 3,000 known values, then a counter at 2,000 per second.
  Child program({blackbox::test::helper_path(), "metrics-child"}, env);
  ASSERT_EQ(program.read_until("ready").back(), "ready");
  program.send("add 3000");
  ASSERT_EQ(program.read_until_ending(" 3000").back(), "acked 3000 3000");
  program.send("pace 2000");
  // The exporter, on a port of the kernel's choice.
  Child exporter({BBX_LOGCAT, "metrics", "--serve", "127.0.0.1:0"}, env);
  const auto said = exporter.read_until_ending("/metrics");
  ASSERT_FALSE(said.empty());
  std::smatch m;
  ASSERT_TRUE(std::regex_search(said.back(), m, std::regex(":([0-9]+)/metrics")));
  const int exporter_port = std::stoi(m[1]);

  // promtool on what Prometheus will scrape: accepted, without a warning.
  httplib::Client client("127.0.0.1", exporter_port);
  auto scraped = client.Get("/metrics");
  ASSERT_TRUE(scraped);
  ASSERT_EQ(scraped->status, 200);
  {
    std::ofstream(dir + "/scrape.txt") << scraped->body;
    const auto check = blackbox::test::run_program(
        "/bin/sh", {"-c", fmt::format("promtool check metrics < {}/scrape.txt", dir)});
    EXPECT_EQ(check.status, 0) << check.out;
    EXPECT_EQ(check.out, "") << check.out;
  }

  // Prometheus, scraping twice a second.
  const int prom_port = blackbox::test::free_loopback_port();
  ASSERT_GT(prom_port, 0);
  std::ofstream(dir + "/prometheus.yml") << fmt::format(
      "global:\n  scrape_interval: 500ms\n  evaluation_interval: 500ms\n"
      "scrape_configs:\n  - job_name: blackbox\n    static_configs:\n"
      "      - targets: ['127.0.0.1:{}']\n",
      exporter_port);
  Child prometheus(
      {"/bin/sh", "-c",
       fmt::format("exec prometheus --config.file={0}/prometheus.yml --storage.tsdb.path={0}/tsdb "
                   "--web.listen-address=127.0.0.1:{1} > {0}/prometheus.log 2>&1",
                   dir, prom_port)});

  // A rate over 10 s once the series is older than that (a series that starts inside the
  // window reads low: Prometheus does not extrapolate past its first sample): 24 scrapes.
  ASSERT_TRUE(wait_for(prom_port, "count_over_time(http_server_requests_total[1m])",
                       [](double n) { return n >= 24; }))
      << "Prometheus never scraped enough samples; its log is in " << dir;
  const auto rate = query(prom_port, "rate(http_server_requests_total[10s])");
  ASSERT_TRUE(rate);
  std::printf("Prometheus: rate %.1f/s (paced at 2000/s)\n", *rate);
  EXPECT_NEAR(*rate, 2000.0, 2000.0 * 0.05);

  // The 99th percentile of 1,000 ns x 1..3,000: the 2,970th value, 2.97 ms; Prometheus
  // interpolates inside the bucket, a log-linear bin 1/30 wide there.
  const auto p99 = query(prom_port, "histogram_quantile(0.99, http_server_latency_seconds_bucket)");
  ASSERT_TRUE(p99);
  std::printf("Prometheus: histogram_quantile(0.99) %.6g s (true: 0.00297 s)\n", *p99);
  EXPECT_NEAR(*p99, 0.00297, 0.00297 * 0.05);
  const auto count = query(prom_port, "http_server_latency_seconds_count");
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 3000);
  const auto info = query(prom_port, "build_version_info{value=\"1.2.3-test\"}");
  ASSERT_TRUE(info);
  EXPECT_EQ(*info, 1);
  program.close_stdin();
  EXPECT_EQ(program.wait(), 0);
}

}  // namespace
