// Child processes that really crash (tests/support/helper.cpp, "crash KIND THREADS"): a
// null dereference, a bus error, an integer division by zero, __builtin_trap, abort(), an
// uncaught exception, and kill -9, each with one and with four threads logging. Every
// record the child acknowledged before it died is in its ring file; the crash report names
// the signal, the crashing thread and, among its stack addresses, the crashing function;
// the child still dies of its signal; a handler installed before blackbox's still runs.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "blackbox/reader.hpp"
#include "support/test_env.hpp"

namespace {

struct Kind {
  const char* name;
  int signal;            // what the child must die of
  const char* function;  // the crashing function, as its symbolised stack names it
};

#ifdef BBX_LOGCAT
// logcat's JSON crash object for a ring file (stdout only).
std::string crash_json(const std::string& ring) {
  return blackbox::test::command_output(std::string(BBX_LOGCAT) + " -o json -l fatal " + ring);
}
#endif

struct ChildRun {
  std::string dir;  // BBX_DIR; the archive is in dir/archive
  pid_t pid = 0;
  std::string ring_path;
  std::set<std::pair<int, int>> acked;  // (thread, record)
  // Acknowledged before the child said it would crash: logged before the crash dump began
  // (the others keep logging while the handler runs).
  std::set<std::pair<int, int>> acked_before_crash;
  long crash_tid = 0;
  std::set<long> crashers;  // "segv-all": every thread that is about to crash
  std::uint64_t crash_function = 0;
  bool previous_handler_ran = false;
  int status = 0;
};

// Runs the helper and reads what it says until it dies (a kill -9 once it is about to
// crash, for "kill"). A child that hangs is killed after a minute and the test fails.
ChildRun run_child(const std::string& kind, int threads,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
  ChildRun run;
  const std::string dir = blackbox::test::make_temp_dir("crash-handler");
  run.dir = dir;
  int out[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    setenv("BBX_DIR", dir.c_str(), 1);
    setenv("BBX_ARCHIVE_DIR", (dir + "/archive").c_str(), 1);
    setenv("BBX_CRASH_DIR", (dir + "/crashes").c_str(), 1);
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    // The crash is the point: no core file, and sanitizers must let the signal through.
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    for (const char* name : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
      std::string options = std::getenv(name) != nullptr ? std::getenv(name) : "";
      options += ":handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
      setenv(name, options.c_str(), 1);
    }
    const std::string helper = blackbox::test::helper_path();
    const std::string count = std::to_string(threads);
    execl(helper.c_str(), helper.c_str(), "crash", kind.c_str(), count.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  run.pid = pid;
  std::string pending;
  char buffer[65536];
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 60'000) == 0) {
      ADD_FAILURE() << "the child hung";
      kill(pid, SIGKILL);
      break;
    }
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;  // it died
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t end;
    while ((end = pending.find('\n')) != std::string::npos) {
      std::istringstream line(pending.substr(0, end));
      pending.erase(0, end + 1);
      std::string word;
      line >> word;
      if (word == "ack") {
        int t = 0, i = 0;
        line >> t >> i;
        run.acked.emplace(t, i);
      } else if (word == "ring") {
        line >> run.ring_path;
      } else if (word == "crash") {
        std::string address;
        line >> run.crash_tid >> address;
        run.acked_before_crash = run.acked;
        run.crash_function = std::stoull(address, nullptr, 16);
        if (kind == "kill") kill(pid, SIGKILL);
      } else if (word == "crasher") {
        long tid = 0;
        line >> tid;
        run.crashers.insert(tid);
      } else if (word == "prev") {
        run.previous_handler_ran = true;
      }
    }
  }
  close(out[0]);
  waitpid(pid, &run.status, 0);
  return run;
}

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

// The numbered records ("thread {t} record {i}") a ring file holds, as (thread, record).
std::pair<int, int> record_key(const blackbox::Record& r) {
  return {static_cast<int>(std::get<std::int64_t>(r.fields.at(0).value)),
          static_cast<int>(std::get<std::int64_t>(r.fields.at(1).value))};
}
std::set<std::pair<int, int>> numbered_records(blackbox::RingReader& reader) {
  std::set<std::pair<int, int>> out;
  reader.poll([&](const blackbox::Record& r) {
    if (r.message_template == "thread {t} record {i}") out.insert(record_key(r));
  });
  return out;
}

class CrashHandler : public ::testing::TestWithParam<std::tuple<Kind, int>> {};

TEST_P(CrashHandler, ReportsTheCrashAndKeepsEveryAcknowledgedRecord) {
  const Kind kind = std::get<0>(GetParam());
  const int threads = std::get<1>(GetParam());
  const ChildRun run = run_child(kind.name, threads);
  ASSERT_TRUE(WIFSIGNALED(run.status)) << "status " << run.status;
  EXPECT_EQ(WTERMSIG(run.status), kind.signal) << "the child must die of its own signal";
  ASSERT_FALSE(run.ring_path.empty());
  ASSERT_NE(run.crash_tid, 0) << "the child never got to its crash";

  std::string error;
  auto reader = blackbox::RingReader::open(run.ring_path, &error);
  ASSERT_TRUE(reader) << error;
  const blackbox::RingInfo info = reader->info();
  if (kind.signal == SIGKILL) {
    EXPECT_EQ(info.state, blackbox::RingState::live);  // nothing runs on kill -9
    EXPECT_FALSE(info.crash);
  } else {
    EXPECT_EQ(info.state, blackbox::RingState::crashed);
    ASSERT_TRUE(info.crash);
    EXPECT_EQ(info.crash->signal, kind.signal);
    EXPECT_EQ(info.crash->tid, static_cast<std::uint32_t>(run.crash_tid));
    EXPECT_EQ(info.crash->other_threads, 0u);
    // The crashing function is on the stack (a return address inside it).
    bool found = false;
    for (const std::uint64_t frame : info.crash->frames) {
      found = found || (frame >= run.crash_function && frame <= run.crash_function + 256);
    }
    EXPECT_TRUE(found) << info.crash->frames.size() << " frames";
#ifdef BBX_LOGCAT
    // Symbolised (libdw, in logcat), the stack names the crashing function.
    const std::string json = crash_json(run.ring_path);
    EXPECT_NE(json.find(std::string("\"function\":\"") + kind.function + "\""), std::string::npos)
        << json;
#endif
    if (std::string(kind.name) == "throw") {
      EXPECT_EQ(info.crash->exception, "std::runtime_error: the test threw this");
    } else {
      EXPECT_EQ(info.crash->exception, "");
    }
    // The null dereference faulted at 0; abort() raised the signal (no fault address, and
    // not the sender's pid that si_addr's place holds then).
    if (kind.signal == SIGSEGV || kind.signal == SIGABRT) {
      EXPECT_EQ(info.crash->fault_address, 0u);
    }
  }
  if (std::string(kind.name) == "prev") {
    EXPECT_TRUE(run.previous_handler_ran);
  }

  // Every acknowledged record is in the ring file (the default 1 MiB rings hold them all).
  std::set<std::pair<int, int>> logged;
  bool warned = false;
  std::array<std::uint8_t, 16> warned_trace{};
  std::array<std::uint8_t, 8> warned_span{};
  reader->poll([&](const blackbox::Record& r) {
    if (r.message_template == "thread {t} record {i}") {
      logged.insert(record_key(r));
    } else if (r.message == std::string("about to crash: ") + kind.name) {
      warned = true;
      EXPECT_EQ(r.tid, static_cast<std::uint32_t>(run.crash_tid));
      EXPECT_TRUE(r.has_trace);
      warned_trace = r.trace_id;
      warned_span = r.span_id;
    }
  });
  EXPECT_TRUE(warned);
  // The report names the request the thread was in when it crashed: the trace and span its
  // last record carries (a span of its own inside the incoming trace).
  const auto expect_trace = [&](const blackbox::CrashInfo& crash, const char* where) {
    EXPECT_TRUE(crash.has_trace) << where;
    EXPECT_EQ(hex(crash.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736") << where;
    EXPECT_EQ(crash.trace_id, warned_trace) << where;
    EXPECT_EQ(crash.span_id, warned_span) << where;
    EXPECT_NE(hex(crash.span_id), "00f067aa0ba902b7") << where;  // not the incoming parent
  };
  if (info.crash) expect_trace(*info.crash, "ring");
  EXPECT_GE(run.acked.size(), static_cast<std::size_t>(101 * threads));
  std::size_t missing = 0;
  for (const auto& a : run.acked) missing += logged.count(a) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "of " << run.acked.size() << " acknowledged records";
  EXPECT_EQ(reader->lost_records(), 0u);
  reader.reset();

  // The handler's second copy, in the crash directory: the same report, the same records.
  const std::string dump = run.dir + "/crashes/crash." + std::to_string(run.pid) + ".crash.bbd";
  if (kind.signal == SIGKILL) {
    EXPECT_NE(access(dump.c_str(), F_OK), 0);
  } else {
    auto copy = blackbox::RingReader::open(dump, &error);
    ASSERT_TRUE(copy) << error;
    const blackbox::RingInfo copy_info = copy->info();
    ASSERT_TRUE(copy_info.crash);
    EXPECT_EQ(copy_info.crash->signal, kind.signal);
    expect_trace(*copy_info.crash, "dump");
    EXPECT_EQ(copy_info.crash->tid, static_cast<std::uint32_t>(run.crash_tid));
    const std::set<std::pair<int, int>> dumped = numbered_records(*copy);
    std::size_t not_dumped = 0;
    for (const auto& a : run.acked_before_crash) not_dumped += dumped.count(a) == 0 ? 1 : 0;
    EXPECT_GE(run.acked_before_crash.size(), static_cast<std::size_t>(101 * threads));
    EXPECT_EQ(not_dumped, 0u) << "of " << run.acked_before_crash.size()
                              << " records acknowledged before the crash";
    EXPECT_EQ(copy->lost_records(), 0u);
  }

  // The next start of the same app recovers the ring: what the child had not archived goes
  // into an archive file of its own with the crash report, and the ring file goes. Its
  // archive then holds every acknowledged record exactly once.
  const auto start = blackbox::test::run_helper(
      {"start", "crash"}, {"BBX_DIR=" + run.dir, "BBX_ARCHIVE_DIR=" + run.dir + "/archive"});
  ASSERT_EQ(start.status, 0) << start.out;
  EXPECT_NE(start.out.find("recovered 1 "), std::string::npos) << start.out;
  EXPECT_NE(access(run.ring_path.c_str(), F_OK), 0) << "the ring file must be gone";
  auto archive = blackbox::ArchiveReader::open(run.dir + "/archive", &error);
  ASSERT_TRUE(archive) << error;
  std::map<std::pair<int, int>, int> archived;
  for (const blackbox::Record& r : archive->read_sorted()) {
    if (r.pid == run.pid && r.message_template == "thread {t} record {i}") {
      ++archived[record_key(r)];
    }
  }
  std::size_t not_once = 0;
  for (const auto& a : run.acked) not_once += archived[a] == 1 ? 0 : 1;
  EXPECT_EQ(not_once, 0u) << "of " << run.acked.size() << " acknowledged records";
  EXPECT_EQ(archive->lost_records(), 0u);
  EXPECT_TRUE(archive->damage().empty());
  int reports = 0, files_of_child = 0;
  for (const auto& file : archive->files()) {
    files_of_child += file.pid == run.pid ? 1 : 0;
    if (!file.crash) continue;
    ++reports;
    EXPECT_EQ(file.pid, run.pid);
    EXPECT_EQ(file.crash->signal, kind.signal);
    EXPECT_EQ(file.crash->tid, static_cast<std::uint32_t>(run.crash_tid));
    expect_trace(*file.crash, "archive");
  }
  EXPECT_EQ(reports, kind.signal == SIGKILL ? 0 : 1);
  EXPECT_EQ(files_of_child, 2) << "its own archive file, and the recovered one";
}

// Every thread crashes at once: one report (by one of them), the others wait for it, and
// the process still dies of SIGSEGV with every acknowledged record kept. Whatever the
// interleaving, nothing hangs (the test would never end) and nothing is lost.
TEST(CrashHandlerConcurrent, ThreadsCrashingTogetherLeaveOneReport) {
  for (int round = 0; round < 5; ++round) {
    const ChildRun run = run_child("segv-all", 4);
    ASSERT_TRUE(WIFSIGNALED(run.status)) << "status " << run.status;
    EXPECT_EQ(WTERMSIG(run.status), SIGSEGV);
    ASSERT_EQ(run.crashers.size(), 4u);
    std::string error;
    auto reader = blackbox::RingReader::open(run.ring_path, &error);
    ASSERT_TRUE(reader) << error;
    const blackbox::RingInfo info = reader->info();
    ASSERT_TRUE(info.crash);
    EXPECT_EQ(info.crash->signal, SIGSEGV);
    const long reporter = info.crash->tid;
    EXPECT_TRUE(reporter == run.crash_tid || run.crashers.count(reporter) == 1) << reporter;
    // The report's trace context is the reporting thread's own: the main thread was in a
    // trace, the workers were not.
    EXPECT_EQ(info.crash->has_trace, reporter == run.crash_tid) << reporter;
    EXPECT_LE(info.crash->other_threads, 4u);
    const std::set<std::pair<int, int>> logged = numbered_records(*reader);
    EXPECT_EQ(run.acked.size(), 4u * 101);
    for (const auto& a : run.acked) EXPECT_EQ(logged.count(a), 1u);
  }
}

// The crash dumps in a child's crash directory.
std::size_t crash_dumps(const ChildRun& run) {
  std::size_t n = 0;
  if (DIR* d = opendir((run.dir + "/crashes").c_str())) {
    while (const dirent* e = readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
    closedir(d);
  }
  return n;
}

// The handler itself crashes while it writes the report: the process still dies (never
// hangs: the test would time out), of the signal the handler was reporting (not of the
// handler's own fault), with no dump (the fault came before it) and every acknowledged
// record in the ring file. No report is claimed: its magic is written last.
TEST(CrashHandlerFault, ACrashInsideTheHandlerEndsTheProcessWithTheOriginalSignal) {
  if (blackbox::test::kThreadSanitizer) {
    // Its runtime takes every signal first and delivers a fault raised inside a handler
    // itself: the process dies of the second fault, before the handler sees it.
    GTEST_SKIP() << "ThreadSanitizer handles a fault inside a signal handler itself";
  }
  for (const auto& [kind, signal] :
       {std::pair{"segv-in-handler", SIGSEGV}, std::pair{"bus-in-handler", SIGSEGV},
        std::pair{"segv-in-abort-handler", SIGABRT}}) {
    SCOPED_TRACE(kind);
    const ChildRun run = run_child(kind, 2);
    ASSERT_TRUE(WIFSIGNALED(run.status)) << "status " << run.status;
    EXPECT_EQ(WTERMSIG(run.status), signal);
    EXPECT_EQ(crash_dumps(run), 0u);
    std::string error;
    auto reader = blackbox::RingReader::open(run.ring_path, &error);
    ASSERT_TRUE(reader) << error;
    EXPECT_FALSE(reader->info().crash);
    const std::set<std::pair<int, int>> logged = numbered_records(*reader);
    EXPECT_GE(run.acked.size(), 2u * 101);
    std::size_t missing = 0;
    for (const auto& a : run.acked) missing += logged.count(a) == 0 ? 1 : 0;
    EXPECT_EQ(missing, 0u);
  }
}

// BBX_DUMP_SIGNAL=SEGV in a process that never calls init() (the first record starts the
// logger from the environment): the dump handler must not replace the crash handler. The
// segfault gives one report, one crash dump, and kills the process (before the fix: a dump
// per turn of the repeating fault, forever).
TEST(CrashHandlerFault, ADumpSignalNeverTakesACrashSignalOnTheLazyStart) {
  for (const char* name : {"SEGV", "ABRT", "ALRM"}) {
    SCOPED_TRACE(name);
    const ChildRun run =
        run_child("lazy-segv", 1, {{"BBX_DUMP_SIGNAL", name}, {"BBX_APP", "crash"}});
    ASSERT_TRUE(WIFSIGNALED(run.status)) << "status " << run.status;
    EXPECT_EQ(WTERMSIG(run.status), SIGSEGV);
    EXPECT_EQ(crash_dumps(run), 1u);
    std::string error;
    auto reader = blackbox::RingReader::open(run.ring_path, &error);
    ASSERT_TRUE(reader) << error;
    ASSERT_TRUE(reader->info().crash);
    EXPECT_EQ(reader->info().crash->signal, SIGSEGV);
  }
}

const Kind kKinds[] = {{"segv", SIGSEGV, "crash_segv()"},
                       {"bus", SIGBUS, "crash_bus()"},
                       {"fpe", SIGFPE, "crash_fpe()"},
                       {"ill", SIGILL, "crash_ill()"},
                       {"abort", SIGABRT, "crash_abort()"},
                       {"throw", SIGABRT, "crash_throw()"},
                       {"kill", SIGKILL, ""},
                       {"prev", SIGSEGV, "crash_segv()"},
                       {"dlopen", SIGSEGV, "bbx_plugin_crash"}};

INSTANTIATE_TEST_SUITE_P(Matrix, CrashHandler,
                         ::testing::Combine(::testing::ValuesIn(kKinds), ::testing::Values(1, 4)),
                         [](const auto& param) {
                           return std::string(std::get<0>(param.param).name) + "_" +
                                  std::to_string(std::get<1>(param.param)) + "_threads";
                         });

}  // namespace
