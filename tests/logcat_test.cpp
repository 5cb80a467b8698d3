// logcat through its command line, against archives and a ring this test writes: each
// output format, each filter alone and combined, merge order, damaged input (exit 1, every
// good record printed), usage errors (exit 2) and a closed pipe (exit 0).
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/span.hpp"
#include "support/child.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::test::Child;

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

std::string helper() { return blackbox::test::helper_path(); }

// Starts the logger as `app`, archiving into `archive_dir` ("": records stay in the ring).
bool start_logging(const std::string& app, const std::string& archive_dir,
                   const std::string& levels = "") {
  blackbox::Config c = blackbox::Config::from_env();
  c.app = app;
  if (!levels.empty()) c.levels = levels;
  c.archive_dir = archive_dir;
  return blackbox::init(c).ok();
}

class LogcatTest : public ::testing::Test {
 protected:
  // One archive: records of three tags and four levels, one with a trace, from two threads.
  void SetUp() override {
    dir_ = blackbox::test::make_temp_dir("archive");
    ASSERT_TRUE(start_logging("logcat_test", dir_, "trace"));
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
  // The short id a terminal shows can be pasted back: a prefix of 4 or more digits that
  // one trace of the inputs has.
  EXPECT_EQ(logcat(dir_ + " -o raw --trace 0af76519").out, "request 42 failed: timeout \"x\"\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --trace 0AF7").out, "request 42 failed: timeout \"x\"\n");
  const Output no_trace = logcat(dir_ + " -o raw --trace 0af8");
  EXPECT_EQ(no_trace.status, 1);
  EXPECT_EQ(no_trace.out, "logcat: no trace id starts with 0af8 in these inputs\n");
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
  const Output bad = logcat(dir_ + " --since '5 parsecs ago'");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.out.rfind("logcat: bad time \"5 parsecs ago\"", 0), 0u) << bad.out;
  EXPECT_EQ(logcat(dir_ + " --since @").status, 2);
  EXPECT_EQ(logcat(dir_ + " --since -").status, 2);
  EXPECT_EQ(logcat(dir_ + " --trace 123").status, 2);    // too short for a prefix
  EXPECT_EQ(logcat(dir_ + " --trace 12345").status, 1);  // a prefix no trace has
}

// adb logcat's spellings: level letters, -t N for the last N lines; an unknown level lists
// the valid ones.
TEST_F(LogcatTest, AdbSpellings) {
  EXPECT_EQ(logcat(dir_ + " -o raw -l W").out, logcat(dir_ + " -o raw -l warn").out);
  EXPECT_EQ(logcat(dir_ + " -o raw -l e").out, logcat(dir_ + " -o raw -l error").out);
  EXPECT_EQ(logcat(dir_ + " -o raw -l V").out, logcat(dir_ + " -o raw").out);
  EXPECT_EQ(logcat(dir_ + " -o raw -t 2").out, logcat(dir_ + " -o raw -n 2").out);
  const Output bad = logcat(dir_ + " -l loud");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.out,
            "logcat: unknown level \"loud\" (trace debug info warn error fatal, or V D I W E F; "
            "see --help)\n");
}

// journalctl's time forms: relative ("-1h", "+1h", "10 min ago", "1h 30min ago"), words
// (now, yesterday, tomorrow) and @UNIX seconds. The records were logged moments ago.
TEST_F(LogcatTest, JournalctlTimeForms) {
  const std::string all = logcat(dir_ + " -o raw").out;
  ASSERT_FALSE(all.empty());
  const long long now = static_cast<long long>(std::time(nullptr));
  // "@<seconds>" built with fmt (g++ 12 at -O3 warns, wrongly, on "@" + std::string).
  auto at = [](long long seconds) { return fmt::format("@{}", seconds); };
  for (const std::string& since :
       std::vector<std::string>{"-1h", "'10 min ago'", "'1h 30min ago'", "yesterday", at(now - 600),
                                "'2 days ago'", "-1.5h"}) {
    EXPECT_EQ(logcat(dir_ + " -o raw --since " + since).out, all) << since;
  }
  for (const std::string& since : std::vector<std::string>{"+1h", "tomorrow", at(now + 3600)}) {
    EXPECT_EQ(logcat(dir_ + " -o raw --since " + since).out, "") << since;
  }
  for (const std::string& until : std::vector<std::string>{"-1h", "yesterday", at(now - 3600)}) {
    EXPECT_EQ(logcat(dir_ + " -o raw --until " + until).out, "") << until;
  }
  EXPECT_EQ(logcat(dir_ + " -o raw --until now").out, all);
  EXPECT_EQ(logcat(fmt::format("{} -o raw --until '@{}.5'", dir_, now + 60)).out, all);
}

TEST_F(LogcatTest, LogfmtAndPid) {
  // Each line names its app and process, as JSON lines do.
  EXPECT_NE(logcat(dir_ + " -o logfmt -l error")
                .out.find(" level=error tag=http app=logcat_test pid=" + std::to_string(getpid()) +
                          " tid="),
            std::string::npos)
      << logcat(dir_ + " -o logfmt -l error").out;
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
  const Output unknown = logcat("-p 999999999");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_EQ(unknown.out.rfind("logcat: no inputs (no ring file of pid 999999999 in ", 0), 0u)
      << unknown.out;
  // A process that exited normally archived everything and removed its ring file: -p reads
  // its records from the archive, saying nothing about the ring file it no longer needs.
  const std::string other = blackbox::test::make_temp_dir("exited");
  const std::string env = "BBX_DIR=" + other + " BBX_ARCHIVE_DIR=" + other + "/archive ";
  const Output child =
      shell("sh -c '" + env + helper() + " archive-exit shutdown & wait $!; echo $!'");
  ASSERT_EQ(child.status, 0) << child.out;
  const std::string pid = child.out.substr(0, child.out.find('\n'));
  const Output exited = shell(env + BBX_LOGCAT + " -p " + pid + " -o raw -n 1");
  EXPECT_EQ(exited.status, 0);
  EXPECT_EQ(exited.out, "n 29999\n");
  // Nothing of it anywhere: said.
  const Output gone = shell(env + BBX_LOGCAT + " -p 999999999 -o raw");
  EXPECT_EQ(gone.out, "logcat: nothing of pid 999999999: no ring file in " + other +
                          ", no archived record\n");
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

// A message cannot forge a line or drive the terminal: text escapes control characters
// (C0 but tab, DEL, C1); raw prints the bytes as logged; JSON escapes them its own way.
TEST(LogcatText, ControlCharactersAreEscaped) {
  const std::string dir = blackbox::test::make_temp_dir("escape");
  ASSERT_TRUE(start_logging("escape", dir));
  const std::string name =
      "bob\n2026-01-01 00:00:00.000000 E       1 auth     forged\r\x1b[31m\x7f\xc2\x9b"
      "\xc2\xa0\xc3\xa9\ttab";
  BBX_INFO("user {name}", name);
  ASSERT_TRUE(blackbox::flush());
  const Output text = logcat(dir + " --color=never");
  EXPECT_EQ(text.status, 0) << text.out;
  EXPECT_EQ(std::count(text.out.begin(), text.out.end(), '\n'), 1) << text.out;
  EXPECT_NE(text.out.find("user bob\\n2026-01-01 00:00:00.000000 E       1 auth     "
                          "forged\\r\\x1b[31m\\x7f\\u009b\xc2\xa0\xc3\xa9\ttab\n"),
            std::string::npos)
      << text.out;
  EXPECT_EQ(logcat(dir + " -o raw").out, "user " + name + "\n");
  EXPECT_NE(logcat(dir + " -o json").out.find("forged\\r\\u001b[31m"), std::string::npos);
  BBX_INFO("{word}", "esc\x1b[2Jape");  // no space: logfmt would have printed it bare
  ASSERT_TRUE(blackbox::flush());
  EXPECT_NE(
      logcat(dir + " -o logfmt").out.find(" msg=\"esc\\u001b[2Jape\" word=\"esc\\u001b[2Jape\""),
      std::string::npos)
      << logcat(dir + " -o logfmt").out;

  // Every length to 40 with a control character (or a C1 control, or none) at every
  // position: the 16-byte scan, its overlapping last window and the byte loop alike.
  std::vector<std::string> expected;
  for (std::size_t length = 1; length <= 40; ++length) {
    for (std::size_t at = 0; at <= length; ++at) {
      std::string message(length, 'a');
      std::string shown = message;
      if (at < length) {
        message[at] = '\x01';
        shown = message.substr(0, at) + "\\x01" + message.substr(at + 1);
        BBX_LOG("esc", blackbox::Level::info, "{}", message);
        expected.push_back(shown);
        if (at + 1 < length) {
          message = std::string(length, 'a');
          message[at] = '\xc2';
          message[at + 1] = '\x85';  // U+0085, a C1 control
          shown = message.substr(0, at) + "\\u0085" + message.substr(at + 2);
          BBX_LOG("esc", blackbox::Level::info, "{}", message);
          expected.push_back(shown);
        }
      } else {
        BBX_LOG("esc", blackbox::Level::info, "{}", message);
        expected.push_back(shown);
      }
    }
  }
  ASSERT_TRUE(blackbox::flush());
  const Output lines = logcat(dir + " --color=never esc:I '*:S'");
  std::istringstream in(lines.out);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    const std::size_t tag = line.find(" esc      ");
    ASSERT_NE(tag, std::string::npos) << line;
    ASSERT_LT(n, expected.size());
    EXPECT_EQ(line.substr(tag + 10), expected[n]) << "line " << n;
    ++n;
  }
  EXPECT_EQ(n, expected.size());
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

// An option takes one value per occurrence: what follows is inputs and filterspecs, not more
// apps (repeat the option for more). An app no input holds is said; so is an empty archive
// directory, which is no usage error.
TEST_F(LogcatTest, OptionsTakeOneValueAndAbsentThingsAreSaid) {
  EXPECT_EQ(logcat(dir_ + " -o raw -u logcat_test 'db:W' '*:S'").out, "slow query select *\n");
  EXPECT_EQ(logcat("-o raw -u logcat_test -u other 'db:W' '*:S' " + dir_).out,
            "slow query select *\n");
  const Output none = logcat(dir_ + " -u nosuchapp");
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.out, "logcat: no app named nosuchapp in these inputs (apps: logcat_test)\n");
  EXPECT_EQ(logcat("runs -u logcat_test " + dir_).status, 0);
  const std::string empty = blackbox::test::make_temp_dir("home");
  const Output fresh = shell("env -u XDG_STATE_HOME -u BBX_ARCHIVE_DIR HOME=" + empty +
                             " BBX_DIR=" + empty + " " + BBX_LOGCAT);
  EXPECT_EQ(fresh.status, 0);
  EXPECT_EQ(fresh.out, "logcat: no logs yet: " + empty +
                           "/.local/state/blackbox does not exist (a program that logs with "
                           "blackbox makes it; logcat -p PID reads one that is running)\n");
}

// Text from files reaches the terminal escaped: how a run ended, taken from bbx-run's records
// (a forged one here, with an escape sequence as its signal name), and the app names listed
// when -u names none of them (and the name asked for).
TEST_F(LogcatTest, RunsAndAppNamesFromFilesAreEscaped) {
  BBX_LOG("bbx-run", blackbox::Level::info, "{}", std::string("started x as pid 999999999"));
  BBX_LOG("bbx-run", blackbox::Level::error, "{}",
          std::string("x (pid 999999999) was killed by SIG\x1b]0;owned\x07 (signal 11)"));
  ASSERT_TRUE(blackbox::flush());
  const Output runs = logcat("runs " + dir_);
  EXPECT_EQ(runs.out.find('\x1b'), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("killed: SIG\\x1b]0;owned\\x07"), std::string::npos) << runs.out;
  const Output app = logcat(dir_ + " -u \"$(printf 'a\\033[2Jb')\"");
  EXPECT_EQ(app.status, 1);
  EXPECT_EQ(app.out, "logcat: no app named a\\x1b[2Jb in these inputs (apps: logcat_test)\n");
}

TEST_F(LogcatTest, UsageErrorsExitTwoAndAClosedPipeIsQuiet) {
  EXPECT_EQ(logcat("/no/such/file").status, 2);
  EXPECT_EQ(logcat(dir_ + " -l loud").status, 2);
  EXPECT_EQ(logcat(dir_ + " -e '('").status, 2);
  EXPECT_EQ(logcat(dir_ + " -o yaml").status, 2);
  EXPECT_EQ(logcat("--help").status, 0);
  // Every usage error names logcat first and points to --help (CLI11's own ones too).
  for (const std::string& args :
       {std::string("/no/such/file"), dir_ + " -l loud", dir_ + " -e '('", dir_ + " -o yaml",
        dir_ + " -v", dir_ + " -v fancy", dir_ + " -x", dir_ + " --trace 12", dir_ + " --span 1",
        dir_ + " --field novalue", dir_ + " -n many", dir_ + " -r -f", dir_ + " --since later",
        dir_ + " --after-cursor x", std::string("runs --bogus"), std::string("verify")}) {
    const Output run = logcat(args);
    EXPECT_EQ(run.status, 2) << args;
    EXPECT_TRUE(run.out.starts_with("logcat: ")) << args << ": " << run.out;
    EXPECT_NE(run.out.find("see --help"), std::string::npos) << args << ": " << run.out;
    EXPECT_EQ(blackbox::test::lines_of(run.out).size(), 1u) << args << ": " << run.out;
  }
  EXPECT_EQ(logcat(dir_ + " -v").out,
            "logcat: --format: 1 required TEXT:{standard,brief,time,threadtime,long} missing (see "
            "--help)\n");
  // What was probably meant: a misspelt option, journalctl's -p (a priority).
  EXPECT_EQ(logcat(dir_ + " --folow").out,
            "logcat: the following argument was not expected: --folow (did you mean --follow?) "
            "(see --help)\n");
  EXPECT_EQ(logcat(dir_ + " -p err").out,
            "logcat: could not convert: --pid = err (-p is a process id; for journalctl's "
            "priority use -l, e.g. -l err) (see --help)\n");
  const Output version = logcat("--version");
  EXPECT_EQ(version.status, 0);
  EXPECT_TRUE(version.out.starts_with("logcat (blackbox) ")) << version.out;
  const Output head = shell("bash -c '" + std::string(BBX_LOGCAT) + " " + dir_ +
                            " -o raw | head -1; exit ${PIPESTATUS[0]}'");
  EXPECT_EQ(head.status, 0) << head.out;
  EXPECT_EQ(head.out, "connect db1:5432\n");
}

}  // namespace

namespace {

// Masks what differs between runs: times, thread and process ids.
std::string masked(std::string s) {
  s = std::regex_replace(s, std::regex(R"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\.\d{6}Z?)"), "TIME");
  s = std::regex_replace(s, std::regex(R"re("(tid|pid)":\d+)re"), "\"$1\":ID");
  s = std::regex_replace(s, std::regex(R"(\b(tid|pid)=\d+)"), "$1=ID");
  s = std::regex_replace(s, std::regex(R"re("line":\d+)re"), "\"line\":N");
  return s;
}

TEST_F(LogcatTest, GoldenOutputOfEachFormat) {
  EXPECT_EQ(masked(logcat(dir_ + " -o json -l warn").out),
            "{\"time\":\"TIME\",\"severity\":13,\"severity_text\":\"WARN\",\"tag\":\"db\","
            "\"app\":\"logcat_test\",\"pid\":ID,\"tid\":ID,\"thread\":\"logcat_test\",\"message\":"
            "\"slow query select *\","
            "\"fields\":{\"sql\":\"select *\"},\"file\":\"" __FILE__
            "\",\"line\":N}\n"
            "{\"time\":\"TIME\",\"severity\":17,\"severity_text\":\"ERROR\",\"tag\":\"http\","
            "\"app\":\"logcat_test\",\"pid\":ID,\"tid\":ID,\"thread\":\"logcat_test\",\"message\":"
            "\"request 42 failed: "
            "timeout \\\"x\\\"\",\"fields\":{\"id\":42,\"why\":\"timeout \\\"x\\\"\"},"
            "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":\"b7ad6b7169203331\","
            "\"file\":\"" __FILE__ "\",\"line\":N}\n");
  EXPECT_EQ(masked(logcat(dir_ + " -o logfmt -l info").out),
            "time=TIME level=info tag=db app=logcat_test pid=ID tid=ID msg=\"query select 1 took "
            "0.2 ms\" "
            "sql=\"select 1\" ms=0.25\n"
            "time=TIME level=warn tag=db app=logcat_test pid=ID tid=ID msg=\"slow query select *\" "
            "sql=\"select *\"\n"
            "time=TIME level=error tag=http app=logcat_test pid=ID tid=ID msg=\"request 42 failed: "
            "timeout \\\"x\\\"\" "
            "id=42 why=\"timeout \\\"x\\\"\" trace_id=0af7651916cd43dd8448eb211c80319c\n"
            "time=TIME level=info tag=net app=logcat_test pid=ID tid=ID msg=closed\n");
  const std::string text = logcat(dir_ + " --utc --color=never").out;
  EXPECT_EQ(std::regex_replace(masked(text), std::regex(R"( [DIWE] +\d+ )"), " L TID "),
            "TIME L TID net      connect db1:5432\n"
            "TIME L TID db       query select 1 took 0.2 ms\n"
            "TIME L TID db       slow query select *\n"
            "TIME L TID http     request 42 failed: timeout \"x\" "
            "trace=0af7651916cd43dd8448eb211c80319c\n"
            "TIME L TID net      closed\n")
      << text;
  EXPECT_EQ(logcat(dir_ + " -o raw -l warn").out,
            "slow query select *\nrequest 42 failed: timeout \"x\"\n");
}

TEST_F(LogcatTest, FieldFilterComparesValuesAsText) {
  EXPECT_EQ(logcat(dir_ + " -o raw --field id=42").out, "request 42 failed: timeout \"x\"\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --field port=5432").out, "connect db1:5432\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --field 'sql=select 1'").out, "query select 1 took 0.2 ms\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --field ms=0.25 --field 'sql=select 1'").out,
            "query select 1 took 0.2 ms\n");
  EXPECT_EQ(logcat(dir_ + " -o raw --field ms=0.25 --field sql=other").out, "");
  EXPECT_EQ(logcat(dir_ + " -o raw --field id=43").out, "");
  EXPECT_EQ(logcat(dir_ + " -o raw --field nosuch=1").out, "");
  EXPECT_EQ(logcat(dir_ + " --field novalue").status, 2);
}

TEST_F(LogcatTest, RecordsBothInTheRingAndTheArchiveAreShownOnce) {
  const std::string all =
      "connect db1:5432\nquery select 1 took 0.2 ms\nslow query select *\n"
      "request 42 failed: timeout \"x\"\nclosed\n";
  // Flushed: every record is in both.
  EXPECT_EQ(logcat(blackbox::ring_path() + " " + dir_ + " -o raw").out, all);
  EXPECT_EQ(logcat(dir_ + " " + blackbox::ring_path() + " -o raw").out, all);
  // One more, not flushed: only in the ring, still shown once, in its place.
  BBX_LOG("net", blackbox::Level::info, "only in the ring");
  EXPECT_EQ(logcat(blackbox::ring_path() + " " + dir_ + " -o raw").out, all + "only in the ring\n");
  EXPECT_EQ(logcat("-p " + std::to_string(getpid()) + " " + dir_ + " -o raw -n 2").out,
            "closed\nonly in the ring\n");
}

TEST_F(LogcatTest, StatsCountsLevelsTagsSitesThreadsAndLosses) {
  const Output r = logcat("stats " + dir_);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("records     5 from 1 archive file(s) and 0 ring file(s)\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("levels      T:0 D:1 I:2 W:1 E:1 F:0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tags (records)\n             2  db\n             2  net\n"
                       "             1  http\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  20.0%  E http     " __FILE__), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"request {id} failed: {why}\"\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top threads (records)\n             4  pid " + std::to_string(getpid())),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("lost        0 records\ndamaged     0 range(s)\n"), std::string::npos);
  EXPECT_NE(r.out.find("rate over time (records/s)\n"), std::string::npos);
  // Filters apply to stats too.
  EXPECT_NE(logcat("stats " + dir_ + " -l error").out.find("records     1 from"),
            std::string::npos);
}

TEST_F(LogcatTest, VerifyNamesDamagedRangesByOffset) {
  const Output good = logcat("verify " + dir_ + " " + blackbox::ring_path());
  EXPECT_EQ(good.status, 0) << good.out;
  EXPECT_NE(good.out.find("ok       " + dir_ + "/"), std::string::npos) << good.out;
  EXPECT_TRUE(std::regex_search(good.out, std::regex(R"(: \d+ chunks, 5 records, 0 lost)")))
      << good.out;
  EXPECT_NE(good.out.find("ok       " + blackbox::ring_path() + ": ring, 5 records"),
            std::string::npos)
      << good.out;
  std::string only;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) only = e.path();
  const std::string copy = dir_ + "/../verify.bbx";
  std::filesystem::copy_file(only, copy);
  const auto at = std::filesystem::file_size(copy) - 10;
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f.put('\x55');
  }
  const Output bad = logcat("verify " + copy);
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("DAMAGED  " + copy + ": "), std::string::npos) << bad.out;
  // The damaged range is named by offset and holds the byte that was changed.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      bad.out, m, std::regex(R"(\n  offset (\d+), (\d+) bytes: payload checksum mismatch\n)")))
      << bad.out;
  EXPECT_LE(std::stoull(m[1]), at);
  EXPECT_GT(std::stoull(m[1]) + std::stoull(m[2]), at);
  EXPECT_EQ(logcat("verify /no/such/file").status, 2);
  EXPECT_EQ(logcat("verify").status, 2);
}

// Two processes writing into one archive directory, turn by turn (each line acknowledged
// before the other writes): their files merge into one time order.
TEST(LogcatMerge, ProcessesAndFilesMergeInTimeOrder) {
  const std::string dir = blackbox::test::make_temp_dir("merge");
  const std::vector<std::pair<std::string, std::string>> env = {{"BBX_ARCHIVE_DIR", dir}};
  Child a({helper(), "echo-log"}, env);
  ASSERT_EQ(a.read_until("ready").back(), "ready");
  Child b({helper(), "echo-log"}, env);
  ASSERT_EQ(b.read_until("ready").back(), "ready");
  for (int i = 1; i <= 3; ++i) {
    for (Child* c : {&a, &b}) {
      const std::string line = std::string(c == &a ? "a" : "b") + std::to_string(i);
      c->send(line);
      ASSERT_EQ(c->read_until(line).back(), line);
    }
  }
  a.close_stdin();
  b.close_stdin();
  EXPECT_EQ(a.wait(), 0);
  EXPECT_EQ(b.wait(), 0);
  const Output r = logcat(dir + " -o raw");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "ready\nready\na1\nb1\na2\nb2\na3\nb3\n");
}

// logcat -f on a directory while a writer process appends, flushes and rotates files.
TEST(LogcatFollow, GrowingArchiveAcrossRotation) {
  const std::string dir = blackbox::test::make_temp_dir("follow");
  Child writer(
      {helper(), "echo-log"},
      {{"BBX_ARCHIVE_DIR", dir}, {"BBX_ROTATE_BYTES", "65536"}, {"BBX_FLUSH_MS", "60000"}});
  writer.send("!first");  // flushed: the directory and the first file exist
  ASSERT_EQ(writer.read_until("first").back(), "first");
  Child follow({BBX_LOGCAT, "-f", "--interval", "0.05", "-o", "raw", dir});
  ASSERT_EQ(follow.read_until("first").size(), 2u);  // "ready", "first"
  // About 200 KB of incompressible text, flushed: more than three 64 KiB files.
  std::vector<std::string> sent;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 200; ++i) {
    std::string line = "x";  // (appended, not "x" + ...: g++ 12 -O3 warns falsely on that)
    line += std::to_string(i);
    line += ' ';
    while (line.size() < 1000) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      line += "0123456789abcdefghijklmnopqrstuvwxyz"[x % 36];
    }
    writer.send(i % 50 == 49 ? "!" + line : line);
    ASSERT_EQ(writer.read_until(line).back(), line);
    sent.push_back(line);
  }
  writer.send("!last");
  ASSERT_EQ(writer.read_until("last").back(), "last");
  sent.push_back("last");
  const std::vector<std::string> got = follow.read_until("last");
  EXPECT_EQ(got, sent);  // each once, in order, across every rotation
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    files += e.path().extension() == ".bbx";
  EXPECT_GE(files, 3u);
  writer.close_stdin();
  EXPECT_EQ(writer.wait(), 0);
  kill(follow.pid(), SIGTERM);
  EXPECT_EQ(follow.wait(), 128 + SIGTERM);
}

// logcat -f -p PID reads a live process's ring (nothing flushed yet), and stops by itself
// once the process has exited; what the process archived on exit is not shown twice.
TEST(LogcatFollow, LiveRingUntilTheProcessExits) {
  const std::string dir = blackbox::test::make_temp_dir("live");
  Child writer({helper(), "echo-log"}, {{"BBX_ARCHIVE_DIR", dir}, {"BBX_FLUSH_MS", "60000"}});
  ASSERT_EQ(writer.read_until("ready").back(), "ready");
  Child follow(
      {BBX_LOGCAT, "-f", "--interval", "0.05", "-o", "raw", "-p", std::to_string(writer.pid())},
      {{"BBX_ARCHIVE_DIR", dir}});
  ASSERT_EQ(follow.read_until("ready").back(), "ready");
  for (const std::string line : {"one", "two", "three"}) {
    writer.send(line);
    ASSERT_EQ(follow.read_until(line).back(), line);
  }
  writer.close_stdin();
  EXPECT_EQ(writer.wait(), 0);  // exits: flushes everything to the archive
  EXPECT_EQ(follow.read_rest(), "");
  EXPECT_EQ(follow.wait(), 0);
  // Afterwards the archive has them all, and the ring file is gone.
  EXPECT_EQ(logcat(dir + " -o raw").out, "ready\none\ntwo\nthree\n");
}

}  // namespace

namespace {

// Runs the helper's "crash segv 1" (as `program`, a copy of it if given) with its rings in
// `dir`; returns its ring file, pid and crashing thread.
struct Crashed {
  std::string ring, pid, tid;
};
Crashed crash_child(const std::string& dir, const std::string& program = helper()) {
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the crash is the point, a core file is not
  // Sanitizers must let the signal through to blackbox's handler and the default action.
  auto let_through = [](const char* name) {
    const char* options = std::getenv(name);
    return std::make_pair(std::string(name),
                          std::string(options != nullptr ? options : "") + ":handle_segv=0");
  };
  Child child({program, "crash", "segv", "1"},
              {{"BBX_DIR", dir}, let_through("ASAN_OPTIONS"), let_through("TSAN_OPTIONS")});
  std::istringstream said(child.read_rest());
  EXPECT_EQ(child.wait(), 128 + SIGSEGV);
  Crashed c;
  std::string line;
  while (std::getline(said, line)) {
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (word == "ring") words >> c.ring;
    if (word == "crash") words >> c.tid;
  }
  const std::size_t dot = c.ring.rfind('.', c.ring.size() - 5);
  if (dot != std::string::npos) c.pid = c.ring.substr(dot + 1, c.ring.size() - 4 - dot - 1);
  return c;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A crashed process's ring file: logcat shows its crash report in its place in time (the
// stack symbolised, the crash handler's own frames left out), after the records before it.
// -l error leaves the records at warn out, not the report (a fatal event).
TEST(LogcatCrash, ACrashedRingShowsItsCrashReportInItsPlaceInTime) {
  const Crashed c = crash_child(blackbox::test::make_temp_dir("crashed"));
  ASSERT_FALSE(c.ring.empty());
  ASSERT_FALSE(c.tid.empty());

  const Output text = logcat(c.ring + " -l error --color=never");
  EXPECT_EQ(text.status, 0);
  std::vector<std::string> got = lines_of(text.out);
  // The report, the stack, each thread's last record (the crashing thread first, in the
  // trace it was in), then the records.
  ASSERT_GE(got.size(), 7u) << text.out;
  const std::string head = "--- crash (pid " + c.pid +
                           ") crashed: SIGSEGV (address not mapped) at address 0x0, thread " +
                           c.tid + " (";
  EXPECT_EQ(got[0].substr(0, head.size()), head);
  // The request it was in: the trace, its own span in it, and the command that shows it.
  const std::regex in_trace(
      "--- in trace 4bf92f3577b34da6a3ce929d0e0e4736, span ([0-9a-f]{16}) "
      "\\(logcat --trace 4bf92f3577b34da6a3ce929d0e0e4736\\)");
  std::smatch match;
  ASSERT_TRUE(std::regex_match(got[1], match, in_trace)) << got[1];
  const std::string span = match[1].str();  // (a copy: the match points into got[1])
  EXPECT_NE(span, "00f067aa0ba902b7");      // not the incoming parent: the span it opened
  got.erase(got.begin() + 1);
  // What the logger itself had done (ring format version 2's telemetry).
  EXPECT_TRUE(std::regex_match(got[1], std::regex(R"(--- the logger before the crash: \d+ records )"
                                                  R"(logged, 0 lost; (no archive|archive complete )"
                                                  R"(up to .* before it))")))
      << got[1];
  got.erase(got.begin() + 1);
  EXPECT_EQ(got[1], "--- stack (innermost first):");
  // The faulting function first, with its source line (a build with debug information);
  // then its callers.
  const std::string where = BBX_HELPER_HAS_LINES ? " at " : "+0x";
  EXPECT_EQ(got[2].rfind("    #0 0x", 0), 0u) << got[2];
  EXPECT_NE(got[2].find(" crash_segv()" + where), std::string::npos) << got[2];
  if (BBX_HELPER_HAS_LINES) {
    EXPECT_NE(got[2].find("helper.cpp:"), std::string::npos) << got[2];
  }
  std::size_t i = 3;
  bool saw_main = false;
  for (; i < got.size() && got[i].rfind("    #", 0) == 0; ++i) {
    saw_main = saw_main || got[i].find(" main" + where) != std::string::npos;
  }
  EXPECT_TRUE(saw_main) << text.out;
  ASSERT_EQ(got.size(), i + 2) << text.out;
  EXPECT_EQ(got[i].rfind("--- thread " + c.tid + " (", 0), 0u) << got[i];
  EXPECT_TRUE(got[i].ends_with(", in trace 4bf92f3577b34da6a3ce929d0e0e4736")) << got[i];
  EXPECT_EQ(got[i + 1].rfind("--- thread ", 0), 0u) << got[i + 1];
  EXPECT_EQ(got[i + 1].find(" in trace "), std::string::npos) << got[i + 1];  // the worker's
  // At warn, the thread's last record comes first: it was logged before the crash.
  const std::vector<std::string> at_warn = lines_of(logcat(c.ring + " -l warn --color=never").out);
  ASSERT_GE(at_warn.size(), 2u);
  EXPECT_TRUE(at_warn[0].ends_with("about to crash: segv trace=4bf92f3577b34da6a3ce929d0e0e4736"))
      << at_warn[0];
  EXPECT_EQ(at_warn[1].substr(0, head.size()), head);

  const Output json = logcat(c.ring + " -l error -o json");
  const std::string object = "{\"crash\":{\"pid\":" + c.pid +
                             ",\"app\":\"crash\",\"signal\":11,\"signal_name\":\"SIGSEGV\","
                             "\"code\":1,\"cause\":\"address not mapped\",\"fault_address\":"
                             "\"0x0\",\"tid\":" +
                             c.tid + ",";
  EXPECT_EQ(json.out.substr(0, object.size()), object) << json.out;
  EXPECT_NE(json.out.find("\"frames\":[{\"address\":\"0x"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find(BBX_HELPER_HAS_LINES ? ",\"function\":\"crash_segv()\",\"file\":\""
                                               : ",\"function\":\"crash_segv()\",\"module\":\""),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find(",\"exception\":\"\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
                          "\"span_id\":\"" +
                          span + "\",\"frames\":["),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"threads\":[{\"tid\":" + c.tid + ","), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}"), std::string::npos)
      << json.out;

  // -n N is the last N entries, a crash report counting as one, in its place in time: the
  // report or a record of the worker (which may log after the crash until the process
  // dies). -n 0 shows neither. The same newest first (-r).
  for (const std::string reverse : {"", " -r"}) {
    for (const std::size_t n : {0u, 1u, 2u, 3u}) {
      const std::vector<std::string> last =
          lines_of(logcat(c.ring + " -n " + std::to_string(n) + reverse + " --color=never").out);
      std::size_t records = 0, heads = 0;
      for (const std::string& line : last) {
        if (line.substr(0, head.size()) == head) ++heads;
        if (line.rfind("--- ", 0) != 0 && line.rfind("    #", 0) != 0) ++records;
      }
      EXPECT_LE(heads, 1u) << n << reverse << ": " << text.out;
      EXPECT_EQ(records + heads, n) << n << reverse << ": " << text.out;
    }
  }
}

// The binary is gone (or rebuilt) by the time someone looks: each of its frames shows the
// build id and the offset into the file, which symbolise it elsewhere.
TEST(LogcatCrash, FramesOfAGoneBinaryShowItsBuildIdAndOffset) {
  const std::string dir = blackbox::test::make_temp_dir("crashed-gone");
  const std::string copy = dir + "/gone-helper";
  std::filesystem::copy_file(helper(), copy);
  std::filesystem::permissions(copy, std::filesystem::perms::owner_all);
  const Crashed c = crash_child(dir, copy);
  ASSERT_FALSE(c.ring.empty());
  std::filesystem::remove(copy);
  const Output text = logcat(c.ring + " -l error --color=never");  // the report alone
  const std::vector<std::string> got = lines_of(text.out);
  ASSERT_GE(got.size(), 5u) << text.out;
  const std::string frame = got[4];  // after the report, its trace and the logger's telemetry
  EXPECT_EQ(frame.rfind("    #0 0x", 0), 0u) << frame;
  EXPECT_NE(frame.find(" " + copy + "+0x"), std::string::npos) << frame;
  const std::size_t id = frame.find("(build id ");
  ASSERT_NE(id, std::string::npos) << frame;
  const std::string hex = frame.substr(id + 10, 40);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << frame;
  EXPECT_TRUE(frame.ends_with("; not on disk, or another build)")) << frame;
}

// `logcat recover DIR`: the ring of a process that crashed becomes an archive file (which
// logcat then shows with its crash report) and goes; a live process's ring and a file that
// is not a ring are left where they are, and the latter makes the exit status 1.
TEST(LogcatRecover, RecoversDeadRingsAndLeavesTheRest) {
  const std::string dir = blackbox::test::make_temp_dir("recover");
  const Crashed c = crash_child(dir);
  ASSERT_FALSE(c.ring.empty());
  { std::ofstream(dir + "/junk.1.bbr") << "not a ring"; }
  const Output run = logcat("recover " + dir + " --archive-dir " + dir + "/archive");
  EXPECT_EQ(run.status, 1) << run.out;
  EXPECT_NE(run.out.find("recovered "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(" of crash (pid " + c.pid + ", crashed: SIGSEGV), from " + c.ring +
                         " into " + dir + "/archive/"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find(dir + "/junk.1.bbr: not recovered: "), std::string::npos) << run.out;
  EXPECT_FALSE(std::filesystem::exists(c.ring));
  // The junk is kept for whoever wants to look, under a name recovery does not take again:
  // reported once, not at every start.
  EXPECT_FALSE(std::filesystem::exists(dir + "/junk.1.bbr"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/junk.1.bbr.unreadable"));
  EXPECT_NE(run.out.find("kept as " + dir + "/junk.1.bbr.unreadable"), std::string::npos)
      << run.out;
  const Output again = logcat("recover " + dir + " --archive-dir " + dir + "/archive");
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(again.out.find("junk"), std::string::npos) << again.out;
  const Output shown = logcat(dir + "/archive -l error --color=never");
  EXPECT_EQ(shown.out.rfind("--- crash (pid " + c.pid + ") crashed: SIGSEGV", 0), 0u) << shown.out;
  EXPECT_NE(logcat(dir + "/archive -l warn --color=never").out.find("about to crash: segv"),
            std::string::npos);

  // This process is alive: its ring is not touched.
  BBX_INFO("alive");
  const std::string own = blackbox::ring_path();
  ASSERT_FALSE(own.empty());
  const std::string own_dir = own.substr(0, own.rfind('/'));
  const Output alive = logcat("recover " + own_dir + " --archive-dir " + dir + "/archive2");
  EXPECT_EQ(alive.status, 0) << alive.out;
  EXPECT_NE(alive.out.find(own + ": its process is alive"), std::string::npos) << alive.out;
  EXPECT_TRUE(std::filesystem::exists(own));
}

// The text view of --trace: every line's message column, after the time, level, pid:tid and
// tag columns ("2026-11-25 01:45:34.191627 I     5392:5392 main     <message>").
std::vector<std::string> message_column(const std::string& text) {
  static const std::regex kPrefix(R"(^\S+ \S+ \S +\d+:\d+ (\S+))");
  std::vector<std::string> out;
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);  // the summary
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, kPrefix)) {
      out.push_back("unparsed: " + line);
      continue;
    }
    const std::size_t tag_end = static_cast<std::size_t>(m.position(1) + m.length(1));
    out.push_back(line.substr(std::max(tag_end + 1, static_cast<std::size_t>(m.position(1)) + 9)));
  }
  return out;
}

// The ids of the thread's current span: {trace, span} in hex.
std::pair<std::string, std::string> current_ids() {
  const std::string parent = blackbox::current_trace()->format();  // 00-TRACE-SPAN-01
  return {parent.substr(3, 32), parent.substr(36, 16)};
}

TEST(LogcatTrace, TreeOfSpansWithDurationsAndOneSpanAlone) {
  const std::string dir = blackbox::test::make_temp_dir("trace");
  ASSERT_TRUE(start_logging("trace_tree", dir));
  std::pair<std::string, std::string> request, lookup, task, open, nested;
  {
    BBX_SPAN("request {id}", 7);
    request = current_ids();
    BBX_INFO("in request");
    {
      blackbox::Span inner("lookup");
      lookup = current_ids();
      BBX_INFO("in lookup");
    }
    const auto context = blackbox::current_trace();
    std::thread([&] {
      blackbox::TraceScope scope(*context);
      BBX_SPAN("task {n}", 1);
      task = current_ids();
      BBX_INFO("in task");
    }).join();
  }
  // A second trace whose spans have not ended when logcat reads it.
  blackbox::Span still_open("still open");
  open = current_ids();
  blackbox::Span nested_open("nested open");
  nested = current_ids();
  BBX_INFO("inside");
  ASSERT_TRUE(blackbox::flush());

  // The flat view words span ends as the tree does.
  const Output flat = logcat(dir + " --color=never -o text -e 'span|request|task' --full-ids");
  const std::regex end_line(".* span     end of (request 7|lookup|task 1) after " +
                            std::string(R"(\d+(\.\d+)? (ns|µs|ms|s) trace=[0-9a-f]{32})"));
  std::size_t ends = 0;
  for (const std::string& line : lines_of(flat.out)) ends += std::regex_match(line, end_line);
  EXPECT_EQ(ends, 3u) << flat.out;
  const Output tree = logcat(dir + " --color=never --trace " + request.first);
  EXPECT_EQ(tree.status, 0) << tree.out;
  EXPECT_EQ(tree.out.rfind("trace " + request.first + ": 3 spans, 9 records, 1 process, ", 0), 0u)
      << tree.out;
  const std::vector<std::string> lines = message_column(tree.out);
  ASSERT_EQ(lines.size(), 9u) << tree.out;
  const std::string d = R"(\d+(\.\d+)? (ns|µs|ms|s))";  // a duration
  const std::vector<std::string> expected = {
      "request 7  \\[span " + request.second + ", " + d + "\\]",
      "  in request",
      "  span lookup started  \\[span " + lookup.second + ", " + d + "\\]",
      "    in lookup",
      "  end of lookup after " + d,
      "  task 1  \\[span " + task.second + ", " + d + "\\]",
      "    in task",
      "  end of task 1 after " + d,
      "end of request 7 after " + d,
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(std::regex_match(lines[i], std::regex(expected[i])))
        << "line " << i << ": \"" << lines[i] << "\" is not /" << expected[i] << "/";
  }

  // --span: the task's span alone, at the top; found without --trace too.
  for (const std::string& args :
       {" --trace " + request.first + " --span " + task.second, " --span " + task.second}) {
    const Output one = logcat(dir + " --color=never" + args);
    EXPECT_EQ(one.status, 0) << one.out;
    EXPECT_EQ(one.out.rfind("span " + task.second + " \"task 1\": 1 span, 3 records, ", 0), 0u)
        << one.out;
    const std::vector<std::string> alone = message_column(one.out);
    ASSERT_EQ(alone.size(), 3u) << one.out;
    EXPECT_EQ(alone[1], "  in task");
    EXPECT_EQ(alone[2].rfind("end of task 1 after ", 0), 0u) << alone[2];
  }
  // The request's span holds all three; -o raw prints them flat.
  EXPECT_EQ(logcat(dir + " -o raw --span " + request.second + " -e 'in '").out,
            "in request\nin lookup\nin task\n");
  EXPECT_EQ(logcat(dir + " --span 0123456789abcdef").status, 1);
  EXPECT_EQ(logcat(dir + " --span 12345").status, 2);

  // Spans with no end record yet: the nested one is placed inside the open one on its thread.
  const Output unended = logcat(dir + " --color=never --trace " + open.first);
  const std::vector<std::string> open_lines = message_column(unended.out);
  ASSERT_EQ(open_lines.size(), 3u) << unended.out;
  EXPECT_EQ(open_lines[0], "span still open started  [span " + open.second + ", no end record]");
  EXPECT_EQ(open_lines[1], "  span nested open started  [span " + nested.second +
                               ", no end record, inside " + open.second + "]");
  EXPECT_EQ(open_lines[2], "    inside");
  // The same from the archive and this process's live ring together: each record once.
  const Output both =
      logcat(dir + " " + blackbox::ring_path() + " --color=never --trace " + open.first);
  EXPECT_EQ(message_column(both.out), open_lines) << both.out;
}

// With no inputs, a trace is read from the archive directory and from every ring file: its
// newest records may not be archived yet (here nothing is).
TEST(LogcatTrace, WithNoInputsTheTraceIsAlsoReadFromRingFiles) {
  ASSERT_TRUE(start_logging("trace_live", ""));  // no archive: only this process's ring
  std::pair<std::string, std::string> live;
  {
    BBX_SPAN("live {n}", 1);
    live = current_ids();
    BBX_INFO("inside live");
  }
  const Output tree = logcat("--color=never --trace " + live.first);
  EXPECT_EQ(tree.status, 0) << tree.out;
  const std::vector<std::string> lines = message_column(tree.out);
  ASSERT_EQ(lines.size(), 3u) << tree.out;
  EXPECT_EQ(lines[0].rfind("live 1  [span " + live.second + ", ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1], "  inside live");
  EXPECT_EQ(lines[2].rfind("end of live 1 after ", 0), 0u) << lines[2];
  // Other reads of the default inputs stay with the archive directory (there is none: no
  // logs yet, which is no error).
  const Output none = logcat("-o raw");
  EXPECT_EQ(none.status, 0);
  EXPECT_EQ(none.out.rfind("logcat: no logs yet: ", 0), 0u) << none.out;
}

}  // namespace

namespace {

const std::string kGolden = std::string(BBX_GOLDEN_DIR) + "/v1/";

std::size_t lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

// A directory is read by what its files are, not by their names: pointed at a ring
// directory (rings, a dump, an archive) logcat shows every record once; it once read only
// *.bbx and printed nothing, with exit status 0.
TEST(LogcatDirectory, ReadsEveryBlackboxFileInItByItsMagicEachRecordOnce) {
  const std::string dir = blackbox::test::make_temp_dir("mixed");
  std::filesystem::copy_file(kGolden + "ring.bbr", dir + "/golden.100.bbr");
  std::filesystem::copy_file(kGolden + "dump.bbd", dir + "/golden.200.dump.bbd");
  std::filesystem::copy_file(kGolden + "archive.bbx", dir + "/x.bbx");
  // The same process twice (its ring, and a copy as a dump would be): its records once.
  std::filesystem::copy_file(kGolden + "ring.bbr", dir + "/copy-of-ring.bbd");
  { std::ofstream(dir + "/notes.txt") << "not a blackbox file"; }
  const Output out = logcat(dir + " -o json");
  EXPECT_EQ(out.status, 0) << out.out;
  EXPECT_EQ(lines_with(out.out, "\"message\":"), 60u) << out.out;  // three processes, 20 each
  EXPECT_EQ(lines_with(out.out, "\"message\":\"trace level 1\""), 3u);
}

TEST(LogcatDirectory, ADirectoryWithNoBlackboxFileIsSaidSo) {
  const std::string dir = blackbox::test::make_temp_dir("nothing");
  { std::ofstream(dir + "/notes.txt") << "not a blackbox file"; }
  const Output out = logcat(dir);
  EXPECT_EQ(out.status, 1) << out.out;
  EXPECT_NE(out.out.find("logcat: " + dir + ": no blackbox files in it"), std::string::npos)
      << out.out;
}

// A string the call site cut (Config::max_string_bytes) is marked in every output, not only
// in the API.
TEST(LogcatOutput, CutStringsAreMarkedInTextJsonAndLogfmt) {
  const std::string ring = kGolden + "ring.bbr";
  const Output text = logcat(ring + " -e '^cut' --color=never");
  EXPECT_NE(text.out.find("cut yyyy"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("yyyy [truncated]\n"), std::string::npos) << text.out;
  const Output json = logcat(ring + " -e '^cut' -o json");
  EXPECT_NE(json.out.find(",\"truncated\":[\"long\"]"), std::string::npos) << json.out;
  const Output logfmt = logcat(ring + " -e '^cut' -o logfmt");
  EXPECT_NE(logfmt.out.find(" truncated=true"), std::string::npos) << logfmt.out;
  // An uncut record says nothing of it.
  const Output other = logcat(ring + " -e '^integers' -o json");
  EXPECT_EQ(other.out.find("truncated"), std::string::npos) << other.out;
}

// A crash report is an event of one process at one time: the filters apply to it, as to a
// record. It once headed every query: another process's (-p), one older than --since, and
// plain-text lines at the head of logfmt and raw streams.
TEST(LogcatCrash, TheFiltersApplyToCrashReports) {
  const std::string crashed = kGolden + "crashed.bbr";  // pid 16465, crashed at 01:34:17.418
  const Output other = logcat(crashed + " -p 1 -o json");
  EXPECT_EQ(other.out.find("\"crash\""), std::string::npos) << other.out;
  const Output its_own = logcat(crashed + " -p 16465 -o json -l fatal");
  EXPECT_EQ(lines_with(its_own.out, "{\"crash\":{\"pid\":16465,"), 1u) << its_own.out;
  const Output recent = logcat(crashed + " --since 5s -l error");
  EXPECT_EQ(recent.out, "") << "a crash older than the window: " << recent.out;
  const Output before = logcat(crashed + " --until 2026-11-30T01:34:17.418Z -l error -o json");
  EXPECT_EQ(before.out.find("\"crash\""), std::string::npos) << before.out;
  const Output at = logcat(crashed + " --until 2026-11-30T01:34:18Z -l error -o json");
  EXPECT_NE(at.out.find("\"crash\""), std::string::npos) << at.out;
  // In the output's own format: one logfmt line, nothing in raw.
  const Output logfmt = logcat(crashed + " -o logfmt");
  const std::vector<std::string> lines = lines_of(logfmt.out);
  ASSERT_EQ(lines.size(), 21u) << logfmt.out;
  for (const auto& line : lines) EXPECT_EQ(line.rfind("time=", 0), 0u) << line;
  EXPECT_NE(lines.back().find(" level=FATAL crash=SIGSEGV cause=\"address not mapped\" "),
            std::string::npos)
      << lines.back();
  const Output raw = logcat(crashed + " -o raw");
  EXPECT_EQ(raw.out.find("crash"), std::string::npos) << raw.out;
  EXPECT_EQ(lines_of(raw.out).size(), 21u);  // 20 messages, one holding a newline
}

namespace {

// Sanitizers must let a crash through to blackbox's handler and the default action.
std::pair<std::string, std::string> let_segv_through(const char* name) {
  const char* options = std::getenv(name);
  return {name, std::string(options != nullptr ? options : "") + ":handle_segv=0"};
}

// logcat -f -p PID on a process that ends as `end` says ("crash!" or a SIGKILL): what
// logcat printed after the process's last record, and logcat's exit status.
std::pair<std::string, int> follow_until_it_ends(const std::string& end) {
  const std::string dir = blackbox::test::make_temp_dir("follow-end");
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  Child writer({helper(), "echo-log"}, {{"BBX_DIR", dir},
                                        {"BBX_ARCHIVE_DIR", "off"},
                                        let_segv_through("ASAN_OPTIONS"),
                                        let_segv_through("TSAN_OPTIONS")});
  writer.read_until("ready");
  Child follower(
      {BBX_LOGCAT, "-f", "-p", std::to_string(writer.pid()), "--interval", "0.02", "--color=never"},
      {{"BBX_DIR", dir}, {"BBX_ARCHIVE_DIR", "off"}});
  writer.send("first");
  writer.read_until("first");
  follower.read_until_ending(" first");  // following: it has seen the process live
  if (end == "crash!") {
    writer.send("crash!");
  } else {
    kill(writer.pid(), SIGKILL);
  }
  writer.wait();
  std::string rest = follower.read_rest();
  return {rest, follower.wait()};
}

}  // namespace

// A followed process that crashes shows its report when it happens, then logcat ends; one
// that is killed ends with a line saying so. Both once ended in silence.
TEST(LogcatFollow, AFollowedProcessThatCrashesShowsItsReport) {
  const auto [rest, status] = follow_until_it_ends("crash!");
  EXPECT_EQ(status, 0) << rest;
  EXPECT_NE(rest.find(" crash!\n"), std::string::npos) << rest;  // its last record
  EXPECT_NE(rest.find(") crashed: SIGSEGV (address not mapped) at address 0x0"), std::string::npos)
      << rest;
  EXPECT_EQ(rest.find("died without"), std::string::npos) << rest;
}

TEST(LogcatFollow, AFollowedProcessThatIsKilledSaysItDied) {
  const auto [rest, status] = follow_until_it_ends("kill");
  EXPECT_EQ(status, 0) << rest;
  EXPECT_NE(rest.find("died without a crash report"), std::string::npos) << rest;
}

// logcat runs: an exited, a crashed, a kill -9ed and a live run of one app, from the
// archives' indexes and the ring files; --run picks one as journalctl's -b a boot.
TEST(LogcatRuns, ExitedCrashedKilledAndLiveRunsOfOneApp) {
  const std::string dir = blackbox::test::make_temp_dir("runs");
  const std::string rings = dir + "/rings", archive = dir + "/archive";
  ASSERT_EQ(mkdir(rings.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(archive.c_str(), 0700), 0);
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  const std::vector<std::pair<std::string, std::string>> env = {{"BBX_DIR", rings},
                                                                {"BBX_ARCHIVE_DIR", archive},
                                                                let_segv_through("ASAN_OPTIONS"),
                                                                let_segv_through("TSAN_OPTIONS")};
  auto run = [&](const std::vector<std::string>& lines, bool kill_it) {
    Child writer({helper(), "echo-log"}, env);
    writer.read_until("ready");
    for (const std::string& line : lines) {
      writer.send(line);
      if (line != "crash!") writer.read_until(line[0] == '!' ? line.substr(1) : line);
    }
    if (kill_it) kill(writer.pid(), SIGKILL);
    writer.close_stdin();
    return writer.wait();
  };
  EXPECT_EQ(run({"one", "two", "!three"}, false), 0);  // exited: 4 records with "ready"
  EXPECT_EQ(run({"a", "crash!"}, false), 128 + SIGSEGV);
  EXPECT_EQ(run({"!x", "y"}, true), 128 + SIGKILL);  // killed after a flush: 2 of 3 archived
  const auto listed = [&] {
    return lines_of(
        shell(fmt::format("BBX_DIR={} BBX_ARCHIVE_DIR={} {} runs", rings, archive, BBX_LOGCAT))
            .out);
  };
  {
    // Before the next start recovers them: the crashed and killed rings are still there.
    const std::vector<std::string> lines = listed();
    ASSERT_EQ(lines.size(), 4u) << lines.size();
    EXPECT_NE(lines[1].find(" exited "), std::string::npos) << lines[1];
    EXPECT_NE(lines[2].find(" crashed: SIGSEGV "), std::string::npos) << lines[2];
    EXPECT_NE(lines[3].find(" killed "), std::string::npos) << lines[3];
  }
  Child live({helper(), "echo-log"}, env);  // recovers the two dead rings as it starts
  live.read_until("ready");
  live.send("!now");
  live.read_until("now");
  const std::vector<std::string> lines = listed();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_TRUE(lines[0].starts_with(" RUN  APP ")) << lines[0];
  const std::regex row(
      R"( *(-?\d+)  echo +(\d+)  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  (\S+ \S+|-) +(.+?) +(\d+) +(\d+))");
  const std::vector<std::tuple<int, std::string, int>> want = {
      {-3, "exited", 4}, {-2, "crashed: SIGSEGV", 3}, {-1, "killed", 3}, {0, "running", 2}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[i + 1], m, row)) << lines[i + 1];
    EXPECT_EQ(std::stoi(m[1]), std::get<0>(want[i])) << lines[i + 1];
    EXPECT_EQ(m[4], std::get<1>(want[i])) << lines[i + 1];
    EXPECT_EQ(std::stoi(m[5]), std::get<2>(want[i])) << lines[i + 1];
    EXPECT_EQ(m[6], "0") << lines[i + 1];
    EXPECT_EQ(m[3] == "-", i == 3) << lines[i + 1];  // only the live run has no end
  }
  EXPECT_NE(lines[4].find(" " + std::to_string(live.pid()) + "  "), std::string::npos);
  // --run: the records of one run; 0 the live one, -1 the killed one, 1 the first.
  const std::string logcat_env = fmt::format(
      "BBX_DIR={} BBX_ARCHIVE_DIR={} {} --color=never -o raw", rings, archive, BBX_LOGCAT);
  EXPECT_EQ(shell(logcat_env + " --run 0").out, "ready\nnow\n");
  EXPECT_EQ(shell(logcat_env + " --run -1").out, "ready\nx\ny\n");
  EXPECT_EQ(shell(logcat_env + " --run -2").out, "ready\na\ncrash!\n");
  EXPECT_EQ(shell(logcat_env + " --run 1").out, "ready\none\ntwo\nthree\n");
  EXPECT_EQ(shell(logcat_env + " --app echo --run=-3").out, "ready\none\ntwo\nthree\n");
  const Output none = shell(logcat_env + " --run -4");
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.out, "logcat: --run -4: no such run (4 runs in the inputs; see logcat runs)\n");
  EXPECT_EQ(shell(logcat_env + " --app other --run 0").status, 1);
  const Output json = shell(
      fmt::format("BBX_DIR={} BBX_ARCHIVE_DIR={} {} runs -o json", rings, archive, BBX_LOGCAT));
  EXPECT_NE(json.out.find("\"ended\":\"crashed: SIGSEGV\",\"records\":3,\"lost\":0}"),
            std::string::npos)
      << json.out;
}

// --show-cursor, --after-cursor, --cursor-file: a script resumes exactly after the last
// record it saw, each record once, while the archive rotates and records it saw in the ring
// move into the archive.
TEST(LogcatCursor, ResumesAfterTheCursorAcrossRotationAndArchiving) {
  const std::string dir = blackbox::test::make_temp_dir("cursor");
  blackbox::Config c = blackbox::Config::from_env();
  c.app = "cursor";
  c.archive_dir = dir;
  c.rotate_bytes = 64 << 10;
  c.flush_interval_ms = 60'000;  // only flush() writes the archive
  ASSERT_TRUE(blackbox::init(c).ok());
  std::uint64_t n = 0, x = 88172645463325252ull;
  auto log = [&](int count) {  // "n <i> <random>": incompressible enough to rotate
    for (int i = 0; i < count; ++i, ++n) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      BBX_INFO("n {} {}", n, x);
    }
  };
  auto numbers = [](const std::string& out, std::string* cursor) {
    std::vector<std::uint64_t> got;
    for (const std::string& line : lines_of(out)) {
      if (line.starts_with("-- cursor: ")) {
        *cursor = line.substr(11);
      } else {
        got.push_back(std::stoull(line.substr(2)));
      }
    }
    return got;
  };
  auto range = [](std::uint64_t from, std::uint64_t to) {
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = from; i < to; ++i) v.push_back(i);
    return v;
  };
  const std::string base =
      fmt::format("{} {} -p {} -o raw --color=never ", BBX_LOGCAT, dir, getpid());
  log(1000);
  ASSERT_TRUE(blackbox::flush());
  log(500);  // in the ring only
  std::string cursor1, cursor2, unused;
  EXPECT_EQ(numbers(shell(base + "--show-cursor").out, &cursor1), range(0, 1500));
  ASSERT_TRUE(cursor1.starts_with("c1.")) << cursor1;
  // Nothing new: nothing, and the same place.
  EXPECT_EQ(numbers(shell(base + "--show-cursor --after-cursor " + cursor1).out, &cursor2),
            range(0, 0));
  EXPECT_EQ(cursor2, cursor1);
  log(20'000);  // the ring's 500 and these are archived, in more than one file
  ASSERT_TRUE(blackbox::flush());
  log(300);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_GE(files, 2u);
  EXPECT_EQ(numbers(shell(base + "--show-cursor --after-cursor " + cursor1).out, &cursor2),
            range(1500, 21'800));
  // The archive alone (the ring not an input) from the same cursor: what was flushed.
  EXPECT_EQ(
      numbers(shell(fmt::format("{} {} -o raw --after-cursor {}", BBX_LOGCAT, dir, cursor1)).out,
              &unused),
      range(1500, 21'500));
  // --cursor-file: from the start when it does not exist, then after what it holds.
  const std::string file = dir + "/../cursor.txt";
  EXPECT_EQ(numbers(shell(base + "--cursor-file " + file).out, &unused), range(0, 21'800));
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(numbers(shell(base + "--cursor-file " + file).out, &unused), range(0, 0));
  log(7);
  EXPECT_EQ(numbers(shell(base + "--cursor-file " + file).out, &unused), range(21'800, 21'807));
  EXPECT_EQ(numbers(shell(base + "--cursor-file " + file + " -n 3").out, &unused), range(0, 0));
  log(5);
  EXPECT_EQ(numbers(shell(base + "--cursor-file " + file + " -n 3").out, &unused),
            range(21'809, 21'812));
  // A cursor is checked: anything else is a usage error.
  const Output bad = shell(base + "--after-cursor c1.zz");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.out, "logcat: bad cursor \"c1.zz\" (as --show-cursor printed it; see --help)\n");
  blackbox::shutdown();
}

TEST_F(LogcatTest, ReverseIsNewestFirst) {
  EXPECT_EQ(logcat(dir_ + " -o raw -r").out,
            "closed\nrequest 42 failed: timeout \"x\"\nslow query select *\n"
            "query select 1 took 0.2 ms\nconnect db1:5432\n");
  EXPECT_EQ(logcat(dir_ + " -o raw -r -n 2").out, "closed\nrequest 42 failed: timeout \"x\"\n");
  EXPECT_EQ(logcat(dir_ + " -o raw -n all").out, logcat(dir_ + " -o raw").out);
  EXPECT_EQ(logcat(dir_ + " -o raw -n 0").out, "");
  EXPECT_EQ(logcat(dir_ + " -o raw -r -n 0").out, "");
  const Output both = logcat(dir_ + " -r -f");
  EXPECT_EQ(both.status, 2);
  EXPECT_EQ(both.out, "logcat: -r and -f do not go together (see --help)\n");
}

// On a terminal (a pseudo-terminal from script(1), 5 rows), output longer than the screen
// goes through $PAGER; shorter output, --no-pager and a pipe do not.
TEST_F(LogcatTest, LongOutputOnATerminalGoesThroughThePager) {
  const std::string paged = dir_ + "/../paged.txt";
  auto on_terminal = [&](const std::string& args) {
    std::remove(paged.c_str());
    return shell(
        fmt::format("script -qec \"stty rows 5; PAGER='cat > {}' {} {} --color=never -o raw {}\" "
                    "/dev/null </dev/null",
                    paged, BBX_LOGCAT, dir_, args));
  };
  auto read_paged = [&] {
    std::ifstream in(paged);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::string all =
      "connect db1:5432\nquery select 1 took 0.2 ms\nslow query select *\n"
      "request 42 failed: timeout \"x\"\nclosed\n";
  // 5 lines on 4 usable rows: paged, whole, and nothing written past the pager.
  Output run = on_terminal("");
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_EQ(read_paged(), all);
  EXPECT_EQ(run.out, "");
  // 3 lines fit: written to the terminal (which turns \n into \r\n), no pager started.
  run = on_terminal("-n 3");
  EXPECT_EQ(run.out, "slow query select *\r\nrequest 42 failed: timeout \"x\"\r\nclosed\r\n");
  EXPECT_FALSE(std::filesystem::exists(paged));
  run = on_terminal("--no-pager");
  EXPECT_EQ(lines_of(run.out).size(), 5u) << run.out;
  EXPECT_FALSE(std::filesystem::exists(paged));
  // Not a terminal: never paged.
  std::remove(paged.c_str());
  run = shell(fmt::format("PAGER='cat > {}' {} {} -o raw | cat", paged, BBX_LOGCAT, dir_));
  EXPECT_EQ(run.out, all);
  EXPECT_FALSE(std::filesystem::exists(paged));
}

// -f on an archive of 3,000 records shows exactly the last 10, then each new record.
TEST(LogcatFollow, ShowsTheLastTenLinesThenFollows) {
  const std::string dir = blackbox::test::make_temp_dir("follow-ten");
  ASSERT_TRUE(start_logging("follow_ten", dir));
  for (int i = 0; i < 3000; ++i) BBX_INFO("line {}", i);
  ASSERT_TRUE(blackbox::flush());
  Child follower({BBX_LOGCAT, "-f", dir, "-o", "raw", "--interval", "0.02"});
  std::vector<std::string> want;
  for (int i = 2990; i < 3000; ++i) want.push_back(fmt::format("line {}", i));
  EXPECT_EQ(follower.read_until("line 2999"), want);
  for (int i = 3000; i < 3005; ++i) BBX_INFO("line {}", i);
  ASSERT_TRUE(blackbox::flush());
  want.clear();
  for (int i = 3000; i < 3005; ++i) want.push_back(fmt::format("line {}", i));
  EXPECT_EQ(follower.read_until("line 3004"), want);
  blackbox::shutdown();
}

// adb's -v formats and journalctl's time formats, on the fixture's records (one process).
TEST_F(LogcatTest, GoldenOutputOfEachLayoutAndTimeFormat) {
  const std::string pid = std::to_string(getpid());
  auto tid_masked = [](const std::string& s) {
    return std::regex_replace(s, std::regex(R"((\d+):(\d+))"), "PID:TID");
  };
  EXPECT_EQ(logcat(dir_ + " -v brief -l warn --color=never").out,
            fmt::format("W/db      ({:>5}): slow query select *\n"
                        "E/http    ({:>5}): request 42 failed: timeout \"x\" "
                        "trace=0af7651916cd43dd8448eb211c80319c\n",
                        pid, pid));
  const std::string adb_time = R"(\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})";
  const std::string time = logcat(dir_ + " -v time -l error --color=never").out;
  EXPECT_TRUE(std::regex_match(time, std::regex(adb_time + " E/http    \\( *" + pid +
                                                "\\): request 42 failed: timeout "
                                                "\"x\" trace=[0-9a-f]{32}\n")))
      << time;
  const std::string threadtime = logcat(dir_ + " -v threadtime -l warn -o text").out;
  EXPECT_TRUE(std::regex_match(lines_of(threadtime)[0], std::regex(adb_time + " +" + pid +
                                                                   " +\\d+ W db      : slow query "
                                                                   "select \\*")))
      << threadtime;
  EXPECT_EQ(
      tid_masked(masked(logcat(dir_ + " -v long -l error").out)),
      "[ TIME logcat_test PID:TID E/http ]\n"
      "request 42 failed: timeout \"x\"\n"
      "    id = 42\n"
      "    why = timeout \"x\"\n"
      "    trace_id = 0af7651916cd43dd8448eb211c80319c\n"
      "    span_id = b7ad6b7169203331\n"
      "    thread = logcat_test\n"
      "    at = " __FILE__ ":" +
          std::to_string(std::stoi(std::regex_replace(logcat(dir_ + " -o json -l error").out,
                                                      std::regex(R"(.*"line":(\d+)\}\n)"), "$1"))) +
          "\n\n");
  // Times: ISO with the offset, to the ns; seconds since 1970; since the process started;
  // since the previous line (the first line: 0).
  const auto first_time = [&](const std::string& args) {
    const std::string out = logcat(dir_ + " -n 1 -l warn --utc --color=never " + args).out;
    return out.substr(0, out.find(" E "));
  };
  EXPECT_TRUE(std::regex_match(first_time("--time-format iso"),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)")));
  EXPECT_TRUE(std::regex_match(first_time("--time-format iso-precise"),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00)")));
  const std::string epoch = first_time("--time-format unix");
  EXPECT_TRUE(std::regex_match(epoch, std::regex(R"(\d{10}\.\d{6})"))) << epoch;
  EXPECT_NEAR(std::stod(epoch), static_cast<double>(std::time(nullptr)), 600.0);
  EXPECT_TRUE(
      std::regex_match(first_time("--time-format mono"), std::regex(R"(\[ +\d+\.\d{6}\])")));
  const std::vector<std::string> delta =
      lines_of(logcat(dir_ + " --time-format delta --color=never").out);
  ASSERT_EQ(delta.size(), 5u);
  EXPECT_TRUE(delta[0].starts_with("+   0.000000 D ")) << delta[0];
  for (const std::string& line : delta) {
    EXPECT_TRUE(std::regex_search(line, std::regex(R"(^\+ +\d+\.\d{6} [DIWE] )"))) << line;
  }
  // On a terminal the trace id is shortened unless --full-ids; in a pipe it is whole.
  const std::string tty = shell(fmt::format("script -qec \"{} {} -l error --no-pager "
                                            "--color=never\" /dev/null </dev/null",
                                            BBX_LOGCAT, dir_))
                              .out;
  EXPECT_NE(tty.find(" trace=0af76519\r\n"), std::string::npos) << tty;
  const std::string full = shell(fmt::format("script -qec \"{} {} -l error --no-pager "
                                             "--color=never --full-ids\" /dev/null </dev/null",
                                             BBX_LOGCAT, dir_))
                               .out;
  EXPECT_NE(full.find(" trace=0af7651916cd43dd8448eb211c80319c\r\n"), std::string::npos) << full;
}

// The default line shows pid:tid when the inputs hold several processes, and the app when
// several apps; with one of each it stays as it was.
TEST(LogcatLayout, PidAndAppAppearWhenTheInputsHoldSeveral) {
  const std::string dir = blackbox::test::make_temp_dir("several");
  for (const char* app : {"alpha", "beta", "beta"}) {
    const auto run = blackbox::test::run_helper(
        {"archive-exit", "shutdown"}, {"BBX_APP=" + std::string(app), "BBX_ARCHIVE_DIR=" + dir});
    ASSERT_EQ(run.status, 0) << run.out;
  }
  const std::regex several_apps(R"(\S+ \S+ I (alpha|beta ) +\d+:\d+ main +n \d+)");
  const std::vector<std::string> lines = lines_of(logcat(dir + " -n 4 --color=never").out);
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, several_apps)) << line;
  const std::regex several_pids(R"(\S+ \S+ I +\d+:\d+ main +n \d+)");
  for (const auto& line : lines_of(logcat(dir + " --app beta -n 4 --color=never").out)) {
    EXPECT_TRUE(std::regex_match(line, several_pids)) << line;
  }
  const std::regex one(R"(\S+ \S+ I +\d+ main +n \d+)");
  for (const auto& line : lines_of(logcat(dir + " --app alpha -n 4 --color=never").out)) {
    EXPECT_TRUE(std::regex_match(line, one)) << line;
  }
}

// -F NAME and --fields, as journalctl's -F and -N: distinct values with their counts, most
// frequent first, and the field names present.
TEST_F(LogcatTest, DistinctValuesAndFieldNames) {
  EXPECT_EQ(logcat(dir_ + " -F tag").out,
            "           2  db\n           2  net\n           1  http\n");
  EXPECT_EQ(logcat(dir_ + " -F sql").out, "           1  select *\n           1  select 1\n");
  EXPECT_EQ(logcat(dir_ + " -F sql -l warn").out, "           1  select *\n");
  EXPECT_EQ(logcat(dir_ + " -F level").out,
            "           2  info\n           1  debug\n           1  error\n           1  warn\n");
  EXPECT_EQ(logcat(dir_ + " -F app").out, "           5  logcat_test\n");
  EXPECT_EQ(logcat(dir_ + " -F app -l error").out, "           1  logcat_test\n");
  EXPECT_EQ(logcat(dir_ + " -F pid").out, fmt::format("{:>12}  {}\n", 5, getpid()));
  const std::vector<std::string> threads = lines_of(logcat(dir_ + " -F thread").out);
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_TRUE(threads[0].starts_with("           4  ")) << threads[0];
  EXPECT_TRUE(threads[1].starts_with("           1  ")) << threads[1];
  EXPECT_EQ(logcat(dir_ + " -F nosuchfield").out, "");
  EXPECT_EQ(logcat(dir_ + " --fields").out, "host\nid\nms\nport\nsql\nwhy\n");
  EXPECT_EQ(logcat(dir_ + " --fields -l error").out, "id\nwhy\n");
  // What the readers do for it: only the chunks and records of call sites with the field,
  // and for a count, no argument decoded.
  auto reader = blackbox::ArchiveReader::open(dir_);
  ASSERT_NE(reader, nullptr);
  blackbox::ReadFilter filter;
  filter.with_fields = {"sql"};
  filter.fields = false;
  filter.message = false;
  reader->set_filter(filter);
  std::vector<std::string> tags;
  reader->poll([&](const blackbox::Record& r) {
    tags.emplace_back(r.tag);
    EXPECT_TRUE(r.message.empty());
    EXPECT_TRUE(r.fields.empty());
  });
  EXPECT_EQ(tags, (std::vector<std::string>{"db", "db"}));
}

// The lnav format for -o json (share/lnav): lnav, headless, recognises our lines, their
// times, levels, tags and fields.
TEST_F(LogcatTest, LnavReadsTheJsonLines) {
  if (system("command -v lnav > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "lnav is not installed (scripts/install-deps.sh installs Debian's lnav)";
  }
  const std::string home = blackbox::test::make_temp_dir("lnav-home");
  const std::string lines = home + "/records.jsonl";
  ASSERT_EQ(logcat(dir_ + " -o json > " + lines).status, 0);
  const Output installed = shell(fmt::format("HOME={} lnav -i {}", home, BBX_LNAV_FORMAT));
  ASSERT_EQ(installed.status, 0) << installed.out;
  const Output query = shell(fmt::format(
      "HOME={} lnav -n -c ';SELECT log_level, app, tag, jget(fields, \"/sql\") AS sql, log_body "
      "FROM blackbox_log' -c ':write-csv-to -' {}",
      home, lines));
  ASSERT_EQ(query.status, 0) << query.out;
  EXPECT_EQ(query.out,
            "log_level,app,tag,sql,log_body\n"
            "debug,logcat_test,net,<NULL>,connect db1:5432\n"
            "info,logcat_test,db,select 1,query select 1 took 0.2 ms\n"
            "warning,logcat_test,db,select *,slow query select *\n"
            "error,logcat_test,http,<NULL>,\"request 42 failed: timeout \"\"x\"\"\"\n"
            "info,logcat_test,net,<NULL>,closed\n");
  // The trace id is lnav's operation id (lnav 0.11 sets it only from a field its line-format
  // shows), and the line shows it after the message, as logcat's text does.
  const Output opid = shell(fmt::format(
      "HOME={} lnav -n -c ';SELECT log_opid, log_body FROM blackbox_log WHERE log_opid IS NOT "
      "NULL' -c ':write-csv-to -' {}",
      home, lines));
  EXPECT_EQ(opid.out,
            "log_opid,log_body\n"
            "0af7651916cd43dd8448eb211c80319c,\"request 42 failed: timeout \"\"x\"\"\"\n")
      << opid.out;
  const Output shown = shell(fmt::format("HOME={} lnav -n {}", home, lines));
  EXPECT_NE(shown.out.find(" http     request 42 failed: timeout \"x\" "
                           "0af7651916cd43dd8448eb211c80319c\n"),
            std::string::npos)
      << shown.out;
  // Times: lnav parsed ours (the first record's, to the millisecond lnav keeps).
  const Output first = shell(fmt::format(
      "HOME={} lnav -n -c ';SELECT log_time FROM blackbox_log LIMIT 1' -c ':write-csv-to -' {}",
      home, lines));
  const std::string ours = blackbox::test::lines_of(logcat(dir_ + " -o json").out).at(0);
  EXPECT_NE(first.out.find(ours.substr(9, 10) + " " + ours.substr(20, 12)), std::string::npos)
      << first.out << " / " << ours;
}
