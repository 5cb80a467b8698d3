// Another local user is an attacker, and files change under us: the ring and archive files
// are never visible unlocked or headless, other users' files are neither recovered nor
// deleted, directories that are not ours alone are refused, and a ring truncated while it is
// read costs an error, never a SIGBUS. Tests that need a second user (chown) run as root and
// skip otherwise, saying so.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "blackbox/config.hpp"
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

}  // namespace
