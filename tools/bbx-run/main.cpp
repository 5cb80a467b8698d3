// bbx-run -- CMD [ARGS...]: runs an unmodified program with its stdout and stderr captured
// into a blackbox ring and archive (each line a record, tags "stdout" and "stderr") and
// passed through to the terminal; records how the program ended as the last record, and
// exits as the program did (a death by signal N as 128 + N, as a shell reports it).
//
// bbx-run is a process of its own: whatever the program wrote before it crashed or was
// killed is in the pipe, and bbx-run records it.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#define BBX_TAG "bbx-run"
#include "blackbox/blackbox.hpp"
#include "blackbox/capture.hpp"

namespace {

volatile sig_atomic_t g_child = 0;

// SIGTERM and SIGHUP to bbx-run go to the program (a supervisor stopping the service).
void forward(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

int usage(int status) {
  std::fprintf(status == 0 ? stdout : stderr,
               "usage: bbx-run [--app NAME] [--] CMD [ARGS...]\n"
               "Runs CMD with its stdout and stderr recorded by blackbox (tags stdout and\n"
               "stderr; read them with logcat) and passed through; records how CMD ended,\n"
               "and exits with CMD's status (128 + N for a death by signal N).\n"
               "The BBX_* environment variables configure the recorder (BBX_DIR,\n"
               "BBX_ARCHIVE_DIR, BBX_LEVEL, ...); the app name is CMD's unless --app.\n");
  return status;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace

int main(int argc, char** argv) {
  std::string app;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") return usage(0);
    if (arg == "--app" && i + 1 < argc) {
      app = argv[++i];
      continue;
    }
    if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "bbx-run: unknown option %s\n", argv[i]);
      return usage(2);
    }
    break;
  }
  if (i >= argc) return usage(2);
  char** command = argv + i;
  if (app.empty()) {
    const std::string_view cmd = command[0];
    app =
        std::string(cmd.substr(cmd.rfind('/') == std::string_view::npos ? 0 : cmd.rfind('/') + 1));
  }

  // A blackbox program's console (on by default on a terminal) must reach the terminal, not
  // our pipe (where it would be off, or recorded twice): the terminal's descriptor is handed
  // down, open across exec, and named in BBX_CONSOLE_FD. Before init(): no other thread yet.
  if (::isatty(STDERR_FILENO) == 1 && std::getenv("BBX_CONSOLE_FD") == nullptr) {
    if (const int terminal = ::fcntl(STDERR_FILENO, F_DUPFD, 10); terminal >= 0) {
      ::setenv("BBX_CONSOLE_FD", std::to_string(terminal).c_str(), 1);
    }
  }
  blackbox::Config config = blackbox::Config::from_env();
  config.app = app;
  // The program's lines are passed through already: no console unless asked for.
  if (std::getenv("BBX_CONSOLE") == nullptr) config.console = "off";
  if (const auto result = blackbox::init(config); !result.ok()) {
    std::fprintf(stderr, "bbx-run: %s\n", result.error.c_str());
    if (!result.degraded) return 125;
  }

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "bbx-run: pipe: %s\n", strerror(errno));
    return 125;
  }
  // Like system(): ^C and ^\ go to the whole foreground group; bbx-run outlives the program
  // to record its end.
  struct sigaction ignore {
  }, old_int{}, old_quit{}, fwd{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGQUIT, &ignore, &old_quit);
  const pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "bbx-run: fork: %s\n", strerror(errno));
    return 125;
  }
  if (child == 0) {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execvp(command[0], command);
    const int e = errno;
    std::fprintf(stderr, "bbx-run: %s: %s\n", command[0], strerror(e));
    ::_exit(e == ENOENT ? 127 : 126);
  }
  g_child = child;
  fwd.sa_handler = forward;
  ::sigaction(SIGTERM, &fwd, nullptr);
  ::sigaction(SIGHUP, &fwd, nullptr);
  ::close(out[1]);
  ::close(err[1]);
  // Recorded before the capture's thread starts, so that it comes before the program's
  // first line (the program may already have written it).
  BBX_INFO("started {command} as pid {pid}", command[0], static_cast<int>(child));
  blackbox::LineCapture capture({{out[0], "stdout", blackbox::Level::info, STDOUT_FILENO},
                                 {err[0], "stderr", blackbox::Level::warn, STDERR_FILENO}},
                                config.max_string_bytes);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // What the program (and its children) wrote is read before its end is recorded; a
  // grandchild that still holds a pipe gets 100 ms.
  capture.stop(100);
  int exit_code;
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    exit_code = 128 + sig;
    BBX_ERROR("{command} (pid {pid}) was killed by {signal} (signal {number}){core}", command[0],
              static_cast<int>(child), signal_name(sig), sig,
              WCOREDUMP(status) ? ", core dumped" : "");
  } else {
    exit_code = WEXITSTATUS(status);
    if (exit_code == 0) {
      BBX_INFO("{command} (pid {pid}) exited with status {status}", command[0],
               static_cast<int>(child), exit_code);
    } else {
      BBX_WARN("{command} (pid {pid}) exited with status {status}", command[0],
               static_cast<int>(child), exit_code);
    }
  }
  blackbox::shutdown();
  return exit_code;
}
