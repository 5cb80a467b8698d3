// A child logs numbered records and acknowledges each after the call returns; the parent
// kill -9s it at a random moment and reads the dead process's ring file. Every acknowledged
// record that still fits in the ring window must be there, in order, with exact loss counts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>

#include "blackbox/reader.hpp"
#include "support/test_env.hpp"

namespace {

bool read_all(int fd, void* data, std::size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

TEST(CrashTest, KillNineKeepsEveryAcknowledgedRecordInTheWindow) {
  std::mt19937_64 rng(std::random_device{}());
  for (int round = 0; round < 8; ++round) {
    const std::string dir = blackbox::test::make_temp_dir("crash");
    int out[2];
    ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      setenv("BBX_DIR", dir.c_str(), 1);
      // It overwrites its ring on purpose: no budget warning among the records counted.
      setenv("BBX_LOSS_BUDGET", "0", 1);
      const std::string helper = blackbox::test::helper_path();
      execl(helper.c_str(), helper.c_str(), "log-ack", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::uint64_t path_len = 0;
    ASSERT_TRUE(read_all(out[0], &path_len, sizeof path_len));
    ASSERT_LT(path_len, 4096u);
    std::string path(path_len, '\0');
    ASSERT_TRUE(read_all(out[0], path.data(), path_len));
    // Kill after a random number of acknowledgements: sometimes within the first lap of
    // the 64 KiB ring, usually after many laps.
    const std::uint64_t kill_after = round == 0 ? 50 : 100 + rng() % 60'000;
    std::uint64_t acked = 0, value = 0;
    while (acked < kill_after) {
      ASSERT_TRUE(read_all(out[0], &value, sizeof value));
      ASSERT_EQ(value, acked);
      ++acked;
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(out[0]);

    std::string error;
    auto reader = blackbox::RingReader::open(path, &error);
    ASSERT_TRUE(reader) << error;
    const auto info = reader->info();
    EXPECT_EQ(info.state, blackbox::RingState::live) << "killed: never marked exited";
    EXPECT_FALSE(info.process_alive);
    EXPECT_EQ(info.pid, pid);
    EXPECT_EQ(info.app, "crashy");
    std::vector<std::uint64_t> got;
    reader->poll([&](const blackbox::Record& r) {
      ASSERT_EQ(r.tag, "crash");
      const auto i = std::get<std::uint64_t>(r.fields.at(0).value);
      EXPECT_EQ(r.message, "record " + std::to_string(i) + " payload " + std::to_string(i * 7));
      EXPECT_EQ(r.sequence, i);
      got.push_back(i);
    });
    ASSERT_FALSE(got.empty());
    for (std::size_t k = 1; k < got.size(); ++k) ASSERT_EQ(got[k], got[k - 1] + 1);
    // The last acknowledged record is there (and maybe a few logged after it).
    EXPECT_GE(got.back() + 1, acked);
    // Everything within the ring window (counted back from the last record written, which
    // may be past the last acknowledged one): 15 of the 16 4-KiB blocks hold at least
    // (4096 - 40) / 32 records of this size each.
    const std::uint64_t window = 15 * ((4096 - 40) / 32);
    const std::uint64_t end = got.back() + 1;
    const std::uint64_t must_have_from = end > window ? end - window : 0;
    EXPECT_LE(got.front(), must_have_from) << "round " << round << " acked " << acked;
    // And what is missing is counted exactly.
    EXPECT_EQ(reader->lost_records(), got.front());
  }
}

}  // namespace
