// Captured stdout and stderr (Config::capture_stdio, LineCapture) and bbx-run: every line
// written to fd 1 or 2 is a record, also passed through to where the fd pointed before; a
// crash loses none of them; the console and the capture do not feed each other.
#include "blackbox/capture.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::test::lines_of;
using blackbox::test::make_temp_dir;
using blackbox::test::run_program;
using blackbox::test::run_split;

// "tag: message" for each record logcat reads in `path`, in time order.
std::vector<std::string> tagged(const std::string& path) {
  std::vector<std::string> out;
  const std::regex re(R"re("tag":"([^"]*)".*"message":"([^"]*)")re");
  for (const auto& line : lines_of(run_program(BBX_LOGCAT, {"-o", "json", path}).out)) {
    std::smatch m;
    if (std::regex_search(line, m, re)) out.push_back(m[1].str() + ": " + m[2].str());
  }
  return out;
}

std::vector<std::string> only(const std::vector<std::string>& records, const std::string& tag) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    if (r.rfind(tag + ": ", 0) == 0) out.push_back(r.substr(tag.size() + 2));
  }
  return out;
}

using blackbox::test::let_segv_through;

// printf, std::cout, write(2), a child process and a line without its newline, then a
// segfault: every line is in the ring the process left, and went to the real fds too.
TEST(CaptureTest, CrashLosesNoLineWrittenBeforeIt) {
  const std::string rings = make_temp_dir("rings");
  std::vector<std::string> env = {"BBX_CAPTURE=1", "BBX_DIR=" + rings, "BBX_ARCHIVE_DIR=off",
                                  "BBX_CONSOLE=off"};
  for (auto& e : let_segv_through()) env.push_back(e);
  const auto run = run_split(blackbox::test::helper_path(), {"capture-crash"}, env);
  EXPECT_EQ(run.status, 139);
  EXPECT_EQ(run.out, "printf line\ncout line\ncout line without flush\nchild line\n");
  EXPECT_EQ(run.err, "write2 line\nchild err\npartial line without newline");
  const auto records = tagged(rings);
  EXPECT_EQ(only(records, "stdout"),
            (std::vector<std::string>{"printf line", "cout line", "cout line without flush",
                                      "child line"}));
  EXPECT_EQ(only(records, "stderr"),
            (std::vector<std::string>{"write2 line", "child err", "partial line without newline"}));
}

// The program ends without a word (_exit, kill -9): no shutdown, no crash handler. Every
// line it wrote still reaches the terminal and the log: the capture thread takes bytes from
// the pipes only once handled, and the capture keeper handles what they still hold once the
// process is gone (a line the thread handled just before may come twice, never not at all).
TEST(CaptureTest, ALineWrittenBeforeExitOrKillIsNeverLost) {
  if (blackbox::test::kThreadSanitizer || blackbox::test::kAddressSanitizer) {
    GTEST_SKIP() << "no capture keeper under ThreadSanitizer or AddressSanitizer (their "
                    "runtimes do not follow a fork of a threaded process)";
  }
  for (const auto& [how, status] :
       {std::pair{"_exit", 3}, std::pair{"_exit-unlogged", 3}, std::pair{"kill", 128 + SIGKILL}}) {
    SCOPED_TRACE(how);
    const std::string rings = make_temp_dir("rings");
    const std::vector<std::string> env = {"BBX_CAPTURE=1", "BBX_DIR=" + rings,
                                          "BBX_ARCHIVE_DIR=off", "BBX_CONSOLE=off"};
    const auto run = run_split(blackbox::test::helper_path(), {"capture-exit", how}, env);
    EXPECT_EQ(run.status, status);
    const auto records = tagged(rings);
    const std::vector<std::string> out = lines_of(run.out), err = lines_of(run.err);
    const std::vector<std::string> logged_out = only(records, "stdout");
    const std::vector<std::string> logged_err = only(records, "stderr");
    auto has = [](const std::vector<std::string>& v, const std::string& s) {
      return std::find(v.begin(), v.end(), s) != v.end();
    };
    std::size_t missing = 0;
    for (int i = 0; i < 1000; ++i) {
      const std::string line = "line " + std::to_string(i);
      missing += has(out, line) ? 0 : 1;
      missing += has(logged_out, line) ? 0 : 1;
    }
    for (int i = 0; i < 100; ++i) {
      const std::string line = "err " + std::to_string(i);
      missing += has(err, line) ? 0 : 1;
      missing += has(logged_err, line) ? 0 : 1;
    }
    EXPECT_EQ(missing, 0u) << run.out.size() << " bytes out, " << logged_out.size()
                           << " stdout records";
    // Twice only what the capture thread had passed through but not yet taken from the pipe
    // (one read's worth): the terminal shows the lines in order, going back at most once.
    int back = 0, previous = -1;
    for (const std::string& line : out) {
      const int n = std::stoi(line.substr(5));
      if (n <= previous) ++back;
      EXPECT_LE(n, previous + 1) << "a line skipped on the terminal";
      previous = n;
    }
    EXPECT_LE(back, 1) << run.out;
  }
}

// BBX_CAPTURE=1 captures from the process's start: lines written before the first log call
// (no init() at all) are records too, in order before it.
TEST(CaptureTest, StartsWithTheProcessNotTheFirstLogCall) {
  const std::string archive = make_temp_dir("archive");
  const auto run = run_split(blackbox::test::helper_path(), {"capture-early"},
                             {"BBX_CAPTURE=1", "BBX_CONSOLE=off",
                              "BBX_DIR=" + make_temp_dir("rings"), "BBX_ARCHIVE_DIR=" + archive});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "before any log call\n");
  EXPECT_EQ(run.err, "early stderr\n");
  const auto records = tagged(archive);
  EXPECT_EQ(only(records, "stdout"), std::vector<std::string>{"before any log call"});
  EXPECT_EQ(only(records, "stderr"), std::vector<std::string>{"early stderr"});
  EXPECT_EQ(only(records, "main"), std::vector<std::string>{"first record"});
}

// The console and captured lines on one terminal (stdout and stderr into one pipe): a line the
// program writes after a record is shown after that record's console line, every time
// (without waiting, the console's lines came up to 50 ms late, after the program's own).
// Records logged after the line may come before it: the capture reads the pipe a moment
// after the write, and shows every record logged until then first.
TEST(CaptureTest, CapturedLinesComeAfterTheRecordsBeforeThem) {
  const auto run =
      run_program("/bin/sh", {"-c", blackbox::test::helper_path() + " capture-order 2>&1"},
                  {"BBX_CAPTURE=1", "BBX_CONSOLE=on", "BBX_DIR=" + make_temp_dir("rings"),
                   "BBX_ARCHIVE_DIR=" + make_temp_dir("archive")});
  ASSERT_EQ(run.status, 0) << run.out;
  const auto lines = lines_of(run.out);
  ASSERT_EQ(lines.size(), 40u) << run.out;
  std::map<std::string, std::size_t> at;  // "record 3", "line 3": where each is shown
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& l = lines[n];
    const std::size_t record = l.find(" main     record ");
    EXPECT_TRUE(at.emplace(record != std::string::npos ? l.substr(record + 10) : l, n).second) << l;
  }
  for (int i = 0; i < 20; ++i) {
    const std::string record = "record " + std::to_string(i), line = "line " + std::to_string(i);
    ASSERT_TRUE(at.contains(record) && at.contains(line)) << run.out;
    EXPECT_LT(at[record], at[line]) << run.out;
    if (i > 0) {
      EXPECT_LT(at["line " + std::to_string(i - 1)], at[line]) << run.out;
    }
  }
}

// With the console on: stderr shows the program's own stderr lines (passed through) and the
// console's lines for its records, each once; the captured lines are not shown twice, and no
// console line is captured back (the archive holds the records and the lines, no more).
TEST(CaptureTest, ConsoleAndCaptureDoNotFeedEachOther) {
  const std::string archive = make_temp_dir("archive");
  const auto run = run_split(blackbox::test::helper_path(), {"capture-console"},
                             {"BBX_CAPTURE=1", "BBX_CONSOLE=on",
                              "BBX_DIR=" + make_temp_dir("rings"), "BBX_ARCHIVE_DIR=" + archive});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "stdout line\nafter shutdown\n");
  const auto err = lines_of(run.err);
  ASSERT_EQ(err.size(), 5u) << run.err;
  int records = 0, raw = 0;
  for (const auto& line : err) {
    records += line.find(" W ") != std::string::npos && line.find("record ") != std::string::npos;
    raw += line.rfind("stderr line ", 0) == 0;
  }
  EXPECT_EQ(records, 3) << run.err;
  EXPECT_EQ(raw, 2) << run.err;
  const auto archived = tagged(archive);
  EXPECT_EQ(archived.size(), 6u);
  EXPECT_EQ(only(archived, "stderr"), (std::vector<std::string>{"stderr line 0", "stderr line 1"}));
  EXPECT_EQ(only(archived, "stdout"), (std::vector<std::string>{"stdout line"}));
}

// A child process holds the capture's pipes for 10 minutes: shutdown() returns all the same (were
// it to wait for the pipes' end, this test would hang), restores fd 1, and the line written before
// it is in the archive.
TEST(CaptureTest, ShutdownReturnsWhileAGrandchildHoldsThePipe) {
  const std::string archive = make_temp_dir("archive");
  const auto run = run_split(blackbox::test::helper_path(), {"capture-grandchild"},
                             {"BBX_CAPTURE=1", "BBX_CONSOLE=off",
                              "BBX_DIR=" + make_temp_dir("rings"), "BBX_ARCHIVE_DIR=" + archive});
  ASSERT_EQ(run.status, 0) << run.err;
  int holder = 0;
  ASSERT_EQ(std::sscanf(run.out.c_str(), "before shutdown\nafter shutdown, holder %d", &holder), 1)
      << run.out;
  kill(holder, SIGKILL);
  EXPECT_EQ(only(tagged(archive), "stdout"), std::vector<std::string>{"before shutdown"});
}

// LineCapture alone: long lines in pieces of max_line, CRLF, a partial line at stop, and
// the bytes passed through unchanged.
TEST(CaptureTest, LinesPiecesAndPassThrough) {
  int in[2], through[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(through, O_CLOEXEC | O_NONBLOCK), 0);
  const std::string text = "short\r\n" + std::string(40, 'x') + "\nno newline";
  {
    blackbox::LineCapture capture({{in[0], "captest", blackbox::Level::info, through[1]}}, 16);
    ASSERT_EQ(write(in[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(in[1]);
    capture.stop(1000);  // end of file: everything is read
    EXPECT_EQ(capture.lines(), 5u);
  }
  std::string passed(text.size() + 1, '\0');
  ASSERT_EQ(read(through[0], passed.data(), passed.size()), static_cast<ssize_t>(text.size()));
  passed.resize(text.size());
  EXPECT_EQ(passed, text);
  std::vector<std::string> messages;
  for (const auto& r : blackbox::test::read_own_ring()) {
    if (r.tag == "captest") messages.push_back(r.message);
  }
  EXPECT_EQ(messages, (std::vector<std::string>{"short", std::string(16, 'x'), std::string(16, 'x'),
                                                std::string(8, 'x'), "no newline"}));
  close(through[0]);
  close(through[1]);
}

// A blackbox program under bbx-run on a terminal keeps its console (on a terminal by
// default): its lines reach the terminal once, through the descriptor bbx-run hands down
// (BBX_CONSOLE_FD), not through bbx-run's pipe, so they are not recorded again as stderr.
TEST(BbxRunTest, AWrappedBlackboxProgramKeepsItsConsole) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "script(1) (Debian's bsdutils) is not installed: no pseudo-terminal";
  }
  const std::string archive = make_temp_dir("archive");
  const std::string terminal = blackbox::test::command_output(
      "env -u BBX_CONSOLE -u BBX_CONSOLE_FD BBX_DIR=" + make_temp_dir("rings") +
      " BBX_ARCHIVE_DIR=" + archive + " NO_COLOR=1 script -qec '" + BBX_RUN + " -- " +
      blackbox::test::helper_path() + " console-span' /dev/null </dev/null");
  std::size_t ends = 0;
  for (std::size_t at = 0;
       (at = terminal.find(" span     end of handle 0 after ", at)) != std::string::npos; ++at) {
    ++ends;
  }
  EXPECT_EQ(ends, 1u) << terminal;
  const auto records = tagged(archive);
  EXPECT_EQ(only(records, "stderr"), std::vector<std::string>{}) << records.size();
  EXPECT_EQ(only(records, "main"), (std::vector<std::string>{"handle 0", "worker 0: request 0"}));
}

// logcat runs: a blackbox program under bbx-run is one run (its own, with bbx-run's records
// counted in), not two; a program that is not one ends as it did, not as bbx-run did.
TEST(BbxRunTest, RunsShowTheWrappedProgramOnceAndHowItEnded) {
  const std::string archive = make_temp_dir("archive");
  const std::vector<std::string> env = {"BBX_DIR=" + make_temp_dir("rings"),
                                        "BBX_ARCHIVE_DIR=" + archive, "BBX_CONSOLE=off"};
  EXPECT_EQ(
      run_split(BBX_RUN, {"--app", "wrapped", "--", blackbox::test::helper_path(), "console-span"},
                env)
          .status,
      0);
  EXPECT_EQ(run_split(BBX_RUN, {"--app", "segv", "--", "sh", "-c", "kill -SEGV $$"}, env).status,
            139);
  EXPECT_EQ(run_split(BBX_RUN, {"--app", "three", "--", "sh", "-c", "exit 3"}, env).status, 3);
  const auto runs = lines_of(run_program(BBX_LOGCAT, {"runs", "-o", "json", archive}).out);
  std::map<std::string, std::vector<std::string>> ended;  // by app
  const std::regex re(R"re("app":"([^"]*)".*"ended":"([^"]*)","records":(\d+))re");
  for (const auto& line : runs) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, re)) << line;
    ended[m[1].str()].push_back(m[2].str() + " " + m[3].str());
  }
  // The helper's run: its 3 records and bbx-run's 2 (started, exited).
  EXPECT_EQ(ended["blackbox_test_helper"], std::vector<std::string>{"exited 5"});
  EXPECT_EQ(ended["wrapped"], std::vector<std::string>{});  // bbx-run's own run, joined
  EXPECT_EQ(ended["segv"], std::vector<std::string>{"crashed: SIGSEGV 2"});
  EXPECT_EQ(ended["three"], std::vector<std::string>{"exited: status 3 2"});
}

TEST(BbxRunTest, RecordsOutputAndDeathAndExitsAsTheProgramDid) {
  const std::string archive = make_temp_dir("archive");
  const std::vector<std::string> env = {"BBX_DIR=" + make_temp_dir("rings"),
                                        "BBX_ARCHIVE_DIR=" + archive};
  const auto run =
      run_split(BBX_RUN, {"--", "sh", "-c", "echo out; echo err >&2; kill -SEGV $$"}, env);
  EXPECT_EQ(run.status, 139);
  EXPECT_EQ(run.out, "out\n");
  EXPECT_EQ(run.err, "err\n");
  const auto records = tagged(archive);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_NE(records[0].find("bbx-run: started sh as pid"), std::string::npos) << records[0];
  EXPECT_EQ(only(records, "stdout"), std::vector<std::string>{"out"});
  EXPECT_EQ(only(records, "stderr"), std::vector<std::string>{"err"});
  EXPECT_TRUE(std::regex_search(records[3],
                                std::regex(R"(^bbx-run: sh \(pid \d+\) was killed by SIGSEGV)")))
      << records[3];
  // The archive is the app's: named after the command.
  EXPECT_NE(run_program(BBX_LOGCAT, {"-o", "json", archive}).out.find("sh"), std::string::npos);

  EXPECT_EQ(run_split(BBX_RUN, {"--app", "three", "--", "sh", "-c", "exit 3"}, env).status, 3);
  const auto missing = run_split(BBX_RUN, {"--", "/nonexistent/program"}, env);
  EXPECT_EQ(missing.status, 127);
  EXPECT_NE(missing.err.find("No such file"), std::string::npos) << missing.err;
}

}  // namespace
