// `logcat ship` against the real thing: Debian's clickhouse-server (scripts/install-deps.sh
// installs it), started on loopback with a data directory of the test's own, and the table
// of share/clickhouse/blackbox_logs.sql. A shipper follows an archive directory while this
// process logs into it. It is killed with SIGKILL twice: once while a batch is in flight to
// a server that stopped answering (SIGSTOP: the server may still insert it when it goes on,
// an ambiguous failure), once while the server is down (the batch reached nobody: a cursor
// moved before the acknowledgement would lose it); each time a new shipper resumes from the
// state file. Then the server goes down and comes back under a running shipper. Every
// record must be in ClickHouse exactly once, with the archive's counts per level and its
// messages byte for byte.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"
#include "blackbox/retention.hpp"
#include "support/child.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::test::Child;

constexpr const char* kServer = "/usr/sbin/clickhouse-server";

// Waits until `ready` holds, asking every 20 ms. Gives up after three minutes: a guard
// against a hang, not a timing assertion (what is checked is checked once it holds).
bool wait_until(const std::function<bool()>& ready) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < give_up) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A ClickHouse server of the test's own: a data directory, two loopback ports.
class ClickHouse {
 public:
  explicit ClickHouse(std::string dir) : dir_(std::move(dir)) {
    http_port_ = blackbox::test::free_loopback_port();
    tcp_port_ = blackbox::test::free_loopback_port();
  }
  [[nodiscard]] int port() const { return http_port_; }
  [[nodiscard]] int tcp_port() const { return tcp_port_; }
  // The cluster "blackbox" of share/clickhouse/blackbox_logs_cluster.sql: one shard per
  // server given (by native port), before start().
  void set_cluster(const std::vector<const ClickHouse*>& shards) {
    cluster_ = "  <remote_servers><blackbox>\n";
    for (const ClickHouse* s : shards) {
      cluster_ += fmt::format(
          "    <shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>\n",
          s->tcp_port());
    }
    cluster_ += "  </blackbox></remote_servers>\n";
  }

  // Starts it and waits until it answers /ping.
  bool start() {
    std::ofstream(dir_ + "/config.xml") << fmt::format(
        "<yandex>\n"
        "  <logger><level>warning</level><console>1</console></logger>\n"
        "  <http_port>{1}</http_port>\n  <tcp_port>{2}</tcp_port>\n"
        "  <listen_host>127.0.0.1</listen_host>\n"
        "  <path>{0}/data/</path>\n  <tmp_path>{0}/tmp/</tmp_path>\n"
        "  <user_files_path>{0}/user_files/</user_files_path>\n"
        "  <users_config>/etc/clickhouse-server/users.xml</users_config>\n"
        "  <default_profile>default</default_profile>\n"
        "  <default_database>default</default_database>\n"
        "  <mark_cache_size>5368709120</mark_cache_size>\n{3}"
        "</yandex>\n",
        dir_, http_port_, tcp_port_, cluster_);
    server_ = std::make_unique<Child>(std::vector<std::string>{
        "/bin/sh", "-c",
        fmt::format("exec {} --config-file={}/config.xml >> {}/server.log 2>&1", kServer, dir_,
                    dir_)});
    return wait_until([this] {
      httplib::Client c("127.0.0.1", http_port_);
      c.set_connection_timeout(1, 0);
      const auto res = c.Get("/ping");
      return res && res->status == 200;
    });
  }
  // Shuts it down (SIGTERM) and waits for it to exit.
  void stop() {
    kill(server_->pid(), SIGTERM);
    server_->wait();
  }
  void pause() { kill(server_->pid(), SIGSTOP); }
  void resume() { kill(server_->pid(), SIGCONT); }

  // The answer to `sql`, or nullopt if the server did not give one.
  std::optional<std::string> query(const std::string& sql) const {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(30, 0);
    const auto res = c.Post("/", sql, "text/plain");
    if (!res || res->status != 200) return std::nullopt;
    return res->body;
  }
  std::uint64_t count(const std::string& sql) const {
    const auto answer = query(sql);
    return answer ? std::stoull(*answer) : 0;
  }

  // Runs each statement of an SQL file (';' between them). False if one was refused.
  bool run_sql_file(const std::string& path) const {
    std::string text = read_file(path);
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t end = std::min(text.find(';', at), text.size());
      const std::string statement = text.substr(at, end - at);
      at = end + 1;
      if (statement.find_first_not_of(" \n") == std::string::npos) continue;
      httplib::Client c("127.0.0.1", http_port_);
      c.set_read_timeout(30, 0);
      const auto res = c.Post("/", statement, "text/plain");
      if (!res || res->status != 200) {
        std::fprintf(stderr, "refused: %s\n%s\n", statement.c_str(),
                     res ? res->body.c_str() : httplib::to_string(res.error()).c_str());
        return false;
      }
    }
    return true;
  }

 private:
  std::string dir_;
  int http_port_ = 0, tcp_port_ = 0;
  std::string cluster_;
  std::unique_ptr<Child> server_;
};

// Logs `n` records numbered from `first` (levels and tags in turn, a string field that JSON
// and SQL must keep as it is), then flushes them to the archive.
void log_records(std::uint64_t first, std::uint64_t n) {
  static const char* kUsers[] = {"ada", "o'brien \"quoted\"", "żółw 日本", "back\\slash\ttab"};
  for (std::uint64_t i = first; i < first + n; ++i) {
    switch (i % 4) {
      case 0:
        BBX_LOG("ship", blackbox::Level::info, "request {id} by {user}", i, kUsers[i % 4]);
        break;
      case 1:
        BBX_LOG("ship", blackbox::Level::debug, "request {id} by {user}", i, kUsers[i % 4]);
        break;
      case 2:
        BBX_LOG("db", blackbox::Level::warn, "slow query {id} took {ms:.3f} ms", i,
                static_cast<double>(i) / 7.0);
        break;
      default:
        BBX_LOG("db", blackbox::Level::error, "query {id} failed for {user}", i, kUsers[i % 4]);
    }
  }
  ASSERT_TRUE(blackbox::flush());
}

class Shipper {
 public:
  // `extra`: more options, as shell words.
  // `extra`: more options, as shell words. `telemetry_dir`: its ring directory (else it has
  // no ring file: --no-telemetry).
  Shipper(const std::string& dir, const std::string& archive, const std::string& to,
          const std::string& extra = "", const std::string& telemetry_dir = "")
      : log_(dir + "/ship.log") {
    std::vector<std::pair<std::string, std::string>> env;
    if (!telemetry_dir.empty()) env = {{"BBX_DIR", telemetry_dir}, {"BBX_ARCHIVE_DIR", "off"}};
    child_ = std::make_unique<Child>(
        std::vector<std::string>{
            "/bin/sh", "-c",
            fmt::format("exec {} ship {} --to '{}' --state {}/ship.state --batch-records 200 "
                        "--batch-wait 0.05 --timeout 1 --backoff-max 0.5 --interval 0.05 "
                        "{} {} 2>> {}",
                        BBX_LOGCAT, archive, to, dir, telemetry_dir.empty() ? "--no-telemetry" : "",
                        extra, log_)},
        env);
  }
  [[nodiscard]] pid_t pid() const { return child_->pid(); }
  // Waits for it to exit by itself: its exit status.
  int wait() { return child_->wait(); }
  // Retries it has logged so far.
  [[nodiscard]] std::size_t retries() const {
    const std::string text = read_file(log_);
    std::size_t n = 0;
    for (std::size_t at = text.find("again in"); at != std::string::npos;
         at = text.find("again in", at + 1)) {
      ++n;
    }
    return n;
  }
  void kill_hard() {
    kill(child_->pid(), SIGKILL);
    child_->wait();
  }
  int stop() {
    kill(child_->pid(), SIGTERM);
    return child_->wait();
  }
  [[nodiscard]] const std::string& log() const { return log_; }  // its stderr

 private:
  std::string log_;
  std::unique_ptr<Child> child_;
};

TEST(ClickHouse, ShipsEveryRecordExactlyOnceThroughKillsAndServerStops) {
  if (access(kServer, X_OK) != 0) {
    GTEST_SKIP() << kServer
                 << " is not installed (scripts/install-deps.sh installs Debian's "
                    "clickhouse-server)";
  }
  const std::string dir = blackbox::test::make_temp_dir("clickhouse");
  const std::string archive = blackbox::test::make_temp_dir("archive");
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "shiptest";
  config.levels = "trace";
  config.archive_dir = archive;
  ASSERT_TRUE(blackbox::init(config).ok());

  ClickHouse server(dir);
  ASSERT_TRUE(server.start()) << "clickhouse-server did not start; see " << dir << "/server.log";
  ASSERT_TRUE(
      server.query(read_file(std::string(BBX_SOURCE_DIR) + "/share/clickhouse/blackbox_logs.sql")))
      << "the table of share/clickhouse/blackbox_logs.sql was refused";
  const std::string exact = "SELECT count() FROM blackbox_logs FINAL";
  const std::string to =
      fmt::format("clickhouse+http://127.0.0.1:{}/?table=blackbox_logs", server.port());

  // 1. A shipper follows the archive; the first records reach the table.
  auto shipper = std::make_unique<Shipper>(dir, archive, to);
  log_records(0, 4'000);
  ASSERT_TRUE(wait_until([&] { return server.count(exact) == 4'000; }))
      << read_file(shipper->log());

  // 2. The server stops answering; the shipper's batch times out and is tried again; the
  //    shipper is killed (SIGKILL) then, with a batch it sent and never heard back about.
  server.pause();
  log_records(4'000, 4'000);
  ASSERT_TRUE(wait_until([&] { return shipper->retries() >= 1; })) << read_file(shipper->log());
  shipper->kill_hard();
  server.resume();

  // 3. A new shipper resumes from the state file.
  shipper = std::make_unique<Shipper>(dir, archive, to);
  ASSERT_TRUE(wait_until([&] { return server.count(exact) == 8'000; }))
      << read_file(shipper->log());

  // 4. The server shuts down; the shipper cannot connect and tries again; it is killed
  //    then, with a batch nobody has; the server starts again, and so does a new shipper.
  server.stop();
  std::size_t retries_before = shipper->retries();
  log_records(8'000, 4'000);
  ASSERT_TRUE(wait_until([&] { return shipper->retries() > retries_before; }))
      << read_file(shipper->log());
  shipper->kill_hard();
  ASSERT_TRUE(server.start());
  shipper = std::make_unique<Shipper>(dir, archive, to);
  ASSERT_TRUE(wait_until([&] { return server.count(exact) == 12'000; }))
      << read_file(shipper->log());

  // 5. The server shuts down again; the same shipper keeps the records until it is back.
  server.stop();
  retries_before = shipper->retries();
  log_records(12'000, 2'000);
  ASSERT_TRUE(wait_until([&] { return shipper->retries() > retries_before; }))
      << read_file(shipper->log());
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(wait_until([&] { return server.count(exact) == 14'000; }))
      << read_file(shipper->log());
  EXPECT_EQ(shipper->stop(), 0) << read_file(shipper->log());

  // Every record once, as the archive has them: counts per level, and each message's bytes.
  std::map<std::string, std::uint64_t> want;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::string> messages;  // (slot, seq)
  std::string error;
  auto reader = blackbox::ArchiveReader::open(archive, &error);
  ASSERT_TRUE(reader) << error;
  reader->poll([&](const blackbox::Record& r) {
    if (r.tag != "ship" && r.tag != "db") return;
    ++want[std::string(blackbox::level_name(r.level))];
    messages[{r.slot, r.sequence}] = r.message;
  });
  ASSERT_EQ(messages.size(), 14'000u);
  std::map<std::string, std::uint64_t> got;
  const auto by_level = server.query(
      "SELECT level, count() FROM blackbox_logs FINAL WHERE app = 'shiptest' "
      "AND tag IN ('ship', 'db') GROUP BY level FORMAT TabSeparated");
  ASSERT_TRUE(by_level);
  std::istringstream lines(*by_level);
  for (std::string level, n; std::getline(lines, level, '\t') && std::getline(lines, n);) {
    got[level] = std::stoull(n);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(server.count("SELECT uniqExact(host, pid, process_start_ns, slot, sequence) FROM "
                         "blackbox_logs WHERE tag IN ('ship', 'db')"),
            14'000u);
  // The text as logged (quotes, backslashes, tabs, UTF-8), through JSON and ClickHouse.
  const auto texts = server.query(
      "SELECT slot, sequence, hex(message) FROM blackbox_logs FINAL WHERE app = 'shiptest' "
      "AND tag IN ('ship', 'db') FORMAT TabSeparated");
  ASSERT_TRUE(texts);
  std::size_t same = 0;
  std::istringstream rows(*texts);
  for (std::string slot, seq, hex; std::getline(rows, slot, '\t') &&
                                   std::getline(rows, seq, '\t') && std::getline(rows, hex);) {
    const auto it = messages.find({static_cast<std::uint32_t>(std::stoul(slot)), std::stoull(seq)});
    ASSERT_NE(it, messages.end()) << slot << " " << seq;
    std::string want_hex;
    for (const unsigned char c : it->second) want_hex += fmt::format("{:02X}", c);
    ASSERT_EQ(hex, want_hex) << it->second;
    ++same;
  }
  EXPECT_EQ(same, 14'000u);
  const std::uint64_t rows_kept = server.count("SELECT count() FROM blackbox_logs");
  std::printf(
      "ClickHouse: 14,000 records exactly once (FINAL); %llu rows before merging, "
      "%zu retries logged\n",
      static_cast<unsigned long long>(rows_kept), shipper->retries());
}

}  // namespace

// ---- A two-shard cluster ---------------------------------------------------------------------
// Two clickhouse-server processes as the two shards of the cluster "blackbox", with the
// tables of share/clickhouse/blackbox_logs_cluster.sql on each (a ReplacingMergeTree per
// shard, a Distributed table over them sharded by record identity). Two simulated hosts
// (their own ring and archive directories, BBX_HOST, an app each) whose services run as
// child processes, a shipper each, inserting through the Distributed table of a different
// node with insert_distributed_sync=1 (an insert is acknowledged once every shard has its
// rows). A shipper is killed and restarted; a shard stops and starts again under both.
namespace cluster {

struct Host {
  std::string name, app, dir, rings, archive;
};

// A service of `host` runs, logs records [first, first + n) and exits (a new process each
// time, as a restarted service is).
void run_service(const Host& host, std::uint64_t first, std::uint64_t n) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    blackbox::Config config = blackbox::Config::from_env();
    config.app = host.app;
    config.host = host.name;
    config.levels = "trace";
    config.dir = host.rings;
    config.archive_dir = host.archive;
    if (!blackbox::init(config).ok()) _exit(3);
    log_records(first, n);
    blackbox::shutdown();
    _exit(::testing::Test::HasFailure() ? 4 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// Records in `archive` (every record: the shipper ships them all).
std::uint64_t archived(const std::string& archive) {
  std::string error;
  auto reader = blackbox::ArchiveReader::open(archive, &error);
  EXPECT_TRUE(reader) << error;
  std::uint64_t n = 0;
  if (reader) reader->poll([&](const blackbox::Record&) { ++n; });
  return n;
}

// `logcat stats ARCHIVE`'s count per level ("levels T:0 D:27 ..."), by level name.
std::map<std::string, std::uint64_t> logcat_stats_levels(const std::string& archive) {
  Child stats({"/bin/sh", "-c", fmt::format("{} stats {}", BBX_LOGCAT, archive)});
  std::istringstream lines(stats.read_rest());
  std::map<std::string, std::uint64_t> out;
  const std::map<char, std::string> names = {{'T', "trace"}, {'D', "debug"}, {'I', "info"},
                                             {'W', "warn"},  {'E', "error"}, {'F', "fatal"}};
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("levels")) continue;
    std::istringstream words(line.substr(6));
    for (std::string w; words >> w;) {
      if (w.size() > 2 && w[1] == ':' && std::stoull(w.substr(2)) != 0) {
        out[names.at(w[0])] = std::stoull(w.substr(2));
      }
    }
  }
  return out;
}

}  // namespace cluster

TEST(ClickHouse, TwoShardsTwoHostsEveryRecordOnceThroughAKillAndAShardStop) {
  if (access(kServer, X_OK) != 0) {
    GTEST_SKIP() << kServer
                 << " is not installed (scripts/install-deps.sh installs Debian's "
                    "clickhouse-server)";
  }
  ClickHouse node1(blackbox::test::make_temp_dir("shard1"));
  ClickHouse node2(blackbox::test::make_temp_dir("shard2"));
  for (ClickHouse* node : {&node1, &node2}) node->set_cluster({&node1, &node2});
  for (ClickHouse* node : {&node1, &node2}) {
    ASSERT_TRUE(node->start()) << "clickhouse-server did not start";
    ASSERT_TRUE(node->run_sql_file(std::string(BBX_SOURCE_DIR) +
                                   "/share/clickhouse/blackbox_logs_cluster.sql"))
        << "the tables of share/clickhouse/blackbox_logs_cluster.sql were refused";
  }
  std::vector<cluster::Host> hosts;
  for (const auto& [name, app] : {std::pair{"host-a", "orders"}, std::pair{"host-b", "billing"}}) {
    const std::string dir = blackbox::test::make_temp_dir(name);
    hosts.push_back({name, app, dir, dir + "/rings", dir + "/archive"});
    ASSERT_EQ(mkdir(hosts.back().rings.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(hosts.back().archive.c_str(), 0700), 0);
  }
  auto to = [](const ClickHouse& node) {
    return fmt::format(
        "clickhouse+http://127.0.0.1:{}/?table=blackbox_logs&insert_distributed_sync=1",
        node.port());
  };
  // Host a ships through node 1, host b through node 2.
  auto ship = [&](std::size_t h) {
    return std::make_unique<Shipper>(hosts[h].dir, hosts[h].archive, to(h == 0 ? node1 : node2));
  };
  const std::string exact = "SELECT count() FROM blackbox_logs FINAL";
  // Waits until the cluster has at least `want` records, then they must be exactly `want`
  // (a copy on another shard than its first would be counted twice).
  auto arrived = [&](std::uint64_t want) {
    return wait_until([&] { return node1.count(exact) >= want; }) && node1.count(exact) == want;
  };
  auto all_archived = [&] {
    return cluster::archived(hosts[0].archive) + cluster::archived(hosts[1].archive);
  };
  auto log_round = [&](std::uint64_t first) {
    for (const auto& host : hosts) cluster::run_service(host, first, 2'000);
  };

  // 1. Both hosts log; both shippers deliver.
  std::unique_ptr<Shipper> shippers[2] = {ship(0), ship(1)};
  log_round(0);
  std::uint64_t want = all_archived();
  ASSERT_TRUE(arrived(want)) << read_file(shippers[0]->log()) << read_file(shippers[1]->log());

  // 2. Node 1 stops answering (SIGSTOP) while both hosts log on: host a's insert times out and
  //    is tried again, and its shipper is killed (kill -9) with a batch in flight that node 1
  //    may still insert when it goes on. A new shipper resumes from the state file and sends
  //    those records again: the sharding key puts each copy on its first copy's shard.
  node1.pause();
  log_round(2'000);
  ASSERT_TRUE(wait_until([&] { return shippers[0]->retries() >= 1; }))
      << read_file(shippers[0]->log());
  shippers[0]->kill_hard();
  node1.resume();
  shippers[0] = ship(0);
  want = all_archived();
  ASSERT_TRUE(arrived(want)) << read_file(shippers[0]->log());

  // 3. Shard 2 stops: host b's shipper cannot connect, host a's inserts cannot reach the
  //    shard (synchronous inserts fail, perhaps after shard 1 took its rows); both try again
  //    until the shard is back.
  node2.stop();
  const std::size_t retries_before[2] = {shippers[0]->retries(), shippers[1]->retries()};
  log_round(4'000);
  for (int h = 0; h < 2; ++h) {
    ASSERT_TRUE(wait_until([&] { return shippers[h]->retries() > retries_before[h]; }))
        << read_file(shippers[h]->log());
  }
  ASSERT_TRUE(node2.start());
  want = all_archived();
  ASSERT_TRUE(arrived(want)) << read_file(shippers[0]->log()) << read_file(shippers[1]->log());
  for (auto& s : shippers) EXPECT_EQ(s->stop(), 0) << read_file(s->log());

  // Every record once: one row per identity across both shards, both shards used, and the
  // counts per app and level are `logcat stats`'s on each host's archive.
  EXPECT_EQ(node2.count(exact), want);  // the same answer from either node
  EXPECT_EQ(node1.count("SELECT uniqExact(host, app, pid, process_start_ns, slot, sequence) "
                        "FROM blackbox_logs"),
            want);
  EXPECT_GT(node1.count("SELECT count() FROM blackbox_logs_local FINAL"), want / 4);
  EXPECT_GT(node2.count("SELECT count() FROM blackbox_logs_local FINAL"), want / 4);
  const auto by_level = node1.query(
      "SELECT host, level, count() FROM blackbox_logs FINAL GROUP BY host, level "
      "FORMAT TabSeparated");
  ASSERT_TRUE(by_level);
  std::map<std::string, std::map<std::string, std::uint64_t>> got;
  std::istringstream lines(*by_level);
  for (std::string host, level, n; std::getline(lines, host, '\t') &&
                                   std::getline(lines, level, '\t') && std::getline(lines, n);) {
    got[host][level] = std::stoull(n);
  }
  for (const auto& host : hosts) {
    EXPECT_EQ(got[host.name], cluster::logcat_stats_levels(host.archive)) << host.name;
  }
  const auto apps = node1.query(
      "SELECT host, app, count() FROM blackbox_logs FINAL GROUP BY host, app ORDER BY host "
      "FORMAT TabSeparated");
  ASSERT_TRUE(apps);
  EXPECT_EQ(*apps,
            fmt::format("host-a\torders\t{}\nhost-b\tbilling\t{}\n",
                        cluster::archived(hosts[0].archive), cluster::archived(hosts[1].archive)));
  std::printf("two shards: %llu records once; %llu rows before merging; retries %zu and %zu\n",
              static_cast<unsigned long long>(want),
              static_cast<unsigned long long>(node1.count("SELECT count() FROM blackbox_logs")),
              shippers[0]->retries(), shippers[1]->retries());
}

// ---- OTLP/HTTP -------------------------------------------------------------------------------
// The receiver is tests/export/otlp_receiver.mjs: Node.js decoding with the OpenTelemetry
// .proto files and a conformance-tested protobuf runtime (scripts/install-export-checkers.sh
// installs them). OTLP has no idempotent insert: a batch sent again after an ambiguous
// failure arrives twice, with the same log.record.uid on each record, which is how a
// receiver drops the copy. So the test checks that every record arrives, that every copy is
// the same record, and counts the copies.
namespace otlp {

const std::string kExportDir = std::string(BBX_SOURCE_DIR) + "/tests/export";

std::optional<std::string> missing_tools() {
  if (std::system("command -v node >/dev/null && command -v protoc >/dev/null") != 0) {
    return "node or protoc is not installed (scripts/install-export-checkers.sh installs them)";
  }
  if (access((kExportDir + "/node_modules/@bufbuild/protobuf").c_str(), R_OK) != 0) {
    return "the export checkers' npm packages are not installed "
           "(scripts/install-export-checkers.sh)";
  }
  return std::nullopt;
}

// The OpenTelemetry protos as a descriptor set, for the receiver.
std::string descriptors(const std::string& dir) {
  const std::string protos =
      kExportDir + "/node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos";
  const std::string out = dir + "/otlp.pb";
  const std::string command = fmt::format(
      "protoc -I {0} --include_imports --descriptor_set_out={1} "
      "{0}/opentelemetry/proto/collector/logs/v1/logs_service.proto",
      protos, out);
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return out;
}

class Receiver {
 public:
  Receiver(std::string dir, std::string options = "")
      : dir_(std::move(dir)),
        options_(std::move(options)),
        port_(blackbox::test::free_loopback_port()),
        descriptors_(descriptors(dir_)) {}
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string records_path() const { return dir_ + "/received.jsonl"; }

  bool start() {
    server_ = std::make_unique<Child>(std::vector<std::string>{
        "/bin/sh", "-c",
        fmt::format("exec node {}/otlp_receiver.mjs {} {} {} {} 2>> {}/receiver.log", kExportDir,
                    descriptors_, port_, records_path(), options_, dir_)});
    const auto lines = server_->read_until("listening");
    return !lines.empty() && lines.back() == "listening";
  }
  void stop() {
    kill(server_->pid(), SIGTERM);
    server_->wait();
  }
  void pause() { kill(server_->pid(), SIGSTOP); }
  void resume() { kill(server_->pid(), SIGCONT); }

  // The records received, by uid (each copy), and how many lines in all.
  std::map<std::string, std::vector<std::string>> received(std::size_t* lines = nullptr) const {
    std::map<std::string, std::vector<std::string>> by_uid;
    std::ifstream in(records_path());
    std::size_t n = 0;
    for (std::string line; std::getline(in, line); ++n) {
      const std::size_t at = line.find("\"uid\":\"");
      const std::size_t end = line.find('"', at + 7);
      if (at == std::string::npos || end == std::string::npos) continue;
      // The copy is compared without how it was encoded (the same record, sent again).
      const std::size_t encoding = line.find(",\"encoding\":");
      by_uid[line.substr(at + 7, end - at - 7)].push_back(line.substr(0, encoding));
    }
    if (lines != nullptr) *lines = n;
    return by_uid;
  }
  std::size_t unique() const { return received().size(); }

 private:
  std::string dir_, options_;
  int port_;
  std::string descriptors_;
  std::unique_ptr<Child> server_;
};

// What the archive has: uid -> (level, message), for the records of log_records().
std::map<std::string, std::pair<blackbox::Level, std::string>> archived(const std::string& dir) {
  std::map<std::string, std::pair<blackbox::Level, std::string>> out;
  std::string error;
  auto reader = blackbox::ArchiveReader::open(dir, &error);
  EXPECT_TRUE(reader) << error;
  if (!reader) return out;
  reader->poll([&](const blackbox::Record& r) {
    if (r.tag != "ship" && r.tag != "db") return;
    out[fmt::format("{}-{}-{}-{}", r.pid, r.process_start_ns, r.slot, r.sequence)] = {r.level,
                                                                                      r.message};
  });
  return out;
}

// A JSON string's text as the receiver wrote it (JSON.stringify), for comparison with a
// message: the escapes it uses undone.
std::string json_text(const std::string& line, const std::string& key) {
  const std::string open = "\"" + key + "\":\"";
  std::size_t i = line.find(open);
  if (i == std::string::npos) return "<none>";
  std::string out;
  for (i += open.size(); i < line.size() && line[i] != '"'; ++i) {
    if (line[i] != '\\') {
      out += line[i];
      continue;
    }
    const char c = line[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
  }
  return out;
}

std::string severity_of(blackbox::Level level) {
  return "\"severity\":" + std::to_string(1 + 4 * static_cast<int>(level)) + ",";
}

}  // namespace otlp

TEST(Otlp, ShipsEveryRecordThroughKillsAndReceiverStops) {
  if (const auto why = otlp::missing_tools()) GTEST_SKIP() << *why;
  const std::string dir = blackbox::test::make_temp_dir("otlp");
  const std::string archive = blackbox::test::make_temp_dir("archive");
  const std::string rings = blackbox::test::make_temp_dir("shiprings");
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "shiptest";
  config.levels = "trace";
  config.archive_dir = archive;
  ASSERT_TRUE(blackbox::init(config).ok());

  otlp::Receiver receiver(dir);
  ASSERT_TRUE(receiver.start()) << read_file(dir + "/receiver.log");
  const std::string to = fmt::format("otlp+http://127.0.0.1:{}", receiver.port());

  // 1. A shipper follows the archive (protobuf, gzip: the defaults).
  auto shipper = std::make_unique<Shipper>(dir, archive, to);
  log_records(0, 4'000);
  ASSERT_TRUE(wait_until([&] { return receiver.unique() == 4'000; })) << read_file(shipper->log());

  // 2. The receiver stops answering; a batch times out and is tried again; the shipper is
  //    killed with a batch in flight (the receiver may take it when it goes on).
  receiver.pause();
  log_records(4'000, 4'000);
  ASSERT_TRUE(wait_until([&] { return shipper->retries() >= 1; })) << read_file(shipper->log());
  shipper->kill_hard();
  receiver.resume();
  shipper = std::make_unique<Shipper>(dir, archive, to);
  ASSERT_TRUE(wait_until([&] { return receiver.unique() == 8'000; })) << read_file(shipper->log());

  // 3. The receiver is down; the shipper is killed while it tries again; both start again.
  receiver.stop();
  std::size_t retries_before = shipper->retries();
  log_records(8'000, 4'000);
  ASSERT_TRUE(wait_until([&] { return shipper->retries() > retries_before; }))
      << read_file(shipper->log());
  shipper->kill_hard();
  ASSERT_TRUE(receiver.start());
  // This one keeps telemetry in a ring file of its own, read below with logcat metrics.
  shipper = std::make_unique<Shipper>(dir, archive, to, "", rings);
  ASSERT_TRUE(wait_until([&] { return receiver.unique() == 12'000; })) << read_file(shipper->log());

  // 4. The receiver goes down and comes back under the same shipper.
  receiver.stop();
  retries_before = shipper->retries();
  log_records(12'000, 2'000);
  ASSERT_TRUE(wait_until([&] { return shipper->retries() > retries_before; }))
      << read_file(shipper->log());
  ASSERT_TRUE(receiver.start());
  ASSERT_TRUE(wait_until([&] { return receiver.unique() == 14'000; })) << read_file(shipper->log());

  // Its telemetry, as an operator reads it: the 6,000 records it acknowledged (from 8,000 on),
  // and its retries.
  Child metrics_reader({"/bin/sh", "-c",
                        fmt::format("BBX_DIR={} {} metrics -p {} -o prometheus", rings, BBX_LOGCAT,
                                    shipper->pid())});
  const std::string metrics = metrics_reader.read_rest();
  EXPECT_NE(metrics.find(fmt::format(
                "logcat_ship_records_total{{to=\"{}\",app=\"logcat-ship\",pid=\"{}\"}} 6000", to,
                shipper->pid())),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(fmt::format(
                "logcat_ship_retries_total{{to=\"{}\",app=\"logcat-ship\",pid=\"{}\"}} {}", to,
                shipper->pid(), shipper->retries() - retries_before)),
            std::string::npos)
      << metrics;
  EXPECT_EQ(shipper->stop(), 0) << read_file(shipper->log());

  // Every record, each copy the same record, as the archive has it.
  const auto want = otlp::archived(archive);
  ASSERT_EQ(want.size(), 14'000u);
  std::size_t lines = 0;
  const auto got = receiver.received(&lines);
  std::size_t ours = 0;
  for (const auto& [uid, copies] : got) {
    const auto it = want.find(uid);
    if (it == want.end()) continue;  // not one of log_records()'s
    ++ours;
    for (const std::string& copy : copies) ASSERT_EQ(copy, copies.front()) << uid;
    const std::string& line = copies.front();
    EXPECT_EQ(otlp::json_text(line, "body"), it->second.second) << line;
    EXPECT_NE(line.find(otlp::severity_of(it->second.first)), std::string::npos) << line;
    EXPECT_NE(line.find("\"service\":\"shiptest\""), std::string::npos) << line;
  }
  EXPECT_EQ(ours, 14'000u);
  std::printf("OTLP: 14,000 records, %zu copies sent again after the kill\n", lines - got.size());

  // The shipper's retention hold in the archive directory is its cursor's floor: the newest
  // record it shipped, less the cursor's lateness window (kLateNs, 10 minutes).
  std::int64_t newest = 0;
  std::string error;
  auto archived = blackbox::ArchiveReader::open(archive, &error);
  ASSERT_TRUE(archived) << error;
  archived->poll([&](const blackbox::Record& r) { newest = std::max(newest, r.time_ns); });
  const auto holds = blackbox::retention_holds(archive);
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_TRUE(holds[0].holder.starts_with("ship-")) << holds[0].holder;
  EXPECT_EQ(holds[0].through_ns, newest - 600'000'000'000);
}

// A shipper with no inputs named follows the ring directory: the ring of a process that
// starts after it is read live (its records arrive although that process archives nothing),
// and once the process exits and its ring file is gone, the shipper lets go of its mapping.
TEST(Otlp, FollowsTheRingsOfProcessesThatStartLater) {
  if (const auto why = otlp::missing_tools()) GTEST_SKIP() << *why;
  const std::string dir = blackbox::test::make_temp_dir("otlp3");
  const std::string rings = dir + "/rings", archive = dir + "/archive";
  ASSERT_EQ(mkdir(rings.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(archive.c_str(), 0700), 0);
  otlp::Receiver receiver(dir);
  ASSERT_TRUE(receiver.start());
  Child shipper({"/bin/sh", "-c",
                 fmt::format("exec {} ship --to otlp+http://127.0.0.1:{} --state {}/ship.state "
                             "--batch-wait 0.05 --interval 0.05 --no-telemetry 2>> {}/ship.log",
                             BBX_LOGCAT, receiver.port(), dir, dir)},
                {{"BBX_DIR", rings}, {"BBX_ARCHIVE_DIR", archive}});
  // The shipper has opened its inputs once its retention hold is there.
  ASSERT_TRUE(wait_until([&] { return !blackbox::retention_holds(archive).empty(); }))
      << read_file(dir + "/ship.log");
  // Started after the shipper, logging into its ring only (no archive), until told to exit.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t service = fork();
  ASSERT_GE(service, 0);
  if (service == 0) {
    close(go[1]);
    blackbox::Config config = blackbox::Config::from_env();
    config.app = "late";
    config.levels = "trace";
    config.dir = rings;
    config.archive_dir.clear();
    if (!blackbox::init(config).ok()) _exit(3);
    for (int i = 0; i < 500; ++i) BBX_LOG("late", blackbox::Level::info, "late record {id}", i);
    char c;
    (void)!read(go[0], &c, 1);
    blackbox::shutdown();
    _exit(0);
  }
  close(go[0]);
  auto ours = [&] {
    std::size_t n = 0;
    for (const auto& [uid, copies] : receiver.received()) {
      if (uid.starts_with(std::to_string(service) + "-")) ++n;
    }
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return ours() == 500; })) << read_file(dir + "/ship.log");
  // The service exits; its ring file is removed; the shipper unmaps it.
  const std::string ring_name = fmt::format("late.{}.bbr", service);
  EXPECT_NE(read_file(fmt::format("/proc/{}/maps", shipper.pid())).find(ring_name),
            std::string::npos);
  close(go[1]);
  int status = 0;
  ASSERT_EQ(waitpid(service, &status, 0), service);
  EXPECT_TRUE(wait_until([&] {
    return read_file(fmt::format("/proc/{}/maps", shipper.pid())).find(ring_name) ==
           std::string::npos;
  })) << "the shipper still maps "
      << ring_name;
  EXPECT_EQ(ours(), 500u);
  kill(shipper.pid(), SIGTERM);
  EXPECT_EQ(shipper.wait(), 0) << read_file(dir + "/ship.log");
}

// JSON and zstd, the OTLP retry rules (503 with Retry-After is tried again; a 500 is not:
// the shipper stops with the batch kept for the next start), and a partial success counted.
TEST(Otlp, JsonZstdRetryRulesAndPartialSuccess) {
  if (const auto why = otlp::missing_tools()) GTEST_SKIP() << *why;
  const std::string dir = blackbox::test::make_temp_dir("otlp2");
  const std::string archive = blackbox::test::make_temp_dir("archive2");
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "shiptest";
  config.levels = "trace";
  config.archive_dir = archive;
  ASSERT_TRUE(blackbox::init(config).ok());
  log_records(0, 1'000);

  {  // A 500 is not retryable (OTLP): exit 1, nothing acknowledged, no state written.
    otlp::Receiver refusing(dir, "--answer 500:1000");
    ASSERT_TRUE(refusing.start());
    Shipper shipper(dir, archive, fmt::format("otlp+http://127.0.0.1:{}", refusing.port()),
                    "--once");
    EXPECT_EQ(shipper.wait(), 1) << read_file(shipper.log());
    EXPECT_EQ(shipper.retries(), 0u) << read_file(shipper.log());
    EXPECT_NE(access((dir + "/ship.state").c_str(), F_OK), 0);
    refusing.stop();
  }
  otlp::Receiver receiver(dir, "--answer 503:3 --reject 7");
  ASSERT_TRUE(receiver.start());
  Shipper shipper(dir, archive,
                  fmt::format("otlp+http://127.0.0.1:{}/v1/logs?encoding=json", receiver.port()),
                  "--once --compress zstd");
  EXPECT_EQ(shipper.wait(), 0) << read_file(shipper.log());
  EXPECT_EQ(shipper.retries(), 3u) << read_file(shipper.log());
  const std::string log = read_file(shipper.log());
  EXPECT_NE(log.find("7 records rejected: test says no"), std::string::npos) << log;
  EXPECT_NE(log.find(", 3 tries again, 7 rejected"), std::string::npos) << log;
  const auto got = receiver.received();
  const auto want = otlp::archived(archive);
  std::size_t ours = 0;
  for (const auto& [uid, copies] : got) {
    if (want.count(uid) == 0) continue;
    ++ours;
    EXPECT_EQ(copies.size(), 1u) << uid;
    EXPECT_EQ(otlp::json_text(copies.front(), "body"), want.at(uid).second);
  }
  EXPECT_EQ(ours, 1'000u);
  EXPECT_NE(read_file(receiver.records_path()).find("\"encoding\":\"application/json zstd\""),
            std::string::npos);
}
