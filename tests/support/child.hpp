// A child process the test talks to: a pipe to its stdin, one from its stdout (stderr is
// inherited). Header-only test support (logcat_test, control_test).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace blackbox::test {

class Child {
 public:
  explicit Child(const std::vector<std::string>& argv,
                 const std::vector<std::pair<std::string, std::string>>& env = {}) {
    int in[2], out[2];
    // Close-on-exec: a later child must not hold this one's stdin open.
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]);
      close(in[1]);
      close(out[0]);
      close(out[1]);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Child() {
    close_stdin();
    if (from_ >= 0) close(from_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  void send(const std::string& line) {
    const std::string text = line + "\n";
    ASSERT_EQ(write(to_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void close_stdin() {
    if (to_ >= 0) close(to_);
    to_ = -1;
  }
  // Lines up to and including `want`. Blocks until it comes; gives up (returning what it
  // has, without `want`) only if nothing at all arrives for a minute: a guard against a
  // hang, not a timing assertion.
  std::vector<std::string> read_until(const std::string& want) {
    return read_until_line([&want](const std::string& line) { return line == want; });
  }
  // The same, up to the first line that ends with `suffix`.
  std::vector<std::string> read_until_ending(const std::string& suffix) {
    return read_until_line([&suffix](const std::string& line) { return line.ends_with(suffix); });
  }
  std::vector<std::string> read_until_line(const std::function<bool(const std::string&)>& last) {
    std::vector<std::string> lines;
    for (;;) {
      const std::size_t nl = pending_.find('\n');
      if (nl != std::string::npos) {
        lines.push_back(pending_.substr(0, nl));
        pending_.erase(0, nl + 1);
        if (last(lines.back())) return lines;
        continue;
      }
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, 60'000) <= 0) return lines;
      char buf[4096];
      const ssize_t n = read(from_, buf, sizeof buf);
      if (n <= 0) return lines;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }
  // The rest of its output, until it closes stdout.
  std::string read_rest() {
    std::string all = pending_;
    pending_.clear();
    char buf[4096];
    ssize_t n;
    while ((n = read(from_, buf, sizeof buf)) > 0) all.append(buf, static_cast<std::size_t>(n));
    return all;
  }
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  bool reaped_ = false;
  std::string pending_;
};

}  // namespace blackbox::test
