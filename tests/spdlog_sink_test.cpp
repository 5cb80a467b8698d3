// blackbox's spdlog sink: spdlog's default, named and async loggers write into the ring and
// the archive; logcat reads every message back with its level, tag and source location; and
// a kill -9 loses none of the messages spdlog had handed to the sink.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace {

using blackbox::test::lines_of;
using blackbox::test::make_temp_dir;
using blackbox::test::run_program;

std::string member(const std::string& json, const std::string& key) {
  const std::regex re("\"" + key + "\":(\"[^\"]*\"|[0-9]+)");
  std::smatch m;
  return std::regex_search(json, m, re) ? m[1].str() : "";
}

TEST(SpdlogSinkTest, EveryLoggerReadBackWithLevelTagAndSource) {
  constexpr int kN = 500;
  const std::string archive = make_temp_dir("archive"), rings = make_temp_dir("rings");
  const auto run = run_program(BBX_SPDLOG_CHILD, {"all", std::to_string(kN)},
                               {"BBX_ARCHIVE_DIR=" + archive, "BBX_DIR=" + rings, "BBX_CONSOLE=off",
                                "BBX_LEVEL=trace", "BBX_APP=spdlog"});
  ASSERT_EQ(run.status, 0) << run.out;
  int net_line = 0, jobs_line = 0;
  ASSERT_EQ(std::sscanf(run.out.c_str(), "net_line=%d jobs_line=%d", &net_line, &jobs_line), 2);

  const auto json = lines_of(run_program(BBX_LOGCAT, {"-o", "json", archive}).out);
  ASSERT_EQ(json.size(), std::size_t{4 * kN});
  std::map<std::string, std::vector<std::string>> messages;  // by tag and level
  for (const auto& line : json) {
    const std::string tag = member(line, "tag"), level = member(line, "severity_text");
    messages[tag + " " + level].push_back(member(line, "message"));
    if (tag == "\"net\"" || tag == "\"jobs\"") {
      EXPECT_NE(member(line, "file").find("spdlog_child.cpp"), std::string::npos) << line;
      EXPECT_EQ(member(line, "line"), std::to_string(tag == "\"net\"" ? net_line : jobs_line))
          << line;
    } else {
      EXPECT_EQ(member(line, "line"), "0") << line;  // spdlog::info() has no source location
    }
  }
  ASSERT_EQ(messages.size(), 4u);
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(messages["\"main\" \"INFO\""][i], "\"default " + std::to_string(i) + "\"");
    EXPECT_EQ(messages["\"main\" \"DEBUG\""][i], "\"debug " + std::to_string(i) + "\"");
    EXPECT_EQ(messages["\"net\" \"WARN\""][i], "\"net " + std::to_string(i) + " to host\"");
    EXPECT_EQ(messages["\"jobs\" \"FATAL\""][i], "\"job " + std::to_string(i) + " failed\"");
  }
}

// An async logger whose second sink acknowledges each message once blackbox's sink took it:
// killed with SIGKILL after 2,000 acknowledgements, every acknowledged message is in the
// ring the process left.
TEST(SpdlogSinkTest, KillNineLosesNothingHandedToTheSink) {
  const std::string rings = make_temp_dir("rings");
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    setenv("BBX_DIR", rings.c_str(), 1);
    setenv("BBX_ARCHIVE_DIR", "off", 1);
    setenv("BBX_CONSOLE", "off", 1);
    execl(BBX_SPDLOG_CHILD, BBX_SPDLOG_CHILD, "ack", nullptr);
    _exit(127);
  }
  close(out[1]);
  std::string acked;
  char buf[4096];
  while (std::count(acked.begin(), acked.end(), '\n') < 2000) {
    const ssize_t n = read(out[0], buf, sizeof buf);
    ASSERT_GT(n, 0);
    acked.append(buf, static_cast<std::size_t>(n));
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) acked.append(buf, std::size_t(n));
  close(out[0]);
  acked.resize(acked.rfind('\n') + 1);  // whole acknowledgements only

  const auto logged = lines_of(run_program(BBX_LOGCAT, {"-o", "raw", rings}).out);
  const std::set<std::string> in_ring(logged.begin(), logged.end());
  const auto acks = lines_of(acked);
  ASSERT_GE(acks.size(), 2000u);
  for (const auto& a : acks) ASSERT_TRUE(in_ring.count(a) == 1) << "message " << a << " lost";
}

}  // namespace
