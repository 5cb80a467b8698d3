// docs/operations.md cannot go stale: every command in it is run here, in order, against a
// live process ("orders", the ctl-child helper) and one that crashed, and must succeed with
// the first line of its output as the page shows it (numbers, durations and ids aside).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::test::Child;

struct Step {
  std::string command;
  std::string first_line;  // of the output the page shows
};

// The ```console blocks: "$ command" lines, each followed by its output.
std::vector<Step> steps_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<Step> steps;
  std::string line;
  bool in_block = false, want_output = false;
  while (std::getline(in, line)) {
    if (line == "```console") {
      in_block = true;
      continue;
    }
    if (in_block && line == "```") {
      in_block = false;
      continue;
    }
    if (!in_block) continue;
    if (line.rfind("$ ", 0) == 0) {
      steps.push_back({line.substr(2), ""});
      want_output = true;
    } else if (want_output) {
      steps.back().first_line = line;
      want_output = false;
    }
  }
  return steps;
}

// What may differ from run to run: ids, durations, numbers, column widths.
std::string normalised(std::string s) {
  s = std::regex_replace(s, std::regex(R"(\b[0-9a-f]{16}\b)"), "<id>");
  s = std::regex_replace(s, std::regex(R"(\b\d+(\.\d+)? ?(ns|µs|us|ms|s|min|h)\b)"), "<time>");
  s = std::regex_replace(s, std::regex(R"(\b(\d+[dhms])+\b)"), "<time>");
  s = std::regex_replace(s, std::regex(R"(\d+)"), "0");
  s = std::regex_replace(s, std::regex(R"(\s+)"), " ");
  return s;
}

TEST(Runbook, EveryCommandRunsAsThePageSays) {
  const std::vector<Step> steps = steps_of(BBX_RUNBOOK);
  ASSERT_GE(steps.size(), 8u) << "no commands found in " << BBX_RUNBOOK;
  const std::string rings = blackbox::test::make_temp_dir("rings");
  const std::string archive = blackbox::test::make_temp_dir("archive");
  const auto crashed = blackbox::test::run_helper(
      {"crash", "segv", "1"},
      blackbox::test::let_segv_through({"BBX_DIR=" + rings, "BBX_ARCHIVE_DIR=" + archive}));
  ASSERT_EQ(crashed.status, 128 + SIGSEGV) << crashed.out;
  std::string crashed_pid;
  for (const auto& e : std::filesystem::directory_iterator(rings)) {
    std::smatch m;
    const std::string name = e.path().filename();
    if (std::regex_match(name, m, std::regex(R"(crash\.(\d+)\.bbr)"))) crashed_pid = m[1];
  }
  ASSERT_FALSE(crashed_pid.empty());
  Child orders({blackbox::test::helper_path(), "ctl-child"},
               {{"BBX_DIR", rings}, {"BBX_ARCHIVE_DIR", archive}, {"BBX_APP", "orders"}});
  orders.read_until("ready");
  int next = 1;
  for (; next <= 5; ++next) {
    orders.send(std::to_string(next));
    orders.read_until(std::to_string(next));
  }
  const std::string logcat_dir = std::filesystem::path(BBX_LOGCAT).parent_path();
  const std::vector<std::string> env = {"PATH=" + logcat_dir + ":" + std::getenv("PATH"),
                                        "BBX_DIR=" + rings,
                                        "BBX_ARCHIVE_DIR=" + archive,
                                        "PID=" + std::to_string(orders.pid()),
                                        "CRASHED=" + crashed_pid,
                                        "TRACE=4bf92f3577b34da6a3ce929d0e0e4736"};
  for (const Step& step : steps) {
    SCOPED_TRACE(step.command);
    const auto run = blackbox::test::run_split("/bin/sh", {"-c", step.command}, env);
    EXPECT_EQ(run.status, 0) << run.out << run.err;
    std::string first = run.out.substr(0, run.out.find('\n'));
    // The page's ring directory is the default one.
    if (const auto at = first.find(rings); at != std::string::npos) {
      first.replace(at, rings.size(), "/dev/shm/blackbox-1000");
    }
    EXPECT_EQ(normalised(first), normalised(step.first_line))
        << "got:  " << first << "\npage: " << step.first_line;
    // The page logs a record after turning net to debug: the next command shows it.
    if (step.command.find(" level net=debug") != std::string::npos) {
      orders.send(std::to_string(next));
      orders.read_until(std::to_string(next));
      ++next;
    }
  }
  orders.close_stdin();
  EXPECT_EQ(orders.wait(), 0);
}

}  // namespace
