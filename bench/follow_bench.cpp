// logcat -f: the delay from a log call to its line on the follower's output, on a live
// process (its ring file: nothing is archived), beside `tail -F` on a file spdlog (sync,
// flushed at every line) writes. Each iteration logs one record and waits for its line;
// the median and p99 of the delays are reported as counters (and the mean as the time).
//
//   build/release/bench/follow_bench [--benchmark_filter=...]
//
// logcat polls live rings (a ring is shared memory: no inotify event says it grew), every
// 10 ms while records come, backing off to --interval seconds (default 0.2) when idle;
// tail -F waits on inotify for the file.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "blackbox/blackbox.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// A child whose stdout is a pipe to us.
struct Follower {
  pid_t pid = -1;
  int from = -1;
  std::string pending;

  explicit Follower(const std::vector<std::string>& argv) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    from = out[0];
  }
  ~Follower() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    if (from >= 0) close(from);
  }
  // Reads until a line ending with `suffix`; false if the follower ended or was silent for
  // `timeout_ms`.
  bool wait_for(const std::string& suffix, int timeout_ms = 10'000) {
    for (;;) {
      for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        const std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (line.ends_with(suffix)) return true;
      }
      pollfd p{from, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return false;
      char buf[4096];
      const ssize_t n = read(from, buf, sizeof buf);
      if (n <= 0) return false;
      pending.append(buf, static_cast<std::size_t>(n));
    }
  }
};

void report(benchmark::State& state, std::vector<double> us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["median_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  state.counters["max_us"] = us.back();
}

// Says "ready N" until the follower shows it (it may start after the first lines), then
// measures each "ping N" from the call to its line; `idle_ms` before each (the follower's
// polls back off to --interval while nothing comes).
using Say = std::function<void(std::string_view word, std::uint64_t n)>;
void measure(benchmark::State& state, Follower& f, const Say& say, int idle_ms) {
  bool ready = false;
  for (std::uint64_t i = 0; i < 50 && !ready; ++i) {
    say("ready", i);
    ready = f.wait_for("ready " + std::to_string(i), 500);
  }
  if (!ready) {
    state.SkipWithError("the follower showed nothing");
    return;
  }
  std::vector<double> us;
  std::uint64_t n = 0;
  for (auto _ : state) {
    if (idle_ms != 0) std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
    const auto start = Clock::now();
    say("ping", ++n);
    if (!f.wait_for("ping " + std::to_string(n))) {
      state.SkipWithError("lost a line");
      return;
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(s);
    us.push_back(s * 1e6);
  }
  report(state, std::move(us));
}

void follow_logcat(benchmark::State& state, const std::string& interval, int idle_ms = 0) {
  static bool started = false;
  if (!started) {
    blackbox::Config c = blackbox::Config::from_env();
    c.app = "follow_bench";
    // No archive ("off" is the environment variable's word for it, not the field's).
    c.archive_dir.clear();
    c.console = "off";
    if (!blackbox::init(c).ok()) std::exit(1);
    started = true;
  }
  Follower f({BBX_LOGCAT_PATH, "-f", "-p", std::to_string(getpid()), "-n", "0", "-o", "raw",
              "--interval", interval});
  measure(
      state, f, [](std::string_view word, std::uint64_t n) { BBX_INFO("{} {}", word, n); },
      idle_ms);
}

void follow_tail_spdlog(benchmark::State& state) {
  const std::string file =
      (std::filesystem::temp_directory_path() / ("follow_bench." + std::to_string(getpid())))
          .string();
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, true);
  spdlog::logger log("bench", sink);
  log.flush_on(spdlog::level::info);
  Follower f({"tail", "-F", "-n", "0", file});
  measure(
      state, f, [&](std::string_view word, std::uint64_t n) { log.info("{} {}", word, n); }, 0);
  std::filesystem::remove(file);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (auto* b :
       {benchmark::RegisterBenchmark("follow/logcat_default_interval_0.2s",
                                     [](benchmark::State& s) { follow_logcat(s, "0.2"); }),
        benchmark::RegisterBenchmark("follow/logcat_interval_0.01s",
                                     [](benchmark::State& s) { follow_logcat(s, "0.01"); }),
        benchmark::RegisterBenchmark("follow/tail_F_spdlog_flush_every_line",
                                     follow_tail_spdlog)}) {
    b->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(200);
  }
  benchmark::RegisterBenchmark("follow/logcat_default_interval_after_1s_idle",
                               [](benchmark::State& s) { follow_logcat(s, "0.2", 1000); })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(40);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  blackbox::shutdown();
}
