#include "support/test_env.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>

#include "blackbox/blackbox.hpp"

namespace blackbox::test {
namespace {

std::string& dir_storage() {
  static std::string dir;
  return dir;
}

}  // namespace

const std::string& test_dir() { return dir_storage(); }

std::string make_temp_dir(const std::string& name) {
  static int counter = 0;
  const std::string path = test_dir() + "/" + name + "." + std::to_string(++counter);
  std::filesystem::create_directories(path);
  return path;
}

std::vector<Record> read_own_ring(std::vector<Loss>* losses) {
  std::string error;
  auto reader = RingReader::open_self(&error);
  EXPECT_TRUE(reader) << error;
  std::vector<Record> records;
  if (!reader) return records;
  reader->poll([&](const Record& r) { records.push_back(r); });
  if (losses != nullptr) *losses = reader->losses();
  return records;
}

std::string helper_path() { return BBX_TEST_HELPER; }

std::vector<std::string> let_segv_through(std::vector<std::string> env) {
  for (const char* name : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
    const char* options = std::getenv(name);
    env.push_back(std::string(name) + "=" + (options != nullptr ? options : "") + ":handle_segv=0");
  }
  return env;
}

RunResult run_helper(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return run_program(helper_path(), args, env);
}

namespace {

// Starts `program` with `args` and `env` added, its stdout and stderr on `out` and `err`.
pid_t spawn(const std::string& program, const std::vector<std::string>& args,
            const std::vector<std::string>& env, int out, int err) {
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string path = program;
    argv.push_back(path.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const std::vector<std::string>& env) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return {};
  const pid_t pid = spawn(program, args, env, pipe_fds[1], pipe_fds[1]);
  close(pipe_fds[1]);
  RunResult result;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0)
    result.out.append(buf, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

SplitResult run_split(const std::string& program, const std::vector<std::string>& args,
                      const std::vector<std::string>& env) {
  int out_fds[2], err_fds[2];
  if (pipe2(out_fds, O_CLOEXEC) != 0) return {};
  if (pipe2(err_fds, O_CLOEXEC) != 0) return {};
  const pid_t pid = spawn(program, args, env, out_fds[1], err_fds[1]);
  close(out_fds[1]);
  close(err_fds[1]);
  SplitResult result;
  pollfd fds[2] = {{out_fds[0], POLLIN, 0}, {err_fds[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

namespace {
// Binds a loopback TCP socket to `port` (0: the kernel's pick) and returns the port it got,
// or -1.
int bind_loopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  socklen_t len = sizeof a;
  int got = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    got = ntohs(a.sin_port);
  }
  close(fd);
  return got;
}
}  // namespace

int free_loopback_port() {
  // Below the kernel's ephemeral range: a port in it can be taken, while the server is down,
  // as the source port of a client's connect() (a client retrying 127.0.0.1:P can even
  // connect to itself from P), and the server's restart then fails to bind.
  int ephemeral_low = 32768;
  if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "re")) {
    if (std::fscanf(f, "%d", &ephemeral_low) != 1) ephemeral_low = 32768;
    std::fclose(f);
  }
  constexpr int kLowest = 10'000;
  if (ephemeral_low - kLowest >= 1'000) {
    std::mt19937 pick(std::random_device{}() ^ static_cast<unsigned>(getpid()));
    std::uniform_int_distribution<int> in_range(kLowest, ephemeral_low - 1);
    for (int attempt = 0; attempt < 500; ++attempt) {
      const int port = bind_loopback(in_range(pick));
      if (port > 0) return port;
    }
  }
  return bind_loopback(0);
}

std::string command_output(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

}  // namespace blackbox::test

// Every test process gets its own ring and archive directories, removed at the end.
int main(int argc, char** argv) {
  const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string tmpl = std::string(base) + "/bbx-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return 2;
  blackbox::test::dir_storage() = tmpl;
  setenv("BBX_DIR", tmpl.c_str(), 1);
  setenv("BBX_ARCHIVE_DIR", (tmpl + "/archive").c_str(), 1);
  // No failure budget unless a test asks (loss_budget_test does): many tests lose records on
  // purpose and count every record, and the budget's warning would be one more (when it
  // comes depends on the flusher's timing, which the sanitizers change).
  setenv("BBX_LOSS_BUDGET", "0", 0);
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  // The final flush first: after the directory is gone it would create the archive again.
  blackbox::shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(tmpl, ignored);
  return rc;
}
