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

// A ClickHouse server of the test's own: a data directory, two loopback ports.
class ClickHouse {
 public:
  explicit ClickHouse(std::string dir) : dir_(std::move(dir)) {
    http_port_ = blackbox::test::free_loopback_port();
    const int tcp_port = blackbox::test::free_loopback_port();
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
        "  <mark_cache_size>5368709120</mark_cache_size>\n"
        "</yandex>\n",
        dir_, http_port_, tcp_port);
  }
  [[nodiscard]] int port() const { return http_port_; }

  // Starts it and waits until it answers /ping.
  bool start() {
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

 private:
  std::string dir_;
  int http_port_ = 0;
  std::unique_ptr<Child> server_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

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
  Shipper(const std::string& dir, const std::string& archive, int port) : log_(dir + "/ship.log") {
    child_ = std::make_unique<Child>(std::vector<std::string>{
        "/bin/sh", "-c",
        fmt::format("exec {} ship {} --to 'clickhouse+http://127.0.0.1:{}/?table=blackbox_logs' "
                    "--state {}/ship.state --batch-records 200 --batch-wait 0.05 --timeout 1 "
                    "--backoff-max 0.5 --interval 0.05 2>> {}",
                    BBX_LOGCAT, archive, port, dir, log_)});
  }
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

  // 1. A shipper follows the archive; the first records reach the table.
  auto shipper = std::make_unique<Shipper>(dir, archive, server.port());
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
  shipper = std::make_unique<Shipper>(dir, archive, server.port());
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
  shipper = std::make_unique<Shipper>(dir, archive, server.port());
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
