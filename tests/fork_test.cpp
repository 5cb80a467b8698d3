// After fork() the child logs into a ring file of its own; the parent's ring never sees the
// child's records and the child's ring holds only the child's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "blackbox/blackbox.hpp"
#include "support/test_env.hpp"

namespace {

TEST(ForkTest, ChildLogsIntoItsOwnRingFile) {
  BBX_LOG("fork", blackbox::Level::info, "parent before fork {}", getpid());
  const std::string parent_ring = blackbox::ring_path();
  ASSERT_FALSE(parent_ring.empty());
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    // The child reports what it sees over the pipe and exits without running tests.
    BBX_LOG("fork", blackbox::Level::info, "child {}", getpid());
    std::string report = blackbox::ring_path() + "\n";
    for (const auto& r : blackbox::test::read_own_ring()) report += r.message + "\n";
    [[maybe_unused]] auto n = write(out[1], report.data(), report.size());
    _exit(0);
  }
  close(out[1]);
  BBX_LOG("fork", blackbox::Level::info, "parent after fork");
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  const std::string child_ring = report.substr(0, report.find('\n'));
  EXPECT_NE(child_ring, parent_ring);
  const std::string child_name = std::to_string(pid) + ".bbr";  // "<app>.<pid>.bbr"
  EXPECT_TRUE(child_ring.ends_with("." + child_name)) << child_ring;
  EXPECT_EQ(report.substr(report.find('\n') + 1), "child " + std::to_string(pid) + "\n");

  std::vector<std::string> parent_messages;
  for (const auto& r : blackbox::test::read_own_ring()) {
    if (r.tag == "fork") parent_messages.push_back(r.message);
  }
  ASSERT_EQ(parent_messages.size(), 2u);
  EXPECT_EQ(parent_messages[0], "parent before fork " + std::to_string(getpid()));
  EXPECT_EQ(parent_messages[1], "parent after fork");
}

}  // namespace
