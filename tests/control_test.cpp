// Control and telemetry through the ring file, from outside: logcat ctl changes a live
// process's levels (for a while), flushes, rotates and dumps it; another user is refused;
// logcat top lists the processes of the host; the telemetry counts exactly what a run
// logged and lost.
#include "blackbox/control.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"
#include "blackbox/reader.hpp"
#include "support/child.hpp"
#include "support/test_env.hpp"

namespace {

using blackbox::test::Child;
namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string out;
};

Output logcat(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  const auto r = blackbox::test::run_program(BBX_LOGCAT, args, env);
  return {r.status, r.out};
}

std::string ring_of(pid_t pid) {
  return fmt::format("{}/ctlchild.{}.bbr", std::getenv("BBX_DIR"), pid);
}

// Every record of the archive directory, "tag message" each, in time order.
std::vector<std::string> archived(const std::string& dir) {
  std::string error;
  auto reader = blackbox::ArchiveReader::open(dir, &error);
  EXPECT_TRUE(reader) << error;
  std::vector<std::string> out;
  if (!reader) return out;
  for (const auto& r : reader->read_sorted()) out.push_back(fmt::format("{} {}", r.tag, r.message));
  return out;
}

std::vector<std::string> with_tag(const std::vector<std::string>& lines, const std::string& tag) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.rfind(tag + " ", 0) == 0) out.push_back(l.substr(tag.size() + 1));
  }
  return out;
}

// Waits (a guard of a minute against a hang, not a timing assertion) until `done` holds.
bool eventually(const std::function<bool()>& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// An external `logcat ctl` turns tag net to debug for a while: debug records of net appear
// from the next call on, and stop once the time is up, with no call into the library from the
// program (ctl-child never sets a level). Both changes are audit records in the archive.
TEST(Control, ATagSetToDebugFromOutsideForAWhile) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  Child child({blackbox::test::helper_path(), "ctl-child"}, {{"BBX_ARCHIVE_DIR", archive}});
  ASSERT_EQ(child.read_until("ready").back(), "ready");
  child.send("1");
  child.read_until("1");
  const auto set =
      logcat({"ctl", "-p", std::to_string(child.pid()), "level", "net=debug", "--for", "1s"});
  ASSERT_EQ(set.status, 0) << set.out;
  EXPECT_EQ(set.out,
            fmt::format("pid {} (ctlchild): level of net set to debug for 1s\n", child.pid()));
  const auto levels = logcat({"ctl", "-p", std::to_string(child.pid()), "levels"});
  EXPECT_EQ(levels.status, 0) << levels.out;
  EXPECT_NE(levels.out.find("ctlchild): info,net=debug\n  net = debug until "), std::string::npos)
      << levels.out;
  child.send("2");
  child.read_until("2");
  // The process reverts it by itself; logcat is long gone.
  ASSERT_TRUE(eventually([&] {
    const auto l = blackbox::read_levels(ring_of(child.pid()));
    return l && l->timed.empty();
  }));
  EXPECT_EQ(blackbox::read_levels(ring_of(child.pid()))->spec, "info");
  child.send("3");
  child.read_until("3");
  child.close_stdin();
  ASSERT_EQ(child.wait(), 0);

  const auto lines = archived(archive);
  EXPECT_EQ(with_tag(lines, "net"),
            (std::vector<std::string>{"net info 1", "net debug 2", "net info 2", "net info 3"}));
  const auto audit = with_tag(lines, "blackbox");
  ASSERT_EQ(audit.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_TRUE(std::regex_match(
      audit[0],
      std::regex(R"(level of net set to debug for 1s from outside, by pid \d+ uid \d+ as claimed )"
                 R"(\(checked: pid \d+ runs as uid \d+; only uid \d+ and root can )"
                 R"(write the ring file\))")))
      << audit[0];
  EXPECT_TRUE(std::regex_match(
      audit[1], std::regex(R"(level of net back to the default \(info\): the time set from )"
                           R"(outside by pid \d+ uid \d+ \(as claimed\) is up)")))
      << audit[1];
}

// Audit records cannot be turned off: `level blackbox=off` (or `off` for everything, or a
// rate limit on the tag) silences the logger's other notes, not the record of each request
// from outside (that one included).
TEST(Control, AuditRecordsCannotBeSilenced) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  Child child({blackbox::test::helper_path(), "ctl-child"}, {{"BBX_ARCHIVE_DIR", archive}});
  ASSERT_EQ(child.read_until("ready").back(), "ready");
  const std::string pid = std::to_string(child.pid());
  ASSERT_EQ(logcat({"ctl", "-p", pid, "level", "blackbox=off"}).status, 0);
  ASSERT_EQ(logcat({"ctl", "-p", pid, "rate", "blackbox=1/h"}).status, 0);
  ASSERT_EQ(logcat({"ctl", "-p", pid, "level", "off"}).status, 0);
  ASSERT_EQ(logcat({"ctl", "-p", pid, "rates"}).status, 0);
  ASSERT_EQ(logcat({"ctl", "-p", pid, "rates"}).status, 0);
  child.close_stdin();
  ASSERT_EQ(child.wait(), 0);
  const auto audit = with_tag(archived(archive), "blackbox");
  ASSERT_EQ(audit.size(), 5u) << ::testing::PrintToString(audit);
  EXPECT_EQ(audit[0].rfind("level of blackbox set to off from outside, by pid ", 0), 0u)
      << audit[0];
  EXPECT_EQ(audit[1].rfind("rate limits set to blackbox=1/h from outside", 0), 0u) << audit[1];
  EXPECT_EQ(audit[4].rfind("rate limits: blackbox=1/h from outside", 0), 0u) << audit[4];
}

// A level set without --for stays; the default level too; --app reaches every live process
// of the app; a request the process cannot apply is refused with the reason.
TEST(Control, DefaultLevelAppAndRefusals) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  Child a({blackbox::test::helper_path(), "ctl-child"}, {{"BBX_ARCHIVE_DIR", archive}});
  Child b({blackbox::test::helper_path(), "ctl-child"}, {{"BBX_ARCHIVE_DIR", archive}});
  a.read_until("ready");
  b.read_until("ready");
  const auto set = logcat({"ctl", "--app", "ctlchild", "level", "warn", "db=info"});
  ASSERT_EQ(set.status, 0) << set.out;
  EXPECT_EQ(blackbox::test::lines_of(set.out).size(), 4u) << set.out;
  for (Child* c : {&a, &b}) {
    EXPECT_EQ(blackbox::read_levels(ring_of(c->pid()))->spec, "warn,db=info");
    c->send("7");
    c->read_until("7");
  }
  const auto bad = logcat({"ctl", "-p", std::to_string(a.pid()), "level", "a b=debug"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("refused: not a tag a level spec can name"), std::string::npos) << bad.out;
  const auto nobody = logcat({"ctl", "-p", "999999999", "flush"});
  EXPECT_EQ(nobody.status, 1);
  EXPECT_NE(nobody.out.find("no live blackbox process with pid 999999999"), std::string::npos)
      << nobody.out;
  const auto usage = logcat({"ctl", "-p", std::to_string(a.pid()), "level", "net=loud"});
  EXPECT_EQ(usage.status, 2) << usage.out;
  for (Child* c : {&a, &b}) {
    c->close_stdin();
    EXPECT_EQ(c->wait(), 0);
  }
  // Only db's info records got through (warn is the default now, net has no level of its
  // own), from both processes.
  const auto lines = archived(archive);
  EXPECT_EQ(with_tag(lines, "db"), (std::vector<std::string>{"db info 7", "db info 7"}));
  EXPECT_TRUE(with_tag(lines, "net").empty());
}

// flush, rotate and dump from outside: records the flusher would have kept for a minute reach
// the archive at once; a rotation starts a new file; a dump is a readable ring image.
TEST(Control, FlushRotateAndDump) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  Child child({blackbox::test::helper_path(), "ctl-child"},
              {{"BBX_ARCHIVE_DIR", archive}, {"BBX_FLUSH_MS", "60000"}});
  child.read_until("ready");
  child.send("+5");  // logged, not flushed
  child.read_until("5");
  EXPECT_TRUE(with_tag(archived(archive), "db").empty());
  const std::string pid = std::to_string(child.pid());
  const auto flushed = logcat({"ctl", "-p", pid, "flush"});
  ASSERT_EQ(flushed.status, 0) << flushed.out;
  EXPECT_EQ(with_tag(archived(archive), "db"), std::vector<std::string>{"db info 5"});
  auto files = [&] {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(archive)) n += e.path().extension() == ".bbx";
    return n;
  };
  EXPECT_EQ(files(), 1u);
  const auto rotated = logcat({"ctl", "-p", pid, "rotate"});
  ASSERT_EQ(rotated.status, 0) << rotated.out;
  child.send("6");
  child.read_until("6");
  EXPECT_EQ(files(), 2u);
  const std::string dump = blackbox::test::make_temp_dir("dump") + "/live.bbd";
  const auto dumped = logcat({"ctl", "-p", pid, "dump", dump});
  ASSERT_EQ(dumped.status, 0) << dumped.out;
  EXPECT_EQ(dumped.out, fmt::format("pid {} (ctlchild): dump written to {}\n", pid, dump));
  std::string error;
  auto reader = blackbox::RingReader::open(dump, &error);
  ASSERT_TRUE(reader) << error;
  std::vector<std::string> messages;
  for (const auto& r : reader->read_sorted()) messages.push_back(r.message);
  EXPECT_NE(std::find(messages.begin(), messages.end(), "db info 6"), messages.end());
  child.close_stdin();
  EXPECT_EQ(child.wait(), 0);
  // Each request is in the audit trail.
  const auto audit = with_tag(archived(archive), "blackbox");
  ASSERT_EQ(audit.size(), 3u) << ::testing::PrintToString(audit);
  EXPECT_EQ(audit[0].substr(0, 19), "flush from outside,");
  EXPECT_EQ(audit[1].substr(0, 22), "rotation from outside,");
  EXPECT_EQ(audit[2].substr(0, 16 + dump.size()), "dump written to " + dump);
}

// A dump's path is the requester's input. Each of these is refused with the reason, at
// once (a FIFO must not block the flusher: the flush after it must still work), and
// changes nothing: a file another user created for us to fill (0666), a FIFO, a symbolic
// link, the process's own ring file (it would die of SIGBUS, its ring emptied), its current
// archive file or directory, a directory that does not exist. Without a path the dump gets
// a generated name in the dump directory (given a directory, in that one), which the answer
// gives; it is a new 0600 file.
TEST(Control, DumpPathsThatCouldLeakBlockOrDestroyAreRefused) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  const std::string dumps = blackbox::test::make_temp_dir("dumps");
  Child child({blackbox::test::helper_path(), "ctl-child"},
              {{"BBX_ARCHIVE_DIR", archive}, {"BBX_CRASH_DIR", dumps}});
  child.read_until("ready");
  const std::string pid = std::to_string(child.pid());
  const std::string planted = dumps + "/planted.bbd";
  const int fd = open(planted.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchmod(fd, 0666), 0);
  close(fd);
  const std::string fifo = dumps + "/fifo.bbd";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string link = dumps + "/link.bbd";
  ASSERT_EQ(symlink((dumps + "/target.bbd").c_str(), link.c_str()), 0);
  const std::string ring = ring_of(child.pid());
  struct stat ring_before {};
  ASSERT_EQ(stat(ring.c_str(), &ring_before), 0);
  ASSERT_EQ(logcat({"ctl", "-p", pid, "flush"}).status, 0);  // its archive file exists
  std::string archive_file;
  for (const auto& e : fs::directory_iterator(archive)) archive_file = e.path().string();
  ASSERT_FALSE(archive_file.empty());
  const std::pair<std::string, std::string> cases[] = {
      {planted, "already exists: a dump is always a new file"},
      {fifo, "already exists"},
      {link, "already exists"},
      {ring, "a dump never goes into the ring or archive directory"},
      {archive_file, "a dump never goes into the ring or archive directory"},
      {archive + "/new.bbd", "a dump never goes into the ring or archive directory"},
      {"/nonexistent-blackbox-dir/x.bbd", "cannot use /nonexistent-blackbox-dir"},
      {archive, "a dump never goes into the ring or archive directory"},
  };
  for (const auto& [path, why] : cases) {
    SCOPED_TRACE(path);
    const auto refused = logcat({"ctl", "-p", pid, "dump", path});
    EXPECT_EQ(refused.status, 1) << refused.out;
    EXPECT_NE(refused.out.find(why), std::string::npos) << refused.out;
  }
  struct stat st {};
  ASSERT_EQ(stat(planted.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);  // not filled
  EXPECT_FALSE(fs::exists(dumps + "/target.bbd"));
  EXPECT_FALSE(fs::exists(archive + "/new.bbd"));
  ASSERT_EQ(stat(ring.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, ring_before.st_size);
  // The flusher is not blocked: a flush is served, the process still logs.
  const auto flushed = logcat({"ctl", "-p", pid, "flush"});
  EXPECT_EQ(flushed.status, 0) << flushed.out;
  child.send("+1");
  child.read_until("1");
  // No path: a new file in the dump directory, named in the answer.
  const auto dumped = logcat({"ctl", "-p", pid, "dump"});
  ASSERT_EQ(dumped.status, 0) << dumped.out;
  const std::string prefix =
      fmt::format("pid {} (ctlchild): dump written to {}/ctlchild.{}.", pid, dumps, pid);
  ASSERT_EQ(dumped.out.substr(0, prefix.size()), prefix) << dumped.out;
  const std::size_t at = dumped.out.find(dumps);
  const std::string dump_path = dumped.out.substr(at, dumped.out.find('\n') - at);
  ASSERT_EQ(stat(dump_path.c_str(), &st), 0) << dump_path;
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string error;
  EXPECT_TRUE(blackbox::RingReader::open(dump_path, &error)) << error;
  // A directory: a generated name in it.
  const std::string elsewhere = blackbox::test::make_temp_dir("elsewhere");
  const auto into_dir = logcat({"ctl", "-p", pid, "dump", elsewhere});
  ASSERT_EQ(into_dir.status, 0) << into_dir.out;
  EXPECT_EQ(into_dir.out.rfind(fmt::format("pid {} (ctlchild): dump written to {}/ctlchild.{}.",
                                           pid, elsewhere, pid),
                               0),
            0u)
      << into_dir.out;
  child.close_stdin();
  EXPECT_EQ(child.wait(), 0);
}

// The requester's pid and uid are what it wrote: a requester that claims to be pid 1 as uid
// 4242 is recorded as claiming it, beside what the process checked (pid 1 runs as root).
TEST(Control, TheAuditRecordSaysWhatTheRequesterClaimedAndWhatWasChecked) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  Child child({blackbox::test::helper_path(), "ctl-child"}, {{"BBX_ARCHIVE_DIR", archive}});
  child.read_until("ready");
  // pid 1's effective uid, as /proc says.
  std::ifstream status("/proc/1/status");
  std::string line;
  unsigned real = 0, init = ~0u;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) std::istringstream(line.substr(4)) >> real >> init;
  }
  ASSERT_NE(init, ~0u) << "cannot read /proc/1/status";
  blackbox::claim_identity_for_testing(1, 4242);
  blackbox::ControlRequest request;
  request.kind = blackbox::ControlRequest::Kind::flush;
  blackbox::ControlReply reply;
  const std::string error = blackbox::send_control(ring_of(child.pid()), request, reply);
  blackbox::claim_identity_for_testing(0, 0);
  ASSERT_EQ(error, "");
  child.close_stdin();
  ASSERT_EQ(child.wait(), 0);
  const auto audit = with_tag(archived(archive), "blackbox");
  ASSERT_EQ(audit.size(), 1u) << ::testing::PrintToString(audit);
  EXPECT_EQ(audit[0], fmt::format("flush from outside, by pid 1 uid 4242 as claimed (NOT as "
                                  "claimed: pid 1 runs as uid {}; only uid {} and root can write "
                                  "the ring file)",
                                  init, geteuid()));
}

// Another local user may not control a process: the ring file (0600, in a 0700 directory)
// cannot be opened for writing, and nothing changes.
TEST(Control, AnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as a second user (uid 65534)";
  Child child({blackbox::test::helper_path(), "ctl-child"});
  child.read_until("ready");
  const std::string ring = ring_of(child.pid());
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t other = fork();
  if (other == 0) {
    close(pipe_fds[0]);
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(3);
    }
    blackbox::ControlRequest r;
    r.tag = "net";
    r.level = blackbox::Level::debug;
    blackbox::ControlReply reply;
    const std::string error = blackbox::send_control(ring, r, reply, 1'000'000'000);
    (void)!write(pipe_fds[1], error.data(), error.size());
    _exit(error.empty() ? 1 : 0);
  }
  close(pipe_fds[1]);
  std::string said;
  char buf[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0)
    said.append(buf, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(other, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << said;
  EXPECT_NE(said.find("no permission to write it"), std::string::npos) << said;
  EXPECT_EQ(blackbox::read_levels(ring)->spec, "info");
  EXPECT_EQ(blackbox::read_levels(ring)->requests_waiting, 0u);
}

// logcat top -n 1 -o json: two live processes and one that crashed, with their states.
TEST(Top, ListsLiveAndCrashedProcesses) {
  const std::string dir = blackbox::test::make_temp_dir("rings");
  const std::string archive = blackbox::test::make_temp_dir("archive");
  const auto crashed = blackbox::test::run_helper(
      {"crash", "segv", "1"}, blackbox::test::let_segv_through({"BBX_DIR=" + dir}));
  ASSERT_EQ(crashed.status, 128 + SIGSEGV) << crashed.out;
  Child a({blackbox::test::helper_path(), "ctl-child"},
          {{"BBX_DIR", dir}, {"BBX_ARCHIVE_DIR", archive}});
  Child b({blackbox::test::helper_path(), "ctl-child"},
          {{"BBX_DIR", dir}, {"BBX_ARCHIVE_DIR", archive}});
  a.read_until("ready");
  b.read_until("ready");
  const auto top = logcat({"top", "-n", "1", "-o", "json", "-d", "0.1"}, {"BBX_DIR=" + dir});
  ASSERT_EQ(top.status, 0) << top.out;
  for (Child* c : {&a, &b}) {
    EXPECT_NE(top.out.find(fmt::format(R"({{"pid":{},"app":"ctlchild","state":"live")", c->pid())),
              std::string::npos)
        << top.out;
  }
  EXPECT_TRUE(
      std::regex_search(top.out, std::regex(R"(\{"pid":\d+,"app":"crash","state":"crashed")")))
      << top.out;
  EXPECT_NE(top.out.find(R"("signal":"SIGSEGV")"), std::string::npos) << top.out;
  EXPECT_EQ(blackbox::test::lines_of(top.out).size(), 1u);
  const auto text = logcat({"top", "-n", "1", "-d", "0.1"}, {"BBX_DIR=" + dir});
  ASSERT_EQ(text.status, 0) << text.out;
  // (Root sees every user's processes: count only these.)
  const auto rows = blackbox::test::lines_of(text.out);
  EXPECT_EQ(
      std::count_if(rows.begin(), rows.end(),
                    [](const std::string& l) { return l.find(" ctlchild ") != std::string::npos; }),
      2)
      << text.out;
  EXPECT_NE(text.out.find("crashed SIGSEGV"), std::string::npos) << text.out;
}

// What the telemetry says a run logged and lost is exactly what it logged and lost: per
// level, per tag and per thread while nothing is lost, and records read plus records
// overwritten equal records logged when a producer laps the flusher.
TEST(Telemetry, CountsWhatARunLoggedAndLost) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  blackbox::Config config = blackbox::Config::from_env();
  config.app = "counted";
  config.archive_dir = archive;
  config.loss_budget = 0;  // it loses records on purpose and counts every one
  config.ring_bytes = 64 * 1024;
  config.block_bytes = 4096;
  config.max_string_bytes = 1024;
  config.levels = "trace";
  const auto started = blackbox::init(config);
  ASSERT_TRUE(started.ok()) << started.error;
  std::uint64_t main_logged = 0;
  for (int i = 0; i < 3000; ++i) {
    BBX_LOG("alpha", blackbox::Level::info, "a {}", i);
    BBX_LOG("beta", blackbox::Level::warn, "b {} {}", i, "text");
    BBX_LOG("beta", blackbox::Level::error, "c");
    main_logged += 3;
    if (i % 100 == 99) {
      ASSERT_TRUE(blackbox::flush());
    }
  }
  std::uint64_t worker_logged = 0;
  std::thread([&] {
    for (int i = 0; i < 500; ++i, ++worker_logged)
      BBX_LOG("gamma", blackbox::Level::debug, "g {}", i);
    blackbox::flush();
  }).join();
  ASSERT_TRUE(blackbox::flush());
  std::string error;
  auto t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->lost(), 0u);
  EXPECT_EQ(t->read.records, main_logged + worker_logged);
  EXPECT_EQ(t->records_archived, t->read.records);
  EXPECT_EQ(t->per_level[0].records, 0u);
  EXPECT_EQ(t->per_level[1].records, 500u);
  EXPECT_EQ(t->per_level[2].records, 3000u);
  EXPECT_EQ(t->per_level[3].records, 3000u);
  EXPECT_EQ(t->per_level[4].records, 3000u);
  std::map<std::string, std::uint64_t> tags;
  std::uint64_t tag_bytes = 0, level_bytes = 0;
  for (const auto& tag : t->per_tag) {
    tags[tag.tag] = tag.counts.records;
    tag_bytes += tag.counts.bytes;
  }
  for (const auto& l : t->per_level) level_bytes += l.bytes;
  EXPECT_EQ(tags, (std::map<std::string, std::uint64_t>{
                      {"alpha", 3000}, {"beta", 6000}, {"gamma", 500}}));
  EXPECT_EQ(tag_bytes, t->read.bytes);
  EXPECT_EQ(level_bytes, t->read.bytes);
  ASSERT_EQ(t->threads.size(), 2u);
  EXPECT_EQ(t->threads[0].logged, main_logged);
  EXPECT_EQ(t->threads[0].counts.records, main_logged);
  EXPECT_TRUE(t->threads[0].live);
  EXPECT_EQ(t->threads[1].logged, worker_logged);
  EXPECT_FALSE(t->threads[1].live);
  EXPECT_EQ(t->pass_ns.count(), t->passes);
  EXPECT_GE(t->write_ns.count(), 30u);  // a write per flush at least
  EXPECT_NE(t->archived_through_ns, 0);
  EXPECT_FALSE(t->breaker_open);

  // A flood the 64 KiB ring cannot hold between two passes: what is lost is counted, and
  // read + lost is what was logged.
  for (int i = 0; i < 200'000; ++i) BBX_LOG("alpha", blackbox::Level::info, "a {}", i);
  main_logged += 200'000;
  ASSERT_TRUE(blackbox::flush());
  t = blackbox::read_telemetry(blackbox::ring_path(), &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->read.records + t->lost_overwritten, main_logged + worker_logged);
  EXPECT_EQ(t->threads[0].logged, main_logged);
  EXPECT_EQ(t->threads[0].counts.records + t->threads[0].lost, main_logged);
  EXPECT_EQ(t->lost_overwritten, blackbox::stats().lost_overwritten);
  EXPECT_EQ(t->records_archived, blackbox::stats().records_archived);
}

}  // namespace

namespace {

// The post-mortem of a crashed process says what the logger itself had done: records logged,
// lost (by cause), how far behind the archive was, whether the disk was failing.
TEST(PostMortem, SaysWhatTheLoggerHadLostAndHowFarBehindItWas) {
  // Without an archive, and with one (the helper archives what it logged before a flush).
  for (const bool archive : {false, true}) {
    SCOPED_TRACE(archive);
    const std::string dir = blackbox::test::make_temp_dir("rings");
    const std::string archive_dir = archive ? blackbox::test::make_temp_dir("archive") : "off";
    const auto crashed = blackbox::test::run_helper(
        {"crash", "segv", "1"},
        blackbox::test::let_segv_through({"BBX_DIR=" + dir, "BBX_ARCHIVE_DIR=" + archive_dir}));
    ASSERT_EQ(crashed.status, 128 + SIGSEGV) << crashed.out;
    const auto text = logcat({"--no-pager", dir});
    const std::string archived =
        // µ is two bytes: an alternative, not a bracket expression (which matches one byte).
        archive ? R"(archive complete up to [0-9.]+ (ms|µs|ns|s) before it)"
                : R"(none of it archived yet \(all in the ring\))";
    EXPECT_TRUE(std::regex_search(
        text.out, std::regex(R"(\n--- the logger before the crash: \d+ records logged, 0 lost; )" +
                             archived + "\n")))
        << text.out;
    const auto json = logcat({"-o", "json", dir});
    EXPECT_TRUE(std::regex_search(
        json.out,
        std::regex(R"("telemetry":\{"logged":\d+,"lost":\{"total":0,.*"archive_lag_s":)" +
                   std::string(archive ? "[0-9.]+" : "null") + R"(,"breaker":\{"open":false)")))
        << json.out.substr(0, 2000);
    if (!archive) continue;
    // Recovered into the archive (and the ring gone), the post-mortem says the same: the
    // telemetry and the metrics recovery took from the ring are in the file.
    const auto recovered = logcat({"recover", dir, "--archive-dir", archive_dir});
    ASSERT_EQ(recovered.status, 0) << recovered.out;
    const auto from_archive = logcat({"--no-pager", archive_dir});
    EXPECT_TRUE(std::regex_search(
        from_archive.out,
        std::regex(R"(\n--- the logger before the crash: \d+ records logged, 0 lost; )" + archived +
                   "\n")))
        << from_archive.out;
    EXPECT_NE(logcat({"-o", "json", archive_dir}).out.find("\"telemetry\":{\"logged\":"),
              std::string::npos);
  }
}

}  // namespace

namespace {

// The archive keeps the telemetry: a snapshot at each rotation and at exit (and recovery
// keeps a dead process's), so `logcat stats` on archives reports it per run.
TEST(ArchiveTelemetry, ASnapshotAtEachRotationAndAtExit) {
  const std::string archive = blackbox::test::make_temp_dir("archive");
  Child child({blackbox::test::helper_path(), "ctl-child"}, {{"BBX_ARCHIVE_DIR", archive}});
  child.read_until("ready");
  child.send("1");
  child.read_until("1");
  const std::string pid = std::to_string(child.pid());
  ASSERT_EQ(logcat({"ctl", "-p", pid, "rotate"}).status, 0);
  child.send("2");
  child.read_until("2");
  child.close_stdin();
  ASSERT_EQ(child.wait(), 0);
  std::string error;
  auto reader = blackbox::ArchiveReader::open(archive, &error);
  ASSERT_TRUE(reader) << error;
  reader->scan();
  const auto files = reader->files();
  ASSERT_EQ(files.size(), 2u);
  ASSERT_TRUE(files[0].telemetry);  // the rotation's
  ASSERT_TRUE(files[1].telemetry);  // the exit's
  // net info 1, db info 1 and the rotation's audit record (logged as the pass began)
  EXPECT_EQ(files[0].telemetry->read.records, 3u);
  EXPECT_EQ(files[1].telemetry->read.records, 5u);  // and net info 2, db info 2
  EXPECT_EQ(files[1].telemetry->records_archived, 5u);
  EXPECT_EQ(files[1].telemetry->control_applied, 1u);
  EXPECT_EQ(files[1].telemetry->lost(), 0u);
  EXPECT_EQ(files[1].telemetry_levels, "info");
  EXPECT_EQ(files[1].end, blackbox::ArchiveFileInfo::End::exited);
  const auto stats = logcat({"stats", archive});
  EXPECT_EQ(stats.status, 0) << stats.out;
  EXPECT_TRUE(std::regex_search(
      stats.out,
      std::regex("telemetry of pid " + pid + R"( \(ctlchild\), started [0-9: -]+, exited)")))
      << stats.out;
  EXPECT_NE(stats.out.find("  logged      5 records; the flusher read 5"), std::string::npos)
      << stats.out;

  // A crashed process's ring, recovered: its telemetry as it left it.
  const std::string rings = blackbox::test::make_temp_dir("rings");
  const std::string recovered = blackbox::test::make_temp_dir("recovered");
  ASSERT_EQ(blackbox::test::run_helper({"crash", "segv", "1"},
                                       blackbox::test::let_segv_through(
                                           {"BBX_DIR=" + rings, "BBX_ARCHIVE_DIR=" + recovered}))
                .status,
            128 + SIGSEGV);
  ASSERT_EQ(logcat({"recover", rings, "--archive-dir", recovered}).status, 0);
  const auto crashed = logcat({"stats", recovered});
  EXPECT_TRUE(std::regex_search(
      crashed.out, std::regex(R"(telemetry of pid \d+ \(crash\), started [0-9: -]+, crashed)")))
      << crashed.out;
}

}  // namespace
