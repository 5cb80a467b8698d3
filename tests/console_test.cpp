// The console (Config::console): records shown as lines on stderr (or JSON on stdout) by the
// flusher thread, exactly the lines logcat prints for the same records, and a console that
// cannot take them never blocks a logging thread (its lines are counted instead).
#include "core/console.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace {

using blackbox::test::lines_of;
using blackbox::test::make_temp_dir;
using blackbox::test::run_split;

// "console_lines=N console_not_shown=M records_archived=K lost=L", the helper's last line.
struct HelperStats {
  unsigned long long lines = 0, not_shown = 0, archived = 0, lost = 0;
};
HelperStats stats_of(const std::string& line) {
  HelperStats s;
  EXPECT_EQ(std::sscanf(line.c_str(),
                        "console_lines=%llu console_not_shown=%llu records_archived=%llu lost=%llu",
                        &s.lines, &s.not_shown, &s.archived, &s.lost),
            4)
      << line;
  return s;
}

std::string logcat(const std::string& args) {
  const auto r =
      blackbox::test::run_program("/bin/sh", {"-c", std::string(BBX_LOGCAT) + " " + args});
  return r.out;
}

class ConsoleTest : public ::testing::Test {
 protected:
  std::vector<std::string> env(const std::string& console) {
    return {"BBX_CONSOLE=" + console, "BBX_DIR=" + ring_dir_, "BBX_ARCHIVE_DIR=" + archive_dir_,
            "BBX_APP=console"};
  }
  std::string ring_dir_ = make_temp_dir("rings");
  std::string archive_dir_ = make_temp_dir("archive");
};

// Several threads, one line per record on stderr, each once, in order per thread, and the
// very lines logcat prints for the archive of the same run.
TEST_F(ConsoleTest, ShowsEveryRecordAsLogcatPrintsIt) {
  constexpr int kThreads = 4, kRecords = 2000;
  const auto run =
      run_split(blackbox::test::helper_path(),
                {"console", std::to_string(kThreads), std::to_string(kRecords)}, env("on"));
  ASSERT_EQ(run.status, 0) << run.err;
  const auto err = lines_of(run.err);
  ASSERT_EQ(err.size(), std::size_t{kThreads * kRecords}) << run.out << run.err.substr(0, 200);
  const HelperStats s = stats_of(lines_of(run.out).back());
  EXPECT_EQ(s.lines, std::size_t{kThreads * kRecords});
  EXPECT_EQ(s.not_shown, 0u);

  // Each record once, in its thread's order.
  const std::regex record(R"(thread (\d+) record (\d+) of someone)");
  std::map<int, int> next;
  for (const auto& line : err) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, record)) << line;
    const int thread = std::stoi(m[1]), i = std::stoi(m[2]);
    EXPECT_EQ(i, next[thread]) << line;
    next[thread] = i + 1;
    EXPECT_EQ(line[27], i % 10 == 9 ? 'W' : 'I') << line;  // the level letter
  }
  EXPECT_EQ(next.size(), std::size_t{kThreads});

  // logcat's text format, line for line (logcat sorts by time across threads; the console
  // sorts within a pass: compare as sets, each line once). The times are compared apart:
  // a ring read during the first second converts clock ticks with the calibration of that
  // moment, the archive with a later one (they may differ by some microseconds).
  const std::regex time(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} )");
  auto without_time = [&](std::vector<std::string> lines) {
    for (auto& line : lines) {
      EXPECT_TRUE(std::regex_search(line, time)) << line;
      line.erase(0, 27);
    }
    return lines;
  };
  auto from_logcat = without_time(lines_of(logcat("--color=never " + archive_dir_)));
  auto shown = without_time(err);
  std::sort(from_logcat.begin(), from_logcat.end());
  std::sort(shown.begin(), shown.end());
  EXPECT_EQ(shown, from_logcat);
}

// A crash on the terminal: the console draws only every BBX_CONSOLE_MS (here 10 s, so that no
// pass could come before the crash by chance), yet every line logged before the crash is
// shown, in order, and then one line saying what happened and which command reads the
// post-mortem; that command works.
TEST_F(ConsoleTest, ACrashShowsItsLastLinesAndWhereThePostMortemIs) {
  auto environment = blackbox::test::let_segv_through(env("on"));
  environment.push_back("BBX_CONSOLE_MS=10000");
  const auto run = run_split(blackbox::test::helper_path(), {"console-crash"}, environment);
  ASSERT_TRUE(WIFSIGNALED(run.status)) << run.status << run.out << run.err;
  EXPECT_EQ(WTERMSIG(run.status), SIGSEGV);
  int pid = 0, tid = 0;
  ASSERT_EQ(std::sscanf(run.out.c_str(), "pid %d tid %d", &pid, &tid), 2) << run.out;

  const auto err = lines_of(run.err);
  ASSERT_EQ(err.size(), 22u) << run.err;
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(err[i].ends_with(" main     request " + std::to_string(i) + " served")) << err[i];
    EXPECT_EQ(err[i][27], 'I') << err[i];
  }
  EXPECT_TRUE(err[20].ends_with(" main     about to dereference a null pointer")) << err[20];
  EXPECT_EQ(err[20][27], 'W') << err[20];
  EXPECT_EQ(err[21], "blackbox: crashed with SIGSEGV in thread " + std::to_string(tid) +
                         " (worker); post-mortem: logcat -p " + std::to_string(pid));

  // The command it names, as the user would paste it (the ring directory from the
  // environment, as the program had it).
  const std::string post_mortem = blackbox::test::command_output(
      "BBX_DIR=" + ring_dir_ + " " + BBX_LOGCAT + " --color=never -p " + std::to_string(pid));
  EXPECT_NE(post_mortem.find("about to dereference a null pointer"), std::string::npos)
      << post_mortem;
  EXPECT_NE(post_mortem.find("SIGSEGV"), std::string::npos) << post_mortem;
}

// A span's end reads as logcat reads it ("end of handle 0 after 1.2 ms"), not as the record's
// raw message: one wording everywhere.
TEST_F(ConsoleTest, SpanEndsReadAsLogcatReadsThem) {
  const auto run = run_split(blackbox::test::helper_path(), {"console-span"}, env("on"));
  ASSERT_EQ(run.status, 0) << run.err;
  const auto err = lines_of(run.err);
  ASSERT_EQ(err.size(), 3u) << run.err;
  EXPECT_NE(err[0].find(" main     handle 0 trace="), std::string::npos) << err[0];
  EXPECT_NE(err[2].find(" span     end of handle 0 after "), std::string::npos) << err[2];
  const auto archived = lines_of(logcat("--color=never " + archive_dir_));
  ASSERT_EQ(archived.size(), 3u);
  // The same words (the times may differ by the calibration: compared without them).
  EXPECT_EQ(err[2].substr(27), archived[2].substr(27));
}

// BBX_CONSOLE_FD (bbx-run hands its terminal down by it) that is garbage, out of range, a
// standard descriptor or not open: the console stays on stderr, every line there once.
TEST_F(ConsoleTest, AConsoleFdThatIsNotUsableIsIgnored) {
  for (const char* fd : {"x7", "7x", "-1", "2", "1", "99999", "900", ""}) {
    auto environment = env("on");
    environment.push_back(std::string("BBX_CONSOLE_FD=") + fd);
    const auto run = run_split(blackbox::test::helper_path(), {"console-span"}, environment);
    ASSERT_EQ(run.status, 0) << fd << ": " << run.err;
    const auto err = lines_of(run.err);
    ASSERT_EQ(err.size(), 3u) << fd << ": " << run.err;
    EXPECT_NE(err[2].find(" span     end of handle 0 after "), std::string::npos) << err[2];
  }
}

// The notice's words: each signal by name, an uncaught exception said, a thread name's
// control bytes never reach the terminal, a line that does not fit is cut but ends.
TEST(CrashNoticeTest, Words) {
  blackbox::crash::CrashNotice n;
  n.signal = SIGABRT;
  n.tid = 12;
  n.terminate = true;
  std::snprintf(n.thread_name, sizeof n.thread_name, "a\x1b[2Jb");
  char line[256];
  std::size_t size = blackbox::core::crash_notice_line(n, 11, true, line, sizeof line);
  EXPECT_EQ(std::string(line, size),
            "blackbox: crashed with SIGABRT (an uncaught exception) in thread 12 (a?[2Jb); "
            "post-mortem: logcat -p 11\n");
  n.signal = 99;
  n.terminate = false;
  n.thread_name[0] = '\0';
  size = blackbox::core::crash_notice_line(n, 11, false, line, sizeof line);
  EXPECT_EQ(std::string(line, size),
            "blackbox: crashed with signal 99 in thread 12; its last console lines could not be "
            "shown; post-mortem: logcat -p 11\n");
  size = blackbox::core::crash_notice_line(n, 11, true, line, 20);
  EXPECT_EQ(std::string(line, size), "blackbox: crashed w\n");
}

// A level threshold of its own: BBX_CONSOLE=warn shows warnings only; the archive keeps all.
TEST_F(ConsoleTest, LevelOfItsOwn) {
  const auto run = run_split(blackbox::test::helper_path(), {"console", "2", "100"}, env("warn"));
  ASSERT_EQ(run.status, 0) << run.err;
  const auto err = lines_of(run.err);
  ASSERT_EQ(err.size(), 20u) << run.err;
  for (const auto& line : err) EXPECT_EQ(line[27], 'W') << line;
  EXPECT_EQ(stats_of(lines_of(run.out).back()).archived, 200u);
}

// "auto" (the default) with stderr a pipe, not a terminal: no console. "off": none either.
TEST_F(ConsoleTest, AutoIsOffWithoutATerminal) {
  for (const std::string mode : {"auto", "off"}) {
    const auto run = run_split(blackbox::test::helper_path(), {"console", "2", "100"}, env(mode));
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.err, "") << mode;
    EXPECT_EQ(stats_of(lines_of(run.out).back()).lines, 0u);
  }
}

// json: one object per line on stdout, the lines `logcat -o json` prints for the archive.
TEST_F(ConsoleTest, JsonLinesOnStdout) {
  const auto run = run_split(blackbox::test::helper_path(), {"console", "3", "50"}, env("json"));
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  auto out = lines_of(run.out);
  ASSERT_EQ(out.size(), 151u);
  out.pop_back();  // the helper's stats
  for (const auto& line : out) {
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_EQ(line.back(), '}') << line;
    EXPECT_NE(line.find(R"("fields":{"thread":)"), std::string::npos) << line;
    EXPECT_NE(line.find(R"("user":"someone"})"), std::string::npos) << line;
  }
  auto from_logcat = lines_of(logcat("-o json " + archive_dir_));
  // (The times apart, as above: "time":"2026-11-30T04:11:29.338736Z" is 36 bytes.)
  for (auto& line : from_logcat) line.erase(0, 36);
  for (auto& line : out) line.erase(0, 36);
  std::sort(from_logcat.begin(), from_logcat.end());
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, from_logcat);
}

// stderr a pipe nobody reads: the logging threads finish (a console that blocked them would
// hang this test), the archive has every record, and the console's lines are accounted
// for exactly: those in the pipe were shown, the rest counted as not shown.
TEST_F(ConsoleTest, BlockedPipeNeverBlocksLogging) {
  constexpr int kThreads = 4, kRecords = 20000;
  int err_pipe[2], out_pipe[2];
  ASSERT_EQ(pipe2(err_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out_pipe, O_CLOEXEC), 0);
  const auto vars = env("on");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (const auto& e : vars) putenv(const_cast<char*>(e.c_str()));
    const std::string helper = blackbox::test::helper_path();
    execl(helper.c_str(), helper.c_str(), "console", std::to_string(kThreads).c_str(),
          std::to_string(kRecords).c_str(), nullptr);
    _exit(127);
  }
  close(err_pipe[1]);
  close(out_pipe[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(out_pipe[0], buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::string err;
  for (ssize_t n; (n = read(err_pipe[0], buf, sizeof buf)) > 0;) err.append(buf, std::size_t(n));
  close(err_pipe[0]);
  close(out_pipe[0]);

  const HelperStats s = stats_of(lines_of(out).back());
  // Complete lines of records (a "... N lines not shown" note may be there too: the pipe
  // may have had room for it before it filled up).
  unsigned long long complete = 0;
  const auto lines = lines_of(err.substr(0, err.rfind('\n') + 1));
  for (const auto& line : lines) complete += line.rfind("... ", 0) != 0 ? 1 : 0;
  // Flat out, four threads can lap the flusher (which also renders the console): what the
  // archive lost is counted, exactly.
  EXPECT_EQ(s.archived + s.lost, std::size_t{kThreads * kRecords});
  EXPECT_GT(s.not_shown, 0u);
  EXPECT_EQ(complete, s.lines);
  EXPECT_EQ(s.lines + s.not_shown, std::size_t{kThreads * kRecords});
}

TEST(ConsoleSpecTest, Parses) {
  using blackbox::core::ConsoleSpec;
  using blackbox::core::parse_console_spec;
  using Mode = ConsoleSpec::Mode;
  ConsoleSpec spec;
  std::string error;
  ASSERT_TRUE(parse_console_spec("auto", spec, error));
  EXPECT_EQ(spec.mode, Mode::automatic);
  EXPECT_EQ(spec.level, blackbox::Level::trace);
  ASSERT_TRUE(parse_console_spec("warn", spec, error));
  EXPECT_EQ(spec.mode, Mode::on);
  EXPECT_EQ(spec.level, blackbox::Level::warn);
  ASSERT_TRUE(parse_console_spec("json:error", spec, error));
  EXPECT_EQ(spec.mode, Mode::json);
  EXPECT_EQ(spec.level, blackbox::Level::error);
  ASSERT_TRUE(parse_console_spec("off", spec, error));
  EXPECT_EQ(spec.mode, Mode::off);
  EXPECT_FALSE(parse_console_spec("yes", spec, error));
  EXPECT_NE(error.find("expected auto, on, off, json"), std::string::npos) << error;
  EXPECT_FALSE(parse_console_spec("on:loud", spec, error));
  EXPECT_NE(error.find("unknown level \"loud\""), std::string::npos) << error;
  EXPECT_FALSE(parse_console_spec("warn:info", spec, error));
  EXPECT_FALSE(parse_console_spec("", spec, error));
}

// The writer under a full pipe: partial writes and 0 when full, never a wait; -1 (and no
// SIGPIPE) once the reader is gone.
TEST(NonBlockingWriterTest, FullPipeAndGoneReader) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr), 0);
  blackbox::core::NonBlockingWriter writer(fds[1]);
  const std::string block(4096, 'x');
  long total = 0, n;
  while ((n = writer.write(block.data(), block.size())) > 0) total += n;
  EXPECT_EQ(n, 0);
  EXPECT_EQ(total, fcntl(fds[1], F_GETPIPE_SZ));
  // The program's own description is still blocking: the writer never changed it.
  EXPECT_EQ(fcntl(fds[1], F_GETFL) & O_NONBLOCK, 0);
  close(fds[0]);
  EXPECT_EQ(writer.write(block.data(), block.size()), -1);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  close(fds[1]);
}

}  // namespace
