// Another local user is an attacker, and files change under us: the ring and archive files
// are never visible unlocked or headless, other users' files are neither recovered nor
// deleted, directories that are not ours alone are refused, and a ring truncated while it is
// read costs an error, never a SIGBUS. Tests that need a second user (chown) run as root and
// skip otherwise, saying so.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "blackbox/config.hpp"
#include "blackbox/reader.hpp"
#include "format/ring_image.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace {

constexpr uid_t kOtherUser = 65534;  // nobody

const fs::path kGoldenRing = fs::path(BBX_GOLDEN_DIR) / "v1" / "ring.bbr";

// Runs logcat (stdout and stderr together).
blackbox::test::RunResult logcat(const std::vector<std::string>& args) {
  return blackbox::test::run_program(BBX_LOGCAT, args);
}

// A copy of the golden dead ring (app "golden", killed) named as a ring of pid 4242.
std::string dead_ring_in(const std::string& dir) {
  const std::string path = dir + "/golden.4242.bbr";
  fs::copy_file(kGoldenRing, path);
  return path;
}

std::size_t files_with_extension(const std::string& dir, const std::string& ext) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) n += e.path().extension() == ext;
  return n;
}

TEST(Security, RingAndArchiveFilesAreInvisibleUntilLockedAndComplete) {
  const std::string dir = blackbox::test::make_temp_dir("visible");
  const auto run = blackbox::test::run_helper(
      {"create-visible"}, {"BBX_DIR=" + dir, "BBX_ARCHIVE_DIR=" + dir + "/archive"});
  EXPECT_EQ(run.status, 0) << run.out;
  // Halfway through creating them, neither has its final name yet; once made, both have.
  EXPECT_NE(run.out.find("ring_visible_while_created=0 archive_visible_while_created=0 "
                         "flushed=1 rings_now=1 archives_now=1"),
            std::string::npos)
      << run.out;
  // Nothing left behind under a temporary name.
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  }
}

TEST(Security, OtherUsersRingFilesAreNeitherRecoveredNorDeleted) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user (chown)";
  const std::string dir = blackbox::test::make_temp_dir("foreign");
  const std::string ring = dead_ring_in(dir);
  ASSERT_EQ(chown(ring.c_str(), kOtherUser, kOtherUser), 0);
  const auto run = logcat({"recover", dir, "--archive-dir", dir + "/archive"});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_EQ(run.out.find("golden"), std::string::npos) << "said nothing of it: " << run.out;
  EXPECT_TRUE(fs::exists(ring));
  EXPECT_EQ(files_with_extension(dir + "/archive", ".bbx"), 0u);

  // The same file, ours: recovered into the archive and removed (the test can fail).
  ASSERT_EQ(chown(ring.c_str(), geteuid(), getegid()), 0);
  const auto ours = logcat({"recover", dir, "--archive-dir", dir + "/archive"});
  EXPECT_EQ(ours.status, 0) << ours.out;
  EXPECT_NE(ours.out.find("recovered 20 records of golden (pid "), std::string::npos) << ours.out;
  EXPECT_FALSE(fs::exists(ring));
  EXPECT_EQ(files_with_extension(dir + "/archive", ".bbx"), 1u);
}

TEST(Security, ARingDirectoryWritableByOthersIsRefused) {
  const std::string dir = blackbox::test::make_temp_dir("open-dir");
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  const auto run =
      blackbox::test::run_helper({"report"}, {"BBX_DIR=" + dir, "BBX_ARCHIVE_DIR=off"});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("records=4 anonymous=1"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("blackbox: refusing directory " + dir +
                         ": writable by other users (mode 0777); logging to an in-memory ring"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(files_with_extension(dir, ".bbr"), 0u);
}

TEST(Security, ARingDirectoryOfAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user (chown)";
  const std::string dir = blackbox::test::make_temp_dir("their-dir");
  ASSERT_EQ(chown(dir.c_str(), kOtherUser, kOtherUser), 0);
  const auto run =
      blackbox::test::run_helper({"report"}, {"BBX_DIR=" + dir, "BBX_ARCHIVE_DIR=off"});
  EXPECT_NE(run.out.find("records=4 anonymous=1"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("refusing directory " + dir + ": owned by another user (uid 65534"),
            std::string::npos)
      << run.out;
}

TEST(Security, ArchiveAndCrashDirectoriesWritableByOthersAreRefused) {
  const std::string dir = blackbox::test::make_temp_dir("open-archive");
  const std::string archive = dir + "/archive", crash = dir + "/crash";
  fs::create_directories(archive);
  fs::create_directories(crash);
  ASSERT_EQ(chmod(archive.c_str(), 0777), 0);
  ASSERT_EQ(chmod(crash.c_str(), 0770), 0);
  const auto run = blackbox::test::run_helper(
      {"report"}, {"BBX_DIR=" + dir, "BBX_ARCHIVE_DIR=" + archive, "BBX_CRASH_DIR=" + crash});
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("refusing directory " + archive + ": writable by other users (mode 0777)"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("crash directory: refusing directory " + crash +
                         ": writable by other users (mode 0770)"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(files_with_extension(archive, ".bbx"), 0u);
}

TEST(Security, ARingTruncatedWhileItIsReadIsAnErrorNotASignal) {
  const std::string dir = blackbox::test::make_temp_dir("truncated");
  const std::string ring = dead_ring_in(dir);
  const int fd = open(ring.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  // Truncated after its size was taken, as by another process between our stat and read:
  // a mapping of it would fault (SIGBUS) on the first page past the end.
  ASSERT_EQ(ftruncate(fd, 2 * 4096), 0);
  blackbox::ring::RingImage image;
  std::string error;
  EXPECT_FALSE(
      blackbox::ring::read_ring_image(fd, static_cast<std::size_t>(st.st_size), image, error));
  EXPECT_NE(error.find("truncated while being read"), std::string::npos) << error;
  close(fd);

  // logcat says so and goes on; recovery keeps it aside and says so once.
  const auto shown = logcat({ring});
  EXPECT_EQ(shown.status, 1) << shown.out;
  EXPECT_NE(shown.out.find("(truncated?)"), std::string::npos) << shown.out;
  const auto recovered = logcat({"recover", dir, "--archive-dir", dir + "/archive"});
  EXPECT_EQ(recovered.status, 1) << recovered.out;
  EXPECT_NE(recovered.out.find("kept as " + ring + ".unreadable"), std::string::npos)
      << recovered.out;
}

TEST(Security, TheDefaultRingDirectoryIsPerUser) {
  const std::string expected = "/dev/shm/blackbox-" + std::to_string(geteuid());
  EXPECT_EQ(blackbox::Config::default_dir(), expected);
  EXPECT_EQ(blackbox::Config{}.dir, expected);
}

// A copy of the golden ring with its header's pid, start time and app replaced (a forgery).
std::string forged_ring(const std::string& path, pid_t pid, std::int64_t start_ns,
                        const std::string& app) {
  fs::copy_file(kGoldenRing, path);
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  const std::int32_t pid32 = pid;
  char name[64] = {};
  std::memcpy(name, app.data(), std::min(app.size(), sizeof name - 1));
  EXPECT_EQ(pwrite(fd, &pid32, sizeof pid32, 88), 4);
  EXPECT_EQ(pwrite(fd, &start_ns, sizeof start_ns, 96), 8);
  EXPECT_EQ(pwrite(fd, name, sizeof name, 104), 64);
  close(fd);
  return path;
}

std::int64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// logcat under `timeout`: a hang is exit status 124 (a guard, not a timing assertion).
blackbox::test::RunResult bounded_logcat(const std::string& dir,
                                         const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"60", BBX_LOGCAT};
  argv.insert(argv.end(), args.begin(), args.end());
  return blackbox::test::run_program("/usr/bin/timeout", argv, {"BBX_DIR=" + dir});
}

// A FIFO, a link and a directory named like ring files, among real ones: every host-wide
// command returns (a FIFO opened without O_NONBLOCK blocked them for ever) and shows only
// the real ring.
TEST(Security, NoFileAmongTheRingsCanHangAHostWideTool) {
  const std::string dir = blackbox::test::make_temp_dir("planted");
  const std::string real = dead_ring_in(dir);
  ASSERT_EQ(mkfifo((dir + "/fifo.999.bbr").c_str(), 0600), 0);
  ASSERT_EQ(symlink(real.c_str(), (dir + "/link.998.bbr").c_str()), 0);
  ASSERT_EQ(mkdir((dir + "/dir.997.bbr").c_str(), 0700), 0);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"top", "-n", "1", "-o", "json"},
                                             {"metrics"},
                                             {"ctl", "--app", "fifo", "flush"},
                                             {"ctl", "-p", "999", "levels"},
                                             {"-p", "999"},
                                             {"stats"},
                                             {dir + "/fifo.999.bbr"},
                                             {}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto run = bounded_logcat(dir, args);
    EXPECT_NE(run.status, 124) << "it hung: " << run.out;
  }
  const auto top = bounded_logcat(dir, {"top", "-n", "1", "-o", "json"});
  EXPECT_NE(top.out.find("\"app\":\"golden\""), std::string::npos) << top.out;
  EXPECT_EQ(top.out.find("fifo"), std::string::npos) << top.out;
  EXPECT_EQ(top.out.find("998"), std::string::npos) << top.out;
  const auto fifo = bounded_logcat(dir, {dir + "/fifo.999.bbr"});
  EXPECT_NE(fifo.out.find("not a regular file"), std::string::npos) << fifo.out;
}

// A ring file is its pid's only while that pid runs as the file's owner and had started
// when the ring was made: a file naming a process that started later (a reused pid, or a
// forgery) does not make that process appear as a blackbox process, nor take its requests.
TEST(Security, ARingNamingAProcessThatStartedAfterItIsNotThatProcess) {
  const std::string dir = blackbox::test::make_temp_dir("forged");
  const std::int64_t hour = 3600'000'000'000;
  const std::string before =
      forged_ring(dir + "/before.1.bbr", getpid(), wall_ns() - 24 * hour, "before");
  const std::string now = forged_ring(dir + "/now.2.bbr", getpid(), wall_ns(), "now");
  std::string error;
  auto earlier = blackbox::RingReader::open(before, &error);
  ASSERT_TRUE(earlier) << error;
  EXPECT_FALSE(earlier->info().process_alive) << "we started after that ring was made";
  auto later = blackbox::RingReader::open(now, &error);
  ASSERT_TRUE(later) << error;
  EXPECT_TRUE(later->info().process_alive) << "we run, as its owner, and started before it";
  EXPECT_EQ(later->info().owner_uid, geteuid());
  if (geteuid() == 0) {
    // Another user's file naming our (root's) pid: not us.
    ASSERT_EQ(chown(now.c_str(), kOtherUser, kOtherUser), 0);
    auto theirs = blackbox::RingReader::open(now, &error);
    ASSERT_TRUE(theirs) << error;
    EXPECT_FALSE(theirs->info().process_alive);
    EXPECT_EQ(theirs->info().owner_uid, kOtherUser);
  }
  const auto top = bounded_logcat(dir, {"top", "-n", "1", "-o", "json"});
  EXPECT_EQ(top.out.find("\"state\":\"live\""), std::string::npos) << top.out;
}

// Names from a file reach the terminal escaped, whichever command prints them: an app
// name with an escape sequence (clear the screen) and a newline (forge a line).
TEST(Security, NamesFromAFileReachTheTerminalEscaped) {
  const std::string dir = blackbox::test::make_temp_dir("escapes");
  const std::string path =
      forged_ring(dir + "/evil.4243.bbr", 4243, wall_ns(), "ev\x1b[2Jil\nroot 1 live");
  std::string error;
  auto reader = blackbox::RingReader::open(path, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(reader->info().app, "ev\\x1b[2Jil\\nroot 1 live");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"top", "-n", "1"}, {"stats"}, {"runs"}, {path}, {"metrics", path}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const auto run = bounded_logcat(dir, args);
    EXPECT_EQ(run.out.find('\x1b'), std::string::npos) << run.out;
    EXPECT_EQ(run.out.find("\nroot 1 live"), std::string::npos) << run.out;
  }
}

// Another user created /dev/shm/blackbox-UID before the user ever ran: the user's processes
// refuse it, say so, and keep their rings in /run/user/UID/blackbox (which no one else can
// create), where the user's logcat finds them: crash survival is not lost to an in-memory
// ring. Run as uid 65534 against directories made for it; skipped unless root.
TEST(Security, ASquattedDefaultRingDirectoryIsRefusedLoudlyAndReplaced) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as a second user (uid 65534)";
  const std::string shm = "/dev/shm/blackbox-" + std::to_string(kOtherUser);
  const std::string run = "/run/user/" + std::to_string(kOtherUser);
  if (fs::exists(shm) || fs::exists(run)) {
    GTEST_SKIP() << shm << " or " << run << " exists: not touching a real user's directories";
  }
  ASSERT_EQ(mkdir(shm.c_str(), 0777), 0);  // the squatter's (root's here), open to all
  ASSERT_EQ(chmod(shm.c_str(), 0777), 0);
  fs::create_directories("/run/user");
  ASSERT_EQ(mkdir(run.c_str(), 0700), 0);
  ASSERT_EQ(chown(run.c_str(), kOtherUser, kOtherUser), 0);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    if (setgroups(0, nullptr) != 0 || setresgid(kOtherUser, kOtherUser, kOtherUser) != 0 ||
        setresuid(kOtherUser, kOtherUser, kOtherUser) != 0) {
      _exit(3);
    }
    unsetenv("BBX_DIR");
    setenv("BBX_ARCHIVE_DIR", "off", 1);
    const std::string helper = blackbox::test::helper_path();
    execl(helper.c_str(), helper.c_str(), "report", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string said;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) said.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::error_code ec;
  std::size_t rings = 0;
  for (const auto& e : fs::directory_iterator(run + "/blackbox", ec)) {
    rings += e.path().extension() == ".bbr" ? 1 : 0;
  }
  fs::remove_all(run, ec);
  fs::remove_all(shm, ec);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ": " << said;
  EXPECT_NE(said.find("refusing " + shm + ": owned by another user"), std::string::npos) << said;
  EXPECT_NE(said.find("anonymous=0 path=[" + run + "/blackbox/"), std::string::npos) << said;
  EXPECT_EQ(rings, 0u) << "an exited process's ring is removed (and was there)";
}

}  // namespace
