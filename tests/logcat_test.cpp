// logcat through its command line, against archives and a ring this test writes: each
// output format, each filter alone and combined, merge order, damaged input (exit 1, every
// good record printed), usage errors (exit 2) and a closed pipe (exit 0).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "support/test_env.hpp"

namespace {

struct Output {
  int status = -1;
  std::string out;
};

// Runs a shell command line (stdout and stderr together).
Output shell(const std::string& command) {
  Output run;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return run;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) run.out.append(buf, n);
  const int status = pclose(p);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

Output logcat(const std::string& args) { return shell(std::string(BBX_LOGCAT) + " " + args); }

class LogcatTest : public ::testing::Test {
 protected:
  // One archive: records of three tags and four levels, one with a trace, from two threads.
  void SetUp() override {
    dir_ = blackbox::test::make_temp_dir("archive");
    blackbox::Config c = blackbox::Config::from_env();
    c.app = "logcat_test";
    c.levels = "trace";
    c.archive_dir = dir_;
    ASSERT_TRUE(blackbox::init(c).ok());
    BBX_LOG("net", blackbox::Level::debug, "connect {host}:{port}", "db1", 5432);
    BBX_LOG("db", blackbox::Level::info, "query {sql} took {ms:.1f} ms", "select 1", 0.25);
    std::thread([] {
      BBX_LOG("db", blackbox::Level::warn, "slow query {sql}", "select *");
    }).join();
    {
      blackbox::TraceScope scope(*blackbox::TraceContext::parse(
          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
      BBX_LOG("http", blackbox::Level::error, "request {id} failed: {why}", 42, "timeout \"x\"");
    }
    BBX_LOG("net", blackbox::Level::info, "closed");
    ASSERT_TRUE(blackbox::flush());
  }
  std::string dir_;
};

TEST_F(LogcatTest, RawPrintsEveryMessageInTimeOrder) {
  const Output r = logcat(dir_ + " -o raw");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out,
            "connect db1:5432\n"
            "query select 1 took 0.2 ms\n"
            "slow query select *\n"
            "request 42 failed: timeout \"x\"\n"
            "closed\n");
}

TEST_F(LogcatTest, FiltersAloneAndCombined) {
  EXPECT_EQ(logcat(dir_ + " -o raw -l warn").out,
            "slow query select *\nrequest 42 failed: timeout \"x\"\n");
  EXPECT_EQ(logcat(dir_ + " -o raw 'db:W' '*:S'").out, "slow query select *\n");
  EXPECT_EQ(logcat(dir_ + " -o raw 'net:S'").out,
            "query select 1 took 0.2 ms\nslow query select *\nrequest 42 failed: timeout \"x\"\n");
  EXPECT_EQ(logcat(dir_ + " -o raw -e 'select \\d'").out, "query select 1 took 0.2 ms\n");
  EXPECT_EQ(logcat(dir_ + " -o raw -e query -l warn").out, "slow query select *\n");
  EXPECT_EQ(logcat(dir_ + " -o raw 'net:I' '*:S'").out, "closed\n");
}

TEST_F(LogcatTest, TimeThreadTraceAndLastN) {
  EXPECT_EQ(logcat(dir_ + " -o raw -n 2").out, "request 42 failed: timeout \"x\"\nclosed\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --trace 0AF7651916CD43DD8448EB211C80319C").out,
            "request 42 failed: timeout \"x\"\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --trace 0af7651916cd43dd8448eb211c803190").out, "");
  EXPECT_EQ(logcat(dir_ + " -o raw --since 1h -l error").out, "request 42 failed: timeout \"x\"\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --until 1h").out, "");
  EXPECT_EQ(logcat(dir_ + " -o raw --since 2200-01-01T00:00:00Z").out, "");
  EXPECT_EQ(logcat(dir_ + " -o raw --until 2200-01-01T00:00:00.5Z -n 1").out, "closed\n");
  // The warning came from a thread of its own.
  const std::string json = logcat(dir_ + " -o json -l warn -n 2").out;
  const std::size_t at = json.find("\"tid\":");
  ASSERT_NE(at, std::string::npos) << json;
  const std::string tid = json.substr(at + 6, json.find(',', at) - at - 6);
  EXPECT_EQ(logcat(dir_ + " -o raw --thread " + tid).out, "slow query select *\n");
  EXPECT_EQ(logcat(dir_ + " --since yesterday").status, 2);
  EXPECT_EQ(logcat(dir_ + " --trace 12345").status, 2);
}

TEST_F(LogcatTest, LogfmtAndPid) {
  EXPECT_NE(logcat(dir_ + " -o logfmt -l error").out.find(" level=error tag=http tid="),
            std::string::npos);
  EXPECT_NE(logcat(dir_ + " -o logfmt -l error")
                .out.find(" msg=\"request 42 failed: timeout \\\"x\\\"\" id=42 "
                          "why=\"timeout \\\"x\\\"\" trace_id=0af7651916cd43dd8448eb211c80319c\n"),
            std::string::npos)
      << logcat(dir_ + " -o logfmt -l error").out;
  EXPECT_EQ(logcat(dir_ + " -o logfmt 'db:W' '*:S'").out.find("time=20"), 0u);
  // -p finds this process's ring file in BBX_DIR.
  const Output ring = logcat("-p " + std::to_string(getpid()) + " -o raw 'net:D' '*:S'");
  EXPECT_EQ(ring.status, 0) << ring.out;
  EXPECT_EQ(ring.out, "connect db1:5432\nclosed\n");
  EXPECT_EQ(logcat("-p 999999999").status, 2);
}

TEST_F(LogcatTest, TextAndJsonLines) {
  const Output text = logcat(dir_ + " --utc --color=never -l error");
  EXPECT_EQ(text.status, 0);
  // "2026-11-24 13:06:02.123456Z E   4711 http     request 42 failed: ... trace=0af7..."
  EXPECT_NE(text.out.find("Z E "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(" http     request 42 failed: timeout \"x\" "
                          "trace=0af7651916cd43dd8448eb211c80319c\n"),
            std::string::npos)
      << text.out;
  const Output json = logcat(dir_ + " -o json -l error");
  EXPECT_NE(json.out.find("\"severity\":17,\"severity_text\":\"ERROR\",\"tag\":\"http\""),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"message\":\"request 42 failed: timeout \\\"x\\\"\""),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"fields\":{\"id\":42,\"why\":\"timeout \\\"x\\\"\"}"),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\""), std::string::npos);
  EXPECT_EQ(json.out.find("\"time\":\"20"), 1u) << json.out;  // ISO 8601, UTC
  const Output colour = logcat(dir_ + " --color=always -l error");
  EXPECT_NE(colour.out.find("\x1b[1;31mE\x1b[0m"), std::string::npos) << colour.out;
}

TEST_F(LogcatTest, RingFilesAreInputsToo) {
  const Output r = logcat(blackbox::ring_path() + " -o raw 'db:I' '*:S'");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "query select 1 took 0.2 ms\nslow query select *\n");
}

TEST_F(LogcatTest, DamagedInputPrintsWhatIsGoodAndExitsOne) {
  // Two files: the second one's bytes are damaged in its middle.
  BBX_LOG("net", blackbox::Level::info, "second file {n}", 1);
  ASSERT_TRUE(blackbox::flush());
  std::string only;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) only = e.path();
  const std::string copy = dir_ + "/../damaged.bbx";
  std::filesystem::copy_file(only, copy);
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(copy) - 10));
    f.put('\x55');
  }
  const Output r = logcat(copy + " -o raw");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("connect db1:5432\n"), std::string::npos) << r.out;  // the first chunk
  EXPECT_NE(r.out.find("damaged: payload checksum mismatch"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("second file"), std::string::npos) << r.out;  // the damaged chunk
}

TEST_F(LogcatTest, UsageErrorsExitTwoAndAClosedPipeIsQuiet) {
  EXPECT_EQ(logcat("/no/such/file").status, 2);
  EXPECT_EQ(logcat(dir_ + " -l loud").status, 2);
  EXPECT_EQ(logcat(dir_ + " -e '('").status, 2);
  EXPECT_EQ(logcat(dir_ + " -o yaml").status, 2);
  EXPECT_EQ(logcat("--help").status, 0);
  const Output head = shell("bash -c '" + std::string(BBX_LOGCAT) + " " + dir_ +
                            " -o raw | head -1; exit ${PIPESTATUS[0]}'");
  EXPECT_EQ(head.status, 0) << head.out;
  EXPECT_EQ(head.out, "connect db1:5432\n");
}

}  // namespace
